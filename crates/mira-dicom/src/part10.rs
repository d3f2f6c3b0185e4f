//! The PS3.10 file layout: 128-byte preamble, `DICM`, File Meta Information, data set.
//!
//! The archive identifies an instance by a digest of its *data set* bytes, not of the whole
//! file: a file imported from disk and the same instance received over DIMSE carry different
//! meta headers (implementation UID, source AE title) but the same data set, and must be
//! recognised as the same object.

use std::io::{Read, Write};

pub use dicom_object::meta::FileMetaTable;
use dicom_object::meta::FileMetaTableBuilder;

/// Length of the preamble plus the `DICM` prefix.
pub const PREAMBLE_AND_PREFIX_LEN: u64 = 132;

/// Implementation Class UID written into the File Meta Information of instances that mira
/// receives over the network (a UID under the UUID-derived root 2.25, PS3.5 Annex B.2).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.137038125948464647757149706467458127213";
/// Implementation Version Name written next to [`IMPLEMENTATION_CLASS_UID`].
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!("MIRA_", env!("CARGO_PKG_VERSION"));

/// Why the head of a file is not a readable PS3.10 file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Part10Error {
    /// The file is shorter than a preamble, or its bytes 128..132 are not `DICM`.
    #[error("not a DICOM PS3.10 file: no 'DICM' prefix after the 128-byte preamble")]
    NoPrefix,
    /// The File Meta Information group could not be read.
    #[error("unreadable File Meta Information: {0}")]
    Meta(String),
    /// Reading the file failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The File Meta Information of a file and where its data set starts.
#[derive(Debug, Clone)]
pub struct Part10Head {
    /// The parsed File Meta Information.
    pub meta: FileMetaTable,
    /// Byte offset of the first data set element from the start of the file.
    pub dataset_offset: u64,
}

/// Reads the preamble, the prefix and the File Meta Information from the start of a file,
/// leaving `reader` positioned at the first byte of the data set.
pub fn read_head<R: Read>(reader: &mut R) -> Result<Part10Head, Part10Error> {
    let mut preamble = [0u8; PREAMBLE_AND_PREFIX_LEN as usize];
    if let Err(err) = reader.read_exact(&mut preamble) {
        return Err(if err.kind() == std::io::ErrorKind::UnexpectedEof {
            Part10Error::NoPrefix
        } else {
            Part10Error::Io(err)
        });
    }
    if &preamble[128..132] != b"DICM" {
        return Err(Part10Error::NoPrefix);
    }
    // dicom-object reserves each meta element's declared length before reading it, so a
    // 300-byte file declaring a 4 GiB UID allocates 4 GiB. Read the group into memory first,
    // as far as its own lengths go and no further (the reader must stop at the data set), and
    // hand dicom-object only those bytes: every length it then sees fits in what was read.
    let group = read_meta_group(reader)?;
    // FileMetaTable expects to read the prefix itself; count what it consumes so that the
    // data set offset is exact even when the group length element is missing or wrong.
    let mut counting = CountingReader {
        inner: (&b"DICM"[..]).chain(&group[..]),
        count: 0,
    };
    let meta =
        FileMetaTable::from_reader(&mut counting).map_err(|e| Part10Error::Meta(e.to_string()))?;
    Ok(Part10Head {
        meta,
        dataset_offset: 128 + counting.count,
    })
}

/// Most bytes the File Meta Information group may take. Real groups take 150 to 400 bytes.
const MAX_META_LEN: u64 = 64 * 1024;

/// Reads the File Meta Information group (after `DICM`) the way dicom-object's
/// `FileMetaTable` walks it: the group length element, then elements until the group length
/// is used up, the last one whole even when it runs past. Stops at the first header
/// dicom-object refuses or the end of the input, which are then its to report.
fn read_meta_group<R: Read>(reader: &mut R) -> Result<Vec<u8>, Part10Error> {
    let mut group = Vec::new();
    let Some(MetaHeader { tag, value_len, .. }) = read_meta_header(reader, &mut group)? else {
        return Ok(group);
    };
    if tag != (0x0002, 0x0000) || value_len != 4 {
        return Ok(group);
    }
    let mut value = [0u8; 4];
    let n = crate::preflight::read_exact_or_eof(reader, &mut value)?;
    group.extend_from_slice(&value[..n]);
    if n < 4 {
        return Ok(group);
    }
    let group_length = u32::from_le_bytes(value);
    let mut total: u32 = 0;
    while total < group_length {
        let Some(MetaHeader {
            header_len,
            value_len,
            ..
        }) = read_meta_header(reader, &mut group)?
        else {
            return Ok(group);
        };
        if value_len == u32::MAX {
            // undefined length: dicom-object refuses it
            return Ok(group);
        }
        if group.len() as u64 + u64::from(value_len) > MAX_META_LEN {
            return Err(Part10Error::Meta(format!(
                "File Meta Information longer than {MAX_META_LEN} bytes"
            )));
        }
        let start = group.len();
        reader.take(u64::from(value_len)).read_to_end(&mut group)?;
        if ((group.len() - start) as u64) < u64::from(value_len) {
            // truncated: dicom-object reports it from the bytes there are
            return Ok(group);
        }
        total = total.saturating_add(header_len).saturating_add(value_len);
    }
    Ok(group)
}

