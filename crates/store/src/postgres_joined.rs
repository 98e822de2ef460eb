//! The PostgreSQL adapter's writes joined with what they cause (`Store::
//! accept_incoming_alerting` and the clock events' alerting forms): the
//! cause's script and the alert's insert in one transaction.

use crate::StoreError;
use crate::alerts::NewAlert;
use crate::case_index::{self, ClockFired};
use crate::decode::failed;
use crate::encode;
use crate::federation::{AcceptOutcome, IncomingMessage, OutgoingMessage};
use crate::postgres::PgStore;
use crate::postgres_alerts::{alert_row, insert_alert};
use crate::postgres_write::{PgTx, finish};
use crate::records::NewEvent;
use crate::sqlite_cases::same_case;
use crate::txn;

impl PgStore {
    pub(crate) async fn pg_accept_incoming_alerting(
        &self,
        message: &IncomingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<AcceptOutcome, StoreError> {
        let inc = encode::incoming(message)?;
        let row = alert.map(alert_row).transpose()?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin accepting a message"))?;
        let outcome = async {
            let outcome = txn::accept_incoming(&mut PgTx(&mut tx), &inc).await?;
            if let (AcceptOutcome::Accepted, Some(row)) = (&outcome, &row) {
                insert_alert(&mut tx, row).await?;
            }
            Ok(outcome)
        }
        .await;
        match finish(tx, outcome, "commit an accepted message").await {
            // As in `accept_incoming`: a copy committed meanwhile by
            // another replica is a duplicate (its alert came with it).
            Err(taken @ (StoreError::DuplicateRequest(_) | StoreError::DuplicateMessage(_))) => {
                self.after_conflict(inc.message.id, taken).await
            }
            other => other,
        }
    }

    pub(crate) async fn pg_record_clock_event_alerting(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError> {
        same_case(fired, &event.request_id)?;
        let key = case_index::fired_write(fired)?;
        let ev = encode::event(event)?;
        let row = alert.map(alert_row).transpose()?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin firing a clock event"))?;
        let done = async {
            let done = txn::record_clock_event(&mut PgTx(&mut tx), &key, &ev).await?;
            if let (true, Some(row)) = (done, &row) {
                insert_alert(&mut tx, row).await?;
            }
            Ok(done)
        }
        .await;
        finish(tx, done, "commit a clock event").await
    }

    pub(crate) async fn pg_record_outgoing_once_alerting(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError> {
        same_case(fired, &message.message.thread)?;
        let key = case_index::fired_write(fired)?;
        let out = encode::outgoing(message)?;
        let row = alert.map(alert_row).transpose()?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin recording a message"))?;
        let done = async {
            let done = txn::record_outgoing_once(&mut PgTx(&mut tx), &key, &out).await?;
            if let (true, Some(row)) = (done, &row) {
                insert_alert(&mut tx, row).await?;
            }
            Ok(done)
        }
        .await;
        finish(tx, done, "commit a message").await
    }
}
