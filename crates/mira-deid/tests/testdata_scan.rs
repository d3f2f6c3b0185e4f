//! Issue 8's proof for de-identification: every file under `testdata/dicom` and `testdata/ct`
//! de-identified with the Basic Profile; the output scanned for every identifying value of the
//! inputs (decoded strings and encoded bytes, any depth, any character set); UIDs consistent
//! across studies and series; pixel data byte-identical and decoding to the same pixels.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use dicom_core::header::Header;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::text::{SpecificCharacterSet, TextCodec};
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::PixelDecoder;
use mira_deid::table::{ActionCode, TABLE};
use mira_deid::{DeidKey, DeidOption, Deidentifier};

const CID_7050_MEANINGS: [&str; 4] = [
    "Basic Application Confidentiality Profile",
    "Retain Longitudinal Temporal Information Modified Dates Option",
    "Clean Descriptors Option",
    "ANONYMIZED",
];

fn key() -> DeidKey {
    DeidKey::new(*b"mira-deid test key, not a secret").unwrap()
}

fn input_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["dicom", "ct"]
        .iter()
        .flat_map(|dir| walk(&root.join(dir)))
        .collect();
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn open(bytes: &[u8]) -> Option<DefaultDicomObject> {
    if bytes.len() < 132 || &bytes[128..132] != b"DICM" {
        return None;
    }
    OpenFileOptions::new().from_reader(&bytes[128..]).ok()
}

/// An identifying value found in an input: its text and its bytes in the input's charset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Needle {
    text: String,
    encoded: Vec<u8>,
    origin: String,
}

/// Identifying values of `dataset`: values of attributes the Basic Profile does not keep
/// (not K, not U), every name, every date, and private text, at any depth.
fn collect_needles(
    dataset: &InMemDicomObject,
    charset: &SpecificCharacterSet,
    origin: &str,
    into: &mut BTreeSet<Needle>,
) {
    for element in dataset.iter() {
        let tag = element.tag();
        let vr = element.vr();
        if vr == VR::SQ {
            for item in element.items().unwrap_or_default() {
                collect_needles(item, charset, origin, into);
            }
            continue;
        }
        let identifying = match TABLE.rule(tag) {
            _ if matches!(vr, VR::PN | VR::DA | VR::DT) => true,
            Some(rule) => !matches!(rule.basic, ActionCode::K | ActionCode::U),
            None => false,
        };
        let texty = matches!(
            vr,
            VR::PN
                | VR::LO
                | VR::SH
                | VR::ST
                | VR::LT
                | VR::UT
                | VR::UC
                | VR::DA
                | VR::DT
                | VR::AE
                | VR::CS
                | VR::UN
        );
        if !identifying || !texty {
            continue;
        }
        let values: Vec<String> = if vr == VR::UN {
            match element.value().to_bytes() {
                Ok(bytes) => String::from_utf8_lossy(&bytes)
                    .split('\\')
                    .map(str::to_string)
                    .collect(),
                Err(_) => continue,
            }
        } else {
            match element.value().to_multi_str() {
                Ok(values) => values.to_vec(),
                Err(_) => continue,
            }
        };
        for value in values.iter() {
            let mut parts: Vec<&str> = vec![value.trim_matches([' ', '\0'])];
            if vr == VR::PN {
                parts.extend(value.split(['^', '=']).map(|p| p.trim()));
            }
            for part in parts {
                // short values ("CT", "1", "M") are not identifying and match everywhere
                if part.chars().count() < 5 || part.chars().all(|c| c == '0' || c == ' ') {
                    continue;
                }
                let encoded = charset
                    .encode(part)
                    .unwrap_or_else(|_| part.as_bytes().to_vec());
                into.insert(Needle {
                    text: part.to_string(),
                    encoded,
                    origin: format!("{origin} {tag}"),
                });
            }
        }
    }
}

