//! Issue 8's proof for the audit log: an edited byte, a deleted record and a swapped pair are
//! each detected and located; the ATNA export is well-formed and complete.

use mira_audit::atna::{audit_message_xml, syslog_line};
use mira_audit::{
    Actor, AuditAction, AuditEvent, AuditLog, AuditObject, ChainFault, Outcome, PatientPseudonym,
};
use mira_store::Catalogue;

async fn log_with(records: u64) -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = Catalogue::open(&dir.path().join("catalogue.sqlite"))
        .await
        .unwrap();
    let log = AuditLog::new(catalogue.pool().clone());
    for n in 1..=records {
        log.record(event(n)).await.unwrap();
    }
    (dir, log)
}

fn event(n: u64) -> AuditEvent {
    AuditEvent {
        actor: if n.is_multiple_of(2) {
            Actor::User("dr.lee".into())
        } else {
            Actor::AeTitle("CT_SCANNER_1".into())
        },
        site: "central-hospital".into(),
        action: AuditAction::View,
        object: AuditObject::Study(format!("1.2.840.99.{n}")),
        outcome: Outcome::Success,
        source_address: "10.1.2.3".into(),
        detail: format!("event {n}"),
    }
}

async fn execute(log: &AuditLog, dir: &tempfile::TempDir, sql: &str) {
    // a second connection, as an intruder with the database file would have
    let catalogue = Catalogue::open(&dir.path().join("catalogue.sqlite"))
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(catalogue.pool())
        .await
        .unwrap();
    let _ = log;
}

#[tokio::test]
async fn an_untouched_chain_verifies() {
    let (_dir, log) = log_with(20).await;
    let report = log.verify().await.unwrap();
    assert_eq!(report.records, 20);
    assert_eq!(report.fault, None);
    assert_eq!(report.head_hash.len(), 64);
}

#[tokio::test]
async fn a_modified_byte_is_detected_and_located() {
    let (dir, log) = log_with(10).await;
    // one byte of one record: "event 4" → "event 5"
    execute(
        &log,
        &dir,
        "UPDATE audit_log SET detail = 'event 5' WHERE seq = 4",
    )
    .await;
    let report = log.verify().await.unwrap();
    assert_eq!(
        report.fault,
        Some(ChainFault::Modified {
            seq: 4,
            position: 4
        })
    );
    assert!(report.fault.unwrap().to_string().contains("record 4"));
}

#[tokio::test]
async fn a_modified_and_rehashed_record_breaks_the_next_link() {
    let (dir, log) = log_with(10).await;
    let mut records = log.records(None, None).await.unwrap();
    let forged = &mut records[5];
    forged.event.detail = "nothing happened".into();
    forged.hash = mira_audit::chain::record_hash(forged);
    execute(
        &log,
        &dir,
        &format!(
            "UPDATE audit_log SET detail = 'nothing happened', hash = '{}' WHERE seq = 6",
            forged.hash
        ),
    )
    .await;
    let fault = log.verify().await.unwrap().fault;
    assert_eq!(
        fault,
        Some(ChainFault::BrokenLink {
            seq: 7,
            position: 7
        })
    );
}

#[tokio::test]
async fn a_deleted_record_is_detected_and_located() {
    let (dir, log) = log_with(10).await;
    execute(&log, &dir, "DELETE FROM audit_log WHERE seq = 5").await;
    let report = log.verify().await.unwrap();
    assert_eq!(report.records, 9);
    assert_eq!(
        report.fault,
        Some(ChainFault::Missing {
            missing: 5,
            position: 5,
            found: 6
        })
    );
}

#[tokio::test]
async fn a_swapped_pair_is_detected_and_located() {
    let (dir, log) = log_with(10).await;
    // exchange the contents of the rows in places 3 and 4
    let columns = "seq, recorded_at, actor_kind, actor, site, action, object_kind, object_id, \
                   outcome, source_address, detail, prev_hash, hash";
    execute(
        &log,
        &dir,
        &format!(
            "CREATE TEMP TABLE t AS SELECT id, {columns} FROM audit_log WHERE id IN (3, 4);
             UPDATE audit_log SET ({columns}) = (SELECT {columns} FROM t WHERE t.id = 7 - audit_log.id)
             WHERE id IN (3, 4);"
        ),
    )
    .await;
    let report = log.verify().await.unwrap();
    assert_eq!(
        report.fault,
        Some(ChainFault::OutOfOrder {
            position: 3,
            expected: 3,
            found: 4
        })
    );
}

#[tokio::test]
async fn a_value_no_version_writes_counts_as_modified() {
    let (dir, log) = log_with(5).await;
    execute(
        &log,
        &dir,
        "UPDATE audit_log SET action = 'nap' WHERE seq = 2",
    )
    .await;
    assert_eq!(
        log.verify().await.unwrap().fault,
        Some(ChainFault::Modified {
            seq: 2,
            position: 2
        })
    );
}

