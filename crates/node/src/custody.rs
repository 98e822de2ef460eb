//! The custody ledger on a node: entry format, sequencing, checkpoints, proofs, verification.
//!
//! Actions (a message sent or received, a receipt, a decision, a read) queue a
//! ledger entry in the same database transaction as the action itself, so no
//! entry can be lost. The sequencer moves queued entries into the append-only
//! Merkle log in batches: it assigns indexes, computes the RFC 6962 hashes the
//! log stores, and signs a checkpoint (a C2SP signed note) for the new size.
//! Proofs are computed from stored hashes read by index, so their cost grows
//! with the logarithm of the ledger's size, not with the size.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use custos_ledger::{
    Checkpoint, Hash, HashReader, LedgerError, ProofBundle, VerifierKey, leaf_hash,
    sign_checkpoint, stored_hash_count, stored_hash_index, stored_hashes_for_leaf_hash, tree_hash,
};
use custos_store::{StoreError, StoredCheckpoint};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::{Node, NodeError};

/// The version tag of every ledger entry.
pub const ENTRY_FORMAT: &str = "custos-ledger-entry/1";

/// What a ledger entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    MessageSent,
    MessageReceived,
    ReceiptIssued,
    ReceiptReceived,
    Decision,
    RequestRead,
    /// An evidence package was sealed on this node.
    EvidenceSealed,
    /// An evidence package finished uploading to a peer (with its receipt).
    EvidenceSent,
    /// A peer's evidence package was fully received and accepted.
    EvidenceReceived,
    /// An evidence package was verified (signature and hashes).
    EvidenceVerified,
    /// An evidence package was decrypted and its files written out.
    EvidenceOpened,
    /// Something left the node's custody in the clear: a package's files
    /// exported, or the node's decryption identity exported for standard tools.
    Exported,
}

/// One custody event, as logged (RFC 8785 canonical JSON of this structure).
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub format: &'static str,
    pub kind: EntryKind,
    #[serde(with = "custos_protocol::timestamp::micros")]
    pub at: OffsetDateTime,
    pub actor: String,
    /// The request thread the event belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// What the event is about: a message id (`sha256:` of its signed payload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The SHA-256 of the signed envelope or receipt bytes concerned, as `sha256:<hex>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envelope_sha256: Option<String>,
    pub detail: Value,
}

impl Entry {
    /// A new entry of `kind` at `at` by `actor`.
    pub fn new(kind: EntryKind, at: OffsetDateTime, actor: impl Into<String>) -> Self {
        Entry {
            format: ENTRY_FORMAT,
            kind,
            at,
            actor: actor.into(),
            request: None,
            subject: None,
            envelope_sha256: None,
            detail: Value::Null,
        }
    }

    pub fn request(mut self, id: impl Into<String>) -> Self {
        self.request = Some(id.into());
        self
    }

    pub fn subject(mut self, id: impl Into<String>) -> Self {
        self.subject = Some(id.into());
        self
    }

    pub fn envelope(mut self, bytes: &[u8]) -> Self {
        self.envelope_sha256 = Some(custos_seal::content_id(bytes));
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    /// The canonical bytes that are logged.
    pub fn encode(&self) -> Result<Vec<u8>, NodeError> {
        custos_seal::canonical_json(self)
            .map_err(|e| NodeError::Ledger(format!("cannot encode a ledger entry: {e}")))
    }
}

/// How many queued entries one sequencing step takes at most.
pub const BATCH: u32 = 1000;

/// A reader that answers from hashes already fetched and notes what it lacked.
struct Fetched<'a> {
    known: &'a HashMap<u64, Hash>,
    missing: RefCell<Vec<u64>>,
}

impl HashReader for Fetched<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, LedgerError> {
        let mut out = Vec::with_capacity(indexes.len());
        for i in indexes {
            match self.known.get(i) {
                Some(h) => out.push(*h),
                None => self.missing.borrow_mut().push(*i),
            }
        }
        if self.missing.borrow().is_empty() {
            Ok(out)
        } else {
            Err(LedgerError::HashRead {
                reason: "not fetched yet".into(),
            })
        }
    }
}

