//! The engine behind `verify` and `open` of [`super::package`]: segments are
//! read, hashed and decrypted by two workers (alternate segments, in
//! parallel), and their plaintext is fed in order to one thread that walks
//! the tar stream, checks every entry against the manifest and, when
//! opening, writes each file to a temporary name and keeps it only if its
//! size and SHA-256 match.
//!
//! age authenticates each 64 KiB chunk before releasing it, and every kept
//! file is checked against its signed SHA-256, so nothing unverified is ever
//! kept, even though a segment's ciphertext hash is only known once the
//! whole segment has been read. For the same reason opening does not hash
//! the ciphertext at all (verify does).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use custos_protocol::evidence::{Manifest, Segment, VerifiedManifest, check_relative_path};
use custos_seal::{EncryptionIdentity, SealError};
use sha2::{Digest as _, Sha256};

use super::package::{
    BUFFER, DIRECT_BUFFER, DirectBuffer, Mismatch, Progress, Report, SEGMENTS_DIR, SegmentHasher,
    WORKERS, enable_direct, hash_mismatch, hex, io_err, seal_queue_depth, segment_path,
    write_block,
};
use crate::NodeError;

/// A reader that counts what passes through and, when it has a hasher,
/// hashes it.
struct HashingReader<R> {
    inner: R,
    hasher: Option<SegmentHasher>,
    count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

/// A reader that counts what passes through.
struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

fn subject(segment: &Segment) -> String {
    format!(
        "{SEGMENTS_DIR}/{}",
        custos_protocol::evidence::segment_file_name(segment.index)
    )
}

/// Whether one of `identities` opens the first segment's header.
pub(crate) fn can_decrypt(
    pkg: &Path,
    manifest: &Manifest,
    identities: &[EncryptionIdentity],
) -> bool {
    let Some(first) = manifest.segments.first() else {
        return false;
    };
    let path = segment_path(pkg, first.index);
    identities.iter().any(|id| {
        File::open(&path)
            .ok()
            .is_some_and(|f| custos_seal::decrypt_reader(BufReader::new(f), id).is_ok())
    })
}

/// What a decryption worker sends the tar thread.
enum Piece {
    Data(Vec<u8>, usize),
    /// The segment ended; what did not match (size, hash, plaintext length).
    End(Vec<Mismatch>),
    /// The segment could not be decrypted to its end.
    Failed(Vec<Mismatch>),
}

/// Decrypts one segment, sending its plaintext in buffers, and checks its
/// size (and, with `hash_ciphertext`, its hash) against the manifest.
/// Returns false when the tar thread has gone.
fn decrypt_segment(
    pkg: &Path,
    segment: &Segment,
    identities: &[EncryptionIdentity],
    hash_ciphertext: bool,
    tx: &SyncSender<Piece>,
    pool: &Mutex<Receiver<Vec<u8>>>,
    progress: &dyn Progress,
) -> bool {
    let path = segment_path(pkg, segment.index);
    let name = subject(segment);
    let fail = |problem: String| {
        tx.send(Piece::Failed(vec![Mismatch::new(&name, problem)]))
            .is_ok()
    };
    let mut notes = Vec::new();
    match fs::metadata(&path) {
        Ok(meta) if meta.len() != segment.size => notes.push(Mismatch::new(
            &name,
            format!(
                "is {} bytes, the manifest says {}",
                meta.len(),
                segment.size
            ),
        )),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return fail("missing".into()),
        Err(e) => return fail(format!("cannot be read: {e}")),
    }
    for identity in identities {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => return fail(format!("cannot be read: {e}")),
        };
        let mut source = HashingReader {
            // A small buffer serves age's header parser; the chunks (64 KiB
            // and more per read) bypass it and are read straight into
            // age's own buffer, saving a copy of every byte.
            inner: BufReader::with_capacity(8 << 10, file),
            hasher: hash_ciphertext.then(|| SegmentHasher::new(segment.digest().0)),
            count: 0,
        };
        let (plain, failure) = {
            let mut reader = match custos_seal::decrypt_reader(&mut source, identity) {
                Ok(r) => r,
                Err(SealError::NoMatchingIdentity) => continue,
                Err(e) => {
                    notes.push(Mismatch::new(&name, format!("does not decrypt: {e}")));
                    return tx.send(Piece::Failed(notes)).is_ok();
                }
            };
            let mut plain = 0u64;
            let mut failure = None;
            loop {
                let mut buf = pool
                    .lock()
                    .ok()
                    .and_then(|p| p.try_recv().ok())
                    .unwrap_or_else(|| vec![0u8; BUFFER]);
                let mut fill = 0;
                while fill < BUFFER {
                    match reader.read(&mut buf[fill..]) {
                        Ok(0) => break,
                        Ok(n) => fill += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                progress.advance(fill as u64);
                plain += fill as u64;
                if fill > 0 && tx.send(Piece::Data(buf, fill)).is_err() {
                    return false;
                }
                if failure.is_some() || fill < BUFFER {
                    break;
                }
            }
            (plain, failure)
        };
        if let Some(e) = failure {
            let why = if e.kind() == io::ErrorKind::InvalidData {
                "does not decrypt: altered or truncated ciphertext".to_owned()
            } else {
                format!("cannot be read: {e}")
            };
            notes.push(Mismatch::new(&name, why));
            return tx.send(Piece::Failed(notes)).is_ok();
        }
        // Hash whatever follows the age stream too.
        if let Err(e) = io::copy(&mut source, &mut io::sink()) {
            notes.push(Mismatch::new(&name, format!("cannot be read: {e}")));
        }
        if let Some(hasher) = source.hasher.take() {
            let digest = hasher.finalize();
            let (hash, expected) = segment.digest();
            if digest != expected {
                notes.push(Mismatch::new(&name, hash_mismatch(hash, &digest, expected)));
            }
        }
        if plain != segment.plain_size {
            notes.push(Mismatch::new(
                &name,
                format!(
                    "decrypts to {plain} bytes, the manifest says {}",
                    segment.plain_size
                ),
            ));
        }
        return tx.send(Piece::End(notes)).is_ok();
    }
    notes.push(Mismatch::new(&name, "no key of this node decrypts it"));
    tx.send(Piece::Failed(notes)).is_ok()
}

/// The plaintext of every segment, in order, as one stream.
struct Feed<'a> {
    channels: &'a [Receiver<Piece>],
    pool: &'a SyncSender<Vec<u8>>,
    next: usize,
    count: usize,
    current: Option<(Vec<u8>, usize, usize)>,
    mismatches: Vec<Mismatch>,
    failed: bool,
}

impl Feed<'_> {
    /// Takes every remaining piece, keeping only the segments' verdicts.
    fn drain(&mut self) {
        while self.next < self.count {
            match self.channels[self.next % self.channels.len()].recv() {
                Ok(Piece::Data(buf, _)) => {
                    let _ = self.pool.try_send(buf);
                }
                Ok(Piece::End(m)) | Ok(Piece::Failed(m)) => {
                    self.mismatches.extend(m);
                    self.next += 1;
                }
                Err(_) => {
                    self.mismatches.push(Mismatch::new(
                        SEGMENTS_DIR,
                        format!("segment {} was not checked (a worker stopped)", self.next),
                    ));
                    self.next += 1;
                }
            }
        }
    }
}

