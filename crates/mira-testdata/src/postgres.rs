//! A private PostgreSQL cluster for tests, or a fresh database on a shared server.
//!
//! [`test_database`] is what a test calls: with `MIRA_TEST_POSTGRES_URL` set (a server URL such
//! as `postgres://postgres@127.0.0.1:5432/postgres`) it creates a uniquely named database there;
//! otherwise it starts a [`PostgresServer`] of its own (`initdb` into a scratch directory, trust
//! authentication, loopback only, no fsync). The binaries come from `$MIRA_PG_BIN`, else the
//! highest `/usr/lib/postgresql/*/bin`, else `PATH`. Where there are none a test skips with a
//! message, except under `CI=true`, where that is a failure.
//!
//! PostgreSQL refuses to run as root: when the tests run as root, the cluster runs as the
//! `postgres` system user (`runuser`), which owns its directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The directory holding `initdb`, `pg_ctl` and `psql`, if any.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MIRA_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    crate::in_path("initdb").and_then(|initdb| initdb.parent().map(Path::to_path_buf))
}

/// `psql`: beside the server binaries, else on `PATH`.
pub fn psql() -> Option<PathBuf> {
    bin_dir()
        .map(|dir| dir.join("psql"))
        .filter(|p| p.is_file())
        .or_else(|| crate::in_path("psql"))
}

/// Whether PostgreSQL server binaries (`initdb`, `pg_ctl`) are there to start a cluster.
pub fn available() -> bool {
    bin_dir().is_some_and(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

/// `true` when a test can start a cluster; otherwise prints why the test skips and returns
/// `false` (panics instead under `CI=true`).
pub fn available_or_skip() -> bool {
    if available() {
        return true;
    }
    crate::skip(
        "PostgreSQL server binaries (initdb, pg_ctl) not found",
        "install the postgresql package (scripts/install-test-deps), set MIRA_PG_BIN, or set \
         MIRA_TEST_POSTGRES_URL to a server",
    );
    false
}

/// A started [`PostgresServer`], or `None` (after printing why) when the binaries are absent
/// outside CI.
pub fn server() -> Option<PostgresServer> {
    available_or_skip().then(PostgresServer::start)
}

/// The effective user id, from `/proc/self/status` (std has no `geteuid`).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Runs `command` and panics, with its output, when it fails.
fn run(mut command: Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} ({command:?}): {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Quotes `name` as an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A private PostgreSQL cluster, listening on a loopback port with trust authentication for
/// the `postgres` superuser. Dropping it stops the server and removes its directory.
pub struct PostgresServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// The system user the server runs as when the tests run as root.
    run_as: Option<String>,
}

impl PostgresServer {
    /// Initialises and starts a cluster. Panics when the binaries are missing (check
    /// [`available`] first) or the server does not start (the message carries its log).
    pub fn start() -> PostgresServer {
        let bin = bin_dir().expect("PostgreSQL binaries not found (see postgres::available)");
        let dir = crate::scratch_dir("mira-pg");
        let run_as = (effective_uid() == Some(0)).then(|| "postgres".to_owned());
        if let Some(user) = &run_as {
            let mut chown = Command::new("chown");
            chown.arg(user).arg(&dir);
            run(chown, "chown of the cluster directory to the postgres user");
        }
        let mut server = PostgresServer {
            bin,
            dir,
            port: 0,
            run_as,
        };
        let mut initdb = server.command("initdb");
        initdb
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .args(["-E", "UTF8", "--locale=C"])
            .arg("-D")
            .arg(server.data_dir());
        run(initdb, "initdb");
        // the port is free when picked but may be taken before the server binds it: retry
        let mut last_log = String::new();
        for _ in 0..5 {
            server.port = crate::free_port();
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=200",
                server.port,
                server.dir.display()
            );
            let mut pg_ctl = server.command("pg_ctl");
            pg_ctl
                .args(["-w", "-t", "60", "-D"])
                .arg(server.data_dir())
                .arg("-l")
                .arg(server.log_path())
                .args(["-o", &options, "start"]);
            let output = pg_ctl.output().expect("cannot run pg_ctl");
            if output.status.success() {
                return server;
            }
            last_log = format!(
                "{}{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                std::fs::read_to_string(server.log_path()).unwrap_or_default()
            );
        }
        panic!("PostgreSQL did not start: {last_log}");
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// `program` from the binaries' directory, run as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (data in `data/`, the server log in `log`, the socket here).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of `database` on this server, as the `postgres` superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates `name` (owned by `postgres`, UTF-8).
    pub fn create_database(&self, name: &str) {
        let beside = self.bin.join("psql");
        let program = if beside.is_file() {
            Some(beside)
        } else {
            psql()
        };
        let mut psql = Command::new(program.expect("psql not found beside initdb nor on PATH"));
        psql.args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &self.url("postgres"),
            "-c",
        ])
        .arg(format!("CREATE DATABASE {}", quote_ident(name)));
        run(psql, "CREATE DATABASE");
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let mut pg_ctl = self.command("pg_ctl");
        pg_ctl
            .args(["-m", "immediate", "-D"])
            .arg(self.data_dir())
            .arg("stop");
        let _ = pg_ctl.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A database of its own for one test: `url` names it. It lives as long as this value:
/// dropping it drops the database (on a shared server) or stops the private server.
pub struct TestDatabase {
    /// `postgres://…/DATABASE`, for sqlx or psql.
    pub url: String,
    /// The database's name.
    pub name: String,
    owner: Owner,
}

enum Owner {
    /// A database on the server of `MIRA_TEST_POSTGRES_URL`, dropped through `admin_url`.
    Shared { psql: PathBuf, admin_url: String },
    /// A private server, stopped on drop.
    Private(#[allow(dead_code)] PostgresServer),
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Owner::Shared { psql, admin_url } = &self.owner {
            // WITH (FORCE) (PostgreSQL 13+) ends the connections a pool may still hold
            let _ = Command::new(psql)
                .args(["-X", "-q", "-d", admin_url, "-c"])
                .arg(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    quote_ident(&self.name)
                ))
                .output();
        }
    }
}

/// A unique database name: `mira_test_<pid>_<counter>_<time>`.
fn unique_name() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!("mira_test_{}_{n}_{time}", std::process::id())
}

