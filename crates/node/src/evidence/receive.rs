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

use custos_protocol::evidence::{
    Manifest, Segment, SegmentHash, read_manifest_unverified, segment_file_name, verify_manifest,
};
use custos_protocol::evidence_transfer::{
    EvidenceReceipt, UploadStatus, package_hex, sign_evidence_receipt,
};
use custos_protocol::{ErrorCode, ProtocolError, timestamp};
use serde_json::json;

use crate::custody::{Entry, EntryKind};
use crate::evidence::package::{
    DIRECT_BUFFER, DirectBuffer, SegmentHasher, enable_direct, hash_mismatch, settle, write_block,
};
use crate::{Node, NodeError};

/// The largest segment a peer may declare unless configured otherwise (1 GiB).
pub const DEFAULT_MAX_SEGMENT_BYTES: u64 = 1 << 30;
/// The disk space incoming packages must leave free unless configured otherwise (1 GiB).
pub const DEFAULT_RESERVE_BYTES: u64 = 1 << 30;
/// The largest manifest the federation endpoint reads (64 MiB).
pub const MAX_MANIFEST_BYTES: usize = 64 << 20;

const MANIFEST_FILE: &str = "manifest.dsse.json";
const RECEIPT_FILE: &str = "receipt.dsse.json";
const CUSTODY_FILE: &str = "custody.json";
const LEDGER_BASE_FILE: &str = "ledger-base";

/// Limits on evidence packages received from peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvidenceLimits {
    /// The largest segment (ciphertext bytes) a manifest may declare.
    pub max_segment_bytes: u64,
    /// Disk space that incoming packages must leave free.
    pub reserve_bytes: u64,
}

impl Default for EvidenceLimits {
    fn default() -> Self {
        EvidenceLimits {
            max_segment_bytes: DEFAULT_MAX_SEGMENT_BYTES,
            reserve_bytes: DEFAULT_RESERVE_BYTES,
        }
    }
}

