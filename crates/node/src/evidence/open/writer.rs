//! Writing the files of a package being opened: with direct I/O where the
//! file system allows it, else through the page cache, the writes (or
//! flushes) made by a disk thread so that the tar thread, which hashes,
//! never waits for the disk.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use sha2::{Digest as _, Sha256};

use crate::evidence::direct_io::{DIRECT_BUFFER, DirectBuffer, enable_direct, write_block};

/// How much of a file being opened is written before its pages are handed
/// to the background flush.
const FLUSH_EVERY: u64 = 64 << 20;

/// Work for the disk thread of an open.
pub(super) enum DiskWork {
    /// Start writing a file's dirty pages to disk (page-cache mode).
    Flush(File),
    /// Write a direct buffer at `offset` of `file`, then give it back.
    Write {
        file: Arc<File>,
        offset: u64,
        buf: DirectBuffer,
    },
    /// Reply with the first write error since the last `Done`; every write
    /// queued before it has been made.
    Done(SyncSender<io::Result<()>>),
}

/// The tar thread's way to the disk thread, and the direct buffers coming
/// back from it.
pub(super) struct Disk {
    jobs: SyncSender<DiskWork>,
    pool: Receiver<DirectBuffer>,
}

/// Direct writes queued for the disk thread.
const DISK_QUEUE: usize = 4;

/// Creates the channels of a disk thread: what the tar thread holds, and
/// what [`disk_thread`] takes.
pub(super) fn disk_channels() -> (Disk, Receiver<DiskWork>, SyncSender<DirectBuffer>) {
    let (jobs, work) = sync_channel(DISK_QUEUE);
    let (back, pool) = sync_channel(DISK_QUEUE + 2);
    (Disk { jobs, pool }, work, back)
}

/// Makes the writes (and flushes) of an open, so that the tar thread, which
/// hashes, never waits for the disk.
pub(super) fn disk_thread(work: Receiver<DiskWork>, back: SyncSender<DirectBuffer>) {
    let mut error = None;
    for job in work {
        match job {
            DiskWork::Flush(file) => {
                let _ = file.sync_data();
            }
            DiskWork::Write {
                file,
                offset,
                mut buf,
            } => {
                if error.is_none()
                    && let Err(e) = write_block(&file, offset, &mut buf)
                {
                    error = Some(e);
                }
                drop(file);
                buf.fill = 0;
                let _ = back.try_send(buf);
            }
            DiskWork::Done(reply) => {
                let _ = reply.send(error.take().map_or(Ok(()), Err));
            }
        }
    }
}

/// A file being opened, written with direct I/O where the file system
/// allows it, else through the page cache.
///
/// Direct I/O (`O_DIRECT`): the plaintext is read straight into an aligned
/// buffer, hashed there, and handed to the disk thread, which writes it to
/// the disk without passing through the page cache, whose memory costs more
/// CPU to find than the decryption itself (much more on virtual machines
/// that hand free memory back to the host). The last block is written whole
/// and the file then cut to size. Through the page cache, every
/// [`FLUSH_EVERY`] bytes are handed to the disk thread to flush, so that the
/// `sync_all` that ends the file finds little left.
pub(super) struct OutFile<'d> {
    file: Arc<File>,
    disk: &'d Disk,
    /// The buffer being filled, in direct mode.
    direct: Option<DirectBuffer>,
    /// Bytes of the file handed to the disk thread (direct mode) or written
    /// to the cache.
    written: u64,
    /// Bytes written since the last hand-over to the flush (cache mode).
    unflushed: u64,
    /// Direct writes were queued since the last `Done`.
    pending: bool,
}

impl<'d> OutFile<'d> {
    /// Starts writing `file`, directly if `direct` and the file system
    /// accepts it.
    pub(super) fn new(file: File, disk: &'d Disk, direct: bool) -> Self {
        let direct = (direct && enable_direct(&file)).then(|| disk.fresh());
        Self {
            file: Arc::new(file),
            disk,
            direct,
            written: 0,
            unflushed: 0,
            pending: false,
        }
    }

    /// Queues a direct buffer (whose bytes start at `written`).
    fn hand_over(&mut self, buf: DirectBuffer) -> io::Result<()> {
        let len = buf.fill as u64;
        self.disk
            .jobs
            .send(DiskWork::Write {
                file: Arc::clone(&self.file),
                offset: self.written,
                buf,
            })
            .map_err(|_| io::Error::other("the disk thread stopped"))?;
        self.written += len;
        self.pending = true;
        Ok(())
    }

