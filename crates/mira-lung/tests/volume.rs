//! Volume assembly from DICOM objects: sorting along the normal, HU, spacing, and the typed
//! refusals (tilt, orientation, mixed series or geometry, missing slices, too few, not CT).

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use mira_lung::phantom::{self, PhantomSpec};
use mira_lung::{Volume, VolumeError};

/// A small phantom written as files and read back as objects, shuffled.
fn series(slices: usize) -> (Volume, Vec<(String, DefaultDicomObject)>) {
    let p = phantom::generate(&PhantomSpec {
        seed: 5,
        dims: [64, 64, slices],
        pixel_mm: 2.5,
        slice_mm: 2.0,
        noise_hu: 20.0,
        vessel_generations: 0,
        nodules: Vec::new(),
    });
    let dir = tempfile::tempdir().unwrap();
    phantom::write_series(&p.volume, dir.path(), "2.25.7", "2.25.7.1", "P1").unwrap();
    let mut objects: Vec<(String, DefaultDicomObject)> = Volume::files_in(dir.path())
        .unwrap()
        .into_iter()
        .map(|f| {
            (
                f.file_name().unwrap().to_string_lossy().into_owned(),
                OpenFileOptions::new().open_file(&f).unwrap(),
            )
        })
        .collect();
    objects.reverse();
    objects.swap(1, 5);
    (p.volume, objects)
}

fn set(obj: &mut DefaultDicomObject, tag: dicom_core::Tag, vr: VR, value: &str) {
    let values: Vec<String> = value.split('\\').map(String::from).collect();
    obj.put(DataElement::new(
        tag,
        vr,
        PrimitiveValue::Strs(values.into()),
    ));
}

#[test]
fn assembles_sorted_hu_with_spacing_and_uids() {
    let (truth, objects) = series(12);
    let v = Volume::from_objects(&objects).unwrap();
    assert_eq!(v.dims, [64, 64, 12]);
    assert_eq!(v.spacing_mm, [2.5, 2.5, 2.0]);
    assert_eq!(
        v.hu, truth.hu,
        "HU through rescale slope and intercept, slices in order"
    );
    assert_eq!(v.series_instance_uid, "2.25.7.1");
    assert_eq!(v.slices[0].sop_instance_uid, "2.25.7.1.1");
    assert!(
        v.slices
            .windows(2)
            .all(|w| w[1].location_mm - w[0].location_mm == 2.0)
    );
}

#[test]
fn refuses_what_it_cannot_trust() {
    let (_, objects) = series(12);
    let name = |e: VolumeError| e.to_string();
    // missing slice
    let mut gap = objects.clone();
    gap.retain(|(n, _)| n != "CT0006.dcm");
    let e = Volume::from_objects(&gap).unwrap_err();
    assert!(matches!(e, VolumeError::MissingSlices { .. }), "{e}");
    // too few
    let e = Volume::from_objects(&objects[..5]).unwrap_err();
    assert!(
        matches!(e, VolumeError::TooFewSlices { count: 5, min: 10 }),
        "{e}"
    );
    // mixed series
    let mut mixed = objects.clone();
    set(&mut mixed[3].1, tags::SERIES_INSTANCE_UID, VR::UI, "2.25.8");
    let e = Volume::from_objects(&mixed).unwrap_err();
    assert!(matches!(e, VolumeError::MixedSeries { .. }), "{e}");
    assert!(name(e).contains(&mixed[3].0), "the message names the file");
    // mixed orientation
    let mut turned = objects.clone();
    set(
        &mut turned[2].1,
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        "0\\1\\0\\1\\0\\0",
    );
    let e = Volume::from_objects(&turned).unwrap_err();
    assert!(
        matches!(
            e,
            VolumeError::MixedGeometry {
                what: "image orientation",
                ..
            }
        ),
        "{e}"
    );
    // non-orthogonal orientation
    let mut skew: Vec<_> = objects.clone();
    for (_, o) in &mut skew {
        set(
            o,
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            "1\\0\\0\\0.5\\0.866\\0",
        );
    }
    let e = Volume::from_objects(&skew).unwrap_err();
    assert!(matches!(e, VolumeError::NonOrthogonal { .. }), "{e}");
    // gantry tilt: positions drift in y as they rise in z
    let mut tilted = objects.clone();
    for (_, o) in &mut tilted {
        let p = o
            .element(tags::IMAGE_POSITION_PATIENT)
            .unwrap()
            .to_multi_float64()
            .unwrap();
        set(
            o,
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            &format!("{}\\{}\\{}", p[0], p[1] + 0.5 * p[2], p[2]),
        );
    }
    let e = Volume::from_objects(&tilted).unwrap_err();
    assert!(matches!(e, VolumeError::GantryTilt { .. }), "{e}");
    let mut tilt_tag = objects.clone();
    set(&mut tilt_tag[0].1, tags::GANTRY_DETECTOR_TILT, VR::DS, "15");
    assert!(matches!(
        Volume::from_objects(&tilt_tag).unwrap_err(),
        VolumeError::GantryTilt { .. }
    ));
    // not CT
    let mut mr = objects.clone();
    set(&mut mr[4].1, tags::MODALITY, VR::CS, "MR");
    let e = Volume::from_objects(&mr).unwrap_err();
    assert!(
        matches!(e, VolumeError::NotCt { ref modality, .. } if modality == "MR"),
        "{e}"
    );
    // duplicate position
    let mut dup = objects.clone();
    let p = dup[0]
        .1
        .element(tags::IMAGE_POSITION_PATIENT)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    set(&mut dup[1].1, tags::IMAGE_POSITION_PATIENT, VR::DS, &p);
    let e = Volume::from_objects(&dup).unwrap_err();
    assert!(
        matches!(
            e,
            VolumeError::DuplicatePosition { .. } | VolumeError::MissingSlices { .. }
        ),
        "{e}"
    );
}
