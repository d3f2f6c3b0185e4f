//! What an audit record says: who did what to which object, from where, with what outcome.

use serde::{Deserialize, Serialize};

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum Actor {
    /// A person logged in to mira (user name).
    User(String),
    /// A DICOM application entity (calling AE title).
    AeTitle(String),
    /// mira itself (a worker, a scheduled job).
    System(String),
}

impl Actor {
    /// The kind as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::AeTitle(_) => "ae-title",
            Actor::System(_) => "system",
        }
    }

    /// The identifier as stored.
    pub fn id(&self) -> &str {
        match self {
            Actor::User(id) | Actor::AeTitle(id) | Actor::System(id) => id,
        }
    }

    pub(crate) fn from_parts(kind: &str, id: String) -> Actor {
        match kind {
            "user" => Actor::User(id),
            "ae-title" => Actor::AeTitle(id),
            _ => Actor::System(id),
        }
    }
}

/// What was done. Each maps to a DICOM audit EventID (DCM) in [`crate::atna`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuditAction {
    /// A query (C-FIND, QIDO-RS, a search in the UI): 110112 Query.
    Query,
    /// Patient-level information was read (a patient list, a patient's studies):
    /// 110110 Patient Record.
    PatientRecord,
    /// Images or reports were viewed (WADO rendered, the viewer): 110103 DICOM Instances
    /// Accessed.
    View,
    /// Instances were sent (C-MOVE, C-GET, WADO-RS): 110104 DICOM Instances Transferred.
    Retrieve,
    /// Instances were received and stored (C-STORE, STOW-RS, import): 110104, action C.
    Store,
    /// Data left the archive (a download, a dataset release): 110106 Export.
    Export,
    /// A report was signed: 110103, action U.
    Sign,
    /// Instances were de-identified: 110103, action C (new, de-identified instances).
    #[serde(rename = "de-identify")]
    Deidentify,
    /// A successful login: 110114 User Authentication (type 110122 Login).
    Login,
    /// A failed login: 110114 User Authentication (type 110122 Login), outcome failure.
    FailedLogin,
    /// A logout: 110114 User Authentication (type 110123 Logout).
    Logout,
    /// Users, roles or grants changed: 110136 Security Roles Changed.
    PermissionChange,
    /// A step of a dataset release (request, decision, feedback): 110106 Export, action E
    /// (the release is an export under way; the download itself is [`Export`](Self::Export)).
    DatasetRelease,
}

impl AuditAction {
    /// The name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Query => "query",
            AuditAction::PatientRecord => "patient-record",
            AuditAction::View => "view",
            AuditAction::Retrieve => "retrieve",
            AuditAction::Store => "store",
            AuditAction::Export => "export",
            AuditAction::Sign => "sign",
            AuditAction::Deidentify => "de-identify",
            AuditAction::Login => "login",
            AuditAction::FailedLogin => "failed-login",
            AuditAction::Logout => "logout",
            AuditAction::PermissionChange => "permission-change",
            AuditAction::DatasetRelease => "dataset-release",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<AuditAction> {
        ALL_ACTIONS.iter().copied().find(|a| a.as_str() == name)
    }
}

const ALL_ACTIONS: [AuditAction; 13] = [
    AuditAction::Query,
    AuditAction::PatientRecord,
    AuditAction::View,
    AuditAction::Retrieve,
    AuditAction::Store,
    AuditAction::Export,
    AuditAction::Sign,
    AuditAction::Deidentify,
    AuditAction::Login,
    AuditAction::FailedLogin,
    AuditAction::Logout,
    AuditAction::PermissionChange,
    AuditAction::DatasetRelease,
];

/// What was acted on. Never a patient's name or ID in clear: a patient is a keyed
/// pseudonym ([`PatientPseudonym`]), imaging data is named by its UIDs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuditObject {
    /// No object (a login).
    None,
    /// A study, by Study Instance UID.
    Study(String),
    /// A series, by Series Instance UID.
    Series(String),
    /// A patient, by keyed pseudonym.
    Patient(PatientPseudonym),
    /// A mira user account (login, permission change), by user name.
    User(String),
    /// A released dataset, by its identifier.
    Dataset(String),
    /// A query, by the SOP Class UID of its information model (the keys are not recorded:
    /// they can hold names).
    Query(String),
}

impl AuditObject {
    /// The kind as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            AuditObject::None => "none",
            AuditObject::Study(_) => "study",
            AuditObject::Series(_) => "series",
            AuditObject::Patient(_) => "patient",
            AuditObject::User(_) => "user",
            AuditObject::Dataset(_) => "dataset",
            AuditObject::Query(_) => "query",
        }
    }

    /// The identifier as stored.
    pub fn id(&self) -> &str {
        match self {
            AuditObject::None => "",
            AuditObject::Patient(p) => &p.0,
            AuditObject::Study(id)
            | AuditObject::Series(id)
            | AuditObject::User(id)
            | AuditObject::Dataset(id)
            | AuditObject::Query(id) => id,
        }
    }

    pub(crate) fn from_parts(kind: &str, id: String) -> AuditObject {
        match kind {
            "study" => AuditObject::Study(id),
            "series" => AuditObject::Series(id),
            "patient" => AuditObject::Patient(PatientPseudonym(id)),
            "user" => AuditObject::User(id),
            "dataset" => AuditObject::Dataset(id),
            "query" => AuditObject::Query(id),
            _ => AuditObject::None,
        }
    }
}

/// A patient named by HMAC-SHA256(key, patient ID): stable for the key, meaningless without
/// it. The only way to build one from a patient ID is [`PatientPseudonym::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientPseudonym(String);

impl PatientPseudonym {
    /// The pseudonym of `patient_id` (with its issuer) under `key`.
    pub fn new(key: &[u8], patient_id: &str, issuer: &str) -> PatientPseudonym {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
        mac.update(b"audit-patient\0");
        mac.update(issuer.trim().as_bytes());
        mac.update(b"\0");
        mac.update(patient_id.trim().as_bytes());
        PatientPseudonym(format!(
            "patient:{}",
            hex::encode(&mac.finalize().into_bytes()[..16])
        ))
    }

    /// The pseudonym's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused by access control (a 403, a refused association).
    Denied,
    /// Attempted and failed.
    Failure,
}

impl Outcome {
    /// The name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }

    pub(crate) fn parse(name: &str) -> Outcome {
        match name {
            "success" => Outcome::Success,
            "denied" => Outcome::Denied,
            _ => Outcome::Failure,
        }
    }
}

/// One event to record. The log adds the time, the sequence number and the hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Who acted.
    pub actor: Actor,
    /// The site (institution) on whose behalf, or whose data.
    pub site: String,
    /// What was done.
    pub action: AuditAction,
    /// To what.
    pub object: AuditObject,
    /// How it ended.
    pub outcome: Outcome,
    /// The peer's network address (IP, or host:port), empty when local.
    pub source_address: String,
    /// A short description without patient data (query level and the names of the keys
    /// used, a refusal's reason, the number of instances).
    pub detail: String,
}

/// A stored record: the event, where it stands in the chain, and its hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// 1, 2, 3 … without gaps.
    pub seq: u64,
    /// RFC 3339 UTC, microseconds.
    pub recorded_at: String,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// SHA-256 (hex) of the previous record's canonical bytes; 64 zeros for the first.
    pub prev_hash: String,
    /// SHA-256 (hex) of this record's canonical bytes.
    pub hash: String,
}
