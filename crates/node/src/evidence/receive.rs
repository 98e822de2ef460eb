//! Receiving evidence packages from peers, segment by segment, on disk.
//!
//! A sender first offers the signed manifest ([`Node::evidence_offer`]); the
//! node checks the signature against its directory, that it is a recipient,
//! the segment sizes and the free disk space, and creates a staging folder
//! `DATA/evidence/incoming/<hex>/` holding the manifest. Each segment is then
//! streamed in ([`Node::evidence_begin_segment`], [`SegmentUpload`]) to
//! `segments/NNNNNN.age.part` while its hash is computed (BLAKE3, SHA-256 in
//! a version 1 package); only when size and hash match the signed manifest
//! is it synced and renamed to `NNNNNN.age`. A segment file without `.part`
//! is therefore always a verified one, which is what a resumed upload is
//! told it need not send.
//! Acceptance ([`Node::evidence_complete`]) signs an evidence receipt, logs
//! the custody entries and moves the folder in one rename to
//! `DATA/evidence/received/<hex>/`.
//!
//! Only one upload of a segment, and one acceptance of a package, can run at
//! a time: each takes an advisory `flock` on a lock file next to what it
//! writes. The kernel drops such a lock when its holder dies, so a node
//! killed mid-upload leaves no lock that needs cleaning; the `.part` file it
//! leaves is overwritten by the next upload of that segment and removed at
//! acceptance.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use custos_protocol::evidence::{
    Manifest, read_manifest_unverified, segment_file_name, verify_manifest,
};
use custos_protocol::evidence_transfer::{
    EvidenceReceipt, UploadStatus, package_hex, sign_evidence_receipt,
};
use custos_protocol::evidence_upload::verify_upload_auth;
use custos_protocol::{MAX_CLOCK_AHEAD, ProtocolError, timestamp};
use custos_store::Direction;
use serde_json::json;

use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// The largest segment a peer may declare unless configured otherwise (1 GiB).
pub const DEFAULT_MAX_SEGMENT_BYTES: u64 = 1 << 30;
/// The disk space incoming packages must leave free unless configured otherwise (1 GiB).
pub const DEFAULT_RESERVE_BYTES: u64 = 1 << 30;
use super::layout::{MANIFEST_FILE, SEGMENTS_DIR};
pub use super::staged::DEFAULT_PARTIAL_EXPIRY;
use super::staged::{NoRoom, ORIGIN_FILE, Origin};
pub use super::upload::SegmentUpload;
/// The largest manifest the federation endpoint reads: the one limit that
/// sealing applies too.
pub use custos_protocol::evidence::MAX_MANIFEST_BYTES;

pub(super) const RECEIPT_FILE: &str = "receipt.dsse.json";
const CUSTODY_FILE: &str = "custody.json";
const LEDGER_BASE_FILE: &str = "ledger-base";

/// Limits on evidence packages received from peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvidenceLimits {
    /// The largest segment (ciphertext bytes) a manifest may declare.
    pub max_segment_bytes: u64,
    /// Disk space that incoming packages must leave free.
    pub reserve_bytes: u64,
    /// How long after its offer a package that was not completed is removed.
    pub partial_expiry: Duration,
}

impl Default for EvidenceLimits {
    fn default() -> Self {
        EvidenceLimits {
            max_segment_bytes: DEFAULT_MAX_SEGMENT_BYTES,
            reserve_bytes: DEFAULT_RESERVE_BYTES,
            partial_expiry: DEFAULT_PARTIAL_EXPIRY,
        }
    }
}

