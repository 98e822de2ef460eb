//! Retention, legal holds and the record of content deleted: the records
//! both adapters keep (`sqlite_retention.rs`, `postgres_retention.rs`).
//!
//! The node decides when a case's content falls due for deletion and
//! writes that instant here with what it stands on; the store keeps it, the
//! changes people made (each with its ledger entry, in one transaction)
//! and, once the content is deleted, the record of the deletion, written
//! in the transaction that deletes the content and queues its ledger entry.

use serde_json::Value;
use time::OffsetDateTime;

use crate::StoreError;
use crate::encode;
use crate::rows::RowAccess;

/// A change of a case's retention: a period or a date set.
pub const CHANGE_RETENTION: &str = "retention";
/// A legal hold placed on a case.
pub const CHANGE_HOLD_PLACED: &str = "hold-placed";
/// A legal hold lifted.
pub const CHANGE_HOLD_LIFTED: &str = "hold-lifted";

/// What a case's retention stands on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionRecord {
    pub case_id: String,
    /// When the case ended (its last step once final); `None` while open.
    pub ended_at: Option<OffsetDateTime>,
    /// A period in days set for this case in place of the node's default.
    pub days: Option<u32>,
    /// A date set for this case in place of any period.
    pub until: Option<OffsetDateTime>,
    /// Whether a legal hold is in force.
    pub held: bool,
    /// When the content falls due for deletion, as the node computed it;
    /// `None` while the case is open and once deleted.
    pub delete_at: Option<OffsetDateTime>,
    pub changed_at: OffsetDateTime,
}

/// A person's change of a case's retention, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionChange {
    pub case_id: String,
    pub at: OffsetDateTime,
    /// The label of who changed it.
    pub person: String,
    /// [`CHANGE_RETENTION`], [`CHANGE_HOLD_PLACED`] or [`CHANGE_HOLD_LIFTED`].
    pub change: String,
    pub days: Option<u32>,
    pub until: Option<OffsetDateTime>,
    pub reason: String,
    /// The content id of the ledger entry written with it.
    pub entry_sha256: String,
}

/// The deletion of a case's content, as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct ContentDeletion {
    pub case_id: String,
    pub at: OffsetDateTime,
    /// The label of who deleted it: a person, or the node's scheduler.
    pub actor: String,
    pub reason: String,
    /// Message envelopes deleted (filled in by the store).
    pub messages: u64,
    /// Saved drafts deleted (filled in by the store).
    pub drafts: u64,
    pub evidence_files: u64,
    pub evidence_bytes: u64,
    /// Ids and hashes of what was deleted, never the content.
    pub detail: Value,
    /// The content id of the `content-deleted` ledger entry.
    pub entry_sha256: String,
}

pub(crate) fn check_retention(r: &RetentionRecord) -> Result<(), StoreError> {
    encode::text("case_retention.case_id", &r.case_id)?;
    for (field, t) in [
        ("case_retention.ended_at", r.ended_at),
        ("case_retention.until", r.until),
        ("case_retention.delete_at", r.delete_at),
        ("case_retention.changed_at", Some(r.changed_at)),
    ] {
        if let Some(t) = t {
            encode::timestamp(field, t)?;
        }
    }
    Ok(())
}

pub(crate) fn check_change(c: &RetentionChange) -> Result<(), StoreError> {
    encode::text("retention_changes.case_id", &c.case_id)?;
    encode::text("retention_changes.person", &c.person)?;
    encode::text("retention_changes.reason", &c.reason)?;
    encode::text("retention_changes.entry_sha256", &c.entry_sha256)?;
    if ![CHANGE_RETENTION, CHANGE_HOLD_PLACED, CHANGE_HOLD_LIFTED].contains(&c.change.as_str()) {
        return Err(StoreError::InvalidValue {
            field: "retention_changes.change",
            problem: format!("{:?} is not a retention change", c.change),
        });
    }
    encode::timestamp("retention_changes.at", c.at)?;
    if let Some(t) = c.until {
        encode::timestamp("retention_changes.until", t)?;
    }
    Ok(())
}

