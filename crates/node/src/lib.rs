//! A Custos node's services: everything between the HTTP layer and the store.
//!
//! A [`Node`] holds the node's identity, keys, store, clock and the verified
//! directory it trusts. It receives messages from peers ([`Node::receive`]),
//! creates and queues outgoing ones ([`Node::submit`], [`Node::reply`]) and
//! runs the outbox worker that delivers them with back-off for days
//! ([`outbox`]). Nothing here knows about HTTP servers or routes.
//!
//! The faces (the CLI, the client API) reach a node only through its
//! operations: the application layer ([`app`]) and the service modules it
//! names. `Node`'s fields are private.

pub mod app;
pub mod at_rest;
mod at_rest_upgrade;
pub mod custody;
pub mod custody_health;
pub mod deep_check;
pub mod directory;
mod error;
pub mod evidence;
pub mod intake;
pub mod keys;
mod legal_basis;
pub mod outbox;
pub mod reach;
pub mod reads;
pub mod send;
pub mod witnessing;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use custos_model::StateCode;
use custos_model::clock::Clock;
use custos_protocol::Directory;
use custos_seal::VerifyingKey;
use custos_store::Store;

pub use app::Actor;
pub use error::{CheckpointRefusal, Fault, LedgerFailure, NodeError};
pub use intake::ReceiveOutcome;
pub use keys::Keystore;
pub use outbox::RetryPolicy;
pub use send::Sent;

/// The largest message a node accepts on the federation API, in bytes.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The file in the data folder naming the directory version last imported
/// (see [`Node::ensure_directory_current`]).
pub const DIRECTORY_MARK: &str = "directory-version";

/// The default of [`NodeSettings::message_reserve_bytes`]: 64 MiB.
pub const DEFAULT_MESSAGE_RESERVE_BYTES: u64 = 64 * 1024 * 1024;

/// What a node is, as the binary configures it.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    pub state: StateCode,
    pub name: String,
    pub data_dir: PathBuf,
    /// The registry key that must countersign the directory.
    pub registry_key: Option<VerifyingKey>,
    pub max_message_bytes: usize,
    pub retry: RetryPolicy,
    /// Limits on evidence packages received from peers.
    pub evidence: evidence::receive::EvidenceLimits,
    /// Free space (bytes) the data directory's file system must keep for a
    /// message to be accepted: below it messages are refused as
    /// `insufficient-storage`, and the refusal records still fit.
    pub message_reserve_bytes: u64,
    /// The treaty registry a draft citing the Convention is checked
    /// against before it is sent (`legal_basis.rs`); `None`: not checked.
    pub treaty_registry: Option<Arc<custos_model::treaty::Registry>>,
    /// The cases' clocks: the emergency acknowledgement target, the
    /// warnings' lead times and the scheduler's tick (`app/clocks.rs`).
    pub clocks: app::ClockSettings,
    /// Lock-outs, sessions and tokens (`app/users.rs`).
    pub people: app::PeopleSettings,
    /// Oversight statistics: the suppression threshold (`app/stats.rs`).
    pub statistics: app::StatisticsSettings,
    /// Retention periods and the retention worker (`app/retention.rs`).
    pub retention: app::RetentionSettings,
}

/// A running node's shared state.
#[derive(Debug)]
pub struct Node {
    settings: NodeSettings,
    keys: RwLock<Keystore>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    directory: RwLock<Option<Arc<Directory>>>,
    /// Wakes the outbox worker when a message is queued in this process.
    outbox_wake: tokio::sync::Notify,
    http: reqwest::Client,
    /// One sequencing pass at a time in this process: concurrent callers
    /// (every intake asks for one) wait and usually find their entries
    /// appended by the pass before, instead of racing it and losing the
    /// store's size check.
    sequencing: tokio::sync::Mutex<()>,
    /// Evidence packages being uploaded to this node: verified manifests
    /// and disk reservations.
    pub(crate) staging: Arc<evidence::staged::Staging>,
    /// Tampered records met by checked reads (`reads.rs`), for `/metrics`.
    records_tampered: std::sync::atomic::AtomicU64,
    /// The size of the latest checkpoint this node signed, as far as it knows
    /// (see [`custody_health`]).
    custody_mark: AtomicU64,
    /// Why the custody ledger cannot be extended, while it cannot.
    custody_fault: RwLock<Option<String>>,
    /// The peer checkpoint this node last verified in a custody proof: the
    /// verifier key's text, the note's text and the checkpoint it holds
    /// (`custody.rs`, `check_receivers_entry`).
    verified_checkpoint: std::sync::Mutex<Option<(String, String, custos_ledger::Checkpoint)>>,
    /// Clock events fired and escalations received, for `/metrics`.
    clock_counters: app::clocks::ClockCounters,
    /// Password hashes running at once (`app/secrets.rs`).
    hashing: tokio::sync::Semaphore,
    /// The alert settings in force and the delivery worker's wake-up.
    alerts: app::alerts::AlertState,
    /// The rota as the alerts read it (`app/rota.rs`).
    rota: app::rota::RotaCache,
}