fn charset_of(dataset: &InMemDicomObject) -> SpecificCharacterSet {
    dataset
        .get(tags::SPECIFIC_CHARACTER_SET)
        .and_then(|e| e.value().to_multi_str().ok().map(|v| v.to_vec()))
        .and_then(|codes| {
            codes
                .iter()
                .map(|c| c.trim())
                .find(|c| !c.is_empty())
                .and_then(SpecificCharacterSet::from_code)
        })
        .unwrap_or_default()
}

/// String values of public attributes the Basic Profile keeps (not in the table, or K),
/// at any depth.
fn kept_strings(dataset: &InMemDicomObject, into: &mut Vec<String>) {
    for element in dataset.iter() {
        let tag = element.tag();
        if element.vr() == VR::SQ {
            for item in element.items().unwrap_or_default() {
                kept_strings(item, into);
            }
            continue;
        }
        let kept = tag.group() % 2 == 0
            && !matches!(element.vr(), VR::PN | VR::DA | VR::DT | VR::TM)
            && TABLE
                .rule(tag)
                .is_none_or(|rule| rule.basic == ActionCode::K);
        if kept && let Ok(text) = element.value().to_str() {
            into.push(text.to_string());
        }
    }
}

/// Every string value of a data set, at any depth.
fn all_strings(dataset: &InMemDicomObject, into: &mut Vec<String>) {
    for element in dataset.iter() {
        if element.vr() == VR::SQ {
            for item in element.items().unwrap_or_default() {
                all_strings(item, into);
            }
        } else if !matches!(element.vr(), VR::OB | VR::OW | VR::UN | VR::OF | VR::OD)
            && let Ok(text) = element.value().to_str()
        {
            into.push(text.to_string());
        }
    }
}

