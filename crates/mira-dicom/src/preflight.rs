//! A structural pass over a data set before dicom-object parses it.
//!
//! dicom-object reserves the declared length of each element before it reads it, and builds
//! nested items recursively. A 200-byte file that declares a 4 GiB element therefore allocates
//! 4 GiB, and a few megabytes of nested empty sequences overflow the stack and abort the whole
//! process. Neither may happen to a server that accepts files from anyone on the network, so
//! this pass walks element headers iteratively, seeking over values, and refuses a data set
//! whose lengths run past the end of the file or whose sequences nest too deep. It allocates
//! nothing in proportion to what the file claims.
//!
//! The walk follows dicom-parser's `DataSetReader` and `StatefulDecoder` (0.10) step for step:
//! which VRs carry a 16-bit length, which undefined lengths open a sequence, what a delimiter
//! closes, when a container of defined length ends, how many bytes a value really consumes.
//! Any place where the two disagree is a place where the parser reads a header this pass never
//! saw, and fuzzing turned each such gap into a 4 GiB allocation or a stack overflow: an unknown
//! VR (16-bit length to a naive walk, 32-bit to the parser), an OB of undefined length outside
//! Pixel Data (opaque fragments, or items of elements), a sequence delimiter or an item tag of
//! undefined length among elements (a close, or a value and a new sequence), a numeric value
//! whose length is no multiple of the number size (the parser reads the whole numbers only and
//! takes the bytes left over as its next header), and a US-or-SS attribute after Pixel
//! Representation 1 (SS to the parser, whatever VR its header spells). Where the parser fails
//! outright, the walk stops and leaves the error to it.

use std::io::{BufReader, Read, Seek, SeekFrom};

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

/// Deepest sequence nesting accepted. Real IODs stay far below it (SR content trees, the
/// deepest in practice, rarely pass 15).
pub const MAX_SEQUENCE_DEPTH: usize = 64;

/// Most containers (sequences and items together) the walk keeps open. A well-formed data set
/// alternates sequence and item, with one pixel data sequence at the innermost level; a stack
/// past this only arises from delimiters the parser fails on, and the walk's own stack must not
/// grow with the input either.
const MAX_OPEN: usize = 2 * MAX_SEQUENCE_DEPTH + 2;

/// How a data set is encoded, as far as walking its headers goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Implicit VR Little Endian.
    ImplicitLittle,
    /// Explicit VR Little Endian (and every encapsulated syntax).
    ExplicitLittle,
    /// Explicit VR Big Endian.
    ExplicitBig,
}

/// What is wrong with the structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StructureError {
    /// An element claims more bytes than the file has left.
    #[error("element ({:04X},{:04X}) declares {length} bytes but only {remaining} remain", .tag.group(), .tag.element())]
    LengthPastEnd {
        /// The element.
        tag: Tag,
        /// Its declared length.
        length: u64,
        /// Bytes left in the file or enclosing item.
        remaining: u64,
    },
    /// Sequences nest deeper than [`MAX_SEQUENCE_DEPTH`].
    #[error("sequences nested deeper than {MAX_SEQUENCE_DEPTH} levels")]
    TooDeep,
    /// The file could not be read.
    #[error("read failed: {0}")]
    Io(String),
}

const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_DELIMITER: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_DELIMITER: Tag = Tag(0xFFFE, 0xE0DD);
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
const PIXEL_REPRESENTATION: Tag = Tag(0x0028, 0x0103);
const UNDEFINED: u32 = 0xFFFF_FFFF;

/// What an open container is, as dicom-parser's reader records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A sequence: items follow.
    Sequence,
    /// An item of a sequence: elements follow.
    Item,
}

/// One open container, with the offset where it ends when its length is defined.
#[derive(Debug, Clone, Copy)]
struct Open {
    kind: Kind,
    /// Encapsulated pixel data, whose items are fragments of raw bytes. The parser never builds
    /// objects from them, so such a sequence costs no recursion.
    pixel: bool,
    end: Option<u64>,
}

