//! Applying the profile to one instance.

use std::collections::{BTreeSet, HashMap};
use std::io::{Cursor, Seek, SeekFrom};
use std::path::Path;

use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use serde::Serialize;

use crate::error::DeidError;
use crate::key::DeidKey;
use crate::options::{BASIC_PROFILE_CODE, DeidOption};
use crate::table::{ActionCode, TABLE};

/// Private attributes kept by the Retain Safe Private behaviour: (private creator, group,
/// element offset within the block). Only numeric values are kept (a number cannot carry a
/// name): diffusion b-values and directions, which research on MR needs and which PS3.15
/// Table E.3.10-1 lists as safe.
pub const SAFE_PRIVATE: &[(&str, u16, u8)] = &[
    ("SIEMENS MR HEADER", 0x0019, 0x0C),      // B_value
    ("SIEMENS MR HEADER", 0x0019, 0x0E),      // DiffusionGradientDirection
    ("SIEMENS MR HEADER", 0x0019, 0x27),      // B_matrix
    ("GEMS_PARM_01", 0x0043, 0x39),           // slop_int_6..9 (b-value)
    ("Philips Imaging DD 001", 0x2001, 0x03), // Diffusion B-Factor
];

/// Sequences with action D whose items identify a person through codes the table does not
/// list one by one: removed rather than cleaned item by item.
const IDENTIFYING_SEQUENCES: [Tag; 1] = [Tag(0x0040, 0x1101)]; // Person Identification Code Seq.

/// Deepest sequence nesting walked (mira-dicom's preflight refuses deeper files first).
const MAX_DEPTH: u32 = 64;

/// What to do with an instance that says its pixels carry burned-in text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BurnedInPolicy {
    /// Refuse it (the default): the header would be clean, the pixels would not, and mira
    /// does not clean pixels. A data steward has to decide, e.g. mask the region first.
    #[default]
    Refuse,
    /// Write it anyway and report it; for data whose annotations are known to be harmless.
    Report,
}

/// What was done to one instance, with no original value in it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeidReport {
    /// The new SOP Instance UID.
    pub sop_instance_uid: String,
    /// The new Study Instance UID (empty when the instance had none).
    pub study_instance_uid: String,
    /// The new Series Instance UID.
    pub series_instance_uid: String,
    /// The pseudonymous Patient ID.
    pub patient_pseudonym: String,
    /// Attributes removed (at any depth).
    pub removed: usize,
    /// Attributes emptied or given a dummy value.
    pub emptied: usize,
    /// UIDs replaced.
    pub uids_replaced: usize,
    /// Dates shifted (Retain Longitudinal … Modified Dates).
    pub dates_shifted: usize,
    /// Descriptors kept by Clean Descriptors.
    pub descriptors_kept: usize,
    /// Private attributes kept from the safe list.
    pub private_kept: usize,
    /// Days the dates moved back, when they were shifted.
    pub date_shift_days: Option<u64>,
    /// Whether the text was re-encoded as UTF-8 (ISO_IR 192).
    pub charset_changed: bool,
    /// Whether Burned In Annotation was YES (only with [`BurnedInPolicy::Report`]).
    pub burned_in_annotation: bool,
}

/// The de-identifier: a key, the options in force and the burned-in policy. Cheap to share
/// between threads (`&self` everywhere).
#[derive(Debug, Clone)]
pub struct Deidentifier {
    key: DeidKey,
    options: Vec<DeidOption>,
    burned_in: BurnedInPolicy,
}

/// Per-instance state.
struct Context<'a> {
    pseudonym: String,
    shift_days: Option<u64>,
    /// Lower-case identifying strings of this instance, for Clean Descriptors.
    identifying: BTreeSet<String>,
    report: &'a mut DeidReport,
}

impl Deidentifier {
    /// A de-identifier applying the Basic Profile and `options`.
    pub fn new(key: DeidKey, options: &[DeidOption]) -> Deidentifier {
        let mut options: Vec<DeidOption> = options
            .iter()
            .copied()
            .filter(|o| {
                !matches!(
                    o,
                    DeidOption::CleanStructuredContent
                        | DeidOption::CleanGraphics
                        | DeidOption::RetainSafePrivate
                )
            })
            .collect();
        options.sort_by_key(|o| o.code().0);
        options.dedup();
        Deidentifier {
            key,
            options,
            burned_in: BurnedInPolicy::Refuse,
        }
    }

