//! `mira serve`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use mira_net::Scp;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// DIMSE listen address (default from configuration: 0.0.0.0:11112).
    #[arg(long)]
    dicom_listen: Option<SocketAddr>,
    /// HTTP listen address (default from configuration: 127.0.0.1:8042).
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    /// This node's AE title.
    #[arg(long)]
    ae_title: Option<String>,
}

pub async fn run(mut config: Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(addr) = args.dicom_listen {
        config.dimse.listen = addr;
    }
    if let Some(addr) = args.http_listen {
        config.http.listen = addr;
    }
    if let Some(ae) = args.ae_title {
        config.dimse.ae_title = ae;
    }
    config
        .http
        .cors
        .layer()
        .context("invalid [http.cors] configuration")?;
    let mut qc_config = config.qc.worker_config().context("QC rules")?;
    qc_config.node = config.node.name();
    config.analysis.node = config.node.name();
    let analyzers = crate::analyzers::all(&config).context("[analysis]")?;
    let deid_key = config
        .datasets
        .deid_key_file
        .as_deref()
        .map(crate::deid::read_key_file)
        .transpose()
        .context("[datasets] deid_key_file")?;
    let ingest = config.open_ingest().await?;

    let dimse_listener = TcpListener::bind(config.dimse.listen)
        .await
        .with_context(|| format!("cannot listen for DICOM on {}", config.dimse.listen))?;
    let http_listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http.listen))?;
    let dimse_addr = dimse_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    tracing::info!(%dimse_addr, %http_addr, ae_title = config.dimse.ae_title, "mira serving");
    // one machine-readable line, for scripts and tests that bind port 0
    println!("mira listening dimse={dimse_addr} http={http_addr}");

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let directory = mira_access::Directory::new(ingest.archive().catalogue.pool().clone());
    // every access to patient data, over DIMSE and HTTP, goes to the audit log
    let (audit, audit_writer) = mira_audit::AuditSink::spawn(mira_audit::AuditLog::new(
        ingest.archive().catalogue.pool().clone(),
    ));
    let scp = Arc::new(
        Scp::with_access(config.dimse.clone(), ingest.clone(), directory.clone())
            .context("invalid [dimse.tls] configuration")?
            .with_audit(audit.clone()),
    );
    let http_tls = config
        .http
        .tls
        .as_ref()
        .map(|tls| tls.server_config(&[b"http/1.1"]))
        .transpose()
        .context("invalid [http.tls] configuration")?;
    // subscribed before anything can be stored
    let qc = (config.qc.enabled)
        .then(|| mira_qc::worker::spawn(&ingest, qc_config, shutdown_rx.clone()));
    // QC's study results are what tells analysis a study is complete
    let analysis = (config.analysis.enabled && config.qc.enabled).then(|| {
        mira_analysis::spawn(
            ingest.clone(),
            analyzers.clone(),
            config.analysis.clone(),
            shutdown_rx.clone(),
        )
    });
    if config.analysis.enabled && !config.qc.enabled {
        tracing::warn!(
            "[analysis] needs [qc] enabled (QC decides when a study is complete): analysis is off"
        );
    }
    let dimse = tokio::spawn(scp.serve(dimse_listener, shutdown_rx.clone()));
    let mut http_shutdown = shutdown_rx.clone();
    let web = mira_web::WebState::new(
        ingest.clone(),
        mira_web::WebConfig {
            cors: config.http.cors.clone(),
            dicomweb: config.http.dicomweb.clone(),
            // an empty ui_dir turns the web UI off
            ui_dir: Some(config.http.ui_dir.clone()).filter(|d| !d.as_os_str().is_empty()),
        },
    )
    .with_access(directory)
    .with_audit(audit)
    .with_reading(config.reading.settings(), config.reading.drift)
    .with_datasets(
        deid_key,
        config
            .datasets
            .export_dir
            .clone()
            .unwrap_or_else(|| config.data_dir.join("datasets")),
    );
    let http = tokio::spawn(mira_web::serve(http_listener, web, http_tls, async move {
        let _ = http_shutdown.changed().await;
    }));

    wait_for_signal().await;
    tracing::info!("shutting down: no new associations; open ones may finish");
    let _ = shutdown_tx.send(true);
    dimse.await.context("DIMSE task")?.context("DIMSE server")?;
    http.await.context("HTTP task")?.context("HTTP server")?;
    if let Some(qc) = qc {
        qc.await.context("QC task")?;
    }
    if let Some(analysis) = analysis {
        analysis.await.context("analysis task")?;
    }
    // the servers are gone, and their audit sinks with them: the writer drains and ends
    if tokio::time::timeout(std::time::Duration::from_secs(30), audit_writer)
        .await
        .is_err()
    {
        tracing::error!("the audit writer did not finish within 30 s");
    }
    ingest.archive().catalogue.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
