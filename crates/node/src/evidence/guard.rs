//! The output folder of a seal or an open: taken only if it does not exist
//! (it is then created) or is an empty folder, and cleaned up if the
//! operation fails (removed if it was created, emptied if it existed), so
//! that a failed operation leaves nothing half-written behind.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::layout::io_err;
use crate::NodeError;

/// Removes what a failed operation created in its output folder.
pub(crate) struct OutputGuard {
    dir: PathBuf,
    created: bool,
    armed: bool,
}

impl OutputGuard {
    /// Takes `dir` for output: it must not exist (it is created) or be an
    /// empty folder.
    pub(crate) fn take(dir: &Path) -> Result<Self, NodeError> {
        match fs::symlink_metadata(dir) {
            Ok(meta) => {
                if !meta.is_dir() {
                    return Err(output_err(dir, "it exists and is not a folder"));
                }
                let mut entries = fs::read_dir(dir).map_err(|e| io_err(dir, e))?;
                if entries.next().is_some() {
                    return Err(output_err(dir, "the folder exists and is not empty"));
                }
                Ok(Self {
                    dir: dir.to_owned(),
                    created: false,
                    armed: true,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(dir).map_err(|e| io_err(dir, e))?;
                Ok(Self {
                    dir: dir.to_owned(),
                    created: true,
                    armed: true,
                })
            }
            Err(e) => Err(io_err(dir, e)),
        }
    }

    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for OutputGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.created {
            let _ = fs::remove_dir_all(&self.dir);
        } else if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let p = entry.path();
                let _ = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
            }
        }
    }
}

/// An output folder that cannot be used.
fn output_err(dir: &Path, problem: &str) -> NodeError {
    NodeError::OutputFolder {
        path: dir.display().to_string(),
        problem: problem.to_owned(),
    }
}
