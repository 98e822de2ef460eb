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

use custos_ledger::{
    Checkpoint, Hash, HashReader, LedgerError, ProofBundle, VerifierKey, leaf_hash,
    sign_checkpoint, stored_hash_count, stored_hash_index, stored_hashes_for_leaf_hash, tree_hash,
};
use custos_store::{EntryDigest, LedgerScan, SCAN_RUN, StoreError, StoredCheckpoint};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::{LedgerFailure, Node, NodeError};

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
    /// A peer's partial upload was not completed in time and was removed.
    EvidenceExpired,
    /// A queued message was signed again with the node's current key (the
    /// key that signed it was rotated before it was delivered); the entry
    /// holds the new envelope's hash, the message id is unchanged.
    MessageResigned,
    /// The node's signing and encryption keys were replaced; the old public
    /// keys stay in the history, valid until the change.
    KeysRotated,
    /// A past signing key of the node was marked compromised.
    KeyRevoked,
    /// A case's clock event fired by the scheduler: a warning before a
    /// clock falls due, a clock overdue, a preservation's end
    /// (`detail.clock`, `detail.event`, `detail.due`).
    ClockFired,
    // -- People (`app/users.rs`, `app/signin.rs`, `app/tokens.rs`). No
    // secret is ever in an entry.
    /// A user was added (`detail.user`, `detail.roles`).
    UserAdded,
    /// A user was changed (`detail.user`, `detail.change`: `disabled`,
    /// `enabled`, `roles` with `detail.roles`, `second-factor-reset`).
    UserChanged,
    /// A user signed in (`detail.user`, `detail.session`, `detail.from`,
    /// `detail.factor`: `totp` or `recovery-code`).
    SignedIn,
    /// A sign-in failed (`detail.user` as typed, `detail.reason`: the
    /// class of failure, `detail.from`).
    SignInFailed,
    /// An account was locked after failed sign-ins (`detail.user`,
    /// `detail.until`).
    AccountLocked,
    /// A session ended before its time: signed out or revoked
    /// (`detail.user`, `detail.session`).
    SessionRevoked,
    /// A client-API token was created (`detail.user`, `detail.token`,
    /// `detail.scopes`, `detail.expires_at`).
    TokenCreated,
    /// A client-API token was revoked (`detail.user`, `detail.token`).
    TokenRevoked,
    /// A decision of the access check about a person (or a failed
    /// authentication): `detail.operation`, `detail.outcome` (`allowed`
    /// or `refused`), `detail.reason` when refused; `request` is the case
    /// concerned. Reads are recorded this way (a request read before this
    /// scheme was a `request-read` entry).
    Access,
    /// A case's content granted to a person (`detail.person`,
    /// `detail.until`, `detail.reason`).
    CaseAccessGranted,
    /// A person's grants of a case revoked (`detail.person`).
    CaseAccessRevoked,
    /// A shift was added to the on-call rota (`detail`: its id, role and
    /// times; no e-mail address).
    ShiftAdded,
    /// A shift was removed from the rota.
    ShiftRemoved,
    /// An alert was raised (`detail`: its id, kind, counterpart, urgency;
    /// no case content).
    AlertRaised,
    /// An alert was delivered by mail or webhook (`detail`: the alert, the
    /// channel and the person, never the address or secret).
    AlertDelivered,
    /// An alert not acknowledged in time went one level further.
    AlertEscalated,
    /// A person acknowledged an alert.
    AlertAcknowledged,
    // issue 18: confidentiality
    /// A person assigned to a case (`detail.person`); on a confidential
    /// case only the people assigned see it.
    CaseAssigned,
    /// A person's assignment to a case ended (`detail.person`).
    CaseUnassigned,
    /// A case's content exported or printed out of the node, with the
    /// recorded decision: who (`actor`), when (`at`), why
    /// (`detail.reason`), and whether the case is confidential
    /// (`detail.confidential`).
    CaseExported,
    // issue 18: retention. Reasons are logged as their SHA-256 only.
    /// A case's retention was set (`detail.days` or `detail.until`,
    /// `detail.reason_sha256`).
    RetentionChanged,
    /// A legal hold was placed on a case (`detail.reason_sha256`).
    LegalHoldPlaced,
    /// A legal hold was lifted (`detail.reason_sha256`).
    LegalHoldLifted,
    /// A case's content was deleted when its retention ended: counts, the
    /// ids of the messages and packages deleted, `detail.reason`; the
    /// entries that logged the content keep their hashes.
    ContentDeleted,
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
    /// Kind-specific facts; absent when there are none.
    #[serde(skip_serializing_if = "Value::is_null")]
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
        custos_seal::canonical_json(self).map_err(|e| LedgerFailure::Encode(e).into())
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
        let key = VerifierKey::ed25519(&self.ledger_origin(), &vk)
            .map_err(|e| NodeError::Ledger(LedgerFailure::OwnKey(e)))?;
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
        Err(LedgerFailure::EndlessHashes.into())
    }

    /// Moves queued entries into the ledger and signs a checkpoint; returns how many were appended.
    ///
    /// Safe to run from several processes: an append based on a stale size is
    /// refused by the store and retried on the next call.
    pub async fn sequence_ledger(&self) -> Result<usize, NodeError> {
        let _one_at_a_time = self.sequencing.lock().await;
        let pending = self.store.pending_ledger(BATCH).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let mark = self.checkpoint_mark();
        let size = self.store.ledger_size().await?;
        self.check_not_behind(size, mark)?;
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
                    u8::try_from(level).map_err(|_| NodeError::Ledger(LedgerFailure::TooDeep))?;
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
        // The checkpoint of the new size is signed first and stored with
        // the append, in its transaction: one commit per pass, and no
        // moment where the entries are in without their checkpoint.
        let checkpoint =
            Checkpoint::new(&self.ledger_origin(), new_size, root).map_err(ledger_err)?;
        let note = self
            .with_keys(|k| sign_checkpoint(&checkpoint, &self.ledger_origin(), &k.signing))
            .map_err(|e| NodeError::Ledger(LedgerFailure::OwnKey(e)))?;
        let stored = StoredCheckpoint {
            size: new_size,
            note,
            created_at: now,
        };
        match self
            .store
            .append_ledger_checkpointed(size, &consumed, &entries, &new_hashes, now, &stored)
            .await
        {
            Ok(()) => {}
            Err(StoreError::LedgerConflict { .. }) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
        self.record_checkpoint_mark(new_size, &stored.note);
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

    /// Sequences `entry` (queued at a ledger size of at least `base`) and proves
    /// it against the checkpoint that first includes it. `None` when another
    /// sequencer (another request of this process, or another process) holds
    /// it for longer than a receipt may wait.
    ///
    /// Requests arriving together share the work: sequencing passes run one
    /// at a time in this process and each appends every entry queued so far,
    /// so a request that waited for another's pass usually finds nothing
    /// left to append; it finds its entry by its bytes (one indexed query,
    /// no scan through the client) and proves it from the stored hashes. A
    /// pass of another process sharing the database makes ours lose the
    /// optimistic size check instead, with the same outcome.
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
                // A sequencer of a process running an earlier version
                // appends and stores the checkpoint in two commits: its
                // entry may be in before its checkpoint is.
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
        self.check_receivers_entry(
            bundle,
            receiver,
            ProvedReceipt {
                kind: "message-received",
                subject: message_id,
                content: envelope,
                what: "message",
            },
        )
    }

    /// Checks that `bundle` is signed by `receiver`'s ledger key as the
    /// directory lists it now, and proves the entry by which the receiver
    /// logged receiving what `proved` names: of its kind, about its
    /// subject, with the hash of exactly its content. Returns the size of
    /// the checkpoint the proof leads to. One check for messages and
    /// evidence packages alike.
    pub(crate) fn check_receivers_entry(
        &self,
        bundle: &ProofBundle,
        receiver: custos_model::StateCode,
        proved: ProvedReceipt<'_>,
    ) -> Result<u64, NodeError> {
        let invalid = |problem: String| NodeError::CustodyProofInvalid {
            from: receiver,
            problem,
        };
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
            let vk = VerifierKey::ed25519(&origin, &k.key)
                .map_err(|e| invalid(format!("its key in the directory is not usable: {e}")))?;
            let vk = vk.to_text();
            // The receiver signs one checkpoint per sequencing pass, so the
            // proofs of consecutive receipts often carry the same note: one
            // verified with this very key is not verified again (the audit
            // path of each proof still is).
            let known = self
                .verified_checkpoint
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .filter(|(key, note, _)| *key == vk && *note == bundle.checkpoint)
                .map(|(_, _, cp)| cp.clone());
            let verified = bundle.verify_known(
                &vk,
                known.as_ref().map(|cp| (bundle.checkpoint.as_str(), cp)),
            );
            match verified {
                Ok(cp) => {
                    if known.is_none() {
                        *self
                            .verified_checkpoint
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()) =
                            Some((vk, bundle.checkpoint.clone(), cp.clone()));
                    }
                    checkpoint = Some(cp);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(checkpoint) = checkpoint else {
            return Err(invalid(
                last.map(|e| e.to_string())
                    .unwrap_or_else(|| "no usable key".into()),
            ));
        };
        let logged: LoggedReceipt = serde_json::from_slice(&bundle.entry)
            .map_err(|e| invalid(format!("the proved entry is not a ledger entry: {e}")))?;
        let expected = custos_seal::content_id(proved.content);
        if logged.format != ENTRY_FORMAT
            || logged.kind != proved.kind
            || logged.subject.as_deref() != Some(proved.subject)
            || logged.envelope_sha256.as_deref() != Some(expected.as_str())
        {
            return Err(invalid(format!(
                "the proved entry does not record receiving {} {}: {}",
                proved.what,
                proved.subject,
                String::from_utf8_lossy(&bundle.entry)
            )));
        }
        Ok(checkpoint.size)
    }

    /// The latest signed checkpoint, if the ledger has any entry.
    pub async fn latest_checkpoint(&self) -> Result<Option<String>, NodeError> {
        Ok(self.store.latest_checkpoint().await?.map(|c| c.note))
    }

    /// A proof bundle for entry `index`, against the checkpoint chosen by
    /// [`Node::checkpoint_for_proof`] with the witnesses' cosignatures held
    /// for it, so that whoever checks the bundle can also check the
    /// witnesses.
    ///
    /// The entry is read beside the checkpoint and the audit path's hashes
    /// (on PostgreSQL each read waits on the network, and a proof should
    /// take well under a millisecond; SQLite answers them on the calling
    /// thread, one after the other); the bundle is then built from what was
    /// read.
    pub async fn prove_entry(&self, index: u64) -> Result<ProofBundle, NodeError> {
        let mut known = HashMap::new();
        let path = async {
            let Some(cp) = self.checkpoint_for_proof(index).await? else {
                return Err(NodeError::NoSuchEntry { index, size: None });
            };
            if index >= cp.size {
                return Err(NodeError::NoSuchEntry {
                    index,
                    size: Some(cp.size),
                });
            }
            self.with_hashes(&mut known, |r| {
                custos_ledger::prove_inclusion(index, cp.size, r)
            })
            .await?;
            Ok(cp)
        };
        let (cp, entry) = tokio::join!(path, self.store.ledger_entry(index));
        let cp = cp?;
        let Some(entry) = entry? else {
            return Err(LedgerFailure::EntryMissing(index).into());
        };
        // Every hash the bundle needs is known by now: no further read.
        let note = cp.note.clone();
        self.with_hashes(&mut known, |r| {
            ProofBundle::build(entry.entry.clone(), index, note.clone(), r)
        })
        .await
    }

    /// The checkpoint to prove entry `index` against, its note carrying
    /// every cosignature held for it: of the latest checkpoint and the
    /// latest one each peer in the directory cosigned (those that cover the
    /// entry), the one with the most cosignatures, the larger on a tie.
    /// `None` when the ledger has no checkpoint.
    pub async fn checkpoint_for_proof(
        &self,
        index: u64,
    ) -> Result<Option<StoredCheckpoint>, NodeError> {
        let Some(latest) = self.store.latest_checkpoint().await? else {
            return Ok(None);
        };
        let mut sizes = vec![latest.size];
        if let Some(directory) = self.directory() {
            for peer in directory.entries().filter(|e| e.state != self.state()) {
                let witness = format!("custos.witness/{}", peer.state);
                if let Some(size) = self.store.latest_cosigned_size(&witness).await?
                    && size <= latest.size
                    && !sizes.contains(&size)
                {
                    sizes.push(size);
                }
            }
        }
        let mut best: Option<(usize, StoredCheckpoint)> = None;
        for size in sizes.into_iter().filter(|&s| s > index) {
            let cp = if size == latest.size {
                Some(latest.clone())
            } else {
                self.store.checkpoint(size).await?
            };
            let Some(mut cp) = cp else { continue };
            let lines = self.store.cosignatures(size).await?;
            for c in &lines {
                cp.note.push_str(&c.line);
                if !c.line.ends_with('\n') {
                    cp.note.push('\n');
                }
            }
            let better = best
                .as_ref()
                .is_none_or(|(n, b)| (lines.len(), cp.size) > (*n, b.size));
            if better {
                best = Some((lines.len(), cp));
            }
        }
        Ok(Some(best.map(|(_, cp)| cp).unwrap_or(latest)))
    }

    /// Recomputes the whole ledger from the stored entries and compares every
    /// stored hash and the latest signed checkpoint; names the first bad entry.
    ///
    /// The store reads the entries and the stored hashes as two ordered
    /// streams ([`custos_store::LedgerStore::ledger_scan`]), the entries already
    /// turned into leaf hashes by its readers, while this task folds them
    /// into the tree and compares, leaf by leaf, every hash the tree would
    /// store with the stored one. Entries are checked strictly in
    /// order, so the first bad entry is the one reported.
    pub async fn verify_ledger(
        &self,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<LedgerReport, NodeError> {
        // The checkpoint first: one stored later could cover entries
        // appended after the size below was read.
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
                Some(c)
            }
        };
        let size = self.store.ledger_size().await?;
        if let Some(c) = checkpoint.as_ref().filter(|c| c.size > size) {
            return Err(NodeError::LedgerTampered {
                index: size,
                problem: format!(
                    "the latest checkpoint covers {} entries but the ledger holds {size}",
                    c.size
                ),
            });
        }
        let digest = EntryDigest::each(leaf_digest).with_runs(run_tree_hashes);
        let scan = self
            .store
            .ledger_scan(size, stored_hash_count(size), digest)
            .await?;
        let LedgerScan {
            digests,
            hashes,
            spent,
            readers,
        } = scan;
        let stored = StoredHashes::new(hashes, spent.clone());
        let at = checkpoint.as_ref().map(|c| c.size);
        let checked = recompute(size, at, digests, stored, &spent, progress).await;
        // The streams are gone with `recompute`: let the readers stop, so
        // that none still reads the database once this returns.
        readers.stopped().await;
        let (tree, checkpoint_root) = checked?;
        let root = tree.root();
        if let Some(c) = &checkpoint {
            let at = if c.size == size {
                root
            } else {
                checkpoint_root.unwrap_or(custos_ledger::EMPTY_ROOT)
            };
            if at != c.root {
                return Err(NodeError::LedgerTampered {
                    index: c.size.saturating_sub(1),
                    problem: "the recomputed tree does not match the signed checkpoint".into(),
                });
            }
        }
        Ok(LedgerReport {
            size,
            root: root.to_base64(),
            checkpoint_size: checkpoint.map(|c| c.size),
        })
    }
}

