//! The disk side of sealing: each segment file is written under its `.part`
//! name, through a [`SegmentFile`], by the encryption worker that produces
//! it, and one disk writer thread ([`write_segments`]) makes the direct
//! writes and syncs and renames the finished segments, so that the workers
//! never wait for the disk.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use crate::NodeError;
use crate::evidence::direct_io::{
    DIRECT_BUFFER, DirectBuffer, settle, start_writeback, write_block,
};
use crate::evidence::layout::io_err;

/// Bytes of a segment file written through the page cache between two
/// requests to the kernel to start writing them to disk.
const WRITEBACK_STEP: u64 = 4 << 20;

/// Jobs queued for the disk writer (direct writes of [`DIRECT_BUFFER`]
/// bytes, and finished segments).
pub(super) const DISK_QUEUE: usize = 8;

/// A segment file being written, under its `.part` name.
#[derive(Debug)]
pub(super) struct PartFile {
    pub(super) file: File,
    pub(super) path: PathBuf,
}

/// What an encryption worker hands the disk writer thread.
pub(super) enum DiskJob {
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
pub(super) struct DiskQueue<'a> {
    pub(super) jobs: SyncSender<DiskJob>,
    pub(super) pool: Receiver<DirectBuffer>,
    pub(super) back: SyncSender<DirectBuffer>,
    /// Set by the disk writer when it failed (its error says why).
    pub(super) failed: &'a AtomicBool,
}

impl DiskQueue<'_> {
    pub(super) fn send(&self, job: DiskJob) -> io::Result<()> {
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
pub(super) struct SegmentFile<'q, 'a> {
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
    /// Starts writing `file`, directly (if `direct`; see
    /// [`enable_direct`](crate::evidence::direct_io::enable_direct))
    /// or through the page cache.
    pub(super) fn new(file: PartFile, disk: &'q DiskQueue<'a>, direct: bool) -> Self {
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
    pub(super) fn finish(mut self) -> io::Result<(Arc<PartFile>, u64)> {
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
            d.spare()[..n].copy_from_slice(&buf[..n]);
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

/// The disk writer: writes the workers' direct buffers, and syncs and
/// renames finished segments, one after the other, off the encryption
/// workers' threads (which stay busy encrypting). On the first failure it
/// sets `failed`, so the workers stop, and returns that failure.
pub(super) fn write_segments(
    jobs: Receiver<DiskJob>,
    failed: &AtomicBool,
) -> Result<(), NodeError> {
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

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::sync::mpsc::sync_channel;

    use super::*;
    use crate::evidence::direct_io::enable_direct;
    use crate::evidence::direct_io::tests::{EDGE_SIZES, sample};

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
}
