//! [`SafeguardStore`]: the safeguards' records: who saw what and the cases
//! granted to a person, confidentiality, what other States provided (use
//! limits), retention and deletion.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::{
    AccessFilter, AccessRecord, CaseAssignment, CaseGrant, ConfidentialMark, ContentDeletion,
    OutgoingMessage, ReceivedFile, ReceivedOrigin, RetentionChange, RetentionRecord, StoreError,
};

/// The safeguards' records: who saw what and the cases granted to a person,
/// confidentiality, what other States provided (use limits), retention and
/// deletion.
#[async_trait]
pub trait SafeguardStore: Send + Sync {
    // -- Access: the record of who saw what, and the cases granted to a
    // person (`access.rs`). Each write queues its ledger entry in the same
    // transaction.

    /// Records one access decision with its ledger `entry` (queued as of
    /// the record's time), all or nothing; the row's number.
    async fn record_access(&self, record: &AccessRecord, entry: &[u8]) -> Result<i64, StoreError> {
        // One number per row given: the only one.
        let ids = self
            .record_accesses(&[(record.clone(), entry.to_vec())])
            .await?;
        Ok(ids.into_iter().next().unwrap_or_default())
    }

    /// Records several access decisions, each with its ledger entry
    /// (queued as of its record's time), in one transaction: all or
    /// nothing; the rows' numbers in the order given. A listing that
    /// decides for many cases at once writes its rows together.
    async fn record_accesses(
        &self,
        records: &[(AccessRecord, Vec<u8>)],
    ) -> Result<Vec<i64>, StoreError>;

    /// The access records matching `filter`, newest first (ties by number,
    /// descending).
    async fn access_records(&self, filter: &AccessFilter) -> Result<Vec<AccessRecord>, StoreError>;

    /// Grants a person a case with its ledger `entry` (queued as of the
    /// grant's time), all or nothing; the grant's number.
    async fn grant_case(&self, grant: &CaseGrant, entry: &[u8]) -> Result<i64, StoreError>;

    /// Revokes every grant of `case_id` to `person` not yet revoked, by
    /// `by` at `at`, with its ledger `entry`; how many were revoked (0:
    /// nothing written, not even the entry).
    async fn revoke_case_grants(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError>;

    /// Every grant of a case, revoked or not, oldest first.
    async fn case_grants(&self, case_id: &str) -> Result<Vec<CaseGrant>, StoreError>;

    // -- Confidentiality (issue 18): the people assigned to a case and the
    // marks that make a case confidential (`assignments.rs`). Each
    // assignment and its ending queue their ledger entry in the same
    // transaction.

    /// Assigns a person to a case with its ledger `entry` (queued as of the
    /// assignment's time), all or nothing; the assignment's number, or
    /// `None` (nothing written, not even the entry) when the person is
    /// assigned to the case already.
    async fn assign_case(
        &self,
        assignment: &CaseAssignment,
        entry: &[u8],
    ) -> Result<Option<i64>, StoreError>;

    /// Ends the assignment of `person` to `case_id` in force, by `by` at
    /// `at`, with its ledger `entry`; how many ended (0: nothing written).
    async fn unassign_case(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError>;

    /// Every assignment of a case, ended or not, oldest first.
    async fn case_assignments(&self, case_id: &str) -> Result<Vec<CaseAssignment>, StoreError>;

    /// Marks a case confidential for a reason (`mark.source`); marking it
    /// again for the same reason changes nothing.
    async fn mark_confidential(&self, mark: &ConfidentialMark) -> Result<(), StoreError>;

    /// Why a case is confidential; empty when it is not.
    async fn confidential_marks(&self, case_id: &str) -> Result<Vec<ConfidentialMark>, StoreError>;

    /// Every case's confidentiality marks, by case (for the deep check).
    async fn all_confidential_marks(&self) -> Result<Vec<ConfidentialMark>, StoreError>;

    // -- issue 18: use limits. The index of what other States provided
    // (`received.rs`; `sqlite_received.rs`, `postgres_received.rs`).

    /// Indexes a received package: its origin and the SHA-256 of each of
    /// its files. Indexing it again changes nothing.
    async fn index_received(
        &self,
        origin: &ReceivedOrigin,
        hashes: &[String],
    ) -> Result<(), StoreError>;

    /// Every received package indexed, by package id.
    async fn received_origins(&self) -> Result<Vec<ReceivedOrigin>, StoreError>;

    /// The files of received packages whose SHA-256 is one of `hashes`.
    async fn received_files(&self, hashes: &[String]) -> Result<Vec<ReceivedFile>, StoreError>;

    // -- issue 18: retention. Retention, legal holds and the deletion of a
    // case's content (`retention.rs`; `sqlite_retention.rs`,
    // `postgres_retention.rs`). Each write queues its ledger entries in
    // the same transaction.

    /// What a case's retention stands on, if anything was recorded.
    async fn retention(&self, case_id: &str) -> Result<Option<RetentionRecord>, StoreError>;

    /// Keeps a case's retention as given (replacing what was kept) with the
    /// person's `change`, if any, and the `ledger` entries, queued as of
    /// `record.changed_at`, all or nothing.
    async fn put_retention(
        &self,
        record: &RetentionRecord,
        change: Option<&RetentionChange>,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError>;

    /// A case's retention changes, oldest first.
    async fn retention_changes(&self, case_id: &str) -> Result<Vec<RetentionChange>, StoreError>;

    /// Up to `limit` ids of cases not held whose content falls due for
    /// deletion at or before `now`, the earliest first: a range read of an
    /// index, not a scan.
    async fn due_deletions(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;

    /// Deletes a case's content in one transaction: every message's stored
    /// envelope (made empty), its saved draft and the ciphertexts of its
    /// outbox items no longer pending; its retention closed; `deletion`
    /// recorded with the counts of messages and drafts filled in; and the
    /// `ledger` entries queued as of its time. Ids, kinds, states, times,
    /// receipts and the history stay. `report`, the message telling the
    /// other State of the deletion, is recorded after it as
    /// [`crate::FederationStore::record_outgoing`] records a message, in the same
    /// transaction: a deletion is never kept without its report queued.
    /// `None`, and nothing written, if a legal hold is in force or the
    /// content was deleted before.
    async fn delete_case_content(
        &self,
        deletion: &ContentDeletion,
        ledger: &[Vec<u8>],
        report: Option<&OutgoingMessage>,
    ) -> Result<Option<ContentDeletion>, StoreError>;

    /// The deletion of a case's content, if it was deleted.
    async fn content_deletion(&self, case_id: &str) -> Result<Option<ContentDeletion>, StoreError>;

    /// Every case whose content was deleted, by id.
    async fn deleted_cases(&self) -> Result<Vec<String>, StoreError>;
}
