//! Scale-out: three `mira serve` nodes on loopback share one PostgreSQL database (a private
//! cluster from Debian's binaries) and one S3-compatible object store (s3s-fs). Modalities
//! send six chest CTs (288 instances) over DIMSE spread over the three; one node is killed
//! with SIGKILL while it receives; its modality sends again to another node. Afterwards:
//! every acknowledged instance is stored once, its blob is in the object store, every
//! instance and study was checked by QC once in effect, every study was analysed once (one
//! job, done, one derived SR), and every node, the killed one restarted included, answers
//! queries alike.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use sqlx::Row;

const STUDIES: usize = 6;
const SLICES: usize = 48;

fn study_uid(n: usize) -> String {
    format!("2.25.7301{n}")
}

fn series_uid(n: usize) -> String {
    format!("2.25.7301{n}.1")
}

/// The environment of a node of the cluster.
fn node_env(database: &str, s3: &mira_testdata::s3::S3Server) -> Vec<(String, String)> {
    [
        ("MIRA__DATABASE__URL", database.to_string()),
        ("MIRA__DATABASE__MAX_CONNECTIONS", "8".into()),
        ("MIRA__BLOBS__BACKEND", "s3".into()),
        ("MIRA__BLOBS__S3__ENDPOINT", s3.endpoint()),
        ("MIRA__BLOBS__S3__BUCKET", "mira".into()),
        ("MIRA__BLOBS__S3__ACCESS_KEY_ID", s3.access_key().into()),
        ("MIRA__BLOBS__S3__SECRET_ACCESS_KEY", s3.secret_key().into()),
        ("MIRA__BLOBS__S3__ALLOW_HTTP", "true".into()),
        ("MIRA__QC__SETTLE_SECS", "3".into()),
        // a study or job claimed by the killed node is taken over after these
        ("MIRA__QC__STUDY_LEASE_SECS", "15".into()),
        ("MIRA__ANALYSIS__LEASE_SECS", "15".into()),
        ("MIRA__ANALYSIS__POLL_MILLIS", "200".into()),
        ("MIRA__ANALYSIS__ANALYZERS", "[\"lung-ct\"]".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn start_node(env: &[(String, String)], name: &str) -> Server {
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("MIRA__NODE__NAME", name));
    Server::start(&env)
}

/// storescu sending `dirs` to `node`, verbose (one response line per file), in the
/// background; its output goes to `log`.
fn send(node: &Server, dirs: &[PathBuf], log: &Path) -> Option<Child> {
    let mut args: Vec<String> = vec![
        "-v".into(),
        "-aet".into(),
        "STORESCU".into(),
        "+sd".into(),
        "127.0.0.1".into(),
        node.port_arg(),
    ];
    args.extend(dirs.iter().map(|d| d.to_string_lossy().into_owned()));
    let mut command = common::dcmtk_command("storescu", &args)?;
    let out = fs::File::create(log).unwrap();
    command
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    Some(command.spawn().expect("start storescu"))
}

/// The SOP Instance UIDs of the files storescu got a success response for.
fn acknowledged(log: &Path) -> Vec<String> {
    let text = fs::read_to_string(log).unwrap();
    common::storescu_responses(&text)
        .into_iter()
        .filter(|(_, response)| response.as_deref().is_some_and(|r| r.contains("Success")))
        .map(|(file, _)| sop_uid(Path::new(&file)))
        .collect()
}

fn sop_uid(path: &Path) -> String {
    common::open(path)
        .element(common::SOP_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches('\0')
        .trim()
        .to_string()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn three_nodes_share_one_database_and_object_store_and_survive_a_kill() {
    if common::testdata().is_none() {
        return;
    }
    let Some(database) = mira_testdata::postgres::test_database() else {
        return;
    };
    let Some(s3) = mira_testdata::s3::server() else {
        return;
    };
    s3.create_bucket("mira");
    let dir = tempfile::tempdir().unwrap();
    let mut study_dirs = Vec::new();
    for n in 0..STUDIES {
        let series_dir = dir.path().join(format!("study{n}"));
        let patient = format!("SCALE-{n}");
        let accession = format!("ACC{n}");
        let labels = [
            ("(0018,0015)", "CHEST"),
            ("(0008,103E)", "LDCT chest"),
            ("(0010,0010)", "SCALE^PHANTOM"),
            ("(0008,0020)", "20261203"),
            ("(0008,0050)", accession.as_str()),
        ];
        if common::chest_ct_phantom(
            &series_dir,
            &study_uid(n),
            &series_uid(n),
            &patient,
            &labels,
        )
        .is_none()
        {
            return;
        }
        study_dirs.push(series_dir);
    }
    let files: Vec<PathBuf> = study_dirs
        .iter()
        .flat_map(|d| common::list_files(d))
        .collect();
    assert_eq!(files.len(), STUDIES * SLICES);

    let env = node_env(&database.url, &s3);
    let mut nodes: Vec<Server> = ["node-a", "node-b", "node-c"]
        .iter()
        .map(|name| start_node(&env, name))
        .collect();

    // two studies to each node, all at once
    let logs: Vec<PathBuf> = (0..3)
        .map(|n| dir.path().join(format!("storescu{n}.log")))
        .collect();
    let mut senders: Vec<Child> = Vec::new();
    for n in 0..3 {
        let Some(child) = send(&nodes[n], &study_dirs[2 * n..2 * n + 2], &logs[n]) else {
            return;
        };
        senders.push(child);
    }
    // node C dies midway through its transfer
    wait_until(
        "node C to acknowledge a third of its instances",
        Duration::from_secs(120),
        || acknowledged(&logs[2]).len() >= SLICES * 2 / 3,
    );
    nodes[2].kill9();
    for child in &mut senders {
        common::wait_with_timeout(child, Duration::from_secs(300)).expect("storescu finished");
    }
    let acked_before_kill = acknowledged(&logs[2]);
    assert!(
        acked_before_kill.len() < SLICES * 2,
        "node C acknowledged everything before it died"
    );
    // its modality sends the studies again, to node A
    let retry_log = dir.path().join("storescu-retry.log");
    let mut retry = send(&nodes[0], &study_dirs[4..6], &retry_log).expect("storescu");
    let status =
        common::wait_with_timeout(&mut retry, Duration::from_secs(300)).expect("storescu finished");
    assert!(
        status.success(),
        "{}",
        fs::read_to_string(&retry_log).unwrap()
    );

    let mut acked: BTreeSet<String> = BTreeSet::new();
    for log in logs.iter().take(2).chain([&retry_log]) {
        acked.extend(acknowledged(log));
    }
    acked.extend(acked_before_kill.iter().cloned());
    let sent: BTreeSet<String> = files.iter().map(|f| sop_uid(f)).collect();
    assert_eq!(acked, sent, "every instance acknowledged by some node");

    // wait until every study is checked and analysed
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let catalogue = runtime
        .block_on(mira_store::Catalogue::connect(
            &database.url,
            Default::default(),
        ))
        .unwrap();
    let pool = catalogue.pool().clone();
    let scalar = |sql: &str| -> i64 {
        runtime
            .block_on(
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&pool),
            )
            .unwrap()
    };
    wait_until(
        "six lung analyses to finish",
        Duration::from_secs(600),
        || {
            scalar("SELECT count(*) FROM analysis_jobs WHERE state IN ('done', 'failed')")
                >= STUDIES as i64
        },
    );
    // the derived SRs settle their studies again; let QC catch up with them, and with what
    // the killed node stored and did not check
    wait_until(
        "every study checked in its last state",
        Duration::from_secs(120),
        || {
            scalar(
                "SELECT count(*) FROM studies WHERE qc_done_for IS NOT NULL AND qc_done_for >= updated_at",
            ) == STUDIES as i64
        },
    );
    wait_until("every instance checked", Duration::from_secs(120), || {
        scalar("SELECT count(*) FROM qc_results WHERE level = 'instance'")
            == scalar("SELECT count(*) FROM instances")
    });

    // every acknowledged instance once, with its blob in the object store
    let rows = runtime
        .block_on(
            sqlx::query(
                "SELECT sop_instance_uid, blob_key, size_bytes, received_from FROM instances",
            )
            .fetch_all(&pool),
        )
        .unwrap();
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    let mut derived = 0;
    for row in &rows {
        let uid: String = row.get(0);
        let key: String = row.get(1);
        let size: i64 = row.get(2);
        let from: String = row.get(3);
        *stored.entry(uid.clone()).or_default() += 1;
        let object = s3
            .root()
            .join("mira")
            .join(&key[..2])
            .join(format!("{key}.dcm"));
        let meta = fs::metadata(&object)
            .unwrap_or_else(|e| panic!("{uid}: no object {} in the store: {e}", object.display()));
        assert_eq!(meta.len() as i64, size, "{uid}: object size");
        if from.starts_with("analysis:") {
            derived += 1;
        }
    }
    assert!(stored.values().all(|&n| n == 1));
    for uid in &acked {
        assert!(stored.contains_key(uid), "acknowledged {uid} is not stored");
    }
    assert_eq!(rows.len(), acked.len() + derived);

    // QC: one instance result per instance, one study result per study, every CT series
    // checked for completeness
    assert_eq!(
        scalar("SELECT count(*) FROM qc_results WHERE level = 'instance'"),
        rows.len() as i64
    );
    assert_eq!(
        scalar("SELECT count(DISTINCT subject_uid) FROM qc_results WHERE level = 'instance'"),
        rows.len() as i64
    );
    assert_eq!(
        scalar("SELECT count(*) FROM qc_results WHERE level = 'study'"),
        STUDIES as i64
    );
    // analysis: one job per study, done, one derived SR each (a job retaken from the dead
    // node stores the same SR, not a second one)
    assert_eq!(
        scalar("SELECT count(*) FROM analysis_jobs"),
        STUDIES as i64,
        "one lung job per series"
    );
    assert_eq!(
        scalar("SELECT count(*) FROM analysis_jobs WHERE state = 'done'"),
        STUDIES as i64
    );
    assert_eq!(derived, STUDIES, "one derived SR per study");

    // the killed node comes back; every node answers queries alike
    nodes[2].restart();
    let answers: Vec<serde_json::Value> = nodes
        .iter()
        .map(|node| {
            let response = node.get("/dicom-web/studies?includefield=00201208", &[]);
            assert_eq!(response.status, 200);
            let mut studies = response.json().as_array().unwrap().clone();
            for study in &mut studies {
                // the Retrieve URL names the node that answered
                study.as_object_mut().unwrap().remove("00081190");
            }
            studies.sort_by_key(|s| s["0020000D"]["Value"][0].as_str().unwrap().to_string());
            serde_json::Value::Array(studies)
        })
        .collect();
    assert_eq!(answers[0].as_array().unwrap().len(), STUDIES);
    for study in answers[0].as_array().unwrap() {
        // 48 slices and the SR
        assert_eq!(study["00201208"]["Value"][0], SLICES as u64 + 1, "{study}");
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);
    runtime.block_on(catalogue.close());
}
