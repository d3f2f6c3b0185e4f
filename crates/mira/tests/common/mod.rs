//! Test harness shared by the integration tests that talk to a running `mira serve`:
//! starting and stopping the server on port 0, locating the test data and the peer tools
//! (dcmtk, pynetdicom), running them with a time limit, reading the catalogue and comparing
//! stored blobs with the files that were sent.
//!
//! Test data, dcmtk and pynetdicom are looked up at run time. When one is missing the test
//! prints `SKIP: ...` and returns, except under `CI=true`, where it fails instead.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether the tests run their servers and CLI calls on PostgreSQL
/// (`MIRA_TEST_BACKEND=postgres`, with `MIRA_TEST_POSTGRES_URL` naming the server on which each
/// data directory gets a database of its own) instead of the embedded SQLite file: the same
/// suite, on the other catalogue engine (scripts/test runs both).
pub fn on_postgres() -> bool {
    std::env::var("MIRA_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// The catalogue database of the archive in `data_dir`: `None` for the embedded SQLite file;
/// on PostgreSQL, the URL of the database made for this data directory (made on first use).
pub fn database_url(data_dir: &Path) -> Option<String> {
    use std::sync::Mutex;
    // the databases live as long as the test process; the shared server is dropped after
    // the suite, with them
    static DATABASES: Mutex<Vec<(PathBuf, mira_testdata::postgres::TestDatabase)>> =
        Mutex::new(Vec::new());
    if let Some(url) = given_database(data_dir, None) {
        return Some(url);
    }
    if !on_postgres() {
        return None;
    }
    assert!(
        std::env::var_os("MIRA_TEST_POSTGRES_URL").is_some(),
        "MIRA_TEST_BACKEND=postgres needs MIRA_TEST_POSTGRES_URL (a server; scripts/test starts one)"
    );
    let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, db)) = databases.iter().find(|(dir, _)| dir == data_dir) {
        return Some(db.url.clone());
    }
    let db = mira_testdata::postgres::test_database().expect("a PostgreSQL database");
    let url = db.url.clone();
    databases.push((data_dir.to_path_buf(), db));
    Some(url)
}

/// The database a test gave a data directory (several nodes sharing one); `set` records one.
fn given_database(data_dir: &Path, set: Option<&str>) -> Option<String> {
    use std::sync::Mutex;
    static GIVEN: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(url) = set {
        given.retain(|(dir, _)| dir != data_dir);
        given.push((data_dir.to_path_buf(), url.to_string()));
    }
    given
        .iter()
        .find(|(dir, _)| dir == data_dir)
        .map(|(_, url)| url.clone())
}

/// `mira --data-dir DATA_DIR` with the catalogue database of that data directory in its
/// environment (nothing else of the caller's `MIRA*` environment).
pub fn mira_command(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mira"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MIRA") {
            command.env_remove(name);
        }
    }
    if let Some(url) = database_url(data_dir) {
        command.env("MIRA__DATABASE__URL", url);
    }
    command.arg("--data-dir").arg(data_dir);
    command
}

/// Opens the catalogue of the archive in `data_dir` (SQLite or PostgreSQL, as the suite runs).
pub async fn open_catalogue(data_dir: &Path) -> mira_store::Catalogue {
    match database_url(data_dir) {
        Some(url) => mira_store::Catalogue::connect(&url, Default::default())
            .await
            .expect("connect to the catalogue"),
        None => mira_store::Catalogue::open(&data_dir.join("catalogue.sqlite"))
            .await
            .expect("open the catalogue"),
    }
}

/// Runs one SQL statement on the catalogue of `data_dir` outside mira (`sqlite3` from Python,
/// or `psql`), as an administrator with direct database access would; the tool's result.
pub fn run_sql_outside(data_dir: &Path, sql: &str) -> std::process::Output {
    match database_url(data_dir) {
        Some(url) => Command::new(mira_testdata::postgres::psql().expect("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-c", sql])
            .output()
            .expect("run psql"),
        None => Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()",
                data_dir.join("catalogue.sqlite").to_str().expect("UTF-8 path"),
                sql,
            ])
            .output()
            .expect("run python3"),
    }
}
/// How long a graceful stop may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Skipping

/// Whether missing prerequisites must fail the test rather than skip it.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Skips (prints a message and returns `None`) or, under `CI=true`, panics.
pub fn skip<T>(what: &str) -> Option<T> {
    if ci() {
        panic!("{what} (CI=true: prerequisites must be present)");
    }
    eprintln!("SKIP: {what}");
    None
}

/// Unwraps an `Option` from a prerequisite lookup, returning from the test when it is `None`.
#[macro_export]
macro_rules! require {
    ($lookup:expr) => {
        match $lookup {
            Some(value) => value,
            None => return,
        }
    };
}

/// The read-only test data folder (`MIRA_TESTDATA`, or `shared/testdata` beside the
/// checkout), with the skip/CI rule of [`mira_testdata::testdata`].
pub fn testdata() -> Option<PathBuf> {
    mira_testdata::testdata()
}

