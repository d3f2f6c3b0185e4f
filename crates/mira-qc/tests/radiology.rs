//! QC on the real radiographs and CT series of ../shared/testdata.

use std::path::{Path, PathBuf};

use mira_qc::header::{Pixels, read_file};
use mira_qc::instance::Context;
use mira_qc::offline::check_paths;
use mira_qc::{Report, RuleSet, Status};

fn check_file(path: &Path) -> Report {
    let rules = RuleSet::default();
    let ctx = Context::now(&rules);
    let instance = read_file(path, Pixels::Read).unwrap();
    mira_qc::check_dicom(&ctx, "test", &instance)
}

fn status(report: &Report, rule: &str) -> Status {
    report
        .check(rule)
        .unwrap_or_else(|| panic!("{rule} did not run: {report:#?}"))
        .status
}

#[test]
fn wg04_chest_cr_with_zero_pixel_spacing_is_flagged() {
    let Some(path) = mira_testdata::file("cxr/wg04_rg1_cr_chest_uncompressed.dcm") else {
        return;
    };
    let report = check_file(&path);
    let check = report.check("header.pixel-spacing").unwrap();
    assert_eq!(check.status, Status::Fail);
    assert_eq!(
        check.measured.as_deref(),
        Some("PixelSpacing 0.000\\0.000 mm")
    );
    assert!(check.action.as_deref().unwrap().contains("calibrate"));
    // genuinely MONOCHROME1: the polarity check must accept it
    assert_eq!(status(&report, "cxr.polarity"), Status::Pass);
    assert_eq!(status(&report, "header.photometric"), Status::Pass);
    assert_eq!(status(&report, "cxr.view-position"), Status::Pass);
    assert_eq!(report.outcome(), Status::Fail);
}

#[test]
fn monochrome1_relabelled_siim_radiograph_is_inconsistent_and_the_original_is_not() {
    let Some(dir) = mira_testdata::testdata() else {
        return;
    };
    let relabelled = check_file(&dir.join("cxr/siim_cr_chest_relabelled_monochrome1.dcm"));
    let check = relabelled.check("cxr.polarity").unwrap();
    assert_eq!(check.status, Status::Fail, "{check:?}");
    assert!(check.message.contains("inverted"), "{check:?}");
    assert!(relabelled.measurements["polarity_contrast"] < -0.1);

    let original = check_file(&dir.join("cxr/siim_cr_chest_jpeg_baseline.dcm"));
    assert_eq!(status(&original, "cxr.polarity"), Status::Pass);
    assert!(original.measurements["polarity_contrast"] > 0.1);
    // the two files differ only in the label: the measured contrast flips sign
    assert!(
        (original.measurements["polarity_contrast"] + relabelled.measurements["polarity_contrast"])
            .abs()
            < 0.01
    );
    let nih = check_file(&dir.join("cxr/nih_dx_chest_implicit_vr.dcm"));
    assert_eq!(status(&nih, "cxr.polarity"), Status::Pass);
    // the NIH file has no pixel spacing at all
    assert_eq!(status(&nih, "header.pixel-spacing"), Status::Fail);
}

#[test]
fn tight_collimation_and_clipping_are_measured_on_a_real_radiograph() {
    let Some(path) = mira_testdata::file("cxr/siim_cr_chest_jpeg_baseline.dcm") else {
        return;
    };
    let instance = read_file(&path, Pixels::Read).unwrap();
    let img = mira_qc::cxr::Greyscale::decode(&instance.object, &instance.header).unwrap();
    let rules = RuleSet::default();
    let ctx = Context::now(&rules);
    let stats = mira_qc::cxr::measure(&img);
    assert!(stats.field_fraction > 0.9, "{stats:?}");
    assert!(stats.clipped_fraction < 0.01, "{stats:?}");

    // collimator blades: uniform bright bands over 25% of each border
    let mut collimated = img.clone();
    let (w, h) = (img.width, img.height);
    for y in 0..h {
        for x in 0..w {
            if x < w / 4 || x >= w - w / 4 || y < h / 4 || y >= h - h / 4 {
                collimated.pixels[y * w + x] = 240;
            }
        }
    }
    let s = mira_qc::cxr::measure(&collimated);
    assert!((s.field_fraction - 0.25).abs() < 0.02, "{s:?}");
    let checks = mira_qc::cxr::check_pixels(&ctx, &instance.header, &s);
    let c = checks.iter().find(|c| c.rule == "cxr.collimation").unwrap();
    assert_eq!(c.status, Status::Warning);

    // burned out: 10% of the pixels at the top of the range
    let mut clipped = img.clone();
    for p in clipped.pixels.iter_mut().step_by(10) {
        *p = clipped.max;
    }
    let s = mira_qc::cxr::measure(&clipped);
    let checks = mira_qc::cxr::check_pixels(&ctx, &instance.header, &s);
    let c = checks.iter().find(|c| c.rule == "cxr.clipping").unwrap();
    assert_eq!(c.status, Status::Warning, "{c:?}");
}