/// `url` with its database (path) replaced by `database`; user, host and query kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A fresh, empty database for a test: on the server of `MIRA_TEST_POSTGRES_URL` when set,
/// else on a private [`PostgresServer`] started for it. `None` (after printing why) only when
/// no PostgreSQL binaries exist outside CI.
pub fn test_database() -> Option<TestDatabase> {
    if let Ok(server_url) = std::env::var("MIRA_TEST_POSTGRES_URL") {
        let psql = psql()
            .expect("MIRA_TEST_POSTGRES_URL is set but psql is not found (MIRA_PG_BIN, PATH)");
        let name = unique_name();
        let mut create = Command::new(&psql);
        create
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &server_url, "-c"])
            .arg(format!("CREATE DATABASE {}", quote_ident(&name)));
        run(create, "CREATE DATABASE on MIRA_TEST_POSTGRES_URL");
        return Some(TestDatabase {
            url: with_database(&server_url, &name),
            name,
            owner: Owner::Shared {
                psql,
                admin_url: server_url,
            },
        });
    }
    if !available_or_skip() {
        return None;
    }
    let server = PostgresServer::start();
    let name = "mira".to_owned();
    server.create_database(&name);
    Some(TestDatabase {
        url: server.url(&name),
        name,
        owner: Owner::Private(server),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psql_select_one(url: &str) -> String {
        let mut command = Command::new(psql().expect("psql not found"));
        command.args(["-X", "-At", "-d", url, "-c", "select 1"]);
        let output = run(command, "psql select 1");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    #[test]
    fn url_database_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:1/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
    }

    #[test]
    fn server_starts_and_serves_a_database() {
        if !available_or_skip() {
            return;
        }
        let server = PostgresServer::start();
        server.create_database("mira_unit");
        assert_eq!(psql_select_one(&server.url("mira_unit")), "1");
        let dir = server.dir().to_path_buf();
        drop(server);
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    #[test]
    fn test_database_is_usable() {
        let Some(db) = test_database() else { return };
        assert_eq!(psql_select_one(&db.url), "1");
    }
}