/// Why an offered package, a segment or an acceptance is refused.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The manifest does not verify (form, signature, directory).
    #[error("the manifest is refused: {0}")]
    Manifest(#[from] ProtocolError),
    #[error("this node has no verified directory yet")]
    NoDirectory,
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
    /// The stable code this refusal is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            ReceiveError::Manifest(e) => e.code(),
            ReceiveError::NoDirectory => ErrorCode::NoDirectory,
            ReceiveError::NotARecipient { .. } => ErrorCode::NotARecipient,
            ReceiveError::SegmentTooLarge { .. } => ErrorCode::SegmentTooLarge,
            ReceiveError::InsufficientStorage { .. } => ErrorCode::InsufficientStorage,
            ReceiveError::UnknownPackage(_) => ErrorCode::UnknownPackage,
            ReceiveError::NoSuchSegment { .. } => ErrorCode::NoSuchSegment,
            ReceiveError::SegmentMismatch { .. } => ErrorCode::SegmentMismatch,
            ReceiveError::UploadInProgress(_) => ErrorCode::UploadInProgress,
            ReceiveError::Incomplete { .. } => ErrorCode::PackageIncomplete,
            ReceiveError::Io { source, .. } if is_disk_full(source) => {
                ErrorCode::InsufficientStorage
            }
            ReceiveError::Node(NodeError::CustodyUnavailable(_)) => ErrorCode::CustodyUnavailable,
            ReceiveError::Io { .. } | ReceiveError::Node(_) => ErrorCode::Internal,
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ReceiveError {
    let what = what.into();
    move |source| ReceiveError::Io { what, source }
}

fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

/// Runs file-system work on a blocking thread.
async fn blocking<T: Send + 'static>(
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
struct Folders {
    incoming: PathBuf,
    received: PathBuf,
}

impl Folders {
    fn of(node: &Node) -> Self {
        let base = node.settings.data_dir.join("evidence");
        Folders {
            incoming: base.join("incoming"),
            received: base.join("received"),
        }
    }

    fn staging(&self, hex: &str) -> PathBuf {
        self.incoming.join(hex)
    }

    fn accepted(&self, hex: &str) -> PathBuf {
        self.received.join(hex)
    }
}

/// The folder of a package received and accepted by the node in `data_dir`.
pub fn received_folder(data_dir: &Path, package: &str) -> Option<PathBuf> {
    package_hex(package).map(|hex| data_dir.join("evidence").join("received").join(hex))
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
    pub async fn evidence_offer(
        &self,
        manifest_bytes: &[u8],
    ) -> Result<UploadStatus, ReceiveError> {
        self.custody_open()?;
        self.ensure_directory_current().await?;
        let directory = self.directory().ok_or(ReceiveError::NoDirectory)?;
        directory.check_current(self.clock.now())?;
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
        let status = blocking(move || {
            if folders.accepted(&hex).is_dir() {
                return status_of(&folders, &hex, &manifest);
            }
            let staging = folders.staging(&hex);
            let present = if staging.is_dir() {
                verified_segments(&staging, &manifest)
            } else {
                Vec::new()
            };
            let needed: u64 = manifest
                .segments
                .iter()
                .filter(|s| !present.contains(&(s.index as u32)))
                .map(|s| s.size)
                .sum();
            fs::create_dir_all(&folders.incoming).map_err(io_err(format!(
                "cannot create {}",
                folders.incoming.display()
            )))?;
            check_space(&folders.incoming, needed, limits.reserve_bytes)?;
            if !staging.is_dir() {
                create_staging(&folders, &hex, &bytes)?;
            }
            status_of(&folders, &hex, &manifest)
        })
        .await?;
        Ok(status)
    }

    /// What the node holds of package `id` (`sha256:<hex>` or the hex).
    pub async fn evidence_status(&self, id: &str) -> Result<UploadStatus, ReceiveError> {
        let hex = package_hex(id)
            .ok_or_else(|| ReceiveError::UnknownPackage(id.to_owned()))?
            .to_owned();
        let folders = Folders::of(self);
        blocking(move || {
            let (_, manifest) = read_held_manifest(&folders, &hex)?;
            status_of(&folders, &hex, &manifest)
        })
        .await
    }

    /// Starts the upload of segment `index` of package `id`: takes the
    /// segment's lock, checks the disk space and opens the `.part` file.
    pub async fn evidence_begin_segment(
        &self,
        id: &str,
        index: &str,
    ) -> Result<SegmentStart, ReceiveError> {
        let hex = package_hex(id)
            .ok_or_else(|| ReceiveError::UnknownPackage(id.to_owned()))?
            .to_owned();
        let folders = Folders::of(self);
        let reserve = self.settings.evidence.reserve_bytes;
        let index = index.to_owned();
        blocking(move || {
            let (place, manifest) = read_held_manifest(&folders, &hex)?;
            let segment = index
                .parse::<u64>()
                .ok()
                .and_then(|i| manifest.segments.get(usize::try_from(i).ok()?))
                .ok_or_else(|| ReceiveError::NoSuchSegment {
                    index: index.clone(),
                    segments: manifest.segments.len(),
                })?;
            if place == Place::Accepted {
                return Ok(SegmentStart::AlreadyVerified);
            }
            let dir = folders.staging(&hex).join("segments");
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
            check_space(&dir, segment.size, reserve)?;
            let part = dir.join(format!("{name}.part"));
            let upload = SegmentUpload::create(segment, part, final_path, lock)?;
            Ok(SegmentStart::Upload(Box::new(upload)))
        })
        .await
    }

    /// Accepts package `id` once every segment is verified: signs the
    /// evidence receipt, logs the custody entries, moves the folder to
    /// `received/` and proves the `evidence-received` entry. Asked again, it
    /// answers the same receipt.
    pub async fn evidence_complete(&self, id: &str) -> Result<UploadStatus, ReceiveError> {
        self.custody_open()?;
        let hex = package_hex(id)
            .ok_or_else(|| ReceiveError::UnknownPackage(id.to_owned()))?
            .to_owned();
        let folders = Folders::of(self);
        let package = format!("sha256:{hex}");

        // Under the package lock: the checks, the receipt and the move.
        let f = folders.clone();
        let h = hex.clone();
        let prepared = blocking(move || prepare_acceptance(&f, &h)).await?;
        let (manifest, manifest_bytes, lock) = match prepared {
            Prepared::Accepted(status) => return Ok(status),
            Prepared::Ready {
                manifest,
                manifest_bytes,
                lock,
            } => (manifest, manifest_bytes, lock),
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
        if fresh || !self.entry_logged(&entries[0], base).await? {
            self.store
                .queue_ledger(&entries, receipt.received_at)
                .await
                .map_err(NodeError::from)?;
        }
        let (f, h) = (folders.clone(), hex.clone());
        blocking(move || move_to_received(&f, &h)).await?;
        drop(lock);
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
        self.evidence_status(&package).await
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
        format!("node:{}", receipt.sender),
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
        format!("node:{}", receipt.receiver),
    )
    .request(receipt.request.clone())
    .subject(receipt.package.clone())
    .envelope(receipt_bytes)
    .detail(json!({ "for": "evidence", "to": receipt.sender }))
    .encode()?;
    Ok(vec![received, issued])
}

#[derive(Debug, PartialEq, Eq)]
enum Place {
    Staging,
    Accepted,
}

/// The manifest of a package this node holds, staged or accepted.
fn read_held_manifest(folders: &Folders, hex: &str) -> Result<(Place, Manifest), ReceiveError> {
    let (place, dir) = if folders.accepted(hex).is_dir() {
        (Place::Accepted, folders.accepted(hex))
    } else if folders.staging(hex).is_dir() {
        (Place::Staging, folders.staging(hex))
    } else {
        return Err(ReceiveError::UnknownPackage(format!("sha256:{hex}")));
    };
    let (manifest, _) = read_manifest_file(&dir)?;
    Ok((place, manifest))
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
    let dir = staging.join("segments");
    manifest
        .segments
        .iter()
        .filter(|s| {
            fs::metadata(dir.join(segment_file_name(s.index))).is_ok_and(|m| m.len() == s.size)
        })
        .map(|s| s.index as u32)
        .collect()
}

fn status_of(
    folders: &Folders,
    hex: &str,
    manifest: &Manifest,
) -> Result<UploadStatus, ReceiveError> {
    let segments = u32::try_from(manifest.segments.len()).unwrap_or(u32::MAX);
    let package = format!("sha256:{hex}");
    let accepted = folders.accepted(hex);
    if accepted.is_dir() {
        let receipt = fs::read(accepted.join(RECEIPT_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let custody = fs::read(accepted.join(CUSTODY_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        return Ok(UploadStatus {
            package,
            segments,
            verified: (0..segments).collect(),
            complete: true,
            accepted: true,
            receipt,
            custody,
        });
    }
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

/// Refuses when writing `needed` more bytes under `dir` would eat into the reserve.
fn check_space(dir: &Path, needed: u64, reserve: u64) -> Result<(), ReceiveError> {
    let available = free_space(dir)?;
    if available.saturating_sub(reserve) < needed {
        return Err(ReceiveError::InsufficientStorage {
            needed,
            available: available.saturating_sub(reserve),
            reserve,
        });
    }
    Ok(())
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
fn create_staging(folders: &Folders, hex: &str, manifest: &[u8]) -> Result<(), ReceiveError> {
    let tmp = folders
        .incoming
        .join(format!(".tmp-{hex}-{}", uuid::Uuid::new_v4().simple()));
    let made = (|| {
        fs::create_dir_all(tmp.join("segments"))?;
        let mut f = File::create(tmp.join(MANIFEST_FILE))?;
        f.write_all(manifest)?;
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
        manifest: Manifest,
        manifest_bytes: Vec<u8>,
        lock: FileLock,
    },
}

fn prepare_acceptance(folders: &Folders, hex: &str) -> Result<Prepared, ReceiveError> {
    let accepted_status = |folders: &Folders| -> Result<Prepared, ReceiveError> {
        let (manifest, _) = read_manifest_file(&folders.accepted(hex))?;
        Ok(Prepared::Accepted(status_of(folders, hex, &manifest)?))
    };
    if folders.accepted(hex).is_dir() {
        return accepted_status(folders);
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
        return accepted_status(folders);
    }
    let (manifest, manifest_bytes) = read_manifest_file(&staging)?;
    let verified = verified_segments(&staging, &manifest);
    if verified.len() != manifest.segments.len() {
        let missing = (0..manifest.segments.len() as u32)
            .filter(|i| !verified.contains(i))
            .collect();
        return Err(ReceiveError::Incomplete { missing });
    }
    Ok(Prepared::Ready {
        manifest,
        manifest_bytes,
        lock,
    })
}

/// Removes what uploads left behind (interrupted `.part` files, lock files)
/// and moves the staging folder to `received/` in one rename.
fn move_to_received(folders: &Folders, hex: &str) -> Result<(), ReceiveError> {
    let staging = folders.staging(hex);
    let segments = staging.join("segments");
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

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An exclusive advisory lock (`flock`) on a lock file, released and the
/// file removed on drop. The kernel releases it if the process dies.
#[derive(Debug)]
struct FileLock {
    path: PathBuf,
    file: Option<File>,
}

impl FileLock {
    /// Takes the lock, or `None` when someone holds it.
    fn try_acquire(path: &Path) -> Result<Option<FileLock>, ReceiveError> {
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

/// The `.part` file and hash state of a segment upload.
///
/// Where the file system allows it the file is written with direct I/O
/// (`O_DIRECT`, as the seal writes its segments): a received package is
/// read again only when it is verified or opened, and putting gigabytes
/// into the page cache costs more CPU than hashing them. Elsewhere the same
/// aligned buffers go through the page cache.
#[derive(Debug)]
struct Writer {
    file: File,
    direct: bool,
    hasher: SegmentHasher,
    /// Bytes written so far: where the next buffer goes.
    written: u64,
}

impl Writer {
    /// Hashes the gathered bytes and writes them at the end of the file
    /// (a last, partial buffer of a direct file is written as a whole block
    /// and cut back in [`SegmentUpload::finish`]).
    fn write(&mut self, buf: &mut DirectBuffer) -> io::Result<()> {
        use std::os::unix::fs::FileExt as _;
        let bytes = buf.bytes_from(0);
        self.hasher.update(bytes);
        let done = if self.direct {
            write_block(&self.file, self.written, buf)
        } else {
            self.file.write_all_at(bytes, self.written)
        };
        self.written += buf.fill as u64;
        done
    }
}

/// What a blocking write step hands back: the writer, the emptied buffer, the outcome.
type WriteStep = (Writer, DirectBuffer, io::Result<()>);

/// One segment being streamed to disk. Dropped before [`SegmentUpload::finish`]
/// succeeded (the connection broke, a check failed), it deletes its `.part`
/// file and lets go of the segment's lock.
pub struct SegmentUpload {
    index: u64,
    expected_size: u64,
    hash: SegmentHash,
    expected_digest: String,
    part: PathBuf,
    final_path: PathBuf,
    dir: PathBuf,
    state: Option<Writer>,
    /// The bytes gathered for the next write.
    buffer: DirectBuffer,
    /// The buffer of the write in progress comes back here.
    spare: Option<DirectBuffer>,
    pending: Option<tokio::task::JoinHandle<WriteStep>>,
    received: u64,
    done: bool,
    _lock: FileLock,
}

impl std::fmt::Debug for SegmentUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentUpload")
            .field("index", &self.index)
            .field("expected_size", &self.expected_size)
            .field("part", &self.part)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl SegmentUpload {
    /// Creates (or empties) the `.part` file of `segment` at `part`, to be
    /// renamed to `final_path` once it matches; `lock` is the segment's.
    fn create(
        segment: &Segment,
        part: PathBuf,
        final_path: PathBuf,
        lock: FileLock,
    ) -> Result<Self, ReceiveError> {
        let file =
            File::create(&part).map_err(io_err(format!("cannot create {}", part.display())))?;
        let dir = part.parent().map(Path::to_owned).unwrap_or_default();
        let (hash, expected) = segment.digest();
        Ok(Self {
            index: segment.index,
            expected_size: segment.size,
            hash,
            expected_digest: expected.to_owned(),
            part,
            final_path,
            dir,
            state: Some(Writer {
                direct: enable_direct(&file),
                file,
                hasher: SegmentHasher::new(hash),
                written: 0,
            }),
            buffer: DirectBuffer::new(),
            spare: None,
            pending: None,
            received: 0,
            done: false,
            _lock: lock,
        })
    }

    /// The size the manifest declares for this segment.
    pub fn expected_size(&self) -> u64 {
        self.expected_size
    }

    /// Takes the next piece of the body. Refuses as soon as the body is
    /// longer than the manifest says.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), ReceiveError> {
        self.received += chunk.len() as u64;
        if self.received > self.expected_size {
            return Err(ReceiveError::SegmentMismatch {
                index: self.index,
                detail: format!(
                    "the body is longer than the {} bytes the manifest declares",
                    self.expected_size
                ),
            });
        }
        let mut rest = chunk;
        while !rest.is_empty() {
            let room = self.buffer.spare();
            let take = room.len().min(rest.len());
            room[..take].copy_from_slice(&rest[..take]);
            self.buffer.fill += take;
            rest = &rest[take..];
            if self.buffer.fill == DIRECT_BUFFER {
                self.flush_buffer().await?;
            }
        }
        Ok(())
    }

    /// Hands the gathered bytes to a blocking thread (hash, then write),
    /// after the previous hand-over finished: the network keeps filling the
    /// next buffer meanwhile.
    async fn flush_buffer(&mut self) -> Result<(), ReceiveError> {
        self.wait_pending().await?;
        let Some(mut writer) = self.state.take() else {
            return Err(self.lost());
        };
        let next = self.spare.take().unwrap_or_else(DirectBuffer::new);
        let mut buffer = std::mem::replace(&mut self.buffer, next);
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let r = writer.write(&mut buffer);
            (writer, buffer, r)
        }));
        Ok(())
    }

    async fn wait_pending(&mut self) -> Result<(), ReceiveError> {
        if let Some(task) = self.pending.take() {
            let (writer, mut buffer, result) = task.await.map_err(|_| self.lost())?;
            self.state = Some(writer);
            result.map_err(io_err(format!("cannot write {}", self.part.display())))?;
            // Keep the allocation for the next round.
            buffer.fill = 0;
            self.spare = Some(buffer);
        }
        Ok(())
    }

    fn lost(&self) -> ReceiveError {
        ReceiveError::Io {
            what: format!("writing {}", self.part.display()),
            source: io::Error::other("the writing task was lost"),
        }
    }

    /// Checks size and hash against the manifest, syncs the file and
    /// renames it to its final name.
    pub async fn finish(mut self) -> Result<(), ReceiveError> {
        if self.buffer.fill > 0 {
            self.flush_buffer().await?;
        }
        self.wait_pending().await?;
        if self.received != self.expected_size {
            return Err(ReceiveError::SegmentMismatch {
                index: self.index,
                detail: format!(
                    "{} bytes arrived, the manifest declares {}",
                    self.received, self.expected_size
                ),
            });
        }
        let Some(writer) = self.state.take() else {
            return Err(self.lost());
        };
        let actual = writer.hasher.finalize();
        if actual != self.expected_digest {
            return Err(ReceiveError::SegmentMismatch {
                index: self.index,
                detail: format!(
                    "its {}",
                    hash_mismatch(self.hash, &actual, &self.expected_digest)
                ),
            });
        }
        let (file, size, part, final_path, dir) = (
            writer.file,
            self.expected_size,
            self.part.clone(),
            self.final_path.clone(),
            self.dir.clone(),
        );
        blocking(move || {
            settle(&file, size).map_err(io_err(format!("cannot sync {}", part.display())))?;
            drop(file);
            fs::rename(&part, &final_path)
                .map_err(io_err(format!("cannot rename {}", part.display())))?;
            sync_dir(&dir).map_err(io_err(format!("cannot sync {}", dir.display())))
        })
        .await?;
        self.done = true;
        Ok(())
    }
}

impl Drop for SegmentUpload {
    fn drop(&mut self) {
        if !self.done {
            if let Some(task) = self.pending.take() {
                task.abort();
            }
            let _ = fs::remove_file(&self.part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::package::disable_direct;
    use crate::evidence::package::tests::{EDGE_SIZES, sample};

    /// Segment 0 of `len` bytes whose hash is `digest` (BLAKE3, or SHA-256
    /// as in a version 1 package), started in `dir` as an upload starts one;
    /// with `direct` false, through the page cache.
    fn start(dir: &Path, len: usize, digest: (SegmentHash, String), direct: bool) -> SegmentUpload {
        let segment = Segment::new(0, 0, len as u64, digest.0, digest.1);
        let lock = FileLock::try_acquire(&dir.join("000000.lock"))
            .unwrap()
            .unwrap();
        let part = dir.join("000000.age.part");
        let mut upload =
            SegmentUpload::create(&segment, part, dir.join("000000.age"), lock).unwrap();
        if let Some(w) = upload.state.as_mut()
            && w.direct
            && !direct
        {
            assert!(disable_direct(&w.file));
            w.direct = false;
        }
        upload
    }

    #[tokio::test]
    async fn segments_hold_exactly_the_bytes_received_directly_or_through_the_cache() {
        for len in EDGE_SIZES {
            let data = sample(len);
            let digest = digest_of(SegmentHash::Blake3, &data);
            for piece in [16_384, 4_099] {
                for direct in [true, false] {
                    let dir = tempfile::tempdir().unwrap();
                    let mut upload = start(dir.path(), len, digest.clone(), direct);
                    for chunk in data.chunks(piece) {
                        upload.write(chunk).await.unwrap();
                    }
                    upload.finish().await.unwrap();
                    let written = fs::read(dir.path().join("000000.age")).unwrap();
                    assert!(
                        written == data,
                        "{len} bytes in {piece}-byte bodies, direct {direct}: the file differs"
                    );
                    assert!(!dir.path().join("000000.age.part").exists());
                }
            }
        }
    }

    #[tokio::test]
    async fn a_segment_that_does_not_match_its_hash_leaves_nothing() {
        let data = sample(DIRECT_BUFFER + 5);
        let dir = tempfile::tempdir().unwrap();
        let mut upload = start(
            dir.path(),
            data.len(),
            (SegmentHash::Blake3, "00".repeat(32)),
            true,
        );
        upload.write(&data).await.unwrap();
        let err = upload.finish().await.unwrap_err();
        assert!(
            matches!(err, ReceiveError::SegmentMismatch { index: 0, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("BLAKE3"), "{err}");
        assert!(
            !dir.path().join("000000.age.part").exists(),
            "the .part file is removed"
        );
        assert!(!dir.path().join("000000.age").exists());
    }

    /// The digest of `data` under `hash`, as a manifest gives it.
    fn digest_of(hash: SegmentHash, data: &[u8]) -> (SegmentHash, String) {
        let mut hasher = SegmentHasher::new(hash);
        hasher.update(data);
        (hash, hasher.finalize())
    }

    #[tokio::test]
    async fn version_1_segments_are_checked_with_sha256() {
        use sha2::Digest as _;
        let data = sample(DIRECT_BUFFER + 5);
        let digest = digest_of(SegmentHash::Sha256, &data);
        assert_eq!(digest.1, crate::intake::hex(&sha2::Sha256::digest(&data)));
        let dir = tempfile::tempdir().unwrap();
        let mut upload = start(dir.path(), data.len(), digest, true);
        upload.write(&data).await.unwrap();
        upload.finish().await.unwrap();
        assert_eq!(fs::read(dir.path().join("000000.age")).unwrap(), data);
        // The BLAKE3 of the same bytes is not what a version 1 entry holds.
        let dir = tempfile::tempdir().unwrap();
        let blake3 = digest_of(SegmentHash::Blake3, &data).1;
        let mut upload = start(dir.path(), data.len(), (SegmentHash::Sha256, blake3), true);
        upload.write(&data).await.unwrap();
        let err = upload.finish().await.unwrap_err();
        assert!(err.to_string().contains("SHA-256"), "{err}");
        assert!(!dir.path().join("000000.age").exists());
    }
}
