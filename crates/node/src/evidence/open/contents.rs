//! Checking the decrypted tar stream of a package against its manifest's
//! file list, entry by entry: names, order, sizes and SHA-256. When
//! opening, each file is written to a temporary name while it is hashed and
//! kept under its real name only if it matches; what does not match is
//! deleted and reported.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use custos_protocol::evidence::{Manifest, check_relative_path};
use sha2::{Digest as _, Sha256};

use super::report::{Mismatch, Report};
use super::writer::{Disk, OutFile, ReadOutcome};
use crate::NodeError;
use crate::evidence::layout::{hex, io_err};
use crate::evidence::pipeline::BUFFER;

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
pub(super) fn walk_tar<R: Read>(
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
