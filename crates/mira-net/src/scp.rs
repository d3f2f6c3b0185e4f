//! The storage SCP: association acceptance, C-ECHO and C-STORE.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dicom_dictionary_std::uids;
use dicom_ul::Pdu;
use dicom_ul::association::AsyncServerAssociation;
use dicom_ul::association::server::{AccessControl, DefaultNegotiation, ServerAssociationOptions};
use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
    AssociationRJServiceUserReason, AssociationRJSource, PDataValue, PDataValueType,
    PresentationContextResultReason, UserIdentity,
};
use mira_dicom::part10::{meta_for_received_instance, write_head};
use mira_dicom::syntax::{ACCEPTED_TRANSFER_SYNTAXES, STORAGE_SOP_CLASSES, is_storage_sop_class};
use mira_ingest::StagingFile;
use mira_ingest::{DatasetDigest, Expected, Ingest, IngestError, Outcome, StagedReceipt};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::dimse::{self, Request, command_field, status};

/// Settings of the DIMSE service provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScpConfig {
    /// Address and port to listen on (DICOM's registered port is 104; 11112 needs no privilege).
    pub listen: std::net::SocketAddr,
    /// This node's AE title.
    pub ae_title: String,
    /// Calling AE titles allowed to associate; empty allows any.
    pub allowed_calling_ae_titles: Vec<String>,
    /// Refuse associations whose called AE title is not [`ae_title`](Self::ae_title).
    pub require_called_ae_title: bool,
    /// Most associations served at once; more are refused as "local limit exceeded".
    pub max_associations: usize,
    /// Largest P-DATA PDU this node accepts, in bytes.
    pub max_pdu_length: u32,
    /// Seconds to wait for the next PDU before aborting an association.
    pub read_timeout_secs: u64,
    /// Seconds to wait for a PDU to be sent before aborting an association.
    pub write_timeout_secs: u64,
    /// Accept SOP classes that are not standard storage classes (private classes).
    pub accept_unknown_sop_classes: bool,
}

impl Default for ScpConfig {
    fn default() -> Self {
        ScpConfig {
            listen: std::net::SocketAddr::from(([0, 0, 0, 0], 11112)),
            ae_title: "MIRA".to_string(),
            allowed_calling_ae_titles: Vec::new(),
            require_called_ae_title: false,
            max_associations: 64,
            max_pdu_length: 128 * 1024,
            read_timeout_secs: 60,
            write_timeout_secs: 60,
            accept_unknown_sop_classes: false,
        }
    }
}

/// AE-title policy: the allow-list of calling AE titles and, optionally, the called AE title.
#[derive(Debug, Clone)]
pub struct AeTitlePolicy {
    allowed_calling: Vec<String>,
    require_called: bool,
}

impl AccessControl for AeTitlePolicy {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        let calling = calling_ae_title.trim();
        if !self.allowed_calling.is_empty() && !self.allowed_calling.iter().any(|ae| ae == calling)
        {
            tracing::warn!(
                calling_ae = calling,
                "association refused: calling AE title not in the allow-list"
            );
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        if self.require_called && called_ae_title.trim() != this_ae_title {
            tracing::warn!(
                calling_ae = calling,
                called_ae = called_ae_title.trim(),
                "association refused: wrong called AE title"
            );
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        Ok(())
    }
}

/// The DIMSE service provider: accepts associations and serves C-ECHO and C-STORE into the
/// ingest pipeline.
pub struct StoreScp {
    config: ScpConfig,
    ingest: Ingest,
    options: ServerAssociationOptions<'static, AeTitlePolicy, DefaultNegotiation>,
    slots: Arc<Semaphore>,
}

impl StoreScp {
    /// Prepares the provider.
    pub fn new(config: ScpConfig, ingest: Ingest) -> Self {
        let policy = AeTitlePolicy {
            allowed_calling: config
                .allowed_calling_ae_titles
                .iter()
                .map(|s| s.trim().to_string())
                .collect(),
            require_called: config.require_called_ae_title,
        };
        let mut options = ServerAssociationOptions::new()
            .ae_access_control(policy)
            .ae_title(config.ae_title.clone())
            .max_pdu_length(config.max_pdu_length)
            .read_timeout(Duration::from_secs(config.read_timeout_secs))
            .write_timeout(Duration::from_secs(config.write_timeout_secs))
            .promiscuous(config.accept_unknown_sop_classes)
            .with_abstract_syntax(uids::VERIFICATION);
        for sop_class in STORAGE_SOP_CLASSES {
            options = options.with_abstract_syntax(*sop_class);
        }
        for ts in ACCEPTED_TRANSFER_SYNTAXES {
            options = options.with_transfer_syntax(*ts);
        }
        let slots = Arc::new(Semaphore::new(config.max_associations.max(1)));
        StoreScp {
            config,
            ingest,
            options,
            slots,
        }
    }

