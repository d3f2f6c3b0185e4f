//! The job queue and the worker on a real archive: idempotent routing, leases, retries with
//! backoff, final refusals, and derived objects stored once even when a job runs twice.
//!
//! The analyzer here is a small real one written for the test (it counts a series' instances
//! and derives a copy of the first instance under the job's derived UID), because what is
//! under test is the queue, not an algorithm; the lung and fundus analyzers have their own
//! end-to-end tests in the `mira` binary's suite.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use mira_analysis::{
    AnalysisInput, AnalysisOutput, AnalysisSettings, Analyzer, AnalyzerError, Flag, JobQueue,
    JobState, Subject, SubjectLevel,
};
use mira_ingest::{Ingest, IngestConfig};
use mira_store::{Archive, ConflictPolicy};

async fn archive_with_ct() -> Option<(tempfile::TempDir, Ingest, String)> {
    let file = mira_testdata::file("dicom/pydicom/CT_small.dcm")?;
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = Archive::open(dir.path(), ConflictPolicy::KeepFirst)
        .await
        .unwrap();
    let ingest = Ingest::start(archive, &IngestConfig::default());
    let receipt = ingest.import_file(&file).await.unwrap();
    Some((dir, ingest, receipt.study_instance_uid))
}

fn subject(ingest_study: &mira_analysis::StudyView) -> Subject {
    let series = &ingest_study.series[0];
    Subject {
        level: SubjectLevel::Series,
        uid: series.series_instance_uid.clone(),
        instances: series
            .instances
            .iter()
            .map(|i| (i.sop_instance_uid.clone(), i.blob_key.clone()))
            .collect(),
    }
}

#[tokio::test]
async fn enqueue_is_idempotent_and_leases_expire() {
    let Some((_dir, ingest, study)) = archive_with_ct().await else {
        return;
    };
    let pool = ingest.archive().catalogue.pool().clone();
    let view = mira_analysis::load_study(&pool, &study).await.unwrap();
    assert_eq!(view.series.len(), 1);
    let subject = subject(&view);
    let queue = JobQueue::new(pool);
    assert!(queue.enqueue("count", &study, &subject).await.unwrap());
    assert!(!queue.enqueue("count", &study, &subject).await.unwrap());

    // a claim with a lease that has already run out: another worker takes the job over
    let first = queue
        .claim("worker-a", 0)
        .await
        .unwrap()
        .expect("a due job");
    assert_eq!(first.attempts, 1);
    assert_eq!(first.inputs.len(), 1);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = queue
        .claim("worker-b", 600)
        .await
        .unwrap()
        .expect("expired lease");
    assert_eq!(second.id, first.id);
    assert_eq!(second.attempts, 2);
    assert!(queue.claim("worker-c", 600).await.unwrap().is_none());

    let result = serde_json::json!({"instances": 1});
    // the first worker lost its claim: its result is dropped
    assert!(
        !queue
            .complete(&first, "worker-a", "1", &result, &[], &[])
            .await
            .unwrap()
    );
    assert!(
        queue
            .complete(&second, "worker-b", "1", &result, &[], &[])
            .await
            .unwrap()
    );
    let rows = queue.for_study(&study).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, JobState::Done);
    assert_eq!(rows[0].claimed_by.as_deref(), Some("worker-b"));
    assert_eq!(rows[0].result, Some(result));
}

#[tokio::test]
async fn failures_back_off_then_give_up_and_refusals_are_final() {
    let Some((_dir, ingest, study)) = archive_with_ct().await else {
        return;
    };
    let pool = ingest.archive().catalogue.pool().clone();
    let view = mira_analysis::load_study(&pool, &study).await.unwrap();
    let queue = JobQueue::new(pool);
    queue
        .enqueue("flaky", &study, &subject(&view))
        .await
        .unwrap();

    let job = queue.claim("w", 600).await.unwrap().unwrap();
    let state = queue
        .fail(&job, "w", "disk busy", true, 2, 3600)
        .await
        .unwrap();
    assert_eq!(state, JobState::Queued);
    // backing off: not due for an hour
    assert!(queue.claim("w", 600).await.unwrap().is_none());
    let row = &queue.for_study(&study).await.unwrap()[0];
    assert_eq!(row.error.as_deref(), Some("disk busy"));
    assert!(row.not_before > row.created_at);

    // with no delay the retry is due at once; the second failure is the last allowed
    let job = {
        let state = queue.fail(&job, "other", "x", true, 2, 0).await.unwrap();
        assert_eq!(
            state,
            JobState::Queued,
            "a stranger's failure changes nothing"
        );
        sqlx::query("UPDATE analysis_jobs SET not_before = '2000-01-01T00:00:00.000Z'")
            .execute(ingest.archive().catalogue.pool())
            .await
            .unwrap();
        queue.claim("w", 600).await.unwrap().unwrap()
    };
    assert_eq!(job.attempts, 2);
    let state = queue
        .fail(&job, "w", "disk busy", true, 2, 0)
        .await
        .unwrap();
    assert_eq!(state, JobState::Failed);
    assert!(queue.claim("w", 600).await.unwrap().is_none());

    // a refusal (bad input) is final on the first attempt
    let mut other = subject(&view);
    other.uid = "1.2.3.4".into();
    queue.enqueue("strict", &study, &other).await.unwrap();
    let job = queue.claim("w", 600).await.unwrap().unwrap();
    let state = queue
        .fail(&job, "w", "cannot analyse: gantry tilt", false, 5, 0)
        .await
        .unwrap();
    assert_eq!(state, JobState::Failed);
    let counts = queue.counts().await.unwrap();
    assert_eq!((counts.failed, counts.queued, counts.running), (2, 0, 0));
}

