//! Reading a package's segments for verify and open: two workers read, hash
//! and decrypt alternate segments in parallel ([`decrypt_segment`]) and
//! send their plaintext in buffers; a [`Feed`] hands that plaintext to the
//! tar thread in order, as one stream, and gathers each segment's verdict
//! (size, hash, length of the plaintext).
//!
//! age authenticates each 64 KiB chunk before releasing it, and every kept
//! file is checked against its signed SHA-256, so nothing unverified is ever
//! kept, even though a segment's ciphertext hash is only known once the
//! whole segment has been read. For the same reason opening does not hash
//! the ciphertext at all (verify does).

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender};

use custos_protocol::evidence::Segment;
use custos_seal::{EncryptionIdentity, SealError};

use super::report::Mismatch;
use crate::evidence::layout::{SEGMENTS_DIR, SegmentHasher, hash_mismatch, segment_path};
use crate::evidence::pipeline::{BUFFER, Progress};

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

fn subject(segment: &Segment) -> String {
    format!(
        "{SEGMENTS_DIR}/{}",
        custos_protocol::evidence::segment_file_name(segment.index)
    )
}

/// What a decryption worker sends the tar thread.
pub(super) enum Piece {
    Data(Vec<u8>, usize),
    /// The segment ended; what did not match (size, hash, plaintext length).
    End(Vec<Mismatch>),
    /// The segment could not be decrypted to its end.
    Failed(Vec<Mismatch>),
}

/// Decrypts one segment, sending its plaintext in buffers, and checks its
/// size (and, with `hash_ciphertext`, its hash) against the manifest.
/// Returns false when the tar thread has gone.
pub(super) fn decrypt_segment(
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
pub(super) struct Feed<'a> {
    pub(super) channels: &'a [Receiver<Piece>],
    pub(super) pool: &'a SyncSender<Vec<u8>>,
    pub(super) next: usize,
    pub(super) count: usize,
    pub(super) current: Option<(Vec<u8>, usize, usize)>,
    pub(super) mismatches: Vec<Mismatch>,
    pub(super) failed: bool,
}

impl Feed<'_> {
    /// Takes every remaining piece, keeping only the segments' verdicts.
    pub(super) fn drain(&mut self) {
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
