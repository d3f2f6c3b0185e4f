//! The catalogue database: one sqlx [`AnyPool`] over SQLite (the embedded default, one file in
//! the data directory) or PostgreSQL (a region's shared database, many mira nodes).
//!
//! Every crate that keeps tables in the catalogue writes its SQL once, in the dialect both
//! engines share: `$1`-style placeholders (SQLite reads `$N` as the N-th argument), `ON
//! CONFLICT … DO UPDATE/NOTHING`, `RETURNING`, `string_agg`, `COALESCE`, `lower(…)`, and
//! timestamps as UTC RFC 3339 text with milliseconds (`2026-12-03T18:04:05.123Z`), made here
//! ([`now`], [`now_plus`]) rather than by either engine's date functions, so that the two
//! compare and sort the same way. The few places where the engines differ ask [`backend`].
//!
//! sqlx's `Any` driver is used rather than a generic `Database` parameter on every function:
//! it keeps one pool type through the code base and one SQL text per statement, at the price
//! of a row conversion and of the `Any` type set (integers, floats, text, blobs, booleans) —
//! which is all the catalogue stores.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Connection, Executor, Transaction};

use crate::StoreError;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The database engine behind a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded file (one node).
    Sqlite,
    /// A PostgreSQL server (one or many nodes).
    Postgres,
}

impl Backend {
    /// The engine a database URL names (`sqlite:` or `postgres:`/`postgresql:`).
    pub fn of_url(url: &str) -> Option<Backend> {
        let scheme = url.split(':').next()?;
        match scheme {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            _ => None,
        }
    }
}

/// The engine behind `pool`.
pub fn backend(pool: &AnyPool) -> Backend {
    match pool.connect_options().database_url.scheme() {
        "sqlite" => Backend::Sqlite,
        _ => Backend::Postgres,
    }
}

/// Settings of the connection pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections this process holds.
    pub max_connections: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings { max_connections: 8 }
    }
}

/// Opens the database at `url` and applies the migrations of its engine.
///
/// SQLite: WAL journal, `synchronous = FULL` (a committed transaction survives power loss,
/// which is what a C-STORE success promises), foreign keys on, a 30 s busy timeout; the file
/// is created if missing. PostgreSQL: the server's own durability settings; several nodes may
/// start at once, since sqlx's migrator holds an advisory lock while it migrates.
pub async fn connect(url: &str, settings: PoolSettings) -> Result<AnyPool, StoreError> {
    sqlx::any::install_default_drivers();
    let backend =
        Backend::of_url(url).ok_or_else(|| StoreError::UnsupportedDatabase { url: redact(url) })?;
    let options = AnyConnectOptions::from_str(url)?;
    let pool = AnyPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(60))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        // A connection that comes back still in a transaction is closed, not reused: a
        // COMMIT that fails (SQLITE_FULL on a full disk, a dropped server connection) leaves
        // sqlx's transaction depth set, and every later BEGIN on that connection would fail.
        .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        .connect_with(options)
        .await?;
    match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
        Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
    }
    Ok(pool)
}

/// The URL of the SQLite file at `path` (created if missing).
///
/// The path is made absolute (`sqlite:///…`: a relative `sqlite://Data/x` would read `Data` as
/// a host name, which URL parsing lower-cases) and the characters a URL gives a meaning to are
/// percent-encoded (sqlx decodes them back).
pub fn sqlite_url(path: &std::path::Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut encoded = String::new();
    for c in absolute.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' | ' ' => encoded.push_str(&format!("%{:02X}", c as u32)),
            c => encoded.push(c),
        }
    }
    let slash = if encoded.starts_with('/') { "" } else { "/" };
    format!("sqlite://{slash}{encoded}?mode=rwc")
}

/// A database URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((credentials, host)) => {
                let user = credentials.split(':').next().unwrap_or("");
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Begins a transaction that reads and then writes what other writers may write too, holding
/// `lock` until it ends.
///
/// SQLite has one writer per file: `BEGIN IMMEDIATE` takes the write lock up front (waiting
/// out the busy timeout), where a deferred transaction that reads and then writes would fail
/// with `SQLITE_BUSY` when another connection wrote in between. PostgreSQL has row locks and
/// many writers: the transaction takes a transaction-scoped advisory lock named `lock`, so
/// that writers of the same thing (the audit chain's tail, a report being signed) queue, on
/// every node, while other writers go on.
pub async fn begin_write(
    pool: &AnyPool,
    lock: &str,
) -> Result<Transaction<'static, Any>, sqlx::Error> {
    match backend(pool) {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
                .bind(lock_key(lock))
                .execute(&mut *tx)
                .await?;
            Ok(tx)
        }
    }
}

/// Begins a transaction that only needs its own rows (PostgreSQL: row locks suffice).
pub async fn begin(pool: &AnyPool) -> Result<Transaction<'static, Any>, sqlx::Error> {
    match backend(pool) {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
}

/// A stable 64-bit advisory lock key for a name (FNV-1a: the same on every node and release).
fn lock_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

