//! The copies of a case's evidence the node writes outside its store of
//! received packages: packages it seals (into the folder the person names,
//! or the desk's `DATA/evidence/sealed/`) and the files it opens (into the
//! folder the person names, or the desk's `DATA/evidence/opened/`).
//!
//! Each is noted, before it is written, as one JSON line in
//! `DATA/evidence/copies/<case digest>.jsonl` (the package, the folder, and
//! whether it is a sealed package or opened files), so that when the case's
//! retention ends the purge can delete them with the rest of its content
//! ([`delete_copies`]). Only what the node wrote is removed: for
//! opened files, a file at a path the package's manifest names whose size
//! and SHA-256 still match it (a file changed since is kept and counted);
//! for a sealed package, its manifest and its segment and receipt folders.
//! Folders left empty are removed too.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use custos_protocol::evidence::{Manifest, read_manifest_unverified};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::evidence_case::{opened_root, package_hex, sealed_root};
use crate::evidence::layout::{
    MANIFEST_FILE, RECEIPTS_DIR, SEGMENTS_DIR, io_err, read_manifest_bytes,
};
use crate::evidence::receive::received_folder;
use crate::{Node, NodeError};

/// What a noted copy is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CopyKind {
    /// A package sealed into the folder.
    Sealed,
    /// A package's files opened into the folder.
    Opened,
}

/// One line of a case's copies file.
#[derive(Debug, Serialize, Deserialize)]
struct CopyLine {
    package: String,
    folder: PathBuf,
    kind: CopyKind,
}

/// What deleting a case's copies came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CopiesDeleted {
    /// Files removed.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Opened files left because they changed since they were opened.
    pub kept: u64,
}

/// The folder of the copies files.
fn copies_root(data_dir: &Path) -> PathBuf {
    data_dir.join("evidence").join("copies")
}

/// A case's copies file: named by a digest of the case id, which may hold
/// any character.
fn copies_file(data_dir: &Path, case: &str) -> PathBuf {
    let digest = hex::encode(Sha256::digest(case.as_bytes()));
    copies_root(data_dir).join(format!("{}.jsonl", &digest[..32]))
}

/// The SHA-256 of a file's bytes, in hex.
fn file_sha256(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = io::Read::read(&mut file, &mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Removes `path` if it is a regular file (not a link); its size.
fn remove_file(path: &Path) -> io::Result<Option<u64>> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {
            fs::remove_file(path)?;
            Ok(Some(m.len()))
        }
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes the node's own folder `dir` with whatever is in it, if it is
/// there; adds its files and bytes to `done`.
fn remove_own_folder(dir: &Path, done: &mut CopiesDeleted) -> Result<(), NodeError> {
    if !fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    let (files, bytes) = super::retention::remove_folder(dir).map_err(|e| io_err(dir, e))?;
    done.files += files;
    done.bytes += bytes;
    Ok(())
}

/// Removes the folders under `dir`, and `dir`, that are empty once their
/// own empty folders are gone; whatever still holds a file stays.
fn prune_empty(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                prune_empty(&path);
            }
        }
    }
    // Fails, as it should, when something is left in it.
    let _ = fs::remove_dir(dir);
}

impl Node {
    /// Notes that the node is about to write a copy of `package` (of case
    /// `case`) into `folder`, durably, before it does.
    pub(crate) fn note_copy(
        &self,
        case: &str,
        package: &str,
        folder: &Path,
        kind: CopyKind,
    ) -> Result<(), NodeError> {
        let folder = std::path::absolute(folder).map_err(|e| io_err(folder, e))?;
        let root = copies_root(&self.settings.data_dir);
        fs::create_dir_all(&root).map_err(|e| io_err(&root, e))?;
        let path = copies_file(&self.settings.data_dir, case);
        let mut line = serde_json::to_vec(&CopyLine {
            package: package.to_owned(),
            folder,
            kind,
        })
        .map_err(|e| NodeError::Internal(format!("a copy note does not encode: {e}")))?;
        line.push(b'\n');
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(|e| io_err(&path, e))?;
        file.write_all(&line).map_err(|e| io_err(&path, e))?;
        file.sync_data().map_err(|e| io_err(&path, e))
    }
}

/// The manifest of `package`, from the first place that holds it: the
/// received package, the desk's sealed package, or a sealed copy.
fn copy_manifest(data: &Path, package: &str, lines: &[CopyLine]) -> Option<Manifest> {
    let sealed_here = package_hex(package).map(|hex| sealed_root(data).join(hex));
    let copies = lines
        .iter()
        .filter(|l| l.package == package && l.kind == CopyKind::Sealed)
        .map(|l| l.folder.clone());
    received_folder(data, package)
        .into_iter()
        .chain(sealed_here)
        .chain(copies)
        .find_map(|dir| {
            let bytes = read_manifest_bytes(&dir).ok()?;
            let read = read_manifest_unverified(&bytes).ok()?;
            (read.package_id == package).then_some(read.manifest)
        })
}

/// Deletes the copies noted for case `case` in the data folder `data`
/// (see the module's notes) and its notes; to be called before its
/// received packages are removed, whose manifests name the opened files.
pub(crate) fn delete_copies(data: &Path, case: &str) -> Result<CopiesDeleted, NodeError> {
    let path = copies_file(data, case);
    let lines: Vec<CopyLine> = match File::open(&path) {
        Ok(file) => BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(&path, e)),
    };
    let mut done = CopiesDeleted::default();
    // Opened files first: a sealed copy may hold the manifest they need.
    for line in lines.iter().filter(|l| l.kind == CopyKind::Opened) {
        let Some(manifest) = copy_manifest(data, &line.package, &lines) else {
            tracing::warn!("opened files of a package whose manifest is gone are left");
            continue;
        };
        for f in &manifest.files {
            let file = line.folder.join(&f.path);
            let Ok(meta) = fs::symlink_metadata(&file) else {
                continue;
            };
            let same = meta.is_file()
                && meta.len() == f.size
                && file_sha256(&file).is_ok_and(|h| h == f.sha256);
            if !same {
                done.kept += 1;
                continue;
            }
            fs::remove_file(&file).map_err(|e| io_err(&file, e))?;
            done.files += 1;
            done.bytes += f.size;
        }
        prune_empty(&line.folder);
    }
    for line in lines.iter().filter(|l| l.kind == CopyKind::Sealed) {
        let dir = &line.folder;
        for sub in [SEGMENTS_DIR, RECEIPTS_DIR] {
            remove_own_folder(&dir.join(sub), &mut done)?;
        }
        let manifest = dir.join(MANIFEST_FILE);
        if let Some(bytes) = remove_file(&manifest).map_err(|e| io_err(&manifest, e))? {
            done.files += 1;
            done.bytes += bytes;
        }
        prune_empty(dir);
    }
    // The desk's opened folder of each package, whatever is in it.
    for package in lines.iter().map(|l| &l.package) {
        if let Some(hex) = package_hex(package) {
            remove_own_folder(&opened_root(data).join(hex), &mut done)?;
        }
    }
    if done.kept > 0 {
        tracing::warn!(
            kept = done.kept,
            "opened evidence files changed since they were opened are left for their holder"
        );
    }
    match fs::remove_file(&path) {
        Ok(()) => Ok(done),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(done),
        Err(e) => Err(io_err(&path, e)),
    }
}
