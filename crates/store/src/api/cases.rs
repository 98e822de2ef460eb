//! [`CaseStore`]: the case index, the clock events fired, and the oversight
//! statistics counted from the index.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::{
    CaseRow, CaseRowFilter, CaseStatistics, ClockFired, NewEvent, OutgoingMessage, StaleCase,
    StateCount, StatsPeriod, StoreError,
};

/// The case index, the clock events fired, and the oversight statistics counted from the index.
#[async_trait]
pub trait CaseStore: Send + Sync {
    // -- The case index and the clock events fired (`case_index.rs`):
    // derived data the node writes; the database marks a case stale in the
    // transaction that changes its thread.

    /// Up to `filter.limit` cases matching `filter`, after `filter.offset`,
    /// open cases first, then by urgency rank, then the nearest `next_due`
    /// (none last), then the newest (ties by id, descending).
    async fn list_cases(&self, filter: &CaseRowFilter) -> Result<Vec<CaseRow>, StoreError>;

    /// The case row of this request, if any.
    async fn get_case(&self, id: &str) -> Result<Option<CaseRow>, StoreError>;

    /// Up to `limit` stale cases with ids after `after` (bytewise), by id.
    async fn stale_cases(&self, after: &str, limit: u32) -> Result<Vec<StaleCase>, StoreError>;

    /// The revision of a case's row (`None`: no such row).
    async fn case_revision(&self, id: &str) -> Result<Option<i64>, StoreError>;

    /// How many open cases are in each state, and how many of those are
    /// overdue, leaving out the confidential cases not assigned to
    /// `hidden_from` (when given); states without an open case are absent.
    /// One range of an index that holds every column it reads.
    async fn count_open_cases(
        &self,
        hidden_from: Option<&str>,
    ) -> Result<Vec<StateCount>, StoreError>;

    /// Writes a case row derived by the node and marks it fresh, if its
    /// revision is still `revision`; `false` (nothing written) if the
    /// thread changed meanwhile or the row is gone. The kind, direction,
    /// counterpart and creation time are the request's and stay as they
    /// are.
    async fn put_case(&self, row: &CaseRow, revision: i64) -> Result<bool, StoreError>;

    /// Up to `limit` ids of cases whose `next_due` is at or before `now`,
    /// the earliest first: a range read of the index, not a scan.
    async fn due_cases(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<String>, StoreError>;

    /// The derivation format the rows were written with (0: never derived).
    async fn case_index_format(&self) -> Result<i64, StoreError>;

    /// Marks every case stale, adds the row of any request that has none,
    /// and records `format` as the rows' format, in one transaction; how
    /// many rows there are.
    async fn reset_case_index(&self, format: i64) -> Result<u64, StoreError>;

    /// Writes rows as given, marked fresh, replacing any of the same id,
    /// in one transaction: for benchmarks that seed an index without
    /// threads behind it.
    async fn bulk_put_cases(&self, rows: &[CaseRow]) -> Result<(), StoreError>;

    /// The clock events fired for a case, oldest due first.
    async fn fired_events(&self, case_id: &str) -> Result<Vec<ClockFired>, StoreError>;

    /// Fires a clock event once: its key and `event` (with its ledger
    /// entry) in one transaction; `false`, and nothing written, if the key
    /// was fired before. An event of another request than the key's is
    /// [`StoreError::InvalidValue`]; a request not stored,
    /// [`StoreError::UnknownRequest`].
    async fn record_clock_event(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
    ) -> Result<bool, StoreError>;

    /// [`crate::FederationStore::record_outgoing`] for a message a clock event sends: the
    /// key and the message in one transaction; `false`, and nothing
    /// written, if the key was fired before.
    async fn record_outgoing_once(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
    ) -> Result<bool, StoreError>;

    // -- Oversight statistics (`stats.rs`; `sqlite_stats.rs`,
    // `postgres_stats.rs`), issue 18.

    /// The counts and response-time percentiles of the cases opened in
    /// `period`, from the rollups the database keeps with the case index
    /// (nothing names a case).
    async fn case_statistics(&self, period: StatsPeriod) -> Result<CaseStatistics, StoreError>;
}
