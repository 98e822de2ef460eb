//! One segment of an evidence package being received: streamed to its
//! `.part` file (direct I/O where the file system allows it) while it is
//! hashed, then checked against the signed manifest (size, hash) and
//! trial-decrypted with the node's keys, and only then synced and renamed
//! to its final name. Dropped before it finished, it deletes its `.part`
//! file. The checks of the package as a whole are in [`super::receive`].

use std::fs::{self, File};
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use custos_protocol::evidence::{Segment, SegmentHash};
use custos_seal::EncryptionIdentity;

use super::direct_io::{DIRECT_BUFFER, DirectBuffer, enable_direct, settle, write_block};
use super::layout::{SegmentHasher, hash_mismatch};
use super::receive::{FileLock, ReceiveError, blocking, io_err, sync_dir};
use super::staged::Staging;

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
    /// What a receiving node checks besides size and hash, and whose
    /// reservation a kept segment reduces.
    check: Option<Check>,
    _lock: FileLock,
}

/// The receiving node's part of a segment upload: its identities, one of
/// which must decrypt the segment, and the reservation the segment fills.
struct Check {
    identities: Vec<EncryptionIdentity>,
    staging: Arc<Staging>,
    hex: String,
}

/// Whether one of `identities` unwraps the age header of the file at `path`
/// and authenticates its first chunk (64 KiB of plaintext, or all of a
/// shorter one).
fn decrypts(path: &Path, identities: &[EncryptionIdentity]) -> bool {
    identities.iter().any(|identity| {
        let Ok(file) = File::open(path) else {
            return false;
        };
        let Ok(mut reader) = custos_seal::decrypt_reader(io::BufReader::new(file), identity) else {
            return false;
        };
        let mut buf = vec![0u8; 64 << 10];
        let mut fill = 0;
        while fill < buf.len() {
            match reader.read(&mut buf[fill..]) {
                Ok(0) => break,
                Ok(n) => fill += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    })
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
    pub(super) fn create(
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
            check: None,
            _lock: lock,
        })
    }

    /// Adds the receiving node's checks: one of `identities` must decrypt
    /// the segment, and once kept it fills package `hex`'s reservation.
    pub(super) fn checked_by(
        mut self,
        identities: Vec<EncryptionIdentity>,
        staging: Arc<Staging>,
        hex: String,
    ) -> Self {
        self.check = Some(Check {
            identities,
            staging,
            hex,
        });
        self
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
        let (index, identities) = (
            self.index,
            self.check.as_ref().map(|c| c.identities.clone()),
        );
        blocking(move || {
            settle(&file, size).map_err(io_err(format!("cannot sync {}", part.display())))?;
            drop(file);
            // Signed by the sender is not enough: a segment this node
            // cannot decrypt is refused now, not found out when opening.
            if let Some(identities) = identities
                && !decrypts(&part, &identities)
            {
                return Err(ReceiveError::NotDecryptable { index });
            }
            fs::rename(&part, &final_path)
                .map_err(io_err(format!("cannot rename {}", part.display())))?;
            sync_dir(&dir).map_err(io_err(format!("cannot sync {}", dir.display())))
        })
        .await?;
        self.done = true;
        if let Some(check) = &self.check {
            check.staging.written(&check.hex, self.expected_size);
        }
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
    use crate::evidence::direct_io::disable_direct;
    use crate::evidence::direct_io::tests::{EDGE_SIZES, sample};

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