#[tokio::test]
async fn concurrent_writers_keep_one_linear_chain() {
    let (_dir, log) = log_with(0).await;
    let mut tasks = Vec::new();
    for n in 1..=40 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move { log.record(event(n)).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let report = log.verify().await.unwrap();
    assert_eq!((report.records, report.fault), (40, None));
}

#[tokio::test]
async fn records_can_be_selected_by_time() {
    let (_dir, log) = log_with(0).await;
    for (n, at) in [
        "2026-11-20T10:00:00.000000Z",
        "2026-11-21T10:00:00.000000Z",
        "2026-11-22T10:00:00.000000Z",
    ]
    .iter()
    .enumerate()
    {
        log.record_at(event(n as u64), at.to_string())
            .await
            .unwrap();
    }
    let day = log
        .records(Some("2026-11-21"), Some("2026-11-22"))
        .await
        .unwrap();
    assert_eq!(day.len(), 1);
    assert_eq!(day[0].seq, 2);
}

#[tokio::test]
async fn the_atna_export_is_well_formed_and_complete() {
    let (_dir, log) = log_with(0).await;
    let patient = PatientPseudonym::new(b"audit key", "PAT-0001", "");
    assert!(!patient.as_str().contains("PAT-0001"));
    let events = [
        (
            AuditAction::Query,
            AuditObject::Query("1.2.840.10008.5.1.4.1.2.2.1".into()),
            "110112",
        ),
        (
            AuditAction::PatientRecord,
            AuditObject::Patient(patient),
            "110110",
        ),
        (
            AuditAction::View,
            AuditObject::Study("1.2.3".into()),
            "110103",
        ),
        (
            AuditAction::Export,
            AuditObject::Dataset("release-7".into()),
            "110106",
        ),
        (
            AuditAction::FailedLogin,
            AuditObject::User("mallory".into()),
            "110114",
        ),
    ];
    for (action, object, event_id) in events {
        let record = log
            .record(AuditEvent {
                actor: Actor::User("dr.<lee> & co".into()),
                site: "central-hospital".into(),
                action,
                object,
                outcome: if action == AuditAction::FailedLogin {
                    Outcome::Failure
                } else {
                    Outcome::Success
                },
                source_address: "10.1.2.3".into(),
                detail: "quotes \" and ' and \u{1} control".into(),
            })
            .await
            .unwrap();
        let xml = audit_message_xml(&record, "mira@node-1");
        let document = roxmltree::Document::parse(&xml)
            .unwrap_or_else(|e| panic!("{action:?}: not well-formed: {e}\n{xml}"));
        let root = document.root_element();
        assert_eq!(root.tag_name().name(), "AuditMessage");
        let child = |name: &'static str| root.children().filter(move |n| n.has_tag_name(name));
        let identification = child("EventIdentification")
            .next()
            .expect("EventIdentification");
        for attribute in ["EventActionCode", "EventDateTime", "EventOutcomeIndicator"] {
            assert!(identification.has_attribute(attribute), "{attribute}");
        }
        let event_code = identification
            .children()
            .find(|n| n.has_tag_name("EventID"))
            .expect("EventID");
        assert_eq!(event_code.attribute("csd-code"), Some(event_id));
        assert_eq!(event_code.attribute("codeSystemName"), Some("DCM"));
        let participants: Vec<_> = child("ActiveParticipant").collect();
        assert_eq!(participants.len(), 2);
        assert_eq!(participants[0].attribute("UserID"), Some("dr.<lee> & co"));
        assert_eq!(participants[0].attribute("UserIsRequestor"), Some("true"));
        assert_eq!(
            participants[0].attribute("NetworkAccessPointID"),
            Some("10.1.2.3")
        );
        let source = child("AuditSourceIdentification").next().expect("source");
        assert_eq!(source.attribute("AuditSourceID"), Some("mira@node-1"));
        let object = child("ParticipantObjectIdentification")
            .next()
            .expect("object");
        assert!(object.has_attribute("ParticipantObjectTypeCode"));
        assert!(
            object
                .children()
                .any(|n| n.has_tag_name("ParticipantObjectIDTypeCode"))
        );
        if action == AuditAction::FailedLogin {
            assert_eq!(identification.attribute("EventOutcomeIndicator"), Some("4"));
        }

        let line = syslog_line(&record, "node-1", "mira@node-1");
        let header = format!(
            "<8{}>1 {} node-1 mira - IHE+RFC-3881 [mira-audit@32473 seq=\"{}\"",
            if action == AuditAction::FailedLogin {
                4
            } else {
                5
            },
            record.recorded_at,
            record.seq
        );
        assert!(line.starts_with(&header), "{line}");
        assert!(line.contains("] \u{FEFF}<?xml"));
        assert!(!line.contains('\n'));
    }
    assert_eq!(log.verify().await.unwrap().fault, None);
}
