//! Failing closed on custody: the node refuses messages and evidence while
//! its custody ledger cannot be extended, and says why.
//!
//! The database alone cannot tell that it was rolled back: an older copy is
//! consistent with its own older checkpoints. So the sequencer also writes
//! the latest checkpoint it signed to `DATA/latest-checkpoint`, outside the
//! database, and every pass compares the stored ledger's size with it. A
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
        let size = match std::fs::read_to_string(&path) {
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
        if let Err(e) = write_private(&path, note.as_bytes()) {
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