    /// Reads once from `source` into the file; returns the bytes read (0 at
    /// the end), which `hasher` has seen.
    pub(super) fn fill_from(
        &mut self,
        source: &mut impl Read,
        scratch: &mut [u8],
        hasher: &mut Sha256,
    ) -> io::Result<ReadOutcome> {
        if let Some(d) = self.direct.as_mut() {
            let n = match source.read(d.spare()) {
                Ok(n) => n,
                Err(e) => return Ok(ReadOutcome::Failed(e)),
            };
            let at = d.fill;
            d.fill += n;
            hasher.update(d.bytes_from(at));
            if d.fill == DIRECT_BUFFER {
                let full = std::mem::replace(d, self.disk.fresh());
                self.hand_over(full)?;
            }
            return Ok(ReadOutcome::Read(n));
        }
        let n = match source.read(scratch) {
            Ok(n) => n,
            Err(e) => return Ok(ReadOutcome::Failed(e)),
        };
        hasher.update(&scratch[..n]);
        (&*self.file).write_all(&scratch[..n])?;
        self.written += n as u64;
        self.unflushed += n as u64;
        // At most a few flushes queued; `finish` and the caller's `sync_all`
        // are what make the file durable.
        if self.unflushed >= FLUSH_EVERY
            && let Ok(clone) = self.file.try_clone()
            && self.disk.jobs.try_send(DiskWork::Flush(clone)).is_ok()
        {
            self.unflushed = 0;
        }
        Ok(ReadOutcome::Read(n))
    }

    /// Waits until every queued write has been made; their first error.
    fn settle(&mut self) -> io::Result<()> {
        if !std::mem::take(&mut self.pending) {
            return Ok(());
        }
        let (reply, answer) = sync_channel(1);
        self.disk
            .jobs
            .send(DiskWork::Done(reply))
            .map_err(|_| io::Error::other("the disk thread stopped"))?;
        answer
            .recv()
            .map_err(|_| io::Error::other("the disk thread stopped"))?
    }

    /// Writes what is left and cuts the file to its size; the file is then
    /// ready for its `sync_all`.
    pub(super) fn finish(&mut self) -> io::Result<&File> {
        if let Some(d) = self.direct.take() {
            if d.fill > 0 {
                self.hand_over(d)?;
            }
            self.settle()?;
            self.file.set_len(self.written)?;
        }
        Ok(&self.file)
    }
}

impl Drop for OutFile<'_> {
    /// A file given up on still has its queued writes made, and their
    /// errors collected, so that they are not blamed on the next file.
    fn drop(&mut self) {
        let _ = self.settle();
    }
}

impl Disk {
    fn fresh(&self) -> DirectBuffer {
        DirectBuffer::from_pool(&self.pool)
    }
}

/// What one read of a file's content gave.
pub(super) enum ReadOutcome {
    Read(usize),
    Failed(io::Error),
}

#[cfg(test)]
mod tests {
    use std::fs::{self, OpenOptions};

    use super::*;
    use crate::evidence::direct_io::tests::{EDGE_SIZES, sample};
    use crate::evidence::layout::hex;
    use crate::evidence::pipeline::BUFFER;

    /// Hands out at most `piece` bytes per read, like the tar stream does.
    struct Pieces<'a> {
        data: &'a [u8],
        piece: usize,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.piece.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn opened_files_hold_exactly_the_bytes_read_directly_or_through_the_cache() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let (disk, work, back) = disk_channels();
        let writer = std::thread::spawn(move || disk_thread(work, back));
        let mut scratch = vec![0u8; BUFFER];
        for len in EDGE_SIZES {
            let data = sample(len);
            for piece in [BUFFER, 65_536, 4_099] {
                for direct in [true, false] {
                    let path = dir.path().join(format!("{len}-{piece}-{direct}"));
                    let file = OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path)
                        .expect("the output file");
                    let mut out = OutFile::new(file, &disk, direct);
                    let mut source = Pieces { data: &data, piece };
                    let mut hasher = Sha256::new();
                    let mut total = 0;
                    loop {
                        match out
                            .fill_from(&mut source, &mut scratch, &mut hasher)
                            .expect("the file takes the bytes")
                        {
                            ReadOutcome::Read(0) => break,
                            ReadOutcome::Read(n) => total += n,
                            ReadOutcome::Failed(e) => panic!("the source fails: {e}"),
                        }
                    }
                    out.finish()
                        .expect("the file finishes")
                        .sync_all()
                        .expect("the file syncs");
                    drop(out);
                    assert_eq!(total, len);
                    assert_eq!(
                        hex(&hasher.finalize()),
                        hex(&Sha256::digest(&data)),
                        "{len} bytes in {piece}-byte reads, direct {direct}: the hash differs"
                    );
                    let written = fs::read(&path).expect("the output file reads");
                    assert!(
                        written == data,
                        "{len} bytes in {piece}-byte reads, direct {direct}: the file differs"
                    );
                }
            }
        }
        drop(disk);
        writer.join().expect("the disk thread does not panic");
    }
}
