//! Evidence packages on disk: sealing files and folders into a package
//! folder, verifying one, and opening one into a folder of verified files.
//!
//! A package is a folder holding `manifest.dsse.json` (the signed manifest,
//! [`custos_protocol::evidence::Manifest`]) and `segments/NNNNNN.age`, the tar
//! stream of the sealed files cut into segments and each encrypted as an
//! ordinary age file. The format is in `docs/formats/evidence.md`.
//!
//! Sealing streams: one thread walks the files in a fixed order, reads them,
//! hashes each file and cuts the tar stream into 1 MiB buffers; two workers
//! encrypt alternate segments to the recipients and hash the ciphertext as it
//! is produced; a disk writer thread writes the ciphertext (with direct I/O
//! where the file system allows it, bypassing the page cache) and syncs each
//! finished segment. Queues between them are bounded, so memory stays flat
//! whatever the size. Each segment is written to `NNNNNN.age.part` and
//! renamed when complete and synced; the manifest is written last,
//! atomically. On any failure the folder is removed (or emptied, if it
//! existed).
//!
//! Inputs: regular files and folders only. Symbolic links are refused
//! whether they point inside or outside the sealed folders (a package holds
//! the files themselves, never a link to follow on another machine), and so
//! are devices, FIFOs and sockets, paths with `..`, and names that are not
//! UTF-8 or not valid package paths. Every refusal names the path.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use custos_model::StateCode;
use custos_protocol::evidence::{
    CONTENT_FORMAT, Content, FileEntry, MANIFEST_VERSION, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE,
    Manifest, Segment, SegmentHash, Totals, VerifiedManifest, check_relative_path,
    segment_file_name, sign_manifest, verify_manifest,
};
use custos_protocol::{Directory, timestamp};
use custos_seal::{EncryptionIdentity, EncryptionRecipient, SigningKey};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::NodeError;

pub use custos_protocol::evidence::DEFAULT_SEGMENT_SIZE;

/// The manifest's file name inside a package folder.
pub const MANIFEST_FILE: &str = "manifest.dsse.json";
/// The folder of encrypted segments inside a package folder.
pub const SEGMENTS_DIR: &str = "segments";
/// The folder of receipts (sender side, after sending).
pub const RECEIPTS_DIR: &str = "receipts";
/// The largest manifest sealed or read: the same limit a receiving node
/// applies, so that no package is sealed that peers refuse.
pub use custos_protocol::evidence::MAX_MANIFEST_BYTES;

/// Size of the buffers passed between the threads.
pub(crate) const BUFFER: usize = 1 << 20;
/// Buffers waiting per worker.
pub(crate) const QUEUE: usize = 4;

/// The most buffers queued per encryption worker while sealing (bounds memory).
const MAX_SEAL_QUEUE: usize = 24;
/// Encryption (or decryption) workers: the machine this targets has two
/// cores, and with the reader thread this keeps both busy.
pub(crate) const WORKERS: usize = 2;

/// Reports how far a long operation has got. The CLI draws a bar or prints
/// lines; other callers pass [`NoProgress`]. Implementations are called from
/// worker threads.
pub trait Progress: Send + Sync {
    /// The operation starts; `total_bytes` is what [`Progress::advance`] adds
    /// up to.
    fn start(&self, total_bytes: u64, label: &str);
    /// `bytes` more are done.
    fn advance(&self, bytes: u64);
    /// The operation ended (successfully or not).
    fn finish(&self);
}

/// A [`Progress`] that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _total_bytes: u64, _label: &str) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

/// Everything [`seal`] needs besides the files: who signs, whom to encrypt
/// to, and what the manifest says about the request.
#[derive(Clone, Debug)]
pub struct SealOptions {
    /// The request id the evidence answers.
    pub request: String,
    pub sender: StateCode,
    /// The recipient States listed in the manifest.
    pub recipients: Vec<StateCode>,
    /// The age recipients: every recipient node's current keys and the
    /// sender's own.
    pub keys: Vec<EncryptionRecipient>,
    /// The sender's current signing key.
    pub signing_key: SigningKey,
    pub created_at: OffsetDateTime,
    pub use_limits: Value,
    pub confidentiality: Value,
    /// Plaintext bytes per segment, [`MIN_SEGMENT_SIZE`] to [`MAX_SEGMENT_SIZE`].
    pub segment_size: u64,
}

/// A package that was sealed.
#[derive(Clone, Debug)]
pub struct Sealed {
    pub package_id: String,
    pub manifest: Manifest,
    /// The bytes of `manifest.dsse.json`.
    pub manifest_bytes: Vec<u8>,
    /// The package folder.
    pub dir: PathBuf,
}

/// One thing that did not match the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// What: a file path, `segments/000001.age`, `content`, `tar stream`.
    pub subject: String,
    pub problem: String,
}

impl Mismatch {
    pub(crate) fn new(subject: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            problem: problem.into(),
        }
    }
}

/// What [`verify`] or [`open`] found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub package_id: String,
    pub request: String,
    pub sender: StateCode,
    pub recipients: Vec<StateCode>,
    /// Key id of the sender's key whose signature verified.
    pub signed_by: String,
    pub segments: u64,
    /// Whether the content was decrypted (this node is a recipient or the sender).
    pub decrypted: bool,
    /// Files whose size and SHA-256 matched.
    pub files_verified: u64,
    pub files_total: u64,
    pub bytes_total: u64,
    /// Files written out (by [`open`]), relative paths.
    pub files_written: Vec<String>,
    /// Every mismatch found; empty when everything matched.
    pub mismatches: Vec<Mismatch>,
}

impl Report {
    /// True when nothing mismatched.
    pub fn is_ok(&self) -> bool {
        self.mismatches.is_empty()
    }

    pub(crate) fn new(verified: &VerifiedManifest) -> Self {
        let m = &verified.manifest;
        Report {
            package_id: verified.package_id.clone(),
            request: m.request.clone(),
            sender: m.sender,
            recipients: m.recipients.clone(),
            signed_by: verified.keyid.clone(),
            segments: m.segments.len() as u64,
            decrypted: false,
            files_verified: 0,
            files_total: m.totals.files,
            bytes_total: m.totals.bytes,
            files_written: Vec::new(),
            mismatches: Vec::new(),
        }
    }
}

/// `PKG/manifest.dsse.json`.
pub fn manifest_path(pkg: &Path) -> PathBuf {
    pkg.join(MANIFEST_FILE)
}

