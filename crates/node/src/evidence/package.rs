//! Evidence packages on disk: sealing files and folders into a package
//! folder, verifying one, and opening one into a folder of verified files.
//!
//! A package is a folder holding `manifest.dsse.json` (the signed manifest,
//! [`custos_protocol::evidence::Manifest`]) and `segments/NNNNNN.age`, the tar
//! stream of the sealed files cut into segments and each encrypted as an
//! ordinary age file. The format is in `docs/formats/evidence.md`.
//!
//! Sealing streams: one thread walks the files in a fixed order, reads them,
//! hashes each file and the whole tar stream and cuts the stream into 1 MiB
//! buffers; two workers encrypt alternate segments to the recipients and hash
//! the ciphertext as it is written. Queues between them are bounded, so memory
//! stays flat whatever the size. Each segment is written to `NNNNNN.age.part`
//! and renamed when complete; the manifest is written last, atomically. On
//! any failure the folder is removed (or emptied, if it existed).
//!
//! Inputs: regular files and folders only. Symbolic links are refused
//! whether they point inside or outside the sealed folders (a package holds
//! the files themselves, never a link to follow on another machine), and so
//! are devices, FIFOs and sockets, paths with `..`, and names that are not
//! UTF-8 or not valid package paths. Every refusal names the path.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use custos_model::StateCode;
use custos_protocol::evidence::{
    CONTENT_FORMAT, Content, FileEntry, MANIFEST_VERSION, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE,
    Manifest, Segment, Totals, VerifiedManifest, check_relative_path, segment_file_name,
    sign_manifest, verify_manifest,
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
/// The largest manifest read (a manifest lists every file, so allow many).
pub const MAX_MANIFEST_BYTES: u64 = 256 << 20;

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
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(&path, e))?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
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

/// Checks one segment file against its manifest entry: size, then SHA-256
/// of the bytes. `None` when it matches.
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
    match hash_file(path) {
        Ok((size, digest)) if size == segment.size && digest == segment.sha256 => None,
        Ok((_, digest)) => Some(Mismatch::new(
            subject,
            format!("SHA-256 is {digest}, the manifest says {}", segment.sha256),
        )),
        Err(e) => Some(Mismatch::new(subject, format!("cannot read: {e}"))),
    }
}

/// Size and SHA-256 (hex) of a file.
pub(crate) fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
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
    Ok((size, hex(&hasher.finalize())))
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

/// A writer that hashes and counts what passes through.
pub(crate) struct HashingWriter<W> {
    pub(crate) inner: W,
    pub(crate) hasher: Sha256,
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

/// A finished segment file on its way to disk: synced, then renamed from its
/// `.part` name to its final one.
struct Finished {
    file: File,
    part: PathBuf,
    final_path: PathBuf,
}

/// Syncs and renames finished segments, one after the other, off the
/// encryption workers' threads (which stay busy encrypting the next ones).
/// Returns the first failure.
fn sync_segments(finished: Receiver<Finished>) -> Result<(), NodeError> {
    let mut failure = None;
    for f in finished {
        if failure.is_some() {
            continue;
        }
        let done = f
            .file
            .sync_all()
            .map_err(|e| io_err(&f.part, e))
            .and_then(|()| {
                fs::rename(&f.part, &f.final_path).map_err(|e| io_err(&f.final_path, e))
            });
        failure = done.err();
    }
    failure.map_or(Ok(()), Err)
}

/// An encryption worker: encrypts the segments it is given, in order, each
/// to `segments/NNNNNN.age.part`, handed to `finished` when complete.
fn encrypt_worker(
    jobs: Receiver<SealJob>,
    pool: SyncSender<Vec<u8>>,
    finished: SyncSender<Finished>,
    dir: &Path,
    keys: &[EncryptionRecipient],
) -> Result<Vec<Segment>, NodeError> {
    type Writer = custos_seal::EncryptingWriter<HashingWriter<BufWriter<File>>>;
    let mut done = Vec::new();
    let mut current: Option<(u64, PathBuf, Writer)> = None;
    for job in jobs {
        match job {
            SealJob::Start(index) => {
                let part = dir.join(format!("{}.part", segment_file_name(index)));
                let file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&part)
                    .map_err(|e| io_err(&part, e))?;
                let sink = HashingWriter {
                    inner: BufWriter::with_capacity(256 << 10, file),
                    hasher: Sha256::new(),
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
                let file = inner.into_inner().map_err(|e| io_err(&part, e.error()))?;
                let final_path = dir.join(segment_file_name(index));
                finished
                    .send(Finished {
                        file,
                        part,
                        final_path,
                    })
                    .map_err(|_| {
                        NodeError::Internal("internal: the segment syncer stopped".into())
                    })?;
                done.push(Segment {
                    index,
                    plain_size,
                    size: count,
                    sha256: hex(&hasher.finalize()),
                });
            }
        }
    }
    Ok(done)
}

/// Buffers (of [`BUFFER`] bytes) queued per encryption worker while sealing:
/// one segment's worth plus its start and end, at least [`QUEUE`], at most
/// [`MAX_SEAL_QUEUE`].
fn seal_queue_depth(segment_size: u64) -> usize {
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
    let (pool_tx, pool_rx) = sync_channel::<Vec<u8>>(WORKERS * (depth + 1));
    let outcome = std::thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        let (finished, to_sync) = sync_channel::<Finished>(WORKERS);
        let syncer = scope.spawn(move || sync_segments(to_sync));
        for _ in 0..WORKERS {
            let (tx, rx) = sync_channel::<SealJob>(depth);
            senders.push(tx);
            let pool = pool_tx.clone();
            let finished = finished.clone();
            let seg_dir = &seg_dir;
            let keys = &opts.keys;
            handles.push(scope.spawn(move || encrypt_worker(rx, pool, finished, seg_dir, keys)));
        }
        drop(finished);
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
        // Every worker has finished, so the syncer has every segment.
        match syncer.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => worker_error = worker_error.or(Some(e)),
            Err(_) => {
                worker_error = worker_error.or(Some(NodeError::Internal(
                    "internal: the segment syncer panicked".into(),
                )));
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
/// segment's size and SHA-256, and, when one of `identities` decrypts it,
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
        return Err(NodeError::CannotDecrypt(verified.package_id));
    }
    let guard = OutputGuard::take(out_dir)?;
    let report = crate::evidence::unpack::run(pkg, &verified, identities, Some(out_dir), progress)?;
    // Verified files stay even when others mismatched.
    guard.disarm();
    Ok(report)
}
