//! The ingest pipeline on real files: identical re-sends are idempotent, a different object
//! under a stored SOP Instance UID follows the configured policy, events follow commits, and a
//! crash's leftovers are cleaned at the next open.

use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use mira_ingest::{ConflictPolicy, Ingest, IngestConfig, IngestError, Outcome};
use mira_store::{Archive, Flush};

/// pydicom's CT_small.dcm, and a copy whose Study Description differs: the same SOP Instance
/// UID with other content.
fn original_and_variant(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let original = mira_testdata::file("dicom/pydicom/CT_small.dcm")?;
    let mut object = dicom_object::open_file(&original).unwrap();
    object.put(DataElement::new(
        tags::STUDY_DESCRIPTION,
        VR::LO,
        PrimitiveValue::from("corrected at the modality"),
    ));
    let variant = dir.join("variant.dcm");
    object.write_to_file(&variant).unwrap();
    Some((original, variant))
}

async fn open(dir: &Path, policy: ConflictPolicy) -> Ingest {
    let (archive, _) = Archive::open(dir, policy).await.unwrap();
    Ingest::start(archive, &IngestConfig::default())
}

async fn study_description(ingest: &Ingest, sop_instance_uid: &str) -> Option<String> {
    let location = ingest
        .archive()
        .catalogue
        .instance_location(sop_instance_uid)
        .await
        .unwrap()
        .unwrap();
    let key = mira_store::BlobKey::parse(&location.blob_key).unwrap();
    let object = dicom_object::open_file(ingest.archive().blobs.path_of(&key)).unwrap();
    object
        .element(tags::STUDY_DESCRIPTION)
        .ok()
        .map(|e| e.to_str().unwrap().trim().to_string())
}

#[tokio::test]
async fn identical_resend_is_a_duplicate_and_changes_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let Some((original, _)) = original_and_variant(scratch.path()) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let ingest = open(data.path(), ConflictPolicy::Reject).await;
    let mut events = ingest.subscribe();
    let first = ingest.import_file(&original).await.unwrap();
    assert_eq!(first.outcome, Outcome::Stored);
    let event = events.try_recv().expect("stored instance announced");
    assert_eq!(event.sop_instance_uid, first.sop_instance_uid);
    assert_eq!(event.modality.as_deref(), Some("CT"));
    let again = ingest.import_file(&original).await.unwrap();
    assert_eq!(again.outcome, Outcome::Duplicate);
    assert_eq!(again.key, first.key);
    assert!(events.try_recv().is_err(), "a duplicate is not announced");
    assert_eq!(
        ingest.archive().catalogue.count_instances().await.unwrap(),
        1
    );
}

/// Stores the original, then imports the variant (same SOP Instance UID, other content) under
/// `policy`; returns the pipeline and both receipts, or `None` without test data.
async fn original_then_variant(
    data: &Path,
    policy: ConflictPolicy,
) -> Option<(Ingest, mira_ingest::Receipt, mira_ingest::Receipt)> {
    let (original, variant) = original_and_variant(data)?;
    let ingest = open(&data.join("archive"), policy).await;
    let first = ingest.import_file(&original).await.unwrap();
    assert_eq!(first.outcome, Outcome::Stored);
    let second = ingest.import_file(&variant).await.unwrap();
    assert_eq!(second.sop_instance_uid, first.sop_instance_uid);
    Some((ingest, first, second))
}

async fn stored_key(ingest: &Ingest, sop_instance_uid: &str) -> String {
    let location = ingest
        .archive()
        .catalogue
        .instance_location(sop_instance_uid)
        .await
        .unwrap();
    location.expect("instance indexed").blob_key
}

#[tokio::test]
async fn keep_first_keeps_the_stored_object() {
    let data = tempfile::tempdir().unwrap();
    let Some((ingest, first, second)) =
        original_then_variant(data.path(), ConflictPolicy::KeepFirst).await
    else {
        return;
    };
    assert_eq!(second.outcome, Outcome::KeptExisting);
    assert_eq!(
        stored_key(&ingest, &first.sop_instance_uid).await,
        first.key
    );
    assert_eq!(
        ingest.archive().blobs.list().await.unwrap().len(),
        1,
        "the variant left no blob"
    );
    assert_ne!(
        study_description(&ingest, &first.sop_instance_uid)
            .await
            .as_deref(),
        Some("corrected at the modality")
    );
}

