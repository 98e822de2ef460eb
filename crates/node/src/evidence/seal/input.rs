//! Walking the inputs of a seal: the files and folders named, listed in the
//! order the tar stream carries them (the top-level names sorted, each
//! folder before its contents, the contents sorted by name), with each
//! file's size, modification time and executable bit.
//!
//! Inputs are regular files and folders only. Symbolic links are refused
//! whether they point inside or outside the sealed folders (a package holds
//! the files themselves, never a link to follow on another machine), and so
//! are devices, FIFOs and sockets, paths with `..`, and names that are not
//! UTF-8 or not valid package paths. Every refusal names the path.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use custos_protocol::evidence::check_relative_path;

use crate::NodeError;
use crate::evidence::layout::io_err;

pub(super) fn input_err(path: &Path, problem: impl Into<String>) -> NodeError {
    NodeError::EvidenceInput {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

/// One entry of the tar stream, found by [`collect`].
#[derive(Debug)]
pub(super) struct Item {
    pub(super) rel: String,
    pub(super) src: PathBuf,
    pub(super) dir: bool,
    pub(super) size: u64,
    pub(super) mtime: i64,
    pub(super) executable: bool,
}

fn mtime_of(meta: &fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

fn kind_name(ft: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_char_device() {
            return "a character device";
        }
    }
    let _ = ft;
    "neither a regular file nor a folder"
}

/// Lists what `paths` hold, in the order the tar stream carries them: the
/// top-level names sorted, each folder before its contents, the contents
/// sorted by name.
pub(super) fn collect(paths: &[PathBuf]) -> Result<Vec<Item>, NodeError> {
    if paths.is_empty() {
        return Err(input_err(
            Path::new(""),
            "nothing to seal: give files or folders",
        ));
    }
    let mut roots: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut canonical_roots = Vec::new();
    for path in paths {
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(input_err(
                path,
                "the path contains `..`; name the file or folder without it",
            ));
        }
        let meta = fs::symlink_metadata(path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                input_err(path, "does not exist")
            } else {
                input_err(path, format!("cannot be read: {e}"))
            }
        })?;
        if meta.file_type().is_symlink() {
            return Err(input_err(
                path,
                "is a symbolic link; name the file or folder it points to instead",
            ));
        }
        let name = match path.file_name() {
            Some(n) => n.to_owned(),
            None => fs::canonicalize(path)
                .ok()
                .and_then(|p| p.file_name().map(ToOwned::to_owned))
                .ok_or_else(|| input_err(path, "has no name to store it under"))?,
        };
        let name = name
            .to_str()
            .ok_or_else(|| input_err(path, "the name is not valid UTF-8"))?
            .to_owned();
        check_relative_path(&name).map_err(|e| input_err(path, e.to_string()))?;
        if let Some(other) = roots.insert(name.clone(), path.clone()) {
            return Err(input_err(
                path,
                format!(
                    "has the same name {name:?} as {}; a package holds each name once",
                    other.display()
                ),
            ));
        }
        canonical_roots.push(fs::canonicalize(path).map_err(|e| io_err(path, e))?);
    }
    let mut items = Vec::new();
    for (name, path) in &roots {
        walk(path, name.clone(), &canonical_roots, &mut items)?;
    }
    Ok(items)
}

fn walk(
    path: &Path,
    rel: String,
    roots: &[PathBuf],
    items: &mut Vec<Item>,
) -> Result<(), NodeError> {
    let meta = fs::symlink_metadata(path).map_err(|e| io_err(path, e))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(path).map_err(|e| io_err(path, e))?;
        let resolved = path
            .parent()
            .map(|p| p.join(&target))
            .and_then(|p| fs::canonicalize(p).ok());
        let inside = resolved
            .as_ref()
            .is_some_and(|r| roots.iter().any(|root| r.starts_with(root)));
        let where_ = if inside {
            "inside the sealed folders; seal the file itself, links are not kept"
        } else {
            "which leaves the sealed folders"
        };
        return Err(input_err(
            path,
            format!("is a symbolic link to {} {where_}", target.display()),
        ));
    }
    check_relative_path(&rel).map_err(|e| input_err(path, e.to_string()))?;
    if ft.is_file() {
        items.push(Item {
            rel,
            src: path.to_owned(),
            dir: false,
            size: meta.len(),
            mtime: mtime_of(&meta),
            executable: is_executable(&meta),
        });
        return Ok(());
    }
    if !ft.is_dir() {
        return Err(input_err(
            path,
            format!(
                "is {}; only regular files and folders can be sealed",
                kind_name(&ft)
            ),
        ));
    }
    items.push(Item {
        rel: rel.clone(),
        src: path.to_owned(),
        dir: true,
        size: 0,
        mtime: mtime_of(&meta),
        executable: true,
    });
    let mut children = Vec::new();
    for entry in fs::read_dir(path).map_err(|e| io_err(path, e))? {
        let entry = entry.map_err(|e| io_err(path, e))?;
        let name = entry.file_name();
        let Some(text) = name.to_str() else {
            return Err(input_err(&entry.path(), "the name is not valid UTF-8"));
        };
        children.push(text.to_owned());
    }
    children.sort();
    for child in children {
        walk(&path.join(&child), format!("{rel}/{child}"), roots, items)?;
    }
    Ok(())
}
