//! Removing partial uploads: a package a peer offered but did not complete
//! within the configured time (`evidence.partial_expiry_secs`, 7 days by
//! default) is deleted from `DATA/evidence/incoming/`, its disk reservation
//! ends, and the removal is logged (a log line and an `evidence-expired`
//! custody entry naming the package, its sender and request, and what was
//! removed). `custos serve` runs the sweep in the background.
//!
//! The sweep takes the package's acceptance lock, so it never removes a
//! package while it is being accepted; a segment still being uploaded to an
//! expired package fails when it would be kept.

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use custos_protocol::evidence_transfer::package_hex;
use serde_json::json;
use time::OffsetDateTime;

use super::layout::SEGMENTS_DIR;
use super::receive::{FileLock, Folders, ReceiveError, blocking, find_origin, sync_dir};
use super::staged::Origin;
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// A partial upload that was removed.
#[derive(Clone, Debug)]
pub struct Expired {
    /// The package id, `sha256:<hex>`.
    pub package: String,
    pub sender: custos_model::StateCode,
    pub request: String,
    pub offered_at: OffsetDateTime,
    /// Bytes of segment files removed.
    pub bytes: u64,
}

/// How often the sweep runs for an expiry of `expiry`: a quarter of it,
/// between 1 second and 10 minutes.
pub fn sweep_every(expiry: Duration) -> Duration {
    (expiry / 4).clamp(Duration::from_secs(1), Duration::from_secs(600))
}

impl Node {
    /// Removes every partial upload offered more than the configured expiry
    /// ago, and logs each removal. Returns what was removed.
    pub async fn expire_partial_uploads(&self) -> Result<Vec<Expired>, NodeError> {
        let now = self.clock.now();
        let expiry = self.settings.evidence.partial_expiry;
        let cutoff = now - expiry;
        let folders = Folders::of(self);
        let removed = blocking(move || sweep(&folders, cutoff))
            .await
            .map_err(|e| NodeError::Internal(format!("evidence expiry: {e}")))?;
        for gone in &removed {
            if let Some(hex) = package_hex(&gone.package) {
                self.staging.release(hex);
            }
            let entry = Entry::new(
                EntryKind::EvidenceExpired,
                now,
                crate::Actor::Peer(self.state()).label(),
            )
            .request(gone.request.clone())
            .subject(gone.package.clone())
            .detail(json!({
                "from": gone.sender,
                "offered_at": custos_protocol::timestamp::format(gone.offered_at),
                "bytes_removed": gone.bytes,
                "expiry_secs": expiry.as_secs(),
            }))
            .encode()?;
            self.store.queue_ledger(&[entry], now).await?;
            tracing::info!(
                package = %gone.package,
                from = %gone.sender,
                request = %custos_protocol::text::escape(&gone.request),
                bytes = gone.bytes,
                "removed a partial evidence upload not completed within {} s of its offer",
                expiry.as_secs()
            );
        }
        Ok(removed)
    }

    /// Runs [`Node::expire_partial_uploads`] every [`sweep_every`] until `shutdown` turns true.
    pub async fn run_evidence_expiry(
        self: Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let every = sweep_every(self.settings.evidence.partial_expiry);
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = self.expire_partial_uploads().await {
                tracing::error!(error = %e, "evidence: removing expired partial uploads failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Removes the staging folders offered before `cutoff`.
fn sweep(folders: &Folders, cutoff: OffsetDateTime) -> Result<Vec<Expired>, ReceiveError> {
    let Ok(entries) = fs::read_dir(&folders.incoming) else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        // What a removal interrupted by a crash left behind.
        if name.to_str().is_some_and(|n| n.starts_with(".expired-")) {
            let _ = fs::remove_dir_all(entry.path());
            continue;
        }
        let Some(hex) = name.to_str().and_then(package_hex) else {
            continue;
        };
        if !entry.path().is_dir() {
            continue;
        }
        let Ok((origin, false)) = find_origin(folders, hex) else {
            continue;
        };
        if origin.offered_at > cutoff {
            continue;
        }
        if let Some(gone) = remove(folders, hex, &origin)? {
            removed.push(gone);
        }
    }
    Ok(removed)
}

/// Removes one staging folder under the package's acceptance lock; `None`
/// when an acceptance holds the lock or the folder is gone.
fn remove(folders: &Folders, hex: &str, origin: &Origin) -> Result<Option<Expired>, ReceiveError> {
    let Some(lock) = FileLock::try_acquire(&folders.incoming.join(format!("{hex}.lock")))? else {
        return Ok(None);
    };
    let staging = folders.staging(hex);
    if !staging.is_dir() || folders.accepted(hex).is_dir() {
        return Ok(None);
    }
    let bytes = fs::read_dir(staging.join(SEGMENTS_DIR))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    // One rename takes the package out of view; the deletion follows.
    let doomed = folders
        .incoming
        .join(format!(".expired-{hex}-{}", uuid::Uuid::new_v4().simple()));
    fs::rename(&staging, &doomed).map_err(|e| ReceiveError::Io {
        what: format!("cannot remove {}", staging.display()),
        source: e,
    })?;
    let _ = sync_dir(&folders.incoming);
    drop(lock);
    if let Err(e) = fs::remove_dir_all(&doomed) {
        tracing::warn!(error = %e, folder = %doomed.display(), "cannot delete an expired upload's folder");
    }
    Ok(Some(Expired {
        package: format!("sha256:{hex}"),
        sender: origin.sender,
        request: origin.request.clone(),
        offered_at: origin.offered_at,
        bytes,
    }))
}
