//! Sealing files and folders into a new evidence package folder
//! ([`seal_package`]).
//!
//! Sealing streams: one thread walks the files in a fixed order (`input.rs`),
//! reads them, hashes each file and cuts the tar stream into 1 MiB buffers;
//! two workers encrypt alternate segments to the recipients and hash the
//! ciphertext as it is produced; a disk writer thread (`writer.rs`) writes
//! the ciphertext (with direct I/O where the file system allows it,
//! bypassing the page cache) and syncs each finished segment. Queues between
//! them are bounded, so memory stays flat whatever the size. Each segment is
//! written to `NNNNNN.age.part` and renamed when complete and synced; the
//! manifest is written last, atomically. On any failure the folder is
//! removed (or emptied, if it existed).

mod input;
mod writer;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use custos_model::StateCode;
use custos_protocol::evidence::{
    CONTENT_FORMAT, Content, FileEntry, MANIFEST_VERSION, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE,
    Manifest, Segment, SegmentHash, Totals, segment_file_name, sign_manifest,
};
use custos_protocol::timestamp;
use custos_seal::{EncryptionRecipient, SigningKey};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use self::input::{Item, collect, input_err};
use self::writer::{DISK_QUEUE, DiskJob, DiskQueue, PartFile, SegmentFile, write_segments};
use super::direct_io::{DirectBuffer, enable_direct};
use super::guard::OutputGuard;
use super::layout::{
    SEGMENTS_DIR, SegmentHasher, hex, io_err, manifest_path, package_err, write_atomic,
};
use super::pipeline::{BUFFER, Progress, WORKERS, seal_queue_depth};
use crate::NodeError;

/// Everything [`seal_package`] needs besides the files: who signs, whom to encrypt
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
    /// Copied from the request; the providing State may mark the package
    /// confidential itself (`{"required": true, "reasons": "…"}`).
    pub confidentiality: Value,
    /// Issue 18: the personal data in the package and its conditions.
    pub personal_data: Option<custos_protocol::case_bodies::PersonalData>,
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

/// Seals `paths` (files and folders) into a new package folder `out`, which
/// must not exist or be empty. On failure nothing of the package is left.
pub fn seal_package(
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
        personal_data: opts.personal_data.clone(),
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
