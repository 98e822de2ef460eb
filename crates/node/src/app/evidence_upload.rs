//! Files uploaded through a face (the desk, the client API) for sealing
//! into an evidence package: an upload has an id, the file's declared name
//! and size, and the case it is for, and arrives chunk by chunk, each chunk
//! at the offset it belongs at.
//!
//! An upload lives in `DATA/evidence/uploads/<id>/`: `upload.json` (what it
//! is), `files/<name>` (the file, written where each chunk belongs, so it may
//! have holes until complete) and `received.json`, the byte ranges of the
//! file that are written. A chunk's range is added to `received.json` only
//! after its bytes are written and synced to disk, and the record is
//! replaced whole (a temporary file renamed over it) under an advisory lock
//! on the file, so it never names bytes that are not on disk, and it
//! survives a cut connection and a restart of the node: the status gives the
//! ranges still missing. Chunks may arrive in any order and several at once;
//! a chunk sent twice writes the same bytes again. An upload started before
//! the record existed (its `upload.json` does not say `ranges`) has its
//! file's length as its one received range, as that version wrote chunks
//! only at the end. An upload is its starter's alone: another person does
//! not see it. Sealing ([`Node::seal_uploads`]) takes complete uploads and
//! removes them once the package is made.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Actor;
use super::access::Operation;
use crate::{Node, NodeError};

/// The largest chunk one call takes.
pub const MAX_CHUNK_BYTES: usize = 64 << 20;
/// The largest file one upload may declare (1 TiB).
pub const MAX_UPLOAD_BYTES: u64 = 1 << 40;
/// The most separate pieces the received bytes of one upload may form; a
/// chunk that would leave more is refused until gaps are filled, so the
/// record stays small.
pub const MAX_RECEIVED_PIECES: usize = 1024;

const META_FILE: &str = "upload.json";
const FILES_DIR: &str = "files";
const RECEIVED_FILE: &str = "received.json";
const RECEIVED_TMP: &str = "received.json.tmp";

/// Why an upload or one of its chunks was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The chunk would leave the received bytes in too many separate pieces.
    #[error(
        "the chunk would leave the upload in more than {limit} separate pieces: send the missing ranges between them first"
    )]
    Scattered { limit: usize },
    /// The chunk would end past the declared size.
    #[error("the chunk would end past the file's declared {size} bytes")]
    PastEnd { size: u64 },
    /// The declared size or a chunk is larger than the node takes.
    #[error("{what} of {size} bytes is larger than the {limit} bytes allowed")]
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    /// The file name cannot be a name in a package.
    #[error("the file name {name:?} cannot be used: {why}")]
    BadName { name: String, why: &'static str },
    /// The disk would not hold the file and its sealed copy.
    #[error(
        "the node has {available} bytes free; {needed} are needed for this file and its sealed copy"
    )]
    NoSpace { needed: u64, available: u64 },
    /// Sealing an upload that has not received all its bytes.
    #[error("the upload of {name:?} has {received} of its {size} bytes; finish it before sealing")]
    Incomplete {
        name: String,
        received: u64,
        size: u64,
    },
}

/// Bytes of a file: from `start` up to, not including, `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ByteRange {
    /// The first byte.
    pub start: u64,
    /// The byte after the last.
    pub end: u64,
}

/// An upload as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadView {
    /// The upload's id (32 hex digits).
    pub id: String,
    /// The case (request) the file is for.
    pub case: String,
    /// The file's name, as it will be named in the package.
    pub name: String,
    /// The declared size in bytes.
    pub size: u64,
    /// The bytes received so far, wherever they are in the file.
    pub received: u64,
    /// The ranges not received yet, in order (empty once complete): what
    /// to send, at any offset, in any order.
    pub missing: Vec<ByteRange>,
    /// Whether every byte arrived.
    pub complete: bool,
    /// When the upload was started, in RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub started_at: OffsetDateTime,
}

