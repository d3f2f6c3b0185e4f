//! The C-STORE sub-operations of C-MOVE and C-GET (PS3.4 C.4.2, C.4.3): choosing a
//! presentation context for each instance, converting between the uncompressed transfer
//! syntaxes when the peer did not accept the stored one, and the C-STORE-RQ/RSP exchange on
//! either kind of association.

use std::time::Duration;

use dicom_object::InMemDicomObject;
use dicom_pixeldata::Transcode;
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use dicom_ul::Pdu;
use dicom_ul::association::{AsyncAssociation, AsyncClientAssociation, ClientAssociationOptions};
use dicom_ul::pdu::{
    PDataValue, PDataValueType, PresentationContextNegotiated, PresentationContextResultReason,
};
use mira_dicom::syntax::trim_uid;
use mira_store::{Archive, BlobKey, InstanceLocation};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::dimse::{self, command_field};

const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
const DEFLATED_EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1.99";
const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";

/// Transfer syntaxes whose data sets dicom-object can rewrite in another of them: the pixel
/// data is native, so only the encoding of the elements changes.
fn is_native(ts: &str) -> bool {
    matches!(
        ts,
        EXPLICIT_VR_LE | IMPLICIT_VR_LE | DEFLATED_EXPLICIT_VR_LE | EXPLICIT_VR_BE
    )
}

/// An error that ends the sub-operations (the association with the peer failed).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RetrieveError {
    #[error("upper layer: {0}")]
    Ul(#[from] dicom_ul::association::Error),
    #[error("writing P-DATA: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Command(#[from] dimse::CommandError),
    #[error("peer: {0}")]
    Peer(&'static str),
}

/// The presentation contexts to propose to a C-MOVE destination for `instances`: per SOP
/// class, one context for each compressed transfer syntax stored (so that the peer cannot
/// pick another syntax for it), and one with the uncompressed syntaxes: the stored native
/// ones first, then explicit and implicit VR little endian, which every peer accepts and
/// into which compressed instances are decoded when the peer takes nothing else.
pub(crate) fn proposed_contexts(instances: &[InstanceLocation]) -> Vec<(String, Vec<String>)> {
    let mut contexts: Vec<(String, Vec<String>)> = Vec::new();
    for loc in instances {
        let sop_class = trim_uid(&loc.sop_class_uid).to_string();
        let ts = trim_uid(&loc.transfer_syntax_uid).to_string();
        let native = contexts
            .iter()
            .position(|(class, list)| *class == sop_class && list.len() > 1);
        let native = match native {
            Some(i) => i,
            None => {
                contexts.push((
                    sop_class.clone(),
                    vec![EXPLICIT_VR_LE.into(), IMPLICIT_VR_LE.into()],
                ));
                contexts.len() - 1
            }
        };
        if is_native(&ts) {
            let list = &mut contexts[native].1;
            if !list.contains(&ts) {
                list.insert(0, ts);
            }
        } else if !contexts
            .iter()
            .any(|(class, list)| *class == sop_class && list.len() == 1 && list[0] == ts)
        {
            contexts.push((sop_class, vec![ts]));
        }
    }
    // PS3.8: at most 128 presentation contexts (odd IDs 1..=255)
    contexts.truncate(128);
    contexts
}

/// The accepted presentation context to send `loc` on: one in the stored transfer syntax if
/// the peer accepted it, else one in an uncompressed syntax (the data set is converted, and
/// compressed pixel data decoded, by [`dataset_bytes`]).
pub(crate) fn choose_context<'a>(
    contexts: &'a [PresentationContextNegotiated],
    loc: &InstanceLocation,
) -> Option<&'a PresentationContextNegotiated> {
    let sop_class = trim_uid(&loc.sop_class_uid);
    let stored = trim_uid(&loc.transfer_syntax_uid);
    let accepted = contexts.iter().filter(|pc| {
        pc.reason == PresentationContextResultReason::Acceptance
            && trim_uid(&pc.abstract_syntax) == sop_class
    });
    let mut fallback = None;
    for pc in accepted {
        let ts = trim_uid(&pc.transfer_syntax);
        if ts == stored {
            return Some(pc);
        }
        // explicit VR little endian is the better fallback: it keeps the VRs
        if is_native(ts) && (fallback.is_none() || ts == EXPLICIT_VR_LE) {
            fallback = Some(pc);
        }
    }
    fallback
}