/// Counts a CT series' instances and derives a copy of its first instance (new SOP Instance
/// UID and series) as the "derived object"; refuses series of other modalities.
struct CountingAnalyzer {
    runs: AtomicUsize,
}

impl Analyzer for CountingAnalyzer {
    fn name(&self) -> &str {
        "count-ct"
    }

    fn version(&self) -> String {
        "1.0".into()
    }

    fn route(&self, study: &mira_analysis::StudyView) -> Vec<Subject> {
        study
            .series
            .iter()
            .filter(|s| s.modality.as_deref() == Some("CT"))
            // what an analyzer derived is not analysed again
            .filter(|s| {
                !s.instances
                    .iter()
                    .all(|i| i.received_from.starts_with("analysis:"))
            })
            .map(|s| Subject {
                level: SubjectLevel::Series,
                uid: s.series_instance_uid.clone(),
                instances: s
                    .instances
                    .iter()
                    .map(|i| (i.sop_instance_uid.clone(), i.blob_key.clone()))
                    .collect(),
            })
            .collect()
    }

    fn run(&self, input: &AnalysisInput) -> Result<AnalysisOutput, AnalyzerError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let first = input
            .files
            .first()
            .ok_or_else(|| AnalyzerError::Refused("no instances".into()))?;
        let mut object = dicom_object::open_file(&first.path)
            .map_err(|e| AnalyzerError::Failed(e.to_string()))?;
        let sop = input.derived_uid(0);
        object.put(DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(sop.as_str()),
        ));
        object.put(DataElement::new(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(input.derived_uid(1).as_str()),
        ));
        object.meta_mut().media_storage_sop_instance_uid = sop.clone();
        object.meta_mut().update_information_group_length();
        let mut bytes = Vec::new();
        object
            .write_all(&mut bytes)
            .map_err(|e| AnalyzerError::Failed(e.to_string()))?;
        Ok(AnalysisOutput {
            result: serde_json::json!({ "instances": input.files.len() }),
            flags: vec![Flag {
                code: "counted".into(),
                label: "Counted".into(),
                urgent: false,
            }],
            derived: vec![bytes],
        })
    }
}

#[tokio::test]
async fn worker_routes_settled_studies_runs_jobs_and_stores_derived_objects_once() {
    let Some((_dir, ingest, study)) = archive_with_ct().await else {
        return;
    };
    let pool = ingest.archive().catalogue.pool().clone();
    // the study has settled: QC stored its study result
    let qc = mira_qc::store::QcStore::new(pool.clone());
    mira_qc::worker::study_qc(
        ingest.archive(),
        &qc,
        &mira_qc::worker::WorkerConfig::default(),
        &study,
    )
    .await;

    let analyzer = Arc::new(CountingAnalyzer {
        runs: AtomicUsize::new(0),
    });
    let settings = AnalysisSettings {
        poll_millis: 20,
        ..Default::default()
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = mira_analysis::spawn(ingest.clone(), vec![analyzer.clone()], settings, stopped);
    let queue = JobQueue::new(pool.clone());
    let done = wait_for(|| async {
        let rows = queue.for_study(&study).await.unwrap();
        rows.iter()
            .any(|r| r.state == JobState::Done)
            .then_some(rows)
    })
    .await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].result, Some(serde_json::json!({"instances": 1})));
    assert_eq!(done[0].flags[0].code, "counted");
    assert_eq!(done[0].analyzer_version.as_deref(), Some("1.0"));
    let derived = done[0].derived[0].clone();
    assert!(derived.starts_with("2.25."));
    let stored: String =
        sqlx::query_scalar("SELECT received_from FROM instances WHERE sop_instance_uid = $1")
            .bind(&derived)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored, "analysis:count-ct");

    // the study settles again (the derived instance arrived): routing it again makes no new
    // job, since the CT series is unchanged and the derived series is not for analysis
    mira_qc::worker::study_qc(
        ingest.archive(),
        &qc,
        &mira_qc::worker::WorkerConfig::default(),
        &study,
    )
    .await;
    wait_for(|| async {
        let routed: String = sqlx::query_scalar(
            "SELECT r.routed_at FROM analysis_routing r JOIN qc_results q
             ON q.level = 'study' AND q.subject_uid = r.study_instance_uid
             WHERE r.routed_at = q.checked_at",
        )
        .fetch_optional(&pool)
        .await
        .unwrap()?;
        Some(routed)
    })
    .await;
    let rows = queue.for_study(&study).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(analyzer.runs.load(Ordering::SeqCst), 1);

    // running the first job again (as after an expired lease) stores nothing new
    let instances_before = ingest.archive().catalogue.count_instances().await.unwrap();
    sqlx::query("UPDATE analysis_jobs SET state = 'queued' WHERE id = $1")
        .bind(done[0].id)
        .execute(&pool)
        .await
        .unwrap();
    wait_for(|| async {
        (analyzer.runs.load(Ordering::SeqCst) == 2 && queue.counts().await.unwrap().done == 1)
            .then_some(())
    })
    .await;
    assert_eq!(
        ingest.archive().catalogue.count_instances().await.unwrap(),
        instances_before
    );
    stop.send(true).unwrap();
    worker.await.unwrap();
}

async fn wait_for<T, F, Fut>(mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..500 {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for the analysis worker");
}
