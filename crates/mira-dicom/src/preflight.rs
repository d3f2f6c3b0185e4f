//! A structural pass over a data set before dicom-object parses it.
//!
//! dicom-object reserves the declared length of each element before it reads it, and builds
//! nested items recursively. A 200-byte file that declares a 4 GiB element therefore allocates
//! 4 GiB, and a few megabytes of nested empty sequences overflow the stack and abort the whole
//! process. Neither may happen to a server that accepts files from anyone on the network, so
//! this pass walks element headers iteratively, seeking over values, and refuses a data set
//! whose lengths run past the end of the file or whose sequences nest too deep. It allocates
//! nothing in proportion to what the file claims.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

/// Deepest sequence nesting accepted. Real IODs stay far below it (SR content trees, the
/// deepest in practice, rarely pass 15).
pub const MAX_SEQUENCE_DEPTH: usize = 64;

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
const UNDEFINED: u32 = 0xFFFF_FFFF;

/// What an open container holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    /// A sequence: items.
    Items,
    /// An item: elements.
    Elements,
    /// Encapsulated pixel data: fragments, which are items of raw bytes.
    Fragments,
}

/// One open container, with the offset where it ends when its length is defined.
#[derive(Debug, Clone, Copy)]
struct Open {
    end: Option<u64>,
    holds: Holds,
}