/// `PKG/segments/NNNNNN.age`.
pub fn segment_path(pkg: &Path, index: u64) -> PathBuf {
    pkg.join(SEGMENTS_DIR).join(segment_file_name(index))
}

pub(crate) fn io_err(path: &Path, err: impl std::fmt::Display) -> NodeError {
    NodeError::Io {
        path: path.display().to_string(),
        problem: err.to_string(),
    }
}

fn input_err(path: &Path, problem: impl Into<String>) -> NodeError {
    NodeError::EvidenceInput {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

pub(crate) fn package_err(path: &Path, problem: impl Into<String>) -> NodeError {
    NodeError::EvidencePackage {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Reads the manifest of a package without checking its signature.
pub fn read_manifest_bytes(pkg: &Path) -> Result<Vec<u8>, NodeError> {
    let path = manifest_path(pkg);
    let file = File::open(&path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            package_err(pkg, format!("no {MANIFEST_FILE}: not an evidence package"))
        } else {
            io_err(&path, e)
        }
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(&path, e))?;
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(package_err(
            pkg,
            format!("{MANIFEST_FILE} is larger than {MAX_MANIFEST_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// Reads and verifies a package's manifest against `directory` (signature by
/// a key of the sender valid at `created_at`; see
/// [`custos_protocol::evidence::verify_manifest`]).
pub fn load_manifest(pkg: &Path, directory: &Directory) -> Result<VerifiedManifest, NodeError> {
    let bytes = read_manifest_bytes(pkg)?;
    Ok(verify_manifest(&bytes, directory)?)
}

/// Checks one segment file against its manifest entry: size, then the hash
/// of the bytes (BLAKE3, or SHA-256 in a version 1 package). `None` when it
/// matches.
pub fn check_segment_file(path: &Path, segment: &Segment) -> Option<Mismatch> {
    let subject = format!("{SEGMENTS_DIR}/{}", segment_file_name(segment.index));
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Some(Mismatch::new(subject, "missing"));
        }
        Err(e) => return Some(Mismatch::new(subject, format!("cannot read: {e}"))),
    };
    if meta.len() != segment.size {
        return Some(Mismatch::new(
            subject,
            format!(
                "is {} bytes, the manifest says {}",
                meta.len(),
                segment.size
            ),
        ));
    }
    let (hash, expected) = segment.digest();
    match hash_file(path, hash) {
        Ok((size, digest)) if size == segment.size && digest == expected => None,
        Ok((_, digest)) => Some(Mismatch::new(
            subject,
            hash_mismatch(hash, &digest, expected),
        )),
        Err(e) => Some(Mismatch::new(subject, format!("cannot read: {e}"))),
    }
}

/// How a segment whose hash differs is described.
pub(crate) fn hash_mismatch(hash: SegmentHash, actual: &str, expected: &str) -> String {
    format!("{} is {actual}, the manifest says {expected}", hash.name())
}

/// Hashes a segment's ciphertext with the function its manifest uses.
pub(crate) enum SegmentHasher {
    /// Boxed: its state is about 2 KiB.
    Blake3(Box<blake3::Hasher>),
    Sha256(Sha256),
}

impl std::fmt::Debug for SegmentHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SegmentHasher::Blake3(_) => "SegmentHasher(BLAKE3)",
            SegmentHasher::Sha256(_) => "SegmentHasher(SHA-256)",
        })
    }
}

impl SegmentHasher {
    pub(crate) fn new(hash: SegmentHash) -> Self {
        match hash {
            SegmentHash::Blake3 => SegmentHasher::Blake3(Box::default()),
            SegmentHash::Sha256 => SegmentHasher::Sha256(Sha256::new()),
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            SegmentHasher::Blake3(h) => {
                h.update(bytes);
            }
            SegmentHasher::Sha256(h) => h.update(bytes),
        }
    }

    /// The digest in lower-case hex.
    pub(crate) fn finalize(self) -> String {
        match self {
            SegmentHasher::Blake3(h) => h.finalize().to_hex().to_string(),
            SegmentHasher::Sha256(h) => hex(&h.finalize()),
        }
    }
}

/// Size and hash (hex) of a file.
pub(crate) fn hash_file(path: &Path, hash: SegmentHash) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = SegmentHasher::new(hash);
    let mut buf = vec![0u8; BUFFER];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finalize()))
}

// ---------------------------------------------------------------------------
// Walking the inputs

/// One entry of the tar stream, found by [`collect`].
#[derive(Debug)]
struct Item {
    rel: String,
    src: PathBuf,
    dir: bool,
    size: u64,
    mtime: i64,
    executable: bool,
}

fn mtime_of(meta: &fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

fn kind_name(ft: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_char_device() {
            return "a character device";
        }
    }
    let _ = ft;
    "neither a regular file nor a folder"
}

/// Lists what `paths` hold, in the order the tar stream carries them: the
/// top-level names sorted, each folder before its contents, the contents
/// sorted by name.
fn collect(paths: &[PathBuf]) -> Result<Vec<Item>, NodeError> {
    if paths.is_empty() {
        return Err(input_err(
            Path::new(""),
            "nothing to seal: give files or folders",
        ));
    }
    let mut roots: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut canonical_roots = Vec::new();
    for path in paths {
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(input_err(
                path,
                "the path contains `..`; name the file or folder without it",
            ));
        }
        let meta = fs::symlink_metadata(path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                input_err(path, "does not exist")
            } else {
                input_err(path, format!("cannot be read: {e}"))
            }
        })?;
        if meta.file_type().is_symlink() {
            return Err(input_err(
                path,
                "is a symbolic link; name the file or folder it points to instead",
            ));
        }
        let name = match path.file_name() {
            Some(n) => n.to_owned(),
            None => fs::canonicalize(path)
                .ok()
                .and_then(|p| p.file_name().map(ToOwned::to_owned))
                .ok_or_else(|| input_err(path, "has no name to store it under"))?,
        };
        let name = name
            .to_str()
            .ok_or_else(|| input_err(path, "the name is not valid UTF-8"))?
            .to_owned();
        check_relative_path(&name).map_err(|e| input_err(path, e.to_string()))?;
        if let Some(other) = roots.insert(name.clone(), path.clone()) {
            return Err(input_err(
                path,
                format!(
                    "has the same name {name:?} as {}; a package holds each name once",
                    other.display()
                ),
            ));
        }
        canonical_roots.push(fs::canonicalize(path).map_err(|e| io_err(path, e))?);
    }
    let mut items = Vec::new();
    for (name, path) in &roots {
        walk(path, name.clone(), &canonical_roots, &mut items)?;
    }
    Ok(items)
}

