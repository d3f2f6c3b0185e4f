//! Declarative provisioning: sites, AE titles and users from a TOML file
//! (`mira access apply FILE`), so that a region's set-up is reviewed and versioned like code.
//!
//! ```toml
//! [[site]]
//! code = "cc-chaoyang-01"
//! name = "Chaoyang Community Health Centre 1"
//! kind = "community"            # hospital | community | regional
//!
//! [[ae]]
//! title = "CY01_DR"
//! site = "cc-chaoyang-01"
//! all_sites = false             # true: a regional PACS that may see every site
//!
//! [[user]]
//! username = "wangli"
//! display_name = "王丽"
//! roles = ["radiologist"]
//! site = "hosp-chaoyang"
//! grants = ["cc-chaoyang-01"]   # further sites this user reads for
//! password_env = "MIRA_PASSWORD_WANGLI"   # or password_file = "/run/secrets/wangli"
//! ```
//!
//! A literal `password = "…"` is accepted for demonstrations and tests only; the command
//! warns about it.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use crate::directory::{AccessError, Directory, NewUser};
use crate::model::{Role, SiteKind};

/// The file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessFile {
    /// Sites.
    #[serde(default, rename = "site")]
    pub sites: Vec<SiteEntry>,
    /// AE titles.
    #[serde(default, rename = "ae")]
    pub ae_titles: Vec<AeEntry>,
    /// Users.
    #[serde(default, rename = "user")]
    pub users: Vec<UserEntry>,
}

/// A `[[site]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteEntry {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: SiteKind,
}

/// An `[[ae]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AeEntry {
    /// The AE title.
    pub title: String,
    /// Code of its site.
    pub site: String,
    /// Whether it may query and retrieve every site's studies.
    #[serde(default)]
    pub all_sites: bool,
    /// What it is.
    #[serde(default)]
    pub description: String,
}

/// A `[[user]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// Login name.
    pub username: String,
    /// Name shown.
    pub display_name: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Own site.
    pub site: String,
    /// Further sites.
    #[serde(default)]
    pub grants: Vec<String>,
    /// Every site.
    #[serde(default)]
    pub all_sites: bool,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (first line).
    pub password_file: Option<std::path::PathBuf>,
    /// The password itself (demonstrations and tests only).
    pub password: Option<String>,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Sites created or updated.
    pub sites: usize,
    /// AE titles registered.
    pub ae_titles: usize,
    /// Users created or updated.
    pub users: usize,
    /// Users whose password was given literally in the file.
    pub literal_passwords: Vec<String>,
}

impl AccessFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<AccessFile, AccessError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AccessError::Invalid(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| AccessError::Invalid(format!("{}: {e}", path.display())))
    }
}

/// Applies a file: sites first, then AE titles and users. Entries not in the file are left
/// as they are.
pub async fn apply(directory: &Directory, file: &AccessFile) -> Result<Applied, AccessError> {
    let mut applied = Applied::default();
    for site in &file.sites {
        directory
            .upsert_site(&site.code, &site.name, site.kind)
            .await?;
        applied.sites += 1;
    }
    for ae in &file.ae_titles {
        directory
            .upsert_ae_title(&ae.title, &ae.site, ae.all_sites, &ae.description)
            .await?;
        applied.ae_titles += 1;
    }
    for user in &file.users {
        let password = match (&user.password_env, &user.password_file, &user.password) {
            (Some(var), None, None) => std::env::var(var).map_err(|_| {
                AccessError::Invalid(format!(
                    "user {}: environment variable {var} is not set",
                    user.username
                ))
            })?,
            (None, Some(path), None) => std::fs::read_to_string(path)
                .map_err(|e| {
                    AccessError::Invalid(format!(
                        "user {}: cannot read {}: {e}",
                        user.username,
                        path.display()
                    ))
                })?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            (None, None, Some(literal)) => {
                applied.literal_passwords.push(user.username.clone());
                literal.clone()
            }
            _ => {
                return Err(AccessError::Invalid(format!(
                    "user {}: give exactly one of password_env, password_file, password",
                    user.username
                )));
            }
        };
        directory
            .upsert_user(&NewUser {
                username: user.username.clone(),
                display_name: user.display_name.clone(),
                password,
                roles: user.roles.iter().copied().collect::<BTreeSet<_>>(),
                site: user.site.clone(),
                grants: user.grants.clone(),
                all_sites: user.all_sites,
            })
            .await?;
        applied.users += 1;
    }
    Ok(applied)
}