/// Whether a failed statement is worth running again as a whole: a deadlock or a
/// serialization failure between nodes (PostgreSQL 40P01, 40001), or a busy SQLite file.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("40P01" | "40001" | "5" | "6"))
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => true,
        _ => false,
    }
}

/// The current time as the catalogue stores it: UTC, RFC 3339, milliseconds, `Z`.
pub fn now() -> String {
    format_time(time::OffsetDateTime::now_utc())
}

/// [`now`] plus `secs` seconds.
pub fn now_plus(secs: u64) -> String {
    format_time(
        time::OffsetDateTime::now_utc() + time::Duration::seconds(secs.min(i64::MAX as u64) as i64),
    )
}

/// [`now`] minus `secs` seconds.
pub fn now_minus(secs: u64) -> String {
    format_time(
        time::OffsetDateTime::now_utc() - time::Duration::seconds(secs.min(i64::MAX as u64) as i64),
    )
}

fn format_time(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// An optional `DOUBLE PRECISION` value to bind: use it instead of `Option<f64>`.
///
/// sqlx 0.9's `Any` driver sends a NULL `f64` to PostgreSQL as a NULL `float4` (its
/// `AnyArguments::convert_into` maps `Null(Double)` to `Option<f32>` and `Null(Real)` to
/// `Option<f64>`), so a statement a connection first prepared with a NULL there gets `float4`
/// for that parameter, and a later non-NULL `float8` on the same connection fails with
/// "incorrect binary data format in bind parameter". This sends a NULL as `Null(Real)`, which
/// the driver turns into a NULL `float8`: the same type whether or not there is a value.
/// (SQLite takes a NULL as a NULL either way.)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Float(pub Option<f64>);

impl sqlx::Type<Any> for Float {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <f64 as sqlx::Type<Any>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, Any> for Float {
    fn encode_by_ref(
        &self,
        buf: &mut <Any as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self.0 {
            Some(value) => <f64 as sqlx::Encode<'q, Any>>::encode_by_ref(&value, buf),
            // a NULL `f32` is `Null(Real)`, which the driver sends as a NULL `float8`
            None => <Option<f32> as sqlx::Encode<'q, Any>>::encode_by_ref(&None, buf),
        }
    }
}

/// Builds a statement with numbered `$N` placeholders, which both engines read. (sqlx's
/// `QueryBuilder` writes the placeholder of its database type, and `Any`'s is `?`, which
/// PostgreSQL does not accept.)
#[derive(Default)]
pub struct SqlBuilder {
    sql: String,
    arguments: sqlx::any::AnyArguments,
    count: usize,
}

impl SqlBuilder {
    /// Starts with `sql`.
    pub fn new(sql: impl Into<String>) -> Self {
        SqlBuilder {
            sql: sql.into(),
            ..Default::default()
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: impl std::fmt::Display) -> &mut Self {
        use std::fmt::Write;
        let _ = write!(self.sql, "{sql}");
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: for<'q> sqlx::Encode<'q, Any> + sqlx::Type<Any> + Send + 'static,
    {
        use sqlx::Arguments;
        self.count += 1;
        // encoding into Any's argument buffer cannot fail for the types Any supports
        let _ = self.arguments.add(value);
        let n = self.count;
        self.push(format_args!("${n}"))
    }

    /// The SQL so far.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The finished statement.
    pub fn build(self) -> sqlx::query::Query<'static, Any, sqlx::any::AnyArguments> {
        sqlx::query_with(sqlx::AssertSqlSafe(self.sql), self.arguments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_engine_and_lose_their_password_in_logs() {
        assert_eq!(
            Backend::of_url("sqlite:///x?mode=rwc"),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::of_url("postgres://u:p@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::of_url("postgresql://h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("mysql://h/db"), None);
        assert_eq!(
            redact("postgres://mira:s3cret@db:5432/mira"),
            "postgres://mira:***@db:5432/mira"
        );
        assert_eq!(redact("postgres://db/mira"), "postgres://db/mira");
    }

    #[tokio::test]
    async fn sqlite_files_open_at_their_own_path_whatever_its_characters() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("Data Dir%20#1?x");
        std::fs::create_dir_all(&odd).unwrap();
        let file = odd.join("catalogue.sqlite");
        let pool = connect(&sqlite_url(&file), PoolSettings::default())
            .await
            .unwrap();
        pool.close().await;
        assert!(file.is_file(), "{}", sqlite_url(&file));
        // a relative path keeps its case (not read as a host name)
        let url = sqlite_url(std::path::Path::new("Upper/catalogue.sqlite"));
        assert!(
            url.starts_with("sqlite:///") && url.contains("/Upper/catalogue.sqlite"),
            "{url}"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let t = now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T' && t.as_bytes()[19] == b'.');
        assert!(now_plus(60) > t && now_minus(60) < t);
    }

    #[test]
    fn lock_keys_are_stable() {
        assert_eq!(lock_key("audit"), lock_key("audit"));
        assert_ne!(lock_key("audit"), lock_key("reading"));
    }
}