fn walk(
    path: &Path,
    rel: String,
    roots: &[PathBuf],
    items: &mut Vec<Item>,
) -> Result<(), NodeError> {
    let meta = fs::symlink_metadata(path).map_err(|e| io_err(path, e))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(path).map_err(|e| io_err(path, e))?;
        let resolved = path
            .parent()
            .map(|p| p.join(&target))
            .and_then(|p| fs::canonicalize(p).ok());
        let inside = resolved
            .as_ref()
            .is_some_and(|r| roots.iter().any(|root| r.starts_with(root)));
        let where_ = if inside {
            "inside the sealed folders; seal the file itself, links are not kept"
        } else {
            "which leaves the sealed folders"
        };
        return Err(input_err(
            path,
            format!("is a symbolic link to {} {where_}", target.display()),
        ));
    }
    check_relative_path(&rel).map_err(|e| input_err(path, e.to_string()))?;
    if ft.is_file() {
        items.push(Item {
            rel,
            src: path.to_owned(),
            dir: false,
            size: meta.len(),
            mtime: mtime_of(&meta),
            executable: is_executable(&meta),
        });
        return Ok(());
    }
    if !ft.is_dir() {
        return Err(input_err(
            path,
            format!(
                "is {}; only regular files and folders can be sealed",
                kind_name(&ft)
            ),
        ));
    }
    items.push(Item {
        rel: rel.clone(),
        src: path.to_owned(),
        dir: true,
        size: 0,
        mtime: mtime_of(&meta),
        executable: true,
    });
    let mut children = Vec::new();
    for entry in fs::read_dir(path).map_err(|e| io_err(path, e))? {
        let entry = entry.map_err(|e| io_err(path, e))?;
        let name = entry.file_name();
        let Some(text) = name.to_str() else {
            return Err(input_err(&entry.path(), "the name is not valid UTF-8"));
        };
        children.push(text.to_owned());
    }
    children.sort();
    for child in children {
        walk(&path.join(&child), format!("{rel}/{child}"), roots, items)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Sealing

/// Removes what a failed operation created in its output folder.
struct OutputGuard {
    dir: PathBuf,
    created: bool,
    armed: bool,
}

impl OutputGuard {
    /// Takes `dir` for output: it must not exist (it is created) or be an
    /// empty folder.
    fn take(dir: &Path) -> Result<Self, NodeError> {
        match fs::symlink_metadata(dir) {
            Ok(meta) => {
                if !meta.is_dir() {
                    return Err(package_err(dir, "exists and is not a folder"));
                }
                let mut entries = fs::read_dir(dir).map_err(|e| io_err(dir, e))?;
                if entries.next().is_some() {
                    return Err(package_err(
                        dir,
                        "the output folder exists and is not empty",
                    ));
                }
                Ok(Self {
                    dir: dir.to_owned(),
                    created: false,
                    armed: true,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(dir).map_err(|e| io_err(dir, e))?;
                Ok(Self {
                    dir: dir.to_owned(),
                    created: true,
                    armed: true,
                })
            }
            Err(e) => Err(io_err(dir, e)),
        }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for OutputGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.created {
            let _ = fs::remove_dir_all(&self.dir);
        } else if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let p = entry.path();
                let _ = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
            }
        }
    }
}

/// Bytes of a segment file written through the page cache between two
/// requests to the kernel to start writing them to disk.
const WRITEBACK_STEP: u64 = 4 << 20;
/// Alignment of direct writes (memory address, file offset and length): the
/// largest logical block size of common disks.
pub(crate) const DIRECT_ALIGN: usize = 4096;
/// Ciphertext gathered before each direct write.
pub(crate) const DIRECT_BUFFER: usize = 1 << 20;
/// Jobs queued for the disk writer (direct writes of [`DIRECT_BUFFER`]
/// bytes, and finished segments).
const DISK_QUEUE: usize = 8;

/// A segment file being written, under its `.part` name.
#[derive(Debug)]
struct PartFile {
    file: File,
    path: PathBuf,
}

/// An aligned buffer for direct writes, carved out of a slightly larger
/// allocation (so no unsafe code is needed for the alignment).
pub(crate) struct DirectBuffer {
    raw: Vec<u8>,
    start: usize,
    pub(crate) fill: usize,
}

impl DirectBuffer {
    pub(crate) fn new() -> Self {
        let raw = vec![0u8; DIRECT_BUFFER + DIRECT_ALIGN];
        // The vector is never resized, so its bytes stay where they are.
        let start = (DIRECT_ALIGN - raw.as_ptr().addr() % DIRECT_ALIGN) % DIRECT_ALIGN;
        Self {
            raw,
            start,
            fill: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.fill]
    }

    /// One handed back on `pool` if there is one, else a new one.
    pub(crate) fn from_pool(pool: &Receiver<DirectBuffer>) -> Self {
        pool.try_recv().unwrap_or_else(|_| Self::new())
    }

    /// The gathered bytes from `from` on.
    pub(crate) fn bytes_from(&self, from: usize) -> &[u8] {
        &self.raw[self.start + from..self.start + self.fill]
    }

    /// The room left after the gathered bytes.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        let at = self.start + self.fill;
        &mut self.raw[at..self.start + DIRECT_BUFFER]
    }

    /// The gathered bytes followed by zeros up to the next aligned length.
    fn padded(&mut self) -> &[u8] {
        let len = self.fill.next_multiple_of(DIRECT_ALIGN);
        let block = &mut self.raw[self.start..self.start + len];
        block[self.fill..].fill(0);
        block
    }
}

/// What an encryption worker hands the disk writer thread.
enum DiskJob {
    /// Write `buf` at `offset` of the file with direct I/O, then give the
    /// buffer back on `back`.
    Write {
        file: Arc<PartFile>,
        offset: u64,
        buf: DirectBuffer,
        back: SyncSender<DirectBuffer>,
    },
    /// Every byte of the segment has been handed over: cut the file to
    /// `size`, sync it and rename it.
    Finish {
        file: Arc<PartFile>,
        size: u64,
        final_path: PathBuf,
    },
}

/// An encryption worker's way to the disk writer: the queue, and the
/// worker's own pool of direct buffers coming back from it.
struct DiskQueue<'a> {
    jobs: SyncSender<DiskJob>,
    pool: Receiver<DirectBuffer>,
    back: SyncSender<DirectBuffer>,
    /// Set by the disk writer when it failed (its error says why).
    failed: &'a AtomicBool,
}

