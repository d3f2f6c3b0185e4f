//! The directory: sites, users, credentials and AE titles in the catalogue database.
//!
//! Passwords are hashed with Argon2id (RFC 9106, the `argon2` crate's defaults: 19 MiB,
//! 2 passes, as OWASP recommends). Tokens are 256 random bits; only their SHA-256 is stored,
//! so a copy of the database yields no usable token (a fast hash suffices for a random secret
//! of that size, unlike for a password).

use std::collections::BTreeSet;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use mira_store::SiteFilter;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};

use crate::model::{DEVICE_PERMISSIONS, Identity, Permission, Principal, Role, SiteKind, SiteRef};

/// Why a request for access failed.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Unknown user, wrong password or inactive account (deliberately not told apart).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// A token that is unknown, expired or revoked.
    #[error("invalid or expired token")]
    InvalidToken,
    /// A site code that does not exist.
    #[error("no site with code {0:?}")]
    UnknownSite(String),
    /// A user that does not exist.
    #[error("no user {0:?}")]
    UnknownUser(String),
    /// A value that cannot be accepted.
    #[error("{0}")]
    Invalid(String),
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The database failed.
    #[error("directory: {0}")]
    Database(#[from] sqlx::Error),
}

/// Kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Issued at login; short-lived.
    Session,
    /// Issued to scripts and integrations; long-lived, labelled, revocable.
    Api,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
        }
    }
}

/// A user to create or update.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Name shown (in reports, the audit log).
    pub display_name: String,
    /// Password in clear (hashed here, never stored).
    pub password: String,
    /// Roles.
    pub roles: BTreeSet<Role>,
    /// Code of the user's own site.
    pub site: String,
    /// Codes of further sites the user may see.
    pub grants: Vec<String>,
    /// Whether the user may see every site (a regional grant).
    pub all_sites: bool,
}

/// A user as administrators see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserSummary {
    /// Login name.
    pub username: String,
    /// Name shown.
    pub display_name: String,
    /// Own site's code.
    pub site: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Further sites' codes.
    pub grants: Vec<String>,
    /// Every site.
    pub all_sites: bool,
    /// Whether the account can log in.
    pub active: bool,
}

/// A site as administrators see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SiteSummary {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// `hospital`, `community` or `regional`.
    pub kind: String,
}

/// A registered AE title.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AeSummary {
    /// The AE title.
    pub ae_title: String,
    /// Its site's code.
    pub site: String,
    /// Whether it sees every site.
    pub all_sites: bool,
    /// What it is.
    pub description: String,
}

/// Minimum password length (NIST SP 800-63B §5.1.1.2 asks for at least 8).
pub const MIN_PASSWORD_LEN: usize = 10;

/// Handle on the directory. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Directory {
    pool: AnyPool,
}

impl Directory {
    /// The directory in the catalogue database behind `pool` (migrated by `mira-store`).
    pub fn new(pool: AnyPool) -> Self {
        Directory { pool }
    }

    /// Creates a site, or updates its name and kind. Returns its id.
    pub async fn upsert_site(
        &self,
        code: &str,
        name: &str,
        kind: SiteKind,
    ) -> Result<i64, AccessError> {
        let code = code.trim();
        if code.is_empty() || code.len() > 64 {
            return Err(AccessError::Invalid(
                "a site code has 1 to 64 characters".into(),
            ));
        }
        Ok(sqlx::query_scalar(
            "INSERT INTO sites (code, name, kind) VALUES ($1, $2, $3)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind
             RETURNING id",
        )
        .bind(code)
        .bind(name)
        .bind(kind.as_str())
        .fetch_one(&self.pool)
        .await?)
    }