    /// Sets the burned-in annotation policy.
    pub fn with_burned_in_policy(mut self, policy: BurnedInPolicy) -> Deidentifier {
        self.burned_in = policy;
        self
    }

    /// The options in force (the ones that change behaviour).
    pub fn options(&self) -> &[DeidOption] {
        &self.options
    }

    /// De-identifies the PS3.10 file in `bytes`, returning the new file's bytes.
    pub fn deidentify_bytes(&self, bytes: &[u8]) -> Result<(Vec<u8>, DeidReport), DeidError> {
        let mut out = Vec::with_capacity(bytes.len());
        let report = self.deidentify_into(bytes, &mut out)?;
        Ok((out, report))
    }

    /// [`Deidentifier::deidentify_bytes`] into a buffer the caller keeps (cleared first), so
    /// that a run over many files does not map and fault in fresh pages for every one.
    pub fn deidentify_into(
        &self,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<DeidReport, DeidError> {
        out.clear();
        check_structure(bytes)?;
        let mut source = Cursor::new(bytes);
        source
            .seek(SeekFrom::Start(128))
            .map_err(|e| DeidError::Unreadable(e.to_string()))?;
        let object = OpenFileOptions::new()
            .from_reader(source)
            .map_err(|e| DeidError::Unreadable(error_chain(&e)))?;
        let (object, report) = self.deidentify_object(object)?;
        object
            .write_all(&mut *out)
            .map_err(|e| DeidError::Write(error_chain(&e)))?;
        Ok(report)
    }

    /// De-identifies the file `input` into `output` (created; never the same file).
    pub fn deidentify_file(&self, input: &Path, output: &Path) -> Result<DeidReport, DeidError> {
        let bytes = std::fs::read(input).map_err(DeidError::Io)?;
        let (out, report) = self.deidentify_bytes(&bytes)?;
        std::fs::write(output, out).map_err(DeidError::Io)?;
        Ok(report)
    }

    /// De-identifies a parsed file object: the data set by the profile, the File Meta
    /// Information kept in step (Media Storage SOP Instance UID; AE titles dropped).
    pub fn deidentify_object(
        &self,
        object: DefaultDicomObject,
    ) -> Result<(DefaultDicomObject, DeidReport), DeidError> {
        let mut meta = object.meta().clone();
        let dataset = object.into_inner();
        let mut report = DeidReport::default();

        let burned_in = text_of(&dataset, tags::BURNED_IN_ANNOTATION)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("YES"));
        if burned_in {
            match self.burned_in {
                BurnedInPolicy::Refuse => return Err(DeidError::BurnedInAnnotation),
                BurnedInPolicy::Report => report.burned_in_annotation = true,
            }
        }

        let patient_id = text_of(&dataset, tags::PATIENT_ID).unwrap_or_default();
        let issuer = text_of(&dataset, tags::ISSUER_OF_PATIENT_ID).unwrap_or_default();
        let pseudonym = self.key.patient_pseudonym(&patient_id, &issuer);
        let shift_days = self
            .options
            .contains(&DeidOption::RetainLongitudinalModifiedDates)
            .then(|| self.key.date_shift_days(&patient_id, &issuer));
        let mut identifying = BTreeSet::new();
        if self.options.contains(&DeidOption::CleanDescriptors) {
            collect_identifying(&dataset, &mut identifying, 0);
        }
        report.patient_pseudonym = pseudonym.clone();
        report.date_shift_days = shift_days;

        let mut context = Context {
            pseudonym,
            shift_days,
            identifying,
            report: &mut report,
        };
        let mut dataset = self.process(dataset, &mut context, 0)?;
        self.mark(&mut dataset, &context);

        let report_uid = |tag| text_of(&dataset, tag).unwrap_or_default();
        report.sop_instance_uid = report_uid(tags::SOP_INSTANCE_UID);
        report.study_instance_uid = report_uid(tags::STUDY_INSTANCE_UID);
        report.series_instance_uid = report_uid(tags::SERIES_INSTANCE_UID);

        // Text kept as decoded; where any of it is not ASCII it is written as UTF-8, which
        // represents whatever the original character set could. Replacement values are ASCII,
        // which every DICOM character set encodes the same, so otherwise the original Specific
        // Character Set stays true.
        if has_non_ascii_text(&dataset, 0) {
            dataset.put(DataElement::new(
                tags::SPECIFIC_CHARACTER_SET,
                VR::CS,
                PrimitiveValue::from("ISO_IR 192"),
            ));
            report.charset_changed = true;
        }

        if !self.options.contains(&DeidOption::RetainUids) {
            if report.sop_instance_uid.is_empty() {
                // no SOP Instance UID in the data set: the meta's is remapped alike
                meta.media_storage_sop_instance_uid =
                    self.key.remap_uid(&meta.media_storage_sop_instance_uid);
            } else {
                meta.media_storage_sop_instance_uid = report.sop_instance_uid.clone();
            }
        }
        // the file is mira's now: its implementation, not the original writer's (whose
        // version name can carry a site's name)
        meta.implementation_class_uid = mira_dicom::part10::IMPLEMENTATION_CLASS_UID.to_string();
        meta.implementation_version_name =
            Some(mira_dicom::part10::IMPLEMENTATION_VERSION_NAME.to_string());
        meta.source_application_entity_title = None;
        meta.sending_application_entity_title = None;
        meta.receiving_application_entity_title = None;
        meta.private_information_creator_uid = None;
        meta.private_information = None;
        meta.update_information_group_length();
        Ok((dataset.with_exact_meta(meta), report))
    }