/// Walks the data set that starts at `offset` in `source` (whose total length is `len`).
/// Trailing padding and a truncated final header are left for the full parser to report;
/// what this refuses is only what would make that parser allocate or recurse without bound.
pub fn check<R: Read + Seek>(
    source: R,
    offset: u64,
    len: u64,
    encoding: Encoding,
) -> Result<(), StructureError> {
    let mut reader = BufReader::with_capacity(16 * 1024, source);
    reader.seek(SeekFrom::Start(offset)).map_err(io)?;
    walk(&mut Seekable { reader, len }, offset, encoding)
}

/// [`check`] for a Deflated Explicit VR Little Endian data set: `source` starts at the first
/// byte of the deflated stream. The inflated data set has no length to compare a declared
/// length against, so each value is read through (and dropped) to prove that its bytes exist
/// before dicom-object reserves them. The walk takes time in proportion to the inflated size (at
/// most about 1000 times the file: deflate's ratio) and no memory in proportion to anything.
pub fn check_deflated<R: Read>(source: R) -> Result<(), StructureError> {
    use dicom_dictionary_std::uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN;
    use dicom_encoding::transfer_syntax::{Codec, TransferSyntaxIndex};
    use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

    // inflate with the adapter dicom-object itself uses, so that both see the same bytes
    let ts = TransferSyntaxRegistry
        .get(DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
        .ok_or_else(|| StructureError::Io("no deflate support in the registry".into()))?;
    let Codec::Dataset(Some(adapter)) = ts.codec() else {
        return Err(StructureError::Io(
            "no deflate support in the registry".into(),
        ));
    };
    let inflated = adapter.adapt_reader(Box::new(source));
    walk(
        &mut Stream {
            reader: BufReader::with_capacity(16 * 1024, inflated),
        },
        0,
        Encoding::ExplicitLittle,
    )
}

fn io(e: std::io::Error) -> StructureError {
    StructureError::Io(e.to_string())
}

/// Where the walk reads from: a file whose length is known, or a stream that can only be read
/// through.
trait Source {
    /// Fills `buf` as far as the input goes; returns how many bytes were read.
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize>;
    /// Steps over `length` bytes, already checked against [`Source::remaining`]; returns how
    /// many there were, fewer at the end of a stream.
    fn skip(&mut self, length: u64) -> std::io::Result<u64>;
    /// Bytes left after offset `pos`, where the length of the input is known.
    fn remaining(&self, pos: u64) -> Option<u64>;
}

struct Seekable<R> {
    reader: BufReader<R>,
    len: u64,
}

impl<R: Read + Seek> Source for Seekable<R> {
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_exact_or_eof(&mut self.reader, buf)
    }

    fn skip(&mut self, length: u64) -> std::io::Result<u64> {
        let step = i64::try_from(length).map_err(std::io::Error::other)?;
        self.reader.seek_relative(step)?;
        Ok(length)
    }

    fn remaining(&self, pos: u64) -> Option<u64> {
        Some(self.len.saturating_sub(pos))
    }
}

struct Stream<R> {
    reader: R,
}

impl<R: Read> Source for Stream<R> {
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_exact_or_eof(&mut self.reader, buf)
    }

    fn skip(&mut self, length: u64) -> std::io::Result<u64> {
        std::io::copy(&mut (&mut self.reader).take(length), &mut std::io::sink())
    }

    fn remaining(&self, _pos: u64) -> Option<u64> {
        None
    }
}

/// An element header as dicom-encoding decodes it.
struct Header {
    tag: Tag,
    vr: VR,
    length: u32,
    /// Bytes the header takes: 8, or 12 for an explicit VR with a 32-bit length.
    size: u64,
}

