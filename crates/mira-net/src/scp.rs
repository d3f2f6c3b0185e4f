//! The DIMSE service provider: association acceptance, C-ECHO, C-STORE, C-FIND, C-MOVE and
//! C-GET.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dicom_dictionary_std::uids;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use dicom_ul::Pdu;
use dicom_ul::association::AsyncAssociation;
use dicom_ul::association::AsyncServerAssociation;
use dicom_ul::association::server::AsyncTlsStream;
use dicom_ul::association::server::{AccessControl, Negotiation, ServerAssociationOptions};
use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
    AssociationRJServiceUserReason, AssociationRJSource, PDataValue, PDataValueType,
    PresentationContextResultReason, RequestorRoles, UserIdentity,
};
use mira_access::{Directory, Principal};
use mira_audit::{Actor, AuditAction, AuditEvent, AuditObject, AuditSink, Outcome as AuditOutcome};
use mira_dicom::part10::{meta_for_received_instance, write_head};
use mira_dicom::syntax::{ACCEPTED_TRANSFER_SYNTAXES, STORAGE_SOP_CLASSES, is_storage_sop_class};
use mira_ingest::StagingFile;
use mira_ingest::{DatasetDigest, Expected, Ingest, IngestError, Outcome, StagedReceipt};
use mira_store::{InstanceLocation, Query, QueryFailure, QueryOptions, SiteFilter};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::dimse::{self, Request, Response, SubOperations, command_field, status};
use crate::qr::{self, FindRequest, Refusal, Service};
use crate::retrieve;

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
    /// C-MOVE destinations: AE title → `host:port`.
    pub move_destinations: BTreeMap<String, String>,
    /// Match PN keys of C-FIND without regard to case.
    pub case_insensitive_pn: bool,
    /// DICOM over TLS (PS3.15 Annex B.9/B.11): every association on this port is TLS;
    /// with `client_ca_file`, peers must present a certificate of that CA.
    pub tls: Option<mira_access::TlsFiles>,
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
            move_destinations: BTreeMap::new(),
            case_insensitive_pn: true,
            tls: None,
        }
    }
}

/// AE-title policy: the allow-list of calling AE titles and, optionally, the called AE title;
/// with access control, only AE titles registered to a site may associate.
#[derive(Debug, Clone)]
pub struct AeTitlePolicy {
    allowed_calling: Vec<String>,
    require_called: bool,
    registered: Option<RegisteredAes>,
}