    /// Serves connections from `listener` until `shutdown` turns true; then waits for open
    /// associations to finish.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            let (socket, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning
                        tracing::error!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = shutdown.changed() => break,
            };
            let scp = self.clone();
            tasks.spawn(async move { scp.handle_connection(socket, peer).await });
            while let Some(done) = tasks.try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "association task failed");
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "association task failed");
            }
        }
        Ok(())
    }

    async fn handle_connection(&self, mut socket: TcpStream, peer: SocketAddr) {
        // DIMSE is request/response over small PDUs: Nagle would hold each response back.
        let _ = socket.set_nodelay(true);
        let Ok(_slot) = self.slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = self.config.max_associations, "association refused: too many associations");
            let rj = Pdu::AssociationRJ(AssociationRJ {
                result: AssociationRJResult::Transient,
                source: AssociationRJSource::ServiceProviderPresentation(
                    AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
                ),
            });
            let mut bytes = Vec::new();
            if dicom_ul::write_pdu(&mut bytes, &rj).is_ok() {
                let _ = socket.write_all(&bytes).await;
            }
            let _ = socket.shutdown().await;
            return;
        };
        let association = match self.options.establish_async(socket).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "association not established");
                return;
            }
        };
        let calling_ae = dicom_ul::association::Association::peer_ae_title(&association)
            .trim()
            .to_string();
        let accepted = association
            .presentation_contexts()
            .iter()
            .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
            .count();
        tracing::info!(%peer, calling_ae, contexts = accepted, "association established");
        let mut session = Session {
            scp: self,
            association,
            calling_ae,
            peer,
            stats: SessionStats::default(),
        };
        let end = session.run().await;
        let SessionStats { stored, failed } = session.stats;
        match end {
            Ok(how) => {
                tracing::info!(%peer, calling_ae = session.calling_ae, stored, failed, "association {how}")
            }
            Err(e) => {
                tracing::warn!(%peer, calling_ae = session.calling_ae, stored, failed, error = %e, "association aborted")
            }
        }
    }
}

#[derive(Default)]
struct SessionStats {
    stored: u64,
    failed: u64,
}

/// An error that ends an association.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("upper layer: {0}")]
    Ul(#[from] dicom_ul::association::Error),
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    #[error(transparent)]
    Command(#[from] dimse::CommandError),
}

/// Where a C-STORE's data set goes while it arrives.
enum Sink {
    /// Streaming to a staging file.
    Staging {
        file: StagingFile,
        digest: DatasetDigest,
        dataset_offset: u64,
    },
    /// The request will fail; the data is read and dropped.
    Discard { status: u16, reason: String },
}

enum State {
    Idle,
    /// Command fragments of one message.
    Command {
        pc_id: u8,
        bytes: Vec<u8>,
    },
    /// Data fragments of a C-STORE.
    Data {
        pc_id: u8,
        request: Request,
        sink: Sink,
    },
}

struct Session<'a> {
    scp: &'a StoreScp,
    association: AsyncServerAssociation<TcpStream>,
    calling_ae: String,
    peer: SocketAddr,
    stats: SessionStats,
}