/// The walk's state: the fields of dicom-parser's `DataSetReader` and `StatefulDecoder` that
/// decide how the next bytes are read.
struct Walk<'s, S> {
    src: &'s mut S,
    encoding: Encoding,
    stack: Vec<Open>,
    /// Offset of the next byte to read.
    at: u64,
    /// Where the parser believes it is, which container ends are measured against. It runs
    /// ahead of `at` after a numeric value whose length is no multiple of the number size: the
    /// parser counts the whole length but reads only the whole numbers, and takes the bytes
    /// left over as the start of the next header.
    position: u64,
    /// The parser expects an item header or a sequence delimiter next, not an element.
    in_sequence: bool,
    /// The parser checks whether containers of defined length end here (its
    /// `delimiter_check_pending`): only after a value, an empty container or a delimiter.
    check_ends: bool,
    /// Pixel Representation as last read (`signed_pixeldata`): once it is not 0, every US-or-SS
    /// attribute decodes as SS, whatever VR its header spells.
    signed: Option<bool>,
}

/// The walk itself, from the first header at `offset`.
fn walk<S: Source>(src: &mut S, offset: u64, encoding: Encoding) -> Result<(), StructureError> {
    Walk {
        src,
        encoding,
        stack: Vec::new(),
        at: offset,
        position: offset,
        in_sequence: false,
        check_ends: false,
        signed: None,
    }
    .run()
}

