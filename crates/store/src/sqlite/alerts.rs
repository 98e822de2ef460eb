//! The SQLite adapter's [`AlertStore`]: the on-call rota, alerts and their
//! deliveries, and the writes joined with the alert they raise.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::alerts::{AlertRecord, DeliveryRecord, NewAlert, NewDelivery, ShiftRecord};
use crate::case_index::ClockFired;
use crate::federation::{AcceptOutcome, IncomingMessage, OutgoingMessage};
use crate::records::NewEvent;
use crate::{AlertStore, StoreError};

use super::SqliteStore;

#[async_trait]
impl AlertStore for SqliteStore {
    // -- The on-call rota and alerts (`sqlite_alerts.rs`).

    async fn put_shift(&self, shift: &ShiftRecord, ledger: &[Vec<u8>]) -> Result<(), StoreError> {
        self.sqlite_put_shift(shift, ledger).await
    }

    async fn remove_shift(
        &self,
        id: &str,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        self.sqlite_remove_shift(id, at, ledger).await
    }

    async fn shifts(&self, include_removed: bool) -> Result<Vec<ShiftRecord>, StoreError> {
        self.sqlite_shifts(include_removed).await
    }

    async fn raise_alert(
        &self,
        alert: &AlertRecord,
        deliveries: &[NewDelivery],
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        self.sqlite_raise_alert(alert, deliveries, ledger).await
    }

    async fn alerts(&self, open_only: bool, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        self.sqlite_alerts(open_only, limit).await
    }

    async fn get_alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        self.sqlite_get_alert(id).await
    }

    async fn acknowledge_alert(
        &self,
        id: &str,
        by: &str,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        self.sqlite_acknowledge_alert(id, by, at, ledger).await
    }

    async fn due_escalations(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        self.sqlite_due_escalations(now, limit).await
    }

    async fn escalate_alert(
        &self,
        id: &str,
        from_level: u32,
        escalate_at: Option<OffsetDateTime>,
        deliveries: &[NewDelivery],
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        self.sqlite_escalate_alert(id, from_level, escalate_at, deliveries, at, ledger)
            .await
    }

    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.sqlite_claim_deliveries(now, lease_until, limit).await
    }

    async fn delivery_done(
        &self,
        id: i64,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        self.sqlite_delivery_done(id, at, ledger).await
    }

    async fn delivery_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        self.sqlite_delivery_retry(id, attempts, next_attempt_at, error)
            .await
    }

    async fn delivery_failed(
        &self,
        id: i64,
        attempts: u32,
        at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        self.sqlite_delivery_failed(id, attempts, at, error).await
    }

    async fn alert_deliveries(&self, alert_id: &str) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.sqlite_alert_deliveries(alert_id).await
    }

    async fn accept_incoming_alerting(
        &self,
        message: &IncomingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<AcceptOutcome, StoreError> {
        self.sqlite_accept_incoming_alerting(message, alert).await
    }

    async fn record_clock_event_alerting(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError> {
        self.sqlite_record_clock_event_alerting(fired, event, alert)
            .await
    }

    async fn record_outgoing_once_alerting(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError> {
        self.sqlite_record_outgoing_once_alerting(fired, message, alert)
            .await
    }
}