/// Folds the scan's entry digests into the tree of `size` leaves and
/// compares, in order, every hash the tree would store with the stored
/// ones; returns the tree and, if `checkpoint` (a size below `size`) was
/// given, the root at that size. Entries are checked strictly in order, so
/// the first bad entry is the one reported.
async fn recompute(
    size: u64,
    checkpoint: Option<u64>,
    mut digests: custos_store::RunStream,
    mut stored: StoredHashes,
    spent: &custos_store::Spent,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<(custos_ledger::RootBuilder, Option<Hash>), NodeError> {
    let mut tree = custos_ledger::RootBuilder::new();
    let mut checkpoint_root = None;
    let mut recomputed: Vec<[u8; 32]> = Vec::with_capacity(64);
    while tree.size() < size {
        let run = match digests.recv().await {
            Some(Ok(run)) if run.first == tree.size() => run,
            Some(Ok(run)) => return Err(out_of_order("entries", run.first, tree.size()).into()),
            Some(Err(e)) => return Err(tampered_entry(e, tree.size())),
            None => {
                return Err(LedgerFailure::ReaderStopped.into());
            }
        };
        let end = run.first + run.hashes.len() as u64;
        if checkpoint == Some(run.first) {
            checkpoint_root = Some(tree.root());
        }
        // A whole run comes with the tree hashes of its own subtree,
        // computed by the store's reader: compare those, then add the run
        // to the tree as one subtree. A checkpoint inside the run needs the
        // tree leaf by leaf, as does the last, partial run.
        let checkpoint_inside = checkpoint.is_some_and(|c| c > run.first && c < end);
        if run.derived.len() == RUN_STORED && end <= size && !checkpoint_inside {
            let first = run.first;
            stored
                .check(&run.derived, |k| first + leaf_of_run_hash(k))
                .await?;
            let subtree = run.derived.last().copied().map(Hash).unwrap_or_default();
            recomputed.clear();
            tree.push_subtree_stored(RUN_LEVEL, subtree, |h| recomputed.push(h.0))
                .map_err(ledger_err)?;
            stored.check(&recomputed, |_| end - 1).await?;
        } else {
            for &leaf in &run.hashes {
                let index = tree.size();
                if index == size {
                    break;
                }
                if checkpoint == Some(index) {
                    checkpoint_root = Some(tree.root());
                }
                recomputed.clear();
                tree.push_leaf_hash_stored(Hash(leaf), |h| recomputed.push(h.0))
                    .map_err(ledger_err)?;
                stored.check(&recomputed, |_| index).await?;
            }
        }
        spent.digests(run);
        progress(tree.size(), size);
    }
    Ok((tree, checkpoint_root))
}

/// An entry's leaf hash as the store's scan computes it, on its readers.
fn leaf_digest(entry: &[u8]) -> [u8; 32] {
    leaf_hash(entry).0
}

/// The level of the subtree a whole run of a scan forms.
const RUN_LEVEL: u32 = SCAN_RUN.trailing_zeros();
/// How many stored hashes the subtree of a whole run holds: its leaves and
/// every node above them up to its root.
const RUN_STORED: usize = 2 * SCAN_RUN - 1;
// Whole runs are aligned subtrees only if their length is a power of two.
const _: () = assert!(SCAN_RUN.is_power_of_two());

/// The stored hashes of the subtree formed by a whole run of leaf hashes,
/// in storage order (its root last), as the store's scan computes them on
/// its readers: a run starts at a multiple of its length, so its subtree
/// depends on nothing outside it.
fn run_tree_hashes(leaves: &[[u8; 32]], out: &mut Vec<[u8; 32]>) {
    let mut tree = custos_ledger::RootBuilder::new();
    for &leaf in leaves {
        // A fresh builder holds far fewer leaves than the tree's maximum.
        let _ = tree.push_leaf_hash_stored(Hash(leaf), |h| out.push(h.0));
    }
}

/// Which leaf of a run the `k`th stored hash of the run's subtree comes
/// with: leaf `j` brings its own hash and one for each subtree it
/// completes, `1 + trailing_zeros(j + 1)` in all.
fn leaf_of_run_hash(k: usize) -> u64 {
    let mut seen = 0usize;
    for j in 0..SCAN_RUN {
        seen += 1 + (j + 1).trailing_zeros() as usize;
        if k < seen {
            return j as u64;
        }
    }
    SCAN_RUN as u64 - 1
}

/// A recomputed hash at storage `position` differs from the stored one,
/// found while checking entry `index`.
fn mismatch(index: u64, position: u64) -> NodeError {
    let (level, _) = custos_ledger::split_stored_hash_index(position);
    let problem = if level == 0 {
        "the entry's bytes do not match the hash stored when it was appended (changed, removed or reordered)".to_owned()
    } else {
        format!(
            "the stored tree hash at position {position} (level {level}) does not match the entries"
        )
    };
    NodeError::LedgerTampered { index, problem }
}

/// What a run of a scan's stream arriving out of place means.
fn out_of_order(stream: &str, first: u64, expected: u64) -> StoreError {
    StoreError::Database {
        operation: "read the ledger",
        detail: format!(
            "a run of {stream} starting at {first} arrived where {expected} was expected"
        ),
    }
}

/// The stored-hash stream of a scan, read one hash at a time with its
/// position.
struct StoredHashes {
    runs: custos_store::RunStream,
    spent: custos_store::Spent,
    run: custos_store::HashRun,
    /// The place in `run` of the next hash.
    at: usize,
}

impl StoredHashes {
    fn new(runs: custos_store::RunStream, spent: custos_store::Spent) -> Self {
        Self {
            runs,
            spent,
            run: custos_store::HashRun::default(),
            at: 0,
        }
    }

    /// The next stored hash and its position, if the run at hand holds it
    /// (no waiting: most hashes are found here).
    fn ready(&mut self) -> Option<(u64, [u8; 32])> {
        let hash = *self.run.hashes.get(self.at)?;
        let position = self.run.first + self.at as u64;
        self.at += 1;
        Some((position, hash))
    }

    /// Compares the next stored hashes with `recomputed`; a difference or
    /// a missing hash at the `k`th is reported against entry `index(k)`
    /// (worked out only then).
    async fn check(
        &mut self,
        recomputed: &[[u8; 32]],
        index: impl Fn(usize) -> u64,
    ) -> Result<(), NodeError> {
        for (k, want) in recomputed.iter().enumerate() {
            let (position, got) = match self.ready() {
                Some(next) => next,
                None => self.next().await.map_err(|e| tampered_hash(e, index(k)))?,
            };
            if *want != got {
                return Err(mismatch(index(k), position));
            }
        }
        Ok(())
    }

    /// The next stored hash and its position.
    async fn next(&mut self) -> Result<(u64, [u8; 32]), StoreError> {
        loop {
            if let Some(next) = self.ready() {
                return Ok(next);
            }
            let next = self.run.first + self.run.hashes.len() as u64;
            match self.runs.recv().await {
                Some(Ok(run)) if run.first == next => {
                    let done = std::mem::replace(&mut self.run, run);
                    self.spent.hashes(done);
                    self.at = 0;
                }
                Some(Ok(run)) => return Err(out_of_order("stored hashes", run.first, next)),
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(StoreError::LedgerGap {
                        table: "ledger_hash_blocks",
                        index: next,
                    });
                }
            }
        }
    }
}

