//! [`AlertStore`]: the on-call rota, alerts and their deliveries, and the
//! writes joined with the alert they raise.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::{
    AcceptOutcome, AlertRecord, ClockFired, DeliveryRecord, IncomingMessage, NewAlert, NewDelivery,
    NewEvent, OutgoingMessage, ShiftRecord, StoreError,
};

/// The on-call rota, alerts and their deliveries, and the writes joined with the alert they raise.
#[async_trait]
pub trait AlertStore: Send + Sync {
    // -- The on-call rota and alerts (`alerts.rs`; `sqlite_alerts.rs`,
    // `postgres_alerts.rs`). Each change writes its ledger entries in the
    // same transaction.

    /// Adds a shift to the rota.
    async fn put_shift(&self, shift: &ShiftRecord, ledger: &[Vec<u8>]) -> Result<(), StoreError>;

    /// Marks a shift removed at `at`; `false` if there is no such shift
    /// still on the rota (nothing written).
    async fn remove_shift(
        &self,
        id: &str,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError>;

    /// The rota's shifts by start, removed ones too when asked.
    async fn shifts(&self, include_removed: bool) -> Result<Vec<ShiftRecord>, StoreError>;

    /// Raises an alert with its first deliveries (due at once); `false`
    /// (nothing written) if an alert with the same cause exists.
    async fn raise_alert(
        &self,
        alert: &AlertRecord,
        deliveries: &[NewDelivery],
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError>;

    /// Alerts, newest first; only those not acknowledged when `open_only`.
    async fn alerts(&self, open_only: bool, limit: u32) -> Result<Vec<AlertRecord>, StoreError>;

    /// One alert.
    async fn get_alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError>;

    /// Records an alert acknowledged by `by`; `false` if it is unknown or
    /// was acknowledged already (nothing written).
    async fn acknowledge_alert(
        &self,
        id: &str,
        by: &str,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError>;

    /// Alerts not acknowledged whose escalation is due at `now`.
    async fn due_escalations(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AlertRecord>, StoreError>;

    /// Takes an alert from `from_level` one level further, with the
    /// deliveries of the new level (due at `at`) and the next escalation
    /// instant; `false` (nothing written) if it was acknowledged or
    /// escalated meanwhile.
    async fn escalate_alert(
        &self,
        id: &str,
        from_level: u32,
        escalate_at: Option<OffsetDateTime>,
        deliveries: &[NewDelivery],
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError>;

    /// Leases up to `limit` pending deliveries due at `now` until
    /// `lease_until`, so that no other worker takes them meanwhile.
    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// Records a delivery made, with its ledger entries.
    async fn delivery_done(
        &self,
        id: i64,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError>;

    /// Schedules another attempt of a delivery, releasing its lease.
    async fn delivery_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError>;

    /// Gives a delivery up.
    async fn delivery_failed(
        &self,
        id: i64,
        attempts: u32,
        at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError>;

    /// The deliveries of an alert, in the order they were queued.
    async fn alert_deliveries(&self, alert_id: &str) -> Result<Vec<DeliveryRecord>, StoreError>;

    // -- Writes joined with what they cause (`sqlite_joined.rs`,
    // `postgres_joined.rs`): the alert an arriving message or a clock
    // event calls for, and the access-record rows of sign-in events, each
    // in the transaction of its cause.

    /// [`crate::FederationStore::accept_incoming`] and, when the message is accepted now,
    /// the `alert` it calls for, in one transaction: a failure of the
    /// alert's part stores nothing of the message. A duplicate raises
    /// nothing; an alert whose cause was raised before is skipped.
    async fn accept_incoming_alerting(
        &self,
        message: &IncomingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<AcceptOutcome, StoreError>;

    /// [`crate::CaseStore::record_clock_event`] and, when the event fires now, its
    /// `alert`, in one transaction.
    async fn record_clock_event_alerting(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError>;

    /// [`crate::CaseStore::record_outgoing_once`] and, when the message is recorded
    /// now, its `alert`, in one transaction.
    async fn record_outgoing_once_alerting(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError>;
}
