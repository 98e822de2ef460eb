//! Verifying and opening an evidence package folder. [`verify`] checks the
//! manifest's signature against the directory, every segment's size and
//! hash and, when this node can decrypt, the decrypted content against every
//! file's size and SHA-256, writing nothing; [`open`] makes the same checks
//! while it writes the verified files into a folder. Both report every
//! mismatch in a [`Report`].
//!
//! Both run one engine. When one of the node's keys decrypts the package,
//! two workers decrypt alternate segments (`decrypt.rs`) and feed their
//! plaintext in order to one thread that walks the tar stream against the
//! manifest (`contents.rs`), writing the files through a disk thread when
//! opening (`writer.rs`). Otherwise only the segments' sizes and hashes are
//! checked.

mod contents;
mod decrypt;
mod report;
mod writer;

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::sync_channel;

use custos_protocol::Directory;
use custos_protocol::evidence::{
    Manifest, Segment, SegmentHash, VerifiedManifest, segment_file_name,
};
use custos_seal::EncryptionIdentity;

pub use self::report::{Mismatch, Report};

use self::contents::walk_tar;
use self::decrypt::{Feed, Piece, decrypt_segment};
use self::writer::{disk_channels, disk_thread};
use super::guard::OutputGuard;
use super::layout::{SEGMENTS_DIR, SegmentHasher, hash_mismatch, load_manifest, segment_path};
use super::pipeline::{BUFFER, Progress, WORKERS, seal_queue_depth};
use crate::NodeError;

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
    run(pkg, &verified, identities, None, progress)
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
    if !can_decrypt(pkg, &verified.manifest, identities) {
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
    let report = run(pkg, &verified, identities, Some(out_dir), progress)?;
    // Verified files stay even when others mismatched.
    guard.disarm();
    Ok(report)
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

/// Whether one of `identities` opens the first segment's header.
fn can_decrypt(pkg: &Path, manifest: &Manifest, identities: &[EncryptionIdentity]) -> bool {
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

/// Runs verify (`out` is `None`) or open (`out` is the output folder).
fn run(
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
                            let m = check_segment_file(&segment_path(pkg, s.index), s);
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use custos_protocol::evidence::{MANIFEST_VERSION, MIN_SEGMENT_SIZE, sign_manifest};
    use custos_seal::SigningKey;
    use serde_json::Value;
    use sha2::{Digest as _, Sha256};
    use time::OffsetDateTime;

    use super::*;
    use crate::evidence::direct_io::DIRECT_BUFFER;
    use crate::evidence::direct_io::tests::sample;
    use crate::evidence::layout::{hex, manifest_path, read_manifest_bytes, write_atomic};
    use crate::evidence::pipeline::NoProgress;
    use crate::evidence::seal::{SealOptions, seal_package};

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
            personal_data: None,
            segment_size: MIN_SEGMENT_SIZE,
        };
        let pkg = dir.path().join("pkg");
        seal_package(&[src], &opts, &pkg, &NoProgress).expect("the seal");
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
        run(pkg, &verified, identities, None, &NoProgress).expect("the package is read")
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
