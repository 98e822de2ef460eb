//! The node's configuration: one typed TOML file, overridable from `CUSTOS_*` variables.
//!
//! The file lives at `DIR/custos.toml` in the node's data directory. It is read
//! and checked once at start-up; every problem names the file, the field and
//! what is wrong. Values that may hold secrets (a database URL with a
//! password) are masked when the configuration is printed for debugging.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use custos_model::StateCode;
use serde::{Deserialize, Serialize};

pub use crate::config_alerts::AlertsSection;
pub use crate::config_retention::RetentionSection;

/// The configuration file's name inside a data directory.
pub const FILE_NAME: &str = "custos.toml";
/// The embedded database's file name inside a data directory.
pub const SQLITE_FILE: &str = "custos.db";

/// A node's whole configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub node: NodeSection,
    #[serde(default)]
    pub database: DatabaseSection,
    #[serde(default = "default_http")]
    pub http: HttpSection,
    #[serde(default)]
    pub directory: DirectorySection,
    #[serde(default, skip_serializing_if = "EvidenceSection::is_default")]
    pub evidence: EvidenceSection,
    #[serde(default, skip_serializing_if = "StorageSection::is_default")]
    pub storage: StorageSection,
    #[serde(default, skip_serializing_if = "TreatySection::is_default")]
    pub treaty: TreatySection,
    #[serde(default, skip_serializing_if = "CasesSection::is_default")]
    pub cases: CasesSection,
    #[serde(default, skip_serializing_if = "PeopleSection::is_default")]
    pub people: PeopleSection,
    #[serde(default, skip_serializing_if = "AlertsSection::is_default")]
    pub alerts: AlertsSection,
    #[serde(default, skip_serializing_if = "StatisticsSection::is_default")]
    pub statistics: StatisticsSection,
    // issue 18: retention
    #[serde(default, skip_serializing_if = "RetentionSection::is_default")]
    pub retention: RetentionSection,
}

/// Oversight statistics (`custos stats`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatisticsSection {
    /// Counts below this are suppressed; a report may raise it, never lower it.
    #[serde(default = "default_threshold")]
    pub threshold: u64,
}

impl Default for StatisticsSection {
    fn default() -> Self {
        StatisticsSection {
            threshold: default_threshold(),
        }
    }
}

fn default_threshold() -> u64 {
    custos_node::app::stats::DEFAULT_THRESHOLD
}

impl StatisticsSection {
    fn is_default(&self) -> bool {
        *self == StatisticsSection::default()
    }

    /// The settings as the node applies them.
    pub fn settings(&self) -> anyhow::Result<custos_node::app::StatisticsSettings> {
        if self.threshold < 2 {
            bail!("statistics.threshold: must be at least 2 (1 would show single cases)");
        }
        Ok(custos_node::app::StatisticsSettings {
            threshold: self.threshold,
        })
    }
}

/// Sessions and client-API tokens. Durations as in `[cases]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeopleSection {
    /// A session ends after this long without use.
    #[serde(default = "default_session_idle")]
    pub session_idle: String,
    /// A session ends this long after sign-in, however used.
    #[serde(default = "default_session_absolute")]
    pub session_absolute: String,
    /// A token's lifetime when its creator names none.
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime: String,
    /// The longest lifetime a token may be given.
    #[serde(default = "default_token_max_lifetime")]
    pub token_max_lifetime: String,
    /// Failed sign-ins in a row after which an account is locked.
    #[serde(default = "default_lock_after_failures")]
    pub lock_after_failures: u32,
    /// How long the first lock-out lasts; each later one lasts twice as long.
    #[serde(default = "default_first_lock")]
    pub first_lock: String,
    /// The longest a lock-out lasts.
    #[serde(default = "default_longest_lock")]
    pub longest_lock: String,
}

impl Default for PeopleSection {
    fn default() -> Self {
        PeopleSection {
            session_idle: default_session_idle(),
            session_absolute: default_session_absolute(),
            token_lifetime: default_token_lifetime(),
            token_max_lifetime: default_token_max_lifetime(),
            lock_after_failures: default_lock_after_failures(),
            first_lock: default_first_lock(),
            longest_lock: default_longest_lock(),
        }
    }
}