/// The data set of `loc` in `target_ts`: the stored bytes when the syntaxes agree; else
/// rewritten by dicom-object, decoding compressed pixel data with dicom-pixeldata first
/// (lossless: the decoded pixels are what the compressed stream holds).
pub(crate) async fn dataset_bytes(
    archive: &Archive,
    loc: &InstanceLocation,
    target_ts: &str,
) -> Result<bytes::Bytes, String> {
    let key = BlobKey::parse(&loc.blob_key).map_err(|e| e.to_string())?;
    let file = archive.blobs.get(&key).await.map_err(|e| {
        tracing::error!(blob = loc.blob_key, error = %e, "stored blob unreadable");
        "stored file unreadable".to_string()
    })?;
    let offset = usize::try_from(loc.dataset_offset).unwrap_or(usize::MAX);
    if offset > file.len() {
        return Err("stored file shorter than its header".into());
    }
    let stored = trim_uid(&loc.transfer_syntax_uid).to_string();
    let target = trim_uid(target_ts).to_string();
    if stored == target {
        return Ok(file.slice(offset..));
    }
    // decoding is CPU work: keep it off the async workers
    tokio::task::spawn_blocking(move || convert(&file, offset, &stored, &target))
        .await
        .map_err(|e| format!("conversion task failed: {e}"))?
}

fn convert(file: &[u8], offset: usize, stored: &str, target: &str) -> Result<bytes::Bytes, String> {
    let registry = TransferSyntaxRegistry;
    let (Some(from), Some(to)) = (registry.get(stored), registry.get(target)) else {
        return Err(format!("cannot convert {stored} to {target}"));
    };
    if !is_native(target) {
        return Err(format!("will not encode into {target}"));
    }
    let dataset = &file[offset..];
    let obj = if is_native(stored) {
        InMemDicomObject::read_dataset_with_ts(dataset, from)
            .map_err(|e| format!("cannot read the stored data set: {e}"))?
    } else {
        // the preamble is not part of what dicom-object's reader expects
        let mut obj = dicom_object::from_reader(file.get(128..).unwrap_or_default())
            .map_err(|e| format!("cannot read the stored file: {e}"))?;
        obj.transcode(to)
            .map_err(|e| format!("cannot decode {stored} pixel data: {e}"))?;
        obj.into_inner()
    };
    let mut out = Vec::with_capacity(dataset.len());
    obj.write_dataset_with_ts(&mut out, to)
        .map_err(|e| format!("cannot convert to {target}: {e}"))?;
    Ok(out.into())
}

/// What the peer answered to one C-STORE-RQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoreReply {
    /// The C-STORE-RSP status.
    pub status: u16,
    /// A C-CANCEL-RQ arrived while waiting (C-GET only: it shares the association).
    pub cancel_requested: bool,
}

/// Sends one C-STORE-RQ with its data set on `association` and waits for the C-STORE-RSP.
pub(crate) async fn store<A, S>(
    association: &mut A,
    pc_id: u8,
    message_id: u16,
    loc: &InstanceLocation,
    dataset: &[u8],
    move_originator: Option<(&str, u16)>,
) -> Result<StoreReply, RetrieveError>
where
    A: AsyncAssociation<S> + Send,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let command = dimse::encode_store_request(
        message_id,
        trim_uid(&loc.sop_class_uid),
        trim_uid(&loc.sop_instance_uid),
        move_originator,
    )?;
    AsyncAssociation::send(
        association,
        &Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc_id,
                value_type: PDataValueType::Command,
                is_last: true,
                data: command,
            }],
        },
    )
    .await?;
    let mut writer = association.send_pdata(pc_id);
    writer.write_all(dataset).await?;
    writer.finish().await?;

    let mut cancel_requested = false;
    let mut fragments = Vec::new();
    loop {
        match AsyncAssociation::receive(association).await? {
            Pdu::PData { data } => {
                for pdv in data {
                    if pdv.value_type != PDataValueType::Command {
                        return Err(RetrieveError::Peer("data where a response was expected"));
                    }
                    fragments.extend_from_slice(&pdv.data);
                    if !pdv.is_last {
                        continue;
                    }
                    let command = dimse::decode_request(&fragments)?;
                    fragments.clear();
                    match command.command_field {
                        0x8001 if command.message_id_being_responded_to == message_id => {
                            return Ok(StoreReply {
                                status: command.status,
                                cancel_requested,
                            });
                        }
                        command_field::C_CANCEL_RQ => cancel_requested = true,
                        _ => return Err(RetrieveError::Peer("unexpected command")),
                    }
                }
            }
            Pdu::AbortRQ { .. } => return Err(RetrieveError::Peer("aborted the association")),
            Pdu::ReleaseRQ => return Err(RetrieveError::Peer("released mid-operation")),
            _ => return Err(RetrieveError::Peer("unexpected PDU")),
        }
    }
}

