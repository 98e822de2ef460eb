//! One node in process: its folder, keys, store and clock, and how to build it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use custos_model::StateCode;
use custos_model::clock::Clock;
use custos_model::treaty::Registry;
use custos_node::app::ClockSettings;
use custos_node::{
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MESSAGE_RESERVE_BYTES, Keystore, Node, NodeSettings,
    RetryPolicy,
};
use custos_seal::VerifyingKey;
use custos_store::Store;
use time::OffsetDateTime;

use crate::{AT, KitError, TempDatabase, TestClock};

/// Where a kit node keeps its records.
#[derive(Debug)]
enum Backend {
    /// `custos.db` in the node's folder.
    Sqlite,
    /// A fresh database on the PostgreSQL server of this admin URL.
    Postgres(String),
    /// A store URL the caller manages.
    Url(String),
}

/// Builds one node, as `custos init` and `custos serve` would, in process.
///
/// By default: a State's node named after it, in a temporary folder that
/// is removed with the [`TestNode`], fresh keys, a SQLite file, a clock
/// standing still at [`AT`], no registry key (so no directory), and the
/// node crate's default limits.
#[derive(Debug)]
pub struct NodeBuilder {
    state: String,
    name: Option<String>,
    dir: Option<PathBuf>,
    reopen: bool,
    backend: Backend,
    clock: Option<Arc<TestClock>>,
    registry_key: Option<VerifyingKey>,
    http: Option<reqwest::Client>,
    max_message_bytes: usize,
    message_reserve_bytes: u64,
    retry: RetryPolicy,
    treaty_registry: Option<Arc<Registry>>,
    clocks: ClockSettings,
}

impl NodeBuilder {
    /// A node of the State `state` (an ISO code such as `"DE"`).
    pub fn new(state: &str) -> Self {
        NodeBuilder {
            state: state.to_owned(),
            name: None,
            dir: None,
            reopen: false,
            backend: Backend::Sqlite,
            clock: None,
            registry_key: None,
            http: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            message_reserve_bytes: DEFAULT_MESSAGE_RESERVE_BYTES,
            retry: RetryPolicy::default(),
            treaty_registry: None,
            clocks: ClockSettings::default(),
        }
    }

    /// The node's clock settings (default: [`ClockSettings::default`]).
    pub fn clocks(mut self, clocks: ClockSettings) -> Self {
        self.clocks = clocks;
        self
    }

    /// The node's display name (default: the State code).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Keeps the node in `dir` (created if missing), which outlives the
    /// [`TestNode`], instead of a temporary folder.
    pub fn in_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Opens the node already in the folder given to [`NodeBuilder::in_dir`]:
    /// its keys are loaded, not made.
    pub fn reopen(mut self) -> Self {
        self.reopen = true;
        self
    }

    /// Keeps the records in a fresh database on the PostgreSQL server of
    /// `admin_url`, dropped with the [`TestNode`].
    pub fn postgres(mut self, admin_url: impl Into<String>) -> Self {
        self.backend = Backend::Postgres(admin_url.into());
        self
    }

    /// Opens the store at `url`, which the caller manages.
    pub fn store_url(mut self, url: impl Into<String>) -> Self {
        self.backend = Backend::Url(url.into());
        self
    }

