//! Files uploaded through a face (the desk, the client API) for sealing
//! into an evidence package: an upload has an id, the file's declared name
//! and size, and the case it is for, and arrives chunk by chunk at an offset.
//!
//! An upload lives in `DATA/evidence/uploads/<id>/`: `upload.json` (what it
//! is) and `files/<name>`, the bytes received so far. The file's length is
//! the upload's progress, so it survives a cut connection and a restart of
//! the node: the status gives the offset to continue from, and a chunk that
//! does not start there is refused ([`UploadError::WrongOffset`]). One chunk
//! at a time is written (an advisory lock on the file); a second writer is
//! told to ask the status again. An upload is its starter's alone: another
//! person does not see it. Sealing ([`Node::seal_uploads`]) takes complete
//! uploads and removes them once the package is made.

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

const META_FILE: &str = "upload.json";
const FILES_DIR: &str = "files";

/// Why an upload or one of its chunks was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The chunk does not start where the bytes received so far end.
    #[error(
        "the chunk starts at byte {got} but {expected} bytes were received: continue from byte {expected}"
    )]
    WrongOffset { expected: u64, got: u64 },
    /// The chunk would make the file longer than declared.
    #[error("the chunk would make the file longer than its declared {size} bytes")]
    PastEnd { size: u64 },
    /// The declared size or a chunk is larger than the node takes.
    #[error("{what} of {size} bytes is larger than the {limit} bytes allowed")]
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    /// Another chunk of the same upload is being written.
    #[error(
        "another chunk of this upload is being written; ask its status and continue from there"
    )]
    Busy,
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
    /// The bytes received so far: where the next chunk starts.
    pub received: u64,
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
}

impl UploadMeta {
    pub(crate) fn file(&self, root: &Path) -> PathBuf {
        root.join(&self.id).join(FILES_DIR).join(&self.name)
    }

    fn view(&self, received: u64) -> UploadView {
        UploadView {
            id: self.id.clone(),
            case: self.case.clone(),
            name: self.name.clone(),
            size: self.size,
            received,
            complete: received == self.size,
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
        };
        let dir = root.join(&meta.id);
        let files = dir.join(FILES_DIR);
        fs::create_dir_all(&files).map_err(io(&files))?;
        File::create(meta.file(&root)).map_err(io(&files))?;
        let text = serde_json::to_vec_pretty(&meta)
            .map_err(|e| NodeError::Internal(format!("upload record: {e}")))?;
        let meta_path = dir.join(META_FILE);
        fs::write(&meta_path, text).map_err(io(&meta_path))?;
        Ok(meta.view(0))
    }

    /// The upload `id` and the bytes it received so far (operation
    /// `seal-evidence` on its case).
    pub async fn upload_status(&self, actor: &Actor, id: &str) -> Result<UploadView, NodeError> {
        let meta = self.upload_meta(actor, id)?;
        self.authorize(actor, Operation::SealEvidence, Some(&meta.case))
            .await?;
        let file = meta.file(&self.uploads_root());
        let received = fs::metadata(&file).map_err(io(&file))?.len();
        Ok(meta.view(received))
    }

    /// Writes `chunk` at byte `offset` of upload `id`: refused unless
    /// `offset` is where the bytes received so far end and the chunk stays
    /// within the declared size. The last chunk is synced to disk.
    pub async fn upload_chunk(
        &self,
        actor: &Actor,
        id: &str,
        offset: u64,
        chunk: &[u8],
    ) -> Result<UploadView, NodeError> {
        let meta = self.upload_meta(actor, id)?;
        self.authorize(actor, Operation::SealEvidence, Some(&meta.case))
            .await?;
        if chunk.len() > MAX_CHUNK_BYTES {
            return Err(UploadError::TooLarge {
                what: "the chunk",
                size: chunk.len() as u64,
                limit: MAX_CHUNK_BYTES as u64,
            }
            .into());
        }
        let path = meta.file(&self.uploads_root());
        let data = chunk.to_vec();
        let size = meta.size;
        let received = tokio::task::spawn_blocking(move || write_chunk(&path, size, offset, &data))
            .await
            .map_err(|e| NodeError::Internal(format!("upload task failed: {e}")))??;
        Ok(meta.view(received))
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
                let received = fs::metadata(m.file(&root)).map_or(0, |md| md.len());
                m.view(received)
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

/// Writes `data` at `offset` of the file at `path` declared `size` bytes
/// long, under an exclusive lock; gives the bytes received after it.
fn write_chunk(path: &Path, size: u64, offset: u64, data: &[u8]) -> Result<u64, NodeError> {
    use std::os::unix::fs::FileExt as _;
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io(path))?;
    if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        return Err(UploadError::Busy.into());
    }
    let received = file.metadata().map_err(io(path))?.len();
    if offset != received {
        return Err(UploadError::WrongOffset {
            expected: received,
            got: offset,
        }
        .into());
    }
    let end = received.saturating_add(data.len() as u64);
    if end > size {
        return Err(UploadError::PastEnd { size }.into());
    }
    file.write_all_at(data, offset).map_err(io(path))?;
    if end == size {
        file.sync_all().map_err(io(path))?;
    }
    Ok(end)
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
    fn chunks_go_only_where_the_bytes_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap();
        assert_eq!(write_chunk(&path, 10, 0, b"abcd").unwrap(), 4);
        let err = write_chunk(&path, 10, 0, b"abcd").unwrap_err();
        assert!(matches!(
            err,
            NodeError::Upload(UploadError::WrongOffset {
                expected: 4,
                got: 0
            })
        ));
        let err = write_chunk(&path, 10, 4, b"efghijk").unwrap_err();
        assert!(matches!(
            err,
            NodeError::Upload(UploadError::PastEnd { size: 10 })
        ));
        assert_eq!(write_chunk(&path, 10, 4, b"efghij").unwrap(), 10);
        assert_eq!(fs::read(&path).unwrap(), b"abcdefghij");
    }
}