// ---------------------------------------------------------------------------------------
// Running peers

/// What a finished peer process printed and how it ended.
#[derive(Debug)]
pub struct ToolOutput {
    /// The command line, for messages.
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl ToolOutput {
    /// Standard output followed by standard error.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Panics with the whole output unless the process exited with status 0.
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "{} failed ({}):\n{}",
            self.command,
            self.status,
            self.combined()
        );
        self
    }
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

fn drain(reader: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut reader = reader;
        let _ = reader.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child`, killing it (SIGKILL) once `timeout` has passed.
pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Runs `command` to completion with its output captured, killing it after `timeout`.
pub fn run(mut command: Command, timeout: Duration) -> ToolOutput {
    let text = describe(&command);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {text}: {e}"));
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_with_timeout(&mut child, timeout);
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let Some(status) = status else {
        panic!("{text} did not finish within {timeout:?}:\n{stdout}{stderr}");
    };
    ToolOutput {
        command: text,
        status,
        stdout,
        stderr,
    }
}

/// A dcmtk tool (`echoscu`, `storescu`, ...). `PATH` may hold other programs of the same
/// name first (pynetdicom installs its own `storescu` and `echoscu`), so each candidate is
/// asked for its version and only dcmtk's is taken.
pub fn dcmtk(tool: &str) -> Option<PathBuf> {
    static FOUND: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Option<PathBuf>>>> =
        OnceLock::new();
    let cache = FOUND.get_or_init(Default::default);
    let found = cache
        .lock()
        .unwrap()
        .entry(tool.to_string())
        .or_insert_with(|| find_dcmtk(tool))
        .clone();
    match found {
        Some(path) => Some(path),
        None => skip(&format!("dcmtk's {tool} not found (apt-get install dcmtk)")),
    }
}

fn find_dcmtk(tool: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/bin", "/usr/local/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|dir| dir.join(tool))
        .filter(|path| path.is_file())
        .find(|path| {
            Command::new(path)
                .arg("--version")
                .stdin(Stdio::null())
                .output()
                .map(|o| {
                    let text = [o.stdout, o.stderr].concat();
                    String::from_utf8_lossy(&text)
                        .to_ascii_lowercase()
                        .contains("dcmtk")
                })
                .unwrap_or(false)
        })
}

/// A dcmtk command with `TCP_NODELAY=1` in its environment (dcmtk reads it to turn Nagle's
/// algorithm off on its sockets, so that small PDUs are not held back), or `None` (skip)
/// when dcmtk is missing.
pub fn dcmtk_command<I, S>(tool: &str, args: I) -> Option<Command>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let path = dcmtk(tool)?;
    let mut command = Command::new(path);
    command.env("TCP_NODELAY", "1").args(args);
    Some(command)
}

/// Runs a dcmtk tool to completion (2 minutes at most).
pub fn run_dcmtk<I, S>(tool: &str, args: I) -> Option<ToolOutput>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Some(run(dcmtk_command(tool, args)?, Duration::from_secs(120)))
}

/// `python3`, when it can import pynetdicom and pydicom; otherwise skip.
pub fn pynetdicom_python() -> Option<PathBuf> {
    static FOUND: OnceLock<bool> = OnceLock::new();
    let ok = *FOUND.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import pynetdicom, pydicom"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    });
    if ok {
        Some(PathBuf::from("python3"))
    } else {
        skip("python3 cannot import pynetdicom and pydicom (pip install pynetdicom)")
    }
}

/// The pynetdicom sender script, `tests/peers/pynetdicom_store.py`.
pub fn pynetdicom_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pynetdicom_store.py")
}

/// Runs the pynetdicom query/retrieve peer, `tests/peers/qr_peer.py ARGS...`, to success
/// (10 minutes at most) and returns its JSON lines.
pub fn qr_peer(python: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    qr_peer_with_env(python, args, &[])
}

/// [`qr_peer`] with environment variables: `MIRA_TOKEN` (a bearer token for its HTTP
/// requests), `QR_PEER_AET` (its calling AE title).
pub fn qr_peer_with_env(
    python: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Vec<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/qr_peer.py");
    let mut command = Command::new(python);
    command.arg(script).args(args).envs(env.iter().copied());
    let out = run(command, Duration::from_secs(600));
    out.assert_success();
    json_lines(&out.stdout)
}

/// The JSON objects of the pynetdicom script's output, one per line.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The server

/// A `mira serve` child process on ports chosen by the OS, with its own data directory.
/// Dropping it kills the process (SIGKILL); the data directory goes with it.
pub struct Server {
    root: TempDir,
    data_dir: PathBuf,
    /// An API token of `tester`, who holds every role on every site.
    token: String,
    log_path: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    dimse_addr: SocketAddr,
    http_addr: SocketAddr,
}

impl Server {
    /// Starts a server on a fresh data directory; `extra_env` is added to its environment
    /// (`MIRA__DIMSE__ALLOWED_CALLING_AE_TITLES`, `MIRA_LOG`, ...).
    pub fn start(extra_env: &[(&str, &str)]) -> Server {
        Self::start_in(None, extra_env)
    }

    /// [`Server::start`] on a data directory of the caller's (a small filesystem, say).
    pub fn start_in(data_dir: Option<&Path>, extra_env: &[(&str, &str)]) -> Server {
        let root = tempfile::Builder::new()
            .prefix("mira-test-")
            .tempdir()
            .expect("temporary directory");
        let data_dir = data_dir.map_or_else(|| root.path().join("data"), Path::to_path_buf);
        // a node of several: provisioning and the CLI go to the database they share
        if let Some((_, url)) = extra_env.iter().find(|(k, _)| *k == "MIRA__DATABASE__URL") {
            given_database(&data_dir, Some(url));
        }
        let log_path = root.path().join("mira.log");
        let mut server = Server {
            data_dir,
            log_path,
            root,
            env: extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            dimse_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: String::new(),
        };
        server.provision();
        server.spawn();
        server
    }

    /// Registers the AE titles the tests' peers call from (dcmtk's and pynetdicom's
    /// defaults and the suites' own) to a regional test site that sees every site, and
    /// a user `tester` holding every role there, with an API token. Access control is
    /// always on; the permission matrix test (tests/access.rs) provisions its own sites.
    fn provision(&mut self) {
        let mut file = String::from(
            "[[site]]\ncode = \"test-region\"\nname = \"Test region\"\nkind = \"regional\"\n",
        );
        let mut titles: Vec<String> = [
            "ECHOSCU",
            "STORESCU",
            "FINDSCU",
            "MOVESCU",
            "GETSCU",
            "QRPEER",
            "PYNETDICOM",
            "MODALITY",
            "MODALITY1",
            "BENCHSCU",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        titles.extend((0..32).map(|n| format!("SENDER{n}")));
        titles.extend((0..32).map(|n| format!("PEER{n}")));
        for title in titles {
            file.push_str(&format!(
                "[[ae]]\ntitle = \"{title}\"\nsite = \"test-region\"\nall_sites = true\n"
            ));
        }
        file.push_str(
            "[[user]]\nusername = \"tester\"\ndisplay_name = \"Test user\"\n\
             roles = [\"admin\", \"radiologist\", \"technologist\", \"qc-officer\", \"data-steward\", \"researcher\"]\n\
             site = \"test-region\"\nall_sites = true\npassword = \"tester-password\"\n",
        );
        let path = self.root.path().join("access.toml");
        fs::write(&path, file).expect("write access.toml");
        self.token = provision_access(&self.data_dir, &path, "tester");
    }

    /// `Bearer …` for the test user's token.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// The test user's API token.
    pub fn token(&self) -> &str {
        &self.token
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("server log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_mira"));
        // Only what the test says: no configuration inherited from the environment.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MIRA") {
                command.env_remove(name);
            }
        }
        if let Some(url) = database_url(&self.data_dir) {
            command.env("MIRA__DATABASE__URL", url);
        }
        command
            .env("MIRA_LOG", "info,sqlx=warn")
            // mira colours its log even when stderr is a file
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args([
                "serve",
                "--dicom-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = command.spawn().expect("cannot start mira");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let line = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with("mira listening ") => break line,
                Ok(_) => continue,
                Err(e) => {
                    let _ = child.kill();
                    let status = child.wait();
                    panic!(
                        "mira did not print its listening line ({e:?}; process: {status:?}); log:\n{}",
                        self.log()
                    );
                }
            }
        };
        let field = |name: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("no {name}ADDR in {line:?}"))
        };
        self.dimse_addr = field("dimse=");
        self.http_addr = field("http=");
        self.child = Some(child);
    }

    /// The DIMSE port.
    pub fn port(&self) -> u16 {
        self.dimse_addr.port()
    }

    /// The DIMSE port, as an argument for peer tools.
    pub fn port_arg(&self) -> String {
        self.port().to_string()
    }

    pub fn dimse_addr(&self) -> SocketAddr {
        self.dimse_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A scratch directory next to the data directory, removed with the server.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        fs::create_dir_all(&dir).expect("scratch directory");
        dir
    }

    /// Everything the server (and its earlier runs on this data directory) logged, without
    /// ANSI colour codes.
    pub fn log(&self) -> String {
        strip_ansi(&fs::read_to_string(&self.log_path).unwrap_or_default())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server with SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL mira");
            child.wait().expect("reap mira");
        }
    }

    /// Stops the server with SIGTERM and waits for it to exit; returns its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server not running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        match wait_with_timeout(&mut child, STOP_TIMEOUT) {
            Some(status) => status,
            None => panic!(
                "mira did not stop within {STOP_TIMEOUT:?} of SIGTERM; log:\n{}",
                self.log()
            ),
        }
    }

    /// Starts the server again on the same data directory and environment (stopping it
    /// with SIGTERM first if it still runs). The ports change.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.stop();
            assert!(status.success(), "mira exited with {status} on SIGTERM");
        }
        self.spawn();
    }

    /// `mira ls <level> --format json` on this data directory.
    pub fn ls(&self, level: &str) -> serde_json::Value {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mira"));
        if let Some(url) = database_url(&self.data_dir) {
            command.env("MIRA__DATABASE__URL", url);
        }
        command
            .env("MIRA_LOG", "warn")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["ls", level, "--format", "json"]);
        let out = run(command, Duration::from_secs(60));
        out.assert_success();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("mira ls {level}: not JSON ({e}):\n{}", out.stdout))
    }

    /// Every instance row of the catalogue, read through `mira_store::Catalogue`.
    pub fn instances(&self) -> Vec<mira_store::InstanceLocation> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(async {
            let catalogue = open_catalogue(&self.data_dir).await;
            let rows = catalogue
                .all_instance_locations()
                .await
                .expect("read the catalogue");
            catalogue.close().await;
            rows
        })
    }

    /// Files left in `staging/`.
    pub fn staging_files(&self) -> Vec<PathBuf> {
        list_files(&self.data_dir.join("staging"))
    }

    /// Every file under `blobs/`.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for fan in list_dirs(&self.data_dir.join("blobs")) {
            files.extend(list_files(&fan));
        }
        files.sort();
        files
    }

    /// Where the blob of `key` lives: `blobs/<first two hex digits>/<key>.dcm`.
    pub fn blob_path(&self, key: &str) -> PathBuf {
        self.data_dir
            .join("blobs")
            .join(&key[..2])
            .join(format!("{key}.dcm"))
    }

    /// Checks the store's invariants: nothing in staging, one blob per catalogue row, no
    /// blob without a row, each row's blob named by its key.
    pub fn assert_consistent(&self) -> Vec<mira_store::InstanceLocation> {
        let staging = self.staging_files();
        assert!(staging.is_empty(), "staging leftovers: {staging:?}");
        let rows = self.instances();
        let mut expected = BTreeSet::new();
        for row in &rows {
            assert_eq!(row.blob_key, row.dataset_digest, "{row:?}");
            let path = self.blob_path(&row.blob_key);
            assert!(
                path.is_file(),
                "blob of {} missing: {}",
                row.sop_instance_uid,
                path.display()
            );
            assert!(expected.insert(path), "two rows share a blob: {row:?}");
        }
        let present: BTreeSet<PathBuf> = self.blob_files().into_iter().collect();
        let orphans: Vec<_> = present.difference(&expected).collect();
        assert!(
            orphans.is_empty(),
            "blobs without a catalogue row: {orphans:?}"
        );
        rows
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(80)..];
            eprintln!(
                "---- mira log (last {} lines of {}) ----\n{}",
                tail.len(),
                self.log_path.display(),
                tail.join("\n")
            );
        }
    }
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn list_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// Plain files directly in `dir` (none when it does not exist).
pub fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

// ---------------------------------------------------------------------------------------
// DICOM files

/// What the File Meta Information of a PS3.10 file says, and where its data set starts.
#[derive(Debug, Clone)]
pub struct Part10 {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub dataset_offset: usize,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub transfer_syntax_uid: String,
}

impl Part10 {
    /// Reads a file and walks its meta group (explicit VR little endian, PS3.10 §7.1).
    pub fn read(path: &Path) -> Part10 {
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        assert!(
            bytes.len() > 132 && &bytes[128..132] == b"DICM",
            "{} is not a PS3.10 file",
            path.display()
        );
        let (mut class, mut instance, mut ts) = (String::new(), String::new(), String::new());
        let mut pos = 132;
        while pos + 8 <= bytes.len() {
            let group = u16::from_le_bytes([bytes[pos], bytes[pos + 1]]);
            if group != 0x0002 {
                break;
            }
            let element = u16::from_le_bytes([bytes[pos + 2], bytes[pos + 3]]);
            let vr = &bytes[pos + 4..pos + 6];
            let long = matches!(
                vr,
                b"OB"
                    | b"OW"
                    | b"OF"
                    | b"SQ"
                    | b"UT"
                    | b"UN"
                    | b"UC"
                    | b"UR"
                    | b"OD"
                    | b"OL"
                    | b"OV"
                    | b"SV"
                    | b"UV"
            );
            let (len, header) = if long {
                let l = &bytes[pos + 8..pos + 12];
                (u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize, 12)
            } else {
                (
                    u16::from_le_bytes([bytes[pos + 6], bytes[pos + 7]]) as usize,
                    8,
                )
            };
            let value = &bytes[pos + header..pos + header + len];
            let text = || {
                String::from_utf8_lossy(value)
                    .trim_end_matches(['\0', ' '])
                    .to_string()
            };
            match element {
                0x0002 => class = text(),
                0x0003 => instance = text(),
                0x0010 => ts = text(),
                _ => {}
            }
            pos += header + len;
        }
        Part10 {
            path: path.to_path_buf(),
            dataset_offset: pos,
            bytes,
            sop_class_uid: class,
            sop_instance_uid: instance,
            transfer_syntax_uid: ts,
        }
    }

    /// The data set bytes: everything after the meta group.
    pub fn dataset(&self) -> &[u8] {
        &self.bytes[self.dataset_offset..]
    }
}

/// Asserts that the blob `stored` holds the data set of `original`: the same transfer
/// syntax, SOP Class and SOP Instance UID in the File Meta Information, the same bytes after
/// the meta group, and, once both files are parsed with dicom-object, the same elements.
pub fn assert_same_dataset(stored: &Path, original: &Path) {
    compare_datasets(stored, original, false);
}

/// [`assert_same_dataset`] for a file that dcmtk's storescu sent: storescu leaves out Data Set
/// Trailing Padding (FFFC,FFFC), which PS3.5 §7.8 lets any application drop, so the stored
/// data set may be the original without that last element.
pub fn assert_same_dataset_sent_by_dcmtk(stored: &Path, original: &Path) {
    compare_datasets(stored, original, true);
}

/// Data Set Trailing Padding, the last element of a data set.
const TRAILING_PADDING: dicom_object::Tag = dicom_object::Tag(0xFFFC, 0xFFFC);

/// `dataset` without its Data Set Trailing Padding element, if it ends with one (little
/// endian, explicit or implicit VR).
fn without_trailing_padding(dataset: &[u8]) -> Option<&[u8]> {
    let tag = [0xFC, 0xFF, 0xFC, 0xFF];
    (0..dataset.len().saturating_sub(7))
        .filter(|&p| dataset[p..p + 4] == tag)
        .find(|&p| {
            let rest = &dataset[p..];
            let explicit = rest.len() >= 12 && &rest[4..8] == b"OB\0\0";
            let (header, len) = if explicit {
                (
                    12,
                    u32::from_le_bytes([rest[8], rest[9], rest[10], rest[11]]),
                )
            } else {
                (8, u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]))
            };
            header + len as usize == rest.len()
        })
        .map(|p| &dataset[..p])
}

fn compare_datasets(stored: &Path, original: &Path, allow_dropped_padding: bool) {
    let a = Part10::read(stored);
    let b = Part10::read(original);
    let name = original.display();
    assert_eq!(a.sop_instance_uid, b.sop_instance_uid, "{name}");
    assert_eq!(a.sop_class_uid, b.sop_class_uid, "{name}");
    assert_eq!(a.transfer_syntax_uid, b.transfer_syntax_uid, "{name}");
    let mut expected = b.dataset();
    let mut padding_dropped = false;
    if allow_dropped_padding
        && a.dataset() != expected
        && let Some(shorter) = without_trailing_padding(expected)
    {
        expected = shorter;
        padding_dropped = true;
    }
    if a.dataset() != expected {
        let first = a
            .dataset()
            .iter()
            .zip(expected)
            .position(|(x, y)| x != y)
            .unwrap_or(a.dataset().len().min(expected.len()));
        panic!(
            "stored data set of {name} differs from the original ({} vs {} bytes, first difference at data set offset {first})",
            a.dataset().len(),
            expected.len()
        );
    }
    let pa = dicom_object::open_file(stored)
        .unwrap_or_else(|e| panic!("stored blob {} does not parse: {e}", stored.display()));
    let pb =
        dicom_object::open_file(original).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
    let ta: Vec<_> = pa.tags().collect();
    let tb: Vec<_> = pb
        .tags()
        .filter(|t| !(padding_dropped && *t == TRAILING_PADDING))
        .collect();
    assert_eq!(ta, tb, "element sets differ: {name}");
    for tag in ta {
        // dicom-core's `Length` never equals an undefined length, so elements are compared
        // through their Debug form (tag, VR, length, value; items included)
        let ea = format!("{:?}", pa.element(tag).expect("listed tag"));
        let eb = format!("{:?}", pb.element(tag).expect("listed tag"));
        assert!(ea == eb, "element {tag} differs: {name}");
    }
}

/// Writes a storescu configuration file proposing, for each distinct (SOP class, transfer
/// syntax) pair among `files`, one presentation context with only that transfer syntax, so
/// that storescu sends every file in its own transfer syntax (and never tries to convert).
/// Returns the arguments `-xf <file> Mira`.
pub fn storescu_exact_contexts(files: &[PathBuf], dir: &Path) -> Vec<String> {
    let mut pairs = BTreeSet::new();
    for file in files {
        let meta = Part10::read(file);
        assert!(
            !meta.sop_class_uid.is_empty(),
            "{}: no SOP class in meta",
            file.display()
        );
        pairs.insert((meta.sop_class_uid, meta.transfer_syntax_uid));
    }
    assert!(pairs.len() <= 128, "more than 128 presentation contexts");
    let syntaxes: Vec<&String> = pairs
        .iter()
        .map(|(_, ts)| ts)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut cfg = String::from("[[TransferSyntaxes]]\n");
    for (i, ts) in syntaxes.iter().enumerate() {
        cfg.push_str(&format!("[TS{i}]\nTransferSyntax1 = {ts}\n"));
    }
    cfg.push_str("\n[[PresentationContexts]]\n[MiraContexts]\n");
    for (n, (class, ts)) in pairs.iter().enumerate() {
        let i = syntaxes.iter().position(|s| *s == ts).expect("listed");
        cfg.push_str(&format!("PresentationContext{} = {class}\\TS{i}\n", n + 1));
    }
    cfg.push_str("\n[[Profiles]]\n[Mira]\nPresentationContexts = MiraContexts\n");
    let path = dir.join("storescu-exact.cfg");
    fs::write(&path, cfg).expect("write storescu config");
    vec![
        "-xf".into(),
        path.to_string_lossy().into_owned(),
        "Mira".into(),
    ]
}

/// Pairs each `Sending file: PATH` of `storescu -v` output with the `Received Store Response
/// (...)` that followed it; a file that got no response maps to `None`.
pub fn storescu_responses(output: &str) -> Vec<(String, Option<String>)> {
    let mut result: Vec<(String, Option<String>)> = Vec::new();
    for line in output.lines() {
        if let Some(file) = line.split("Sending file: ").nth(1) {
            result.push((file.trim().to_string(), None));
        } else if let Some(rest) = line.split("Received Store Response").nth(1) {
            let last = result.last_mut().expect("a response before any file");
            assert!(last.1.is_none(), "two responses for {}", last.0);
            last.1 = Some(rest.trim().to_string());
        }
    }
    result
}

// ---------------------------------------------------------------------------------------
// Generated data

/// Parses a file with dicom-object.
pub fn open(path: &Path) -> dicom_object::DefaultDicomObject {
    dicom_object::open_file(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Sets a text element that the object already has (keeping its VR); dicom-object's own
/// element constructors need dicom-core, which this crate does not depend on.
pub fn set_existing(
    obj: &mut dicom_object::DefaultDicomObject,
    tag: dicom_object::Tag,
    value: &str,
) {
    let vr = obj
        .element(tag)
        .unwrap_or_else(|_| panic!("no element {tag} to set"))
        .vr();
    obj.put_str(tag, vr, value);
}

pub const SOP_CLASS_UID: dicom_object::Tag = dicom_object::Tag(0x0008, 0x0016);
pub const SOP_INSTANCE_UID: dicom_object::Tag = dicom_object::Tag(0x0008, 0x0018);
pub const PATIENT_ID: dicom_object::Tag = dicom_object::Tag(0x0010, 0x0020);
pub const STUDY_INSTANCE_UID: dicom_object::Tag = dicom_object::Tag(0x0020, 0x000D);
pub const SERIES_INSTANCE_UID: dicom_object::Tag = dicom_object::Tag(0x0020, 0x000E);
pub const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";

/// Study and Series Instance UIDs given to the repaired TotalSegmentator series.
pub const CT_STUDY_UID: &str = "2.25.301417386364851730447126396468351390001";
pub const CT_SERIES_UID: &str = "2.25.301417386364851730447126396468351390002";

/// The TotalSegmentator example CT is anonymised down to empty SOP Class, SOP Instance,
/// Study and Series Instance UIDs and Patient ID in every slice, so no peer can send it as
/// it is (storescu finds no presentation context for an empty SOP class). This writes the
/// series into `dir` with those attributes filled in by dcmtk's `dcmodify` (so that dcmtk
/// peers send the files' data set bytes unchanged): SOP Class = CT Image Storage, SOP
/// Instance UID = the one the File Meta Information still carries, [`CT_STUDY_UID`],
/// [`CT_SERIES_UID`], Patient ID `TOTALSEG`. The last slice (by file name) gets everything
/// except the Patient ID, so that mira must refuse it. Returns (valid slices, refused slice),
/// or `None` (skip) without dcmtk.
pub fn repaired_ct_series(testdata: &Path, dir: &Path) -> Option<(Vec<PathBuf>, PathBuf)> {
    let dcmodify = dcmtk("dcmodify")?;
    let source = testdata.join("ct/totalseg_example_ct");
    let inputs = list_files(&source);
    assert_eq!(
        inputs.len(),
        20,
        "expected 20 slices in {}",
        source.display()
    );
    fs::create_dir_all(dir).expect("create directory");
    let mut valid = Vec::new();
    let last = inputs.len() - 1;
    for (i, input) in inputs.iter().enumerate() {
        let out = dir.join(input.file_name().expect("file name"));
        fs::copy(input, &out).expect("copy a slice");
        let mut permissions = fs::metadata(&out).expect("stat").permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        fs::set_permissions(&out, permissions).expect("make the copy writable");
        let uid = Part10::read(input).sop_instance_uid;
        assert!(
            !uid.is_empty(),
            "{}: no SOP Instance UID in meta",
            input.display()
        );
        let mut command = Command::new(&dcmodify);
        command.arg("-nb");
        for (tag, value) in [
            ("0008,0016", CT_IMAGE_STORAGE),
            ("0008,0018", uid.as_str()),
            ("0020,000d", CT_STUDY_UID),
            ("0020,000e", CT_SERIES_UID),
        ] {
            command.arg("-i").arg(format!("({tag})={value}"));
        }
        if i != last {
            command.arg("-i").arg("(0010,0020)=TOTALSEG");
        }
        command.arg(&out);
        run(command, Duration::from_secs(60)).assert_success();
        if i != last {
            valid.push(out);
        }
    }
    let refused = dir.join(inputs[last].file_name().expect("file name"));
    Some((valid, refused))
}

/// `count` distinct CT instances: copies of the repaired TotalSegmentator slices (all 20 with
/// a Patient ID) under new SOP Instance UIDs (`2.25.<n>`), in a series of their own. Returns
/// the file paths in sending order.
pub fn many_ct_instances(testdata: &Path, dir: &Path, count: usize) -> Vec<PathBuf> {
    let source = testdata.join("ct/totalseg_example_ct");
    let inputs = list_files(&source);
    assert!(!inputs.is_empty(), "no slices in {}", source.display());
    let mut templates = Vec::new();
    for input in &inputs {
        let mut obj = open(input);
        set_existing(&mut obj, SOP_CLASS_UID, CT_IMAGE_STORAGE);
        set_existing(
            &mut obj,
            STUDY_INSTANCE_UID,
            "2.25.301417386364851730447126396468351390011",
        );
        set_existing(
            &mut obj,
            SERIES_INSTANCE_UID,
            "2.25.301417386364851730447126396468351390012",
        );
        set_existing(&mut obj, PATIENT_ID, "CRASHTEST");
        templates.push(obj);
    }
    fs::create_dir_all(dir).expect("create directory");
    let mut files = Vec::with_capacity(count);
    for n in 0..count {
        let mut obj = templates[n % templates.len()].clone();
        let uid = format!(
            "2.25.{}",
            301417386364851730447126396468351400000u128 + n as u128
        );
        set_existing(&mut obj, SOP_INSTANCE_UID, &uid);
        obj.update_meta(|meta| meta.media_storage_sop_instance_uid = uid.clone());
        let out = dir.join(format!("ct{n:04}.dcm"));
        obj.write_to_file(&out)
            .unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
        files.push(out);
    }
    files
}

/// A loopback port nothing listens on now, for peers the tests start (storescp, Orthanc).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Opens `path` for appending (creating it), for logs of background peers.
pub fn append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append")
}

// ---------------------------------------------------------------------------------------
// HTTP (DICOMweb)

/// One part of a multipart body: its headers (names in lower case) and its bytes.
pub type BodyPart = (Vec<(String, String)>, Vec<u8>);

/// An HTTP response as the tests read it.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(2000)])
            )
        })
    }

    /// The body as text (lossy), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The parts of a `multipart/related` body: each part's headers (lower-case names) and
    /// bytes.
    pub fn parts(&self) -> Vec<BodyPart> {
        let content_type = self.header("content-type").expect("Content-Type");
        assert!(
            content_type.starts_with("multipart/related"),
            "not multipart: {content_type}"
        );
        let boundary = content_type
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .expect("boundary")
            .trim_matches('"');
        split_multipart(&self.body, boundary)
    }
}

