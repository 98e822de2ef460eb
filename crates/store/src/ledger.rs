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
//! the ledger in batches with [`crate::LedgerStore::append_ledger`]. Timestamps
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
    /// [`crate::LedgerStore::append_ledger`] as consumed.
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

/// What a scan computes on the store's reading threads: a digest of each
/// entry's bytes (for the node: the entry's Merkle leaf hash) and, if
/// asked, values derived from each whole run of digests (for the node: the
/// tree hashes above the run's leaves). The store only applies them: what
/// they mean is the caller's business.
#[derive(Debug, Clone, Copy)]
pub struct EntryDigest {
    entry: fn(&[u8]) -> [u8; 32],
    run: Option<RunDigest>,
}

/// Computes values from the digests of a whole run of [`SCAN_RUN`]
/// entries starting at a multiple of [`SCAN_RUN`], appending them to the
/// vector (the run's [`HashRun::derived`]).
pub type RunDigest = fn(&[[u8; 32]], &mut Vec<[u8; 32]>);

impl EntryDigest {
    /// Digests every entry with `entry`.
    pub fn each(entry: fn(&[u8]) -> [u8; 32]) -> Self {
        Self { entry, run: None }
    }

    /// Also derives values from every whole run with `run`.
    pub fn with_runs(self, run: RunDigest) -> Self {
        Self {
            run: Some(run),
            ..self
        }
    }

    /// The digest of one entry.
    pub(crate) fn entry(&self, bytes: &[u8]) -> [u8; 32] {
        (self.entry)(bytes)
    }

    /// Fills `run.derived` if the run is whole and aligned and a run
    /// digest was asked for.
    pub(crate) fn finish(&self, run: &mut HashRun) {
        run.derived.clear();
        if let Some(derive) = self.run
            && run.hashes.len() == SCAN_RUN
            && run.first.is_multiple_of(SCAN_RUN as u64)
        {
            derive(&run.hashes, &mut run.derived);
        }
    }
}

/// A run of consecutive 32-byte values as a scan delivers them: the
/// digests of consecutive entries, or consecutive stored tree hashes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HashRun {
    /// The index of the first: an entry's index or a storage index.
    pub first: u64,
    pub hashes: Vec<[u8; 32]>,
    /// What [`EntryDigest::with_runs`] derived from a whole run of entry
    /// digests; empty otherwise.
    pub derived: Vec<[u8; 32]>,
}

impl HashRun {
    /// An empty run from `first` with room for `capacity` values.
    pub(crate) fn with_capacity(first: u64, capacity: usize) -> Self {
        Self {
            first,
            hashes: Vec::with_capacity(capacity),
            derived: Vec::new(),
        }
    }

    /// An empty run from `first`: `back` emptied, keeping its memory, or
    /// a new one with room for `capacity` values.
    pub(crate) fn reuse(back: Option<Self>, first: u64, capacity: usize) -> Self {
        match back {
            Some(mut run) => {
                run.first = first;
                run.hashes.clear();
                run.derived.clear();
                run
            }
            None => Self::with_capacity(first, capacity),
        }
    }
}

/// How many entries (and about twice as many hashes) a scan puts in one run.
pub const SCAN_RUN: usize = 8192;

/// How many runs each reader of a scan may have waiting.
const SCAN_AHEAD: usize = 3;

/// What a reader of a scan sends for each run it read: the run and, if it
/// stopped there, why (the run then holds what came before the problem).
pub(crate) type Lot = (HashRun, Option<crate::StoreError>);

/// One ordered stream of a [`LedgerScan`]. Its runs may be read by
/// several readers, each taking every n-th run and running ahead of the
/// others; the stream hands them out in order.
#[derive(Debug)]
pub struct RunStream {
    lanes: Vec<tokio::sync::mpsc::Receiver<Lot>>,
    /// The reader whose run comes next.
    turn: usize,
    /// A problem to report after the run that came with it.
    held: Option<crate::StoreError>,
    over: bool,
}