/// One element header of the meta group, as read from the file.
struct MetaHeader {
    tag: (u16, u16),
    /// Bytes the header itself took (8 or 12).
    header_len: u32,
    value_len: u32,
}

/// One Explicit VR Little Endian header, appended to `group`. `None` at the end of the input.
fn read_meta_header<R: Read>(
    reader: &mut R,
    group: &mut Vec<u8>,
) -> Result<Option<MetaHeader>, Part10Error> {
    let mut header = [0u8; 8];
    let n = crate::preflight::read_exact_or_eof(reader, &mut header)?;
    group.extend_from_slice(&header[..n]);
    if n < 8 {
        return Ok(None);
    }
    let tag = (
        u16::from_le_bytes([header[0], header[1]]),
        u16::from_le_bytes([header[2], header[3]]),
    );
    // item and delimiter tags have no VR
    if tag.0 == 0xFFFE {
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        return Ok(Some(MetaHeader {
            tag,
            header_len: 8,
            value_len: len,
        }));
    }
    if crate::preflight::has_short_length(
        dicom_core::VR::from_binary([header[4], header[5]]).unwrap_or(dicom_core::VR::UN),
    ) {
        let len = u16::from_le_bytes([header[6], header[7]]);
        return Ok(Some(MetaHeader {
            tag,
            header_len: 8,
            value_len: len.into(),
        }));
    }
    let mut long = [0u8; 4];
    let n = crate::preflight::read_exact_or_eof(reader, &mut long)?;
    group.extend_from_slice(&long[..n]);
    if n < 4 {
        return Ok(None);
    }
    Ok(Some(MetaHeader {
        tag,
        header_len: 12,
        value_len: u32::from_le_bytes(long),
    }))
}

/// Builds the File Meta Information for an instance received over the network.
pub fn meta_for_received_instance(
    sop_class_uid: &str,
    sop_instance_uid: &str,
    transfer_syntax_uid: &str,
    source_ae_title: &str,
) -> Result<FileMetaTable, Part10Error> {
    FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(crate::syntax::trim_uid(sop_class_uid))
        .media_storage_sop_instance_uid(crate::syntax::trim_uid(sop_instance_uid))
        .transfer_syntax(crate::syntax::trim_uid(transfer_syntax_uid))
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION_NAME)
        .source_application_entity_title(source_ae_title.trim())
        .build()
        .map_err(|e| Part10Error::Meta(e.to_string()))
}

/// Writes the preamble (zeros), the `DICM` prefix and the File Meta Information; returns the
/// number of bytes written, which is the data set offset of the file being written.
pub fn write_head<W: Write>(writer: &mut W, meta: &FileMetaTable) -> Result<u64, Part10Error> {
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(&[0u8; 128]);
    head.extend_from_slice(b"DICM");
    meta.write(&mut head)
        .map_err(|e| Part10Error::Meta(e.to_string()))?;
    writer.write_all(&head)?;
    Ok(head.len() as u64)
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_head_reads_back_with_exact_offset() {
        let meta = meta_for_received_instance(
            "1.2.840.10008.5.1.4.1.1.2",
            "1.2.3.4.5",
            "1.2.840.10008.1.2.1",
            "CT01",
        )
        .unwrap();
        let mut file = Vec::new();
        let written = write_head(&mut file, &meta).unwrap();
        file.extend_from_slice(b"\x08\x00\x16\x00"); // first data set bytes
        let mut reader = &file[..];
        let head = read_head(&mut reader).unwrap();
        assert_eq!(head.dataset_offset, written);
        assert_eq!(head.meta.media_storage_sop_instance_uid(), "1.2.3.4.5");
        assert_eq!(reader, b"\x08\x00\x16\x00");
    }

    #[test]
    fn refuses_files_without_prefix() {
        let mut short = &b"not dicom"[..];
        assert!(matches!(read_head(&mut short), Err(Part10Error::NoPrefix)));
        let raw = vec![0u8; 300];
        assert!(matches!(
            read_head(&mut &raw[..]),
            Err(Part10Error::NoPrefix)
        ));
    }
}