impl Node {
    /// Assembles a node and loads its stored directory, if any.
    pub async fn new(
        settings: NodeSettings,
        keys: Keystore,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        http: reqwest::Client,
    ) -> Result<Arc<Node>, NodeError> {
        let node = Arc::new(Node {
            settings,
            keys: RwLock::new(keys),
            store,
            clock,
            directory: RwLock::new(None),
            outbox_wake: tokio::sync::Notify::new(),
            http,
            sequencing: tokio::sync::Mutex::new(()),
            staging: Arc::default(),
            records_tampered: std::sync::atomic::AtomicU64::new(0),
            custody_mark: AtomicU64::new(0),
            custody_fault: RwLock::new(None),
            verified_checkpoint: std::sync::Mutex::new(None),
            clock_counters: Default::default(),
            hashing: tokio::sync::Semaphore::new(app::secrets::HASHING_AT_ONCE),
            alerts: Default::default(),
            rota: Default::default(),
        });
        node.reload_directory().await?;
        if let Some(version) = node.directory().map(|d| d.version()) {
            node.mark_directory_version(version, false);
        }
        node.load_checkpoint_mark();
        if let Err(e) = node.check_custody().await {
            node.note_custody(Some(e.to_string()));
        }
        node.seal_legacy_records().await?;
        node.ensure_case_index().await?;
        Ok(node)
    }

    /// What the node is, as it was configured.
    pub fn settings(&self) -> &NodeSettings {
        &self.settings
    }

    /// The node's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Where the packages this node received and accepted are kept, one
    /// folder each.
    pub fn received_evidence_dir(&self) -> PathBuf {
        evidence::receive::received_root(&self.settings.data_dir)
    }

    /// The store, for benchmarks and tests that prepare or inspect it
    /// directly. Faces never use it: they call the node's operations.
    #[doc(hidden)]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The key store, for benchmarks and tests.
    #[doc(hidden)]
    pub fn keys(&self) -> std::sync::RwLockReadGuard<'_, Keystore> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// This node's State.
    pub fn state(&self) -> StateCode {
        self.settings.state
    }

    /// The verified directory in force, if one was imported.
    pub fn directory(&self) -> Option<Arc<Directory>> {
        self.directory
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads the stored directory and verifies it again against the registry key.
    ///
    /// A stored directory that has expired since is still loaded (so the
    /// operator sees it) but every message is then refused as
    /// `directory-expired` until a fresh one is imported.
    pub async fn reload_directory(&self) -> Result<(), NodeError> {
        let Some(stored) = self.store.directory().await? else {
            return Ok(());
        };
        let Some(registry) = self.settings.registry_key else {
            return Err(NodeError::NoRegistryKey);
        };
        let dir = Directory::verify_allow_expired(&stored.signed, &registry)
            .map_err(NodeError::StoredDirectory)?;
        *self.directory.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(dir));
        Ok(())
    }

    /// Picks up a directory imported by another process (`custos directory import`
    /// while the node is serving): one point read of the stored version,
    /// and a reload (with its signature check) when it differs from the one
    /// in force.
    pub async fn refresh_directory(&self) -> Result<bool, NodeError> {
        let stored = self.store.directory_version().await?;
        let current = self.directory().map(|d| d.version());
        if stored.is_some() && stored != current {
            self.reload_directory().await?;
            tracing::info!(version = ?stored, "loaded a newly imported directory");
            return Ok(true);
        }
        Ok(false)
    }

    /// Puts a directory imported by another process in force before it is
    /// relied on. Intake calls this for every message, so a revocation is
    /// in force as soon as `custos directory import` has returned: the
    /// import writes the version it committed to [`DIRECTORY_MARK`] before
    /// it returns, and when that file names the version in force nothing
    /// more is read. Otherwise (another version, or no file yet) the stored
    /// version is read, and the directory reloaded, with its signature
    /// check, when it differs from the one in force.
    pub async fn ensure_directory_current(&self) -> Result<(), NodeError> {
        let current = self.directory().map(|d| d.version());
        if current.is_some() && self.marked_directory_version() == current {
            return Ok(());
        }
        self.refresh_directory().await.map(|_| ())
    }

    /// The directory version named by [`DIRECTORY_MARK`], if the file is
    /// there and readable.
    fn marked_directory_version(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.settings.data_dir.join(DIRECTORY_MARK)).ok()?;
        text.trim().parse().ok()
    }

    /// Writes [`DIRECTORY_MARK`] after an import has committed `version`
    /// (`replace`), or creates it for a node that has none yet (`!replace`:
    /// never over a file an import wrote meanwhile).
    pub(crate) fn mark_directory_version(&self, version: u64, replace: bool) {
        let path = self.settings.data_dir.join(DIRECTORY_MARK);
        let text = format!("{version}\n");
        let written = if replace {
            custody_health::write_private(&path, text.as_bytes())
        } else {
            use std::io::Write as _;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            match opts.open(&path) {
                Ok(mut f) => f.write_all(text.as_bytes()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(e),
            }
        };
        // Without the file every intake reads the stored version instead:
        // slower, never wrong.
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "could not write the directory version mark");
        }
    }

    /// Picks up keys rotated by another process (`custos keys rotate` while serving).
    pub fn refresh_keys(&self) -> Result<bool, NodeError> {
        let dir = self.with_keys(|k| k.dir().to_owned());
        let fresh = Keystore::load(&dir)?;
        let changed = self.with_keys(|k| {
            k.signing.key_id() != fresh.signing.key_id()
                || k.history.signing.len() != fresh.history.signing.len()
        });
        if changed {
            *self.keys.write().unwrap_or_else(|p| p.into_inner()) = fresh;
            tracing::info!("loaded rotated keys");
        }
        Ok(changed)
    }

    pub(crate) fn with_keys<T>(&self, f: impl FnOnce(&Keystore) -> T) -> T {
        f(&self.keys.read().unwrap_or_else(|p| p.into_inner()))
    }
}
