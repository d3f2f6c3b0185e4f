//! Identity and access: sites (institutions), users and their roles, what each role may do,
//! which sites' studies each principal sees, and how callers prove who they are.
//!
//! - [`model`]: [`Role`], [`Permission`] and the permission matrix, [`Principal`] (a user or
//!   a DICOM device, with its permissions and its site scope).
//! - [`directory`]: [`Directory`], the tables in the catalogue database: Argon2id password
//!   hashes, session and API tokens (only their SHA-256 is stored), AE titles of sites.
//! - [`provision`]: a TOML file of sites, AE titles and users applied in one go.
//! - [`tls`]: rustls server configurations for the HTTP and DICOM edges, from PEM files.
//!
//! Site isolation itself is enforced where data is read: every query and retrieve takes the
//! principal's [`mira_store::SiteFilter`] into its SQL, and checks by study UID use
//! [`Principal::sees`]. This crate knows nothing of HTTP or DIMSE; `mira-web` turns bearer
//! tokens into principals and `mira-net` turns calling AE titles into principals.
//!
//! # Invariants
//! - A principal has no permission its roles (or, for a device, [`model::DEVICE_PERMISSIONS`])
//!   do not give.
//! - A study with no site is visible only to principals granted every site.
//! - Failed logins do not reveal whether the username exists.
#![warn(missing_docs)]

pub mod directory;
pub mod model;
pub mod provision;
pub mod tls;

pub use directory::{
    AccessError, AeSummary, Directory, NewUser, SiteSummary, TokenKind, UserSummary,
};
pub use model::{Identity, Permission, Principal, Role, SiteKind, SiteRef};
pub use provision::{AccessFile, apply};
pub use tls::{TlsError, TlsFiles};