/// Why an offered package, a segment or an acceptance is refused.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The manifest does not verify (form, signature, directory).
    #[error("the manifest is refused: {0}")]
    Manifest(#[from] ProtocolError),
    #[error("the manifest is addressed to {recipients}, not to {me}")]
    NotARecipient { me: String, recipients: String },
    #[error("segment {index} is {size} bytes; this node accepts segments of at most {limit} bytes")]
    SegmentTooLarge { index: u64, size: u64, limit: u64 },
    #[error(
        "{needed} bytes are needed but only {available} are free above the reserve of {reserve} bytes"
    )]
    InsufficientStorage {
        needed: u64,
        available: u64,
        reserve: u64,
    },
    #[error("no upload of package {0} was started here; post its manifest first")]
    UnknownPackage(String),
    #[error("the package has {segments} segments; there is no segment {index}")]
    NoSuchSegment { index: String, segments: usize },
    #[error("segment {index} does not match the manifest: {detail}; nothing of it was kept")]
    SegmentMismatch { index: u64, detail: String },
    #[error("{0} is being uploaded or accepted by another connection right now; retry later")]
    UploadInProgress(String),
    #[error("segments {} are not verified yet", list(.missing))]
    Incomplete { missing: Vec<u32> },
    /// The manifest answers no request this node sent to its sender.
    #[error(
        "the manifest answers request {request:?}, which is not a request this node sent to {sender}"
    )]
    UnknownRequest {
        request: String,
        sender: custos_model::StateCode,
    },
    /// An uploaded segment does not decrypt with this node's keys.
    #[error(
        "segment {index} does not decrypt with any key of this node, although it is a listed recipient; nothing of it was kept"
    )]
    NotDecryptable { index: u64 },
    /// The call does not carry the sender's authorisation.
    #[error("{0}")]
    Unauthorized(ProtocolError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Node(#[from] NodeError),
}

fn list(items: &[u32]) -> String {
    let shown: Vec<String> = items.iter().take(20).map(u32::to_string).collect();
    let more = items.len().saturating_sub(20);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

impl ReceiveError {
    /// Whether the failure is the disk running out of space.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, ReceiveError::Io { source, .. } if is_disk_full(source))
    }
}

pub(super) fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ReceiveError {
    let what = what.into();
    move |source| ReceiveError::Io { what, source }
}

fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

/// Runs file-system work on a blocking thread.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ReceiveError> + Send + 'static,
) -> Result<T, ReceiveError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ReceiveError::Io {
            what: "a file-system task".into(),
            source: io::Error::other(e.to_string()),
        })?
}

/// Where a node keeps evidence packages.
#[derive(Clone, Debug)]
pub(super) struct Folders {
    pub(super) incoming: PathBuf,
    received: PathBuf,
}

impl Folders {
    pub(super) fn of(node: &Node) -> Self {
        Folders {
            incoming: node.settings.data_dir.join("evidence").join("incoming"),
            received: received_root(&node.settings.data_dir),
        }
    }

    pub(super) fn staging(&self, hex: &str) -> PathBuf {
        self.incoming.join(hex)
    }

    pub(super) fn accepted(&self, hex: &str) -> PathBuf {
        self.received.join(hex)
    }
}

/// The folder holding, one folder each, the packages received and accepted
/// by the node in `data_dir`.
pub fn received_root(data_dir: &Path) -> PathBuf {
    data_dir.join("evidence").join("received")
}

/// The folder of a package received and accepted by the node in `data_dir`.
pub fn received_folder(data_dir: &Path, package: &str) -> Option<PathBuf> {
    package_hex(package).map(|hex| received_root(data_dir).join(hex))
}

/// What starting a segment upload came to.
#[derive(Debug)]
pub enum SegmentStart {
    /// The segment is already verified (or the package accepted): nothing to write.
    AlreadyVerified,
    /// The upload may proceed: feed the body to it.
    Upload(Box<SegmentUpload>),
}

