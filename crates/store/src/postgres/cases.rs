//! The PostgreSQL adapter's [`CaseStore`]: the case index, the clock events
//! fired, and the oversight statistics counted from the index.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::case_index::{CaseRow, CaseRowFilter, ClockFired, StaleCase};
use crate::federation::OutgoingMessage;
use crate::records::NewEvent;
use crate::{CaseStore, StoreError};

use super::PgStore;

#[async_trait]
impl CaseStore for PgStore {
    async fn list_cases(&self, filter: &CaseRowFilter) -> Result<Vec<CaseRow>, StoreError> {
        self.pg_list_cases(filter).await
    }

    async fn get_case(&self, id: &str) -> Result<Option<CaseRow>, StoreError> {
        self.pg_get_case(id).await
    }

    async fn count_open_cases(
        &self,
        hidden_from: Option<&str>,
    ) -> Result<Vec<crate::StateCount>, StoreError> {
        self.pg_count_open_cases(hidden_from).await
    }

    async fn stale_cases(&self, after: &str, limit: u32) -> Result<Vec<StaleCase>, StoreError> {
        self.pg_stale_cases(after, limit).await
    }

    async fn case_revision(&self, id: &str) -> Result<Option<i64>, StoreError> {
        self.pg_case_revision(id).await
    }

    async fn put_case(&self, row: &CaseRow, revision: i64) -> Result<bool, StoreError> {
        self.pg_put_case(row, revision).await
    }

    async fn due_cases(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<String>, StoreError> {
        self.pg_due_cases(now, limit).await
    }

    async fn case_index_format(&self) -> Result<i64, StoreError> {
        self.pg_case_index_format().await
    }

    async fn reset_case_index(&self, format: i64) -> Result<u64, StoreError> {
        self.pg_reset_case_index(format).await
    }

    async fn bulk_put_cases(&self, rows: &[CaseRow]) -> Result<(), StoreError> {
        self.pg_bulk_put_cases(rows).await
    }

    async fn case_statistics(
        &self,
        period: crate::StatsPeriod,
    ) -> Result<crate::CaseStatistics, StoreError> {
        self.pg_case_statistics(period).await
    }

    async fn fired_events(&self, case_id: &str) -> Result<Vec<ClockFired>, StoreError> {
        self.pg_fired_events(case_id).await
    }

    async fn record_clock_event(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        self.pg_record_clock_event(fired, event).await
    }

    async fn record_outgoing_once(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
    ) -> Result<bool, StoreError> {
        self.pg_record_outgoing_once(fired, message).await
    }
}
