//! The SQLite adapter's retention, legal holds and content deletions
//! (`retention.rs`): each write with its ledger entries in one transaction.

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use crate::encode;
use crate::retention::{
    self, CHANGE_COLUMNS, ContentDeletion, DELETION_COLUMNS, RETENTION_COLUMNS, RetentionChange,
    RetentionRecord,
};
use crate::sqlite::SqliteStore;
use crate::sqlite_db::{all, execute, failed, first};
use crate::sqlite_write::SqliteTx;
use crate::txn::{Tx, run_now};
use crate::{OutgoingMessage, StoreError};

fn micros(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(encode::unix_micros)
}

fn queue(conn: &Connection, ledger: &[Vec<u8>], at: OffsetDateTime) -> Result<(), StoreError> {
    let entries: Vec<&[u8]> = ledger.iter().map(Vec::as_slice).collect();
    run_now(SqliteTx(conn).queue_entries(&entries, at))
}

impl SqliteStore {
    pub(crate) async fn sqlite_retention(
        &self,
        case_id: &str,
    ) -> Result<Option<RetentionRecord>, StoreError> {
        let id = case_id.to_owned();
        self.read(move |conn| {
            first(
                conn,
                &format!("SELECT {RETENTION_COLUMNS} FROM case_retention WHERE case_id = ?1"),
                params![id],
                "read a case's retention",
                |row| retention::retention_row(row),
            )
        })
    }

    pub(crate) async fn sqlite_put_retention(
        &self,
        record: &RetentionRecord,
        change: Option<&RetentionChange>,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        retention::check_retention(record)?;
        if let Some(c) = change {
            retention::check_change(c)?;
        }
        let r = record.clone();
        let c = change.cloned();
        let ledger = ledger.to_vec();
        self.writer
            .write(move |conn| {
                let at = crate::storage_precision(r.changed_at);
                queue(conn, &ledger, at)?;
                execute(
                    conn,
                    "INSERT INTO case_retention (case_id, ended_at, days, until, held, delete_at, \
                     changed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                     ON CONFLICT (case_id) DO UPDATE SET ended_at = excluded.ended_at, \
                     days = excluded.days, until = excluded.until, held = excluded.held, \
                     delete_at = excluded.delete_at, changed_at = excluded.changed_at",
                    params![
                        r.case_id,
                        micros(r.ended_at),
                        r.days,
                        micros(r.until),
                        r.held,
                        micros(r.delete_at),
                        encode::unix_micros(at)
                    ],
                    "keep a case's retention",
                )?;
                if let Some(c) = c {
                    execute(
                        conn,
                        "INSERT INTO retention_changes (case_id, at, person, change, days, until, \
                         reason, entry_sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![
                            c.case_id,
                            encode::unix_micros(crate::storage_precision(c.at)),
                            c.person,
                            c.change,
                            c.days,
                            micros(c.until),
                            c.reason,
                            c.entry_sha256
                        ],
                        "record a retention change",
                    )?;
                }
                Ok(())
            })
            .await
    }

    pub(crate) async fn sqlite_retention_changes(
        &self,
        case_id: &str,
    ) -> Result<Vec<RetentionChange>, StoreError> {
        let id = case_id.to_owned();
        self.read_long(move |conn| {
            all(
                conn,
                &format!(
                    "SELECT {CHANGE_COLUMNS} FROM retention_changes WHERE case_id = ?1 ORDER BY seq"
                ),
                params![id],
                "list a case's retention changes",
                |row| retention::change_row(row),
            )
        })
        .await
    }

    pub(crate) async fn sqlite_due_deletions(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let now = encode::unix_micros(encode::timestamp("now", now)?);
        self.read_long(move |conn| {
            all(
                conn,
                "SELECT case_id FROM case_retention \
                 WHERE delete_at IS NOT NULL AND held = 0 AND delete_at <= ?1 \
                 ORDER BY delete_at, case_id LIMIT ?2",
                params![now, i64::from(limit)],
                "list the cases due for deletion",
                |row| crate::sqlite_db::column(row, "case_retention", "case_id"),
            )
        })
        .await
    }

    pub(crate) async fn sqlite_delete_case_content(
        &self,
        deletion: &ContentDeletion,
        ledger: &[Vec<u8>],
        report: Option<&OutgoingMessage>,
    ) -> Result<Option<ContentDeletion>, StoreError> {
        let detail = retention::check_deletion(deletion)?;
        let mut d = deletion.clone();
        let ledger = ledger.to_vec();
        let report = report.cloned();
        self.writer
            .write(move |conn| {
                let e = failed("delete a case's content");
                let done: Option<i64> = conn
                    .query_row(
                        "SELECT 1 FROM content_deletions WHERE case_id = ?1",
                        params![d.case_id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(&e)?;
                let held: Option<bool> = conn
                    .query_row(
                        "SELECT held FROM case_retention WHERE case_id = ?1",
                        params![d.case_id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(&e)?;
                if done.is_some() || held == Some(true) {
                    return Ok(None);
                }
                let at = crate::storage_precision(d.at);
                let empty: &[u8] = &[];
                d.messages = execute(
                    conn,
                    "UPDATE messages SET envelope = ?2 WHERE thread = ?1 AND length(envelope) > 0",
                    params![d.case_id, empty],
                    "delete a case's messages",
                )? as u64;
                d.drafts = execute(
                    conn,
                    "UPDATE requests SET draft = NULL WHERE id = ?1 AND draft IS NOT NULL",
                    params![d.case_id],
                    "delete a case's draft",
                )? as u64;
                execute(
                    conn,
                    "UPDATE outbox SET ciphertext = ?2 WHERE thread = ?1 AND state <> 'pending'",
                    params![d.case_id, empty],
                    "delete a case's sent ciphertexts",
                )?;
                execute(
                    conn,
                    "UPDATE case_retention SET delete_at = NULL WHERE case_id = ?1",
                    params![d.case_id],
                    "close a case's retention",
                )?;
                execute(
                    conn,
                    "INSERT INTO content_deletions (case_id, at, actor, reason, messages, drafts, \
                     evidence_files, evidence_bytes, detail, entry_sha256) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        d.case_id,
                        encode::unix_micros(at),
                        d.actor,
                        d.reason,
                        d.messages as i64,
                        d.drafts as i64,
                        d.evidence_files as i64,
                        d.evidence_bytes as i64,
                        detail,
                        d.entry_sha256
                    ],
                    "record a content deletion",
                )?;
                queue(conn, &ledger, at)?;
                // After the deletion, which empties the thread's envelopes.
                if let Some(report) = &report {
                    crate::sqlite_write::record_outgoing(conn, report)?;
                }
                d.at = at;
                Ok(Some(d))
            })
            .await
    }

    pub(crate) async fn sqlite_content_deletion(
        &self,
        case_id: &str,
    ) -> Result<Option<ContentDeletion>, StoreError> {
        let id = case_id.to_owned();
        self.read(move |conn| {
            first(
                conn,
                &format!("SELECT {DELETION_COLUMNS} FROM content_deletions WHERE case_id = ?1"),
                params![id],
                "read a content deletion",
                |row| retention::deletion_row(row),
            )
        })
    }

    pub(crate) async fn sqlite_deleted_cases(&self) -> Result<Vec<String>, StoreError> {
        self.read_long(move |conn| {
            all(
                conn,
                "SELECT case_id FROM content_deletions ORDER BY case_id",
                params![],
                "list the cases whose content was deleted",
                |row| crate::sqlite_db::column(row, "content_deletions", "case_id"),
            )
        })
        .await
    }
}