impl DiskQueue<'_> {
    fn send(&self, job: DiskJob) -> io::Result<()> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(io::Error::other("the segment writer failed"));
        }
        self.jobs
            .send(job)
            .map_err(|_| io::Error::other("the segment writer stopped"))
    }

    fn fresh(&self) -> DirectBuffer {
        DirectBuffer::from_pool(&self.pool)
    }
}

/// A segment file being written by an encryption worker.
///
/// Where the file system allows it, the file is opened for direct I/O
/// (`O_DIRECT`): the ciphertext is gathered in aligned buffers that the disk
/// writer thread writes straight to the disk, so they never pass through the
/// page cache and the worker never waits for the disk. A package is written
/// once and read later, if at all, so caching it buys nothing, and finding
/// page-cache memory for gigabytes costs more CPU than the write itself
/// (much more on virtual machines that hand free memory back to the host).
/// The last block is written whole and the file then cut to size.
/// Elsewhere the worker writes the file through the page cache itself,
/// asking the kernel every [`WRITEBACK_STEP`] bytes to start writing it out,
/// so that the `sync_all` closing the segment finds little left.
struct SegmentFile<'q, 'a> {
    file: Arc<PartFile>,
    /// The buffer being filled, in direct mode.
    direct: Option<DirectBuffer>,
    disk: &'q DiskQueue<'a>,
    /// Bytes accepted so far (the file's final size).
    written: u64,
    /// Up to where writeback was started (page-cache mode).
    kicked: u64,
}

impl<'q, 'a> SegmentFile<'q, 'a> {
    /// Starts writing `file`, directly (if `direct`; see [`enable_direct`])
    /// or through the page cache.
    fn new(file: PartFile, disk: &'q DiskQueue<'a>, direct: bool) -> Self {
        let direct = direct.then(|| disk.fresh());
        Self {
            file: Arc::new(file),
            direct,
            disk,
            written: 0,
            kicked: 0,
        }
    }

    /// Hands the buffer, whose bytes end at `written`, to the disk writer.
    fn hand_over(&mut self, buf: DirectBuffer) -> io::Result<()> {
        let offset = self.written - buf.fill as u64;
        self.disk.send(DiskJob::Write {
            file: Arc::clone(&self.file),
            offset,
            buf,
            back: self.disk.back.clone(),
        })
    }

    /// Hands over what is left; the segment is then finished with
    /// [`DiskJob::Finish`] on the same queue.
    fn finish(mut self) -> io::Result<(Arc<PartFile>, u64)> {
        if let Some(buf) = self.direct.take() {
            if buf.fill > 0 {
                self.hand_over(buf)?;
            } else {
                // Nothing left to write: keep the buffer for the next segment.
                let _ = self.disk.back.try_send(buf);
            }
        }
        Ok((self.file, self.written))
    }
}

impl Write for SegmentFile<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(d) = self.direct.as_mut() {
            let n = (DIRECT_BUFFER - d.fill).min(buf.len());
            let at = d.start + d.fill;
            d.raw[at..at + n].copy_from_slice(&buf[..n]);
            d.fill += n;
            self.written += n as u64;
            if d.fill == DIRECT_BUFFER {
                let full = std::mem::replace(d, self.disk.fresh());
                self.hand_over(full)?;
            }
            return Ok(n);
        }
        let n = (&self.file.file).write(buf)?;
        self.written += n as u64;
        if self.written - self.kicked >= WRITEBACK_STEP {
            start_writeback(&self.file.file, self.kicked, self.written - self.kicked);
            self.kicked = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes one direct buffer at `offset`. A refused direct write (`EINVAL`:
/// alignment rules stricter than [`DIRECT_ALIGN`]) switches the file to the
/// page cache and writes the bytes there.
#[cfg(unix)]
pub(crate) fn write_block(file: &File, offset: u64, buf: &mut DirectBuffer) -> io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    match file.write_all_at(buf.padded(), offset) {
        Err(e) if e.raw_os_error() == Some(EINVAL) && disable_direct(file) => {
            file.write_all_at(buf.bytes(), offset)
        }
        done => done,
    }
}

#[cfg(not(unix))]
pub(crate) fn write_block(_file: &File, _offset: u64, _buf: &mut DirectBuffer) -> io::Result<()> {
    Err(io::Error::other("direct writes are not supported here"))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const EINVAL: i32 = rustix::io::Errno::INVAL.raw_os_error();
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const EINVAL: i32 = 22;

/// Switches `file` to direct I/O; false where the file system does not
/// support it.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn enable_direct(file: &File) -> bool {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    fcntl_getfl(file).is_ok_and(|flags| fcntl_setfl(file, flags | OFlags::DIRECT).is_ok())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn enable_direct(_file: &File) -> bool {
    false
}

/// Switches `file` back to the page cache; false if that failed.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn disable_direct(file: &File) -> bool {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    fcntl_getfl(file).is_ok_and(|flags| fcntl_setfl(file, flags - OFlags::DIRECT).is_ok())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn disable_direct(_file: &File) -> bool {
    false
}

/// Starts writing `len` bytes of `file` from `offset` to disk without waiting
/// for it: `POSIX_FADV_DONTNEED` starts writeback of dirty pages (and drops
/// only pages already clean). Advice only, so a failure is ignored.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn start_writeback(file: &File, offset: u64, len: u64) {
    let _ = rustix::fs::fadvise(
        file,
        offset,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::DontNeed,
    );
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

/// Drops a synced segment's pages from the page cache (page-cache mode; a
/// direct-written file has none there). Advice only, so a failure is
/// ignored.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn drop_cached(file: &File) {
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn drop_cached(_file: &File) {}

/// A writer that hashes and counts what passes through.
pub(crate) struct HashingWriter<W> {
    pub(crate) inner: W,
    pub(crate) hasher: SegmentHasher,
    pub(crate) count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What the reader thread sends an encryption worker.
enum SealJob {
    Start(u64),
    Data(Vec<u8>, usize),
    Finish(u64),
}

/// The tar stream being cut into segments and handed to the workers.
struct Stream<'a> {
    segment_size: u64,
    offset: u64,
    segment: u64,
    in_segment: u64,
    buf: Vec<u8>,
    fill: usize,
    workers: &'a [SyncSender<SealJob>],
    pool: &'a Receiver<Vec<u8>>,
}

/// A worker stopped; its own error says why.
struct WorkerGone;

