//! Parsing a PS3.10 file and deciding whether the archive can keep it.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use dicom_dictionary_std::uids;
use dicom_object::OpenFileOptions;

use crate::attributes::{InstanceAttributes, RequiredAttribute};
use crate::part10::{Part10Error, read_head};
use crate::syntax::{is_accepted_transfer_syntax, trim_uid};

/// The first tag after every attribute [`InstanceAttributes`] reads at the top level of the
/// data set (the last is Performed Procedure Step Start Date (0040,0244)); parsing stops there.
pub const INDEXED_UNTIL: dicom_core::Tag = dicom_core::Tag(0x0040, 0x0245);

/// An instance that parsed and carries everything the archive needs.
#[derive(Debug, Clone)]
pub struct ParsedInstance {
    /// The indexed attributes.
    pub attributes: InstanceAttributes,
    /// Byte offset of the data set in the file.
    pub dataset_offset: u64,
}

/// Why an instance is refused. Each variant is one reason a user can act on; the message
/// names it in words (lower case, no trailing period) and never quotes patient data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInstance {
    /// No `DICM` prefix: a raw data set or not DICOM at all.
    #[error(
        "not a DICOM PS3.10 file (no 'DICM' prefix after the 128-byte preamble): the transfer syntax cannot be known for sure"
    )]
    NotPart10,
    /// The File Meta Information group is malformed (PS3.10 §7.1).
    #[error("unreadable File Meta Information: {0}")]
    BadMeta(String),
    /// A DICOMDIR is an index of other files, not a composite instance.
    #[error("media storage directory (DICOMDIR), not an instance: import the files it references")]
    Dicomdir,
    /// The transfer syntax is not one the archive accepts.
    #[error("unsupported transfer syntax {0}")]
    UnsupportedTransferSyntax(String),
    /// dicom-rs could not parse the data set (truncated file, invalid element, bad length).
    #[error("unreadable data set: {0}")]
    BadDataSet(String),
    /// Sequences nest deeper than [`crate::preflight::MAX_SEQUENCE_DEPTH`]: no IOD needs that, and parsing it
    /// recursively would exhaust the stack.
    #[error(
        "sequences nested deeper than {} levels",
        crate::preflight::MAX_SEQUENCE_DEPTH
    )]
    TooDeep,
    /// A Type 1 attribute the archive keys on is missing or empty.
    #[error("missing required attribute {} ({:04X},{:04X})", .0.keyword, .0.tag.group(), .0.tag.element())]
    MissingAttribute(RequiredAttribute),
    /// The File Meta Information and the data set disagree about the instance.
    #[error("{field} in the File Meta Information differs from the data set")]
    MetaMismatch {
        /// The meta attribute that disagrees.
        field: &'static str,
    },
    /// Reading the file failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

impl From<Part10Error> for InvalidInstance {
    fn from(err: Part10Error) -> Self {
        match err {
            Part10Error::NoPrefix => InvalidInstance::NotPart10,
            Part10Error::Meta(reason) => InvalidInstance::BadMeta(reason),
            Part10Error::Io(io) => InvalidInstance::Io(io),
        }
    }
}

impl InvalidInstance {
    /// A short stable code for summaries and metrics (`not_part10`, `missing_attribute`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            InvalidInstance::NotPart10 => "not_part10",
            InvalidInstance::BadMeta(_) => "bad_meta",
            InvalidInstance::Dicomdir => "dicomdir",
            InvalidInstance::UnsupportedTransferSyntax(_) => "unsupported_transfer_syntax",
            InvalidInstance::BadDataSet(_) => "bad_data_set",
            InvalidInstance::TooDeep => "too_deep",
            InvalidInstance::MissingAttribute(_) => "missing_attribute",
            InvalidInstance::MetaMismatch { .. } => "meta_mismatch",
            InvalidInstance::Io(_) => "io",
        }
    }
}

