//! The PostgreSQL adapter's [`SafeguardStore`]: the safeguards' records: who
//! saw what and the cases granted to a person, confidentiality, what other
//! States provided (use limits), retention and deletion.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::federation::OutgoingMessage;
use crate::{SafeguardStore, StoreError};

use super::PgStore;

#[async_trait]
impl SafeguardStore for PgStore {
    // -- Access (`postgres_access.rs`).

    async fn record_accesses(
        &self,
        records: &[(crate::AccessRecord, Vec<u8>)],
    ) -> Result<Vec<i64>, StoreError> {
        self.pg_record_accesses(records).await
    }

    async fn access_records(
        &self,
        filter: &crate::AccessFilter,
    ) -> Result<Vec<crate::AccessRecord>, StoreError> {
        self.pg_access_records(filter).await
    }

    async fn grant_case(&self, grant: &crate::CaseGrant, entry: &[u8]) -> Result<i64, StoreError> {
        self.pg_grant_case(grant, entry).await
    }

    async fn revoke_case_grants(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError> {
        self.pg_revoke_case_grants(case_id, person, by, at, entry)
            .await
    }

    async fn case_grants(&self, case_id: &str) -> Result<Vec<crate::CaseGrant>, StoreError> {
        self.pg_case_grants(case_id).await
    }

    // -- Confidentiality (`postgres_assignments.rs`), issue 18.

    async fn assign_case(
        &self,
        a: &crate::CaseAssignment,
        entry: &[u8],
    ) -> Result<Option<i64>, StoreError> {
        self.pg_assign_case(a, entry).await
    }

    async fn unassign_case(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError> {
        self.pg_unassign_case(case_id, person, by, at, entry).await
    }

    async fn case_assignments(&self, id: &str) -> Result<Vec<crate::CaseAssignment>, StoreError> {
        self.pg_case_assignments(id).await
    }

    async fn mark_confidential(&self, mark: &crate::ConfidentialMark) -> Result<(), StoreError> {
        self.pg_mark_confidential(mark).await
    }

    async fn confidential_marks(
        &self,
        id: &str,
    ) -> Result<Vec<crate::ConfidentialMark>, StoreError> {
        self.pg_confidential_marks(id).await
    }

    async fn all_confidential_marks(&self) -> Result<Vec<crate::ConfidentialMark>, StoreError> {
        self.pg_all_confidential_marks().await
    }

    // -- issue 18: use limits (`postgres_received.rs`).

    async fn index_received(
        &self,
        origin: &crate::ReceivedOrigin,
        hashes: &[String],
    ) -> Result<(), StoreError> {
        self.pg_index_received(origin, hashes).await
    }

    async fn received_origins(&self) -> Result<Vec<crate::ReceivedOrigin>, StoreError> {
        self.pg_received_origins().await
    }

    async fn received_files(
        &self,
        hashes: &[String],
    ) -> Result<Vec<crate::ReceivedFile>, StoreError> {
        self.pg_received_files(hashes).await
    }

    // -- issue 18: retention

    async fn retention(&self, case_id: &str) -> Result<Option<crate::RetentionRecord>, StoreError> {
        self.pg_retention(case_id).await
    }

    async fn put_retention(
        &self,
        record: &crate::RetentionRecord,
        change: Option<&crate::RetentionChange>,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        self.pg_put_retention(record, change, ledger).await
    }

    async fn retention_changes(
        &self,
        case_id: &str,
    ) -> Result<Vec<crate::RetentionChange>, StoreError> {
        self.pg_retention_changes(case_id).await
    }

    async fn due_deletions(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        self.pg_due_deletions(now, limit).await
    }

    async fn delete_case_content(
        &self,
        deletion: &crate::ContentDeletion,
        ledger: &[Vec<u8>],
        report: Option<&OutgoingMessage>,
    ) -> Result<Option<crate::ContentDeletion>, StoreError> {
        self.pg_delete_case_content(deletion, ledger, report).await
    }

    async fn content_deletion(
        &self,
        case_id: &str,
    ) -> Result<Option<crate::ContentDeletion>, StoreError> {
        self.pg_content_deletion(case_id).await
    }

    async fn deleted_cases(&self) -> Result<Vec<String>, StoreError> {
        self.pg_deleted_cases().await
    }
}