/// Opens the association to a C-MOVE destination.
pub(crate) async fn connect(
    calling_ae_title: &str,
    destination_ae_title: &str,
    address: &str,
    contexts: &[(String, Vec<String>)],
    timeout: Duration,
) -> Result<AsyncClientAssociation<TcpStream>, RetrieveError> {
    let mut options = ClientAssociationOptions::new()
        .calling_ae_title(calling_ae_title.to_string())
        .called_ae_title(destination_ae_title.to_string())
        .read_timeout(timeout)
        .write_timeout(timeout)
        .connection_timeout(timeout);
    for (sop_class, syntaxes) in contexts {
        options = options.with_presentation_context(sop_class.clone(), syntaxes.clone());
    }
    let mut association = options.establish_async(address).await?;
    // each C-STORE waits for its response: Nagle would hold every last segment back
    let _ = association.inner_stream().set_nodelay(true);
    Ok(association)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(sop_class: &str, ts: &str) -> InstanceLocation {
        InstanceLocation {
            sop_instance_uid: "1.2.3".into(),
            blob_key: String::new(),
            dataset_digest: String::new(),
            dataset_offset: 0,
            size_bytes: 0,
            transfer_syntax_uid: ts.into(),
            sop_class_uid: sop_class.into(),
            series_instance_uid: "1.2".into(),
            study_instance_uid: "1".into(),
        }
    }

    fn pc(id: u8, sop_class: &str, ts: &str) -> PresentationContextNegotiated {
        PresentationContextNegotiated {
            id,
            reason: PresentationContextResultReason::Acceptance,
            transfer_syntax: ts.into(),
            abstract_syntax: sop_class.into(),
        }
    }

    const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
    const JPEG2000: &str = "1.2.840.10008.1.2.4.90";

    #[test]
    fn contexts_keep_compressed_syntaxes_apart() {
        let proposed = proposed_contexts(&[
            loc(CT, EXPLICIT_VR_LE),
            loc(CT, IMPLICIT_VR_LE),
            loc(CT, JPEG2000),
            loc(CT, JPEG2000),
        ]);
        assert_eq!(proposed.len(), 2);
        assert!(
            proposed
                .iter()
                .any(|(_, ts)| ts == &vec![JPEG2000.to_string()])
        );
        let native = proposed.iter().find(|(_, ts)| ts.len() > 1).unwrap();
        assert!(native.1.contains(&EXPLICIT_VR_LE.to_string()));
        assert!(native.1.contains(&IMPLICIT_VR_LE.to_string()));
    }

    #[test]
    fn compressed_data_goes_as_stored_or_decoded_into_explicit_vr() {
        let contexts = [pc(1, CT, EXPLICIT_VR_LE), pc(3, CT, IMPLICIT_VR_LE)];
        assert_eq!(choose_context(&contexts, &loc(CT, JPEG2000)).unwrap().id, 1);
        // no context for the class at all
        assert!(choose_context(&[pc(1, "1.2.3", EXPLICIT_VR_LE)], &loc(CT, JPEG2000)).is_none());
        assert_eq!(
            choose_context(&contexts, &loc(CT, IMPLICIT_VR_LE))
                .unwrap()
                .id,
            3
        );
        assert_eq!(
            choose_context(&contexts, &loc(CT, EXPLICIT_VR_BE))
                .unwrap()
                .id,
            1
        );
        let with_j2k = [pc(1, CT, EXPLICIT_VR_LE), pc(5, CT, JPEG2000)];
        assert_eq!(choose_context(&with_j2k, &loc(CT, JPEG2000)).unwrap().id, 5);
    }
}