    /// The clock the node reads (default: one standing still at [`AT`]).
    pub fn clock(mut self, clock: Arc<TestClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The registry key that must countersign the node's directory.
    pub fn registry_key(mut self, key: VerifyingKey) -> Self {
        self.registry_key = Some(key);
        self
    }

    /// The client the node reaches peers with (default: reqwest's default client).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The largest message the node accepts on the federation API.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// The free space the node's folder must keep for a message to be accepted.
    pub fn message_reserve_bytes(mut self, bytes: u64) -> Self {
        self.message_reserve_bytes = bytes;
        self
    }

    /// The treaty registry the node checks a draft's legal basis against
    /// (default: none, nothing checked).
    pub fn treaty_registry(mut self, registry: Arc<Registry>) -> Self {
        self.treaty_registry = Some(registry);
        self
    }

    /// How the node's outbox retries deliveries.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Makes the keys (or loads them), opens the store and assembles the node.
    pub async fn build(self) -> Result<TestNode, KitError> {
        let state: StateCode = self
            .state
            .parse()
            .map_err(|e| KitError::Setup(format!("State {:?}: {e}", self.state)))?;
        let (dir, temp) = match self.dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::tempdir().map_err(KitError::io("make a node folder"))?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        std::fs::create_dir_all(&dir).map_err(KitError::io(format!("create {}", dir.display())))?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(TestClock::fixed(AT)));
        let keys = if self.reopen {
            Keystore::load(&dir.join("keys"))?
        } else {
            Keystore::create(&dir.join("keys"), clock.now())?
        };
        let (url, database) = match self.backend {
            Backend::Sqlite => (sqlite_url(&dir), None),
            Backend::Url(url) => (url, None),
            Backend::Postgres(admin) => {
                let db = TempDatabase::create(&admin)?;
                (db.url(), Some(db))
            }
        };
        let store = custos_store::open(&url).await?;
        let settings = NodeSettings {
            state,
            name: self.name.unwrap_or_else(|| self.state.clone()),
            data_dir: dir.clone(),
            registry_key: self.registry_key,
            max_message_bytes: self.max_message_bytes,
            retry: self.retry,
            evidence: Default::default(),
            message_reserve_bytes: self.message_reserve_bytes,
            treaty_registry: self.treaty_registry,
            clocks: self.clocks,
            people: Default::default(),
            statistics: Default::default(),
            retention: Default::default(),
        };
        let node_clock: Arc<dyn Clock> = Arc::clone(&clock) as Arc<dyn Clock>;
        let http = self.http.unwrap_or_default();
        let node = Node::new(settings, keys, Arc::clone(&store), node_clock, http).await?;
        Ok(TestNode {
            node,
            store,
            clock,
            dir,
            database,
            _temp: temp,
        })
    }
}

/// The URL of the SQLite file a kit node keeps in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("custos.db").display())
}

/// A node built by the kit, with what a test needs beside it.
///
/// Dropping it removes its temporary folder and database; call
/// [`TestNode::close`] first when the store's files must be released in
/// order (a node reopened from the same folder, a copy of its files).
#[derive(Debug)]
pub struct TestNode {
    pub node: Arc<Node>,
    /// The node's store, the same one the node writes through: tests read it
    /// (and benchmarks fill it) without going through the node.
    pub store: Arc<dyn Store>,
    /// The node's clock.
    pub clock: Arc<TestClock>,
    dir: PathBuf,
    // Dropped after the node's fields above, in this order.
    database: Option<TempDatabase>,
    _temp: Option<tempfile::TempDir>,
}

/// A test node reads as its node: `kit.submit(...)`, `kit.verify_ledger(...)`.
impl std::ops::Deref for TestNode {
    type Target = Node;

    fn deref(&self) -> &Node {
        &self.node
    }
}

impl TestNode {
    /// A node of `state` with the kit's defaults (see [`NodeBuilder`]).
    pub async fn new(state: &str) -> Result<TestNode, KitError> {
        NodeBuilder::new(state).build().await
    }

    /// The node's folder: keys, SQLite file, evidence.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of the node's store.
    pub fn store_url(&self) -> String {
        match &self.database {
            Some(db) => db.url(),
            None => sqlite_url(&self.dir),
        }
    }

    /// The node's State.
    pub fn state(&self) -> StateCode {
        self.node.state()
    }

    /// What the node's clock shows.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// A client-API token of the user `name`, who holds every role (added
    /// first if the node has no such user); returns its secret. The token
    /// is named after the user, so it acts as `api:{name}/{name}`.
    pub async fn token(&self, name: &str) -> Result<String, KitError> {
        self.token_with(name, custos_node::app::Roles::all()).await
    }

    /// A client-API token of the user `name` holding exactly `roles` (the
    /// user is added first if the node has no such user, else given these
    /// roles); returns its secret.
    pub async fn token_with(
        &self,
        name: &str,
        roles: custos_node::app::Roles,
    ) -> Result<String, KitError> {
        use custos_node::app::{NewUser, RoleChange, TokenRequest};
        let operator = custos_node::Actor::Cli {
            user: "testkit".to_owned(),
        };
        let known = self.store.user(name).await?;
        if known.is_some() {
            self.node
                .change_roles(&operator, name, RoleChange::Set(roles))
                .await?;
        } else {
            self.node
                .add_user(
                    &operator,
                    NewUser {
                        name: name.to_owned(),
                        roles,
                        ..Default::default()
                    },
                )
                .await?;
        }
        let token = self
            .node
            .create_token(
                &operator,
                TokenRequest {
                    user: name.to_owned(),
                    name: Some(name.to_owned()),
                    ..Default::default()
                },
            )
            .await?;
        Ok(token.secret)
    }

    /// Closes the store (its pool and writer), keeping the folder.
    pub async fn close(&self) {
        self.store.close().await;
    }
}