fn default_lock_after_failures() -> u32 {
    5
}

fn default_first_lock() -> String {
    "15m".to_owned()
}

fn default_longest_lock() -> String {
    "24h".to_owned()
}

fn default_session_idle() -> String {
    "30m".to_owned()
}

fn default_session_absolute() -> String {
    "12h".to_owned()
}

fn default_token_lifetime() -> String {
    "90d".to_owned()
}

fn default_token_max_lifetime() -> String {
    "365d".to_owned()
}

impl PeopleSection {
    fn is_default(&self) -> bool {
        *self == PeopleSection::default()
    }

    /// The settings as the node applies them; each duration checked.
    pub fn settings(&self) -> anyhow::Result<custos_node::app::PeopleSettings> {
        let settings = custos_node::app::PeopleSettings {
            session_idle: duration_text("people.session_idle", &self.session_idle)?,
            session_absolute: duration_text("people.session_absolute", &self.session_absolute)?,
            token_default_lifetime: duration_text("people.token_lifetime", &self.token_lifetime)?,
            token_max_lifetime: duration_text(
                "people.token_max_lifetime",
                &self.token_max_lifetime,
            )?,
            lock_after_failures: self.lock_after_failures,
            first_lock: duration_text("people.first_lock", &self.first_lock)?,
            longest_lock: duration_text("people.longest_lock", &self.longest_lock)?,
        };
        if settings.token_default_lifetime > settings.token_max_lifetime {
            bail!("people.token_lifetime: longer than people.token_max_lifetime");
        }
        if settings.lock_after_failures == 0 {
            bail!("people.lock_after_failures: must be at least 1");
        }
        if settings.first_lock > settings.longest_lock {
            bail!("people.first_lock: longer than people.longest_lock");
        }
        Ok(settings)
    }
}

/// The cases' clocks, as the scheduler of `custos serve` runs them.
/// Durations are written as a number and a unit: `45s`, `30m`, `12h`, `7d`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesSection {
    /// How soon an emergency request must be acknowledged.
    #[serde(default = "default_ack_target")]
    pub emergency_ack_target: String,
    /// Warnings before a preservation ends, by lead time.
    #[serde(default = "default_preservation_warnings")]
    pub preservation_warnings: Vec<String>,
    /// Warnings before a requester's proposed deadline, by lead time.
    #[serde(default = "default_deadline_warnings")]
    pub deadline_warnings: Vec<String>,
    /// How often the scheduler looks for clocks due.
    #[serde(default = "default_tick")]
    pub tick: String,
}

impl Default for CasesSection {
    fn default() -> Self {
        CasesSection {
            emergency_ack_target: default_ack_target(),
            preservation_warnings: default_preservation_warnings(),
            deadline_warnings: default_deadline_warnings(),
            tick: default_tick(),
        }
    }
}

fn default_ack_target() -> String {
    "1h".to_owned()
}

fn default_preservation_warnings() -> Vec<String> {
    vec!["7d".to_owned(), "1d".to_owned()]
}

fn default_deadline_warnings() -> Vec<String> {
    vec!["2d".to_owned()]
}

fn default_tick() -> String {
    "5s".to_owned()
}

/// A positive duration written as a whole number and a unit (`s`, `m`,
/// `h`, `d`).
pub fn duration_text(field: &str, text: &str) -> anyhow::Result<time::Duration> {
    let text = text.trim();
    let unit = text.chars().last().unwrap_or(' ');
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => bail!("{field}: {text:?} is not a duration such as 45s, 30m, 12h or 7d"),
    };
    let n: i64 = text[..text.len() - 1]
        .parse()
        .ok()
        .filter(|n| *n > 0 && *n <= 36_500 * 86_400 / seconds)
        .with_context(|| {
            format!("{field}: {text:?} is not a positive whole number of {unit} (up to 100 years)")
        })?;
    Ok(time::Duration::seconds(n * seconds))
}

impl CasesSection {
    fn is_default(&self) -> bool {
        *self == CasesSection::default()
    }