    /// Adds Patient Identity Removed, the method and its codes, Longitudinal Temporal
    /// Information Modified, and the pseudonymous Patient ID and Name.
    fn mark(&self, dataset: &mut InMemDicomObject, context: &Context) {
        let pseudonym = context.pseudonym.as_str();
        dataset.put(DataElement::new(
            tags::PATIENT_ID,
            VR::LO,
            PrimitiveValue::from(pseudonym),
        ));
        dataset.put(DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from(pseudonym),
        ));
        dataset.put(DataElement::new(
            tags::PATIENT_IDENTITY_REMOVED,
            VR::CS,
            PrimitiveValue::from("YES"),
        ));
        let mut codes = vec![BASIC_PROFILE_CODE];
        codes.extend(self.options.iter().map(|o| o.code()));
        if context.report.private_kept > 0 {
            codes.push(DeidOption::RetainSafePrivate.code());
        }
        let method = format!(
            "mira-deid {}: PS3.15 E.1-1 {}",
            env!("CARGO_PKG_VERSION"),
            codes
                .iter()
                .map(|(_, meaning)| meaning.trim_end_matches(" Option"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let method: String = method.chars().take(64).collect();
        dataset.put(DataElement::new(
            tags::DEIDENTIFICATION_METHOD,
            VR::LO,
            PrimitiveValue::from(method),
        ));
        let items: Vec<InMemDicomObject> = codes
            .iter()
            .map(|(value, meaning)| {
                InMemDicomObject::from_element_iter([
                    DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(*value)),
                    DataElement::new(
                        tags::CODING_SCHEME_DESIGNATOR,
                        VR::SH,
                        PrimitiveValue::from("DCM"),
                    ),
                    DataElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from(*meaning)),
                ])
            })
            .collect();
        dataset.put(DataElement::new(
            tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
            VR::SQ,
            Value::Sequence(DataSetSequence::new(items, Length::UNDEFINED)),
        ));
        dataset.put(DataElement::new(
            tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
            VR::CS,
            PrimitiveValue::from(if context.shift_days.is_some() {
                "MODIFIED"
            } else {
                "REMOVED"
            }),
        ));
    }