/// What `upload.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct UploadMeta {
    pub(crate) id: String,
    pub(crate) case: String,
    pub(crate) name: String,
    pub(crate) size: u64,
    /// The person who started it (the actor's label).
    pub(crate) owner: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) started_at: OffsetDateTime,
    /// Whether the upload keeps `received.json` (false for an upload
    /// started by a version that took chunks only at the file's end).
    #[serde(default)]
    pub(crate) ranges: bool,
}

/// The received ranges of a file: sorted, each non-empty, neither
/// overlapping nor touching the next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Received(Vec<(u64, u64)>);

impl Received {
    /// The ranges read from the record, if they are well formed and within
    /// `size`.
    fn checked(pairs: Vec<(u64, u64)>, size: u64) -> Option<Self> {
        let mut last_end = None;
        for &(start, end) in &pairs {
            if start >= end || end > size || last_end.is_some_and(|e| start <= e) {
                return None;
            }
            last_end = Some(end);
        }
        Some(Self(pairs))
    }

    /// Adds `start..end`, merging it with the ranges it overlaps or touches.
    fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let first = self.0.partition_point(|r| r.1 < start);
        let after = self.0.partition_point(|r| r.0 <= end);
        if first == after {
            self.0.insert(first, (start, end));
        } else {
            let merged = (start.min(self.0[first].0), end.max(self.0[after - 1].1));
            self.0.splice(first..after, [merged]);
        }
    }

    /// The bytes received.
    pub(crate) fn total(&self) -> u64 {
        self.0.iter().map(|(s, e)| e - s).sum()
    }

    /// The ranges of a `size`-byte file not received.
    fn missing(&self, size: u64) -> Vec<ByteRange> {
        let mut out = Vec::new();
        let mut at = 0;
        for &(start, end) in &self.0 {
            if start > at {
                out.push(ByteRange {
                    start: at,
                    end: start,
                });
            }
            at = end;
        }
        if at < size {
            out.push(ByteRange {
                start: at,
                end: size,
            });
        }
        out
    }
}

impl UploadMeta {
    pub(crate) fn file(&self, root: &Path) -> PathBuf {
        root.join(&self.id).join(FILES_DIR).join(&self.name)
    }

    fn dir(&self, root: &Path) -> PathBuf {
        root.join(&self.id)
    }

    /// The ranges of the file received so far, as recorded (see the
    /// module's documentation).
    pub(crate) fn received(&self, root: &Path) -> Result<Received, NodeError> {
        read_received(&self.dir(root), &self.file(root), self.size, self.ranges)
    }

    fn view(&self, received: &Received) -> UploadView {
        let total = received.total();
        UploadView {
            id: self.id.clone(),
            case: self.case.clone(),
            name: self.name.clone(),
            size: self.size,
            received: total,
            missing: received.missing(self.size),
            complete: total == self.size,
            started_at: self.started_at,
        }
    }
}

/// Where uploads wait to be sealed.
pub fn uploads_root(data_dir: &Path) -> PathBuf {
    data_dir.join("evidence").join("uploads")
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> NodeError + '_ {
    move |e| NodeError::Io {
        path: path.display().to_string(),
        problem: e.to_string(),
    }
}

/// Refuses a name that is not one plain file name.
fn check_name(name: &str) -> Result<(), UploadError> {
    let bad = |why| {
        Err(UploadError::BadName {
            name: name.to_owned(),
            why,
        })
    };
    if name.is_empty() || name.trim().is_empty() {
        return bad("it is empty");
    }
    if name.len() > 255 {
        return bad("it is longer than 255 bytes");
    }
    if name == "." || name == ".." || name.contains('/') || name.contains('\\') {
        return bad("it must be a file name, not a path");
    }
    if name.chars().any(char::is_control) {
        return bad("it holds control characters");
    }
    Ok(())
}

/// A fresh upload id: 128 random bits in hex.
fn new_id() -> Result<String, NodeError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| NodeError::Internal(format!("no randomness for an upload id: {e}")))?;
    Ok(hex::encode(bytes))
}