#[tokio::test]
async fn replace_stores_the_new_object_and_removes_the_old_blob() {
    let data = tempfile::tempdir().unwrap();
    let Some((ingest, first, second)) =
        original_then_variant(data.path(), ConflictPolicy::Replace).await
    else {
        return;
    };
    assert_eq!(second.outcome, Outcome::Replaced);
    assert_ne!(second.key, first.key);
    assert_eq!(
        stored_key(&ingest, &first.sop_instance_uid).await,
        second.key
    );
    let blobs = ingest.archive().blobs.list().await.unwrap();
    assert_eq!(blobs.len(), 1, "the replaced blob is gone");
    assert_eq!(blobs[0].as_str(), second.key);
    assert_eq!(
        study_description(&ingest, &first.sop_instance_uid)
            .await
            .as_deref(),
        Some("corrected at the modality")
    );
    assert_eq!(
        ingest.archive().catalogue.count_instances().await.unwrap(),
        1
    );
}

#[tokio::test]
async fn replacement_is_announced() {
    let scratch = tempfile::tempdir().unwrap();
    let Some((original, variant)) = original_and_variant(scratch.path()) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let ingest = open(data.path(), ConflictPolicy::Replace).await;
    let mut events = ingest.subscribe();
    ingest.import_file(&original).await.unwrap();
    ingest.import_file(&variant).await.unwrap();
    assert_eq!(events.try_recv().unwrap().outcome, Outcome::Stored);
    assert_eq!(events.try_recv().unwrap().outcome, Outcome::Replaced);
}

#[tokio::test]
async fn reject_refuses_the_new_object() {
    let data = tempfile::tempdir().unwrap();
    let Some((ingest, first, second)) =
        original_then_variant(data.path(), ConflictPolicy::Reject).await
    else {
        return;
    };
    assert_eq!(second.outcome, Outcome::RejectedConflict);
    assert_eq!(
        stored_key(&ingest, &first.sop_instance_uid).await,
        first.key
    );
    assert_eq!(ingest.archive().blobs.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_imports_of_one_file_store_it_once() {
    for flush in [Flush::Filesystem, Flush::PerFile] {
        concurrent_imports_store_once(flush).await;
    }
}

async fn concurrent_imports_store_once(flush: Flush) {
    let scratch = tempfile::tempdir().unwrap();
    let Some((original, _)) = original_and_variant(scratch.path()) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let (archive, _) = Archive::open_with(data.path(), ConflictPolicy::KeepFirst, flush)
        .await
        .unwrap();
    assert_eq!(archive.blobs.flush(), flush);
    let ingest = Ingest::start(archive, &IngestConfig::default());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let ingest = ingest.clone();
            let path = original.clone();
            tokio::spawn(async move { ingest.import_file(&path).await.unwrap().outcome })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Stored).count(),
        1
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::Duplicate)
            .count(),
        15
    );
    assert_eq!(ingest.archive().blobs.list().await.unwrap().len(), 1);
    assert!(
        std::fs::read_dir(data.path().join("staging"))
            .unwrap()
            .next()
            .is_none(),
        "staging is empty"
    );
}

#[tokio::test]
async fn invalid_files_are_refused_with_their_reason_and_leave_nothing() {
    let Some(truncated) = mira_testdata::file("dicom/pydicom/MR_truncated.dcm") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let ingest = open(data.path(), ConflictPolicy::KeepFirst).await;
    let err = ingest.import_file(&truncated).await.unwrap_err();
    assert!(matches!(err, IngestError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("(7FE0,0010)"), "{err}");
    assert!(!err.is_server_side());
    assert_eq!(
        ingest.archive().catalogue.count_instances().await.unwrap(),
        0
    );
    assert!(ingest.archive().blobs.list().await.unwrap().is_empty());
    assert!(
        std::fs::read_dir(data.path().join("staging"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn open_removes_what_a_crash_left_behind() {
    let scratch = tempfile::tempdir().unwrap();
    let Some((original, variant)) = original_and_variant(scratch.path()) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let kept_key = {
        let ingest = open(data.path(), ConflictPolicy::KeepFirst).await;
        let receipt = ingest.import_file(&original).await.unwrap();
        ingest.archive().catalogue.close().await;
        receipt.key
    };
    // a crash between rename and commit leaves a blob no row references; one during a
    // transfer leaves a staging file
    let orphan_key = "ab".repeat(32);
    let orphan = data
        .path()
        .join("blobs/ab")
        .join(format!("{orphan_key}.dcm"));
    std::fs::copy(&variant, &orphan).unwrap();
    std::fs::write(
        data.path().join("staging/interrupted.part"),
        b"half an instance",
    )
    .unwrap();

    let (archive, recovery) = Archive::open(data.path(), ConflictPolicy::KeepFirst)
        .await
        .unwrap();
    assert_eq!(recovery.orphans_removed, 1);
    assert!(recovery.missing_blobs.is_empty());
    assert!(!orphan.exists());
    assert!(
        std::fs::read_dir(data.path().join("staging"))
            .unwrap()
            .next()
            .is_none()
    );
    let keys: Vec<String> = archive
        .blobs
        .list()
        .await
        .unwrap()
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(keys, [kept_key]);
}