    fn process(
        &self,
        dataset: InMemDicomObject,
        context: &mut Context,
        depth: u32,
    ) -> Result<InMemDicomObject, DeidError> {
        if depth > MAX_DEPTH {
            return Err(DeidError::TooDeep);
        }
        let creators = private_creators(&dataset);
        let kept_private = kept_private_elements(&dataset, &creators);
        let mut out = Vec::new();
        for element in dataset {
            let tag = element.tag();
            if tag.group() % 2 == 1 {
                if kept_private.contains(&tag) {
                    if tag.element() > 0x00FF {
                        context.report.private_kept += 1;
                    }
                    out.push(element);
                } else {
                    context.report.removed += 1;
                }
                continue;
            }
            if [
                tags::PATIENT_IDENTITY_REMOVED,
                tags::DEIDENTIFICATION_METHOD,
                tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
                tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
            ]
            .contains(&tag)
                && depth == 0
            {
                continue; // written afresh by `mark`
            }
            if let Some(element) = self.apply(element, context, depth)? {
                out.push(element);
            }
        }
        Ok(InMemDicomObject::from_element_iter(out))
    }

    /// The action for one (public) element; `None` removes it.
    fn apply(
        &self,
        element: DataElement<InMemDicomObject>,
        context: &mut Context,
        depth: u32,
    ) -> Result<Option<DataElement<InMemDicomObject>>, DeidError> {
        let Some(element) = resolve_unknown_vr(element) else {
            context.report.removed += 1;
            return Ok(None);
        };
        let tag = element.tag();
        let vr = element.vr();
        let action = match TABLE.rule(tag) {
            Some(rule) => rule.action(&self.options),
            // Not in the table: kept, except names and dates wherever they hide
            // (defence in depth beyond the table: a PN or a date the table does not list,
            // e.g. in a newer IOD, is treated as the table treats its neighbours)
            None => match vr {
                VR::PN => ActionCode::Z,
                VR::DA | VR::DT | VR::TM => {
                    if context.shift_days.is_some() {
                        ActionCode::C
                    } else {
                        ActionCode::XZ
                    }
                }
                _ => ActionCode::K,
            },
        };
        let resolved = match action {
            ActionCode::XZ | ActionCode::XZD | ActionCode::ZD => ActionCode::Z,
            ActionCode::XD => ActionCode::X,
            ActionCode::XZU if vr != VR::SQ => ActionCode::Z,
            ActionCode::XZU => ActionCode::K, // sequence: kept, UIDs inside replaced
            ActionCode::D if vr == VR::SQ && IDENTIFYING_SEQUENCES.contains(&tag) => ActionCode::X,
            other => other,
        };
        if vr == VR::SQ {
            return match resolved {
                ActionCode::X => {
                    context.report.removed += 1;
                    Ok(None)
                }
                ActionCode::Z => {
                    context.report.emptied += 1;
                    Ok(Some(DataElement::new(
                        tag,
                        VR::SQ,
                        Value::Sequence(DataSetSequence::new(
                            Vec::<InMemDicomObject>::new(),
                            Length::UNDEFINED,
                        )),
                    )))
                }
                // K, C, D, U on a sequence: its items are de-identified by the same table
                _ => {
                    let items = element.into_value().into_items().unwrap_or_default();
                    let mut cleaned = Vec::with_capacity(items.len());
                    for item in items {
                        cleaned.push(self.process(item, context, depth + 1)?);
                    }
                    Ok(Some(DataElement::new(
                        tag,
                        VR::SQ,
                        Value::Sequence(DataSetSequence::new(cleaned, Length::UNDEFINED)),
                    )))
                }
            };
        }
        Ok(match resolved {
            ActionCode::K => Some(element),
            ActionCode::X => {
                context.report.removed += 1;
                None
            }
            ActionCode::Z => {
                context.report.emptied += 1;
                Some(DataElement::new(tag, vr, PrimitiveValue::Empty))
            }
            ActionCode::D => {
                context.report.emptied += 1;
                Some(DataElement::new(tag, vr, dummy_value(vr)))
            }
            ActionCode::U => {
                let uids = match element.value().to_multi_str() {
                    Ok(values) => values
                        .iter()
                        .filter(|uid| !uid.trim_end_matches(['\0', ' ']).is_empty())
                        .map(|uid| self.key.remap_uid(uid))
                        .collect::<Vec<_>>(),
                    Err(_) => Vec::new(),
                };
                context.report.uids_replaced += uids.len();
                Some(DataElement::new(
                    tag,
                    VR::UI,
                    PrimitiveValue::Strs(uids.into_iter().collect()),
                ))
            }
            ActionCode::C => self.clean(element, context),
            _ => unreachable!("combinations resolved above"),
        })
    }

