//! DIMSE command sets (PS3.7 §9 and Annex E): decoding requests, encoding responses.
//!
//! dicom-ul carries PDUs but has no DIMSE message layer, so this module is written here: it is
//! small, and the command set is a plain implicit-VR-little-endian data set that dicom-object
//! reads and writes for us.

use dicom_core::{DataElement, PrimitiveValue, VR, dicom_value};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;

/// Command Field values (PS3.7 Annex E.1).
pub mod command_field {
    /// C-STORE-RQ.
    pub const C_STORE_RQ: u16 = 0x0001;
    /// C-STORE-RSP.
    pub const C_STORE_RSP: u16 = 0x8001;
    /// C-ECHO-RQ.
    pub const C_ECHO_RQ: u16 = 0x0030;
    /// C-ECHO-RSP.
    pub const C_ECHO_RSP: u16 = 0x8030;
    /// C-CANCEL-RQ.
    pub const C_CANCEL_RQ: u16 = 0x0FFF;
}

/// Status codes mira answers with (PS3.4 Annex B.2.3, PS3.7 Annex C).
pub mod status {
    /// Success.
    pub const SUCCESS: u16 = 0x0000;
    /// Failure: duplicate SOP instance (used for the `reject` conflict policy).
    pub const DUPLICATE_SOP_INSTANCE: u16 = 0x0111;
    /// Failure: processing failure (an unexpected server-side error).
    pub const PROCESSING_FAILURE: u16 = 0x0110;
    /// Failure: SOP class not supported on this presentation context.
    pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
    /// Failure: unrecognized operation.
    pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;
    /// Refused: out of resources (storage full, shutting down).
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Error: data set does not match SOP class.
    pub const DATA_SET_DOES_NOT_MATCH_SOP_CLASS: u16 = 0xA900;
    /// Error: cannot understand.
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
}

/// Command Data Set Type value meaning "no data set follows" (PS3.7 §9.3).
pub const NO_DATA_SET: u16 = 0x0101;

/// The parts of a request command set mira acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Command Field (0000,0100).
    pub command_field: u16,
    /// Message ID (0000,0110).
    pub message_id: u16,
    /// Affected SOP Class UID (0000,0002), empty when absent.
    pub affected_sop_class_uid: String,
    /// Affected SOP Instance UID (0000,1000), empty when absent.
    pub affected_sop_instance_uid: String,
    /// Whether a data set follows (Command Data Set Type other than 0x0101).
    pub has_data_set: bool,
}

/// Why a command set could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The bytes are not an implicit VR little endian data set.
    #[error("undecodable command set: {0}")]
    Decode(String),
    /// A required command element is missing.
    #[error("command set lacks {0}")]
    Missing(&'static str),
    /// Encoding a response failed.
    #[error("could not encode a response: {0}")]
    Encode(String),
}

/// Decodes a command set.
pub fn decode_request(bytes: &[u8]) -> Result<Request, CommandError> {
    let obj = InMemDicomObject::read_dataset_with_ts(bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| CommandError::Decode(e.to_string()))?;
    let u16_of = |tag| obj.get(tag).and_then(|e| e.to_int::<u16>().ok());
    let str_of = |tag| {
        obj.get(tag)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .unwrap_or_default()
    };
    Ok(Request {
        command_field: u16_of(tags::COMMAND_FIELD).ok_or(CommandError::Missing("Command Field"))?,
        message_id: u16_of(tags::MESSAGE_ID).ok_or(CommandError::Missing("Message ID"))?,
        affected_sop_class_uid: str_of(tags::AFFECTED_SOP_CLASS_UID),
        affected_sop_instance_uid: str_of(tags::AFFECTED_SOP_INSTANCE_UID),
        has_data_set: u16_of(tags::COMMAND_DATA_SET_TYPE).is_some_and(|t| t != NO_DATA_SET),
    })
}

/// Encodes the response to `request` with `status`, and an Error Comment (0000,0902) for
/// failures, cut to the 64 characters an LO holds.
pub fn encode_response(
    request: &Request,
    status: u16,
    error_comment: Option<&str>,
) -> Result<Vec<u8>, CommandError> {
    let mut elements = vec![
        DataElement::new(
            tags::COMMAND_FIELD,
            VR::US,
            dicom_value!(U16, [request.command_field | 0x8000]),
        ),
        DataElement::new(
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            VR::US,
            dicom_value!(U16, [request.message_id]),
        ),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [NO_DATA_SET]),
        ),
        DataElement::new(tags::STATUS, VR::US, dicom_value!(U16, [status])),
    ];
    if !request.affected_sop_class_uid.is_empty() {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(request.affected_sop_class_uid.as_str()),
        ));
    }
    if !request.affected_sop_instance_uid.is_empty() {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(request.affected_sop_instance_uid.as_str()),
        ));
    }
    if let Some(comment) = error_comment {
        let cut: String = comment
            .chars()
            .filter(|c| !c.is_control() && *c != '\\')
            .take(64)
            .collect();
        elements.push(DataElement::new(
            tags::ERROR_COMMENT,
            VR::LO,
            PrimitiveValue::from(cut),
        ));
    }
    let obj = InMemDicomObject::command_from_element_iter(elements);
    let mut bytes = Vec::with_capacity(256);
    obj.write_dataset_with_ts(&mut bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| CommandError::Encode(e.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_round_trips_through_the_decoder() {
        let request = Request {
            command_field: command_field::C_STORE_RQ,
            message_id: 7,
            affected_sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            affected_sop_instance_uid: "1.2.3".into(),
            has_data_set: true,
        };
        let bytes = encode_response(
            &request,
            status::CANNOT_UNDERSTAND,
            Some("missing PatientID"),
        )
        .unwrap();
        let obj =
            InMemDicomObject::read_dataset_with_ts(&bytes[..], &IMPLICIT_VR_LITTLE_ENDIAN.erased())
                .unwrap();
        assert_eq!(
            obj.get(tags::COMMAND_FIELD)
                .unwrap()
                .to_int::<u16>()
                .unwrap(),
            0x8001
        );
        assert_eq!(
            obj.get(tags::MESSAGE_ID_BEING_RESPONDED_TO)
                .unwrap()
                .to_int::<u16>()
                .unwrap(),
            7
        );
        assert_eq!(
            obj.get(tags::STATUS).unwrap().to_int::<u16>().unwrap(),
            0xC000
        );
        assert_eq!(
            obj.get(tags::ERROR_COMMENT)
                .unwrap()
                .to_str()
                .unwrap()
                .trim(),
            "missing PatientID"
        );
        // group length counts exactly the bytes after it
        let group_length = obj
            .get(tags::COMMAND_GROUP_LENGTH)
            .unwrap()
            .to_int::<u32>()
            .unwrap();
        assert_eq!(group_length as usize, bytes.len() - 12);
        assert_eq!(
            obj.get(tags::AFFECTED_SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end_matches('\0'),
            "1.2.3"
        );
        assert_eq!(
            obj.get(tags::COMMAND_DATA_SET_TYPE)
                .unwrap()
                .to_int::<u16>()
                .unwrap(),
            NO_DATA_SET
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_request(&[0xff; 7]).is_err());
        assert!(decode_request(&[]).is_err());
    }
}
