//! Configuration: defaults, then a TOML file, then `MIRA__SECTION__KEY` environment variables,
//! then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mira_ingest::ConflictPolicy;
use mira_net::ScpConfig;
use mira_store::Flush;
use serde::{Deserialize, Serialize};

/// Everything `mira` can be told. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the catalogue (`catalogue.sqlite`) and the blobs (`blobs/`) live; with
    /// `[database]` and `[blobs]` elsewhere, what stays on this node (staging files, the blob
    /// cache).
    pub data_dir: PathBuf,
    /// This node (`[node]`).
    pub node: NodeConfig,
    /// The catalogue database (`[database]`); default: SQLite in the data directory.
    pub database: DatabaseConfig,
    /// Where blobs are kept (`[blobs]`); default: files in the data directory.
    pub blobs: BlobsConfig,
    /// The archive.
    pub archive: ArchiveConfig,
    /// The DIMSE service provider.
    pub dimse: ScpConfig,
    /// The HTTP server.
    pub http: HttpConfig,
    /// Imaging QC of what the server stores.
    pub qc: mira_qc::worker::QcSettings,
    /// AI analysis of settled studies (`[analysis]`).
    pub analysis: mira_analysis::AnalysisSettings,
    /// Dataset release (`[datasets]`).
    pub datasets: DatasetSettings,
    /// The reading workflow (`[reading]`).
    pub reading: ReadingConfig,
}

/// `[node]`: this node among several.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's name, under which it claims QC and analysis jobs and which its logs carry;
    /// empty: the host name.
    pub name: String,
}

impl NodeConfig {
    /// The configured name, or the host name, or `mira`.
    pub fn name(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "mira".into())
    }
}

/// `[database]`: the catalogue database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` for a database several nodes share;
    /// empty: `catalogue.sqlite` in the data directory (one node).
    pub url: String,
    /// Most connections this node holds.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            max_connections: 16,
        }
    }
}

/// Where blobs are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobBackend {
    /// Files under the data directory (one node).
    #[default]
    Local,
    /// An S3-compatible object store (`[blobs.s3]`), shared by every node.
    S3,
}

/// `[blobs]`: where instance files are kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlobsConfig {
    /// `local` (default) or `s3`.
    pub backend: BlobBackend,
    /// The object store, for `backend = "s3"`.
    pub s3: mira_store::S3Settings,
}

/// `[reading]`: the reading workflow.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadingConfig {
    /// Language of pre-filled reports and finding labels: `zh-CN` (default) or `en`.
    pub language: mira_report::Language,
    /// Report time limits in minutes (`[reading.turnaround] emergency_minutes,
    /// radiograph_minutes, ct_mr_minutes, other_minutes`; clinical-rules §4.3 defaults).
    pub turnaround: mira_report::qc::TurnaroundLimits,
    /// When physicians' rejections of a model's findings count as drift
    /// (`[reading.drift] margin, z, min_reviewed`).
    pub drift: mira_eval::monitoring::DriftSettings,
}

impl ReadingConfig {
    /// The reading workflow's settings.
    pub fn settings(&self) -> mira_reading::ReadingSettings {
        mira_reading::ReadingSettings {
            language: self.language,
            turnaround: self.turnaround,
        }
    }
}

/// `[datasets]`: de-identified exports for research.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetSettings {
    /// The de-identification key (at least 32 bytes; keep it secret: it is the mapping
    /// between pseudonyms and patients). Without it, exports are refused.
    pub deid_key_file: Option<PathBuf>,
    /// Where export archives are written; default `DATA_DIR/datasets`.
    pub export_dir: Option<PathBuf>,
}

/// Archive settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// What to do with a different object under a stored SOP Instance UID:
    /// `keep-first`, `replace` or `reject`.
    pub conflict_policy: ConflictPolicy,
    /// Most instances committed in one catalogue transaction.
    pub max_batch: usize,
    /// How new files are made durable before the catalogue commits: `filesystem` (one
    /// `syncfs` per batch; the default on Linux) or `per-file` (fsync of each file and
    /// directory; for a data directory shared with other heavy writers).
    pub flush: Flush,
}

/// HTTP settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port of DICOMweb, health, readiness and metrics.
    pub listen: SocketAddr,
    /// Cross-origin access for browser viewers (`[http.cors]`); off by default.
    pub cors: mira_web::CorsConfig,
    /// DICOMweb options (`[http.dicomweb]`).
    pub dicomweb: mira_web::DicomWebConfig,
    /// HTTPS (`[http.tls] cert_file, key_file`): absent, plain HTTP (behind a TLS proxy, or
    /// on loopback only).
    pub tls: Option<mira_access::TlsFiles>,
    /// The built web UI (`npm run build` in `web/`), served at `/`; relative to the working
    /// directory. Empty: no UI.
    pub ui_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("mira-data"),
            node: NodeConfig::default(),
            database: DatabaseConfig::default(),
            blobs: BlobsConfig::default(),
            archive: ArchiveConfig::default(),
            dimse: ScpConfig::default(),
            http: HttpConfig::default(),
            qc: Default::default(),
            analysis: Default::default(),
            datasets: Default::default(),
            reading: Default::default(),
        }
    }
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            conflict_policy: ConflictPolicy::KeepFirst,
            max_batch: 64,
            flush: Flush::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8042".parse().expect("valid address"),
            cors: mira_web::CorsConfig::default(),
            dicomweb: mira_web::DicomWebConfig::default(),
            tls: None,
            ui_dir: PathBuf::from("web/dist"),
        }
    }
}