impl RunStream {
    /// The next run, a problem (after which the stream ends), or `None`
    /// at the end.
    pub async fn recv(&mut self) -> Option<Result<HashRun, crate::StoreError>> {
        if let Some(problem) = self.held.take() {
            self.over = true;
            return Some(Err(problem));
        }
        if self.over {
            return None;
        }
        let count = self.lanes.len();
        let (run, problem) = self.lanes.get_mut(self.turn)?.recv().await?;
        self.turn = (self.turn + 1) % count;
        match problem {
            None => Some(Ok(run)),
            Some(problem) if run.hashes.is_empty() => {
                self.over = true;
                Some(Err(problem))
            }
            Some(problem) => {
                self.held = Some(problem);
                Some(Ok(run))
            }
        }
    }

    /// A stream read by `readers` readers, and where each sends.
    fn dealt(readers: usize) -> (Self, Vec<tokio::sync::mpsc::Sender<Lot>>) {
        let (senders, lanes) = (0..readers.max(1))
            .map(|_| tokio::sync::mpsc::channel(SCAN_AHEAD))
            .unzip();
        let stream = Self {
            lanes,
            turn: 0,
            held: None,
            over: false,
        };
        (stream, senders)
    }
}

/// The two ordered streams of a full ledger read (see
/// [`crate::LedgerStore::ledger_scan`]): the digests of the entries and the
/// stored tree hashes, each read by its own readers, so that reading and
/// digesting run beside the work that checks them. Dropping the scan stops
/// the readers: each stops at its next run, and [`ScanReaders::stopped`]
/// waits until all have.
///
/// Each stream delivers runs in order, from index 0, and ends after the
/// last one asked for; a failure ends it early with one `Err`. A row that
/// is missing is [`crate::StoreError::LedgerGap`] naming its index, sent
/// after the runs before it.
///
/// A reader of the streams may hand each run back through `spent` once
/// done with it; the store then refills it rather than allocating another.
/// A scan moves hundreds of megabytes, and memory fresh from the system
/// costs a page fault and a zeroed page every few kilobytes.
#[derive(Debug)]
pub struct LedgerScan {
    pub digests: RunStream,
    pub hashes: RunStream,
    pub spent: Spent,
    pub readers: ScanReaders,
}

/// The readers of a [`LedgerScan`], to wait for once its streams are
/// dropped, so that nothing the scan started still reads the database
/// after the caller is done (a closed store, a file replaced or removed).
#[derive(Debug, Default)]
pub struct ScanReaders(pub(crate) Vec<tokio::task::JoinHandle<()>>);

impl ScanReaders {
    /// Waits until every reader has stopped. Call it after dropping the
    /// scan's streams: a reader waiting to send stops only then.
    pub async fn stopped(self) {
        for reader in self.0 {
            // A reader that panicked has stopped too.
            let _ = reader.await;
        }
    }
}

/// Where the runs of a [`LedgerScan`] go back for reuse (see there).
#[derive(Debug, Clone)]
pub struct Spent {
    digests: tokio::sync::mpsc::Sender<HashRun>,
    hashes: tokio::sync::mpsc::Sender<HashRun>,
}

impl Spent {
    /// Hands back a run of the `digests` stream. Never waits: a run the
    /// store has no room or no use for is dropped.
    pub fn digests(&self, run: HashRun) {
        let _ = self.digests.try_send(run);
    }

    /// Hands back a run of the `hashes` stream, likewise.
    pub fn hashes(&self, run: HashRun) {
        let _ = self.hashes.try_send(run);
    }
}

/// One stream of a scan as its readers see it: where each reader sends,
/// and the runs handed back (shared by the readers).
pub(crate) struct StreamOut {
    pub lanes: Vec<tokio::sync::mpsc::Sender<Lot>>,
    pub spent: std::sync::Arc<std::sync::Mutex<tokio::sync::mpsc::Receiver<HashRun>>>,
}

impl StreamOut {
    /// An empty run from `first`: one handed back if there is one.
    pub fn fresh(&self, first: u64, capacity: usize) -> HashRun {
        let back = self
            .spent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .try_recv()
            .ok();
        HashRun::reuse(back, first, capacity)
    }
}