fn is_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The bytes an unprivileged process may still write where `dir` is.
fn free_space(dir: &Path) -> Result<u64, NodeError> {
    let stat = rustix::fs::statvfs(dir).map_err(|e| io(dir)(e.into()))?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

impl Node {
    fn uploads_root(&self) -> PathBuf {
        uploads_root(&self.settings.data_dir)
    }

    /// The upload `id` if `actor` started it (another person's is not found).
    pub(crate) fn upload_meta(&self, actor: &Actor, id: &str) -> Result<UploadMeta, NodeError> {
        let missing = || NodeError::NotFound(format!("no upload {id:?}"));
        if !is_id(id) {
            return Err(missing());
        }
        let path = self.uploads_root().join(id).join(META_FILE);
        let Ok(bytes) = fs::read(&path) else {
            return Err(missing());
        };
        let meta: UploadMeta = serde_json::from_slice(&bytes).map_err(|e| NodeError::Corrupt {
            what: path.display().to_string(),
            problem: e.to_string(),
        })?;
        if meta.owner != actor.label() || meta.id != id {
            return Err(missing());
        }
        Ok(meta)
    }

    /// Starts the upload of a file `name` of `size` bytes for case `case`
    /// (operation `seal-evidence` on the case): checks the name, the size
    /// and that the disk holds the file twice (it and its sealed copy)
    /// beside the reserve kept for incoming packages.
    pub async fn start_upload(
        &self,
        actor: &Actor,
        case: &str,
        name: &str,
        size: u64,
    ) -> Result<UploadView, NodeError> {
        self.authorize(actor, Operation::SealEvidence, Some(case))
            .await?;
        // The case must be one of this node's.
        self.request_detail(case).await?;
        check_name(name)?;
        if size > MAX_UPLOAD_BYTES {
            return Err(UploadError::TooLarge {
                what: "the file",
                size,
                limit: MAX_UPLOAD_BYTES,
            }
            .into());
        }
        let root = self.uploads_root();
        fs::create_dir_all(&root).map_err(io(&root))?;
        let needed = size
            .saturating_mul(2)
            .saturating_add(self.settings.evidence.reserve_bytes);
        let available = free_space(&root)?;
        if available < needed {
            return Err(UploadError::NoSpace { needed, available }.into());
        }
        let meta = UploadMeta {
            id: new_id()?,
            case: case.to_owned(),
            name: name.to_owned(),
            size,
            owner: actor.label(),
            started_at: self.clock.now(),
            ranges: true,
        };
        let dir = meta.dir(&root);
        let files = dir.join(FILES_DIR);
        fs::create_dir_all(&files).map_err(io(&files))?;
        File::create(meta.file(&root)).map_err(io(&files))?;
        let received = Received::default();
        write_received(&dir, &received, false)?;
        let text = serde_json::to_vec_pretty(&meta)
            .map_err(|e| NodeError::Internal(format!("upload record: {e}")))?;
        let meta_path = dir.join(META_FILE);
        fs::write(&meta_path, text).map_err(io(&meta_path))?;
        Ok(meta.view(&received))
    }

    /// The upload `id`, the bytes it received so far and the ranges it
    /// still misses (operation `seal-evidence` on its case).
    pub async fn upload_status(&self, actor: &Actor, id: &str) -> Result<UploadView, NodeError> {
        let meta = self.upload_meta(actor, id)?;
        self.authorize(actor, Operation::SealEvidence, Some(&meta.case))
            .await?;
        let received = meta.received(&self.uploads_root())?;
        Ok(meta.view(&received))
    }

    /// Writes `chunk` at byte `offset` of upload `id`, at any offset where
    /// it ends within the declared size, and gives the upload's status
    /// after it. Chunks of one upload may be written at the same time; one
    /// sent again writes its bytes again. Its bytes are synced to disk
    /// before they count as received. The chunk is moved to the blocking
    /// thread that writes it, not copied (a face passes its body as it is).
    pub async fn upload_chunk(
        &self,
        actor: &Actor,
        id: &str,
        offset: u64,
        chunk: impl AsRef<[u8]> + Send + 'static,
    ) -> Result<UploadView, NodeError> {
        let meta = self.upload_meta(actor, id)?;
        self.authorize(actor, Operation::SealEvidence, Some(&meta.case))
            .await?;
        let len = chunk.as_ref().len();
        if len > MAX_CHUNK_BYTES {
            return Err(UploadError::TooLarge {
                what: "the chunk",
                size: len as u64,
                limit: MAX_CHUNK_BYTES as u64,
            }
            .into());
        }
        let root = self.uploads_root();
        let (dir, path) = (meta.dir(&root), meta.file(&root));
        let (size, ranges) = (meta.size, meta.ranges);
        let received = tokio::task::spawn_blocking(move || {
            write_chunk(&dir, &path, size, ranges, offset, chunk.as_ref())
        })
        .await
        .map_err(|e| NodeError::Internal(format!("upload task failed: {e}")))??;
        Ok(meta.view(&received))
    }

    /// This person's uploads for case `case`, oldest first.
    pub async fn case_uploads(
        &self,
        actor: &Actor,
        case: &str,
    ) -> Result<Vec<UploadView>, NodeError> {
        self.authorize(actor, Operation::SealEvidence, Some(case))
            .await?;
        Ok(self.uploads_of(actor, case))
    }

    /// [`Node::case_uploads`] without the access check.
    pub(crate) fn uploads_of(&self, actor: &Actor, case: &str) -> Vec<UploadView> {
        let root = self.uploads_root();
        let Ok(entries) = fs::read_dir(&root) else {
            return Vec::new();
        };
        let mut uploads: Vec<UploadView> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|id| self.upload_meta(actor, &id).ok())
            .filter(|m| m.case == case)
            .map(|m| {
                let received = m.received(&root).unwrap_or_default();
                m.view(&received)
            })
            .collect();
        uploads.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
        uploads
    }

    /// Removes upload `id` and its bytes.
    pub async fn discard_upload(&self, actor: &Actor, id: &str) -> Result<(), NodeError> {
        let meta = self.upload_meta(actor, id)?;
        self.authorize(actor, Operation::SealEvidence, Some(&meta.case))
            .await?;
        let dir = self.uploads_root().join(&meta.id);
        fs::remove_dir_all(&dir).map_err(io(&dir))
    }
}