impl Config {
    /// Loads the file (if any) and overlays the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("config file {} is not valid TOML", path.display()))?
            }
            None => toml::Table::new(),
        };
        overlay_env(&mut table, std::env::vars())?;
        let config: Config = toml::Value::Table(table)
            .try_into()
            .context("invalid configuration (file and MIRA__* environment)")?;
        Ok(config)
    }
}

/// Applies `MIRA__A__B=value` as `[a] b = value`. Values are read as TOML when they parse as
/// TOML (numbers, booleans, arrays), as strings otherwise.
fn overlay_env(
    table: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<()> {
    for (name, raw) in vars {
        let Some(path) = name.strip_prefix("MIRA__") else {
            continue;
        };
        let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
        if keys.iter().any(String::is_empty) {
            bail!("environment variable {name}: empty key");
        }
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.clone()));
        let (last, parents) = keys.split_last().expect("at least one key");
        let mut cursor = &mut *table;
        for key in parents {
            let entry = cursor
                .entry(key.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            cursor = entry
                .as_table_mut()
                .with_context(|| format!("environment variable {name}: {key} is not a section"))?;
        }
        cursor.insert(last.clone(), value);
    }
    Ok(())
}

impl Config {
    /// Where the archive's catalogue and blobs are.
    pub fn location(&self) -> anyhow::Result<mira_store::Location> {
        let s3 = match self.blobs.backend {
            BlobBackend::Local => None,
            BlobBackend::S3 => {
                if self.blobs.s3.bucket.is_empty() {
                    bail!("[blobs] backend = \"s3\" needs [blobs.s3] bucket");
                }
                Some(self.blobs.s3.clone())
            }
        };
        Ok(mira_store::Location {
            database_url: Some(self.database.url.clone()).filter(|u| !u.is_empty()),
            pool: mira_store::db::PoolSettings {
                max_connections: self.database.max_connections.max(1),
            },
            s3,
        })
    }

    /// The archive's location, for messages: the data directory, or the database (without
    /// its password).
    pub fn describe_location(&self) -> String {
        if self.database.url.is_empty() {
            self.data_dir.display().to_string()
        } else {
            mira_store::db::redact(&self.database.url)
        }
    }

    /// Opens the catalogue alone (for the CLI's reports and administration). With
    /// `must_exist`, an embedded catalogue that is not there yet is an error rather than
    /// created empty.
    pub async fn open_catalogue(&self, must_exist: bool) -> anyhow::Result<mira_store::Catalogue> {
        if self.database.url.is_empty() {
            let path = self.data_dir.join("catalogue.sqlite");
            if must_exist && !path.exists() {
                bail!(
                    "no archive in {} (import or serve first)",
                    self.data_dir.display()
                );
            }
            std::fs::create_dir_all(&self.data_dir)
                .with_context(|| format!("cannot create {}", self.data_dir.display()))?;
            return mira_store::Catalogue::open(&path)
                .await
                .with_context(|| format!("cannot open {}", path.display()));
        }
        let location = self.location()?;
        mira_store::Catalogue::connect(&self.database.url, location.pool)
            .await
            .with_context(|| format!("cannot open the catalogue at {}", self.describe_location()))
    }

    /// Opens the archive this configuration names (removing what an interrupted run left) and
    /// starts the ingest pipeline on it.
    pub async fn open_ingest(&self) -> anyhow::Result<mira_ingest::Ingest> {
        let (archive, recovery) = mira_store::Archive::open_at(
            &self.data_dir,
            &self.location()?,
            self.archive.conflict_policy,
            self.archive.flush,
        )
        .await
        .with_context(|| format!("cannot open the archive in {}", self.describe_location()))?;
        tracing::info!(
            data_dir = %self.data_dir.display(),
            orphans_removed = recovery.orphans_removed,
            missing_blobs = recovery.missing_blobs.len(),
            "archive opened"
        );
        let config = mira_ingest::IngestConfig {
            max_batch: self.archive.max_batch,
            ..Default::default()
        };
        Ok(mira_ingest::Ingest::start(archive, &config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_file_values() {
        let mut table: toml::Table = "data_dir = \"/a\"\n[dimse]\nae_title = \"FILE\"\n"
            .parse()
            .unwrap();
        let vars = [
            ("MIRA__DIMSE__AE_TITLE".to_string(), "ENV".to_string()),
            ("MIRA__DIMSE__MAX_ASSOCIATIONS".to_string(), "3".to_string()),
            (
                "MIRA__ARCHIVE__CONFLICT_POLICY".to_string(),
                "reject".to_string(),
            ),
            (
                "MIRA__DIMSE__ALLOWED_CALLING_AE_TITLES".to_string(),
                "[\"CT1\", \"OP1\"]".to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        overlay_env(&mut table, vars.into_iter()).unwrap();
        let config: Config = toml::Value::Table(table).try_into().unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/a"));
        assert_eq!(config.dimse.ae_title, "ENV");
        assert_eq!(config.dimse.max_associations, 3);
        assert_eq!(config.dimse.allowed_calling_ae_titles, ["CT1", "OP1"]);
        assert_eq!(config.archive.conflict_policy, ConflictPolicy::Reject);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let table: toml::Table = "[dimse]\nae_tittle = \"X\"\n".parse().unwrap();
        let result: Result<Config, _> = toml::Value::Table(table).try_into();
        assert!(result.is_err());
    }
}
