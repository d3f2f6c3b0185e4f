//! Why a report could not be built or written.

/// A report that cannot be written: what is wrong with its content, or the I/O that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SrError {
    /// A source instance lacks an attribute the report copies from it.
    #[error("source instance has no {keyword}")]
    MissingSourceAttribute {
        /// The attribute's keyword.
        keyword: &'static str,
    },
    /// A measurement value is not a DICOM Decimal String.
    #[error("not a decimal string of at most 16 characters: {text:?}")]
    InvalidNumber {
        /// The text given.
        text: String,
    },
    /// A UID is empty, too long or not digits and dots.
    #[error("invalid UID for {field}: {uid:?}")]
    InvalidUid {
        /// Which UID.
        field: &'static str,
        /// The value given.
        uid: String,
    },
    /// A date, time or date-time is not in DICOM's format.
    #[error("invalid {field}: {value:?}")]
    InvalidDateTime {
        /// Which attribute.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// A code's value, scheme or meaning is empty or longer than its VR allows.
    #[error("invalid code ({value}, {scheme}, {meaning:?}): {reason}")]
    InvalidCode {
        /// Code Value.
        value: String,
        /// Coding Scheme Designator.
        scheme: String,
        /// Code Meaning.
        meaning: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A text attribute is longer than its VR allows.
    #[error("{field} is longer than {max} characters")]
    TextTooLong {
        /// Which attribute.
        field: &'static str,
        /// The VR's limit.
        max: usize,
    },
    /// A backslash in a single-valued attribute would split it into two values.
    #[error("{field} contains a backslash")]
    Backslash {
        /// Which attribute.
        field: &'static str,
    },
    /// A region has the wrong number of points for its graphic type.
    #[error("{graphic_type} cannot have {count} points")]
    InvalidRegion {
        /// The Graphic Type.
        graphic_type: &'static str,
        /// How many points were given.
        count: usize,
    },
    /// A region or measurement refers to an image that is not in the image library, so it
    /// would be missing from the evidence.
    #[error("image {sop_instance_uid} is referenced but not in the image library")]
    ImageNotInLibrary {
        /// The SOP Instance UID referenced.
        sop_instance_uid: String,
    },
    /// A signed report without a verifying observer, or without a person observer.
    #[error("a signed report needs {0}")]
    SignatureIncomplete(&'static str),
    /// The report has no procedure reported (TID 1500 row 4 is mandatory).
    #[error("the report names no procedure reported")]
    NoProcedureReported,
    /// dicom-object refused to build the file meta information.
    #[error("cannot build the file meta information")]
    Meta(#[source] Box<dicom_object::meta::Error>),
    /// Writing the Part 10 file failed.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// The cause (boxed: dicom-object's error is large, and every `Result` here carries
        /// its size).
        #[source]
        source: Box<dicom_object::WriteError>,
    },
}