impl Read for Feed<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a segment could not be decrypted",
            ));
        }
        loop {
            if let Some((buf, len, pos)) = self.current.as_mut() {
                if *pos < *len {
                    let n = (*len - *pos).min(out.len());
                    out[..n].copy_from_slice(&buf[*pos..*pos + n]);
                    *pos += n;
                    return Ok(n);
                }
                if let Some((buf, _, _)) = self.current.take() {
                    let _ = self.pool.try_send(buf);
                }
            }
            if self.next >= self.count {
                return Ok(0);
            }
            match self.channels[self.next % self.channels.len()].recv() {
                Ok(Piece::Data(buf, len)) => self.current = Some((buf, len, 0)),
                Ok(Piece::End(m)) => {
                    self.mismatches.extend(m);
                    self.next += 1;
                }
                Ok(Piece::Failed(m)) => {
                    self.mismatches.extend(m);
                    self.next += 1;
                    self.failed = true;
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("segment {} could not be decrypted", self.next - 1),
                    ));
                }
                Err(_) => {
                    self.failed = true;
                    return Err(io::Error::other("a decryption worker stopped"));
                }
            }
        }
    }
}

/// Runs verify (`out` is `None`) or open (`out` is the output folder).
pub(crate) fn run(
    pkg: &Path,
    verified: &VerifiedManifest,
    identities: &[EncryptionIdentity],
    out: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Report, NodeError> {
    let manifest = &verified.manifest;
    let mut report = Report::new(verified);
    let label = if out.is_some() { "opened" } else { "verified" };
    let result = if can_decrypt(pkg, manifest, identities) {
        progress.start(manifest.content.size, label);
        report.decrypted = true;
        decrypt_all(pkg, manifest, identities, out, progress, &mut report)
    } else {
        progress.start(manifest.segments.iter().map(|s| s.size).sum(), label);
        hash_only(pkg, manifest, progress, &mut report);
        Ok(())
    };
    progress.finish();
    result.map(|()| report)
}

/// Checks every segment's size and hash, two at a time, without decrypting.
fn hash_only(pkg: &Path, manifest: &Manifest, progress: &dyn Progress, report: &mut Report) {
    let results: Vec<Vec<(u64, Option<Mismatch>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                scope.spawn(move || {
                    manifest
                        .segments
                        .iter()
                        .skip(w)
                        .step_by(WORKERS)
                        .map(|s| {
                            let m =
                                super::package::check_segment_file(&segment_path(pkg, s.index), s);
                            progress.advance(s.size);
                            (s.index, m)
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut all: Vec<_> = results.into_iter().flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    if all.len() != manifest.segments.len() {
        report.mismatches.push(Mismatch::new(
            SEGMENTS_DIR,
            "not every segment could be checked",
        ));
    }
    report
        .mismatches
        .extend(all.into_iter().filter_map(|(_, m)| m));
}

fn decrypt_all(
    pkg: &Path,
    manifest: &Manifest,
    identities: &[EncryptionIdentity],
    out: Option<&Path>,
    progress: &dyn Progress,
    report: &mut Report,
) -> Result<(), NodeError> {
    // Each worker may run a whole segment ahead of the tar thread: the tar
    // stream is read in order, so with less the worker on the next segment
    // would stop after a few buffers and wait, leaving a core idle.
    let largest = manifest
        .segments
        .iter()
        .map(|s| s.plain_size)
        .max()
        .unwrap_or(0);
    let queue = seal_queue_depth(largest);
    // Buffers go back to the workers once read, so that they are not
    // allocated (and zeroed) afresh.
    let (pool_tx, pool_rx) = sync_channel::<Vec<u8>>(WORKERS * (queue + 2));
    let pool_rx = Mutex::new(pool_rx);
    std::thread::scope(|scope| {
        let mut channels = Vec::new();
        for w in 0..WORKERS {
            let (tx, rx) = sync_channel::<Piece>(queue);
            channels.push(rx);
            let pool_rx = &pool_rx;
            scope.spawn(move || {
                for segment in manifest.segments.iter().skip(w).step_by(WORKERS) {
                    // Opening checks every file against its signed hash,
                    // and age authenticates every chunk it decrypts, so the
                    // segments' ciphertext hashes (the transfer's and
                    // verify's check) are not computed again.
                    let hash_ciphertext = out.is_none();
                    if !decrypt_segment(
                        pkg,
                        segment,
                        identities,
                        hash_ciphertext,
                        &tx,
                        pool_rx,
                        progress,
                    ) {
                        return;
                    }
                }
            });
        }
        let feed = Feed {
            channels: &channels,
            pool: &pool_tx,
            next: 0,
            count: manifest.segments.len(),
            current: None,
            mismatches: Vec::new(),
            failed: false,
        };
        let stream = CountingReader {
            inner: feed,
            count: 0,
        };
        let mut archive = tar::Archive::new(stream);
        // Opened files are written (or, through the page cache, flushed) by
        // a disk thread, so that the tar thread never waits for the disk.
        let (disk, work, back) = disk_channels();
        scope.spawn(move || disk_thread(work, back));
        let walked = walk_tar(&mut archive, manifest, out, &disk, report);
        drop(disk);
        let mut stream = archive.into_inner();
        let _ = io::copy(&mut stream, &mut io::sink());
        let failed = stream.inner.failed;
        stream.inner.drain();
        report.mismatches.append(&mut stream.inner.mismatches);
        if !failed && stream.count != manifest.content.size {
            report.mismatches.push(Mismatch::new(
                "content",
                format!(
                    "the tar stream is {} bytes, the manifest says {}",
                    stream.count, manifest.content.size
                ),
            ));
        }
        drop(channels);
        walked
    })
}

/// How much of a file being opened is written before its pages are handed
/// to the background flush.
const FLUSH_EVERY: u64 = 64 << 20;

/// Work for the disk thread of an open.
enum DiskWork {
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
struct Disk {
    jobs: SyncSender<DiskWork>,
    pool: Receiver<DirectBuffer>,
}

/// Direct writes queued for the disk thread.
const DISK_QUEUE: usize = 4;

/// Creates the channels of a disk thread: what the tar thread holds, and
/// what [`disk_thread`] takes.
fn disk_channels() -> (Disk, Receiver<DiskWork>, SyncSender<DirectBuffer>) {
    let (jobs, work) = sync_channel(DISK_QUEUE);
    let (back, pool) = sync_channel(DISK_QUEUE + 2);
    (Disk { jobs, pool }, work, back)
}

/// Makes the writes (and flushes) of an open, so that the tar thread, which
/// hashes, never waits for the disk.
fn disk_thread(work: Receiver<DiskWork>, back: SyncSender<DirectBuffer>) {
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
struct OutFile<'d> {
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
    fn new(file: File, disk: &'d Disk, direct: bool) -> Self {
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
    fn fill_from(
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
    fn finish(&mut self) -> io::Result<&File> {
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
enum ReadOutcome {
    Read(usize),
    Failed(io::Error),
}

/// Removes a temporary file when dropped, unless it was kept.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// Creates a new temporary file in `dir` for a file being opened. Its name
/// is short and random (`.custos-<32 hex>.part`), never derived from the
/// package's names: a name of 255 bytes stays within the file system's
/// limit, and a package file named like a temporary file cannot collide
/// with it (a name already taken is skipped).
fn create_temp(dir: &Path) -> io::Result<(File, PathBuf)> {
    let mut last = None;
    for _ in 0..8 {
        let path = dir.join(format!(".custos-{}.part", uuid::Uuid::new_v4().simple()));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

/// Walks the tar stream against the manifest. Mismatches go into `report`;
/// an error is returned only for a local failure to write.
fn walk_tar<R: Read>(
    archive: &mut tar::Archive<R>,
    manifest: &Manifest,
    out: Option<&Path>,
    disk: &Disk,
    report: &mut Report,
) -> Result<(), NodeError> {
    let files = &manifest.files;
    let index: HashMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.path.as_str(), i))
        .collect();
    let mut seen = vec![false; files.len()];
    let mut next = 0usize;
    let mut buf = vec![0u8; BUFFER];
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => {
            report
                .mismatches
                .push(Mismatch::new("content", format!("not a tar stream: {e}")));
            return Ok(());
        }
    };
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                report.mismatches.push(Mismatch::new(
                    "content",
                    format!("the tar stream cannot be read further: {e}"),
                ));
                break;
            }
        };
        let Ok(name) = String::from_utf8(entry.path_bytes().into_owned()) else {
            report
                .mismatches
                .push(Mismatch::new("content", "an entry's name is not UTF-8"));
            continue;
        };
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            let path = name.trim_end_matches('/');
            if let Err(e) = check_relative_path(path) {
                report
                    .mismatches
                    .push(Mismatch::new(path, format!("folder refused: {e}")));
                continue;
            }
            if let Some(out) = out {
                let target = out.join(path);
                if let Err(e) = fs::create_dir_all(&target) {
                    report.mismatches.push(Mismatch::new(
                        path,
                        format!("folder cannot be created: {e}"),
                    ));
                }
            }
            continue;
        }
        if !kind.is_file() {
            report.mismatches.push(Mismatch::new(
                &name,
                format!("is a tar entry of type {kind:?}; a package holds only files and folders"),
            ));
            continue;
        }
        if let Err(e) = check_relative_path(&name) {
            report
                .mismatches
                .push(Mismatch::new(&name, format!("path refused: {e}")));
            continue;
        }
        let Some(&j) = index.get(name.as_str()) else {
            report.mismatches.push(Mismatch::new(
                &name,
                "is in the content but not in the manifest",
            ));
            continue;
        };
        if seen[j] {
            report.mismatches.push(Mismatch::new(
                &name,
                "appears again in the content, or out of the manifest's order",
            ));
            continue;
        }
        for k in next..j {
            seen[k] = true;
            report.mismatches.push(Mismatch::new(
                &files[k].path,
                "is missing from the content (or out of order)",
            ));
        }
        seen[j] = true;
        next = j + 1;
        let expected = &files[j];
        let header_size = entry.header().size().unwrap_or(u64::MAX);
        if header_size != expected.size {
            report.mismatches.push(Mismatch::new(
                &name,
                format!(
                    "is {header_size} bytes in the content, the manifest says {}",
                    expected.size
                ),
            ));
            continue;
        }

        // Write to a temporary name (when opening) while hashing.
        let mut temp = TempFile(None);
        let mut writer = None;
        let mut final_path = None;
        if let Some(out) = out {
            let target = out.join(&name);
            let parent = target.parent().unwrap_or(out).to_owned();
            if let Err(e) = fs::create_dir_all(&parent) {
                report.mismatches.push(Mismatch::new(
                    &name,
                    format!("folder cannot be created: {e}"),
                ));
                continue;
            }
            match create_temp(&parent) {
                Ok((f, temp_path)) => {
                    temp.0 = Some(temp_path);
                    writer = Some(OutFile::new(f, disk, true));
                }
                Err(e) => {
                    report
                        .mismatches
                        .push(Mismatch::new(&name, format!("cannot be written: {e}")));
                    continue;
                }
            }
            final_path = Some(target);
        }
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut broken = None;
        loop {
            let outcome = match writer.as_mut() {
                Some(w) => w
                    .fill_from(&mut entry, &mut buf, &mut hasher)
                    .map_err(|e| io_err(temp.0.as_deref().unwrap_or(Path::new("")), e))?,
                None => match entry.read(&mut buf) {
                    Ok(n) => {
                        hasher.update(&buf[..n]);
                        ReadOutcome::Read(n)
                    }
                    Err(e) => ReadOutcome::Failed(e),
                },
            };
            match outcome {
                ReadOutcome::Read(0) => break,
                ReadOutcome::Read(n) => size += n as u64,
                ReadOutcome::Failed(e) if e.kind() == io::ErrorKind::Interrupted => {}
                ReadOutcome::Failed(e) => {
                    broken = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = broken {
            report
                .mismatches
                .push(Mismatch::new(&name, format!("content cannot be read: {e}")));
            break;
        }
        let digest = hex(&hasher.finalize());
        if size != expected.size || digest != expected.sha256 {
            report.mismatches.push(Mismatch::new(
                &name,
                format!(
                    "content is {size} bytes with SHA-256 {digest}; the manifest says {} bytes with {}",
                    expected.size, expected.sha256
                ),
            ));
            continue;
        }
        if let (Some(mut writer), Some(target), Some(temp_path)) =
            (writer.take(), final_path, temp.0.clone())
        {
            let file = writer.finish().map_err(|e| io_err(&temp_path, e))?;
            let secs = u64::try_from(expected.mtime.unix_timestamp()).unwrap_or(0);
            let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            file.set_modified(mtime)
                .map_err(|e| io_err(&temp_path, e))?;
            file.sync_all().map_err(|e| io_err(&temp_path, e))?;
            drop(writer);
            if fs::symlink_metadata(&target).is_ok() {
                report.mismatches.push(Mismatch::new(
                    &name,
                    "something already stands at this path",
                ));
                continue;
            }
            fs::rename(&temp_path, &target).map_err(|e| io_err(&target, e))?;
            temp.0 = None;
            report.files_written.push(name.clone());
        }
        report.files_verified += 1;
    }
    for (k, f) in files.iter().enumerate() {
        if !seen[k] {
            report
                .mismatches
                .push(Mismatch::new(&f.path, "is missing from the content"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::package::tests::{EDGE_SIZES, sample};

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