/// A snapshot of the registered AE titles and their principals, renewed before each
/// association (dicom-ul's access check is synchronous; the directory is a database).
type RegisteredAes = Arc<std::sync::RwLock<HashMap<String, Principal>>>;

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
        if let Some(registered) = &self.registered
            && !registered
                .read()
                .map(|r| r.contains_key(calling))
                .unwrap_or(false)
        {
            tracing::warn!(
                calling_ae = calling,
                "association refused: calling AE title not registered to a site"
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

/// Role negotiation (PS3.7 D.3.3.4): a C-GET requestor asks to be the SCP of the storage
/// classes it wants to receive; mira grants what it asks for those classes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetrieveRoles;

impl Negotiation for RetrieveRoles {
    fn negotiate_roles(
        &self,
        sop_class_uid: &str,
        scu_role: bool,
        scp_role: bool,
    ) -> Option<RequestorRoles> {
        is_storage_sop_class(mira_dicom::syntax::trim_uid(sop_class_uid)).then_some(
            RequestorRoles {
                scu: scu_role,
                scp: scp_role,
            },
        )
    }
}

/// The DIMSE service provider: accepts associations, stores C-STORE data sets through the
/// ingest pipeline, answers C-FIND from the catalogue and sends instances for C-MOVE and
/// C-GET.
pub struct Scp {
    /// Whether associations are TLS.
    tls: bool,
    /// Where accesses are recorded.
    audit: Option<AuditSink>,
    config: ScpConfig,
    ingest: Ingest,
    options: ServerAssociationOptions<'static, AeTitlePolicy, RetrieveRoles>,
    slots: Arc<Semaphore>,
    access: Option<(Directory, RegisteredAes)>,
}

impl Scp {
    /// Prepares the provider without access control: every calling AE title (of the
    /// allow-list) sees every study. For tools and tests of this crate; `mira serve` uses
    /// [`with_access`](Self::with_access).
    pub fn new(config: ScpConfig, ingest: Ingest) -> Result<Self, mira_access::TlsError> {
        Self::build(config, ingest, None)
    }

    /// Prepares the provider with access control: a calling AE title must be registered to
    /// a site; what it stores belongs to that site, and its C-FIND, C-MOVE and C-GET reach
    /// only the studies of its sites.
    pub fn with_access(
        config: ScpConfig,
        ingest: Ingest,
        directory: Directory,
    ) -> Result<Self, mira_access::TlsError> {
        Self::build(config, ingest, Some(directory))
    }

    /// Records queries, retrieves and stores in the audit log.
    pub fn with_audit(mut self, audit: AuditSink) -> Self {
        self.audit = Some(audit);
        self
    }

    fn build(
        config: ScpConfig,
        ingest: Ingest,
        directory: Option<Directory>,
    ) -> Result<Self, mira_access::TlsError> {
        let access = directory.map(|d| (d, RegisteredAes::default()));
        let policy = AeTitlePolicy {
            registered: access.as_ref().map(|(_, r)| r.clone()),
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
            .with_negotiation(RetrieveRoles)
            .with_abstract_syntax(uids::VERIFICATION);
        for sop_class in qr::QUERY_RETRIEVE_SOP_CLASSES {
            options = options.with_abstract_syntax(*sop_class);
        }
        for sop_class in STORAGE_SOP_CLASSES {
            options = options.with_abstract_syntax(*sop_class);
        }
        for ts in ACCEPTED_TRANSFER_SYNTAXES {
            options = options.with_transfer_syntax(*ts);
        }
        if let Some(tls) = &config.tls {
            options = options.tls_config(tls.server_config(&[])?);
        }
        let slots = Arc::new(Semaphore::new(config.max_associations.max(1)));
        Ok(Scp {
            audit: None,
            tls: config.tls.is_some(),
            config,
            ingest,
            options,
            slots,
            access,
        })
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
        if let Some((directory, registered)) = &self.access {
            match directory.device_principals().await {
                Ok(fresh) => {
                    if let Ok(mut r) = registered.write() {
                        *r = fresh;
                    }
                }
                // the last snapshot stands: a database hiccup must not open the door
                Err(e) => tracing::error!(error = %e, "cannot read the registered AE titles"),
            }
        }
        let refused = if self.tls {
            match self.options.establish_tls_async(socket).await {
                Ok(a) => return self.run_session(a, peer).await,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "TLS association not established");
                    e.to_string()
                }
            }
        } else {
            match self.options.establish_async(socket).await {
                Ok(a) => return self.run_session(a, peer).await,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "association not established");
                    e.to_string()
                }
            }
        };
        // a refused association is an access attempt: the log line names the calling AE
        // title, the audit record the peer and the reason
        if let Some(sink) = &self.audit
            && refused.contains("rejected")
        {
            sink.record(AuditEvent {
                actor: Actor::AeTitle("(refused)".into()),
                site: String::new(),
                // a node failing to authenticate (DCM 110114 User Authentication)
                action: AuditAction::FailedLogin,
                object: AuditObject::None,
                outcome: AuditOutcome::Denied,
                source_address: peer.ip().to_string(),
                detail: refused,
            })
            .await;
        }
    }

    async fn run_session<S>(&self, association: AsyncServerAssociation<S>, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + PeekReady + Unpin + Send,
    {
        let calling_ae = dicom_ul::association::Association::peer_ae_title(&association)
            .trim()
            .to_string();
        let accepted = association
            .presentation_contexts()
            .iter()
            .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
            .count();
        tracing::info!(%peer, calling_ae, contexts = accepted, "association established");
        let principal = self.access.as_ref().and_then(|(_, registered)| {
            registered
                .read()
                .ok()
                .and_then(|r| r.get(&calling_ae).cloned())
        });
        if self.access.is_some() && principal.is_none() {
            // registered when the association was checked, gone since: refuse
            tracing::warn!(%peer, calling_ae, "association aborted: AE title no longer registered");
            let _ = association.abort().await;
            return;
        }
        let mut session = Session {
            scp: self,
            association,
            principal,
            calling_ae,
            peer,
            stats: SessionStats::default(),
        };
        let end = session.run().await;
        // one Store record per study the association added to (not one per instance)
        for (study, count) in std::mem::take(&mut session.stats.studies) {
            session
                .audit(
                    AuditAction::Store,
                    AuditObject::Study(study),
                    AuditOutcome::Success,
                    format!("C-STORE: {count} instances"),
                )
                .await;
        }
        let SessionStats { stored, failed, .. } = session.stats;
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
    /// Instances stored per Study Instance UID, for the audit log.
    studies: BTreeMap<String, u64>,
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
    #[error("sending P-DATA: {0}")]
    Io(std::io::Error),
}

/// How one sub-operation went.
enum SubOutcome {
    /// The peer answered with this status; `true` if a C-CANCEL arrived meanwhile.
    Status(u16, bool),
    /// Not sent: no suitable presentation context, or the stored file is unreadable.
    NotSent(String),
}

/// Performs one C-STORE sub-operation on `association`.
async fn send_one<A, S>(
    scp: &Scp,
    association: &mut A,
    loc: &InstanceLocation,
    message_id: u16,
    move_originator: Option<(&str, u16)>,
) -> Result<SubOutcome, retrieve::RetrieveError>
where
    A: AsyncAssociation<S> + Send,
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let Some(pc) = retrieve::choose_context(association.presentation_contexts(), loc) else {
        return Ok(SubOutcome::NotSent(format!(
            "peer accepted no context for {} in {}",
            loc.sop_class_uid, loc.transfer_syntax_uid
        )));
    };
    let (pc_id, ts) = (pc.id, pc.transfer_syntax.clone());
    let data = match retrieve::dataset_bytes(scp.ingest.archive(), loc, &ts).await {
        Ok(data) => data,
        Err(reason) => return Ok(SubOutcome::NotSent(reason)),
    };
    let reply =
        retrieve::store(association, pc_id, message_id, loc, &data, move_originator).await?;
    Ok(SubOutcome::Status(reply.status, reply.cancel_requested))
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
    /// The identifier of a C-FIND, C-MOVE or C-GET, collected in memory.
    Identifier(Vec<u8>),
}