impl Node {
    /// Checks an offered manifest and opens (or finds) the package's staging
    /// folder; answers what the node already holds.
    ///
    /// In order: the signature (before the manifest is parsed in full), that
    /// this node is a recipient, `created_at` not ahead of the clock, the
    /// caller's authorisation (`auth`, the `custos-upload-auth` header:
    /// signed by the sender), that the manifest answers a request this node
    /// sent to the sender, the segment sizes, and the disk space, which is
    /// reserved for the package before its folder is made.
    pub async fn evidence_offer(
        &self,
        manifest_bytes: &[u8],
        auth: Option<&[u8]>,
    ) -> Result<UploadStatus, ReceiveError> {
        self.custody_open()?;
        self.ensure_directory_current().await?;
        let directory = self.directory().ok_or(NodeError::NoDirectory)?;
        let now = self.clock.now();
        directory.check_current(now)?;
        let verified = verify_manifest(manifest_bytes, &directory)?;
        let manifest = verified.manifest;
        let me = self.state();
        if !manifest.recipients.contains(&me) {
            return Err(ReceiveError::NotARecipient {
                me: me.to_string(),
                recipients: manifest
                    .recipients
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if manifest.created_at > now + MAX_CLOCK_AHEAD {
            return Err(ProtocolError::FromTheFuture {
                created_at: manifest.created_at,
                now,
            }
            .into());
        }
        verify_upload_auth(
            auth,
            &directory,
            &verified.package_id,
            manifest.sender,
            me,
            now,
        )
        .map_err(ReceiveError::Unauthorized)?;
        let answers = self
            .store
            .get_request(&manifest.request)
            .await
            .map_err(NodeError::from)?
            .is_some_and(|r| {
                r.direction == Direction::Outgoing && r.counterpart == manifest.sender
            });
        if !answers {
            return Err(ReceiveError::UnknownRequest {
                request: manifest.request.clone(),
                sender: manifest.sender,
            });
        }
        // issue 18: a package its sender marked confidential marks its
        // case before anything of it is kept.
        if crate::app::assignments::marked_confidential(Some(&manifest.confidentiality)) {
            self.mark_confidential(
                &manifest.request,
                format!("package:{}", verified.package_id),
            )
            .await?;
        }
        let limits = self.settings.evidence;
        if let Some(s) = manifest
            .segments
            .iter()
            .find(|s| s.size > limits.max_segment_bytes)
        {
            return Err(ReceiveError::SegmentTooLarge {
                index: s.index,
                size: s.size,
                limit: limits.max_segment_bytes,
            });
        }
        let hex = package_hex(&verified.package_id)
            .ok_or_else(|| ReceiveError::UnknownPackage(verified.package_id.clone()))?
            .to_owned();
        let folders = Folders::of(self);
        let bytes = manifest_bytes.to_vec();
        let manifest = Arc::new(manifest);
        let staging = Arc::clone(&self.staging);
        let origin = Origin::of(&manifest, timestamp::truncate(now));
        let (m, h) = (Arc::clone(&manifest), hex.clone());
        let status = blocking(move || {
            if folders.accepted(&h).is_dir() {
                return accepted_status(&folders, &h, origin.segments);
            }
            let dir = folders.staging(&h);
            let present = if dir.is_dir() {
                verified_segments(&dir, &m)
            } else {
                Vec::new()
            };
            let needed: u64 = m
                .segments
                .iter()
                .filter(|s| !present.contains(&(s.index as u32)))
                .map(|s| s.size)
                .sum();
            fs::create_dir_all(&folders.incoming).map_err(io_err(format!(
                "cannot create {}",
                folders.incoming.display()
            )))?;
            staging
                .reserve(&h, needed, limits.reserve_bytes, || {
                    free_space(&folders.incoming)
                })?
                .map_err(|r| no_room(r, limits.reserve_bytes))?;
            if !dir.is_dir()
                && let Err(e) = create_staging(&folders, &h, &bytes, &origin)
            {
                staging.release(&h);
                return Err(e);
            }
            staged_status(&folders, &h, &m)
        })
        .await?;
        if !status.accepted {
            self.staging.keep_manifest(&hex, manifest);
        }
        Ok(status)
    }

    /// What the node holds of package `id` (`sha256:<hex>` or the hex), for
    /// its sender (`auth`).
    pub async fn evidence_status(
        &self,
        id: &str,
        auth: Option<&[u8]>,
    ) -> Result<UploadStatus, ReceiveError> {
        let (hex, held) = self.authorised(id, auth).await?;
        let folders = Folders::of(self);
        match held {
            Held::Accepted(origin) => {
                blocking(move || accepted_status(&folders, &hex, origin.segments)).await
            }
            Held::Staged => {
                let manifest = self.staged_manifest(&hex).await?;
                blocking(move || staged_status(&folders, &hex, &manifest)).await
            }
        }
    }

    /// Finds package `id` and checks that `auth` is its sender's
    /// authorisation for this call, reading no more than `origin.json`.
    async fn authorised(
        &self,
        id: &str,
        auth: Option<&[u8]>,
    ) -> Result<(String, Held), ReceiveError> {
        let hex = package_hex(id)
            .ok_or_else(|| ReceiveError::UnknownPackage(id.to_owned()))?
            .to_owned();
        let folders = Folders::of(self);
        let h = hex.clone();
        let (origin, accepted) = blocking(move || find_origin(&folders, &h)).await?;
        let directory = self.directory().ok_or(NodeError::NoDirectory)?;
        verify_upload_auth(
            auth,
            &directory,
            &format!("sha256:{hex}"),
            origin.sender,
            self.state(),
            self.clock.now(),
        )
        .map_err(ReceiveError::Unauthorized)?;
        let held = if accepted {
            Held::Accepted(origin)
        } else {
            Held::Staged
        };
        Ok((hex, held))
    }

    /// The verified manifest of staged package `hex`: the one kept since the
    /// offer, or (after a restart) read once from the staging folder.
    async fn staged_manifest(&self, hex: &str) -> Result<Arc<Manifest>, ReceiveError> {
        if let Some(m) = self.staging.manifest(hex) {
            return Ok(m);
        }
        let dir = Folders::of(self).staging(hex);
        let (manifest, _) = blocking(move || read_manifest_file(&dir)).await?;
        let manifest = Arc::new(manifest);
        self.staging.keep_manifest(hex, Arc::clone(&manifest));
        Ok(manifest)
    }

    /// Starts the upload of segment `index` of package `id` for its sender
    /// (`auth`): takes the segment's lock, checks the disk space and opens
    /// the `.part` file.
    pub async fn evidence_begin_segment(
        &self,
        id: &str,
        index: &str,
        auth: Option<&[u8]>,
    ) -> Result<SegmentStart, ReceiveError> {
        let (hex, held) = self.authorised(id, auth).await?;
        let segments = match &held {
            Held::Accepted(origin) => origin.segments as usize,
            Held::Staged => usize::MAX,
        };
        if let Held::Accepted(_) = held {
            return match index.parse::<usize>() {
                Ok(i) if i < segments => Ok(SegmentStart::AlreadyVerified),
                _ => Err(ReceiveError::NoSuchSegment {
                    index: index.to_owned(),
                    segments,
                }),
            };
        }
        let manifest = self.staged_manifest(&hex).await?;
        let folders = Folders::of(self);
        let reserve = self.settings.evidence.reserve_bytes;
        let index = index.to_owned();
        let staging = Arc::clone(&self.staging);
        let identities = self.with_keys(|k| k.identities());
        blocking(move || {
            let segment = index
                .parse::<u64>()
                .ok()
                .and_then(|i| manifest.segments.get(usize::try_from(i).ok()?))
                .ok_or_else(|| ReceiveError::NoSuchSegment {
                    index: index.clone(),
                    segments: manifest.segments.len(),
                })?;
            let dir = folders.staging(&hex).join(SEGMENTS_DIR);
            let name = segment_file_name(segment.index);
            let final_path = dir.join(&name);
            let lock_path = dir.join(format!("{}.lock", &name[..name.len() - 4]));
            let Some(lock) = FileLock::try_acquire(&lock_path)? else {
                return Err(ReceiveError::UploadInProgress(format!(
                    "segment {}",
                    segment.index
                )));
            };
            // Checked under the lock: another upload may have just finished it.
            if fs::metadata(&final_path).is_ok_and(|m| m.len() == segment.size) {
                return Ok(SegmentStart::AlreadyVerified);
            }
            staging
                .room_for(&hex, segment.size, reserve, || free_space(&dir))?
                .map_err(|r| no_room(r, reserve))?;
            let part = dir.join(format!("{name}.part"));
            let upload = SegmentUpload::create(segment, part, final_path, lock)?
                .checked_by(identities, staging, hex);
            Ok(SegmentStart::Upload(Box::new(upload)))
        })
        .await
    }

    /// Accepts package `id` once every segment is verified: signs the
    /// evidence receipt, logs the custody entries, moves the folder to
    /// `received/` and proves the `evidence-received` entry. Asked again, it
    /// answers the same receipt. Only the sender (`auth`) may ask.
    pub async fn evidence_complete(
        &self,
        id: &str,
        auth: Option<&[u8]>,
    ) -> Result<UploadStatus, ReceiveError> {
        let (hex, held) = self.authorised(id, auth).await?;
        self.custody_open()?;
        let folders = Folders::of(self);
        let package = format!("sha256:{hex}");
        if let Held::Accepted(origin) = held {
            return blocking(move || accepted_status(&folders, &hex, origin.segments)).await;
        }
        let manifest = self.staged_manifest(&hex).await?;

        // Under the package lock: the checks, the receipt and the move.
        let f = folders.clone();
        let h = hex.clone();
        let m = Arc::clone(&manifest);
        let prepared = blocking(move || prepare_acceptance(&f, &h, &m)).await?;
        let (manifest_bytes, lock) = match prepared {
            Prepared::Accepted(status) => return Ok(status),
            Prepared::Ready {
                manifest_bytes,
                lock,
            } => (manifest_bytes, lock),
        };
        let staging = folders.staging(&hex);

        // A receipt already in the staging folder means an earlier attempt
        // stopped between signing it and moving the folder; it is reused, and
        // its ledger entries are queued only if they are not logged yet.
        let (receipt_bytes, base, fresh) = match fs::read(staging.join(RECEIPT_FILE)) {
            Ok(bytes) => {
                let base = fs::read_to_string(staging.join(LEDGER_BASE_FILE))
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(0);
                (bytes, base, false)
            }
            Err(_) => {
                let now = self.clock.now();
                let receipt = EvidenceReceipt {
                    v: 1,
                    package: package.clone(),
                    request: manifest.request.clone(),
                    sender: manifest.sender,
                    receiver: self.state(),
                    received_at: timestamp::truncate(now),
                    bytes: manifest.segments.iter().map(|s| s.size).sum(),
                    segments: u32::try_from(manifest.segments.len()).unwrap_or(u32::MAX),
                };
                let signed = self.with_keys(|k| sign_evidence_receipt(&receipt, &k.signing))?;
                let base = self.store.ledger_size().await.map_err(NodeError::from)?;
                let (s, b) = (staging.clone(), signed.clone());
                blocking(move || {
                    write_atomically(&s.join(LEDGER_BASE_FILE), base.to_string().as_bytes())?;
                    write_atomically(&s.join(RECEIPT_FILE), &b)
                })
                .await?;
                (signed, base, true)
            }
        };
        let receipt: EvidenceReceipt = custos_seal::Envelope::from_json(&receipt_bytes)
            .ok()
            .and_then(|e| serde_json::from_slice(&e.payload).ok())
            .ok_or_else(|| ReceiveError::Io {
                what: format!("{} is damaged", staging.join(RECEIPT_FILE).display()),
                source: io::Error::other("not a signed evidence receipt"),
            })?;
        let entries = custody_entries(&receipt, &manifest, &manifest_bytes, &receipt_bytes)?;
        // Logged and moved under the shared acceptance lock, so that a
        // backup, which copies the database under the exclusive one, finds
        // every logged package in `received/` and no other.
        let data = self.settings.data_dir.clone();
        let accepting = blocking(move || {
            crate::app::backup::AcceptLock::shared(&data)
                .map_err(io_err("cannot take the evidence acceptance lock"))
        })
        .await?;
        if fresh || !self.entry_logged(&entries[0], base).await? {
            self.store
                .queue_ledger(&entries, receipt.received_at)
                .await
                .map_err(NodeError::from)?;
        }
        let (f, h) = (folders.clone(), hex.clone());
        blocking(move || move_to_received(&f, &h)).await?;
        drop(accepting);
        drop(lock);
        self.staging.release(&hex);
        // The index of what other States provided (issue 18); a failure
        // here is made good lazily, before any use is checked.
        if let Err(e) = self.index_manifest(&package, &manifest).await {
            tracing::warn!(package = %package, error = %e, "could not index a received package's files");
        }
        tracing::info!(package = %package, from = %manifest.sender, segments = manifest.segments.len(), "accepted an evidence package");

        // The proof is kept beside the receipt and returned with it; a node
        // whose sequencer is slow answers without one.
        match self.custody_proof(&entries[0], base).await {
            Ok(Some(bundle)) => {
                let text = bundle.to_json();
                let path = folders.accepted(&hex).join(CUSTODY_FILE);
                if let Err(e) = blocking(move || write_atomically(&path, text.as_bytes())).await {
                    tracing::warn!(error = %e, "cannot keep the custody proof of an accepted package");
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "no custody proof for an accepted evidence package");
            }
        }
        let segments = u32::try_from(manifest.segments.len()).unwrap_or(u32::MAX);
        blocking(move || accepted_status(&folders, &hex, segments)).await
    }

    /// Whether `entry` is in the ledger at or after index `base`, or queued.
    async fn entry_logged(&self, entry: &[u8], base: u64) -> Result<bool, NodeError> {
        self.sequence_all().await?;
        let mut from = base;
        loop {
            let rows = self.store.ledger_entries(from, 1000).await?;
            if rows.iter().any(|r| r.entry == entry) {
                return Ok(true);
            }
            match rows.last() {
                Some(last) if rows.len() == 1000 => from = last.index + 1,
                _ => break,
            }
        }
        let pending = self.store.pending_ledger(crate::custody::BATCH).await?;
        Ok(pending.iter().any(|p| p.entry == entry))
    }
}

/// The two custody entries of an acceptance, made from the receipt alone so
/// that a retried acceptance makes the same bytes.
fn custody_entries(
    receipt: &EvidenceReceipt,
    manifest: &Manifest,
    manifest_bytes: &[u8],
    receipt_bytes: &[u8],
) -> Result<Vec<Vec<u8>>, NodeError> {
    let received = Entry::new(
        EntryKind::EvidenceReceived,
        receipt.received_at,
        crate::Actor::Peer(receipt.sender).label(),
    )
    .request(receipt.request.clone())
    .subject(receipt.package.clone())
    .envelope(manifest_bytes)
    .detail(json!({
        "from": receipt.sender,
        "segments": receipt.segments,
        "bytes": receipt.bytes,
        "files": manifest.totals.files,
    }))
    .encode()?;
    let issued = Entry::new(
        EntryKind::ReceiptIssued,
        receipt.received_at,
        crate::Actor::Peer(receipt.receiver).label(),
    )
    .request(receipt.request.clone())
    .subject(receipt.package.clone())
    .envelope(receipt_bytes)
    .detail(json!({ "for": "evidence", "to": receipt.sender }))
    .encode()?;
    Ok(vec![received, issued])
}

/// Where a package the node holds stands.
#[derive(Debug)]
enum Held {
    /// Being uploaded: its folder is in `incoming/`.
    Staged,
    /// Accepted: its folder is in `received/`.
    Accepted(Origin),
}

/// Who offered package `hex` and whether it is accepted: from `origin.json`,
/// or, for a folder staged before that file existed, from its manifest.
pub(super) fn find_origin(folders: &Folders, hex: &str) -> Result<(Origin, bool), ReceiveError> {
    for (dir, accepted) in [(folders.accepted(hex), true), (folders.staging(hex), false)] {
        if !dir.is_dir() {
            continue;
        }
        if let Some(origin) = Origin::read(&dir) {
            return Ok((origin, accepted));
        }
        let (manifest, _) = read_manifest_file(&dir)?;
        let offered_at = fs::metadata(dir.join(MANIFEST_FILE))
            .and_then(|m| m.modified())
            .map(time::OffsetDateTime::from)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        return Ok((Origin::of(&manifest, offered_at), accepted));
    }
    Err(ReceiveError::UnknownPackage(format!("sha256:{hex}")))
}

fn no_room(r: NoRoom, reserve: u64) -> ReceiveError {
    ReceiveError::InsufficientStorage {
        needed: r.needed,
        available: r.available,
        reserve,
    }
}

fn read_manifest_file(dir: &Path) -> Result<(Manifest, Vec<u8>), ReceiveError> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = fs::read(&path).map_err(io_err(format!("cannot read {}", path.display())))?;
    // Verified against the directory when it was offered; here only read.
    let read = read_manifest_unverified(&bytes)?;
    Ok((read.manifest, bytes))
}

/// The indexes of the staged segments that are verified (present under their final name, of the right size).
fn verified_segments(staging: &Path, manifest: &Manifest) -> Vec<u32> {
    let dir = staging.join(SEGMENTS_DIR);
    manifest
        .segments
        .iter()
        .filter(|s| {
            fs::metadata(dir.join(segment_file_name(s.index))).is_ok_and(|m| m.len() == s.size)
        })
        .map(|s| s.index as u32)
        .collect()
}

/// The status of an accepted package: everything verified, with the receipt.
fn accepted_status(
    folders: &Folders,
    hex: &str,
    segments: u32,
) -> Result<UploadStatus, ReceiveError> {
    let accepted = folders.accepted(hex);
    let receipt = fs::read(accepted.join(RECEIPT_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let custody = fs::read(accepted.join(CUSTODY_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    Ok(UploadStatus {
        package: format!("sha256:{hex}"),
        segments,
        verified: (0..segments).collect(),
        complete: true,
        accepted: true,
        receipt,
        custody,
    })
}

/// The status of a staged package: which segments are verified.
fn staged_status(
    folders: &Folders,
    hex: &str,
    manifest: &Manifest,
) -> Result<UploadStatus, ReceiveError> {
    let segments = u32::try_from(manifest.segments.len()).unwrap_or(u32::MAX);
    if folders.accepted(hex).is_dir() {
        return accepted_status(folders, hex, segments);
    }
    let package = format!("sha256:{hex}");
    let staging = folders.staging(hex);
    if !staging.is_dir() {
        return Err(ReceiveError::UnknownPackage(package));
    }
    let verified = verified_segments(&staging, manifest);
    Ok(UploadStatus {
        package,
        segments,
        complete: verified.len() == manifest.segments.len(),
        verified,
        accepted: false,
        receipt: None,
        custody: None,
    })
}

/// The bytes an unprivileged process may still write on the file system of `dir`.
fn free_space(dir: &Path) -> Result<u64, ReceiveError> {
    let stat = rustix::fs::statvfs(dir).map_err(|e| ReceiveError::Io {
        what: format!("cannot read the free space of {}", dir.display()),
        source: e.into(),
    })?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Makes `incoming/<hex>/` with the manifest and an empty `segments/`, in a
/// temporary folder renamed into place, so a half-made staging folder never
/// appears. Another offer of the same package winning the race is fine.
fn create_staging(
    folders: &Folders,
    hex: &str,
    manifest: &[u8],
    origin: &Origin,
) -> Result<(), ReceiveError> {
    let tmp = folders
        .incoming
        .join(format!(".tmp-{hex}-{}", uuid::Uuid::new_v4().simple()));
    let made = (|| {
        fs::create_dir_all(tmp.join(SEGMENTS_DIR))?;
        let mut f = File::create(tmp.join(MANIFEST_FILE))?;
        f.write_all(manifest)?;
        f.sync_all()?;
        let mut f = File::create(tmp.join(ORIGIN_FILE))?;
        f.write_all(&origin.to_json())?;
        f.sync_all()?;
        sync_dir(&tmp)?;
        io::Result::Ok(())
    })();
    if let Err(e) = made {
        let _ = fs::remove_dir_all(&tmp);
        return Err(io_err(format!(
            "cannot create a staging folder in {}",
            folders.incoming.display()
        ))(e));
    }
    let staging = folders.staging(hex);
    match fs::rename(&tmp, &staging) {
        Ok(()) => {
            let _ = sync_dir(&folders.incoming);
            Ok(())
        }
        Err(_) if staging.is_dir() => {
            let _ = fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(io_err(format!("cannot create {}", staging.display()))(e))
        }
    }
}

enum Prepared {
    Accepted(UploadStatus),
    Ready {
        manifest_bytes: Vec<u8>,
        lock: FileLock,
    },
}

fn prepare_acceptance(
    folders: &Folders,
    hex: &str,
    manifest: &Manifest,
) -> Result<Prepared, ReceiveError> {
    let segments = u32::try_from(manifest.segments.len()).unwrap_or(u32::MAX);
    if folders.accepted(hex).is_dir() {
        return Ok(Prepared::Accepted(accepted_status(folders, hex, segments)?));
    }
    let staging = folders.staging(hex);
    if !staging.is_dir() {
        return Err(ReceiveError::UnknownPackage(format!("sha256:{hex}")));
    }
    let Some(lock) = FileLock::try_acquire(&folders.incoming.join(format!("{hex}.lock")))? else {
        return Err(ReceiveError::UploadInProgress(format!(
            "the acceptance of package sha256:{hex}"
        )));
    };
    // Checked again under the lock: another acceptance may have just finished.
    if folders.accepted(hex).is_dir() {
        return Ok(Prepared::Accepted(accepted_status(folders, hex, segments)?));
    }
    // The manifest was verified at the offer; its bytes are read for the
    // custody entries only, not parsed again.
    let path = staging.join(MANIFEST_FILE);
    let manifest_bytes =
        fs::read(&path).map_err(io_err(format!("cannot read {}", path.display())))?;
    let verified = verified_segments(&staging, manifest);
    if verified.len() != manifest.segments.len() {
        let missing = (0..manifest.segments.len() as u32)
            .filter(|i| !verified.contains(i))
            .collect();
        return Err(ReceiveError::Incomplete { missing });
    }
    Ok(Prepared::Ready {
        manifest_bytes,
        lock,
    })
}

/// Removes what uploads left behind (interrupted `.part` files, lock files)
/// and moves the staging folder to `received/` in one rename.
fn move_to_received(folders: &Folders, hex: &str) -> Result<(), ReceiveError> {
    let staging = folders.staging(hex);
    let segments = staging.join(SEGMENTS_DIR);
    if let Ok(entries) = fs::read_dir(&segments) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".part") || name.ends_with(".lock") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    let _ = fs::remove_file(staging.join(LEDGER_BASE_FILE));
    fs::create_dir_all(&folders.received).map_err(io_err(format!(
        "cannot create {}",
        folders.received.display()
    )))?;
    let target = folders.accepted(hex);
    fs::rename(&staging, &target).map_err(io_err(format!(
        "cannot move {} to {}",
        staging.display(),
        target.display()
    )))?;
    sync_dir(&folders.received).map_err(io_err("cannot sync the received folder"))?;
    sync_dir(&folders.incoming).map_err(io_err("cannot sync the incoming folder"))?;
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReceiveError> {
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
        io::Result::Ok(())
    })();
    written.map_err(io_err(format!("cannot write {}", path.display())))
}

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An exclusive advisory lock (`flock`) on a lock file, released and the
/// file removed on drop. The kernel releases it if the process dies.
#[derive(Debug)]
pub(super) struct FileLock {
    path: PathBuf,
    file: Option<File>,
}

impl FileLock {
    /// Takes the lock, or `None` when someone holds it.
    pub(super) fn try_acquire(path: &Path) -> Result<Option<FileLock>, ReceiveError> {
        use std::os::unix::fs::MetadataExt;
        for _ in 0..8 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(io_err(format!(
                    "cannot open the lock file {}",
                    path.display()
                )))?;
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
                Err(e) => {
                    return Err(ReceiveError::Io {
                        what: format!("cannot lock {}", path.display()),
                        source: e.into(),
                    });
                }
            }
            // The holder before us removes the file as it lets go; a lock on
            // a file no longer at `path` protects nothing, so try again.
            let held = file.metadata().map(|m| (m.dev(), m.ino())).ok();
            let current = fs::metadata(path).map(|m| (m.dev(), m.ino())).ok();
            if held.is_some() && held == current {
                return Ok(Some(FileLock {
                    path: path.to_owned(),
                    file: Some(file),
                }));
            }
        }
        Ok(None)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Removed while still held, so that nobody locks the old file after us.
        let _ = fs::remove_file(&self.path);
        self.file.take();
    }
}
