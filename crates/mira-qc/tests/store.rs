//! QC results in the catalogue database: idempotent storage, indicators by site, device and
//! operator, and the server worker fed by the ingest pipeline.

use std::time::Duration;

use mira_qc::store::{GroupBy, Provenance, QcStore};
use mira_qc::{Check, Level, Report, Rule, Severity, Status};

fn rule(id: &str, severity: Severity) -> Rule {
    Rule {
        id: id.into(),
        description: String::new(),
        severity,
        modalities: vec![],
        protocol: None,
        thresholds: Default::default(),
        action: "act".into(),
        source: "src".into(),
        enabled: true,
    }
}

fn report(level: Level, subject: &str, checks: &[(&str, bool)]) -> Report {
    let mut r = Report::new(level, subject);
    for (id, ok) in checks {
        r.checks
            .push(Check::new(&rule(id, Severity::Fail), *ok, None, None, "m"));
    }
    r
}

fn provenance(study: &str, site: &str, view: Option<&str>, day: &str) -> Provenance {
    Provenance {
        study_instance_uid: study.into(),
        series_instance_uid: Some(format!("{study}.1")),
        modality: Some("CR".into()),
        site: Some(site.into()),
        device: Some("ACME / X1 / ROOM1".into()),
        operator: None,
        view_key: view.map(str::to_string),
        performed_on: Some(day.into()),
    }
}

async fn store() -> (tempfile::TempDir, QcStore) {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = mira_store::Catalogue::open(&dir.path().join("catalogue.sqlite"))
        .await
        .unwrap();
    (dir, QcStore::new(catalogue.pool().clone()))
}

#[tokio::test]
async fn rerunning_qc_replaces_an_instances_results() {
    let (_dir, store) = store().await;
    let p = provenance("1.2.3", "Clinic A", Some("CR|CHEST|PA|"), "2026-11-20");
    store
        .save(
            &report(Level::Instance, "1.2.3.4", &[("a", false), ("b", true)]),
            &p,
        )
        .await
        .unwrap();
    store
        .save(&report(Level::Instance, "1.2.3.4", &[("a", true)]), &p)
        .await
        .unwrap();
    let results = store.study_results("1.2.3").await.unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].outcome, "pass");
    assert_eq!(results[0].checks.len(), 1);
    assert_eq!(results[0].checks[0].rule, "a");
    assert!(store.study_results("9.9").await.unwrap().is_empty());
}

#[tokio::test]
async fn indicators_by_site_for_a_period() {
    let (_dir, store) = store().await;
    let chest = Some("CR|CHEST|PA|");
    // Clinic A: study 1 clean; study 2 has a failing finding and a repeated PA
    store
        .save(
            &report(Level::Instance, "1.1", &[("header.pixel-spacing", true)]),
            &provenance("1", "Clinic A", chest, "2026-11-02"),
        )
        .await
        .unwrap();
    for uid in ["2.1", "2.2"] {
        store
            .save(
                &report(
                    Level::Instance,
                    uid,
                    &[("header.pixel-spacing", uid == "2.2")],
                ),
                &provenance("2", "Clinic A", chest, "2026-11-03"),
            )
            .await
            .unwrap();
    }
    // Clinic B: an LDCT series over the dose limit, one within
    for (study, ok) in [("3", false), ("4", true)] {
        let mut p = provenance(study, "Clinic B", None, "2026-11-04");
        p.modality = Some("CT".into());
        store
            .save(
                &report(
                    Level::Series,
                    &format!("{study}.1"),
                    &[("ct.ldct.ctdivol", ok)],
                ),
                &p,
            )
            .await
            .unwrap();
    }
    // outside the period
    store
        .save(
            &report(Level::Instance, "5.1", &[("header.pixel-spacing", false)]),
            &provenance("5", "Clinic A", chest, "2026-12-01"),
        )
        .await
        .unwrap();

    let ind = store
        .indicators("2026-11-01", "2026-11-30", GroupBy::Site)
        .await
        .unwrap();
    assert_eq!(ind.groups.len(), 2);
    let a = &ind.groups[0];
    assert_eq!(a.group, "Clinic A");
    assert_eq!((a.studies, a.first_class_studies), (2, 1));
    assert_eq!(a.first_class_rate, Some(0.5));
    assert_eq!((a.view_images, a.repeats), (3, 1));
    assert_eq!(a.repeat_rate, Some(0.3333));
    assert_eq!(a.rules.len(), 1);
    assert_eq!((a.rules[0].evaluated, a.rules[0].passed), (3, 2));
    assert_eq!(a.ldct_dose_compliance, None);
    let b = &ind.groups[1];
    assert_eq!(b.group, "Clinic B");
    assert_eq!((b.ldct_series, b.ldct_compliant), (2, 1));
    assert_eq!(b.ldct_dose_compliance, Some(0.5));
    assert_eq!(b.first_class_rate, Some(0.5));

    let by_device = store
        .indicators("2026-11-01", "2026-12-31", GroupBy::Device)
        .await
        .unwrap();
    assert_eq!(by_device.groups.len(), 1);
    assert_eq!(by_device.groups[0].studies, 5);
    let by_operator = store
        .indicators("2026-11-01", "2026-12-31", GroupBy::Operator)
        .await
        .unwrap();
    assert_eq!(by_operator.groups[0].group, "(unknown)");

    let err = store
        .indicators("2026-11-31", "2026-12-01", GroupBy::Site)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid date '2026-11-31': expected YYYY-MM-DD"
    );
}

