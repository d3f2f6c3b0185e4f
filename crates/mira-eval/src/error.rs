//! Typed errors: one enum per concern, one variant per reason.

use std::path::PathBuf;

/// Input that cannot be read: a CSV, JSON or TOML file, a dataset, a gate file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of a CSV file is malformed.
    #[error("{path}, line {line}: {reason}")]
    Line {
        /// The file.
        path: PathBuf,
        /// Its line, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A whole file is malformed (JSON or TOML syntax, a missing column, an empty file).
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The inputs are each well formed but do not fit together (e.g. a prediction for an id
    /// without ground truth).
    #[error("{0}")]
    Mismatch(String),
}

impl InputError {
    pub(crate) fn line(path: &std::path::Path, line: usize, reason: impl Into<String>) -> Self {
        InputError::Line {
            path: path.to_path_buf(),
            line,
            reason: reason.into(),
        }
    }

    pub(crate) fn file(path: &std::path::Path, reason: impl Into<String>) -> Self {
        InputError::File {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}
