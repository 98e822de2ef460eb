//! What the node keeps in memory about the packages peers are uploading to
//! it: the manifest verified at the offer (so that later calls neither read
//! nor verify it again), who offered it, and the disk space each one has
//! reserved; and the removal of partial uploads that were not completed in
//! time.
//!
//! Each staging folder holds, beside the manifest, `origin.json`: the
//! sender, the request, the segment count and when it was offered. It is
//! all a status, segment or acceptance call needs to check that the caller
//! is the sender (see `custos_protocol::evidence_upload`) before anything
//! larger is read; after a restart the manifest itself is read once, on the
//! first call that needs it, and kept.
//!
//! Disk space is reserved at the offer, under one lock: an offer passes only
//! if the free space above the reserve, less every other package's
//! reservation, holds the bytes it still needs. Two offers at once therefore
//! cannot both count the same free bytes. A package's reservation shrinks as
//! its segments are verified and ends at acceptance or expiry. Reservations
//! live in memory: after a restart a staged package reserves again when it
//! is next offered.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use custos_model::StateCode;
use custos_protocol::evidence::Manifest;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The file of a staging folder that says who offered the package.
pub(crate) const ORIGIN_FILE: &str = "origin.json";

/// Partial uploads are removed this long after their offer unless configured otherwise (7 days).
pub const DEFAULT_PARTIAL_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Who offered a staged package, and when (`origin.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Origin {
    pub sender: StateCode,
    pub request: String,
    pub segments: u32,
    #[serde(with = "custos_protocol::timestamp::micros")]
    pub offered_at: OffsetDateTime,
}

impl Origin {
    pub(crate) fn of(manifest: &Manifest, offered_at: OffsetDateTime) -> Origin {
        Origin {
            sender: manifest.sender,
            request: manifest.request.clone(),
            segments: u32::try_from(manifest.segments.len()).unwrap_or(u32::MAX),
            offered_at,
        }
    }

    /// Reads `origin.json` of a staging or accepted folder; `None` when absent or damaged.
    pub(crate) fn read(dir: &Path) -> Option<Origin> {
        let bytes = std::fs::read(dir.join(ORIGIN_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        // A struct of plain fields always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// One package being uploaded.
#[derive(Debug, Default)]
struct Held {
    /// The manifest, verified at the offer (or read once after a restart).
    manifest: Option<Arc<Manifest>>,
    /// Bytes the package may still write.
    reserved: u64,
}

/// The packages being uploaded to this node, and their reservations.
#[derive(Debug, Default)]
pub struct Staging {
    held: Mutex<HashMap<String, Held>>,
}

/// Free space above the reserve, less the other packages' reservations, did
/// not hold what was asked.
#[derive(Debug)]
pub(crate) struct NoRoom {
    pub needed: u64,
    pub available: u64,
}

impl Staging {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The manifest kept for package `hex`, if any.
    pub(crate) fn manifest(&self, hex: &str) -> Option<Arc<Manifest>> {
        self.lock().get(hex).and_then(|h| h.manifest.clone())
    }

    /// Keeps the manifest of package `hex`.
    pub(crate) fn keep_manifest(&self, hex: &str, manifest: Arc<Manifest>) {
        self.lock().entry(hex.to_owned()).or_default().manifest = Some(manifest);
    }

    /// Reserves `needed` bytes for package `hex` (replacing what it had
    /// reserved), if `free` bytes above `reserve`, less every other
    /// package's reservation, hold them. `free` is read by the caller
    /// inside `measure`, under the lock, so that no other reservation
    /// slips in between.
    pub(crate) fn reserve<E>(
        &self,
        hex: &str,
        needed: u64,
        reserve: u64,
        measure: impl FnOnce() -> Result<u64, E>,
    ) -> Result<Result<(), NoRoom>, E> {
        let mut held = self.lock();
        let free = measure()?;
        let others: u64 = held
            .iter()
            .filter(|(h, _)| h.as_str() != hex)
            .map(|(_, p)| p.reserved)
            .sum();
        let available = free.saturating_sub(reserve).saturating_sub(others);
        if needed > available {
            return Ok(Err(NoRoom { needed, available }));
        }
        held.entry(hex.to_owned()).or_default().reserved = needed;
        Ok(Ok(()))
    }

    /// Whether package `hex` may write `size` more bytes: within what it
    /// reserved, or within free space above the reserve and every other
    /// reservation.
    pub(crate) fn room_for<E>(
        &self,
        hex: &str,
        size: u64,
        reserve: u64,
        measure: impl FnOnce() -> Result<u64, E>,
    ) -> Result<Result<(), NoRoom>, E> {
        let held = self.lock();
        let own = held.get(hex).map_or(0, |p| p.reserved);
        if own >= size {
            return Ok(Ok(()));
        }
        let free = measure()?;
        let total: u64 = held.values().map(|p| p.reserved).sum();
        // Our own reservation is part of the free space we may use.
        let available = free.saturating_sub(reserve).saturating_sub(total - own);
        if size > available {
            return Ok(Err(NoRoom {
                needed: size,
                available,
            }));
        }
        Ok(Ok(()))
    }

    /// Segment of `size` bytes of package `hex` verified and kept: it no longer needs reserving.
    pub(crate) fn written(&self, hex: &str, size: u64) {
        if let Some(p) = self.lock().get_mut(hex) {
            p.reserved = p.reserved.saturating_sub(size);
        }
    }

    /// Forgets package `hex`: accepted, or expired.
    pub(crate) fn release(&self, hex: &str) {
        self.lock().remove(hex);
    }

    /// Bytes reserved by every package together.
    pub fn reserved(&self) -> u64 {
        self.lock().values().map(|p| p.reserved).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(n: u64) -> impl FnOnce() -> Result<u64, ()> {
        move || Ok(n)
    }

    #[test]
    fn reservations_never_count_the_same_free_bytes_twice() {
        let s = Staging::default();
        // 100 free, 20 kept back: 80 to share.
        assert!(s.reserve("a", 50, 20, free(100)).unwrap().is_ok());
        let refused = s.reserve("b", 40, 20, free(100)).unwrap().unwrap_err();
        assert_eq!((refused.needed, refused.available), (40, 30));
        assert!(s.reserve("b", 30, 20, free(100)).unwrap().is_ok());
        assert_eq!(s.reserved(), 80);
        // Offering "a" again replaces its reservation, it does not add to it.
        assert!(s.reserve("a", 50, 20, free(100)).unwrap().is_ok());
        // A segment within the reservation needs no new room.
        assert!(s.room_for("a", 50, 20, free(0)).unwrap().is_ok());
        s.written("a", 50);
        assert_eq!(s.reserved(), 30);
        // Once written, the disk is fuller: 50 free now.
        assert!(s.room_for("a", 30, 20, free(50)).unwrap().is_err());
        s.release("b");
        assert!(s.room_for("a", 30, 20, free(50)).unwrap().is_ok());
    }
}