impl Session<'_> {
    async fn run(&mut self) -> Result<&'static str, SessionError> {
        let mut state = State::Idle;
        loop {
            let pdu = self.association.receive().await?;
            match pdu {
                Pdu::PData { data } => {
                    for pdv in data {
                        state = self.on_pdv(state, pdv).await?;
                    }
                }
                Pdu::ReleaseRQ => {
                    self.association.send(&Pdu::ReleaseRP).await?;
                    return Ok("released");
                }
                Pdu::AbortRQ { .. } => return Ok("aborted by peer"),
                _ => {
                    let _ = self
                        .association
                        .send(&Pdu::AbortRQ {
                            source: dicom_ul::pdu::AbortRQSource::ServiceProvider(
                                dicom_ul::pdu::AbortRQServiceProviderReason::UnexpectedPdu,
                            ),
                        })
                        .await;
                    return Err(SessionError::Protocol("unexpected PDU"));
                }
            }
        }
    }

    async fn on_pdv(&mut self, state: State, pdv: PDataValue) -> Result<State, SessionError> {
        match (state, pdv.value_type.clone()) {
            (State::Idle, PDataValueType::Command) => {
                self.on_command_fragment(pdv.presentation_context_id, Vec::new(), pdv)
                    .await
            }
            (State::Command { pc_id, bytes }, PDataValueType::Command)
                if pc_id == pdv.presentation_context_id =>
            {
                self.on_command_fragment(pc_id, bytes, pdv).await
            }
            (
                State::Data {
                    pc_id,
                    request,
                    mut sink,
                },
                PDataValueType::Data,
            ) if pc_id == pdv.presentation_context_id => {
                if let Sink::Staging { file, digest, .. } = &mut sink {
                    digest.update(&pdv.data);
                    if let Err(e) = file.write_all(&pdv.data) {
                        tracing::error!(calling_ae = self.calling_ae, error = %e, "cannot write received data");
                        let status = if e.is_out_of_space() {
                            status::OUT_OF_RESOURCES
                        } else {
                            status::PROCESSING_FAILURE
                        };
                        sink = Sink::Discard {
                            status,
                            reason: "storage write failed".into(),
                        };
                    }
                }
                if pdv.is_last {
                    self.finish_store(pc_id, request, sink).await?;
                    Ok(State::Idle)
                } else {
                    Ok(State::Data {
                        pc_id,
                        request,
                        sink,
                    })
                }
            }
            _ => Err(SessionError::Protocol("P-DATA fragment out of sequence")),
        }
    }

    async fn on_command_fragment(
        &mut self,
        pc_id: u8,
        mut bytes: Vec<u8>,
        pdv: PDataValue,
    ) -> Result<State, SessionError> {
        bytes.extend_from_slice(&pdv.data);
        if bytes.len() > 64 * 1024 {
            return Err(SessionError::Protocol("command set larger than 64 KiB"));
        }
        if !pdv.is_last {
            return Ok(State::Command { pc_id, bytes });
        }
        let request = dimse::decode_request(&bytes)?;
        match request.command_field {
            command_field::C_ECHO_RQ => {
                self.respond(pc_id, &request, status::SUCCESS, None).await?;
                Ok(State::Idle)
            }
            command_field::C_STORE_RQ if request.has_data_set => {
                let sink = self.open_sink(pc_id, &request);
                Ok(State::Data {
                    pc_id,
                    request,
                    sink,
                })
            }
            command_field::C_CANCEL_RQ => Ok(State::Idle),
            _ if request.has_data_set => Ok(State::Data {
                pc_id,
                sink: Sink::Discard {
                    status: status::UNRECOGNIZED_OPERATION,
                    reason: "operation not supported".into(),
                },
                request,
            }),
            _ => {
                self.respond(
                    pc_id,
                    &request,
                    status::UNRECOGNIZED_OPERATION,
                    Some("operation not supported"),
                )
                .await?;
                Ok(State::Idle)
            }
        }
    }

    /// Opens the staging file for a C-STORE and writes the File Meta Information to it, or
    /// decides the status the request will fail with.
    fn open_sink(&self, pc_id: u8, request: &Request) -> Sink {
        let Some(pc) =
            self.association.presentation_contexts().iter().find(|pc| {
                pc.id == pc_id && pc.reason == PresentationContextResultReason::Acceptance
            })
        else {
            return Sink::Discard {
                status: status::CANNOT_UNDERSTAND,
                reason: "presentation context not accepted".into(),
            };
        };
        let abstract_syntax = mira_dicom::syntax::trim_uid(&pc.abstract_syntax);
        if abstract_syntax != mira_dicom::syntax::trim_uid(&request.affected_sop_class_uid) {
            return Sink::Discard {
                status: status::SOP_CLASS_NOT_SUPPORTED,
                reason: "SOP class differs from the presentation context".into(),
            };
        }
        if !is_storage_sop_class(abstract_syntax) && !self.scp.config.accept_unknown_sop_classes {
            return Sink::Discard {
                status: status::SOP_CLASS_NOT_SUPPORTED,
                reason: "not a storage SOP class".into(),
            };
        }
        let meta = match meta_for_received_instance(
            &request.affected_sop_class_uid,
            &request.affected_sop_instance_uid,
            &pc.transfer_syntax,
            &self.calling_ae,
        ) {
            Ok(meta) => meta,
            Err(e) => {
                return Sink::Discard {
                    status: status::CANNOT_UNDERSTAND,
                    reason: e.to_string(),
                };
            }
        };
        let opened = self
            .scp
            .ingest
            .stage()
            .map_err(|e| e.to_string())
            .and_then(|mut file| {
                let mut head = Vec::with_capacity(512);
                let offset = write_head(&mut head, &meta).map_err(|e| e.to_string())?;
                file.write_all(&head).map_err(|e| e.to_string())?;
                Ok((file, offset))
            });
        match opened {
            Ok((file, dataset_offset)) => Sink::Staging {
                file,
                digest: DatasetDigest::new(0),
                dataset_offset,
            },
            Err(reason) => {
                tracing::error!(
                    calling_ae = self.calling_ae,
                    reason,
                    "cannot open a staging file"
                );
                Sink::Discard {
                    status: status::OUT_OF_RESOURCES,
                    reason: "cannot store now".into(),
                }
            }
        }
    }

    async fn finish_store(
        &mut self,
        pc_id: u8,
        request: Request,
        sink: Sink,
    ) -> Result<(), SessionError> {
        let (code, reason) = match sink {
            Sink::Discard { status, reason } => (status, Some(reason)),
            Sink::Staging {
                file,
                digest,
                dataset_offset,
            } => {
                let receipt = StagedReceipt {
                    file,
                    key: digest.finish(),
                    dataset_offset,
                    received_from: self.calling_ae.clone(),
                    expected: Some(Expected {
                        sop_class_uid: request.affected_sop_class_uid.clone(),
                        sop_instance_uid: request.affected_sop_instance_uid.clone(),
                    }),
                };
                match self.scp.ingest.accept(receipt).await {
                    Ok(receipt) => match receipt.outcome {
                        Outcome::RejectedConflict => (
                            status::DUPLICATE_SOP_INSTANCE,
                            Some("SOP Instance UID stored with different content".to_string()),
                        ),
                        _ => (status::SUCCESS, None),
                    },
                    Err(e) => (store_failure_status(&e), Some(e.to_string())),
                }
            }
        };
        if code == status::SUCCESS {
            self.stats.stored += 1;
        } else {
            self.stats.failed += 1;
            tracing::warn!(
                peer = %self.peer,
                calling_ae = self.calling_ae,
                status = format_args!("{code:#06X}"),
                reason = reason.as_deref().unwrap_or(""),
                "C-STORE failed"
            );
        }
        self.respond(pc_id, &request, code, reason.as_deref()).await
    }

    async fn respond(
        &mut self,
        pc_id: u8,
        request: &Request,
        code: u16,
        comment: Option<&str>,
    ) -> Result<(), SessionError> {
        let data = dimse::encode_response(request, code, comment)?;
        self.association
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc_id,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data,
                }],
            })
            .await?;
        Ok(())
    }
}

/// Maps an ingest failure to the C-STORE status of PS3.4 B.2.3.
pub fn store_failure_status(error: &IngestError) -> u16 {
    match error {
        e if e.is_out_of_space() => status::OUT_OF_RESOURCES,
        IngestError::Closed => status::OUT_OF_RESOURCES,
        IngestError::Store(_) => status::PROCESSING_FAILURE,
        IngestError::RequestMismatch { field } if field.contains("Class") => {
            status::DATA_SET_DOES_NOT_MATCH_SOP_CLASS
        }
        _ => status::CANNOT_UNDERSTAND,
    }
}