    /// The settings as the node applies them; each duration checked.
    pub fn clocks(&self) -> anyhow::Result<custos_node::app::ClockSettings> {
        let list = |field: &str, items: &[String]| {
            items
                .iter()
                .map(|t| duration_text(field, t))
                .collect::<anyhow::Result<Vec<_>>>()
        };
        let tick = duration_text("cases.tick", &self.tick)?;
        Ok(custos_node::app::ClockSettings {
            emergency_ack_target: duration_text(
                "cases.emergency_ack_target",
                &self.emergency_ack_target,
            )?,
            preservation_warnings: list(
                "cases.preservation_warnings",
                &self.preservation_warnings,
            )?,
            deadline_warnings: list("cases.deadline_warnings", &self.deadline_warnings)?,
            tick: std::time::Duration::from_secs(tick.whole_seconds().unsigned_abs()),
        })
    }
}

/// The treaty registry the node checks a draft's legal basis against.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreatySection {
    /// A treaty registry file (`custos treaty template`), relative to the
    /// data directory or absolute. Without one, a draft citing the
    /// Convention is sent without checking that it is in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<PathBuf>,
}

impl TreatySection {
    fn is_default(&self) -> bool {
        *self == TreatySection::default()
    }
}

/// The disk space the node keeps for itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// Free space (bytes) on the data directory's file system below which
    /// messages are refused as insufficient-storage, so refusals still fit.
    #[serde(default = "default_message_reserve_bytes")]
    pub reserve_bytes: u64,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            reserve_bytes: default_message_reserve_bytes(),
        }
    }
}

impl StorageSection {
    fn is_default(&self) -> bool {
        *self == StorageSection::default()
    }
}

fn default_message_reserve_bytes() -> u64 {
    custos_node::DEFAULT_MESSAGE_RESERVE_BYTES
}

/// Limits on evidence packages this node receives from peers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceSection {
    /// The largest segment (bytes of ciphertext) a peer's manifest may declare.
    #[serde(default = "default_max_segment_bytes")]
    pub max_segment_bytes: u64,
    /// Disk space (bytes) that incoming packages must leave free on the data directory's file system.
    #[serde(default = "default_reserve_bytes")]
    pub reserve_bytes: u64,
    /// Seconds after its offer that a package not completed is removed.
    #[serde(default = "default_partial_expiry_secs")]
    pub partial_expiry_secs: u64,
}

impl Default for EvidenceSection {
    fn default() -> Self {
        EvidenceSection {
            max_segment_bytes: default_max_segment_bytes(),
            reserve_bytes: default_reserve_bytes(),
            partial_expiry_secs: default_partial_expiry_secs(),
        }
    }
}

impl EvidenceSection {
    fn is_default(&self) -> bool {
        *self == EvidenceSection::default()
    }

    /// The limits as the node applies them.
    pub fn limits(&self) -> custos_node::evidence::receive::EvidenceLimits {
        custos_node::evidence::receive::EvidenceLimits {
            max_segment_bytes: self.max_segment_bytes,
            reserve_bytes: self.reserve_bytes,
            partial_expiry: std::time::Duration::from_secs(self.partial_expiry_secs),
        }
    }
}

fn default_max_segment_bytes() -> u64 {
    custos_node::evidence::receive::DEFAULT_MAX_SEGMENT_BYTES
}

fn default_reserve_bytes() -> u64 {
    custos_node::evidence::receive::DEFAULT_RESERVE_BYTES
}

fn default_partial_expiry_secs() -> u64 {
    custos_node::evidence::receive::DEFAULT_PARTIAL_EXPIRY.as_secs()
}

/// Which network directory the node trusts.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySection {
    /// The registry's public key (`ed25519:...`) that must countersign the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_key: Option<String>,
}

/// Who this node is.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// The State this node speaks for (ISO 3166-1 alpha-2).
    pub state: StateCode,
    /// A human name for the node, shown to peers and in the web desk.
    pub name: String,
}