impl Node {
    /// The name under which this node signs its checkpoints; also the log's origin line.
    pub fn ledger_origin(&self) -> String {
        format!("custos.ledger/{}", self.state())
    }

    /// The verifier key (C2SP note form) that checks this node's checkpoints.
    pub fn ledger_verifier_key(&self) -> Result<String, NodeError> {
        let vk = self.with_keys(|k| k.signing.verifying_key());
        let key = VerifierKey::ed25519(&self.ledger_origin(), &vk).map_err(ledger_err)?;
        Ok(key.to_text())
    }

    /// Runs `f` over stored hashes, fetching from the store whatever it asks for.
    pub(crate) async fn with_hashes<T>(
        &self,
        known: &mut HashMap<u64, Hash>,
        f: impl Fn(&dyn HashReader) -> Result<T, LedgerError>,
    ) -> Result<T, NodeError> {
        for _ in 0..64 {
            let missing = {
                let reader = Fetched {
                    known,
                    missing: RefCell::new(Vec::new()),
                };
                match f(&reader) {
                    Ok(t) => return Ok(t),
                    Err(e) if reader.missing.borrow().is_empty() => return Err(ledger_err(e)),
                    Err(_) => reader.missing.into_inner(),
                }
            };
            let hashes = self.store.ledger_hashes(&missing).await?;
            for (i, h) in missing.into_iter().zip(hashes) {
                known.insert(i, Hash(h));
            }
        }
        Err(NodeError::Ledger(
            "a ledger computation kept asking for more hashes".into(),
        ))
    }