impl<S: Source> Walk<'_, S> {
    fn big(&self) -> bool {
        self.encoding == Encoding::ExplicitBig
    }

    /// Walks to the end of the input, or to the first place where the parser fails.
    fn run(mut self) -> Result<(), StructureError> {
        loop {
            if self.check_ends {
                match self.stack.last() {
                    Some(&Open {
                        kind,
                        end: Some(end),
                        ..
                    }) if end == self.position => {
                        self.stack.pop();
                        // closing an item returns to its sequence, a sequence to elements
                        self.in_sequence = kind == Kind::Item;
                        continue;
                    }
                    // the parser fails on a container that ended inside its last element
                    Some(&Open { end: Some(end), .. }) if end < self.position => return Ok(()),
                    _ => self.check_ends = false,
                }
            }
            let go_on = if self.in_sequence {
                self.item()?
            } else {
                self.element()?
            };
            if !go_on {
                return Ok(());
            }
        }
    }

    /// Where an item belongs. Returns false where the parser stops (end of input or error).
    fn item(&mut self) -> Result<bool, StructureError> {
        let Some((tag, length)) = self.item_header()? else {
            return Ok(false);
        };
        match tag {
            ITEM => {
                // an item outside any sequence is a parse error
                let Some(&Open { pixel, .. }) = self.stack.last() else {
                    return Ok(false);
                };
                if pixel {
                    return self.fragment(length);
                }
                let end = self.container_end(ITEM, length)?;
                self.push(Open {
                    kind: Kind::Item,
                    pixel: false,
                    end,
                })?;
                self.in_sequence = false;
                self.check_ends = length == 0;
            }
            // dicom-parser pops whatever is open (the sequence itself, here) and keeps
            // expecting items; dicom-object then fails on the item end it reports
            ITEM_DELIMITER => {
                self.stack.pop();
                self.check_ends = true;
            }
            SEQUENCE_DELIMITER => {
                self.stack.pop();
                self.in_sequence = false;
                self.check_ends = true;
            }
            // anything else where an item belongs is a parse error
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Where an element belongs. Returns false where the parser stops.
    fn element(&mut self) -> Result<bool, StructureError> {
        let Some(Header {
            tag, vr, length, ..
        }) = self.element_header()?
        else {
            return Ok(false);
        };

        if vr == VR::SQ {
            let end = self.container_end(tag, length)?;
            self.push(Open {
                kind: Kind::Sequence,
                pixel: false,
                end,
            })?;
            self.in_sequence = true;
            self.check_ends = length == 0;
        } else if tag == ITEM_DELIMITER {
            // closes the open item whatever its length says; ignored outside any container
            if self.stack.pop().is_some() {
                self.in_sequence = true;
                self.check_ends = true;
            }
        } else if tag == PIXEL_DATA && length == UNDEFINED {
            self.push(Open {
                kind: Kind::Sequence,
                pixel: true,
                end: None,
            })?;
            // the first item, the offset table, is read at once: here an item delimiter is an
            // error, not a close
            let Some((item, length)) = self.item_header()? else {
                return Ok(false);
            };
            match item {
                // the parser fails on an offset table of undefined length
                ITEM if length == UNDEFINED => return Ok(false),
                ITEM if length == 0 => self.in_sequence = true,
                ITEM => {
                    // read as 32-bit offsets: a length that is no multiple of 4 leaves bytes
                    // that the parser then reads again as a fragment, and fails on
                    self.value(ITEM, length, 4)?;
                    if length % 4 != 0 {
                        return Ok(false);
                    }
                    self.in_sequence = true;
                }
                SEQUENCE_DELIMITER => {
                    self.stack.pop();
                }
                _ => return Ok(false),
            }
        } else if length == UNDEFINED {
            // any other undefined length (UN, OB, an item tag among elements, ...) opens a
            // sequence of items of elements, whatever the VR says
            self.push(Open {
                kind: Kind::Sequence,
                pixel: false,
                end: None,
            })?;
            self.in_sequence = true;
        } else {
            // a value: group FFFE tags included (a sequence delimiter among elements is a
            // value of its stated length to the parser)
            if tag == PIXEL_REPRESENTATION && matches!(vr, VR::US | VR::OW) && length > 0 {
                self.pixel_representation(length)?;
            } else {
                self.value(tag, length, number_size(vr))?;
            }
            self.check_ends = true;
        }
        Ok(true)
    }

    /// A pixel data fragment: read whole, and the item closes right after. Returns false where
    /// the parser fails (undefined length).
    fn fragment(&mut self, length: u32) -> Result<bool, StructureError> {
        if length == UNDEFINED {
            return Ok(false);
        }
        self.value(ITEM, length, 1)?;
        self.in_sequence = true;
        Ok(true)
    }

    /// Pixel Representation: its first number decides how US-or-SS attributes decode from here.
    fn pixel_representation(&mut self, length: u32) -> Result<(), StructureError> {
        self.check_length(PIXEL_REPRESENTATION, length)?;
        if length < 2 {
            // no whole number: the parser forgets what it knew
            self.signed = None;
            return self.value(PIXEL_REPRESENTATION, length, 2);
        }
        let mut first = [0u8; 2];
        if self.src.fill(&mut first).map_err(io)? < 2 {
            return Err(StructureError::LengthPastEnd {
                tag: PIXEL_REPRESENTATION,
                length: length.into(),
                remaining: 0,
            });
        }
        let value = if self.big() {
            u16::from_be_bytes(first)
        } else {
            u16::from_le_bytes(first)
        };
        self.signed = Some(value != 0);
        self.at += 2;
        self.position += 2;
        self.value(PIXEL_REPRESENTATION, length - 2, 2)
    }

    /// The end of a container of `length` opened here, refusing one past the enclosing end.
    fn container_end(&self, tag: Tag, length: u32) -> Result<Option<u64>, StructureError> {
        if length == UNDEFINED {
            return Ok(None);
        }
        self.check_length(tag, length)?;
        Ok(Some(self.position + u64::from(length)))
    }

    fn push(&mut self, open: Open) -> Result<(), StructureError> {
        // each sequence of items is one level of recursion in dicom-object
        let recurses = |o: &Open| o.kind == Kind::Sequence && !o.pixel;
        let sequences =
            self.stack.iter().filter(|o| recurses(o)).count() + usize::from(recurses(&open));
        if sequences > MAX_SEQUENCE_DEPTH || self.stack.len() >= MAX_OPEN {
            return Err(StructureError::TooDeep);
        }
        self.stack.push(open);
        Ok(())
    }

    /// Refuses a length past the innermost container of defined length or the input.
    fn check_length(&self, tag: Tag, length: u32) -> Result<(), StructureError> {
        let in_container = self
            .stack
            .iter()
            .filter_map(|o| o.end)
            .min()
            .map(|end| end.saturating_sub(self.position));
        let remaining = match (in_container, self.src.remaining(self.at)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match remaining {
            Some(remaining) if u64::from(length) > remaining => {
                Err(StructureError::LengthPastEnd {
                    tag,
                    length: length.into(),
                    remaining,
                })
            }
            _ => Ok(()),
        }
    }

    /// Steps over a value of `length` read as numbers of `size` bytes: the parser consumes the
    /// whole numbers only, and counts the whole length.
    fn value(&mut self, tag: Tag, length: u32, size: u32) -> Result<(), StructureError> {
        self.check_length(tag, length)?;
        let consumed = u64::from(length - length % size);
        let skipped = self.src.skip(consumed).map_err(io)?;
        if skipped < consumed {
            return Err(StructureError::LengthPastEnd {
                tag,
                length: length.into(),
                remaining: skipped,
            });
        }
        self.at += consumed;
        self.position += u64::from(length);
        Ok(())
    }

    /// An item or delimiter header (tag and 32-bit length, no VR); `None` at the end of the
    /// input.
    fn item_header(&mut self) -> Result<Option<(Tag, u32)>, StructureError> {
        let mut head = [0u8; 8];
        if self.src.fill(&mut head).map_err(io)? < 8 {
            return Ok(None);
        }
        self.at += 8;
        self.position += 8;
        let big = self.big();
        Ok(Some((
            tag_at(&head, big),
            u32_at([head[4], head[5], head[6], head[7]], big),
        )))
    }

    /// An element header as dicom-encoding reads it, with the VR the parser then gives it;
    /// `None` at the end of the input.
    fn element_header(&mut self) -> Result<Option<Header>, StructureError> {
        let Some(mut header) = read_element_header(self.src, self.encoding)? else {
            return Ok(None);
        };
        self.at += header.size;
        self.position += header.size;
        if self.signed == Some(true)
            && StandardDataDictionary
                .by_tag(header.tag)
                .is_some_and(|e| e.vr() == VirtualVr::Xs)
        {
            header.vr = VR::SS;
        }
        Ok(Some(header))
    }
}

/// How many bytes each number of a value takes, as dicom-parser reads it; 1 for text and bytes.
fn number_size(vr: VR) -> u32 {
    match vr {
        VR::US | VR::OW | VR::SS => 2,
        VR::AT | VR::FL | VR::OF | VR::SL | VR::OL | VR::UL => 4,
        VR::FD | VR::OD | VR::SV | VR::OV | VR::UV => 8,
        _ => 1,
    }
}

/// An element header as dicom-encoding reads it for `encoding`; `None` at the end of the input.
fn read_element_header<S: Source>(
    src: &mut S,
    encoding: Encoding,
) -> Result<Option<Header>, StructureError> {
    let big = encoding == Encoding::ExplicitBig;
    let mut head = [0u8; 8];
    if src.fill(&mut head).map_err(io)? < 8 {
        return Ok(None);
    }
    let tag = tag_at(&head, big);
    // item and delimiter tags have no VR in any syntax
    if tag.group() == 0xFFFE {
        return Ok(Some(Header {
            tag,
            vr: VR::UN,
            length: u32_at([head[4], head[5], head[6], head[7]], big),
            size: 8,
        }));
    }
    if encoding == Encoding::ImplicitLittle {
        return Ok(Some(Header {
            tag,
            vr: implicit_vr(tag),
            length: u32_at([head[4], head[5], head[6], head[7]], big),
            size: 8,
        }));
    }
    // an unknown VR decodes as UN, which has a 32-bit length
    let vr = VR::from_binary([head[4], head[5]]).unwrap_or(VR::UN);
    if has_short_length(vr) {
        let length = if big {
            u16::from_be_bytes([head[6], head[7]])
        } else {
            u16::from_le_bytes([head[6], head[7]])
        };
        return Ok(Some(Header {
            tag,
            vr,
            length: length.into(),
            size: 8,
        }));
    }
    let mut long = [0u8; 4];
    if src.fill(&mut long).map_err(io)? < 4 {
        return Ok(None);
    }
    Ok(Some(Header {
        tag,
        vr,
        length: u32_at(long, big),
        size: 12,
    }))
}

fn tag_at(head: &[u8; 8], big: bool) -> Tag {
    if big {
        Tag(
            u16::from_be_bytes([head[0], head[1]]),
            u16::from_be_bytes([head[2], head[3]]),
        )
    } else {
        Tag(
            u16::from_le_bytes([head[0], head[1]]),
            u16::from_le_bytes([head[2], head[3]]),
        )
    }
}

fn u32_at(b: [u8; 4], big: bool) -> u32 {
    if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

/// The VR dicom-encoding gives an element in Implicit VR Little Endian: Pixel Data and Overlay
/// Data are OW whatever the dictionary says, the rest comes from the dictionary, UN if unknown.
fn implicit_vr(tag: Tag) -> VR {
    if tag == PIXEL_DATA || (tag.group() >> 8 == 0x60 && tag.element() == 0x3000) {
        return VR::OW;
    }
    StandardDataDictionary
        .by_tag(tag)
        .map(|e| e.vr().relaxed())
        .unwrap_or(VR::UN)
}

/// VRs whose explicit encoding has a 16-bit length (PS3.5 7.1.2). Every other VR, and any VR
/// the decoder does not know, has two reserved bytes and a 32-bit length: listing the short
/// ones, as dicom-encoding does, keeps the two in step on bytes that are no VR at all.
pub(crate) fn has_short_length(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::AT
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::FL
            | VR::FD
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::SL
            | VR::SS
            | VR::ST
            | VR::TM
            | VR::UI
            | VR::UL
            | VR::US
    )
}

/// Reads until `buf` is full or the input ends; returns how much was read.
pub(crate) fn read_exact_or_eof<R: Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn element(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&tag.0.to_le_bytes());
        out.extend_from_slice(&tag.1.to_le_bytes());
        out.extend_from_slice(vr);
        if has_short_length(VR::from_binary(*vr).unwrap_or(VR::UN)) {
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(value);
        out
    }

    fn nested(depth: usize) -> Vec<u8> {
        // (0040,A730) SQ of undefined length, one undefined-length item, repeated
        let mut out = Vec::new();
        for _ in 0..depth {
            out.extend_from_slice(&[
                0x40, 0x00, 0x30, 0xA7, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
            ]);
            out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        for _ in 0..depth {
            out.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
            out.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        }
        out
    }

    fn run(bytes: &[u8]) -> Result<(), StructureError> {
        check(
            Cursor::new(bytes),
            0,
            bytes.len() as u64,
            Encoding::ExplicitLittle,
        )
    }

    #[test]
    fn accepts_plain_elements_and_nesting_up_to_the_limit() {
        let mut data = element((0x0008, 0x0016), b"UI", b"1.2.3\0");
        data.extend(nested(MAX_SEQUENCE_DEPTH));
        data.extend(element((0x7FE0, 0x0010), b"OW", &[0u8; 16]));
        assert_eq!(run(&data), Ok(()));
    }

    #[test]
    fn refuses_nesting_past_the_limit() {
        assert_eq!(
            run(&nested(MAX_SEQUENCE_DEPTH + 1)),
            Err(StructureError::TooDeep)
        );
    }

    #[test]
    fn refuses_a_length_past_the_end_without_allocating_it() {
        let mut data = element((0x0008, 0x0016), b"UI", b"1.2");
        data.extend_from_slice(&[
            0x08, 0x00, 0x08, 0x00, b'U', b'T', 0, 0, 0xF0, 0xFF, 0xFF, 0x7F,
        ]);
        assert!(matches!(
            run(&data),
            Err(StructureError::LengthPastEnd {
                length: 0x7FFF_FFF0,
                ..
            })
        ));
    }

    #[test]
    fn skips_encapsulated_fragments() {
        let mut data = vec![
            0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        data.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]); // empty offset table
        data.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 0xFF, 0xD8, 0xFF, 0xD9]);
        data.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        assert_eq!(run(&data), Ok(()));
        let mut bad = data.clone();
        bad[24] = 0x40; // fragment claims 64 bytes
        assert!(matches!(
            run(&bad),
            Err(StructureError::LengthPastEnd { .. })
        ));
    }

    /// An element header with a 32-bit length of almost 4 GiB and no value after it.
    const FORGED_UT: [u8; 12] = [
        0x08, 0x00, 0x30, 0x10, b'U', b'T', 0, 0, 0xF0, 0xFF, 0xFF, 0xFF,
    ];

    #[test]
    fn an_unknown_vr_has_a_32_bit_length_as_in_dicom_encoding() {
        let data = [
            0x10, 0x00, 0x10, 0x00, b'Z', b'Z', 0, 0, 0xF0, 0xFF, 0xFF, 0xFF,
        ];
        assert!(matches!(
            run(&data),
            Err(StructureError::LengthPastEnd {
                length: 0xFFFF_FFF0,
                ..
            })
        ));
    }

    #[test]
    fn ob_of_undefined_length_outside_pixel_data_holds_items_of_elements() {
        let mut data = vec![
            0x11, 0x00, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        data.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 12, 0, 0, 0]);
        data.extend_from_slice(&FORGED_UT);
        data.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        assert!(matches!(
            run(&data),
            Err(StructureError::LengthPastEnd {
                tag: Tag(0x0008, 0x1030),
                ..
            })
        ));
    }

    #[test]
    fn a_sequence_delimiter_among_elements_is_a_value() {
        let data = [0xFE, 0xFF, 0xDD, 0xE0, 0xF0, 0xFF, 0xFF, 0xFF];
        assert!(matches!(
            run(&data),
            Err(StructureError::LengthPastEnd {
                tag: SEQUENCE_DELIMITER,
                ..
            })
        ));
    }

    #[test]
    fn item_tags_of_undefined_length_among_elements_nest_as_sequences() {
        let item = [0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF];
        let data = item.repeat(2 * (MAX_SEQUENCE_DEPTH + 1));
        assert_eq!(run(&data), Err(StructureError::TooDeep));
    }

    #[test]
    fn a_numeric_value_consumes_its_whole_numbers_only() {
        // US of 3 bytes: the parser reads one number, and its next header starts at the third
        let mut data = element((0x0028, 0x0101), b"US", &[1, 0, 0x08]);
        data.extend_from_slice(&FORGED_UT[1..]);
        assert!(matches!(
            run(&data),
            Err(StructureError::LengthPastEnd {
                tag: Tag(0x0008, 0x1030),
                ..
            })
        ));
    }

    #[test]
    fn after_signed_pixel_representation_us_or_ss_attributes_are_ss() {
        // Smallest Image Pixel Value written as FD: 8 bytes a number to a naive walk, 10 bytes
        // of SS to the parser once Pixel Representation is 1
        let mut data = element((0x0028, 0x0103), b"US", &[1, 0]);
        data.extend(element((0x0028, 0x0106), b"FD", &[0; 10]));
        data.extend_from_slice(&FORGED_UT);
        assert!(matches!(
            run(&data),
            Err(StructureError::LengthPastEnd {
                tag: Tag(0x0008, 0x1030),
                ..
            })
        ));
        // unsigned, FD keeps its 8-byte numbers: the bytes left over start the next header,
        // here one of length 0
        let mut data = element((0x0028, 0x0103), b"US", &[0, 0]);
        data.extend(element((0x0028, 0x0106), b"FD", &[0; 10]));
        data.extend_from_slice(&[0x09, 0x00, b'U', b'L', 0, 0]);
        assert_eq!(run(&data), Ok(()));
    }

    #[test]
    fn walks_a_deflated_data_set_as_it_inflates() {
        // raw deflate of the forged header, stored uncompressed (block type 0)
        let mut deflated = vec![0x01, 12, 0, !12, !0];
        deflated.extend_from_slice(&FORGED_UT);
        assert!(matches!(
            check_deflated(&deflated[..]),
            Err(StructureError::LengthPastEnd { remaining: 0, .. })
        ));
        let mut fine = vec![0x01, 8, 0, !8, !0];
        fine.extend_from_slice(&[0x08, 0x00, 0x60, 0x00, b'C', b'S', 0, 0]);
        assert_eq!(check_deflated(&fine[..]), Ok(()));
    }
}