/// Where the node keeps its data.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// `sqlite://custos.db` (relative to the data directory) or a `postgres://` URL.
    pub url: String,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection {
            url: format!("sqlite://{SQLITE_FILE}"),
        }
    }
}

impl fmt::Debug for DatabaseSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSection")
            .field("url", &mask_url(&self.url))
            .finish()
    }
}

/// The node's HTTP listener and its TLS material.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Address and port to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// PEM certificate chain of the listener (TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the listener (TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates whose client certificates peers must present (mutual TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_ca: Option<PathBuf>,
    /// PEM CA certificates trusted for peers' TLS certificates, besides the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_ca: Option<PathBuf>,
    /// PEM certificate and key this node presents to peers that require mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_identity: Option<PathBuf>,
    /// Connections one peer address may hold open at once (default 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections_per_address: Option<u32>,
    /// Seconds a client may take to send a request's headers (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_timeout_secs: Option<u64>,
}

impl HttpSection {
    /// The server's connection and time limits, defaults filled in.
    pub fn limits(&self) -> custos_http::ServerLimits {
        let mut limits = custos_http::ServerLimits::default();
        if let Some(n) = self.max_connections_per_address {
            limits.max_connections_per_address = n;
        }
        if let Some(secs) = self.header_timeout_secs {
            limits.header_timeout = std::time::Duration::from_secs(secs);
        }
        limits
    }
}

fn default_http() -> HttpSection {
    HttpSection {
        listen: default_listen(),
        ..HttpSection::default()
    }
}

fn default_listen() -> String {
    "127.0.0.1:7700".into()
}

/// Hides the password of a URL such as `postgres://user:secret@host/db`.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

impl Config {
    /// A new node's configuration.
    pub fn new(state: StateCode, name: String) -> Self {
        Config {
            node: NodeSection { state, name },
            database: DatabaseSection::default(),
            http: default_http(),
            directory: DirectorySection::default(),
            evidence: EvidenceSection::default(),
            storage: StorageSection::default(),
            treaty: TreatySection::default(),
            cases: CasesSection::default(),
            people: PeopleSection::default(),
            alerts: AlertsSection::default(),
            statistics: StatisticsSection::default(),
            // issue 18: retention
            retention: RetentionSection::default(),
        }
    }

    /// The treaty registry configured for the node (`treaty.registry`),
    /// read and checked; `None` when none is configured. A registry that
    /// cannot be read or has errors is an error naming the setting and the
    /// file; its warnings are printed on standard error.
    pub fn treaty_registry(
        &self,
        data_dir: &Path,
    ) -> anyhow::Result<Option<custos_model::treaty::Registry>> {
        let Some(file) = &self.treaty.registry else {
            return Ok(None);
        };
        let path = if file.is_absolute() {
            file.clone()
        } else {
            data_dir.join(file)
        };
        let loaded = crate::cmd::treaty::load(&path).with_context(|| {
            format!("treaty.registry in {}", data_dir.join(FILE_NAME).display())
        })?;
        for w in &loaded.warnings {
            eprintln!("{}: {w}", path.display());
        }
        Ok(Some(loaded.registry))
    }

