//! Several nodes that trust one signed directory naming all of them.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use custos_http::ServerLimits;
use custos_model::clock::Clock;
use custos_model::treaty::Registry;
use custos_node::directory::EntryDetails;
use custos_protocol::DirectoryList;
use custos_seal::SigningKey;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{AT, KitError, NodeBuilder, Reply, TestClock, TestNode};

/// How long a directory signed by the kit stays valid.
const DIRECTORY_VALIDITY: time::Duration = time::Duration::days(30);

/// Builds a [`Network`].
#[derive(Debug)]
pub struct NetworkBuilder {
    states: Vec<String>,
    root: Option<PathBuf>,
    clock: Option<Arc<TestClock>>,
    served: bool,
    outbox: bool,
    limits: ServerLimits,
    http: Option<reqwest::Client>,
    postgres: Option<String>,
    treaty_registry: Option<Arc<Registry>>,
}

impl NetworkBuilder {
    /// Nodes of `states` (such as `["FR", "DE"]`), in process only.
    pub fn new(states: &[&str]) -> Self {
        NetworkBuilder {
            states: states.iter().map(|s| (*s).to_owned()).collect(),
            root: None,
            clock: None,
            served: false,
            outbox: false,
            limits: ServerLimits::default(),
            http: None,
            postgres: None,
            treaty_registry: None,
        }
    }

    /// Serves every node on 127.0.0.1 (a port of its own, published in the
    /// directory) with its ledger sequencer running.
    pub fn served(mut self) -> Self {
        self.served = true;
        self
    }

    /// Also runs every node's outbox worker, so submitted messages are
    /// delivered without the test asking.
    pub fn outbox_workers(mut self) -> Self {
        self.outbox = true;
        self
    }

    /// The limits the served nodes enforce per client.
    pub fn limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Keeps each node in `root/<state in lower case>`, not a temporary folder.
    pub fn in_dir(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = Some(root.into());
        self
    }