impl LedgerScan {
    /// A scan whose entries are read by `entry_readers` readers and whose
    /// stored hashes by one, and the two streams they feed.
    pub(crate) fn channels(entry_readers: usize) -> (Self, StreamOut, StreamOut) {
        let (digests, digest_lanes) = RunStream::dealt(entry_readers);
        let (hashes, hash_lanes) = RunStream::dealt(1);
        // Every run in flight can come back: those queued, those the
        // readers hold, the one being checked and the one handed back.
        let room = |lanes: usize| lanes * (SCAN_AHEAD + 1) + 2;
        let (spent_digests, digests_back) = tokio::sync::mpsc::channel(room(entry_readers));
        let (spent_hashes, hashes_back) = tokio::sync::mpsc::channel(room(1));
        let shared = |rx| std::sync::Arc::new(std::sync::Mutex::new(rx));
        (
            Self {
                digests,
                hashes,
                spent: Spent {
                    digests: spent_digests,
                    hashes: spent_hashes,
                },
                readers: ScanReaders::default(),
            },
            StreamOut {
                lanes: digest_lanes,
                spent: shared(digests_back),
            },
            StreamOut {
                lanes: hash_lanes,
                spent: shared(hashes_back),
            },
        )
    }
}

/// A scan for a store with no faster sequential read: both streams are read
/// page by page through [`crate::LedgerStore::ledger_entries`] and
/// [`crate::LedgerStore::ledger_hash_range`], on two tasks; entries are digested
/// on the blocking pool.
pub(crate) fn scan_in_pages<S>(
    store: S,
    entries: u64,
    hashes: u64,
    digest: EntryDigest,
) -> LedgerScan
where
    S: crate::Store + Clone + 'static,
{
    let (mut scan, digests_out, hashes_out) = LedgerScan::channels(1);
    let reader = store.clone();
    let entries_reader = tokio::spawn(async move {
        let Some(out) = digests_out.lanes.first() else {
            return;
        };
        let mut next = 0u64;
        while next < entries {
            let limit = (entries - next).min(SCAN_RUN as u64) as u32;
            let (page, problem) = match reader.ledger_entries(next, limit).await {
                Ok(page) if page.is_empty() => (
                    page,
                    Some(crate::StoreError::LedgerGap {
                        table: "ledger_entries",
                        index: next,
                    }),
                ),
                Ok(page) => (page, None),
                // The entries before a gap come first, then the gap.
                Err(crate::StoreError::LedgerGap { table, index })
                    if index > next && index - next < u64::from(limit) =>
                {
                    let gap = crate::StoreError::LedgerGap { table, index };
                    match reader.ledger_entries(next, (index - next) as u32).await {
                        Ok(page) => (page, Some(gap)),
                        Err(e) => (Vec::new(), Some(e)),
                    }
                }
                Err(e) => (Vec::new(), Some(e)),
            };
            let first = next;
            let take = page.len().min(limit as usize);
            next += take as u64;
            let digested = tokio::task::spawn_blocking(move || {
                let mut run = HashRun {
                    first,
                    hashes: page
                        .iter()
                        .take(take)
                        .map(|e| digest.entry(&e.entry))
                        .collect(),
                    derived: Vec::new(),
                };
                if problem.is_none() {
                    digest.finish(&mut run);
                }
                (run, problem)
            })
            .await;
            let lot = match digested {
                Ok(lot) => lot,
                Err(e) => (
                    HashRun::default(),
                    Some(crate::StoreError::Database {
                        operation: "digest the ledger's entries",
                        detail: e.to_string(),
                    }),
                ),
            };
            let stop = lot.1.is_some();
            if out.send(lot).await.is_err() || stop {
                return;
            }
        }
    });
    let hashes_reader = tokio::spawn(async move {
        let Some(out) = hashes_out.lanes.first() else {
            return;
        };
        let mut next = 0u64;
        while next < hashes {
            let count = (hashes - next).min(2 * SCAN_RUN as u64) as u32;
            let lot = match store.ledger_hash_range(next, count).await {
                Ok(hashes) => (
                    HashRun {
                        first: next,
                        hashes,
                        derived: Vec::new(),
                    },
                    None,
                ),
                Err(e) => (HashRun::default(), Some(e)),
            };
            let stop = lot.1.is_some();
            if out.send(lot).await.is_err() || stop {
                return;
            }
            next += u64::from(count);
        }
    });
    scan.readers = ScanReaders(vec![entries_reader, hashes_reader]);
    scan
}