    /// Action C: dates shifted, times kept, text kept only when it holds no identifying value
    /// of the instance, anything else removed.
    fn clean(
        &self,
        element: DataElement<InMemDicomObject>,
        context: &mut Context,
    ) -> Option<DataElement<InMemDicomObject>> {
        let tag = element.tag();
        let vr = element.vr();
        match vr {
            VR::DA | VR::DT => {
                let Some(days) = context.shift_days else {
                    context.report.removed += 1;
                    return None;
                };
                let values = element.value().to_multi_str().ok()?;
                let shifted: Option<Vec<String>> = values
                    .iter()
                    .map(|v| shift_date_value(v.trim(), vr, days))
                    .collect();
                match shifted {
                    Some(shifted) => {
                        context.report.dates_shifted += shifted.len();
                        Some(DataElement::new(
                            tag,
                            vr,
                            PrimitiveValue::Strs(shifted.into_iter().collect()),
                        ))
                    }
                    None => {
                        // a partial date cannot be shifted by days
                        context.report.emptied += 1;
                        Some(DataElement::new(tag, vr, PrimitiveValue::Empty))
                    }
                }
            }
            VR::TM if context.shift_days.is_some() => Some(element),
            VR::TM => {
                context.report.removed += 1;
                None
            }
            VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC | VR::CS | VR::AE => {
                let text = element.value().to_str().ok()?.to_lowercase();
                if context
                    .identifying
                    .iter()
                    .any(|id| text.contains(id.as_str()))
                {
                    context.report.removed += 1;
                    None
                } else {
                    context.report.descriptors_kept += 1;
                    Some(element)
                }
            }
            VR::AS | VR::DS | VR::IS | VR::FD | VR::FL | VR::US | VR::UL | VR::SS | VR::SL => {
                Some(element)
            }
            _ => {
                context.report.removed += 1;
                None
            }
        }
    }
}

/// A public attribute read as UN (implicit VR data kept by a converter, or an unknown VR):
/// where the dictionary gives it an ASCII-only VR (UIDs, dates, codes, numbers), its bytes
/// become that value, so that U remaps the UID and C shifts the date instead of treating
/// bytes. A sequence read as UN bytes cannot be walked, so it is removed (`None`): its items
/// could hold anything. Other UN values stay bytes (the table's X and Z apply to them alike).
fn resolve_unknown_vr(
    element: DataElement<InMemDicomObject>,
) -> Option<DataElement<InMemDicomObject>> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    if element.vr() != VR::UN {
        return Some(element);
    }
    let tag = element.tag();
    let Some(vr) = dicom_dictionary_std::StandardDataDictionary
        .by_tag(tag)
        .and_then(|entry| entry.vr().exact())
    else {
        return Some(element);
    };
    if vr == VR::SQ {
        return None;
    }
    if !matches!(
        vr,
        VR::UI | VR::DA | VR::DT | VR::TM | VR::AS | VR::CS | VR::DS | VR::IS | VR::AE
    ) {
        return Some(element);
    }
    let Ok(bytes) = element.value().to_bytes() else {
        return Some(element);
    };
    if !bytes.is_ascii() {
        return Some(element);
    }
    let text = String::from_utf8_lossy(&bytes);
    let values: Vec<String> = text
        .trim_end_matches(['\0', ' '])
        .split('\\')
        .map(|v| v.trim().to_string())
        .collect();
    Some(DataElement::new(
        tag,
        vr,
        PrimitiveValue::Strs(values.into_iter().collect()),
    ))
}

