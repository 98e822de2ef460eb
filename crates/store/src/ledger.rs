//! The records of the custody ledger that a node keeps: entries waiting to
//! be sequenced, the ledger's entries by index, the tree hashes the node
//! computed for them, and signed checkpoints.
//!
//! The store is the ledger's memory, not its logic: it keeps entries and
//! hashes as opaque bytes, makes each append atomic and ordered, and never
//! computes or checks a Merkle hash. An action queues its entry in the same
//! transaction as the action itself (see the `ledger` fields of
//! [`crate::OutgoingMessage`], [`crate::IncomingMessage`] and
//! [`crate::NewEvent`]); the node's sequencer later moves queued entries into
//! the ledger in batches with [`crate::Store::append_ledger`]. Timestamps
//! follow the rule of the other records (UTC, to the microsecond; see
//! [`crate::storage_precision`]).

use time::OffsetDateTime;

/// One entry of the ledger, at its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The entry's place: 0 for the first, then 1, 2, … without gaps.
    pub index: u64,
    /// The entry exactly as appended. Whether it still matches the tree is
    /// for the node to check.
    pub entry: Vec<u8>,
    /// When the batch holding it was appended.
    pub recorded_at: OffsetDateTime,
}

/// An entry queued for the ledger and not yet sequenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// The queue's number for it: ids rise in the order entries are queued
    /// and are never reused. The sequencer hands them back to
    /// [`crate::Store::append_ledger`] as consumed.
    pub id: i64,
    pub entry: Vec<u8>,
    /// When the action that queued it was recorded.
    pub queued_at: OffsetDateTime,
}

/// A signed checkpoint of the ledger (a signed note naming the tree's size
/// and root), as the node made it. The store keeps at most one per size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The number of ledger entries it covers; at most the ledger's size
    /// when stored.
    pub size: u64,
    /// The signed note, exactly as signed.
    pub note: String,
    pub created_at: OffsetDateTime,
}

/// A run of consecutive ledger entries, packed into one buffer, as
/// [`crate::Store::ledger_scan`] delivers them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryRun {
    /// The index of the run's first entry.
    pub first: u64,
    bytes: Vec<u8>,
    /// Where each entry ends in `bytes`.
    ends: Vec<usize>,
}

impl EntryRun {
    /// An empty run that starts at `first`, with room for about `entries`
    /// entries of `bytes` bytes in all.
    pub fn with_capacity(first: u64, entries: usize, bytes: usize) -> Self {
        Self {
            first,
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(entries),
        }
    }

    /// Adds the next entry.
    pub fn push(&mut self, entry: &[u8]) {
        self.bytes.extend_from_slice(entry);
        self.ends.push(self.bytes.len());
    }

    /// How many entries the run holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the run holds no entry.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// How many bytes its entries hold.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// The entries, in index order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.bytes[start..end])
    }
}

/// A run of consecutive stored tree hashes, by storage index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HashRun {
    /// The storage index of the first hash.
    pub first: u64,
    pub hashes: Vec<[u8; 32]>,
}

/// How many entries (and about twice as many hashes) a scan puts in one run.
pub const SCAN_RUN: usize = 8192;

/// How many runs each reader of a scan may have waiting.
const SCAN_AHEAD: usize = 4;

/// The two ordered streams of a full ledger read (see
/// [`crate::Store::ledger_scan`]): the entries and the stored tree hashes,
/// each read by its own reader, so that reading runs beside the hashing
/// that checks it. Dropping the scan stops both readers.
///
/// Each stream delivers runs in order, from index 0, and ends after the
/// last one asked for; a failure ends it early with one `Err`. A row that
/// is missing is [`crate::StoreError::LedgerGap`] naming its index, sent
/// after the runs before it.
#[derive(Debug)]
pub struct LedgerScan {
    pub entries: tokio::sync::mpsc::Receiver<Result<EntryRun, crate::StoreError>>,
    pub hashes: tokio::sync::mpsc::Receiver<Result<HashRun, crate::StoreError>>,
}

/// The sending halves of a [`LedgerScan`], for a store's readers.
pub(crate) struct ScanSenders {
    pub entries: tokio::sync::mpsc::Sender<Result<EntryRun, crate::StoreError>>,
    pub hashes: tokio::sync::mpsc::Sender<Result<HashRun, crate::StoreError>>,
}

impl LedgerScan {
    pub(crate) fn channels() -> (Self, ScanSenders) {
        let (entries_out, entries) = tokio::sync::mpsc::channel(SCAN_AHEAD);
        let (hashes_out, hashes) = tokio::sync::mpsc::channel(SCAN_AHEAD);
        (
            Self { entries, hashes },
            ScanSenders {
                entries: entries_out,
                hashes: hashes_out,
            },
        )
    }
}

/// A scan for a store with no faster sequential read: both streams are read
/// page by page through [`crate::Store::ledger_entries`] and
/// [`crate::Store::ledger_hash_range`], on two tasks.
pub(crate) fn scan_in_pages<S>(store: S, entries: u64, hashes: u64) -> LedgerScan
where
    S: crate::Store + Clone + 'static,
{
    let (scan, out) = LedgerScan::channels();
    let reader = store.clone();
    tokio::spawn(async move {
        let mut next = 0u64;
        while next < entries {
            let limit = (entries - next).min(SCAN_RUN as u64) as u32;
            let page = match reader.ledger_entries(next, limit).await {
                Ok(page) => page,
                // The entries before a gap come first, then the gap.
                Err(crate::StoreError::LedgerGap { table, index })
                    if index > next && index - next < u64::from(limit) =>
                {
                    let before = (index - next) as u32;
                    let mut end = Err(crate::StoreError::LedgerGap { table, index });
                    match reader.ledger_entries(next, before).await {
                        Ok(page) => {
                            let mut run = EntryRun::with_capacity(next, page.len(), 0);
                            for entry in &page {
                                run.push(&entry.entry);
                            }
                            if out.entries.send(Ok(run)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => end = Err(e),
                    }
                    let _ = out.entries.send(end).await;
                    return;
                }
                Err(e) => {
                    let _ = out.entries.send(Err(e)).await;
                    return;
                }
            };
            let mut run = EntryRun::with_capacity(next, page.len(), 0);
            for entry in page.iter().take(limit as usize) {
                run.push(&entry.entry);
            }
            let read = run.len() as u64;
            if out.entries.send(Ok(run)).await.is_err() {
                return;
            }
            if read == 0 {
                let _ = out
                    .entries
                    .send(Err(crate::StoreError::LedgerGap {
                        table: "ledger_entries",
                        index: next,
                    }))
                    .await;
                return;
            }
            next += read;
        }
    });
    tokio::spawn(async move {
        let mut next = 0u64;
        while next < hashes {
            let count = (hashes - next).min(2 * SCAN_RUN as u64) as u32;
            let run = match store.ledger_hash_range(next, count).await {
                Ok(hashes) => HashRun {
                    first: next,
                    hashes,
                },
                Err(e) => {
                    let _ = out.hashes.send(Err(e)).await;
                    return;
                }
            };
            if out.hashes.send(Ok(run)).await.is_err() {
                return;
            }
            next += u64::from(count);
        }
    });
    scan
}