pub(crate) fn check_deletion(d: &ContentDeletion) -> Result<String, StoreError> {
    encode::text("content_deletions.case_id", &d.case_id)?;
    encode::text("content_deletions.actor", &d.actor)?;
    encode::text("content_deletions.reason", &d.reason)?;
    encode::text("content_deletions.entry_sha256", &d.entry_sha256)?;
    encode::timestamp("content_deletions.at", d.at)?;
    encode::count("content_deletions.evidence_files", d.evidence_files)?;
    encode::count("content_deletions.evidence_bytes", d.evidence_bytes)?;
    encode::json("content_deletions.detail", &d.detail)
}

fn days(raw: Option<i64>) -> Result<Option<u32>, StoreError> {
    raw.map(|d| {
        u32::try_from(d).map_err(|_| StoreError::Corrupt {
            table: "case_retention",
            column: "days",
            detail: format!("{d} is not a number of days"),
        })
    })
    .transpose()
}

fn unsigned(table: &'static str, column: &'static str, raw: i64) -> Result<u64, StoreError> {
    u64::try_from(raw).map_err(|_| StoreError::Corrupt {
        table,
        column,
        detail: format!("{raw} is not a count"),
    })
}

pub(crate) fn retention_row(row: &impl RowAccess) -> Result<RetentionRecord, StoreError> {
    const T: &str = "case_retention";
    Ok(RetentionRecord {
        case_id: row.get(T, "case_id")?,
        ended_at: row.optional_time(T, "ended_at")?,
        days: days(row.get(T, "days")?)?,
        until: row.optional_time(T, "until")?,
        held: row.get(T, "held")?,
        delete_at: row.optional_time(T, "delete_at")?,
        changed_at: row.time(T, "changed_at")?,
    })
}

pub(crate) fn change_row(row: &impl RowAccess) -> Result<RetentionChange, StoreError> {
    const T: &str = "retention_changes";
    Ok(RetentionChange {
        case_id: row.get(T, "case_id")?,
        at: row.time(T, "at")?,
        person: row.get(T, "person")?,
        change: row.get(T, "change")?,
        days: days(row.get(T, "days")?)?,
        until: row.optional_time(T, "until")?,
        reason: row.get(T, "reason")?,
        entry_sha256: row.get(T, "entry_sha256")?,
    })
}

pub(crate) fn deletion_row(row: &impl RowAccess) -> Result<ContentDeletion, StoreError> {
    const T: &str = "content_deletions";
    let detail: String = row.get(T, "detail")?;
    Ok(ContentDeletion {
        case_id: row.get(T, "case_id")?,
        at: row.time(T, "at")?,
        actor: row.get(T, "actor")?,
        reason: row.get(T, "reason")?,
        messages: unsigned(T, "messages", row.get(T, "messages")?)?,
        drafts: unsigned(T, "drafts", row.get(T, "drafts")?)?,
        evidence_files: unsigned(T, "evidence_files", row.get(T, "evidence_files")?)?,
        evidence_bytes: unsigned(T, "evidence_bytes", row.get(T, "evidence_bytes")?)?,
        detail: serde_json::from_str(&detail).map_err(|e| StoreError::Corrupt {
            table: T,
            column: "detail",
            detail: e.to_string(),
        })?,
        entry_sha256: row.get(T, "entry_sha256")?,
    })
}

/// The columns the mappers read, in SQL both backends accept.
pub(crate) const RETENTION_COLUMNS: &str =
    "case_id, ended_at, days, until, held, delete_at, changed_at";
pub(crate) const CHANGE_COLUMNS: &str =
    "case_id, at, person, change, days, until, reason, entry_sha256";
pub(crate) const DELETION_COLUMNS: &str = "case_id, at, actor, reason, messages, drafts, \
     evidence_files, evidence_bytes, CAST(detail AS TEXT) AS detail, entry_sha256";