/// The received ranges of the upload in `dir` whose file is `file`: the
/// record when there is one (an unreadable record counts as nothing
/// received: the bytes are sent again); without one, nothing for an upload
/// that keeps a record, and the file's length for one that did not.
fn read_received(dir: &Path, file: &Path, size: u64, ranges: bool) -> Result<Received, NodeError> {
    let path = dir.join(RECEIVED_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let pairs = serde_json::from_slice::<Vec<(u64, u64)>>(&bytes).ok();
            match pairs.and_then(|p| Received::checked(p, size)) {
                Some(received) => Ok(received),
                None => {
                    tracing::warn!(
                        path = %path.display(),
                        "an upload's record of received bytes is unreadable; its bytes will be asked for again"
                    );
                    Ok(Received::default())
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut received = Received::default();
            if !ranges {
                let len = fs::metadata(file).map_err(io(file))?.len();
                received.add(0, len.min(size));
            }
            Ok(received)
        }
        Err(e) => Err(io(&path)(e)),
    }
}

/// Replaces the record in `dir` with `received` (a temporary file renamed
/// over it, so a reader sees the old record or the new one). The caller
/// holds the upload's lock.
fn write_received(dir: &Path, received: &Received, sync: bool) -> Result<(), NodeError> {
    let tmp = dir.join(RECEIVED_TMP);
    let path = dir.join(RECEIVED_FILE);
    let text = serde_json::to_vec(&received.0)
        .map_err(|e| NodeError::Internal(format!("upload record: {e}")))?;
    fs::write(&tmp, text).map_err(io(&tmp))?;
    if sync {
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io(&tmp))?;
    }
    fs::rename(&tmp, &path).map_err(io(&path))?;
    if sync {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

/// Takes the upload's lock, an exclusive `flock` on its file (which is never
/// replaced), waiting for another holder; it ends when `file` is closed or
/// unlocked.
fn lock(file: &File, path: &Path) -> Result<(), NodeError> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| io(path)(e.into()))
}

