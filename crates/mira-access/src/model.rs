//! Roles, permissions and principals: who may do what, and on which sites' studies.
//!
//! The permission matrix (least privilege: an administrator manages accounts but reads no
//! images; a researcher gets only de-identified datasets a data steward released):
//!
//! | Permission | admin | radiologist | technologist | qc-officer | data-steward | researcher | DICOM device |
//! |---|---|---|---|---|---|---|---|
//! | `query` (QIDO-RS, C-FIND, worklist) | | ✓ | ✓ | ✓ | ✓ | | ✓ |
//! | `retrieve` (WADO-RS, rendered, C-MOVE, C-GET) | | ✓ | ✓ | ✓ | ✓ | | ✓ |
//! | `store` (STOW-RS, C-STORE) | | | ✓ | | | | ✓ |
//! | `read-qc` (QC results and indicators) | | ✓ | ✓ | ✓ | | | |
//! | `read-analysis` (AI results) | | ✓ | ✓ | ✓ | | | |
//! | `sign` (reports) | | ✓ | | | | | |
//! | `manage-access` (users, sites, AE titles) | ✓ | | | | | | |
//! | `read-audit` | ✓ | | | | | | |
//! | `manage-jobs` (the analysis queue) | ✓ | | | | | | |
//! | `release-datasets` (approve, de-identify, export) | | | | | ✓ | | |
//! | `request-datasets` | | | | | | ✓ | |
//!
//! Every permission that touches patient data is further limited to the principal's sites:
//! its own site, the sites it was granted, or every site for a regional grant.

use std::collections::BTreeSet;

use mira_store::SiteFilter;
use serde::{Deserialize, Serialize};

/// A role a user holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Manages users, sites and AE titles; reads the audit log; sees no patient data.
    Admin,
    /// Reads studies, reviews AI findings and signs reports.
    Radiologist,
    /// Acquires and sends studies; sees its site's studies and their QC.
    Technologist,
    /// Reads QC results and indicators.
    QcOfficer,
    /// Approves and releases de-identified datasets.
    DataSteward,
    /// Requests de-identified datasets; sees no identifiable data.
    Researcher,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Radiologist,
        Role::Technologist,
        Role::QcOfficer,
        Role::DataSteward,
        Role::Researcher,
    ];

    /// The name stored and shown (`qc-officer`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Radiologist => "radiologist",
            Role::Technologist => "technologist",
            Role::QcOfficer => "qc-officer",
            Role::DataSteward => "data-steward",
            Role::Researcher => "researcher",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// What the role may do (the matrix in this module's documentation).
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => &[ManageAccess, ReadAudit, ManageJobs],
            Role::Radiologist => &[Query, Retrieve, ReadQc, ReadAnalysis, Sign],
            Role::Technologist => &[Query, Retrieve, Store, ReadQc, ReadAnalysis],
            Role::QcOfficer => &[Query, Retrieve, ReadQc, ReadAnalysis],
            Role::DataSteward => &[Query, Retrieve, ReleaseDatasets],
            Role::Researcher => &[RequestDatasets],
        }
    }
}

/// Something a principal may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// Find studies (QIDO-RS, C-FIND, the worklist).
    Query,
    /// Read instances (WADO-RS, rendered images, C-MOVE, C-GET).
    Retrieve,
    /// Send instances (STOW-RS, C-STORE).
    Store,
    /// Read QC results and indicators.
    ReadQc,
    /// Read AI results.
    ReadAnalysis,
    /// Sign reports.
    Sign,
    /// Manage users, sites and AE titles.
    ManageAccess,
    /// Read and export the audit log.
    ReadAudit,
    /// See and manage the analysis job queue.
    ManageJobs,
    /// Approve, de-identify and export datasets.
    ReleaseDatasets,
    /// Request datasets.
    RequestDatasets,
}

/// The permissions of a DICOM application entity of a site (a modality, a PACS).
pub const DEVICE_PERMISSIONS: &[Permission] =
    &[Permission::Query, Permission::Retrieve, Permission::Store];

/// A site, as principals refer to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteRef {
    /// `sites.id`.
    pub id: i64,
    /// The site's code.
    pub code: String,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Identity {
    /// A person with an account.
    User {
        /// `users.id`.
        id: i64,
        /// Login name.
        username: String,
    },
    /// A DICOM application entity.
    Device {
        /// Its calling AE title.
        ae_title: String,
    },
}

/// An authenticated caller: identity, roles, permissions and the sites whose studies it sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// Who.
    pub identity: Identity,
    /// Roles (none for a device).
    pub roles: BTreeSet<Role>,
    /// What it may do.
    pub permissions: BTreeSet<Permission>,
    /// The site it belongs to.
    pub site: SiteRef,
    /// The sites whose studies it sees.
    pub scope: SiteFilter,
}

impl Principal {
    /// Whether the principal holds `permission`.
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// Whether a study of `site_pk` is within the principal's sites.
    pub fn sees(&self, site_pk: Option<i64>) -> bool {
        self.scope.allows(site_pk)
    }

    /// A name for the audit log and logs: the username or the AE title (staff and devices,
    /// never patients).
    pub fn name(&self) -> &str {
        match &self.identity {
            Identity::User { username, .. } => username,
            Identity::Device { ae_title } => ae_title,
        }
    }

    /// The user's id, for a person.
    pub fn user_id(&self) -> Option<i64> {
        match self.identity {
            Identity::User { id, .. } => Some(id),
            Identity::Device { .. } => None,
        }
    }
}

/// Kind of a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SiteKind {
    /// A secondary or tertiary hospital.
    Hospital,
    /// A community health centre.
    Community,
    /// The regional platform itself (regional readers, QC officers, data stewards).
    Regional,
}

impl SiteKind {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteKind::Hospital => "hospital",
            SiteKind::Community => "community",
            SiteKind::Regional => "regional",
        }
    }
}