/// What the entries' stream ending in `e` means, where the tree holds
/// `size` entries.
fn tampered_entry(e: StoreError, size: u64) -> NodeError {
    match e {
        StoreError::LedgerGap { index, .. } => NodeError::LedgerTampered {
            index,
            problem: "the entry is missing (removed from the store)".into(),
        },
        StoreError::Corrupt { detail, .. } => NodeError::LedgerTampered {
            index: size,
            problem: format!("the stored entry is damaged: {detail}"),
        },
        other => other.into(),
    }
}

/// What the stored hashes' stream ending in `e` means while checking
/// entry `index`.
fn tampered_hash(e: StoreError, index: u64) -> NodeError {
    match e {
        StoreError::LedgerGap {
            index: position, ..
        } => NodeError::LedgerTampered {
            index,
            problem: format!("the stored tree hash at position {position} is missing"),
        },
        StoreError::Corrupt { detail, .. } => NodeError::LedgerTampered {
            index,
            problem: format!("a stored tree hash is damaged: {detail}"),
        },
        other => other.into(),
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

/// What a receiver's proved ledger entry must record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProvedReceipt<'a> {
    /// The entry's kind (`message-received`, `evidence-received`).
    pub kind: &'a str,
    /// The message or package id it is about.
    pub subject: &'a str,
    /// The exact bytes received (the envelope, the manifest), whose hash the
    /// entry logs.
    pub content: &'a [u8],
    /// What the subject is, for messages: `message`, `package`.
    pub what: &'a str,
}

/// The fields of a receiver's ledger entry that bind it to what it received.
#[derive(Debug, serde::Deserialize)]
struct LoggedReceipt {
    format: String,
    kind: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    envelope_sha256: Option<String>,
}

fn ledger_err(e: LedgerError) -> NodeError {
    NodeError::Ledger(LedgerFailure::Tree(e))
}
