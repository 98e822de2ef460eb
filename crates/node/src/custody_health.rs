//! Failing closed on custody: the node refuses messages and evidence while
//! its custody ledger cannot be extended, and says why.
//!
//! The database alone cannot tell that it was rolled back: an older copy is
//! consistent with its own older checkpoints. So the sequencer also writes
//! the latest checkpoint it signed to `DATA/latest-checkpoint`, outside the
//! database (written in place, [`overwrite_private`]), and every pass compares the stored ledger's size with it. A
//! ledger smaller than a checkpoint this node already signed (a restored
//! backup, a rolled-back PostgreSQL) or an append the store refuses as
//! damaged raises the fault; the next pass that finds the ledger whole and
//! appends clears it. While it stands, intake answers `custody-unavailable`
//! (503) before storing anything, so no receipt is handed out that the
//! ledger cannot back. The file is a lower bound: losing it (or a stale
//! copy written by another process) makes the check more lenient, never
//! wrong.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use crate::{Node, NodeError};

/// The file, in the data directory, holding the latest checkpoint the node signed.
pub const CHECKPOINT_MARK_FILE: &str = "latest-checkpoint";

impl Node {
    fn checkpoint_mark_path(&self) -> PathBuf {
        self.settings.data_dir.join(CHECKPOINT_MARK_FILE)
    }

    /// Reads the checkpoint mark file (its size line); 0 when there is none.
    pub(crate) fn load_checkpoint_mark(&self) {
        let path = self.checkpoint_mark_path();
        let size = match read_settled(&path) {
            Ok(text) => match mark_size(&text) {
                Some(size) => size,
                None => {
                    tracing::warn!(path = %path.display(), "the checkpoint mark does not parse; ignored");
                    0
                }
            },
            Err(_) => 0,
        };
        self.custody_mark.fetch_max(size, Ordering::SeqCst);
    }

    /// Records `note` (a checkpoint of `size` entries, just signed and stored)
    /// as the latest: kept in memory and written to the mark file.
    pub(crate) fn record_checkpoint_mark(&self, size: u64, note: &str) {
        let previous = self.custody_mark.fetch_max(size, Ordering::SeqCst);
        if previous > size {
            return;
        }
        let path = self.checkpoint_mark_path();
        if let Err(e) = overwrite_private(&path, note.as_bytes()) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the checkpoint mark");
        }
    }

    /// The size of the latest checkpoint this node knows it signed.
    pub fn checkpoint_mark(&self) -> u64 {
        self.custody_mark.load(Ordering::SeqCst)
    }

    /// Fails when the stored ledger (`size` entries, read after `mark` was
    /// taken) holds fewer entries than a checkpoint this node signed.
    pub(crate) fn check_not_behind(&self, size: u64, mark: u64) -> Result<(), NodeError> {
        if size < mark {
            return Err(NodeError::CustodyUnavailable(format!(
                "the database's ledger holds {size} entries, but this node already signed a \
                 checkpoint of {mark} entries ({}): the database was rolled back or damaged; \
                 restore the current copy",
                self.checkpoint_mark_path().display()
            )));
        }
        Ok(())
    }

    /// Checks that the ledger can be extended: the stored ledger is not behind the mark.
    pub async fn check_custody(&self) -> Result<(), NodeError> {
        // The mark first: it only grows after an append has committed, so a
        // size read after it is at least the mark unless the ledger shrank.
        let mark = self.checkpoint_mark();
        let size = self.store.ledger_size().await?;
        self.check_not_behind(size, mark)
    }

    /// Notes the outcome of a check or sequencing pass: `Some(why)` raises
    /// the fault (logged once when it appears or changes), `None` clears it.
    pub fn note_custody(&self, fault: Option<String>) {
        let mut held = self
            .custody_fault
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if *held == fault {
            return;
        }
        match &fault {
            Some(why) => tracing::error!(
                reason = %why,
                "custody ledger unavailable: refusing messages and evidence until it is repaired"
            ),
            None => tracing::info!("custody ledger available again: accepting messages"),
        }
        *held = fault;
    }

    /// Why the ledger cannot be extended, if it cannot.
    pub fn custody_fault(&self) -> Option<String> {
        self.custody_fault
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `Ok` while the ledger can be extended; the refusal otherwise.
    pub fn custody_open(&self) -> Result<(), NodeError> {
        match self.custody_fault() {
            Some(why) => Err(NodeError::CustodyUnavailable(why)),
            None => Ok(()),
        }
    }
}

/// The size line (the second) of a checkpoint note.
fn mark_size(note: &str) -> Option<u64> {
    note.lines().nth(1)?.trim().parse().ok()
}

/// Writes `bytes` over the start of the file at `path` (created, readable
/// by the owner only, if it is not there) and cuts the file to their length.
///
/// The sequencer writes the mark after every checkpoint, so this is on the
/// path of every receipt: one `open`, one `pwrite` and one `ftruncate`,
/// where a new file renamed over the old one cost an inode allocated, a
/// directory entry replaced and an inode freed each time. A checkpoint
/// note of a node never gets shorter (the size only grows, the other lines
/// keep their length), so the truncation changes nothing but in the rare
/// case of two processes writing at once, where it may cut the other's
/// last bytes; the size line, the second, stays whole. A reader that runs
/// during the write may see a mix of the two notes: [`read_settled`] reads
/// until two reads agree.
pub(crate) fn overwrite_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    file.write_all_at(bytes, 0)?;
    file.set_len(bytes.len() as u64)
}

/// Reads a small file that [`overwrite_private`] may be writing at the
/// same time: again until two reads in a row agree (at most a few times).
fn read_settled(path: &std::path::Path) -> std::io::Result<String> {
    let mut last = std::fs::read_to_string(path)?;
    for _ in 0..8 {
        let again = std::fs::read_to_string(path)?;
        if again == last {
            break;
        }
        last = again;
    }
    Ok(last)
}

/// Writes a small file atomically (temporary name, then rename), readable by the owner only.
pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    // A name of its own, so two processes writing at once do not mix.
    let tmp = path.with_extension(format!("{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    let written = f.write_all(bytes).and_then(|()| {
        drop(f);
        std::fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_is_the_second_line_of_the_note() {
        assert_eq!(mark_size("node FR\n42\nq83vk=\n\n— FR abc\n"), Some(42));
        assert_eq!(mark_size("node FR\n"), None);
        assert_eq!(mark_size("node FR\nforty\n"), None);
    }
}

#[cfg(test)]
mod mark_file_tests {
    use super::*;

    #[test]
    fn the_mark_is_overwritten_in_place_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHECKPOINT_MARK_FILE);
        overwrite_private(&path, b"node FR\n9\nabc\n").unwrap();
        overwrite_private(&path, b"node FR\n10\nabc\n").unwrap();
        assert_eq!(read_settled(&path).unwrap(), "node FR\n10\nabc\n");
        // A shorter text leaves nothing of the longer one behind.
        overwrite_private(&path, b"node FR\n7\n").unwrap();
        assert_eq!(read_settled(&path).unwrap(), "node FR\n7\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Removed while the node runs: the next checkpoint writes it again.
        std::fs::remove_file(&path).unwrap();
        overwrite_private(&path, b"node FR\n11\n").unwrap();
        assert_eq!(mark_size(&read_settled(&path).unwrap()), Some(11));
    }
}