impl Stream<'_> {
    fn send(&self, job: SealJob) -> Result<(), WorkerGone> {
        let worker = (self.segment % self.workers.len() as u64) as usize;
        self.workers[worker].send(job).map_err(|_| WorkerGone)
    }

    fn fresh_buffer(&self) -> Vec<u8> {
        self.pool.try_recv().unwrap_or_else(|_| vec![0u8; BUFFER])
    }

    /// Room left in the current buffer without crossing a segment boundary;
    /// opens a segment when none is open.
    fn room(&mut self) -> Result<usize, WorkerGone> {
        if self.in_segment == 0 && self.fill == 0 {
            self.send(SealJob::Start(self.segment))?;
        }
        let left = self.segment_size - self.in_segment;
        Ok((BUFFER - self.fill).min(usize::try_from(left).unwrap_or(usize::MAX)))
    }

    /// Accounts for `n` bytes just put at `buf[fill..fill + n]`.
    fn commit(&mut self, n: usize) -> Result<(), WorkerGone> {
        self.fill += n;
        self.in_segment += n as u64;
        self.offset += n as u64;
        if self.fill == BUFFER || self.in_segment == self.segment_size {
            self.flush()?;
        }
        if self.in_segment == self.segment_size {
            self.send(SealJob::Finish(self.in_segment))?;
            self.segment += 1;
            self.in_segment = 0;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), WorkerGone> {
        if self.fill > 0 {
            let fresh = self.fresh_buffer();
            let buf = std::mem::replace(&mut self.buf, fresh);
            self.send(SealJob::Data(buf, self.fill))?;
            self.fill = 0;
        }
        Ok(())
    }

    fn write(&mut self, mut data: &[u8]) -> Result<(), WorkerGone> {
        while !data.is_empty() {
            let n = self.room()?.min(data.len());
            self.buf[self.fill..self.fill + n].copy_from_slice(&data[..n]);
            data = &data[n..];
            self.commit(n)?;
        }
        Ok(())
    }

    /// Pads the stream with zeros to the next 512-byte block.
    fn pad(&mut self) -> Result<(), WorkerGone> {
        let rest = (512 - (self.offset % 512)) % 512;
        self.write(&[0u8; 512][..rest as usize])
    }

    /// Ends the stream; returns the number of segments.
    fn finish(&mut self) -> Result<u64, WorkerGone> {
        self.flush()?;
        if self.in_segment > 0 {
            self.send(SealJob::Finish(self.in_segment))?;
            self.segment += 1;
            self.in_segment = 0;
        }
        Ok(self.segment)
    }
}

/// Why the reader thread stopped.
enum ProduceError {
    Worker,
    Node(NodeError),
}

impl From<WorkerGone> for ProduceError {
    fn from(_: WorkerGone) -> Self {
        ProduceError::Worker
    }
}

impl From<NodeError> for ProduceError {
    fn from(e: NodeError) -> Self {
        ProduceError::Node(e)
    }
}

/// A pax extended header record `"<len> <key>=<value>\n"`, the length
/// counting the whole record including its own digits.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let base = key.len() + value.len() + 3;
    let mut len = base + 1;
    while len != base + len.to_string().len() {
        len = base + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
}

fn header_for(item: &Item, name: &str) -> Result<tar::Header, io::Error> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)?;
    if item.dir {
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
    } else {
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(if item.executable { 0o755 } else { 0o644 });
        h.set_size(item.size);
    }
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(u64::try_from(item.mtime).unwrap_or(0));
    h.set_cksum();
    Ok(h)
}

/// Writes an entry's header, with a pax `path` record first when the path
/// does not fit a ustar header.
fn write_header(stream: &mut Stream<'_>, item: &Item) -> Result<(), ProduceError> {
    let name = if item.dir {
        format!("{}/", item.rel)
    } else {
        item.rel.clone()
    };
    match header_for(item, &name) {
        Ok(h) => stream.write(h.as_bytes())?,
        Err(_) => {
            let record = pax_record("path", &name);
            let mut x = tar::Header::new_ustar();
            x.set_path("PaxHeaders/entry")
                .map_err(|e| input_err(&item.src, e.to_string()))?;
            x.set_entry_type(tar::EntryType::XHeader);
            x.set_mode(0o644);
            x.set_size(record.len() as u64);
            x.set_mtime(u64::try_from(item.mtime).unwrap_or(0));
            x.set_cksum();
            stream.write(x.as_bytes())?;
            stream.write(&record)?;
            stream.pad()?;
            let short = if item.dir { "long-name/" } else { "long-name" };
            let h = header_for(item, short).map_err(|e| input_err(&item.src, e.to_string()))?;
            stream.write(h.as_bytes())?;
        }
    }
    Ok(())
}

/// Reads the sealed files into the stream; returns the manifest's file list.
fn produce(
    items: &[Item],
    stream: &mut Stream<'_>,
    progress: &dyn Progress,
) -> Result<Vec<FileEntry>, ProduceError> {
    let mut files = Vec::new();
    for item in items {
        write_header(stream, item)?;
        if item.dir {
            continue;
        }
        let mut file = File::open(&item.src).map_err(|e| io_err(&item.src, e))?;
        let mut hasher = Sha256::new();
        let mut left = item.size;
        while left > 0 {
            let room = stream.room()?;
            let want = room.min(usize::try_from(left).unwrap_or(usize::MAX));
            let start = stream.fill;
            let n = file
                .read(&mut stream.buf[start..start + want])
                .map_err(|e| io_err(&item.src, e))?;
            if n == 0 {
                return Err(
                    input_err(&item.src, "the file shrank while it was being sealed").into(),
                );
            }
            hasher.update(&stream.buf[start..start + n]);
            stream.commit(n)?;
            left -= n as u64;
            progress.advance(n as u64);
        }
        let mut probe = [0u8; 1];
        if file.read(&mut probe).map_err(|e| io_err(&item.src, e))? != 0 {
            return Err(input_err(&item.src, "the file grew while it was being sealed").into());
        }
        stream.pad()?;
        let mtime =
            OffsetDateTime::from_unix_timestamp(item.mtime).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        files.push(FileEntry {
            path: item.rel.clone(),
            size: item.size,
            sha256: hex(&hasher.finalize()),
            mtime,
        });
    }
    // End of archive: two zero blocks.
    stream.write(&[0u8; 1024])?;
    Ok(files)
}

