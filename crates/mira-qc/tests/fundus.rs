//! Fundus gradability on the real IDRiD photographs of ../shared/testdata/fundus: the
//! originals grade Good or Usable; copies degraded here (blur, under-exposure, a shifted field
//! of view, over-exposure) grade Reject for the right reason; the optic disc is found where
//! the CODRAS boxes put it; and the gradability score separates originals from degraded
//! copies (ROC AUC, printed for the record).

use std::path::PathBuf;

use image::RgbImage;
use mira_qc::instance::Context;
use mira_qc::{Grade, Report, RuleSet, Status};

fn photographs() -> Option<Vec<PathBuf>> {
    let dir = mira_testdata::testdata()?.join("fundus/idrid_codras");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 40, "the IDRiD set has 40 photographs");
    Some(paths)
}

/// The degradations, each with the rule that must reject it.
const DEGRADATIONS: [(&str, &str); 4] = [
    ("gaussian blur", "fundus.focus"),
    ("under-exposure", "fundus.too-dark"),
    ("shifted field of view", "fundus.field-of-view"),
    ("over-exposure", "fundus.over-exposed"),
];

fn degrade(img: &RgbImage, which: &str) -> RgbImage {
    match which {
        // σ = 12 px at 4288 px wide: about the calibre of a small vessel (box approximation
        // of a Gaussian, three passes)
        "gaussian blur" => image::imageops::fast_blur(img, 12.0),
        // 15% of the light: about -2.7 stops
        "under-exposure" => {
            let mut out = img.clone();
            for p in out.pixels_mut() {
                for c in &mut p.0 {
                    *c = (*c as f32 * 0.15) as u8;
                }
            }
            out
        }
        // the camera 40% of the width off the pupil axis
        "shifted field of view" => {
            let (w, h) = img.dimensions();
            let d = w * 2 / 5;
            let mut out = RgbImage::new(w, h);
            for y in 0..h {
                for x in d..w {
                    out.put_pixel(x, y, *img.get_pixel(x - d, y));
                }
            }
            out
        }
        // flash so strong that the field's mean green reaches 250: the field washes out, the
        // camera's black surround stays black
        "over-exposure" => {
            let (mut sum, mut n) = (0f64, 0f64);
            for p in img.pixels() {
                if p.0[0] > 20 {
                    sum += p.0[1] as f64;
                    n += 1.0;
                }
            }
            let gain = (250.0 / (sum / n)) as f32;
            let mut out = img.clone();
            for p in out.pixels_mut() {
                if p.0[0] > 20 {
                    for c in &mut p.0 {
                        *c = (*c as f32 * gain).min(255.0) as u8;
                    }
                }
            }
            out
        }
        other => unreachable!("{other}"),
    }
}