    /// The clock every node reads (default: one standing still at [`AT`]).
    pub fn clock(mut self, clock: Arc<TestClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Keeps each node's records in a fresh database of its own on the
    /// PostgreSQL server of `admin_url` (see [`NodeBuilder::postgres`]).
    pub fn postgres(mut self, admin_url: impl Into<String>) -> Self {
        self.postgres = Some(admin_url.into());
        self
    }

    /// The treaty registry every node checks a draft's legal basis against.
    pub fn treaty_registry(mut self, registry: Registry) -> Self {
        self.treaty_registry = Some(Arc::new(registry));
        self
    }

    /// The client the nodes reach each other with.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Makes the registry key and the nodes, signs a directory (version 1)
    /// naming all of them, imports it into each, and starts serving when asked.
    pub async fn build(self) -> Result<Network, KitError> {
        let clock = self.clock.unwrap_or_else(|| Arc::new(TestClock::fixed(AT)));
        let registry = SigningKey::generate();
        let mut nodes = Vec::new();
        let mut listeners = Vec::new();
        let mut urls = Vec::new();
        for state in &self.states {
            let mut builder = NodeBuilder::new(state)
                .clock(Arc::clone(&clock))
                .registry_key(registry.verifying_key());
            if let Some(root) = &self.root {
                builder = builder.in_dir(root.join(state.to_lowercase()));
            }
            if let Some(client) = &self.http {
                builder = builder.http_client(client.clone());
            }
            if let Some(url) = &self.postgres {
                builder = builder.postgres(url);
            }
            if let Some(registry) = &self.treaty_registry {
                builder = builder.treaty_registry(Arc::clone(registry));
            }
            nodes.push(builder.build().await?);
            if self.served {
                let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                    .map_err(KitError::io("bind 127.0.0.1:0"))?;
                let addr = listener
                    .local_addr()
                    .map_err(KitError::io("read the bound port"))?;
                urls.push(format!("http://{addr}"));
                listeners.push(listener);
            } else {
                // Nothing listens on the discard port: a delivery attempt fails
                // at once, and the test carries messages itself.
                urls.push(format!("http://127.0.0.1:9/{}", state.to_lowercase()));
            }
        }
        let mut network = Network {
            registry,
            nodes,
            urls,
            clock,
            shutdown: watch::channel(false).0,
            tasks: Vec::new(),
        };
        let signed = network.sign_directory(1)?;
        for node in &network.nodes {
            let operator = custos_node::app::Actor::Cli {
                user: "testkit".to_owned(),
            };
            node.node.import_directory(&operator, &signed).await?;
        }
        for (node, listener) in network.nodes.iter().zip(listeners) {
            let mut stop = network.shutdown.subscribe();
            let stopped = async move {
                let _ = stop.changed().await;
            };
            let served = Arc::clone(&node.node);
            let limits = self.limits;
            network.tasks.push(tokio::spawn(async move {
                if let Err(e) = custos_http::serve(served, listener, None, limits, stopped).await {
                    eprintln!("a kit node stopped serving: {e}");
                }
            }));
            network.tasks.push(tokio::spawn(
                Arc::clone(&node.node).run_sequencer(network.shutdown.subscribe()),
            ));
        }
        if self.outbox {
            for node in &network.nodes {
                network.tasks.push(tokio::spawn(
                    Arc::clone(&node.node).run_outbox(network.shutdown.subscribe()),
                ));
            }
        }
        Ok(network)
    }
}

/// Nodes of several States with a directory naming them all, signed by a
/// registry key of the network's own.
#[derive(Debug)]
pub struct Network {
    /// The registry's key, for signing further directories.
    pub registry: SigningKey,
    nodes: Vec<TestNode>,
    urls: Vec<String>,
    /// The clock every node reads.
    pub clock: Arc<TestClock>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Network {
    /// Nodes of `states` in process, with the kit's defaults.
    pub async fn in_process(states: &[&str]) -> Result<Network, KitError> {
        NetworkBuilder::new(states).build().await
    }

    /// Nodes of `states` served on 127.0.0.1, with the kit's defaults.
    pub async fn served(states: &[&str]) -> Result<Network, KitError> {
        NetworkBuilder::new(states).served().build().await
    }

    /// The node of `state`; panics when the network has none (a test's mistake).
    pub fn node(&self, state: &str) -> &TestNode {
        self.position(state)
            .map(|i| &self.nodes[i])
            .unwrap_or_else(|| panic!("the network has no node of {state}"))
    }

    /// Every node, in the order their States were given.
    pub fn nodes(&self) -> &[TestNode] {
        &self.nodes
    }

    /// The address the directory publishes for `state`'s node.
    pub fn url(&self, state: &str) -> &str {
        self.position(state)
            .map(|i| self.urls[i].as_str())
            .unwrap_or_else(|| panic!("the network has no node of {state}"))
    }

    fn position(&self, state: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.state().as_str().eq_ignore_ascii_case(state))
    }

    /// A directory of `version` with every node's current entry, signed by
    /// the registry and valid for 30 days from the clock's time.
    pub fn sign_directory(&self, version: u64) -> Result<Vec<u8>, KitError> {
        let mut entries = Vec::new();
        for (node, url) in self.nodes.iter().zip(&self.urls) {
            let details = EntryDetails {
                node_url: url.clone(),
                languages: vec!["en".to_owned()],
                ..EntryDetails::default()
            };
            entries.push(node.node.signed_entry(&details)?);
        }
        let now = self.clock.now();
        let list = DirectoryList::new(
            version,
            "Test registry",
            now,
            now + DIRECTORY_VALIDITY,
            entries,
        );
        Ok(list.sign(&self.registry)?)
    }

    /// Hands the queued message `message_id` of `from` to `to`'s router, as
    /// the outbox worker would post it; returns `to`'s answer.
    pub async fn carry(&self, from: &str, message_id: &str, to: &str) -> Result<Reply, KitError> {
        let item = self
            .node(from)
            .store
            .outbox_item(message_id)
            .await?
            .ok_or_else(|| KitError::Setup(format!("{from} has no outbox item {message_id}")))?;
        self.node(to)
            .post_bytes(crate::MESSAGES_PATH, item.ciphertext)
            .await
    }

    /// Stops serving and the workers, then closes every store.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        for node in &self.nodes {
            node.close().await;
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