/// The disk writer: writes the workers' direct buffers, and syncs and
/// renames finished segments, one after the other, off the encryption
/// workers' threads (which stay busy encrypting). On the first failure it
/// sets `failed`, so the workers stop, and returns that failure.
fn write_segments(jobs: Receiver<DiskJob>, failed: &AtomicBool) -> Result<(), NodeError> {
    let mut failure = None;
    for job in jobs {
        if failure.is_some() {
            continue;
        }
        let done = match job {
            DiskJob::Write {
                file,
                offset,
                mut buf,
                back,
            } => {
                let done = write_block(&file.file, offset, &mut buf);
                buf.fill = 0;
                // The worker may have finished; then the buffer is freed.
                let _ = back.try_send(buf);
                done.map_err(|e| io_err(&file.path, e))
            }
            DiskJob::Finish {
                file,
                size,
                final_path,
            } => finish_segment(&file, size, &final_path),
        };
        if let Err(e) = done {
            failed.store(true, Ordering::Relaxed);
            failure = Some(e);
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Cuts a segment file to its size (a direct write ends on a whole block),
/// syncs it, drops it from the page cache and gives it its final name.
fn finish_segment(file: &PartFile, size: u64, final_path: &Path) -> Result<(), NodeError> {
    settle(&file.file, size).map_err(|e| io_err(&file.path, e))?;
    fs::rename(&file.path, final_path).map_err(|e| io_err(final_path, e))
}

/// Cuts a written file to `size` (a direct write ends on a whole block),
/// syncs it and drops its pages from the page cache.
pub(crate) fn settle(file: &File, size: u64) -> io::Result<()> {
    if file.metadata()?.len() != size {
        file.set_len(size)?;
    }
    file.sync_all()?;
    drop_cached(file);
    Ok(())
}

/// An encryption worker: encrypts the segments it is given, in order, each
/// to `segments/NNNNNN.age.part`, handed to the disk writer when complete.
fn encrypt_worker(
    jobs: Receiver<SealJob>,
    pool: SyncSender<Vec<u8>>,
    disk: DiskQueue<'_>,
    dir: &Path,
    keys: &[EncryptionRecipient],
) -> Result<Vec<Segment>, NodeError> {
    type Writer<'q, 'a> = custos_seal::EncryptingWriter<HashingWriter<SegmentFile<'q, 'a>>>;
    let hash = SegmentHash::of_version(MANIFEST_VERSION);
    let mut done = Vec::new();
    let mut current: Option<(u64, PathBuf, Writer<'_, '_>)> = None;
    for job in jobs {
        match job {
            SealJob::Start(index) => {
                let part = dir.join(format!("{}.part", segment_file_name(index)));
                let file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&part)
                    .map_err(|e| io_err(&part, e))?;
                let direct = enable_direct(&file);
                let file = PartFile {
                    file,
                    path: part.clone(),
                };
                // age writes whole 64 KiB chunks, so no buffer in between.
                let sink = HashingWriter {
                    inner: SegmentFile::new(file, &disk, direct),
                    hasher: SegmentHasher::new(hash),
                    count: 0,
                };
                let writer =
                    custos_seal::encrypt_writer(sink, keys).map_err(|e| io_err(&part, e))?;
                current = Some((index, part, writer));
            }
            SealJob::Data(buf, len) => {
                let Some((_, part, writer)) = current.as_mut() else {
                    return Err(NodeError::Internal(
                        "internal: data before a segment".into(),
                    ));
                };
                writer.write_all(&buf[..len]).map_err(|e| io_err(part, e))?;
                match pool.try_send(buf) {
                    Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
                }
            }
            SealJob::Finish(plain_size) => {
                let Some((index, part, writer)) = current.take() else {
                    return Err(NodeError::Internal("internal: end of no segment".into()));
                };
                let sink = writer.finish().map_err(|e| io_err(&part, e))?;
                let HashingWriter {
                    inner,
                    hasher,
                    count,
                } = sink;
                let (file, size) = inner.finish().map_err(|e| io_err(&part, e))?;
                let final_path = dir.join(segment_file_name(index));
                disk.send(DiskJob::Finish {
                    file,
                    size,
                    final_path,
                })
                .map_err(|e| io_err(&part, e))?;
                done.push(Segment::new(
                    index,
                    plain_size,
                    count,
                    hash,
                    hasher.finalize(),
                ));
            }
        }
    }
    Ok(done)
}

/// Buffers (of [`BUFFER`] bytes) queued per encryption worker while sealing
/// (and per decryption worker while opening or verifying): one segment's
/// worth plus its start and end, at least [`QUEUE`], at most
/// [`MAX_SEAL_QUEUE`].
pub(crate) fn seal_queue_depth(segment_size: u64) -> usize {
    let per_segment = usize::try_from(segment_size.div_ceil(BUFFER as u64)).unwrap_or(usize::MAX);
    per_segment.saturating_add(2).clamp(QUEUE, MAX_SEAL_QUEUE)
}

/// Seals `paths` (files and folders) into a new package folder `out`, which
/// must not exist or be empty. On failure nothing of the package is left.
pub fn seal(
    paths: &[PathBuf],
    opts: &SealOptions,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Sealed, NodeError> {
    if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&opts.segment_size) {
        return Err(package_err(
            out,
            format!(
                "segment size {} is outside {MIN_SEGMENT_SIZE}..={MAX_SEGMENT_SIZE} bytes",
                opts.segment_size
            ),
        ));
    }
    if opts.keys.is_empty() {
        return Err(package_err(out, "no encryption keys to seal to"));
    }
    let items = collect(paths)?;
    let guard = OutputGuard::take(out)?;
    let seg_dir = out.join(SEGMENTS_DIR);
    fs::create_dir(&seg_dir).map_err(|e| io_err(&seg_dir, e))?;

    let total: u64 = items.iter().map(|i| i.size).sum();
    progress.start(total, "sealed");
    // Each worker may hold a whole segment queued, so the reader can start
    // the next segment (for the other worker) while this one is encrypted;
    // capped so memory stays flat for large segments.
    let depth = seal_queue_depth(opts.segment_size);
    let disk_failed = AtomicBool::new(false);
    let (pool_tx, pool_rx) = sync_channel::<Vec<u8>>(WORKERS * (depth + 1));
    let outcome = std::thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        let failed = &disk_failed;
        let (to_disk, disk_jobs) = sync_channel::<DiskJob>(DISK_QUEUE);
        let writer = scope.spawn(move || write_segments(disk_jobs, failed));
        for _ in 0..WORKERS {
            let (tx, rx) = sync_channel::<SealJob>(depth);
            senders.push(tx);
            let pool = pool_tx.clone();
            let (back, returned) = sync_channel::<DirectBuffer>(DISK_QUEUE);
            let disk = DiskQueue {
                jobs: to_disk.clone(),
                pool: returned,
                back,
                failed,
            };
            let seg_dir = &seg_dir;
            let keys = &opts.keys;
            handles.push(scope.spawn(move || encrypt_worker(rx, pool, disk, seg_dir, keys)));
        }
        drop(to_disk);
        let mut stream = Stream {
            segment_size: opts.segment_size,
            offset: 0,
            segment: 0,
            in_segment: 0,
            buf: vec![0u8; BUFFER],
            fill: 0,
            workers: &senders,
            pool: &pool_rx,
        };
        let produced = produce(&items, &mut stream, progress).and_then(|files| {
            let count = stream.finish()?;
            Ok((files, count))
        });
        let size = stream.offset;
        drop(stream);
        drop(senders);
        let mut segments = Vec::new();
        let mut worker_error = None;
        for h in handles {
            match h.join() {
                Ok(Ok(s)) => segments.extend(s),
                Ok(Err(e)) => worker_error = worker_error.or(Some(e)),
                Err(_) => {
                    worker_error = worker_error.or(Some(NodeError::Internal(
                        "internal: an encryption worker panicked".into(),
                    )));
                }
            }
        }
        // Every worker has finished, so the disk writer has every segment.
        // Its failure (a full disk, say) comes first: the workers' errors
        // then only say that it stopped.
        match writer.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => worker_error = Some(e),
            Err(_) => {
                worker_error = Some(NodeError::Internal(
                    "internal: the segment writer panicked".into(),
                ));
            }
        }
        match (produced, worker_error) {
            (Ok((files, count)), None) => Ok((files, count, size, segments)),
            (Err(ProduceError::Node(e)), _) => Err(e),
            (_, Some(e)) => Err(e),
            (Err(ProduceError::Worker), None) => Err(NodeError::Internal(
                "internal: an encryption worker stopped".into(),
            )),
        }
    });
    progress.finish();
    let (files, count, size, mut segments) = outcome?;
    segments.sort_by_key(|s| s.index);
    if segments.len() as u64 != count {
        return Err(NodeError::Internal(format!(
            "internal: {count} segments cut, {} written",
            segments.len()
        )));
    }
    let manifest = Manifest {
        v: MANIFEST_VERSION,
        request: opts.request.clone(),
        sender: opts.sender,
        recipients: opts.recipients.clone(),
        created_at: timestamp::truncate(opts.created_at),
        use_limits: opts.use_limits.clone(),
        confidentiality: opts.confidentiality.clone(),
        totals: Totals {
            files: files.len() as u64,
            bytes: files.iter().map(|f| f.size).sum(),
        },
        files,
        content: Content {
            format: CONTENT_FORMAT.to_owned(),
            size,
            segment_size: opts.segment_size,
        },
        segments,
    };
    // The segments' renames reach the disk before the manifest names them.
    File::open(&seg_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(&seg_dir, e))?;
    let manifest_bytes = sign_manifest(&manifest, &opts.signing_key)?;
    let envelope = custos_seal::Envelope::from_json(&manifest_bytes)
        .map_err(|e| NodeError::Internal(format!("internal: {e}")))?;
    let package_id = custos_protocol::evidence::package_id(&envelope.payload);
    write_atomic(&manifest_path(out), &manifest_bytes)?;
    guard.disarm();
    Ok(Sealed {
        package_id,
        manifest,
        manifest_bytes,
        dir: out.to_owned(),
    })
}