/// Parses the file at `path` and checks what the archive needs. Every element's length is
/// checked against the file, pixel data included, so that a truncated file is caught here and
/// not when a viewer opens it.
pub fn parse_instance(path: &Path) -> Result<ParsedInstance, InvalidInstance> {
    parse_instance_from(BufReader::new(File::open(path)?))
}

/// [`parse_instance`] over any seekable source: a file, or bytes in a `Cursor`.
pub fn parse_instance_from<R: Read + Seek>(
    mut source: R,
) -> Result<ParsedInstance, InvalidInstance> {
    let len = source.seek(SeekFrom::End(0))?;
    source.rewind()?;
    let head = read_head(&mut source)?;

    let meta = &head.meta;
    if trim_uid(meta.media_storage_sop_class_uid()) == uids::MEDIA_STORAGE_DIRECTORY_STORAGE {
        return Err(InvalidInstance::Dicomdir);
    }
    let ts = trim_uid(meta.transfer_syntax()).to_string();
    if !is_accepted_transfer_syntax(&ts) {
        return Err(InvalidInstance::UnsupportedTransferSyntax(ts));
    }

    let structure_checked = check_structure(&mut source, head.dataset_offset, len, &ts)?;
    // dicom-object reads from the DICM prefix on, without the preamble. Where the structural
    // pass has already proved every length (pixel data fragments included) lies within the
    // file, what follows the last indexed attribute need not be decoded at all: pixel data,
    // and the likes of RT contour data, thousands of decimal strings decoded one by one.
    source.seek(SeekFrom::Start(128))?;
    let mut options = OpenFileOptions::new();
    if structure_checked {
        options = options.read_until(INDEXED_UNTIL);
    }
    let object = options
        .from_reader(source)
        .map_err(|e| InvalidInstance::BadDataSet(error_chain(&e)))?;
    let attributes =
        InstanceAttributes::from_object(&object, &ts).map_err(InvalidInstance::MissingAttribute)?;

    if trim_uid(meta.media_storage_sop_instance_uid()) != attributes.sop_instance_uid {
        return Err(InvalidInstance::MetaMismatch {
            field: "MediaStorageSOPInstanceUID",
        });
    }
    if trim_uid(meta.media_storage_sop_class_uid()) != attributes.instance.sop_class_uid {
        return Err(InvalidInstance::MetaMismatch {
            field: "MediaStorageSOPClassUID",
        });
    }
    Ok(ParsedInstance {
        attributes,
        dataset_offset: head.dataset_offset,
    })
}

/// Runs the structural pre-pass (see [`crate::preflight`]) on the data set; returns whether it
/// ran (it cannot for deflated data sets, which only the parser inflates).
fn check_structure<R: Read + Seek>(
    source: &mut R,
    dataset_offset: u64,
    len: u64,
    ts_uid: &str,
) -> Result<bool, InvalidInstance> {
    use crate::preflight::{Encoding, StructureError, check, check_deflated};

    let refusal = |e: StructureError| match e {
        StructureError::TooDeep => InvalidInstance::TooDeep,
        StructureError::Io(reason) => InvalidInstance::BadDataSet(reason),
        other => InvalidInstance::BadDataSet(other.to_string()),
    };
    let encoding = match ts_uid {
        uids::IMPLICIT_VR_LITTLE_ENDIAN => Encoding::ImplicitLittle,
        #[allow(deprecated)]
        uids::EXPLICIT_VR_BIG_ENDIAN => Encoding::ExplicitBig,
        // dicom-rs trusts the lengths in the inflated stream as much as in a plain file, so it
        // is walked too, as it inflates, every value read through
        uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN => {
            source.seek(SeekFrom::Start(dataset_offset))?;
            check_deflated(&mut *source).map_err(refusal)?;
            return Ok(true);
        }
        _ => Encoding::ExplicitLittle,
    };
    check(source, dataset_offset, len, encoding).map_err(refusal)?;
    Ok(true)
}

/// The error and its sources on one line: dicom-rs nests the useful part (which element,
/// which offset) several levels down.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