    /// Moves queued entries into the ledger and signs a checkpoint; returns how many were appended.
    ///
    /// Safe to run from several processes: an append based on a stale size is
    /// refused by the store and retried on the next call.
    pub async fn sequence_ledger(&self) -> Result<usize, NodeError> {
        let pending = self.store.pending_ledger(BATCH).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let size = self.store.ledger_size().await?;
        let mut known = HashMap::new();
        let mut new_hashes: Vec<(u64, [u8; 32])> = Vec::new();
        for (offset, p) in pending.iter().enumerate() {
            let n = size + offset as u64;
            let leaf = leaf_hash(&p.entry);
            let hashes = self
                .with_hashes(&mut known, |r| stored_hashes_for_leaf_hash(n, leaf, r))
                .await?;
            for (level, h) in hashes.into_iter().enumerate() {
                let level =
                    u8::try_from(level).map_err(|_| NodeError::Ledger("tree too deep".into()))?;
                let index = stored_hash_index(level, n >> level);
                known.insert(index, h);
                new_hashes.push((index, h.0));
            }
        }
        let new_size = size + pending.len() as u64;
        let root = self
            .with_hashes(&mut known, |r| tree_hash(new_size, r))
            .await?;
        let now = self.clock.now();
        let consumed: Vec<i64> = pending.iter().map(|p| p.id).collect();
        let entries: Vec<Vec<u8>> = pending.into_iter().map(|p| p.entry).collect();
        match self
            .store
            .append_ledger(size, &consumed, &entries, &new_hashes, now)
            .await
        {
            Ok(()) => {}
            Err(StoreError::LedgerConflict { .. }) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
        let checkpoint =
            Checkpoint::new(&self.ledger_origin(), new_size, root).map_err(ledger_err)?;
        let note = self
            .with_keys(|k| sign_checkpoint(&checkpoint, &self.ledger_origin(), &k.signing))
            .map_err(ledger_err)?;
        self.store
            .put_checkpoint(&StoredCheckpoint {
                size: new_size,
                note,
                created_at: now,
            })
            .await?;
        Ok(entries.len())
    }

    /// Sequences until nothing is queued.
    pub async fn sequence_all(&self) -> Result<usize, NodeError> {
        let mut total = 0;
        loop {
            let n = self.sequence_ledger().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// Logs that `actor` read request `id` (every read of a request is a custody event).
    pub async fn record_read(&self, id: &str, actor: &str) -> Result<(), NodeError> {
        let now = self.clock.now();
        let entry = Entry::new(EntryKind::RequestRead, now, actor)
            .request(id)
            .encode()?;
        self.store.queue_ledger(&[entry], now).await?;
        Ok(())
    }

    /// Sequences `entry` (queued at a ledger size of at least `base`) and proves
    /// it against the checkpoint that first includes it. `None` when another
    /// sequencer (another request of this process, or another process) holds
    /// it for longer than a receipt may wait.
    ///
    /// Requests arriving together share the work: one sequencing step
    /// appends every entry queued so far, and the others, whose append then
    /// loses the optimistic size check, find their entry in it by its bytes
    /// (one indexed query, no scan through the client) and prove it from the
    /// stored hashes.
    pub async fn custody_proof(
        &self,
        entry: &[u8],
        base: u64,
    ) -> Result<Option<ProofBundle>, NodeError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut from = base;
        loop {
            let appended = self.sequence_ledger().await?;
            if let Some(index) = self.store.ledger_find(entry, from).await? {
                from = index;
                // The append and the checkpoint are two commits: another
                // sequencer's entry may be in before its checkpoint is.
                if let Some(cp) = self.store.latest_checkpoint().await?
                    && cp.size > index
                {
                    let mut known = HashMap::new();
                    return self
                        .with_hashes(&mut known, |r| {
                            ProofBundle::build(entry.to_vec(), index, cp.note.clone(), r)
                        })
                        .await
                        .map(Some);
                }
            }
            if appended > 0 {
                continue;
            }
            if std::time::Instant::now() > deadline {
                return Ok(None);
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Checks the custody proof a receiver returned with its receipt: signed by
    /// the receiver's ledger key as the directory lists it now, and proving the
    /// receiver logged receiving exactly this message (same id, same envelope).
    pub fn check_custody_proof(
        &self,
        bundle: &ProofBundle,
        receiver: custos_model::StateCode,
        message_id: &str,
        envelope: &[u8],
    ) -> Result<u64, NodeError> {
        let directory = self.directory().ok_or(NodeError::NoDirectory)?;
        let entry = directory
            .entry(receiver)
            .ok_or(NodeError::NotInDirectory(receiver))?;
        let origin = format!("custos.ledger/{receiver}");
        let now = self.clock.now();
        let mut last = None;
        let mut checkpoint = None;
        for k in entry
            .signing_keys
            .iter()
            .filter(|k| k.revoked_at.is_none() && k.valid_until.is_none_or(|u| u > now))
        {
            let vk = VerifierKey::ed25519(&origin, &k.key).map_err(ledger_err)?;
            match bundle.verify(&vk.to_text()) {
                Ok(cp) => {
                    checkpoint = Some(cp);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(checkpoint) = checkpoint else {
            return Err(NodeError::Ledger(format!(
                "the custody proof from {receiver} does not verify: {}",
                last.map(|e| e.to_string())
                    .unwrap_or_else(|| "no usable key".into())
            )));
        };
        let logged: Value = serde_json::from_slice(&bundle.entry)
            .map_err(|e| NodeError::Ledger(format!("the proved entry is not JSON: {e}")))?;
        let expected_envelope = custos_seal::content_id(envelope);
        if logged["format"] != ENTRY_FORMAT
            || logged["kind"] != "message-received"
            || logged["subject"] != message_id
            || logged["envelope_sha256"] != expected_envelope.as_str()
        {
            return Err(NodeError::Ledger(format!(
                "the proved entry does not record receiving message {message_id}: {logged}"
            )));
        }
        Ok(checkpoint.size)
    }

    /// The latest signed checkpoint, if the ledger has any entry.
    pub async fn latest_checkpoint(&self) -> Result<Option<String>, NodeError> {
        Ok(self.store.latest_checkpoint().await?.map(|c| c.note))
    }

    /// A proof bundle for entry `index` against the latest checkpoint.
    pub async fn prove_entry(&self, index: u64) -> Result<ProofBundle, NodeError> {
        let Some(cp) = self.store.latest_checkpoint().await? else {
            return Err(NodeError::Ledger("the ledger has no checkpoint yet".into()));
        };
        if index >= cp.size {
            return Err(NodeError::Ledger(format!(
                "entry {index} is not in the ledger (its size is {})",
                cp.size
            )));
        }
        let Some(entry) = self.store.ledger_entry(index).await? else {
            return Err(NodeError::Ledger(format!(
                "entry {index} is missing from the store"
            )));
        };
        let mut known = HashMap::new();
        let note = cp.note.clone();
        self.with_hashes(&mut known, |r| {
            ProofBundle::build(entry.entry.clone(), index, note.clone(), r)
        })
        .await
    }

    /// Recomputes the whole ledger from the stored entries and compares every
    /// stored hash and the latest signed checkpoint; names the first bad entry.
    ///
    /// Reading runs ahead of the comparison: a task reads the entries page
    /// by page, hashes each page's leaves on a blocking thread and reads the
    /// page's stored hashes as one range, while this task builds the tree
    /// and compares. Pages are checked strictly in order, so the first bad
    /// entry is still the one reported.
    pub async fn verify_ledger(
        &self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<LedgerReport, NodeError> {
        let size = self.store.ledger_size().await?;
        let (pages_out, mut pages) = tokio::sync::mpsc::channel(VERIFY_AHEAD);
        let reader = tokio::spawn(read_pages(Arc::clone(&self.store), size, pages_out));
        let _stop_reader = AbortOnDrop(reader);
        let mut log = custos_ledger::MemoryLog::new();
        let mut next = 0u64;
        while next < size {
            let Some(page) = pages.recv().await else {
                return Err(NodeError::Ledger(
                    "the ledger reader stopped before the end".into(),
                ));
            };
            let page = match page {
                Ok(page) => page,
                Err(StoreError::Corrupt { detail, .. }) => {
                    return Err(NodeError::LedgerTampered {
                        index: next,
                        problem: format!("the stored entries are damaged: {detail}"),
                    });
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(found) = page.gap {
                return Err(NodeError::LedgerTampered {
                    index: next + page.count,
                    problem: format!("the entry is missing (the next stored entry is {found})"),
                });
            }
            if page.count == 0 {
                return Err(NodeError::LedgerTampered {
                    index: next,
                    problem: "the entry is missing".into(),
                });
            }
            let first_new_hash = log.stored_hashes().len() as u64;
            let leaves = page
                .leaves
                .await
                .map_err(|e| NodeError::Ledger(format!("leaf hashing failed: {e}")))?;
            for leaf in leaves {
                log.append_leaf_hash(leaf).map_err(ledger_err)?;
            }
            // Compare the recomputed stored hashes of this stretch with those in the store.
            let recomputed = &log.stored_hashes()[first_new_hash as usize..];
            let stored = match page.stored.await {
                Ok(Ok(s)) if page.first_hash == first_new_hash => s,
                // The reader's range always matches the tree's; should it
                // not, the range is read again as the tree has it.
                Ok(Ok(_)) => {
                    let count = u32::try_from(recomputed.len())
                        .map_err(|_| NodeError::Ledger("a page of hashes is too long".into()))?;
                    self.store.ledger_hash_range(first_new_hash, count).await?
                }
                Ok(Err(StoreError::Corrupt { detail, .. })) => {
                    return Err(NodeError::LedgerTampered {
                        index: next,
                        problem: format!("a stored hash is missing or damaged: {detail}"),
                    });
                }
                Ok(Err(e)) => return Err(e.into()),
                Err(e) => return Err(NodeError::Ledger(format!("reading hashes failed: {e}"))),
            };
            for (i, (want, got)) in (first_new_hash..).zip(recomputed.iter().zip(stored)) {
                if want.0 != got {
                    let (level, n) = custos_ledger::split_stored_hash_index(i);
                    let entry = n << level;
                    return Err(NodeError::LedgerTampered {
                        index: entry,
                        problem: "the entry's bytes do not match the hash stored when it was appended (changed, removed or reordered)".into(),
                    });
                }
            }
            next += page.count;
            progress(next, size);
        }
        let root = log.root();
        let checkpoint = match self.store.latest_checkpoint().await? {
            None => None,
            Some(cp) => {
                let vk = self.ledger_verifier_key()?;
                let key = VerifierKey::parse(&vk).map_err(ledger_err)?;
                let (c, _) = custos_ledger::open_checkpoint(&cp.note, &[key]).map_err(|e| {
                    NodeError::LedgerTampered {
                        index: cp.size,
                        problem: format!("the latest checkpoint does not verify: {e}"),
                    }
                })?;
                let at = log.root_at(c.size).map_err(|e| NodeError::LedgerTampered {
                    index: c.size,
                    problem: e.to_string(),
                })?;
                if at != c.root {
                    return Err(NodeError::LedgerTampered {
                        index: c.size.saturating_sub(1),
                        problem: "the recomputed tree does not match the signed checkpoint".into(),
                    });
                }
                Some(c.size)
            }
        };
        Ok(LedgerReport {
            size,
            root: root.to_base64(),
            checkpoint_size: checkpoint,
        })
    }
}

/// How many entries full verification reads at a time.
const VERIFY_PAGE: u32 = 10_000;

/// How many pages the reader may run ahead of the comparison.
const VERIFY_AHEAD: usize = 2;

/// One page of the ledger as the verification's reader prepared it.
struct Page {
    /// How many entries were read in order from the page's first index
    /// before the page ended or a gap appeared.
    count: u64,
    /// The index of the entry found where the entry after those `count`
    /// was expected, if the page has a gap there.
    gap: Option<u64>,
    /// The leaf hashes of those entries, being computed.
    leaves: tokio::task::JoinHandle<Vec<Hash>>,
    /// The first storage index of `stored`.
    first_hash: u64,
    /// The stored hashes the page's entries added to the tree, being read.
    stored: tokio::task::JoinHandle<Result<Vec<[u8; 32]>, StoreError>>,
}

/// Aborts a task when dropped, so that a verification that stops early
/// stops its reader too.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the ledger's `size` entries page by page for `verify_ledger`,
/// starting each page's leaf hashing and stored-hash read at once, until
/// the end, a gap or a failure (which is sent as the last page).
async fn read_pages(
    store: Arc<dyn custos_store::Store>,
    size: u64,
    out: tokio::sync::mpsc::Sender<Result<Page, StoreError>>,
) {
    let mut next = 0u64;
    while next < size {
        let rows = match store.ledger_entries(next, VERIFY_PAGE).await {
            Ok(rows) => rows,
            Err(e) => {
                let _ = out.send(Err(e)).await;
                return;
            }
        };
        let in_order = rows
            .iter()
            .zip(next..)
            .take_while(|(row, want)| row.index == *want)
            .count();
        let gap = rows.get(in_order).map(|row| row.index);
        let count = in_order as u64;
        let entries: Vec<Vec<u8>> = rows.into_iter().take(in_order).map(|r| r.entry).collect();
        let leaves =
            tokio::task::spawn_blocking(move || entries.iter().map(|e| leaf_hash(e)).collect());
        let first_hash = stored_hash_count(next);
        let hashes = stored_hash_count(next + count) - first_hash;
        let stored = match u32::try_from(hashes) {
            Ok(hashes) => {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.ledger_hash_range(first_hash, hashes).await })
            }
            Err(_) => tokio::spawn(async move {
                Err(StoreError::InvalidValue {
                    field: "ledger_hashes.idx",
                    problem: format!("{hashes} hashes in one page"),
                })
            }),
        };
        let page = Page {
            count,
            gap,
            leaves,
            first_hash,
            stored,
        };
        if out.send(Ok(page)).await.is_err() || gap.is_some() || count == 0 {
            return;
        }
        next += count;
    }
}

/// What a full verification found.
#[derive(Clone, Debug, Serialize)]
pub struct LedgerReport {
    pub size: u64,
    /// The recomputed root, base64.
    pub root: String,
    /// The size of the latest signed checkpoint, which matched.
    pub checkpoint_size: Option<u64>,
}

fn ledger_err(e: LedgerError) -> NodeError {
    NodeError::Ledger(e.to_string())
}
