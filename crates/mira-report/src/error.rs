//! The crate's error type.

use std::path::PathBuf;

/// What went wrong while exporting a report. Report QC never fails: its problems are
/// [`crate::qc::QcIssue`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// None of the candidate CJK fonts exists or could be read.
    #[error(
        "no CJK font found (tried {tried:?}); install fonts-wqy-zenhei or fonts-noto-cjk, or give a font path"
    )]
    FontNotFound {
        /// The paths tried, in order.
        tried: Vec<PathBuf>,
    },
    /// A font file was read but could not be parsed as TrueType/OpenType.
    #[error("font {path:?} is not a usable TrueType/OpenType font")]
    FontParse {
        /// The font file.
        path: PathBuf,
    },
    /// The font could not be subset to the report's characters.
    #[error("font {path:?} could not be subset: {reason}")]
    FontSubset {
        /// The font file.
        path: PathBuf,
        /// What the subsetter said.
        reason: String,
    },
    /// A timestamp is not RFC 3339.
    #[error("{field} is not an RFC 3339 timestamp: {value:?}")]
    InvalidTimestamp {
        /// Which timestamp.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// The DICOM SR writer refused the report.
    #[error("DICOM SR")]
    Sr(#[from] mira_sr::SrError),
}
