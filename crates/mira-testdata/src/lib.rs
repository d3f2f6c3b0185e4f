//! Locates `../shared/testdata` for mira's tests. Dev-dependency only; nothing ships with it.
//!
//! The data is never copied into the repository: tests read it in place. Where it is absent a
//! test skips with a message saying so, except under `CI=true`, where absence is a failure.
#![warn(missing_docs)]

use std::path::{Path, PathBuf};

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