fn text(dataset: &InMemDicomObject, tag: Tag) -> Option<String> {
    let element = dataset.get(tag)?;
    let text = if element.vr() == VR::UN {
        String::from_utf8_lossy(&element.value().to_bytes().ok()?).into_owned()
    } else {
        element.value().to_str().ok()?.into_owned()
    };
    Some(text.trim_end_matches(['\0', ' ']).to_string())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn issue_8_every_testdata_file_is_deidentified_and_leaks_nothing() {
    let Some(root) = mira_testdata::testdata() else {
        return;
    };
    let deid = Deidentifier::new(key(), &[]);
    let files = input_files(&root);
    let mut refused: BTreeMap<String, String> = BTreeMap::new();
    let mut written = 0;
    let mut needles_total = BTreeSet::new();
    let mut leaks = Vec::new();
    let mut study_map: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut series_map: HashMap<String, BTreeSet<String>> = HashMap::new();
    let (mut decoded_same, mut pixel_identical) = (0, 0);
    let mut kept_elsewhere = 0;
    let mut ours_count = 0;
    let mut charset_changed = 0;
    let verbose = std::env::var_os("MIRA_DEID_SCAN_VERBOSE").is_some();

    for path in &files {
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        let bytes = std::fs::read(path).unwrap();
        let (out, report) = match deid.deidentify_bytes(&bytes) {
            Ok(done) => done,
            Err(e) => {
                refused.insert(name, e.to_string());
                continue;
            }
        };
        written += 1;
        let input = open(&bytes).expect("what was de-identified parses");
        let output = OpenFileOptions::new()
            .from_reader(&out[128..])
            .unwrap_or_else(|e| {
                let _ = std::fs::write(std::env::temp_dir().join("mira-deid-unparsable.dcm"), &out);
                panic!("{name}: the de-identified file does not parse: {e}")
            });

        // identifying values of the input, nowhere in the output
        let mut needles = BTreeSet::new();
        collect_needles(&input, &charset_of(&input), &name, &mut needles);
        // a value the profile keeps elsewhere in the same input (a private copy of the
        // Manufacturer, an Institution Name equal to it) is not a leak when it stays there
        let mut kept_in_input = Vec::new();
        kept_strings(&input, &mut kept_in_input);
        let kept_lower: Vec<String> = kept_in_input.iter().map(|s| s.to_lowercase()).collect();
        // nor is a word of the text mira writes itself (the method's description)
        let ours: Vec<String> = [tags::DEIDENTIFICATION_METHOD]
            .iter()
            .filter_map(|t| text(&output, *t))
            .chain(CID_7050_MEANINGS.iter().map(|m| m.to_string()))
            .map(|m| m.to_lowercase())
            .collect();
        needles.retain(|n| {
            let lower = n.text.to_lowercase();
            if ours.iter().any(|o| o.contains(&lower)) {
                ours_count += 1;
                return false;
            }
            true
        });
        needles.retain(|n| {
            let lower = n.text.to_lowercase();
            let kept = kept_lower.iter().any(|k| k.contains(&lower));
            if kept {
                kept_elsewhere += 1;
                if verbose {
                    eprintln!("kept elsewhere: {} {:?}", n.origin, n.text);
                }
            }
            !kept
        });
        let mut strings = Vec::new();
        all_strings(&output, &mut strings);
        let strings_lower: Vec<String> = strings.iter().map(|s| s.to_lowercase()).collect();
        for needle in &needles {
            let lower = needle.text.to_lowercase();
            if contains(&out, &needle.encoded)
                || contains(&out, needle.text.as_bytes())
                || strings_lower.iter().any(|s| s.contains(&lower))
            {
                let hit = strings
                    .iter()
                    .find(|s| s.to_lowercase().contains(&lower))
                    .cloned()
                    .unwrap_or_else(|| "(bytes only)".into());
                leaks.push(format!("{} ({:?}) in {hit:?}", needle.origin, needle.text));
            }
        }
        needles_total.extend(needles.into_iter().map(|n| n.text));

        // character sets: what was decodable stays decodable (no replacement characters appear
        // that the input did not already decode to), and the declared set can encode the text
        let mut input_strings = Vec::new();
        all_strings(&input, &mut input_strings);
        let replacements = |v: &[String]| {
            v.iter()
                .map(|s| s.matches('\u{FFFD}').count())
                .sum::<usize>()
        };
        assert!(
            replacements(&strings) <= replacements(&input_strings),
            "{name}: text no longer decodes"
        );
        if report.charset_changed {
            charset_changed += 1;
            assert_eq!(
                text(&output, tags::SPECIFIC_CHARACTER_SET).as_deref(),
                Some("ISO_IR 192")
            );
        }

        // marks
        assert_eq!(
            text(&output, tags::PATIENT_IDENTITY_REMOVED).as_deref(),
            Some("YES")
        );
        assert!(
            output
                .get(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
                .is_some()
        );
        let expected_meta_uid = if report.sop_instance_uid.is_empty() {
            key().remap_uid(input.meta().media_storage_sop_instance_uid())
        } else {
            report.sop_instance_uid.clone()
        };
        assert_eq!(
            output
                .meta()
                .media_storage_sop_instance_uid()
                .trim_end_matches('\0'),
            expected_meta_uid,
            "{name}: file meta in step"
        );
        // UIDs: the keyed remap of the original, hence consistent across files
        if let Some(study) = text(&input, tags::STUDY_INSTANCE_UID).filter(|s| !s.is_empty()) {
            assert_eq!(report.study_instance_uid, key().remap_uid(&study));
            study_map
                .entry(study)
                .or_default()
                .insert(report.study_instance_uid.clone());
        }
        if let Some(series) = text(&input, tags::SERIES_INSTANCE_UID).filter(|s| !s.is_empty()) {
            series_map
                .entry(series)
                .or_default()
                .insert(report.series_instance_uid.clone());
        }

        // pixels: the same bytes, and the same decoded pixels where they decode
        if let Some(before) = input.get(tags::PIXEL_DATA) {
            let after = output.get(tags::PIXEL_DATA).expect("pixel data kept");
            assert!(
                before.value() == after.value(),
                "{name}: pixel data changed"
            );
            pixel_identical += 1;
            if let Ok(decoded_before) = input.decode_pixel_data() {
                let decoded_after = output
                    .decode_pixel_data()
                    .unwrap_or_else(|e| panic!("{name}: decoded before, not after: {e}"));
                assert!(decoded_before.data() == decoded_after.data(), "{name}");
                decoded_same += 1;
            }
        }
    }

    for (study, outputs) in &study_map {
        assert_eq!(outputs.len(), 1, "study {study} split");
    }
    for (series, outputs) in &series_map {
        assert_eq!(outputs.len(), 1, "series {series} split");
    }
    eprintln!(
        "{} files: {written} de-identified, {} refused; {} identifying values scanned for ({kept_elsewhere} also in kept attributes and {ours_count} words of mira's own method text, not counted), {} leaks; \
         {} studies and {} series consistent; pixel data identical in {pixel_identical}, decoded identically in {decoded_same}; \
         {charset_changed} re-encoded as ISO_IR 192",
        files.len(),
        refused.len(),
        needles_total.len(),
        leaks.len(),
        study_map.len(),
        series_map.len()
    );
    for (file, why) in &refused {
        eprintln!("refused {file}: {why}");
    }
    assert!(leaks.is_empty(), "identifying values left: {leaks:#?}");
    assert!(written > 100, "only {written} files de-identified");
    assert!(decoded_same > 50);
}

#[test]
fn references_in_sequences_follow_the_instances_they_point_to() {
    let Some(dir) = mira_testdata::file("ct/lctsc_chest_slice") else {
        return;
    };
    let deid = Deidentifier::new(key(), &[]);
    let mut sop_map = HashMap::new();
    let mut references = Vec::new();
    for path in walk(&dir) {
        let bytes = std::fs::read(&path).unwrap();
        let Ok((out, report)) = deid.deidentify_bytes(&bytes) else {
            continue;
        };
        let input = open(&bytes).unwrap();
        sop_map.insert(
            text(&input, tags::SOP_INSTANCE_UID).unwrap(),
            report.sop_instance_uid,
        );
        let output = open(&out).unwrap();
        let mut strings = Vec::new();
        all_strings(&output, &mut strings);
        references.push(strings);
    }
    // the RTSTRUCT names the CT slice by its new UID
    let mut found = 0;
    for (original, new) in &sop_map {
        for strings in &references {
            assert!(!strings.iter().any(|s| s.contains(original.as_str())));
            found += strings.iter().filter(|s| s.contains(new.as_str())).count();
        }
    }
    assert!(found > sop_map.len(), "no reference followed its instance");
}

#[test]
fn retained_dates_are_shifted_per_patient() {
    let Some(path) = mira_testdata::file("dicom/dcm_qa_ts/In/1.dcm") else {
        return;
    };
    let bytes = std::fs::read(path).unwrap();
    let input = open(&bytes).unwrap();
    let deid = Deidentifier::new(key(), &[DeidOption::RetainLongitudinalModifiedDates]);
    let (out, report) = deid.deidentify_bytes(&bytes).unwrap();
    let output = open(&out).unwrap();
    let days = report.date_shift_days.unwrap();
    let before = text(&input, tags::STUDY_DATE).unwrap();
    let after = text(&output, tags::STUDY_DATE).unwrap();
    let parse = |d: &str| {
        time::Date::from_calendar_date(
            d[0..4].parse().unwrap(),
            time::Month::try_from(d[4..6].parse::<u8>().unwrap()).unwrap(),
            d[6..8].parse().unwrap(),
        )
        .unwrap()
    };
    assert_eq!((parse(&before) - parse(&after)).whole_days(), days as i64);
    assert_eq!(
        text(&output, tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED).as_deref(),
        Some("MODIFIED")
    );
    let codes: Vec<String> = output
        .get(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()
        .iter()
        .map(|item| text(item, tags::CODE_VALUE).unwrap())
        .collect();
    assert_eq!(codes, ["113100", "113107"]);
}