    /// The id of the site `code`.
    pub async fn site_id(&self, code: &str) -> Result<i64, AccessError> {
        sqlx::query_scalar("SELECT id FROM sites WHERE code = $1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| AccessError::UnknownSite(code.to_string()))
    }

    /// Registers (or moves) a DICOM AE title to a site. `all_sites`: a regional system that
    /// may query and retrieve every site's studies.
    pub async fn upsert_ae_title(
        &self,
        ae_title: &str,
        site: &str,
        all_sites: bool,
        description: &str,
    ) -> Result<(), AccessError> {
        let ae = ae_title.trim();
        if ae.is_empty() || ae.len() > 16 || ae.contains('\\') || !ae.is_ascii() {
            return Err(AccessError::Invalid(format!(
                "{ae_title:?} is not an AE title (1 to 16 ASCII characters, no backslash)"
            )));
        }
        let site_pk = self.site_id(site).await?;
        sqlx::query(
            "INSERT INTO ae_titles (ae_title, site_pk, all_sites, description) VALUES ($1, $2, $3, $4)
             ON CONFLICT (ae_title) DO UPDATE SET site_pk = excluded.site_pk,
                all_sites = excluded.all_sites, description = excluded.description",
        )
        .bind(ae)
        .bind(site_pk)
        .bind(i64::from(all_sites))
        .bind(description)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Creates a user, or replaces an existing user's name, password, roles, site and grants.
    pub async fn upsert_user(&self, user: &NewUser) -> Result<i64, AccessError> {
        let username = user.username.trim();
        if username.is_empty() || username.len() > 64 || username.contains(char::is_whitespace) {
            return Err(AccessError::Invalid(
                "a username has 1 to 64 characters and no spaces".into(),
            ));
        }
        if user.password.chars().count() < MIN_PASSWORD_LEN {
            return Err(AccessError::Invalid(format!(
                "a password has at least {MIN_PASSWORD_LEN} characters"
            )));
        }
        if user.roles.is_empty() {
            return Err(AccessError::Invalid(
                "a user needs at least one role".into(),
            ));
        }
        let hash = hash_password(&user.password)?;
        let site_pk = self.site_id(&user.site).await?;
        let mut grants = Vec::new();
        for code in &user.grants {
            grants.push(self.site_id(code).await?);
        }
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, display_name, password_hash, site_pk, all_sites)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (username) DO UPDATE SET display_name = excluded.display_name,
                password_hash = excluded.password_hash, site_pk = excluded.site_pk,
                all_sites = excluded.all_sites, active = 1,
                updated_at = excluded.updated_at
             RETURNING id",
        )
        .bind(username)
        .bind(&user.display_name)
        .bind(&hash)
        .bind(site_pk)
        .bind(i64::from(user.all_sites))
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM user_roles WHERE user_pk = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for role in &user.roles {
            sqlx::query("INSERT INTO user_roles (user_pk, role) VALUES ($1, $2)")
                .bind(id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM user_site_grants WHERE user_pk = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for site in grants {
            sqlx::query("INSERT INTO user_site_grants (user_pk, site_pk) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(site)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Every user with roles, site and grants (no hashes), by username.
    pub async fn users(&self) -> Result<Vec<UserSummary>, AccessError> {
        let rows = sqlx::query(
            "SELECT u.id, u.username, u.display_name, s.code, u.all_sites, u.active,
                    (SELECT string_agg(role, ',') FROM user_roles r WHERE r.user_pk = u.id),
                    (SELECT string_agg(g.code, ',') FROM user_site_grants x
                     JOIN sites g ON g.id = x.site_pk WHERE x.user_pk = u.id)
             FROM users u JOIN sites s ON s.id = u.site_pk ORDER BY u.username",
        )
        .fetch_all(&self.pool)
        .await?;
        let split = |text: Option<String>| -> Vec<String> {
            let mut items: Vec<String> = text
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            items.sort();
            items
        };
        Ok(rows
            .into_iter()
            .map(|r| UserSummary {
                username: r.get(1),
                display_name: r.get(2),
                site: r.get(3),
                all_sites: r.get::<i64, _>(4) != 0,
                active: r.get::<i64, _>(5) != 0,
                roles: split(r.get(6)),
                grants: split(r.get(7)),
            })
            .collect())
    }

    /// Every site.
    pub async fn sites(&self) -> Result<Vec<SiteSummary>, AccessError> {
        let rows = sqlx::query("SELECT code, name, kind FROM sites ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| SiteSummary {
                code: r.get(0),
                name: r.get(1),
                kind: r.get(2),
            })
            .collect())
    }

    /// Every registered AE title.
    pub async fn ae_titles(&self) -> Result<Vec<AeSummary>, AccessError> {
        let rows = sqlx::query(
            "SELECT a.ae_title, s.code, a.all_sites, a.description FROM ae_titles a
             JOIN sites s ON s.id = a.site_pk ORDER BY a.ae_title",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AeSummary {
                ae_title: r.get(0),
                site: r.get(1),
                all_sites: r.get(2),
                description: r.get(3),
            })
            .collect())
    }

    /// Deactivates a user and revokes every credential of theirs.
    pub async fn deactivate_user(&self, username: &str) -> Result<(), AccessError> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> =
            sqlx::query_scalar("UPDATE users SET active = 0 WHERE username = $1 RETURNING id")
                .bind(username)
                .fetch_optional(&mut *tx)
                .await?;
        let id = id.ok_or_else(|| AccessError::UnknownUser(username.to_string()))?;
        sqlx::query("UPDATE credentials SET revoked = 1 WHERE user_pk = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks a username and password. Unknown users cost as much as wrong passwords, so
    /// that timing does not tell which usernames exist.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Principal, AccessError> {
        let row =
            sqlx::query("SELECT id, password_hash FROM users WHERE username = $1 AND active = 1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        let (id, hash) = match row {
            Some(row) => (Some(row.get::<i64, _>(0)), row.get::<String, _>(1)),
            None => (None, dummy_hash().to_string()),
        };
        let password = password.to_string();
        // Argon2 takes tens of milliseconds of CPU: off the async workers
        let verified = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
            .await
            .unwrap_or(false);
        match (id, verified) {
            (Some(id), true) => self.principal_for_user(id).await,
            _ => Err(AccessError::InvalidCredentials),
        }
    }

    /// Issues a token for a user, valid for `ttl_secs`. The token is returned once, here.
    pub async fn issue_token(
        &self,
        user_id: i64,
        kind: TokenKind,
        label: &str,
        ttl_secs: u64,
    ) -> Result<String, AccessError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| AccessError::Hash(format!("no randomness: {e}")))?;
        let token = format!(
            "mira_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        sqlx::query(
            "INSERT INTO credentials (token_sha256, user_pk, kind, label, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_digest(&token))
        .bind(user_id)
        .bind(kind.as_str())
        .bind(label)
        .bind(mira_store::db::now_plus(ttl_secs))
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// Issues a token for `username` (the CLI's `mira token create`).
    pub async fn issue_token_for(
        &self,
        username: &str,
        kind: TokenKind,
        label: &str,
        ttl_secs: u64,
    ) -> Result<String, AccessError> {
        let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = $1 AND active = 1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| AccessError::UnknownUser(username.to_string()))?;
        self.issue_token(id, kind, label, ttl_secs).await
    }

