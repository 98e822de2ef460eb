//! Opening a node from its data directory: the configuration read here, the rest
//! ([`Node::open`]: keys, database, directory) in the node.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use custos_node::app::OpenError;
use custos_node::{DEFAULT_MAX_MESSAGE_BYTES, Node, NodeSettings, RetryPolicy};
use custos_seal::VerifyingKey;

use crate::clock::SystemClock;
use crate::config::{self, Config};
use crate::hint::Hinted as _;

/// Opens the node in `data` with the default retry policy.
pub async fn open(data: &Path) -> anyhow::Result<(Config, Arc<Node>)> {
    open_with(data, RetryPolicy::default()).await
}

/// Opens the node in `data`.
pub async fn open_with(data: &Path, retry: RetryPolicy) -> anyhow::Result<(Config, Arc<Node>)> {
    let config = match Config::load(data) {
        Ok(config) => config,
        Err(e) if !data.join("custos.toml").exists() => {
            return Err(e).hint(
                "name the node's data folder with --data DIR or the CUSTOS_DATA variable; \
                 `custos init --data DIR` makes one",
            );
        }
        Err(e) => {
            return Err(e)
                .hint("correct custos.toml; `custos config example` explains every setting");
        }
    };
    let url = config.database_url(data);
    let registry_key = config
        .directory
        .registry_key
        .as_deref()
        .map(VerifyingKey::from_text)
        .transpose()
        .context("directory.registry_key in custos.toml")?;
    let treaty_registry = config.treaty_registry(data)?.map(Arc::new);
    let settings = NodeSettings {
        state: config.node.state,
        name: config.node.name.clone(),
        data_dir: data.to_owned(),
        registry_key,
        max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        retry,
        evidence: config.evidence.limits(),
        message_reserve_bytes: config.storage.reserve_bytes,
        treaty_registry,
        clocks: config.cases.clocks()?,
        people: config.people.settings()?,
        statistics: config.statistics.settings()?,
        retention: config.retention.settings()?,
    };
    let http = http_client(&config)?;
    let node = Node::open(settings, &url, Arc::new(SystemClock), http)
        .await
        .map_err(|e| open_error(e, &url))?;
    node.configure_alerts(config.alerts.settings(&config.http.listen)?);
    Ok((config, node))
}

/// An error opening a node or its database, naming the database by its masked URL.
pub fn open_error(e: OpenError, url: &str) -> anyhow::Error {
    match e {
        OpenError::Database(e) => anyhow::Error::new(e).context(format!(
            "cannot open the node's database at {}",
            config::mask_url(url)
        )),
        other => other.into(),
    }
}

/// The client the node uses to reach peers: rustls, with the configured extra CA and client identity.
pub fn http_client(config: &Config) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        // As many idle connections as the outbox posts at once (`run_outbox`
        // claims 64), so a batch does not close and reopen half of them.
        .pool_max_idle_per_host(64)
        // Peers close a connection that sends no request for their header
        // timeout (10 s by default); dropping idle ones sooner keeps the
        // outbox from picking one the peer is closing at that moment.
        .pool_idle_timeout(std::time::Duration::from_secs(5))
        .user_agent(concat!("custos/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &config.http.peer_ca {
        let pem = std::fs::read(ca)
            .with_context(|| format!("http.peer_ca: cannot read {}", ca.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("http.peer_ca: {}", ca.display()))?
        {
            b = b.add_root_certificate(cert);
        }
    }
    if let Some(id) = &config.http.client_identity {
        let pem = std::fs::read(id)
            .with_context(|| format!("http.client_identity: cannot read {}", id.display()))?;
        b = b.identity(
            reqwest::Identity::from_pem(&pem)
                .with_context(|| format!("http.client_identity: {}", id.display()))?,
        );
    }
    b.build().context("cannot build the HTTP client")
}