    /// Reads `DIR/custos.toml`, applies `CUSTOS_*` overrides and checks the result.
    pub fn load(data_dir: &Path) -> anyhow::Result<Config> {
        let path = data_dir.join(FILE_NAME);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}: is {} a node data directory (made by `custos init`)?",
                path.display(),
                data_dir.display()
            )
        })?;
        let mut config = Config::parse(&text)
            .with_context(|| format!("{} is not a valid configuration", path.display()))?;
        config.apply_env(|k| std::env::var(k).ok())?;
        config
            .check()
            .with_context(|| format!("{} is not a valid configuration", path.display()))?;
        Ok(config)
    }

    /// Parses a configuration text; errors carry the line, column and key.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
    }

    /// Applies the environment overrides: `CUSTOS_NODE_NAME`, `CUSTOS_DATABASE_URL`, `CUSTOS_HTTP_LISTEN`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = var("CUSTOS_NODE_NAME") {
            self.node.name = v;
        }
        if let Some(v) = var("CUSTOS_DATABASE_URL") {
            self.database.url = v;
        }
        if let Some(v) = var("CUSTOS_HTTP_LISTEN") {
            self.http.listen = v;
        }
        Ok(())
    }

    /// The checks that the types alone do not make.
    pub fn check(&self) -> anyhow::Result<()> {
        if !self.node.state.is_known() {
            bail!(
                "node.state: {:?} is not an assigned ISO 3166-1 alpha-2 code",
                self.node.state.as_str()
            );
        }
        if self.node.name.trim().is_empty() {
            bail!("node.name: must not be empty");
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            bail!(
                "database.url: {:?} is neither a sqlite:// nor a postgres:// URL",
                mask_url(url)
            );
        }
        if let Some(k) = &self.directory.registry_key
            && custos_seal::VerifyingKey::from_text(k).is_err()
        {
            bail!("directory.registry_key: {k:?} is not a public key of the form ed25519:<base64>");
        }
        if self.http.tls_cert.is_some() != self.http.tls_key.is_some() {
            bail!("http.tls_cert and http.tls_key go together: give both or neither");
        }
        if self.evidence.partial_expiry_secs == 0 {
            bail!(
                "evidence.partial_expiry_secs: 0 would remove every upload as it starts; give at least 1"
            );
        }
        if self.evidence.max_segment_bytes < 1 << 20 {
            bail!(
                "evidence.max_segment_bytes: {} is below 1048576 (1 MiB), the smallest segment a package may have",
                self.evidence.max_segment_bytes
            );
        }
        if self.http.max_connections_per_address == Some(0) {
            bail!("http.max_connections_per_address: must be at least 1");
        }
        if self.http.header_timeout_secs == Some(0) {
            bail!("http.header_timeout_secs: must be at least 1");
        }
        self.cases.clocks()?;
        self.people.settings()?;
        self.statistics.settings()?;
        // issue 18: retention
        self.retention.settings()?;
        if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            bail!(
                "http.listen: {:?} is not an address and port such as 127.0.0.1:7700",
                self.http.listen
            );
        }
        Ok(())
    }

    /// The database URL with a relative SQLite path resolved against the data directory.
    pub fn database_url(&self, data_dir: &Path) -> String {
        let url = &self.database.url;
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"));
        match path {
            Some(p) if !Path::new(p).is_absolute() => {
                format!("sqlite://{}", absolute(data_dir).join(p).display())
            }
            _ => url.clone(),
        }
    }

    /// The configuration as the TOML text `custos init` writes.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        let body = toml::to_string(self).context("cannot write the configuration as TOML")?;
        Ok(format!(
            "# Custos node configuration. `custos config example` explains every setting.\n\n{body}"
        ))
    }

    /// Writes the configuration back to `DIR/custos.toml` (atomically).
    pub fn save(&self, data_dir: &Path) -> anyhow::Result<()> {
        let path = data_dir.join(FILE_NAME);
        let tmp = path.with_extension("toml.tmp");
        let text = self.to_toml()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            // Only the node's user reads its configuration (it may name a
            // database password).
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        drop(file);
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// A documented example configuration, printed by `custos config example`.
pub const EXAMPLE: &str = r#"# Custos node configuration (DIR/custos.toml).
# Every setting can be overridden by an environment variable, named in brackets.

[node]
# The State this node speaks for: an ISO 3166-1 alpha-2 code.
state = "FR"
# A human name for the node, shown to peers and in the web desk [CUSTOS_NODE_NAME].
name = "France - National Cybercrime Unit (24/7) and Ministry of Justice"

[database]
# Where the node keeps its data [CUSTOS_DATABASE_URL].
#   sqlite://custos.db        embedded SQLite file, relative to the data directory (default)
#   sqlite:///var/lib/custos/custos.db   an absolute path
#   postgres://custos:PASSWORD@db.example:5432/custos   PostgreSQL, for busy nodes
url = "sqlite://custos.db"

[http]
# Address and port the node listens on [CUSTOS_HTTP_LISTEN].
# Plain HTTP is allowed on loopback only; anywhere else give tls_cert and tls_key.
listen = "127.0.0.1:7700"
# tls_cert = "/etc/custos/tls/node.crt"      # PEM certificate chain of this node
# tls_key = "/etc/custos/tls/node.key"       # PEM private key
# tls_client_ca = "/etc/custos/tls/peers-ca.pem"   # require peers' client certificates (mutual TLS)
# peer_ca = "/etc/custos/tls/peers-ca.pem"         # trust peers' server certificates signed by this CA
# client_identity = "/etc/custos/tls/client.pem"   # certificate + key this node shows peers (mutual TLS)
# Connections one peer address may hold open at once; more are closed as they come (default 128).
max_connections_per_address = 128
# Seconds a client may take to send a request's headers before the connection is closed (default 10).
# Request bodies have their own limits: 30 s in all for messages and API calls, and for evidence
# segments, which may stream for hours, 60 s without a byte.
header_timeout_secs = 10

[directory]
# The registry's public key that must countersign the network directory.
# Messages are accepted only from keys that a directory signed by it vouches for.
registry_key = "ed25519:njOG8p4+6kl+MEpaWehwQwdbY10Qh9gpdfuKisyK2VQ="

[evidence]
# Evidence packages from peers arrive in DIR/evidence/incoming/ and, once every
# segment is checked, move to DIR/evidence/received/.
# The largest segment a peer's manifest may declare, in bytes (default 1 GiB).
max_segment_bytes = 1073741824
# Disk space an incoming package must leave free, in bytes (default 1 GiB):
# a package or segment that would eat into it is refused as insufficient-storage.
# Each offer reserves the space its package still needs, so offers at the same
# time never count the same free bytes.
reserve_bytes = 1073741824
# A package not completed this many seconds after its offer is removed, and
# the removal logged in the custody ledger (evidence-expired); default 7 days.
partial_expiry_secs = 604800

[storage]
# Free space, in bytes, the data directory's file system must keep for a message to be
# accepted (default 64 MiB): below it messages are refused as insufficient-storage (507),
# while the refusal records still fit.
reserve_bytes = 67108864

[treaty]
# The treaty registry (`custos treaty template`; docs/treaty-registry.md), relative to the
# data directory or absolute. With one, a draft citing the Convention as legal basis is
# sent only when the Convention is in force for both States on the sending date (entry
# into force, denunciation); otherwise it must cite another basis (bilateral or
# multilateral with the treaty named, or reciprocity). `custos request validate --data DIR`
# makes the same check. Read at start-up: restart the node after changing the file.
# registry = "treaty-registry.toml"

[cases]
# The cases' clocks, run by `custos serve`. Durations: 45s, 30m, 12h, 7d.
# How soon an emergency request must be acknowledged (default 1h). Past it, both nodes show
# the case overdue, and the requesting node escalates once: it sends a status query marked
# as an escalation, which the requested node logs and counts (custos_escalations_received_total).
emergency_ack_target = "1h"
# Warnings (history entry, ledger entry, log line) at these lead times before a preservation
# ends (default 7d and 1d), and before a deadline the requesting State proposed (default 2d).
preservation_warnings = ["7d", "1d"]
deadline_warnings = ["2d"]
# How often the scheduler looks for clocks due (default 5s).
tick = "5s"

[people]
# Sessions opened by signing in (POST /api/v1/sign-in) end after this long without use
# (default 30m) and this long after sign-in however used (default 12h).
session_idle = "30m"
session_absolute = "12h"
# Client-API tokens last this long unless `custos token create --expires-in` says otherwise
# (default 90d), and never longer than the maximum (default 365d).
token_lifetime = "90d"
token_max_lifetime = "365d"
# After this many failed sign-ins in a row an account is locked (default 5): the first
# lock-out lasts `first_lock` (default 15m), each later one twice as long as the one
# before, up to `longest_lock` (default 24h).
lock_after_failures = 5
first_lock = "15m"
longest_lock = "24h"

[statistics]
# `custos stats` and GET /api/v1/statistics/oversight suppress counts below this threshold
# (and a second count where one could be worked out from a total), and give response-time
# percentiles only for groups of at least this many cases (default 5). A report may ask
# for a higher threshold, never a lower one.
threshold = 5
"#;

/// The documented example, `[alerts]` included (`custos config example`).
pub fn example() -> String {
    format!(
        "{EXAMPLE}{}{}",
        crate::config_alerts::EXAMPLE,
        crate::config_retention::EXAMPLE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_a_valid_configuration() {
        let c = Config::parse(EXAMPLE).unwrap();
        c.check().unwrap();
        assert_eq!(c.node.state.as_str(), "FR");
    }

    #[test]
    fn what_init_writes_reads_back() {
        let c = Config::new("DE".parse().unwrap(), "Bundes \"Kontakt\" 24/7".into());
        let back = Config::parse(&c.to_toml().unwrap()).unwrap();
        assert_eq!(back.node.name, c.node.name);
        assert_eq!(back.database.url, "sqlite://custos.db");
    }

    #[test]
    fn errors_name_the_field() {
        let e = Config::parse("[node]\nstate = \"France\"\nname = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("state") && e.contains("line 2"), "{e}");
        let e = Config::parse("[node]\nstate = \"FR\"\nname = \"x\"\ncolour = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
        let mut c = Config::parse(EXAMPLE).unwrap();
        c.database.url = "mysql://x".into();
        assert!(
            c.check()
                .unwrap_err()
                .to_string()
                .starts_with("database.url")
        );
    }

    #[test]
    fn environment_overrides_apply() {
        let mut c = Config::parse(EXAMPLE).unwrap();
        c.apply_env(|k| (k == "CUSTOS_DATABASE_URL").then(|| "postgres://u:pw@h/db".to_owned()))
            .unwrap();
        assert_eq!(c.database.url, "postgres://u:pw@h/db");
        let debug = format!("{c:?}");
        assert!(!debug.contains("pw"), "{debug}");
    }

    #[test]
    fn the_treaty_registry_is_read_relative_to_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::parse(EXAMPLE).unwrap();
        assert_eq!(c.treaty, TreatySection::default());
        assert!(c.treaty_registry(dir.path()).unwrap().is_none());

        c.treaty.registry = Some("registry.toml".into());
        let e = c.treaty_registry(dir.path()).unwrap_err();
        let chain = format!("{e:#}");
        assert!(
            chain.starts_with("treaty.registry in ") && chain.contains("registry.toml"),
            "{chain}"
        );
        std::fs::write(
            dir.path().join("registry.toml"),
            crate::cmd::treaty::SAMPLE_REGISTRY,
        )
        .unwrap();
        let r = c.treaty_registry(dir.path()).unwrap().unwrap();
        assert!(r.sample);
        let back = Config::parse(&c.to_toml().unwrap()).unwrap();
        assert_eq!(back.treaty.registry, Some("registry.toml".into()));
    }

    #[test]
    fn relative_sqlite_paths_resolve_against_the_data_dir() {
        let c = Config::parse(EXAMPLE).unwrap();
        let url = c.database_url(Path::new("/srv/node"));
        assert_eq!(url, "sqlite:///srv/node/custos.db");
    }

    #[test]
    fn lock_out_settings_are_read_and_checked() {
        let base = "[node]\nstate = \"FR\"\nname = \"x\"\n[people]\n";
        let c = Config::parse(&format!(
            "{base}lock_after_failures = 3\nfirst_lock = \"5m\"\nlongest_lock = \"2h\"\n"
        ))
        .unwrap();
        let s = c.people.settings().unwrap();
        assert_eq!(s.lock_after_failures, 3);
        assert_eq!(s.first_lock, time::Duration::minutes(5));
        assert_eq!(s.longest_lock, time::Duration::hours(2));
        for (bad, field) in [
            ("lock_after_failures = 0", "people.lock_after_failures"),
            ("first_lock = \"2d\"", "people.first_lock"),
            ("longest_lock = \"soon\"", "people.longest_lock"),
        ] {
            let c = Config::parse(&format!("{base}{bad}\n")).unwrap();
            let e = c.people.settings().unwrap_err().to_string();
            assert!(e.starts_with(field), "{bad}: {e}");
        }
    }
}