fn totalseg() -> Option<PathBuf> {
    Some(mira_testdata::testdata()?.join("ct/totalseg_example_ct"))
}

#[test]
fn totalsegmentator_ct_series_is_complete_with_its_real_thickness_and_spacing() {
    let Some(dir) = totalseg() else {
        return;
    };
    let rules = RuleSet::default();
    let run = check_paths(&Context::now(&rules), std::slice::from_ref(&dir));
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert_eq!(run.files.len(), 20);
    assert_eq!(run.series.len(), 1, "no UIDs: one series per folder");
    let series = &run.series[0];
    assert!(series.subject.starts_with("folder:"), "{}", series.subject);
    for rule in [
        "ct.geometry-present",
        "ct.orientation",
        "ct.duplicates",
        "ct.gaps",
        "ct.spacing-uniform",
        "ct.gantry-tilt",
        "ct.interval-vs-thickness",
    ] {
        assert_eq!(status(series, rule), Status::Pass, "{rule}");
    }
    assert_eq!(series.measurements["slice_count"], 20.0);
    assert_eq!(series.measurements["slice_thickness_mm"], 3.0);
    assert_eq!(series.measurements["spacing_mm"], 2.0);
    assert_eq!(series.measurements["extent_mm"], 38.0);
    assert_eq!(series.measurements["missing_slices"], 0.0);
    // the mean over the slices (tube current modulation varies it slice by slice)
    assert_eq!(series.measurements["ctdivol_mgy"], 18.539);
    // a PET/CT attenuation series, not a screening protocol: no LDCT dose verdict
    assert_eq!(series.measurements["ldct_protocol"], 0.0);
    assert!(series.check("ct.ldct.ctdivol").is_none());

    // the empty UIDs and Patient ID are header findings of every slice
    for file in &run.files {
        let uid = file.report.check("header.uid-syntax").unwrap();
        assert_eq!(uid.status, Status::Fail);
        assert_eq!(
            uid.measured.as_deref(),
            Some(
                "SOPClassUID empty; SOPInstanceUID empty; StudyInstanceUID empty; SeriesInstanceUID empty"
            )
        );
        let type1 = file.report.check("header.type1").unwrap();
        assert_eq!(type1.status, Status::Fail);
        assert!(
            type1
                .measured
                .as_deref()
                .unwrap()
                .contains("Study Instance UID"),
            "{type1:?}"
        );
        let type2 = file.report.check("header.type2").unwrap();
        assert_eq!(
            type2.status,
            Status::Pass,
            "empty Type 2 values are allowed"
        );
        assert_eq!(status(&file.report, "header.pixel-spacing"), Status::Pass);
    }
}

#[test]
fn a_slice_removed_from_a_copy_of_the_series_is_a_gap() {
    let Some(dir) = totalseg() else {
        return;
    };
    let copy = tempfile::tempdir().unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for (i, path) in names.iter().enumerate() {
        if i != 9 {
            std::fs::copy(path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let rules = RuleSet::default();
    let run = check_paths(&Context::now(&rules), &[copy.path().to_path_buf()]);
    let series = &run.series[0];
    let gaps = series.check("ct.gaps").unwrap();
    assert_eq!(gaps.status, Status::Fail, "{gaps:?}");
    assert_eq!(series.measurements["missing_slices"], 1.0);
    assert_eq!(series.measurements["spacing_mm"], 2.0);
    assert!(
        gaps.measured
            .as_deref()
            .unwrap()
            .starts_with("largest step 4 mm"),
        "{gaps:?}"
    );
    assert!(gaps.action.as_deref().unwrap().contains("re-send"));

    // and a duplicated slice (re-sent under another name) is a duplicate
    std::fs::copy(&names[3], copy.path().join("duplicate.dcm")).unwrap();
    let run = check_paths(&Context::now(&rules), &[copy.path().to_path_buf()]);
    assert_eq!(status(&run.series[0], "ct.duplicates"), Status::Fail);
}

#[test]
fn non_dicom_files_named_explicitly_are_errors_and_in_folders_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not an image").unwrap();
    let rules = RuleSet::default();
    let ctx = Context::now(&rules);
    let run = check_paths(&ctx, &[dir.path().to_path_buf()]);
    assert_eq!((run.skipped, run.errors.len()), (1, 0));
    let run = check_paths(&ctx, std::slice::from_ref(&notes));
    assert_eq!(run.errors.len(), 1);
    assert_eq!(
        run.errors[0].reason,
        "not a DICOM PS3.10 file (no 'DICM' prefix)"
    );
    // radiographs saved as PNG are not fundus photographs
    let Some(png) = mira_testdata::file("cxr/nih_00027426_000_no_finding.png") else {
        return;
    };
    let run = check_paths(&ctx, std::slice::from_ref(&png));
    assert!(run.files.is_empty());
    assert!(
        run.errors[0].reason.starts_with("greyscale image"),
        "{:?}",
        run.errors
    );
    let run = check_paths(&ctx, &[dir.path().join("missing.dcm")]);
    assert!(
        run.errors[0].reason.starts_with("read failed"),
        "{:?}",
        run.errors
    );
}
