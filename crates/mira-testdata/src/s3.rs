//! An S3-compatible server for tests: `s3s-fs` (crates.io), serving a scratch directory on a
//! loopback port. The binary comes from `$MIRA_S3S_FS`, else `target/tools/bin/s3s-fs` in the
//! workspace (where `scripts/install-test-deps` installs it), else `PATH`. Where it is absent a
//! test skips with a message, except under `CI=true`, where that is a failure.
//!
//! s3s-fs keeps a bucket as a directory under its root and an object as a file in it.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ACCESS_KEY: &str = "mira-test";
const SECRET_KEY: &str = "mira-test-secret-key";

/// The `s3s-fs` binary, if any.
fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MIRA_S3S_FS") {
        return Some(PathBuf::from(path));
    }
    let in_workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/bin/s3s-fs");
    if in_workspace.is_file() {
        return Some(in_workspace);
    }
    crate::in_path("s3s-fs")
}

/// Whether the `s3s-fs` binary is there.
pub fn available() -> bool {
    binary().is_some_and(|path| path.is_file())
}

/// `true` when a test can start an [`S3Server`]; otherwise prints why the test skips and
/// returns `false` (panics instead under `CI=true`).
pub fn available_or_skip() -> bool {
    if available() {
        return true;
    }
    crate::skip(
        "the S3 test server s3s-fs not found",
        "run scripts/install-test-deps, or set MIRA_S3S_FS to the binary",
    );
    false
}

/// A running `s3s-fs` on 127.0.0.1, with its data in a scratch directory. Requests must be
/// signed (SigV4) with [`S3Server::access_key`] and [`S3Server::secret_key`]; any region name
/// is accepted. Dropping it kills the server and removes the directory.
pub struct S3Server {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl S3Server {
    /// Starts the server and waits until its port accepts connections. Panics when the binary
    /// is missing (check [`available`] first) or the server does not come up.
    pub fn start() -> S3Server {
        let binary = binary().expect("s3s-fs not found (see s3::available)");
        let dir = crate::scratch_dir("mira-s3");
        let root = dir.join("root");
        std::fs::create_dir(&root).expect("cannot create the S3 root");
        let mut last_error = String::new();
        // the port is free when picked but may be taken before the server binds it: retry
        for attempt in 0..5 {
            let port = crate::free_port();
            let log_path = dir.join(format!("log.{attempt}"));
            let log = std::fs::File::create(&log_path).expect("cannot create the S3 server log");
            let mut child = Command::new(&binary)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(&root)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("cannot share the log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!(
                        "s3s-fs exited ({status}): {}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    );
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return S3Server { child, dir, port };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = format!(
                        "s3s-fs did not listen on port {port} within 30 s: {}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    );
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("{last_error}");
    }

    /// `http://127.0.0.1:PORT` (path-style requests: `/BUCKET/KEY`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The access key id requests are signed with.
    pub fn access_key(&self) -> &str {
        ACCESS_KEY
    }

    /// The secret access key requests are signed with.
    pub fn secret_key(&self) -> &str {
        SECRET_KEY
    }

    /// The directory the server stores buckets (directories) and objects (files) in.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Creates bucket `name` (a directory under [`S3Server::root`], which is what s3s-fs's
    /// CreateBucket does); an existing bucket is left as it is.
    pub fn create_bucket(&self, name: &str) {
        assert!(
            !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != "..",
            "not a bucket name: {name:?}"
        );
        let path = self.root().join(name);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create bucket {}: {e}", path.display()));
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A started [`S3Server`], or `None` (after printing why) when s3s-fs is absent outside CI.
pub fn server() -> Option<S3Server> {
    available_or_skip().then(S3Server::start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// The status line of a bare `GET path` (unsigned).
    fn status_line(port: u16, path: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response);
        response.lines().next().unwrap_or_default().to_owned()
    }

    #[test]
    fn server_starts_and_answers() {
        let Some(server) = server() else { return };
        server.create_bucket("mira-unit");
        assert!(server.root().join("mira-unit").is_dir());
        assert!(server.endpoint().ends_with(&server.port().to_string()));
        let status = status_line(server.port(), "/mira-unit");
        assert!(
            status.starts_with("HTTP/1.1 2") || status.starts_with("HTTP/1.1 4"),
            "unexpected answer: {status:?}"
        );
        let dir = server.dir.clone();
        drop(server);
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}
