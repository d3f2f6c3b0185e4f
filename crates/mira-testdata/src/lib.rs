//! Locates `../shared/testdata` for mira's tests. Dev-dependency only; nothing ships with it.
//!
//! The data is never copied into the repository: tests read it in place. Where it is absent a
//! test skips with a message saying so, except under `CI=true`, where absence is a failure.
//! The same holds for the servers the scale-out tests talk to: [`postgres`] starts a private
//! PostgreSQL cluster and [`s3`] an S3-compatible server (`s3s-fs`), each in a scratch
//! directory that goes away with it.
#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub mod postgres;
pub mod s3;

/// The test data directory: `$MIRA_TESTDATA`, or `shared/testdata` beside the checkout.
/// `None` (after printing why) when it is absent outside CI; panics when absent under CI.
pub fn testdata() -> Option<PathBuf> {
    let dir = std::env::var_os("MIRA_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"));
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "test data not found at {} and CI=true",
        dir.display()
    );
    eprintln!(
        "skipping: test data not found at {} (set MIRA_TESTDATA)",
        dir.display()
    );
    None
}

/// A file inside the test data directory, or `None` as [`testdata`] decides.
pub fn file(relative: &str) -> Option<PathBuf> {
    let path = testdata()?.join(relative);
    assert!(
        path.exists(),
        "{} is missing from the test data",
        path.display()
    );
    Some(path)
}

/// Whether this run is under CI (`CI=true`), where nothing a test needs may be absent.
fn under_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Prints that a test skips because `what` is absent; panics instead under `CI=true`.
fn skip(what: &str, hint: &str) {
    assert!(!under_ci(), "{what} and CI=true");
    eprintln!("skipping: {what} ({hint})");
}

/// A new, empty directory under the system's temporary directory, unique to this process and
/// call; the caller removes it.
fn scratch_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // short: a PostgreSQL socket path (this directory plus `/.s.PGSQL.PORT`) must stay
        // under 108 bytes
        let dir =
            std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos:x}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("cannot create {}: {e}", dir.display()),
        }
    }
}

/// A loopback port that was free a moment ago (bound to 127.0.0.1:0, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind a loopback port")
}

/// `name` in the directories of `PATH`, if it is there.
fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
