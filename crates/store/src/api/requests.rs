//! [`RequestStore`]: the requests a node sent and received, and each
//! request's numbered history.

use async_trait::async_trait;

use crate::{NewEvent, RequestEvent, RequestFilter, RequestRecord, StoreError};

/// The requests a node sent and received, and each request's numbered history.
#[async_trait]
pub trait RequestStore: Send + Sync {
    /// Records a new request. An id already stored is
    /// [`StoreError::DuplicateRequest`], and the stored request is unchanged.
    async fn insert_request(&self, request: &RequestRecord) -> Result<(), StoreError>;

    /// The request with this id, if stored.
    async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError>;

    /// The requests matching `filter`, newest first (ties by id, descending).
    async fn list_requests(&self, filter: &RequestFilter)
    -> Result<Vec<RequestRecord>, StoreError>;

    /// Adds an event to a request's history and returns it as stored, with
    /// the next sequence number for that request (1 for the first). Appends
    /// that race each other get distinct, consecutive numbers. A request not
    /// stored is [`StoreError::UnknownRequest`]. The event's `ledger` entry,
    /// if any, is queued in the same transaction.
    async fn append_event(&self, event: &NewEvent) -> Result<RequestEvent, StoreError>;

    /// Records a new request and the first event of its history (with the
    /// event's ledger entry queued), all in one transaction or not at all:
    /// what [`RequestStore::insert_request`] then [`RequestStore::append_event`] do, as one
    /// action. An id already stored is [`StoreError::DuplicateRequest`] and
    /// nothing changes; an event of another request is
    /// [`StoreError::InvalidValue`].
    async fn record_request(
        &self,
        request: &RequestRecord,
        event: &NewEvent,
    ) -> Result<RequestEvent, StoreError>;

    /// A request's history in sequence order (empty if nothing has happened
    /// yet). A request not stored is [`StoreError::UnknownRequest`].
    async fn events(&self, request_id: &str) -> Result<Vec<RequestEvent>, StoreError>;
}
