//! The PostgreSQL adapter's retention, legal holds and content deletions
//! (`retention.rs`): each write with its ledger entries in one transaction.

use time::OffsetDateTime;

use crate::decode::failed;
use crate::encode;
use crate::postgres::PgStore;
use crate::postgres_write::{PgTx, finish};
use crate::retention::{self, ContentDeletion, RetentionChange, RetentionRecord};
use crate::txn::{self, Tx};
use crate::{OutgoingMessage, StoreError};

impl PgStore {
    pub(crate) async fn pg_retention(
        &self,
        case_id: &str,
    ) -> Result<Option<RetentionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT case_id, ended_at, days, until, held, delete_at, changed_at \
             FROM case_retention WHERE case_id = $1",
        )
        .bind(case_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a case's retention"))?;
        row.as_ref().map(retention::retention_row).transpose()
    }

    pub(crate) async fn pg_put_retention(
        &self,
        record: &RetentionRecord,
        change: Option<&RetentionChange>,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        retention::check_retention(record)?;
        if let Some(c) = change {
            retention::check_change(c)?;
        }
        let at = crate::storage_precision(record.changed_at);
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin keeping a case's retention"))?;
        let done = async {
            let entries: Vec<&[u8]> = ledger.iter().map(Vec::as_slice).collect();
            PgTx(&mut tx).queue_entries(&entries, at).await?;
            sqlx::query(
                "INSERT INTO case_retention (case_id, ended_at, days, until, held, delete_at, \
                 changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (case_id) DO UPDATE SET ended_at = excluded.ended_at, \
                 days = excluded.days, until = excluded.until, held = excluded.held, \
                 delete_at = excluded.delete_at, changed_at = excluded.changed_at",
            )
            .bind(&record.case_id)
            .bind(record.ended_at.map(crate::storage_precision))
            .bind(record.days.map(i64::from))
            .bind(record.until.map(crate::storage_precision))
            .bind(record.held)
            .bind(record.delete_at.map(crate::storage_precision))
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(failed("keep a case's retention"))?;
            if let Some(c) = change {
                sqlx::query(
                    "INSERT INTO retention_changes (case_id, at, person, change, days, until, \
                     reason, entry_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&c.case_id)
                .bind(crate::storage_precision(c.at))
                .bind(&c.person)
                .bind(&c.change)
                .bind(c.days.map(i64::from))
                .bind(c.until.map(crate::storage_precision))
                .bind(&c.reason)
                .bind(&c.entry_sha256)
                .execute(&mut *tx)
                .await
                .map_err(failed("record a retention change"))?;
            }
            Ok(())
        }
        .await;
        finish(tx, done, "commit a retention change").await
    }

    pub(crate) async fn pg_retention_changes(
        &self,
        case_id: &str,
    ) -> Result<Vec<RetentionChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, at, person, change, days, until, reason, entry_sha256 \
             FROM retention_changes WHERE case_id = $1 ORDER BY seq",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list a case's retention changes"))?;
        rows.iter().map(retention::change_row).collect()
    }

    pub(crate) async fn pg_due_deletions(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let now = encode::timestamp("now", now)?;
        sqlx::query_scalar::<_, String>(
            "SELECT case_id FROM case_retention \
             WHERE delete_at IS NOT NULL AND NOT held AND delete_at <= $1 \
             ORDER BY delete_at, case_id LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list the cases due for deletion"))
    }

    pub(crate) async fn pg_delete_case_content(
        &self,
        deletion: &ContentDeletion,
        ledger: &[Vec<u8>],
        report: Option<&OutgoingMessage>,
    ) -> Result<Option<ContentDeletion>, StoreError> {
        let detail = retention::check_deletion(deletion)?;
        let mut d = deletion.clone();
        let at = crate::storage_precision(d.at);
        let report = report.map(encode::outgoing).transpose()?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin deleting a case's content"))?;
        let done = async {
            // The case's retention row is locked first, so a hold placed
            // meanwhile waits for this deletion or stops it.
            let held: Option<bool> =
                sqlx::query_scalar("SELECT held FROM case_retention WHERE case_id = $1 FOR UPDATE")
                    .bind(&d.case_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(failed("read a case's hold"))?;
            let deleted: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM content_deletions WHERE case_id = $1")
                    .bind(&d.case_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(failed("read a content deletion"))?;
            if deleted.is_some() || held == Some(true) {
                return Ok(None);
            }
            let empty: &[u8] = &[];
            d.messages = sqlx::query(
                "UPDATE messages SET envelope = $2 WHERE thread = $1 AND length(envelope) > 0",
            )
            .bind(&d.case_id)
            .bind(empty)
            .execute(&mut *tx)
            .await
            .map_err(failed("delete a case's messages"))?
            .rows_affected();
            d.drafts =
                sqlx::query("UPDATE requests SET draft = NULL WHERE id = $1 AND draft IS NOT NULL")
                    .bind(&d.case_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed("delete a case's draft"))?
                    .rows_affected();
            sqlx::query(
                "UPDATE outbox SET ciphertext = $2 WHERE thread = $1 AND state <> 'pending'",
            )
            .bind(&d.case_id)
            .bind(empty)
            .execute(&mut *tx)
            .await
            .map_err(failed("delete a case's sent ciphertexts"))?;
            sqlx::query("UPDATE case_retention SET delete_at = NULL WHERE case_id = $1")
                .bind(&d.case_id)
                .execute(&mut *tx)
                .await
                .map_err(failed("close a case's retention"))?;
            sqlx::query(
                "INSERT INTO content_deletions (case_id, at, actor, reason, messages, drafts, \
                 evidence_files, evidence_bytes, detail, entry_sha256) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)",
            )
            .bind(&d.case_id)
            .bind(at)
            .bind(&d.actor)
            .bind(&d.reason)
            .bind(encode::count("messages", d.messages)?)
            .bind(encode::count("drafts", d.drafts)?)
            .bind(encode::count("evidence_files", d.evidence_files)?)
            .bind(encode::count("evidence_bytes", d.evidence_bytes)?)
            .bind(&detail)
            .bind(&d.entry_sha256)
            .execute(&mut *tx)
            .await
            .map_err(failed("record a content deletion"))?;
            let entries: Vec<&[u8]> = ledger.iter().map(Vec::as_slice).collect();
            PgTx(&mut tx).queue_entries(&entries, at).await?;
            // After the deletion, which empties the thread's envelopes.
            if let Some(report) = &report {
                txn::record_outgoing(&mut PgTx(&mut tx), report).await?;
            }
            d.at = at;
            Ok(Some(d))
        }
        .await;
        finish(tx, done, "commit a content deletion").await
    }

    pub(crate) async fn pg_content_deletion(
        &self,
        case_id: &str,
    ) -> Result<Option<ContentDeletion>, StoreError> {
        let row = sqlx::query(
            "SELECT case_id, at, actor, reason, messages, drafts, evidence_files, \
             evidence_bytes, CAST(detail AS TEXT) AS detail, entry_sha256 \
             FROM content_deletions WHERE case_id = $1",
        )
        .bind(case_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a content deletion"))?;
        row.as_ref().map(retention::deletion_row).transpose()
    }

    pub(crate) async fn pg_deleted_cases(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar::<_, String>("SELECT case_id FROM content_deletions ORDER BY case_id")
            .fetch_all(&self.pool)
            .await
            .map_err(failed("list the cases whose content was deleted"))
    }
}
