//! `parse_instance` stops decoding at [`mira_dicom::validate::INDEXED_UNTIL`]; on every real
//! file it accepts, the attributes it extracts must equal those of a full parse.

use dicom_object::OpenFileOptions;
use mira_dicom::{InstanceAttributes, parse_instance};

#[test]
fn stopping_early_extracts_the_same_attributes_as_a_full_parse() {
    let Some(root) = mira_testdata::testdata() else {
        return;
    };
    let mut compared = 0;
    for dir in ["dicom", "ct", "cxr"] {
        for entry in walkdir::WalkDir::new(root.join(dir)) {
            let entry = entry.unwrap();
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(parsed) = parse_instance(entry.path()) else {
                continue;
            };
            let full = OpenFileOptions::new().open_file(entry.path()).unwrap();
            let ts = parsed.attributes.instance.transfer_syntax_uid.clone();
            let expected = InstanceAttributes::from_object(&full, &ts).unwrap();
            assert_eq!(parsed.attributes, expected, "{}", entry.path().display());
            compared += 1;
        }
    }
    assert!(compared > 100, "only {compared} files compared");
}