/// Splits a multipart body at `boundary` (RFC 2046 §5.1.1).
pub fn split_multipart(body: &[u8], boundary: &str) -> Vec<BodyPart> {
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    // the first delimiter may open the body without a leading CRLF
    let mut data = b"\r\n".to_vec();
    data.extend_from_slice(body);
    let positions: Vec<usize> = data
        .windows(delimiter.len())
        .enumerate()
        .filter(|(_, w)| *w == delimiter.as_slice())
        .map(|(i, _)| i)
        .collect();
    let mut parts = Vec::new();
    for pair in positions.windows(2) {
        let part = &data[pair[0] + delimiter.len()..pair[1]];
        let part = part.strip_prefix(b"\r\n").expect("CRLF after a delimiter");
        let split = part
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("part headers end with CRLF CRLF");
        let headers = String::from_utf8_lossy(&part[..split])
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        parts.push((headers, part[split + 4..].to_vec()));
    }
    let last = *positions.last().expect("at least one delimiter");
    assert!(
        data[last + delimiter.len()..].starts_with(b"--"),
        "the multipart body is not closed"
    );
    parts
}

/// A `multipart/related; type="application/dicom"` body of `parts` (content type, bytes);
/// returns the Content-Type and the body.
pub fn multipart_body(parts: &[(&str, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "mira-test-boundary-7d1c2a";
    let mut body = Vec::new();
    for (content_type, bytes) in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: {content_type}\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (
        format!("multipart/related; type=\"application/dicom\"; boundary=\"{boundary}\""),
        body,
    )
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end.
pub fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to mira's HTTP port");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("read timeout");
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send request");
    stream.write_all(body).expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .expect("chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

impl Server {
    /// A GET on the HTTP port, as the test user unless `headers` carry an Authorization.
    pub fn get(&self, target: &str, headers: &[(&str, &str)]) -> HttpResponse {
        let bearer = self.bearer();
        http(
            self.http_addr,
            "GET",
            target,
            &self.with_auth(headers, &bearer),
            b"",
        )
    }

    /// `headers` plus the test user's Authorization, unless they carry one.
    pub fn with_auth<'a>(
        &self,
        headers: &[(&'a str, &'a str)],
        bearer: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        let mut out = headers.to_vec();
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        {
            out.push(("Authorization", bearer));
        }
        out
    }

    /// STOW-RS of whole files to `target` (`/dicom-web/studies[/{study}]`).
    pub fn stow(&self, target: &str, files: &[PathBuf]) -> HttpResponse {
        let parts: Vec<(&str, Vec<u8>)> = files
            .iter()
            .map(|f| {
                (
                    "application/dicom",
                    fs::read(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display())),
                )
            })
            .collect();
        self.stow_parts(target, &parts)
    }

    /// STOW-RS of arbitrary parts.
    pub fn stow_parts(&self, target: &str, parts: &[(&str, Vec<u8>)]) -> HttpResponse {
        let (content_type, body) = multipart_body(parts);
        http(
            self.http_addr,
            "POST",
            target,
            &[
                ("Content-Type", &content_type),
                ("Accept", "application/dicom+json"),
                ("Authorization", &self.bearer()),
            ],
            &body,
        )
    }
}

/// Applies an access file to the archive in `data_dir` with `mira access apply`, then issues
/// an API token for `user` and returns it.
pub fn provision_access(data_dir: &Path, file: &Path, user: &str) -> String {
    mira_cli(
        data_dir,
        &["access", "apply", file.to_str().expect("UTF-8 path")],
    );
    create_token(data_dir, user)
}

/// `mira token create USER` on the archive in `data_dir`.
pub fn create_token(data_dir: &Path, user: &str) -> String {
    mira_cli(data_dir, &["token", "create", user, "--label", "tests"])
        .trim()
        .to_string()
}

/// Runs `mira --data-dir DATA_DIR ARGS...` to success; its standard output.
pub fn mira_cli(data_dir: &Path, args: &[&str]) -> String {
    let mut command = mira_command(data_dir);
    command.args(args);
    let out = run(command, Duration::from_secs(60));
    out.assert_success();
    out.stdout
}

/// `python3`, when it can import dicomweb_client and pydicom; otherwise skip.
pub fn dicomweb_client_python() -> Option<PathBuf> {
    let ok = Command::new("python3")
        .args(["-c", "import dicomweb_client, pydicom"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        Some(PathBuf::from("python3"))
    } else {
        skip("python3 cannot import dicomweb_client (pip install dicomweb-client)")
    }
}

/// How far from the midline the chest phantom's lungs are centred, mm (its nodules sit
/// 3 mm beyond): a test that checks where a nodule was found uses it.
pub const CHEST_PHANTOM_LUNG_X: f64 = 0.21 * 256.0 * 0.7;

/// Where [`chest_ct_phantom`] plants its two solid nodules: (x, y) in mm and the diameter.
pub const CHEST_PHANTOM_NODULES: [([f64; 2], f64); 2] = [
    ([-CHEST_PHANTOM_LUNG_X - 3.0, -5.0], 9.0),
    ([CHEST_PHANTOM_LUNG_X + 3.0, 10.0], 7.0),
];

/// A chest CT the lung analyzer finds two solid nodules in (mira-lung's phantom: 48 slices of
/// 256², 1.25 mm; a 9 mm nodule in the right lung and a 7 mm one in the left), written to
/// `dir` as `study`/`series`, then labelled with dcmodify as a CT console would: `labels` are
/// `(tag, value)` pairs such as `("(0018,0015)", "CHEST")`. `None` when dcmtk is missing
/// (outside CI).
pub fn chest_ct_phantom(
    dir: &Path,
    study: &str,
    series: &str,
    patient_id: &str,
    labels: &[(&str, &str)],
) -> Option<Vec<PathBuf>> {
    use mira_lung::phantom::{self, PhantomSpec, PlantedKind, PlantedNodule};
    let z = [0.0, 8.0];
    let generated = phantom::generate(&PhantomSpec {
        seed: 5,
        dims: [256, 256, 48],
        pixel_mm: 0.7,
        slice_mm: 1.25,
        noise_hu: 30.0,
        vessel_generations: 6,
        nodules: CHEST_PHANTOM_NODULES
            .iter()
            .zip(z)
            .map(|(([x, y], d), z)| PlantedNodule {
                centre_mm: [*x, *y, z],
                diameter_mm: *d,
                kind: PlantedKind::Solid,
                on_vessel: false,
            })
            .collect(),
    });
    phantom::write_series(&generated.volume, dir, study, series, patient_id)
        .expect("write the phantom series");
    let files = list_files(dir);
    let assignments: Vec<String> = labels.iter().map(|(t, v)| format!("{t}={v}")).collect();
    let mut args: Vec<&str> = vec!["-nb"];
    for a in &assignments {
        args.extend(["-i", a.as_str()]);
    }
    args.extend(files.iter().map(|p| p.to_str().expect("UTF-8 path")));
    run_dcmtk("dcmodify", &args)?.assert_success();
    Some(files)
}