/// Largest identifier accepted: queries are a few hundred bytes; a UID list of a thousand
/// studies is 64 KiB.
const MAX_IDENTIFIER_BYTES: usize = 1024 * 1024;

// One State lives per association; boxing the C-STORE variant would cost an allocation per
// instance and save nothing.
#[allow(clippy::large_enum_variant)]
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

struct Session<'a, S> {
    scp: &'a Scp,
    association: AsyncServerAssociation<S>,
    /// The calling AE's principal, with access control.
    principal: Option<Principal>,
    calling_ae: String,
    peer: SocketAddr,
    stats: SessionStats,
}

/// A stream that can tell, without reading and without waiting, whether the peer sent
/// something (C-CANCEL polling).
pub trait PeekReady {
    /// Whether bytes (or the end of the stream) are waiting.
    fn peek_ready(&mut self, cx: &mut std::task::Context<'_>) -> bool;
}

impl PeekReady for TcpStream {
    fn peek_ready(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        let mut byte = [0u8; 1];
        let mut buf = tokio::io::ReadBuf::new(&mut byte);
        self.poll_peek(cx, &mut buf).is_ready()
    }
}

impl PeekReady for AsyncTlsStream {
    fn peek_ready(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        // any TLS record from the requestor during an operation carries a PDU (or closes)
        self.get_mut().0.peek_ready(cx)
    }
}

impl<S> Session<'_, S>
where
    S: AsyncRead + AsyncWrite + PeekReady + Unpin + Send,
{
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
                if let Sink::Identifier(bytes) = &mut sink {
                    bytes.extend_from_slice(&pdv.data);
                    if bytes.len() > MAX_IDENTIFIER_BYTES {
                        return Err(SessionError::Protocol("identifier larger than 1 MiB"));
                    }
                }
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
                    match sink {
                        Sink::Identifier(bytes) => {
                            self.on_identifier(pc_id, request, bytes).await?
                        }
                        sink => self.finish_store(pc_id, request, sink).await?,
                    }
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
            command_field::C_FIND_RQ | command_field::C_MOVE_RQ | command_field::C_GET_RQ
                if request.has_data_set =>
            {
                Ok(State::Data {
                    pc_id,
                    request,
                    sink: Sink::Identifier(Vec::new()),
                })
            }
            // a C-CANCEL for an operation that already ended is ignored (PS3.7 9.3.2.3)
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
            Sink::Identifier(_) => (status::CANNOT_UNDERSTAND, Some("not a C-STORE".into())),
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
                    site: self.principal.as_ref().map(|p| p.site.code.clone()),
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
                        _ => {
                            *self
                                .stats
                                .studies
                                .entry(receipt.study_instance_uid)
                                .or_default() += 1;
                            (status::SUCCESS, None)
                        }
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

    /// A complete C-FIND, C-MOVE or C-GET request.
    async fn on_identifier(
        &mut self,
        pc_id: u8,
        request: Request,
        bytes: Vec<u8>,
    ) -> Result<(), SessionError> {
        let Some(pc) = self.accepted_context(pc_id) else {
            return self
                .respond(
                    pc_id,
                    &request,
                    status::CANNOT_UNDERSTAND,
                    Some("presentation context not accepted"),
                )
                .await;
        };
        let (ts_uid, abstract_syntax) = (pc.transfer_syntax.clone(), pc.abstract_syntax.clone());
        let Some((model, service)) = qr::model_of(&abstract_syntax) else {
            return self
                .respond(
                    pc_id,
                    &request,
                    status::SOP_CLASS_NOT_SUPPORTED,
                    Some("not a query/retrieve SOP class"),
                )
                .await;
        };
        let Some(ts) = TransferSyntaxRegistry.get(mira_dicom::syntax::trim_uid(&ts_uid)) else {
            return self
                .respond(
                    pc_id,
                    &request,
                    status::CANNOT_UNDERSTAND,
                    Some("unknown transfer syntax"),
                )
                .await;
        };
        let identifier = match InMemDicomObject::read_dataset_with_ts(&bytes[..], ts) {
            Ok(obj) => obj,
            Err(e) => {
                tracing::warn!(calling_ae = self.calling_ae, error = %e, "undecodable identifier");
                return self
                    .respond(
                        pc_id,
                        &request,
                        status::CANNOT_UNDERSTAND,
                        Some("undecodable identifier"),
                    )
                    .await;
            }
        };
        let parsed = match service {
            Service::Find => qr::find_request(&identifier, model, self.query_options()).map(Ok),
            Service::Move | Service::Get => qr::retrieve_query(&identifier, model).map(Err),
        };
        match parsed {
            Err(Refusal { status, comment }) => {
                tracing::warn!(
                    calling_ae = self.calling_ae,
                    reason = comment,
                    "query refused"
                );
                self.respond(pc_id, &request, status, Some(&comment)).await
            }
            Ok(Ok(mut find)) => {
                find.query.sites = self.sites();
                self.find(pc_id, &request, ts, find).await
            }
            Ok(Err(mut query)) => {
                query.sites = self.sites();
                self.retrieve(pc_id, &request, service, query).await
            }
        }
    }

    /// Records an access in the audit log (when the provider has one).
    async fn audit(
        &self,
        action: AuditAction,
        object: AuditObject,
        outcome: AuditOutcome,
        detail: String,
    ) {
        if let Some(sink) = &self.scp.audit {
            sink.record(AuditEvent {
                actor: Actor::AeTitle(self.calling_ae.clone()),
                site: self
                    .principal
                    .as_ref()
                    .map(|p| p.site.code.clone())
                    .unwrap_or_default(),
                action,
                object,
                outcome,
                source_address: self.peer.ip().to_string(),
                detail,
            })
            .await;
        }
    }

    /// The studies this association may reach: its AE title's sites.
    fn sites(&self) -> SiteFilter {
        self.principal
            .as_ref()
            .map_or(SiteFilter::All, |p| p.scope.clone())
    }

    fn query_options(&self) -> QueryOptions {
        QueryOptions {
            case_insensitive_pn: self.scp.config.case_insensitive_pn,
            fuzzy_names: false,
        }
    }

    fn accepted_context(&self, pc_id: u8) -> Option<&dicom_ul::pdu::PresentationContextNegotiated> {
        self.association
            .presentation_contexts()
            .iter()
            .find(|pc| pc.id == pc_id && pc.reason == PresentationContextResultReason::Acceptance)
    }

    /// C-FIND: one pending response per match, then success (PS3.4 C.4.1.3).
    async fn find(
        &mut self,
        pc_id: u8,
        request: &Request,
        ts: &dicom_encoding::TransferSyntax,
        mut find: FindRequest,
    ) -> Result<(), SessionError> {
        const PAGE: u32 = 500;
        let catalogue = self.scp.ingest.archive().catalogue.clone();
        let mut sent = 0usize;
        find.query.limit = Some(PAGE);
        loop {
            let matches = match catalogue.query(&find.query).await {
                Ok(m) => m,
                Err(e) => return self.query_failed(pc_id, request, e).await,
            };
            let page_len = matches.len();
            for m in &matches {
                if self.cancel_requested().await? {
                    tracing::info!(calling_ae = self.calling_ae, sent, "C-FIND cancelled");
                    return self.respond(pc_id, request, status::CANCEL, None).await;
                }
                let identifier = qr::match_identifier(m, &find, &self.scp.config.ae_title);
                let mut data = Vec::with_capacity(512);
                identifier
                    .write_dataset_with_ts(&mut data, ts)
                    .map_err(|e| dimse::CommandError::Encode(e.to_string()))?;
                let pending = Response {
                    status: status::PENDING,
                    has_data_set: true,
                    ..Response::default()
                };
                self.respond_with(pc_id, request, &pending, Some(&data))
                    .await?;
                sent += 1;
            }
            if page_len < PAGE as usize {
                break;
            }
            find.query.offset += PAGE;
        }
        tracing::info!(calling_ae = self.calling_ae, level = %find.query.level, matches = sent, "C-FIND");
        self.audit(
            AuditAction::Query,
            AuditObject::Query(
                request
                    .affected_sop_class_uid
                    .trim_end_matches('\0')
                    .to_string(),
            ),
            AuditOutcome::Success,
            format!("C-FIND {} level: {sent} matches", find.query.level),
        )
        .await;
        self.respond(pc_id, request, status::SUCCESS, None).await
    }

    async fn query_failed(
        &mut self,
        pc_id: u8,
        request: &Request,
        e: QueryFailure,
    ) -> Result<(), SessionError> {
        let (code, comment) = match &e {
            QueryFailure::Query(q) => (status::IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, q.to_string()),
            QueryFailure::Store(_) => (
                status::UNABLE_TO_CALCULATE_MATCHES,
                "catalogue unavailable".to_string(),
            ),
        };
        tracing::error!(calling_ae = self.calling_ae, error = %e, "query failed");
        self.respond(pc_id, request, code, Some(&comment)).await
    }

    /// C-MOVE and C-GET: C-STORE sub-operations to the destination or back on this
    /// association, with a pending response after each (PS3.4 C.4.2.3, C.4.3.3).
    async fn retrieve(
        &mut self,
        pc_id: u8,
        request: &Request,
        service: Service,
        query: Query,
    ) -> Result<(), SessionError> {
        let destination = if service == Service::Move {
            let ae = request.move_destination.trim();
            match self.scp.config.move_destinations.get(ae) {
                Some(address) => Some((ae.to_string(), address.clone())),
                None => {
                    tracing::warn!(
                        calling_ae = self.calling_ae,
                        destination = ae,
                        "C-MOVE to an unknown destination"
                    );
                    return self
                        .respond(
                            pc_id,
                            request,
                            status::MOVE_DESTINATION_UNKNOWN,
                            Some("move destination unknown"),
                        )
                        .await;
                }
            }
        } else {
            None
        };
        let catalogue = self.scp.ingest.archive().catalogue.clone();
        let instances = match catalogue.locate_matches(&query).await {
            Ok(list) => list,
            Err(e) => return self.query_failed(pc_id, request, e).await,
        };
        let total = instances.len();
        let studies: std::collections::BTreeSet<String> = instances
            .iter()
            .map(|i| i.study_instance_uid.clone())
            .collect();
        let verb = if service == Service::Move {
            "C-MOVE"
        } else {
            "C-GET"
        };
        for study in studies {
            self.audit(
                AuditAction::Retrieve,
                AuditObject::Study(study),
                AuditOutcome::Success,
                format!("{verb}: {total} instances requested"),
            )
            .await;
        }
        let mut outgoing = match destination {
            Some((ae, address)) if total > 0 => {
                let contexts = retrieve::proposed_contexts(&instances);
                let timeout = Duration::from_secs(self.scp.config.read_timeout_secs);
                match retrieve::connect(
                    &self.scp.config.ae_title,
                    &ae,
                    &address,
                    &contexts,
                    timeout,
                )
                .await
                {
                    Ok(association) => Some(association),
                    Err(e) => {
                        tracing::warn!(calling_ae = self.calling_ae, destination = ae, error = %e, "cannot reach the move destination");
                        return self
                            .respond(
                                pc_id,
                                request,
                                status::UNABLE_TO_PERFORM_SUB_OPERATIONS,
                                Some("cannot associate with the move destination"),
                            )
                            .await;
                    }
                }
            }
            _ => None,
        };
        let mut counts = SubOperations::default();
        let mut failed_uids: Vec<String> = Vec::new();
        let mut cancelled = false;
        let mut broken: Option<String> = None;
        for (n, loc) in instances.iter().enumerate() {
            if self.cancel_requested().await? {
                cancelled = true;
                break;
            }
            let message_id = (n % 0xFFFF) as u16 + 1;
            let result = match outgoing.as_mut() {
                Some(association) => {
                    let originator = (self.calling_ae.as_str(), request.message_id);
                    send_one(self.scp, association, loc, message_id, Some(originator)).await
                }
                None => send_one(self.scp, &mut self.association, loc, message_id, None).await,
            };
            match result {
                Ok(SubOutcome::Status(code, cancel)) => {
                    match code {
                        status::SUCCESS => counts.completed += 1,
                        c if status::is_warning(c) => counts.warning += 1,
                        _ => {
                            counts.failed += 1;
                            failed_uids.push(loc.sop_instance_uid.clone());
                        }
                    }
                    cancelled |= cancel;
                }
                Ok(SubOutcome::NotSent(reason)) => {
                    tracing::warn!(
                        calling_ae = self.calling_ae,
                        reason,
                        "sub-operation not performed"
                    );
                    counts.failed += 1;
                    failed_uids.push(loc.sop_instance_uid.clone());
                }
                Err(e) => {
                    broken = Some(e.to_string());
                    counts.failed += 1;
                    failed_uids.push(loc.sop_instance_uid.clone());
                    break;
                }
            }
            if cancelled {
                break;
            }
            let done = n + 1;
            if done < total {
                let pending = Response {
                    status: status::PENDING,
                    sub_operations: Some(SubOperations {
                        remaining: Some(u16::try_from(total - done).unwrap_or(u16::MAX)),
                        ..counts
                    }),
                    ..Response::default()
                };
                self.respond_with(pc_id, request, &pending, None).await?;
            }
        }
        if let Some(association) = outgoing {
            let _ = association.release().await;
        }
        let attempted = (counts.completed + counts.failed + counts.warning) as usize;
        if broken.is_some() || cancelled {
            // what was not attempted counts as failed (broken) or remaining (cancelled)
            for loc in &instances[attempted.min(total)..] {
                if broken.is_some() {
                    counts.failed += 1;
                    failed_uids.push(loc.sop_instance_uid.clone());
                }
            }
        }
        let remaining = if cancelled {
            Some(u16::try_from(total - attempted).unwrap_or(u16::MAX))
        } else {
            None
        };
        let code = if cancelled {
            status::CANCEL
        } else if counts.failed == 0 && counts.warning == 0 {
            status::SUCCESS
        } else if counts.completed == 0 && counts.warning == 0 {
            status::UNABLE_TO_PERFORM_SUB_OPERATIONS
        } else {
            status::SUB_OPERATIONS_COMPLETE_WITH_FAILURES
        };
        tracing::info!(
            calling_ae = self.calling_ae,
            service = ?service,
            level = %query.level,
            total,
            completed = counts.completed,
            failed = counts.failed,
            warning = counts.warning,
            cancelled,
            reason = broken.as_deref().unwrap_or(""),
            "retrieve finished"
        );
        // PS3.4 C.4.2.1.5: the final response lists the failed instances. Not for C-GET:
        // dcmtk's getscu (3.6.7) does not read a data set after the final C-GET-RSP and
        // fails the release; the counts and the Error Comment say what failed.
        let data = if failed_uids.is_empty() || service == Service::Get {
            None
        } else {
            let mut obj = InMemDicomObject::new_empty();
            obj.put(dicom_core::DataElement::new(
                dicom_dictionary_std::tags::FAILED_SOP_INSTANCE_UID_LIST,
                dicom_core::VR::UI,
                dicom_core::PrimitiveValue::Strs(failed_uids.into_iter().collect()),
            ));
            let ts = self.accepted_context(pc_id).and_then(|pc| {
                TransferSyntaxRegistry.get(mira_dicom::syntax::trim_uid(&pc.transfer_syntax))
            });
            let mut bytes = Vec::new();
            let written = ts.is_some_and(|ts| obj.write_dataset_with_ts(&mut bytes, ts).is_ok());
            written.then_some(bytes)
        };
        let failed_comment = format!("{} sub-operations failed", counts.failed);
        let comment = if broken.is_some() {
            Some("association with the peer failed")
        } else if counts.failed > 0 {
            Some(failed_comment.as_str())
        } else {
            None
        };
        let last = Response {
            status: code,
            error_comment: comment,
            has_data_set: data.is_some(),
            sub_operations: Some(SubOperations {
                remaining,
                ..counts
            }),
        };
        self.respond_with(pc_id, request, &last, data.as_deref())
            .await
    }

    /// Whether the requestor sent something while an operation runs; PS3.7 allows only a
    /// C-CANCEL-RQ there. Does not wait.
    async fn cancel_requested(&mut self) -> Result<bool, SessionError> {
        let (stream, buffered) = AsyncAssociation::get_mut(&mut self.association);
        let arrived = !buffered.is_empty() || {
            // one poll of a peek, without waiting: ready data (or the end of the stream, or
            // an error) means the requestor sent something. A zero timeout would instead
            // park the task until the next timer tick, about 1 ms per match.
            std::future::poll_fn(|cx| std::task::Poll::Ready(stream.peek_ready(cx))).await
        };
        if !arrived {
            return Ok(false);
        }
        match self.association.receive().await? {
            Pdu::PData { data } => {
                for pdv in data {
                    if pdv.value_type == PDataValueType::Command
                        && dimse::decode_request(&pdv.data)
                            .is_ok_and(|c| c.command_field == command_field::C_CANCEL_RQ)
                    {
                        return Ok(true);
                    }
                }
                Err(SessionError::Protocol(
                    "a message other than C-CANCEL during an operation",
                ))
            }
            Pdu::AbortRQ { .. } => Err(SessionError::Protocol(
                "aborted by peer during an operation",
            )),
            _ => Err(SessionError::Protocol("unexpected PDU during an operation")),
        }
    }

    async fn respond_with(
        &mut self,
        pc_id: u8,
        request: &Request,
        response: &Response<'_>,
        data: Option<&[u8]>,
    ) -> Result<(), SessionError> {
        let command = dimse::encode(request, response)?;
        self.association
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc_id,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: command,
                }],
            })
            .await?;
        if let Some(data) = data {
            let mut writer = self.association.send_pdata(pc_id);
            writer.write_all(data).await.map_err(SessionError::Io)?;
            writer.finish().await.map_err(SessionError::Io)?;
        }
        Ok(())
    }

    async fn respond(
        &mut self,
        pc_id: u8,
        request: &Request,
        code: u16,
        comment: Option<&str>,
    ) -> Result<(), SessionError> {
        let response = Response {
            status: code,
            error_comment: comment,
            ..Response::default()
        };
        self.respond_with(pc_id, request, &response, None).await
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
