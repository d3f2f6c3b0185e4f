//! `mira audit verify` and `mira audit export` on a data directory's audit log.

mod common;

use std::process::{Command, Output};

use mira_audit::{Actor, AuditAction, AuditEvent, AuditLog, AuditObject, Outcome};
use mira_store::Catalogue;
use serde_json::Value;

fn mira(data_dir: &std::path::Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mira"));
    if let Some(url) = common::database_url(data_dir) {
        command.env("MIRA__DATABASE__URL", url);
    }
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("MIRA_LOG", "warn")
        .output()
        .expect("run mira")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn archive_with_log(records: u64) -> (tempfile::TempDir, Catalogue) {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = common::open_catalogue(dir.path()).await;
    let log = AuditLog::new(catalogue.pool().clone());
    for n in 1..=records {
        log.record(AuditEvent {
            actor: Actor::User("dr.lee".into()),
            site: "central-hospital".into(),
            action: if n.is_multiple_of(3) {
                AuditAction::Query
            } else {
                AuditAction::View
            },
            object: AuditObject::Study(format!("1.2.840.99.{n}")),
            outcome: Outcome::Success,
            source_address: "10.1.2.3".into(),
            detail: format!("event {n}"),
        })
        .await
        .unwrap();
    }
    (dir, catalogue)
}

#[tokio::test]
async fn verify_says_intact_then_names_the_edited_record() {
    let (dir, catalogue) = archive_with_log(6).await;
    let run = mira(dir.path(), &["audit", "verify"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(text(&run.stdout).starts_with("6 records, chain intact"));

    sqlx::query("UPDATE audit_log SET object_id = '1.2.840.99.33' WHERE seq = 3")
        .execute(catalogue.pool())
        .await
        .unwrap();
    let run = mira(dir.path(), &["audit", "verify"]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        text(&run.stdout).contains("record 3 (position 3) was modified"),
        "{}",
        text(&run.stdout)
    );

    sqlx::query("DELETE FROM audit_log WHERE seq = 2")
        .execute(catalogue.pool())
        .await
        .unwrap();
    let run = mira(dir.path(), &["audit", "verify", "--format", "json"]);
    assert_eq!(run.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["fault"]["fault"], "missing");
    assert_eq!(report["fault"]["missing"], 2);
}

#[tokio::test]
async fn export_writes_syslog_lines_and_json_lines() {
    let (dir, _catalogue) = archive_with_log(4).await;
    let run = mira(
        dir.path(),
        &[
            "audit",
            "export",
            "--format",
            "syslog",
            "--hostname",
            "node-1",
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4);
    for line in &lines {
        assert!(line.starts_with("<85>1 "), "{line}");
        assert!(line.contains(" node-1 mira - IHE+RFC-3881 [mira-audit@32473 seq="));
        assert!(line.ends_with("</AuditMessage>"));
    }
    assert!(lines[2].contains(r#"<EventID csd-code="110112" codeSystemName="DCM""#));

    let run = mira(
        dir.path(),
        &[
            "audit",
            "export",
            "--format",
            "json",
            "--from",
            "2000-01-01",
        ],
    );
    let stdout = text(&run.stdout);
    let records: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    assert_eq!(records[0]["seq"], 1);
    assert_eq!(records[1]["prev_hash"], records[0]["hash"]);
    let run = mira(
        dir.path(),
        &["audit", "export", "--format", "json", "--to", "2000-01-01"],
    );
    assert!(run.stdout.is_empty());
}
