//! Whether the node can do its work, for service managers and load
//! balancers (`/readyz`), the figures monitoring reads beside the counts
//! (`/metrics`), and the versions this build speaks (`custos --version`).
//!
//! None of these names a case, a person or a message: a probe may ask
//! without signing in, as the process supervisor and the load balancer do,
//! so nothing here is authorized through the role matrix or recorded as a
//! read.

use serde::Serialize;
use time::OffsetDateTime;

use crate::Node;

/// One condition of readiness, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadinessCheck {
    /// `store`, `keys`, `directory`, `ledger` or `disk`.
    pub name: &'static str,
    pub ok: bool,
    /// What was found, in a few words (never case content).
    pub detail: String,
}

/// Whether the node is ready to take messages, with each check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// Every check passed.
    pub ready: bool,
    pub checks: Vec<ReadinessCheck>,
}

impl Readiness {
    /// The checks that failed.
    pub fn failing(&self) -> impl Iterator<Item = &ReadinessCheck> {
        self.checks.iter().filter(|c| !c.ok)
    }
}

/// Figures of the node's surroundings that monitoring alerts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Surroundings {
    /// Seconds until the directory in force expires (negative once it has);
    /// `None` without a directory.
    pub directory_expires_in: Option<i64>,
    /// Whether the directory in force lists this node's current signing key.
    pub signing_key_listed: bool,
    /// Seconds until that key stops being valid in the directory; `None`
    /// when it is not listed or has no end date.
    pub signing_key_expires_in: Option<i64>,
    /// Bytes free for the node on the data folder's file system, if readable.
    pub disk_free_bytes: Option<u64>,
    /// The free space below which messages are refused (0: no reserve).
    pub disk_reserve_bytes: u64,
}

/// The versions this build writes and speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Versions {
    /// The program's version.
    pub binary: &'static str,
    /// The database schema: the number of the newest migration.
    pub database_schema: i64,
    /// The federation protocol's messages, receipts and directory (`v`).
    pub protocol: u32,
    /// The evidence package manifest written, and those read.
    pub evidence_manifest: u32,
    pub evidence_manifests_read: Vec<u32>,
    /// The custody proof bundle format.
    pub proof_bundle: u32,
}

/// The versions of this build.
pub fn versions() -> Versions {
    Versions {
        binary: env!("CARGO_PKG_VERSION"),
        database_schema: custos_store::schema_version(),
        protocol: custos_protocol::PROTOCOL_VERSION,
        evidence_manifest: custos_protocol::evidence::MANIFEST_VERSION,
        evidence_manifests_read: custos_protocol::evidence::MANIFEST_VERSIONS.to_vec(),
        proof_bundle: custos_ledger::bundle::BUNDLE_VERSION,
    }
}

fn check(name: &'static str, outcome: Result<String, String>) -> ReadinessCheck {
    match outcome {
        Ok(detail) => ReadinessCheck {
            name,
            ok: true,
            detail,
        },
        Err(detail) => ReadinessCheck {
            name,
            ok: false,
            detail,
        },
    }
}

impl Node {
    /// Whether the node is ready: its database answers at the schema this
    /// build expects, its keys are loaded, a verified directory that has not
    /// expired is in force, the custody ledger can be extended, and the
    /// data folder's file system keeps its reserve.
    pub async fn readiness(&self) -> Readiness {
        let now = self.clock.now();
        let expected = custos_store::schema_version();
        let store = match self.store.schema_version().await {
            Ok(v) if v == expected => Ok(format!("database answers at schema {v}")),
            Ok(v) => Err(format!(
                "database at schema {v}, this build expects {expected}"
            )),
            Err(e) => Err(format!("database does not answer: {e}")),
        };
        let keys = Ok(format!(
            "signing key {} loaded",
            self.with_keys(|k| k.signing.key_id())
        ));
        let directory = match self.ensure_directory_current().await {
            Err(e) => Err(format!("the stored directory cannot be loaded: {e}")),
            Ok(()) => match self.directory() {
                None => Err("no directory imported (custos directory import)".to_owned()),
                Some(d) if d.is_expired_at(now) => Err(format!(
                    "directory version {} expired; import a fresh one",
                    d.version()
                )),
                Some(d) => Ok(format!("directory version {} in force", d.version())),
            },
        };
        let ledger = match self.custody_open() {
            Ok(()) => Ok("custody ledger can be extended".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        let reserve = self.settings.message_reserve_bytes;
        let disk = match free_bytes(&self.settings.data_dir) {
            Some(free) if free < reserve => {
                Err(format!("{free} bytes free, below the reserve of {reserve}"))
            }
            Some(free) => Ok(format!("{free} bytes free")),
            None => Err("the free space of the data folder cannot be read".to_owned()),
        };
        let checks = vec![
            check("store", store),
            check("keys", keys),
            check("directory", directory),
            check("ledger", ledger),
            check("disk", disk),
        ];
        Readiness {
            ready: checks.iter().all(|c| c.ok),
            checks,
        }
    }

    /// Directory and key expiry, and free disk space, read now.
    pub fn surroundings(&self) -> Surroundings {
        let now = self.clock.now();
        let seconds = |at: OffsetDateTime| (at - now).whole_seconds();
        let directory = self.directory();
        let own_key = self.with_keys(|k| k.signing.key_id());
        let listed = directory
            .as_ref()
            .and_then(|d| d.sender_key(self.state(), &own_key));
        Surroundings {
            directory_expires_in: directory.as_ref().map(|d| seconds(d.expires_at())),
            signing_key_listed: listed.is_some(),
            signing_key_expires_in: listed.and_then(|k| k.valid_until).map(seconds),
            disk_free_bytes: free_bytes(&self.settings.data_dir),
            disk_reserve_bytes: self.settings.message_reserve_bytes,
        }
    }
}

/// Bytes available to an unprivileged writer on the file system holding `dir`.
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    rustix::fs::statvfs(dir)
        .ok()
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
}