/// The archive's structural pre-pass (mira-dicom's `preflight`): lengths past the end of the
/// file and runaway nesting are refused before dicom-object allocates or recurses. Unlike
/// ingest, de-identification asks for no particular attribute: whatever parses is cleaned.
fn check_structure(bytes: &[u8]) -> Result<(), DeidError> {
    use dicom_dictionary_std::uids;
    use mira_dicom::preflight::{Encoding, StructureError, check, check_deflated};

    let mut source = Cursor::new(bytes);
    let head = mira_dicom::part10::read_head(&mut source)?;
    let meta = &head.meta;
    if mira_dicom::syntax::trim_uid(meta.media_storage_sop_class_uid())
        == uids::MEDIA_STORAGE_DIRECTORY_STORAGE
    {
        return Err(DeidError::Dicomdir);
    }
    let refusal = |e: StructureError| match e {
        StructureError::TooDeep => DeidError::TooDeep,
        other => DeidError::Unreadable(other.to_string()),
    };
    let offset = head.dataset_offset;
    let encoding = match mira_dicom::syntax::trim_uid(meta.transfer_syntax()) {
        uids::IMPLICIT_VR_LITTLE_ENDIAN => Encoding::ImplicitLittle,
        #[allow(deprecated)]
        uids::EXPLICIT_VR_BIG_ENDIAN => Encoding::ExplicitBig,
        uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN => {
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            return check_deflated(&bytes[start..]).map_err(refusal);
        }
        _ => Encoding::ExplicitLittle,
    };
    check(Cursor::new(bytes), offset, bytes.len() as u64, encoding).map_err(refusal)
}

/// Shifts a DA (`YYYYMMDD`) or DT (`YYYYMMDD…`) back by `days`; `None` for partial dates.
fn shift_date_value(value: &str, vr: VR, days: u64) -> Option<String> {
    if value.is_empty() {
        return Some(String::new());
    }
    if value.len() < 8 || (vr == VR::DA && value.len() != 8) {
        return None;
    }
    let (date, rest) = value.split_at(8);
    if !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = date[0..4].parse().ok()?;
    let month: u8 = date[4..6].parse().ok()?;
    let day: u8 = date[6..8].parse().ok()?;
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let shifted = date.checked_sub(time::Duration::days(days as i64))?;
    Some(format!(
        "{:04}{:02}{:02}{rest}",
        shifted.year(),
        u8::from(shifted.month()),
        shifted.day()
    ))
}

/// A non-empty dummy value of the VR (action D).
fn dummy_value(vr: VR) -> PrimitiveValue {
    match vr {
        VR::DA => PrimitiveValue::from("19000101"),
        VR::DT => PrimitiveValue::from("19000101000000"),
        VR::TM => PrimitiveValue::from("000000"),
        VR::AS => PrimitiveValue::from("000Y"),
        VR::DS | VR::IS => PrimitiveValue::from("0"),
        VR::AE | VR::CS => PrimitiveValue::from("ANONYMIZED"),
        VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC | VR::PN => {
            PrimitiveValue::from("ANONYMIZED")
        }
        VR::US => PrimitiveValue::from(0u16),
        VR::SS => PrimitiveValue::from(0i16),
        VR::UL => PrimitiveValue::from(0u32),
        VR::SL => PrimitiveValue::from(0i32),
        VR::FL => PrimitiveValue::from(0f32),
        VR::FD => PrimitiveValue::from(0f64),
        _ => PrimitiveValue::Empty,
    }
}

/// Private creators of `dataset`: (group, block) → creator string.
fn private_creators(dataset: &InMemDicomObject) -> HashMap<(u16, u8), String> {
    dataset
        .iter()
        .filter(|e| e.tag().group() % 2 == 1 && (0x0010..=0x00FF).contains(&e.tag().element()))
        .filter_map(|e| {
            let creator = e.value().to_str().ok()?.trim().to_string();
            Some(((e.tag().group(), e.tag().element() as u8), creator))
        })
        .collect()
}

