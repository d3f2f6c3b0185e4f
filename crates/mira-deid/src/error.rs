//! Why an instance could not be de-identified.

use mira_dicom::part10::Part10Error;

/// Why one instance was not de-identified. The message names the reason, never a value from
/// the instance.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeidError {
    /// Not a PS3.10 file, or its File Meta Information is unreadable.
    #[error(transparent)]
    NotPart10(#[from] Part10Error),
    /// A DICOMDIR is an index of files, not an instance (de-identify the files it names).
    #[error("media storage directory (DICOMDIR), not an instance")]
    Dicomdir,
    /// dicom-object could not read the data set in full.
    #[error("unreadable data set: {0}")]
    Unreadable(String),
    /// Burned In Annotation (0028,0301) is YES and the policy is to refuse.
    #[error(
        "burned-in annotation (0028,0301) is YES: the pixels may show identifying text; not written"
    )]
    BurnedInAnnotation,
    /// Sequences nest deeper than mira walks.
    #[error("sequences nested too deep")]
    TooDeep,
    /// The de-identified object could not be encoded.
    #[error("cannot encode the de-identified instance: {0}")]
    Write(String),
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(std::io::Error),
}