/// Walks the data set that starts at `offset` in `source` (whose total length is `len`).
/// Trailing padding and a truncated final element are left for the full parser to report;
/// what this refuses is only what would make that parser allocate or recurse without bound.
pub fn check<R: Read + Seek>(
    source: R,
    offset: u64,
    len: u64,
    encoding: Encoding,
) -> Result<(), StructureError> {
    let io = |e: std::io::Error| StructureError::Io(e.to_string());
    let mut reader = BufReader::with_capacity(16 * 1024, source);
    reader.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut pos = offset;
    let mut stack: Vec<Open> = Vec::new();
    let big = encoding == Encoding::ExplicitBig;

    loop {
        // close containers whose defined length is used up
        while let Some(top) = stack.last() {
            if top.end.is_some_and(|end| pos >= end) {
                stack.pop();
            } else {
                break;
            }
        }
        if pos >= len {
            return Ok(());
        }
        let mut head = [0u8; 8];
        if read_exact_or_eof(&mut reader, &mut head).map_err(io)? < 8 {
            return Ok(());
        }
        pos += 8;
        // item and delimiter tags are always little endian in LE syntaxes, big endian in BE
        let (group, element) = if big {
            (
                u16::from_be_bytes([head[0], head[1]]),
                u16::from_be_bytes([head[2], head[3]]),
            )
        } else {
            (
                u16::from_le_bytes([head[0], head[1]]),
                u16::from_le_bytes([head[2], head[3]]),
            )
        };
        let tag = Tag(group, element);
        let u32_at = |b: [u8; 4]| {
            if big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let remaining_in = |stack: &[Open], pos: u64| -> u64 {
            stack
                .iter()
                .filter_map(|o| o.end)
                .min()
                .unwrap_or(len)
                .min(len)
                .saturating_sub(pos)
        };

        if group == 0xFFFE {
            let length = u32_at([head[4], head[5], head[6], head[7]]);
            match tag {
                ITEM => {
                    let in_fragments = stack.last().is_some_and(|o| o.holds == Holds::Fragments);
                    if length == UNDEFINED {
                        push(
                            &mut stack,
                            Open {
                                end: None,
                                holds: Holds::Elements,
                            },
                        )?;
                    } else if in_fragments {
                        let remaining = remaining_in(&stack, pos);
                        skip_value(&mut reader, &mut pos, tag, length.into(), remaining)?;
                    } else {
                        let remaining = remaining_in(&stack, pos);
                        if u64::from(length) > remaining {
                            return Err(StructureError::LengthPastEnd {
                                tag,
                                length: length.into(),
                                remaining,
                            });
                        }
                        push(
                            &mut stack,
                            Open {
                                end: Some(pos + u64::from(length)),
                                holds: Holds::Elements,
                            },
                        )?;
                    }
                }
                ITEM_DELIMITER | SEQUENCE_DELIMITER => {
                    stack.pop();
                }
                _ => {
                    // unknown (FFFE,xxxx): treat as an element of that length
                    let remaining = remaining_in(&stack, pos);
                    skip_value(&mut reader, &mut pos, tag, length.into(), remaining)?;
                }
            }
            continue;
        }

        let (vr, length) = match encoding {
            Encoding::ImplicitLittle => {
                let vr = StandardDataDictionary
                    .by_tag(tag)
                    .map(|e| e.vr().relaxed())
                    .unwrap_or(VR::UN);
                (vr, u32_at([head[4], head[5], head[6], head[7]]))
            }
            Encoding::ExplicitLittle | Encoding::ExplicitBig => {
                let vr = VR::from_binary([head[4], head[5]]).unwrap_or(VR::UN);
                if has_long_length(&head[4..6]) {
                    let mut long = [0u8; 4];
                    if read_exact_or_eof(&mut reader, &mut long).map_err(io)? < 4 {
                        return Ok(());
                    }
                    pos += 4;
                    (vr, u32_at(long))
                } else {
                    let short = if big {
                        u16::from_be_bytes([head[6], head[7]])
                    } else {
                        u16::from_le_bytes([head[6], head[7]])
                    };
                    (vr, u32::from(short))
                }
            }
        };

        let remaining = remaining_in(&stack, pos);
        if length == UNDEFINED {
            // an undefined length opens a sequence (SQ, UN holding a sequence, or
            // encapsulated pixel data, whose fragments are items too)
            let holds = if tag == Tag(0x7FE0, 0x0010) || vr == VR::OB || vr == VR::OW {
                Holds::Fragments
            } else {
                Holds::Items
            };
            push(&mut stack, Open { end: None, holds })?;
            continue;
        }
        if u64::from(length) > remaining {
            return Err(StructureError::LengthPastEnd {
                tag,
                length: length.into(),
                remaining,
            });
        }
        if vr == VR::SQ {
            push(
                &mut stack,
                Open {
                    end: Some(pos + u64::from(length)),
                    holds: Holds::Items,
                },
            )?;
        } else {
            skip(&mut reader, length.into()).map_err(io)?;
            pos += u64::from(length);
        }
    }
}

fn push(stack: &mut Vec<Open>, open: Open) -> Result<(), StructureError> {
    let is_sequence = |o: &Open| o.holds != Holds::Elements;
    let sequences =
        stack.iter().filter(|o| is_sequence(o)).count() + usize::from(is_sequence(&open));
    if sequences > MAX_SEQUENCE_DEPTH {
        return Err(StructureError::TooDeep);
    }
    stack.push(open);
    Ok(())
}

fn skip_value<R: BufRead + Seek>(
    reader: &mut R,
    pos: &mut u64,
    tag: Tag,
    length: u64,
    remaining: u64,
) -> Result<(), StructureError> {
    if length > remaining {
        return Err(StructureError::LengthPastEnd {
            tag,
            length,
            remaining,
        });
    }
    skip(reader, length).map_err(|e| StructureError::Io(e.to_string()))?;
    *pos += length;
    Ok(())
}

fn skip<R: BufRead + Seek>(reader: &mut R, length: u64) -> std::io::Result<()> {
    reader.seek_relative(length as i64)
}

/// VRs whose explicit encoding has two reserved bytes and a 32-bit length (PS3.5 7.1.2).
fn has_long_length(vr: &[u8]) -> bool {
    matches!(
        vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

fn read_exact_or_eof<R: Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
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
        if has_long_length(vr) {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else {
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
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
}