/// Writes `data` at `offset` of the upload whose folder is `dir`, file
/// `path` and declared size `size`; gives the ranges received after it.
///
/// The bytes are written and synced first, then their range is added to
/// the record under the lock; nothing else is locked, so chunks at other
/// offsets are written at the same time. The file is synced whole when
/// the upload becomes complete.
fn write_chunk(
    dir: &Path,
    path: &Path,
    size: u64,
    ranges: bool,
    offset: u64,
    data: &[u8],
) -> Result<Received, NodeError> {
    use std::os::unix::fs::FileExt as _;
    let end = offset
        .checked_add(data.len() as u64)
        .filter(|end| *end <= size)
        .ok_or(UploadError::PastEnd { size })?;
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io(path))?;
    if !ranges && !dir.join(RECEIVED_FILE).exists() {
        // An upload of the earlier kind: its file's length becomes its
        // record before a byte lands past that length.
        lock(&file, path)?;
        if !dir.join(RECEIVED_FILE).exists() {
            let received = read_received(dir, path, size, false)?;
            write_received(dir, &received, true)?;
        }
        rustix::fs::flock(&file, rustix::fs::FlockOperation::Unlock)
            .map_err(|e| io(path)(e.into()))?;
    }
    let mut probe = read_received(dir, path, size, true)?;
    if data.is_empty() {
        return Ok(probe);
    }
    probe.add(offset, end);
    if probe.0.len() > MAX_RECEIVED_PIECES {
        return Err(UploadError::Scattered {
            limit: MAX_RECEIVED_PIECES,
        }
        .into());
    }
    file.write_all_at(data, offset).map_err(io(path))?;
    file.sync_data().map_err(io(path))?;
    lock(&file, path)?;
    let mut received = read_received(dir, path, size, true)?;
    let was_complete = received.total() == size;
    received.add(offset, end);
    let complete = received.total() == size;
    if complete && !was_complete {
        file.sync_all().map_err(io(path))?;
    }
    write_received(dir, &received, complete)?;
    Ok(received)
    // The lock ends with `file`.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_file_names() {
        assert!(check_name("image.dd").is_ok());
        assert!(check_name("отчёт 2026.pdf").is_ok());
        for bad in ["", " ", ".", "..", "a/b", "a\\b", "a\nb"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"x".repeat(256)).is_err());
    }

    #[test]
    fn ranges_merge_what_overlaps_or_touches() {
        let mut r = Received::default();
        r.add(10, 20);
        r.add(30, 40);
        r.add(0, 5);
        assert_eq!(r.0, [(0, 5), (10, 20), (30, 40)]);
        r.add(20, 30);
        assert_eq!(r.0, [(0, 5), (10, 40)]);
        r.add(3, 12);
        assert_eq!(r.0, [(0, 40)]);
        r.add(5, 7);
        r.add(7, 7);
        assert_eq!(r.0, [(0, 40)]);
        r.add(45, 50);
        assert_eq!(r.total(), 45);
        assert_eq!(
            r.missing(60),
            [
                ByteRange { start: 40, end: 45 },
                ByteRange { start: 50, end: 60 }
            ]
        );
        assert!(Received::default().missing(0).is_empty());
        // A record is taken only if it could have been written.
        assert!(Received::checked(vec![(0, 4), (6, 8)], 8).is_some());
        for bad in [
            vec![(0, 4), (4, 8)],
            vec![(4, 4)],
            vec![(6, 8), (0, 4)],
            vec![(0, 9)],
        ] {
            assert!(Received::checked(bad.clone(), 8).is_none(), "{bad:?}");
        }
    }

    fn upload() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap();
        (dir, path)
    }

    #[test]
    fn chunks_land_in_any_order_and_only_within_the_size() {
        let (dir, path) = upload();
        let write = |offset, data: &[u8]| write_chunk(dir.path(), &path, 10, true, offset, data);
        assert_eq!(write(6, b"ghij").unwrap().0, [(6, 10)]);
        assert_eq!(write(0, b"abc").unwrap().0, [(0, 3), (6, 10)]);
        // The same bytes again change nothing.
        assert_eq!(write(0, b"abc").unwrap().0, [(0, 3), (6, 10)]);
        for (offset, data) in [(8, &b"xyz"[..]), (10, b"x"), (u64::MAX, b"x")] {
            let err = write(offset, data).unwrap_err();
            assert!(
                matches!(err, NodeError::Upload(UploadError::PastEnd { size: 10 })),
                "{err}"
            );
        }
        let restarted = read_received(dir.path(), &path, 10, true).unwrap();
        assert_eq!(restarted.missing(10), [ByteRange { start: 3, end: 6 }]);
        assert_eq!(write(3, b"def").unwrap().0, [(0, 10)]);
        assert_eq!(fs::read(&path).unwrap(), b"abcdefghij");
    }

    #[test]
    fn an_upload_without_a_record_counts_its_files_length() {
        let (dir, path) = upload();
        fs::write(&path, b"abcd").unwrap();
        let legacy = read_received(dir.path(), &path, 10, false).unwrap();
        assert_eq!(legacy.0, [(0, 4)]);
        // A chunk past the gap: the length is recorded before it lands.
        assert_eq!(
            write_chunk(dir.path(), &path, 10, false, 8, b"ij")
                .unwrap()
                .0,
            [(0, 4), (8, 10)]
        );
        assert_eq!(
            read_received(dir.path(), &path, 10, false).unwrap().0,
            [(0, 4), (8, 10)]
        );
        assert_eq!(
            write_chunk(dir.path(), &path, 10, false, 4, b"efgh")
                .unwrap()
                .0,
            [(0, 10)]
        );
        assert_eq!(fs::read(&path).unwrap(), b"abcdefghij");
    }

    #[test]
    fn an_unreadable_record_counts_as_nothing_received() {
        let (dir, path) = upload();
        write_chunk(dir.path(), &path, 10, true, 0, b"abcd").unwrap();
        fs::write(dir.path().join(RECEIVED_FILE), b"[[0,").unwrap();
        assert_eq!(
            read_received(dir.path(), &path, 10, true).unwrap().total(),
            0
        );
        fs::write(dir.path().join(RECEIVED_FILE), b"[[0,11]]").unwrap();
        assert_eq!(
            read_received(dir.path(), &path, 10, true).unwrap().total(),
            0
        );
    }

    #[test]
    fn too_many_pieces_are_refused() {
        let size = 4 * MAX_RECEIVED_PIECES as u64;
        let (dir, path) = upload();
        for i in 0..MAX_RECEIVED_PIECES as u64 {
            write_chunk(dir.path(), &path, size, true, 2 * i, b"x").unwrap();
        }
        let err = write_chunk(dir.path(), &path, size, true, size - 1, b"x").unwrap_err();
        assert!(
            matches!(err, NodeError::Upload(UploadError::Scattered { .. })),
            "{err}"
        );
        // Filling a gap is still taken.
        let r = write_chunk(dir.path(), &path, size, true, 1, b"x").unwrap();
        assert_eq!(r.0.len(), MAX_RECEIVED_PIECES - 1);
    }

    #[test]
    fn chunks_written_at_once_from_several_threads_all_count() {
        let size = 64 * 1024;
        let (dir, path) = upload();
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (dir, path, data) = (dir.path(), &path, &data);
                s.spawn(move || {
                    // Each thread sends every fourth 1 KiB chunk, backwards.
                    for i in (0..16u64).rev() {
                        let at = (i * 4 + t) * 1024;
                        let chunk = &data[at as usize..at as usize + 1024];
                        write_chunk(dir, path, size, true, at, chunk).unwrap();
                    }
                });
            }
        });
        let received = read_received(dir.path(), &path, size, true).unwrap();
        assert_eq!(received.0, [(0, size)]);
        assert_eq!(fs::read(&path).unwrap(), data);
    }
}
