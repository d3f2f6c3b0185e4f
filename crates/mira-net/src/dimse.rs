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
    /// C-FIND-RQ.
    pub const C_FIND_RQ: u16 = 0x0020;
    /// C-GET-RQ.
    pub const C_GET_RQ: u16 = 0x0010;
    /// C-MOVE-RQ.
    pub const C_MOVE_RQ: u16 = 0x0021;
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
    /// Error: cannot understand (C-STORE); unable to process (C-FIND, C-MOVE, C-GET).
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
    /// Pending: a match or sub-operation follows (PS3.4 C.4.1.1.4, C.4.2.1.5).
    pub const PENDING: u16 = 0xFF00;
    /// Cancel: the operation was cancelled by a C-CANCEL.
    pub const CANCEL: u16 = 0xFE00;
    /// Failure: identifier does not match SOP class (C-FIND, C-MOVE, C-GET).
    pub const IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS: u16 = 0xA900;
    /// Refused: out of resources, unable to calculate the number of matches.
    pub const UNABLE_TO_CALCULATE_MATCHES: u16 = 0xA701;
    /// Refused: out of resources, unable to perform sub-operations.
    pub const UNABLE_TO_PERFORM_SUB_OPERATIONS: u16 = 0xA702;
    /// Refused: move destination unknown.
    pub const MOVE_DESTINATION_UNKNOWN: u16 = 0xA801;
    /// Warning: sub-operations complete, one or more failures or warnings.
    pub const SUB_OPERATIONS_COMPLETE_WITH_FAILURES: u16 = 0xB000;

    /// Whether a C-STORE-RSP status counts as a warning sub-operation (PS3.4 B.2.3).
    pub fn is_warning(status: u16) -> bool {
        status == 0x0001 || (0xB000..=0xBFFF).contains(&status)
    }
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
    /// Priority (0000,0700); 0 (medium) when absent.
    pub priority: u16,
    /// Move Destination (0000,0600) of a C-MOVE-RQ, empty when absent.
    pub move_destination: String,
    /// Message ID Being Responded To (0000,0120) of a response, 0 when absent.
    pub message_id_being_responded_to: u16,
    /// Status (0000,0900) of a response, 0 when absent.
    pub status: u16,
}

/// Counts of the sub-operations of a C-MOVE or C-GET (PS3.7 §9.1.3, 9.1.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubOperations {
    /// Not yet performed; `None` in a final response.
    pub remaining: Option<u16>,
    /// Completed with success.
    pub completed: u16,
    /// Failed.
    pub failed: u16,
    /// Completed with a warning.
    pub warning: u16,
}

/// A response to send.
#[derive(Debug, Clone, Default)]
pub struct Response<'a> {
    /// Status (0000,0900).
    pub status: u16,
    /// Error Comment (0000,0902) for failures.
    pub error_comment: Option<&'a str>,
    /// Whether an identifier data set follows the command.
    pub has_data_set: bool,
    /// Sub-operation counts of C-MOVE and C-GET responses.
    pub sub_operations: Option<SubOperations>,
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
    // responses and C-CANCEL-RQ carry Message ID Being Responded To instead of a Message ID
    let is_response = obj
        .get(tags::COMMAND_FIELD)
        .and_then(|e| e.to_int::<u16>().ok())
        .is_some_and(|f| f & 0x8000 != 0 || f == command_field::C_CANCEL_RQ);
    let u16_of = |tag| obj.get(tag).and_then(|e| e.to_int::<u16>().ok());
    let str_of = |tag| {
        obj.get(tag)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .unwrap_or_default()
    };
    Ok(Request {
        command_field: u16_of(tags::COMMAND_FIELD).ok_or(CommandError::Missing("Command Field"))?,
        message_id: match u16_of(tags::MESSAGE_ID) {
            Some(id) => id,
            None if is_response => 0,
            None => return Err(CommandError::Missing("Message ID")),
        },
        affected_sop_class_uid: str_of(tags::AFFECTED_SOP_CLASS_UID),
        affected_sop_instance_uid: str_of(tags::AFFECTED_SOP_INSTANCE_UID),
        has_data_set: u16_of(tags::COMMAND_DATA_SET_TYPE).is_some_and(|t| t != NO_DATA_SET),
        priority: u16_of(tags::PRIORITY).unwrap_or(0),
        move_destination: str_of(tags::MOVE_DESTINATION),
        message_id_being_responded_to: u16_of(tags::MESSAGE_ID_BEING_RESPONDED_TO).unwrap_or(0),
        status: u16_of(tags::STATUS).unwrap_or(0),
    })
}

/// Encodes the response to `request` with `status`, and an Error Comment (0000,0902) for
/// failures, cut to the 64 characters an LO holds.
pub fn encode_response(
    request: &Request,
    status: u16,
    error_comment: Option<&str>,
) -> Result<Vec<u8>, CommandError> {
    encode(
        request,
        &Response {
            status,
            error_comment,
            ..Response::default()
        },
    )
}

