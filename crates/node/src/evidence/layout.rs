//! The layout of an evidence package folder: the names of its manifest and
//! segment files and the paths to them, reading the manifest (within the
//! size limit every node applies), hashing a segment with the function its
//! manifest names, and writing a file atomically. Whatever seals, checks,
//! opens or sends a package finds its files through here.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use custos_protocol::Directory;
use custos_protocol::evidence::{
    SegmentHash, VerifiedManifest, segment_file_name, verify_manifest,
};
use sha2::{Digest as _, Sha256};

use crate::NodeError;

pub use custos_protocol::evidence::DEFAULT_SEGMENT_SIZE;

/// The manifest's file name inside a package folder.
pub const MANIFEST_FILE: &str = "manifest.dsse.json";
/// The folder of encrypted segments inside a package folder.
pub const SEGMENTS_DIR: &str = "segments";
/// The folder of receipts (sender side, after sending).
pub const RECEIPTS_DIR: &str = "receipts";
/// The largest manifest sealed or read: the same limit a receiving node
/// applies, so that no package is sealed that peers refuse.
pub use custos_protocol::evidence::MAX_MANIFEST_BYTES;

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
    file.take(MAX_MANIFEST_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(&path, e))?;
    if bytes.len() > MAX_MANIFEST_BYTES {
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

/// How a segment whose hash differs is described.
pub(crate) fn hash_mismatch(hash: SegmentHash, actual: &str, expected: &str) -> String {
    format!("{} is {actual}, the manifest says {expected}", hash.name())
}

/// Hashes a segment's ciphertext with the function its manifest uses.
pub(crate) enum SegmentHasher {
    /// Boxed: its state is about 2 KiB.
    Blake3(Box<blake3::Hasher>),
    Sha256(Sha256),
}

impl std::fmt::Debug for SegmentHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SegmentHasher::Blake3(_) => "SegmentHasher(BLAKE3)",
            SegmentHasher::Sha256(_) => "SegmentHasher(SHA-256)",
        })
    }
}

impl SegmentHasher {
    pub(crate) fn new(hash: SegmentHash) -> Self {
        match hash {
            SegmentHash::Blake3 => SegmentHasher::Blake3(Box::default()),
            SegmentHash::Sha256 => SegmentHasher::Sha256(Sha256::new()),
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            SegmentHasher::Blake3(h) => {
                h.update(bytes);
            }
            SegmentHasher::Sha256(h) => h.update(bytes),
        }
    }

    /// The digest in lower-case hex.
    pub(crate) fn finalize(self) -> String {
        match self {
            SegmentHasher::Blake3(h) => h.finalize().to_hex().to_string(),
            SegmentHasher::Sha256(h) => hex(&h.finalize()),
        }
    }
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