/// Writes `bytes` to a temporary name beside `path`, syncs, and renames.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let tmp = path.with_extension("json.part");
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| io_err(&tmp, e))?;
    file.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
    file.sync_all().map_err(|e| io_err(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

// ---------------------------------------------------------------------------
// Verifying and opening

/// Checks a package: the manifest's signature against `directory`, every
/// segment's size and hash, and, when one of `identities` decrypts it,
/// the decrypted tar stream against every file's size and SHA-256 and the
/// content totals, without writing anything. Reports every mismatch. A
/// manifest that does not verify is an error, not a mismatch.
pub fn verify(
    pkg: &Path,
    directory: &Directory,
    identities: &[EncryptionIdentity],
    progress: &dyn Progress,
) -> Result<Report, NodeError> {
    let verified = load_manifest(pkg, directory)?;
    crate::evidence::unpack::run(pkg, &verified, identities, None, progress)
}

/// Opens a package into `out_dir` (which must not exist or be empty):
/// decrypts, checks every entry against the manifest, writes each file to a
/// temporary name while hashing it and keeps it under its real name only if
/// size and SHA-256 match (with the manifest's modification time). Anything
/// that does not match is deleted and reported.
pub fn open(
    pkg: &Path,
    out_dir: &Path,
    directory: &Directory,
    identities: &[EncryptionIdentity],
    progress: &dyn Progress,
) -> Result<Report, NodeError> {
    let verified = load_manifest(pkg, directory)?;
    if !crate::evidence::unpack::can_decrypt(pkg, &verified.manifest, identities) {
        // Whether a listed recipient's directory entry names one of our keys.
        let ours: Vec<String> = identities.iter().map(|i| i.recipient().to_text()).collect();
        let listed = verified.manifest.recipients.iter().any(|state| {
            directory.entry(*state).is_some_and(|e| {
                e.encryption_keys
                    .iter()
                    .any(|k| ours.contains(&k.key.to_text()))
            })
        });
        return Err(NodeError::CannotDecrypt(verified.package_id, listed));
    }
    let guard = OutputGuard::take(out_dir)?;
    let report = crate::evidence::unpack::run(pkg, &verified, identities, Some(out_dir), progress)?;
    // Verified files stay even when others mismatched.
    guard.disarm();
    Ok(report)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes `data` through a [`SegmentFile`] and the disk writer, in
    /// `pieces`-byte writes, and returns what ended up in the file.
    fn write_through(direct: bool, data: &[u8], piece: usize) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let part = dir.path().join("000000.age.part");
        let final_path = dir.path().join("000000.age");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&part)
            .expect("the part file");
        let direct = direct && enable_direct(&file);
        let failed = AtomicBool::new(false);
        let (jobs, disk_jobs) = sync_channel(DISK_QUEUE);
        let (back, returned) = sync_channel(DISK_QUEUE);
        std::thread::scope(|scope| {
            let writer = scope.spawn(|| write_segments(disk_jobs, &failed));
            let disk = DiskQueue {
                jobs,
                pool: returned,
                back,
                failed: &failed,
            };
            let mut segment = SegmentFile::new(
                PartFile {
                    file,
                    path: part.clone(),
                },
                &disk,
                direct,
            );
            for chunk in data.chunks(piece) {
                segment
                    .write_all(chunk)
                    .expect("the segment takes the bytes");
            }
            let (file, size) = segment.finish().expect("the segment finishes");
            assert_eq!(size, data.len() as u64);
            disk.send(DiskJob::Finish {
                file,
                size,
                final_path: final_path.clone(),
            })
            .expect("the disk writer takes the segment");
            drop(disk);
            writer
                .join()
                .expect("the disk writer does not panic")
                .expect("the disk writer succeeds");
        });
        assert!(!part.exists(), "the part file was renamed");
        fs::read(&final_path).expect("the segment file")
    }

    /// Bytes that differ from their neighbours, `len` of them.
    pub(crate) fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Lengths around the direct buffer and the alignment, where a direct
    /// writer's padding and cutting can go wrong.
    pub(crate) const EDGE_SIZES: [usize; 7] = [
        0,
        1,
        DIRECT_ALIGN - 1,
        DIRECT_ALIGN + 1,
        DIRECT_BUFFER,
        DIRECT_BUFFER + 16,
        3 * DIRECT_BUFFER - 7,
    ];

    #[test]
    fn segment_files_hold_exactly_the_bytes_written_directly_or_through_the_cache() {
        // Sizes around the direct buffer and the alignment, written in age's
        // chunk size and in odd pieces.
        for len in EDGE_SIZES {
            let data = sample(len);
            for piece in [65_552, 4_099] {
                for direct in [true, false] {
                    let written = write_through(direct, &data, piece);
                    assert!(
                        written == data,
                        "{len} bytes in {piece}-byte writes, direct {direct}: the file differs"
                    );
                }
            }
        }
    }

    /// Seals two files into 1 MiB segments (four of them) with fresh keys;
    /// returns the source folder, the package, the identity and the key.
    fn sealed_package() -> (tempfile::TempDir, PathBuf, EncryptionIdentity, SigningKey) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let src = dir.path().join("case");
        fs::create_dir(&src).expect("the source folder");
        fs::write(src.join("image.dd"), sample(3 * DIRECT_BUFFER + 5)).expect("a file");
        fs::write(src.join("notes.txt"), b"seized 2026-11-20").expect("a file");
        let identity = EncryptionIdentity::generate();
        let signing_key = SigningKey::generate();
        let opts = SealOptions {
            request: "req-1".into(),
            sender: "DE".parse().expect("a State code"),
            recipients: vec!["FR".parse().expect("a State code")],
            keys: vec![identity.recipient()],
            signing_key: signing_key.clone(),
            created_at: OffsetDateTime::from_unix_timestamp(1_795_000_000).expect("a time"),
            use_limits: Value::Null,
            confidentiality: Value::Null,
            segment_size: MIN_SEGMENT_SIZE,
        };
        let pkg = dir.path().join("pkg");
        seal(&[src], &opts, &pkg, &NoProgress).expect("the seal");
        (dir, pkg, identity, signing_key)
    }

    /// Verifies `pkg` as the node does once the signature has been checked
    /// (that check is the protocol crate's), with `identities`.
    fn check(pkg: &Path, identities: &[EncryptionIdentity]) -> Report {
        let bytes = read_manifest_bytes(pkg).expect("the manifest");
        let read = custos_protocol::evidence::read_manifest_unverified(&bytes)
            .expect("a well-formed manifest");
        let verified = VerifiedManifest {
            manifest: read.manifest,
            package_id: read.package_id,
            envelope_bytes: bytes,
            keyid: String::new(),
        };
        crate::evidence::unpack::run(pkg, &verified, identities, None, &NoProgress)
            .expect("the package is read")
    }

    /// Flips one byte in the middle of segment 1.
    fn spoil_segment_1(pkg: &Path) {
        let path = segment_path(pkg, 1);
        let mut bytes = fs::read(&path).expect("segment 1");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        fs::write(&path, bytes).expect("segment 1 rewritten");
    }

    #[test]
    fn packages_hash_segments_with_blake3_and_version_1_packages_still_verify() {
        // Version 2, as sealed: BLAKE3 of every segment file.
        let (_dir, pkg, identity, key) = sealed_package();
        let bytes = read_manifest_bytes(&pkg).expect("the manifest");
        let mut manifest = custos_protocol::evidence::read_manifest_unverified(&bytes)
            .expect("a well-formed manifest")
            .manifest;
        assert_eq!(manifest.v, MANIFEST_VERSION);
        assert_eq!(manifest.segments.len(), 4);
        for segment in &manifest.segments {
            let file = fs::read(segment_path(&pkg, segment.index)).expect("a segment");
            assert_eq!(
                segment.digest(),
                (SegmentHash::Blake3, blake3::hash(&file).to_hex().as_str())
            );
        }
        for identities in [vec![identity.clone()], vec![]] {
            let report = check(&pkg, &identities);
            assert!(report.is_ok(), "{:?}", report.mismatches);
            assert_eq!(report.decrypted, !identities.is_empty());
        }

        // The same package re-signed as version 1: SHA-256 of every segment.
        manifest.v = 1;
        for segment in &mut manifest.segments {
            let file = fs::read(segment_path(&pkg, segment.index)).expect("a segment");
            let digest = hex(&Sha256::digest(&file));
            *segment = Segment::new(
                segment.index,
                segment.plain_size,
                segment.size,
                SegmentHash::Sha256,
                digest,
            );
        }
        let v1 = sign_manifest(&manifest, &key).expect("a version 1 manifest signs");
        write_atomic(&manifest_path(&pkg), &v1).expect("the manifest is replaced");
        for identities in [vec![identity.clone()], vec![]] {
            let report = check(&pkg, &identities);
            assert!(report.is_ok(), "{:?}", report.mismatches);
            assert_eq!(
                report.files_verified,
                if identities.is_empty() { 0 } else { 2 }
            );
        }

        // A changed byte is named, with the hash the version uses.
        spoil_segment_1(&pkg);
        let report = check(&pkg, &[]);
        assert_eq!(report.mismatches.len(), 1, "{:?}", report.mismatches);
        assert_eq!(report.mismatches[0].subject, "segments/000001.age");
        assert!(report.mismatches[0].problem.starts_with("SHA-256 is "));
        let (_dir, pkg, _, _) = sealed_package();
        spoil_segment_1(&pkg);
        let report = check(&pkg, &[]);
        assert_eq!(report.mismatches.len(), 1, "{:?}", report.mismatches);
        assert_eq!(report.mismatches[0].subject, "segments/000001.age");
        assert!(report.mismatches[0].problem.starts_with("BLAKE3 is "));
    }
}