#[tokio::test]
async fn the_worker_checks_stored_instances_and_settled_studies() {
    let Some(path) = mira_testdata::file("cxr/wg04_rg1_cr_chest_uncompressed.dcm") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = mira_store::Archive::open(dir.path(), mira_store::ConflictPolicy::KeepFirst)
        .await
        .unwrap();
    let ingest = mira_ingest::Ingest::start(archive, &mira_ingest::IngestConfig::default());
    // another site's overrides must not apply to this one (Philips Medical Systems Hamburg),
    // whose own turn the pixel spacing rule into a warning
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        "[rules.\"header.pixel-spacing\"]\nenabled = false\n",
    )
    .unwrap();
    let own = dir.path().join("own.toml");
    std::fs::write(
        &own,
        "[rules.\"header.pixel-spacing\"]\nseverity = \"warning\"\n",
    )
    .unwrap();
    let settings = mira_qc::worker::QcSettings {
        settle_secs: 0,
        sites: [
            ("Clinic B".to_string(), other),
            ("Philips Medical Systems Hamburg".to_string(), own),
        ]
        .into(),
        ..Default::default()
    };
    let mut config = settings.worker_config().unwrap();
    config.settle = Duration::from_millis(300);
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let worker = mira_qc::worker::spawn(&ingest, config, shutdown);
    let receipt = ingest.import_file(&path).await.unwrap();
    let store = QcStore::new(ingest.archive().catalogue.pool().clone());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let results = loop {
        let results = store
            .study_results(&receipt.study_instance_uid)
            .await
            .unwrap();
        if results.iter().any(|r| r.level == "study") || std::time::Instant::now() > deadline {
            break results;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let levels: Vec<&str> = results.iter().map(|r| r.level.as_str()).collect();
    assert_eq!(levels, ["study", "series", "instance"], "{results:#?}");
    let instance = &results[2];
    assert_eq!(instance.subject, receipt.sop_instance_uid);
    assert_eq!(instance.outcome, Status::Warning.as_str());
    let spacing = instance
        .checks
        .iter()
        .find(|c| c.rule == "header.pixel-spacing")
        .unwrap();
    assert_eq!(spacing.status, "warning");
    assert_eq!(results[0].outcome, "pass", "{:#?}", results[0]);
    worker.abort();
}

#[tokio::test]
async fn the_worker_catches_up_on_instances_stored_while_it_was_not_running() {
    let Some(path) = mira_testdata::file("cxr/siim_cr_chest_jpeg_baseline.dcm") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = mira_store::Archive::open(dir.path(), mira_store::ConflictPolicy::KeepFirst)
        .await
        .unwrap();
    let ingest = mira_ingest::Ingest::start(archive, &mira_ingest::IngestConfig::default());
    // stored before QC runs (a restart, a crash between commit and check)
    let receipt = ingest.import_file(&path).await.unwrap();
    let store = QcStore::new(ingest.archive().catalogue.pool().clone());
    assert!(
        store
            .study_results(&receipt.study_instance_uid)
            .await
            .unwrap()
            .is_empty()
    );
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let worker = mira_qc::worker::spawn(
        &ingest,
        mira_qc::worker::WorkerConfig {
            settle: Duration::from_millis(200),
            ..Default::default()
        },
        shutdown,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let results = loop {
        let results = store
            .study_results(&receipt.study_instance_uid)
            .await
            .unwrap();
        if results.len() == 3 || std::time::Instant::now() > deadline {
            break results;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let levels: Vec<&str> = results.iter().map(|r| r.level.as_str()).collect();
    assert_eq!(levels, ["study", "series", "instance"]);
    let polarity = results[2]
        .checks
        .iter()
        .find(|c| c.rule == "cxr.polarity")
        .unwrap();
    assert_eq!(polarity.status, "pass");
    worker.abort();
}