/// Encodes a response to `request`.
pub fn encode(request: &Request, response: &Response<'_>) -> Result<Vec<u8>, CommandError> {
    let us = |tag, value: u16| DataElement::new(tag, VR::US, dicom_value!(U16, [value]));
    let data_set_type = if response.has_data_set {
        0x0102
    } else {
        NO_DATA_SET
    };
    let mut elements = vec![
        us(tags::COMMAND_FIELD, request.command_field | 0x8000),
        us(tags::MESSAGE_ID_BEING_RESPONDED_TO, request.message_id),
        us(tags::COMMAND_DATA_SET_TYPE, data_set_type),
        us(tags::STATUS, response.status),
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
    if let Some(counts) = response.sub_operations {
        if let Some(remaining) = counts.remaining {
            elements.push(us(tags::NUMBER_OF_REMAINING_SUBOPERATIONS, remaining));
        }
        elements.push(us(
            tags::NUMBER_OF_COMPLETED_SUBOPERATIONS,
            counts.completed,
        ));
        elements.push(us(tags::NUMBER_OF_FAILED_SUBOPERATIONS, counts.failed));
        elements.push(us(tags::NUMBER_OF_WARNING_SUBOPERATIONS, counts.warning));
    }
    if let Some(comment) = response.error_comment {
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
    write_command(elements)
}

/// Encodes a C-STORE-RQ, as a C-MOVE or C-GET sub-operation when `move_originator` names the
/// C-MOVE requestor's AE title and message ID.
pub fn encode_store_request(
    message_id: u16,
    sop_class_uid: &str,
    sop_instance_uid: &str,
    move_originator: Option<(&str, u16)>,
) -> Result<Vec<u8>, CommandError> {
    let us = |tag, value: u16| DataElement::new(tag, VR::US, dicom_value!(U16, [value]));
    let mut elements = vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class_uid),
        ),
        us(tags::COMMAND_FIELD, command_field::C_STORE_RQ),
        us(tags::MESSAGE_ID, message_id),
        us(tags::PRIORITY, 0),
        us(tags::COMMAND_DATA_SET_TYPE, 0x0102),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(sop_instance_uid),
        ),
    ];
    if let Some((ae_title, id)) = move_originator {
        elements.push(DataElement::new(
            tags::MOVE_ORIGINATOR_APPLICATION_ENTITY_TITLE,
            VR::AE,
            PrimitiveValue::from(ae_title),
        ));
        elements.push(us(tags::MOVE_ORIGINATOR_MESSAGE_ID, id));
    }
    write_command(elements)
}

fn write_command(elements: Vec<DataElement<InMemDicomObject>>) -> Result<Vec<u8>, CommandError> {
    // command_from_element_iter sorts the elements and computes the group length
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
            priority: 0,
            move_destination: String::new(),
            message_id_being_responded_to: 0,
            status: 0,
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
    fn sub_operation_counts_and_store_requests_round_trip() {
        let request = Request {
            command_field: command_field::C_MOVE_RQ,
            message_id: 9,
            affected_sop_class_uid: "1.2.840.10008.5.1.4.1.2.2.2".into(),
            affected_sop_instance_uid: String::new(),
            has_data_set: true,
            priority: 0,
            move_destination: "STORESCP".into(),
            message_id_being_responded_to: 0,
            status: 0,
        };
        let counts = SubOperations {
            remaining: Some(3),
            completed: 2,
            failed: 1,
            warning: 0,
        };
        let bytes = encode(
            &request,
            &Response {
                status: status::PENDING,
                sub_operations: Some(counts),
                ..Response::default()
            },
        )
        .unwrap();
        let decoded = decode_request(&bytes).unwrap();
        assert_eq!(decoded.command_field, 0x8021);
        assert_eq!(decoded.message_id_being_responded_to, 9);
        assert_eq!(decoded.status, status::PENDING);
        let obj =
            InMemDicomObject::read_dataset_with_ts(&bytes[..], &IMPLICIT_VR_LITTLE_ENDIAN.erased())
                .unwrap();
        let count = |tag| obj.get(tag).unwrap().to_int::<u16>().unwrap();
        assert_eq!(count(tags::NUMBER_OF_REMAINING_SUBOPERATIONS), 3);
        assert_eq!(count(tags::NUMBER_OF_COMPLETED_SUBOPERATIONS), 2);
        assert_eq!(count(tags::NUMBER_OF_FAILED_SUBOPERATIONS), 1);

        let store = encode_store_request(5, "1.2.3", "4.5.6", Some(("FINDSCU", 9))).unwrap();
        let decoded = decode_request(&store).unwrap();
        assert_eq!(decoded.command_field, command_field::C_STORE_RQ);
        assert_eq!(decoded.message_id, 5);
        assert_eq!(decoded.affected_sop_instance_uid, "4.5.6");
        assert!(decoded.has_data_set);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_request(&[0xff; 7]).is_err());
        assert!(decode_request(&[]).is_err());
    }
}