fn grade(ctx: &Context<'_>, img: &RgbImage) -> Report {
    mira_qc::check_photo(ctx, "photo", img)
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative (ties count half).
fn auc(positives: &[f64], negatives: &[f64]) -> f64 {
    let mut wins = 0.0;
    for p in positives {
        for n in negatives {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (positives.len() * negatives.len()) as f64
}

#[test]
fn originals_are_gradable_and_degraded_copies_are_rejected_for_the_right_reason() {
    let Some(paths) = photographs() else {
        return;
    };
    let rules = RuleSet::default();
    let ctx = Context::now(&rules);
    let mut original_scores = Vec::new();
    let mut degraded_scores: Vec<(&str, f64)> = Vec::new();
    let mut grades = std::collections::BTreeMap::new();
    for path in &paths {
        let img = image::open(path).unwrap().to_rgb8();
        let report = grade(&ctx, &img);
        let g = report.grade.unwrap();
        assert!(
            g.is_gradable(),
            "{} graded {g:?}: {:#?}",
            path.display(),
            report.findings().collect::<Vec<_>>()
        );
        *grades.entry(g).or_insert(0) += 1;
        original_scores.push(report.measurements["quality_score"]);

        for (which, rule) in DEGRADATIONS {
            let report = grade(&ctx, &degrade(&img, which));
            assert_eq!(
                report.grade,
                Some(Grade::Reject),
                "{which} of {}: {:#?}",
                path.display(),
                report.findings().collect::<Vec<_>>()
            );
            let check = report.check(rule).unwrap();
            assert_eq!(check.status, Status::Fail, "{which} of {}", path.display());
            assert!(
                check
                    .action
                    .as_deref()
                    .unwrap()
                    .contains("do not report as no retinopathy"),
                "{check:?}"
            );
            if which != "shifted field of view" {
                // the field is still found: the rejection names the exposure or focus, not a
                // missing field
                assert_eq!(
                    report.check("fundus.field-of-view").unwrap().status,
                    Status::Pass,
                    "{which} of {}",
                    path.display()
                );
            }
            degraded_scores.push((which, report.measurements["quality_score"]));
        }
    }
    let all: Vec<f64> = degraded_scores.iter().map(|(_, s)| *s).collect();
    let overall = auc(&original_scores, &all);
    println!("fundus gradability: originals {grades:?}");
    println!(
        "AUC originals vs all degraded copies: {overall:.4} (40 vs {})",
        all.len()
    );
    for (which, _) in DEGRADATIONS {
        let these: Vec<f64> = degraded_scores
            .iter()
            .filter(|(w, _)| *w == which)
            .map(|(_, s)| *s)
            .collect();
        println!(
            "AUC originals vs {which}: {:.4}",
            auc(&original_scores, &these)
        );
    }
    let min_original = original_scores
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let max_degraded = all.iter().copied().fold(0.0, f64::max);
    println!("quality score: originals >= {min_original:.3}, degraded <= {max_degraded:.3}");
    assert!(overall >= 0.99, "AUC {overall}");
}

#[test]
fn the_optic_disc_is_found_where_the_codras_boxes_put_it() {
    let Some(paths) = photographs() else {
        return;
    };
    let rules = RuleSet::default();
    let ctx = Context::now(&rules);
    let (mut hits, mut labelled) = (0, 0);
    for path in &paths {
        let labels = std::fs::read_to_string(path.with_extension("txt")).unwrap();
        // class 0 = optic disc: x_centre y_centre width height, normalised
        let Some(disc) = labels.lines().find_map(|l| {
            let v: Vec<f64> = l.split_whitespace().map(|t| t.parse().unwrap()).collect();
            (v.first() == Some(&0.0)).then(|| (v[1], v[2], v[3], v[4]))
        }) else {
            continue;
        };
        labelled += 1;
        let img = image::open(path).unwrap().to_rgb8();
        let m = mira_qc::fundus::measure(&img);
        let (x, y) = m.disc_centre;
        // within the labelled box (its half-size) plus half a box of slack
        if (x - disc.0).abs() <= disc.2 && (y - disc.1).abs() <= disc.3 {
            hits += 1;
        } else {
            println!(
                "{}: disc found at ({x:.3}, {y:.3}), labelled at ({:.3}, {:.3})",
                path.display(),
                disc.0,
                disc.1
            );
        }
        let report = mira_qc::fundus::check(&ctx, "photo", &m);
        assert_eq!(
            report.check("fundus.optic-disc").unwrap().status,
            Status::Pass
        );
    }
    println!("optic disc found in the labelled box for {hits} of {labelled} photographs");
    assert!(labelled >= 30, "{labelled} photographs with a disc box");
    assert!(hits as f64 >= 0.9 * labelled as f64, "{hits} of {labelled}");
}

#[test]
fn a_degraded_copy_on_disk_is_rejected_by_the_offline_run() {
    let Some(paths) = photographs() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let img = image::open(&paths[0]).unwrap().to_rgb8();
    let blurred = dir.path().join("blurred.png");
    degrade(&img, "gaussian blur").save(&blurred).unwrap();
    let original = dir.path().join("original.jpg");
    std::fs::copy(&paths[0], &original).unwrap();
    let rules = RuleSet::default();
    let run = mira_qc::offline::check_paths(&Context::now(&rules), &[dir.path().to_path_buf()]);
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let by_name = |name: &str| {
        run.files
            .iter()
            .find(|f| f.path.ends_with(name))
            .unwrap()
            .report
            .grade
    };
    assert_eq!(by_name("blurred.png"), Some(Grade::Reject));
    assert!(by_name("original.jpg").unwrap().is_gradable());
    assert_eq!(run.outcome(), Status::Fail);
}

/// An Ophthalmic Photography 8-bit instance built around an IDRiD photograph (RGB, explicit
/// VR little endian): the DICOM path decodes the pixels and grades them like the JPEG.
fn op_instance(img: &RgbImage, path: &std::path::Path) {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::{tags, uids};
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
    let sop = "2.25.123456789012345678901234567890";
    let (w, h) = img.dimensions();
    let mut obj = InMemDicomObject::new_empty();
    let text = |obj: &mut InMemDicomObject, tag, vr, value: &str| {
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    };
    text(
        &mut obj,
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::OPHTHALMIC_PHOTOGRAPHY8_BIT_IMAGE_STORAGE,
    );
    text(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, sop);
    text(&mut obj, tags::STUDY_INSTANCE_UID, VR::UI, "2.25.1");
    text(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, "2.25.2");
    text(&mut obj, tags::MODALITY, VR::CS, "OP");
    text(&mut obj, tags::IMAGE_LATERALITY, VR::CS, "R");
    text(&mut obj, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB");
    obj.put(DataElement::new(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(3u16),
    ));
    obj.put(DataElement::new(
        tags::PLANAR_CONFIGURATION,
        VR::US,
        PrimitiveValue::from(0u16),
    ));
    obj.put(DataElement::new(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(h as u16),
    ));
    obj.put(DataElement::new(
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(w as u16),
    ));
    obj.put(DataElement::new(
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(8u16),
    ));
    obj.put(DataElement::new(
        tags::BITS_STORED,
        VR::US,
        PrimitiveValue::from(8u16),
    ));
    obj.put(DataElement::new(
        tags::HIGH_BIT,
        VR::US,
        PrimitiveValue::from(7u16),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0u16),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(img.as_raw().clone()),
    ));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(uids::OPHTHALMIC_PHOTOGRAPHY8_BIT_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(sop),
        )
        .unwrap();
    file.write_to_file(path).unwrap();
}

#[test]
fn an_ophthalmic_photography_instance_is_graded_from_its_pixel_data() {
    let Some(paths) = photographs() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let img = image::open(&paths[1]).unwrap().into_rgb8();
    op_instance(&img, &dir.path().join("good.dcm"));
    op_instance(
        &degrade(&img, "under-exposure"),
        &dir.path().join("dark.dcm"),
    );
    let rules = RuleSet::default();
    let run = mira_qc::offline::check_paths(&Context::now(&rules), &[dir.path().to_path_buf()]);
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let report = |name: &str| {
        &run.files
            .iter()
            .find(|f| f.path.ends_with(name))
            .unwrap()
            .report
    };
    let good = report("good.dcm");
    assert!(good.grade.unwrap().is_gradable(), "{good:#?}");
    // the direct JPEG check and the DICOM check measure the same pixels
    let direct = mira_qc::check_photo(&Context::now(&rules), "x", &img);
    assert_eq!(
        good.measurements["sharpness"],
        direct.measurements["sharpness"]
    );
    // the synthetic instance lacks most of the OP IOD: header findings, but the grade is
    // about the picture
    assert_eq!(good.check("header.type1").unwrap().status, Status::Fail);
    let dark = report("dark.dcm");
    assert_eq!(dark.grade, Some(Grade::Reject));
    assert_eq!(dark.check("fundus.too-dark").unwrap().status, Status::Fail);
}
