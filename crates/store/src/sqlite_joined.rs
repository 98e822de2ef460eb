//! The SQLite adapter's writes joined with what they cause (`Store::
//! accept_incoming_alerting` and the clock events' alerting forms): the
//! cause's script and the alert's insert run in one job of the writer, so
//! they commit together or roll back together.

use crate::StoreError;
use crate::alerts::NewAlert;
use crate::case_index::{self, ClockFired};
use crate::encode;
use crate::federation::{AcceptOutcome, IncomingMessage, OutgoingMessage};
use crate::records::NewEvent;
use crate::sqlite::SqliteStore;
use crate::sqlite_alerts::{alert_row, insert_alert};
use crate::sqlite_cases::same_case;
use crate::sqlite_write::{self as write, SqliteTx};
use crate::txn::{self, run_now};

impl SqliteStore {
    pub(crate) async fn sqlite_accept_incoming_alerting(
        &self,
        message: &IncomingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<AcceptOutcome, StoreError> {
        let row = alert.map(alert_row).transpose()?;
        let message = message.clone();
        self.writer
            .write(move |conn| {
                let outcome = write::accept_incoming(conn, &message)?;
                if let (AcceptOutcome::Accepted, Some(row)) = (&outcome, &row) {
                    insert_alert(conn, row)?;
                }
                Ok(outcome)
            })
            .await
    }

    pub(crate) async fn sqlite_record_clock_event_alerting(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError> {
        same_case(fired, &event.request_id)?;
        let row = alert.map(alert_row).transpose()?;
        let (fired, event) = (fired.clone(), event.clone());
        self.writer
            .write(move |conn| {
                let key = case_index::fired_write(&fired)?;
                let ev = encode::event(&event)?;
                let done = run_now(txn::record_clock_event(&mut SqliteTx(conn), &key, &ev))?;
                if let (true, Some(row)) = (done, &row) {
                    insert_alert(conn, row)?;
                }
                Ok(done)
            })
            .await
    }

    pub(crate) async fn sqlite_record_outgoing_once_alerting(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError> {
        same_case(fired, &message.message.thread)?;
        let row = alert.map(alert_row).transpose()?;
        let (fired, message) = (fired.clone(), message.clone());
        self.writer
            .write(move |conn| {
                let key = case_index::fired_write(&fired)?;
                let out = encode::outgoing(&message)?;
                let done = run_now(txn::record_outgoing_once(&mut SqliteTx(conn), &key, &out))?;
                if let (true, Some(row)) = (done, &row) {
                    insert_alert(conn, row)?;
                }
                Ok(done)
            })
            .await
    }
}