/// The private tags of `dataset` on the safe list (numeric values only), with their creators.
fn kept_private_elements(
    dataset: &InMemDicomObject,
    creators: &HashMap<(u16, u8), String>,
) -> BTreeSet<Tag> {
    let mut kept = BTreeSet::new();
    for element in dataset.iter() {
        let tag = element.tag();
        if tag.group() % 2 == 0 || tag.element() <= 0x00FF {
            continue;
        }
        let block = (tag.element() >> 8) as u8;
        let offset = (tag.element() & 0xFF) as u8;
        let Some(creator) = creators.get(&(tag.group(), block)) else {
            continue;
        };
        let numeric = matches!(
            element.vr(),
            VR::DS | VR::IS | VR::FD | VR::FL | VR::US | VR::UL | VR::SS | VR::SL
        );
        if numeric
            && SAFE_PRIVATE
                .iter()
                .any(|(c, g, o)| c == creator && *g == tag.group() && *o == offset)
        {
            kept.insert(tag);
            kept.insert(Tag(tag.group(), block as u16));
        }
    }
    kept
}

/// Identifying strings of the instance (names and their components, IDs, dates,
/// institution, accession…): values the Basic Profile removes that are not descriptors.
fn collect_identifying(dataset: &InMemDicomObject, into: &mut BTreeSet<String>, depth: u32) {
    if depth > MAX_DEPTH {
        return;
    }
    for element in dataset.iter() {
        let tag = element.tag();
        if element.vr() == VR::SQ {
            for item in element.items().unwrap_or_default() {
                collect_identifying(item, into, depth + 1);
            }
            continue;
        }
        let Some(rule) = TABLE.rule(tag) else {
            if element.vr() != VR::PN {
                continue;
            }
            // names outside the table count too
            add_identifying(element, into);
            continue;
        };
        let descriptor = rule
            .overrides
            .iter()
            .any(|(o, _)| *o == DeidOption::CleanDescriptors);
        let kept = matches!(rule.basic, ActionCode::K | ActionCode::U);
        if !descriptor && !kept && tag.group() % 2 == 0 {
            add_identifying(element, into);
        }
    }
}

fn add_identifying(element: &DataElement<InMemDicomObject>, into: &mut BTreeSet<String>) {
    if !matches!(
        element.vr(),
        VR::PN | VR::LO | VR::SH | VR::DA | VR::DT | VR::AE | VR::ST | VR::LT | VR::UT | VR::UC
    ) {
        return;
    }
    let Ok(values) = element.value().to_multi_str() else {
        return;
    };
    for value in values.iter() {
        let value = value.trim().to_lowercase();
        let parts = value
            .split(['^', '='])
            .map(str::trim)
            .chain(std::iter::once(value.as_str()));
        for part in parts {
            // very short components ("a", "md") would strike out most descriptors
            if part.chars().count() >= 3 {
                into.insert(part.to_string());
            }
        }
    }
}

fn has_non_ascii_text(dataset: &InMemDicomObject, depth: u32) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    dataset.iter().any(|element| match element.vr() {
        VR::SQ => element
            .items()
            .unwrap_or_default()
            .iter()
            .any(|item| has_non_ascii_text(item, depth + 1)),
        VR::SH | VR::LO | VR::ST | VR::LT | VR::UT | VR::UC | VR::PN => {
            element.value().to_str().is_ok_and(|text| !text.is_ascii())
        }
        _ => false,
    })
}

/// The trimmed text of a top-level attribute.
fn text_of(dataset: &InMemDicomObject, tag: Tag) -> Option<String> {
    let element = dataset.get(tag)?;
    let text = element.value().to_str().ok()?;
    Some(text.trim_end_matches(['\0', ' ']).trim().to_string())
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_shift_back_by_whole_days() {
        assert_eq!(
            shift_date_value("20240301", VR::DA, 1).as_deref(),
            Some("20240229")
        );
        assert_eq!(
            shift_date_value("20240301120000.5+0100", VR::DT, 366).as_deref(),
            Some("20230301120000.5+0100")
        );
        assert_eq!(shift_date_value("2024", VR::DT, 3), None);
        assert_eq!(shift_date_value("", VR::DA, 3).as_deref(), Some(""));
    }
}