    /// The principal a token stands for.
    pub async fn principal_for_token(&self, token: &str) -> Result<Principal, AccessError> {
        let user: Option<i64> = sqlx::query_scalar(
            "SELECT c.user_pk FROM credentials c JOIN users u ON u.id = c.user_pk
             WHERE c.token_sha256 = $1 AND c.revoked = 0 AND u.active = 1
               AND c.expires_at > $2",
        )
        .bind(token_digest(token))
        .bind(mira_store::db::now())
        .fetch_optional(&self.pool)
        .await?;
        match user {
            Some(id) => self.principal_for_user(id).await,
            None => Err(AccessError::InvalidToken),
        }
    }

    /// Revokes a token (logout). Revoking an unknown token is not an error.
    pub async fn revoke_token(&self, token: &str) -> Result<(), AccessError> {
        sqlx::query("UPDATE credentials SET revoked = 1 WHERE token_sha256 = $1")
            .bind(token_digest(token))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The principal of a calling AE title, or `None` when the AE title is not registered.
    pub async fn principal_for_ae(&self, ae_title: &str) -> Result<Option<Principal>, AccessError> {
        let row = sqlx::query(
            "SELECT a.site_pk, s.code, a.all_sites FROM ae_titles a JOIN sites s ON s.id = a.site_pk
             WHERE a.ae_title = $1",
        )
        .bind(ae_title.trim())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| {
            let site = SiteRef {
                id: row.get(0),
                code: row.get(1),
            };
            let all = row.get::<i64, _>(2) != 0;
            Principal {
                identity: Identity::Device {
                    ae_title: ae_title.trim().to_string(),
                },
                roles: BTreeSet::new(),
                permissions: DEVICE_PERMISSIONS.iter().copied().collect(),
                scope: if all {
                    SiteFilter::All
                } else {
                    SiteFilter::Only(vec![site.id])
                },
                site,
            }
        }))
    }

    /// Every registered AE title and its principal (the DIMSE edge keeps a snapshot, because
    /// the association's access check cannot wait on the database).
    pub async fn device_principals(
        &self,
    ) -> Result<std::collections::HashMap<String, Principal>, AccessError> {
        let titles: Vec<String> = sqlx::query_scalar("SELECT ae_title FROM ae_titles")
            .fetch_all(&self.pool)
            .await?;
        let mut out = std::collections::HashMap::with_capacity(titles.len());
        for title in titles {
            if let Some(p) = self.principal_for_ae(&title).await? {
                out.insert(title, p);
            }
        }
        Ok(out)
    }

    async fn principal_for_user(&self, id: i64) -> Result<Principal, AccessError> {
        let row = sqlx::query(
            "SELECT u.username, u.site_pk, s.code, u.all_sites FROM users u
             JOIN sites s ON s.id = u.site_pk WHERE u.id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let roles: BTreeSet<Role> =
            sqlx::query_scalar::<_, String>("SELECT role FROM user_roles WHERE user_pk = $1")
                .bind(id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .filter_map(|r| Role::parse(r))
                .collect();
        let permissions: BTreeSet<Permission> = roles
            .iter()
            .flat_map(|r| r.permissions().iter().copied())
            .collect();
        let site = SiteRef {
            id: row.get(1),
            code: row.get(2),
        };
        let all = row.get::<i64, _>(3) != 0;
        let scope = if all {
            SiteFilter::All
        } else {
            let mut ids: Vec<i64> =
                sqlx::query_scalar("SELECT site_pk FROM user_site_grants WHERE user_pk = $1")
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
            ids.push(site.id);
            ids.sort_unstable();
            ids.dedup();
            SiteFilter::Only(ids)
        };
        Ok(Principal {
            identity: Identity::User {
                id,
                username: row.get(0),
            },
            roles,
            permissions,
            site,
            scope,
        })
    }
}

fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Argon2id PHC string of `password` with a random salt.
pub fn hash_password(password: &str) -> Result<String, AccessError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AccessError::Hash(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccessError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccessError::Hash(e.to_string()))
}

fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist (same cost as a real one).
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default())
}
