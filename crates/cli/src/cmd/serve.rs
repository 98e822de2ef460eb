//! `custos serve`: run the node — federation API, client API and the outbox worker.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use custos_http::TlsSettings;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Address and port to listen on (overrides http.listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain for TLS (overrides http.tls_cert).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS (overrides http.tls_key).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds between rounds of asking peers to cosign this node's ledger checkpoint.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60,
        env = "CUSTOS_WITNESS_EVERY"
    )]
    pub witness_every: u64,
    /// Require client certificates signed by this PEM CA (mutual TLS; overrides http.tls_client_ca).
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
}

pub fn run(args: ServeArgs, log_format: crate::logging::LogFormat) -> anyhow::Result<ExitCode> {
    crate::logging::init(log_format);
    super::runtime()?.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    crate::private::check(&args.data)?;
    // Held while serving, so that `custos restore` never writes over this folder.
    let _serving = custos_node::app::ServeLock::hold(&args.data)?;
    let (config, node) = super::node::open(&args.data).await?;
    let listen: SocketAddr = match args.listen {
        Some(a) => a,
        None => config.http.listen.parse().context("http.listen")?,
    };
    let tls = match (
        args.tls_cert.or(config.http.tls_cert.clone()),
        args.tls_key.or(config.http.tls_key.clone()),
    ) {
        (Some(cert), Some(key)) => Some(TlsSettings {
            cert,
            key,
            client_ca: args.client_ca.or(config.http.tls_client_ca.clone()),
        }),
        _ => None,
    };
    custos_node::app::check_listen(listen, tls.is_some())?;
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let workers = node.start_workers(std::time::Duration::from_secs(args.witness_every.max(1)));
    let scheme = if tls.is_some() { "https" } else { "http" };
    // The start is logged once, with its fields, on standard error with
    // the rest of the log (a service manager's journal keeps it).
    let address = listener.local_addr()?;
    tracing::info!(
        state = %node.state(),
        %address,
        %scheme,
        version = env!("CARGO_PKG_VERSION"),
        "serving on {scheme}://{address}"
    );
    if node.directory().is_none() {
        tracing::warn!(
            "no directory imported yet: every message will be refused until `custos directory import`"
        );
    }
    custos_http::serve(
        Arc::clone(&node),
        listener,
        tls,
        config.http.limits(),
        shutdown_signal(),
    )
    .await?;
    workers.shutdown().await;
    node.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
