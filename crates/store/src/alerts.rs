//! The on-call rota and the alerts sent to the people on it: what the store
//! keeps of them (`0010_rota_alerts.sql`).
//!
//! A [`ShiftRecord`] says who holds a role when, with a deputy; an
//! [`AlertRecord`] is one alert, unique per cause, holding no case content
//! (its kind, the counterpart State, the urgency, the deadline and the case
//! it points to); a [`DeliveryRecord`] is one mail or webhook call an alert
//! makes, queued in the transaction that raises or escalates the alert and
//! delivered with retries by the node's delivery worker. Every change comes
//! with its custody-ledger entries, written in the same transaction.

use time::OffsetDateTime;

use crate::StoreError;
use crate::rows::RowAccess;

/// One shift of the rota.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShiftRecord {
    pub id: String,
    /// The role's name (`duty-officer`, ...).
    pub role: String,
    pub person: String,
    pub email: String,
    pub deputy: String,
    pub deputy_email: String,
    pub starts_at: OffsetDateTime,
    pub ends_at: OffsetDateTime,
    /// The IANA time zone the times were given in (`Europe/Paris`).
    pub zone: String,
    /// Who added it (an actor's label).
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub removed_at: Option<OffsetDateTime>,
}

/// One alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertRecord {
    pub id: String,
    /// What raised it, unique: a second alert with the same cause is not
    /// raised.
    pub cause: String,
    /// What happened (`emergency-request`, `clock-warning`, ...).
    pub kind: String,
    /// The role whose rota it goes to.
    pub role: String,
    pub case_id: String,
    pub counterpart: String,
    pub urgency: String,
    pub deadline: Option<OffsetDateTime>,
    pub raised_at: OffsetDateTime,
    /// How far it went: 0 the person on duty, 1 the deputy, 2 and on the
    /// next people on the rota.
    pub level: u32,
    /// When it goes one level further unless acknowledged first.
    pub escalate_at: Option<OffsetDateTime>,
    pub acknowledged_at: Option<OffsetDateTime>,
    pub acknowledged_by: Option<String>,
}

/// A delivery to queue with an alert or its escalation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    /// `email` or `webhook`.
    pub channel: String,
    /// The address, or the webhook's name.
    pub target: String,
    /// The person it is meant for (empty for a webhook of the whole level).
    pub recipient: String,
}

/// An alert to raise in the transaction of what caused it (an arriving
/// message, a clock event): the alert, its first deliveries (due at once)
/// and its ledger entries, written with the cause or not at all. An alert
/// whose cause was raised before is skipped without undoing the cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAlert {
    pub alert: AlertRecord,
    pub deliveries: Vec<NewDelivery>,
    pub ledger: Vec<Vec<u8>>,
}

/// One delivery of an alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub alert_id: String,
    pub level: u32,
    pub channel: String,
    pub target: String,
    pub recipient: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: OffsetDateTime,
    pub last_error: Option<String>,
    pub delivered_at: Option<OffsetDateTime>,
}

/// The columns the mappers below read, in their order, as literals that
/// statements splice in with `concat!`.
macro_rules! alert_columns {
    (rota_shifts) => {
        "id, role, person, email, deputy, deputy_email, starts_at, ends_at, zone, created_by, \
         created_at, removed_at"
    };
    (alerts) => {
        "id, cause, kind, role, case_id, counterpart, urgency, deadline, raised_at, level, \
         escalate_at, acknowledged_at, acknowledged_by"
    };
    (alert_deliveries) => {
        "id, alert_id, level, channel, target, recipient, state, attempts, next_attempt_at, \
         last_error, delivered_at"
    };
}
pub(crate) use alert_columns;

pub(crate) fn shift(row: &impl RowAccess) -> Result<ShiftRecord, StoreError> {
    let t = "rota_shifts";
    Ok(ShiftRecord {
        id: row.get(t, "id")?,
        role: row.get(t, "role")?,
        person: row.get(t, "person")?,
        email: row.get(t, "email")?,
        deputy: row.get(t, "deputy")?,
        deputy_email: row.get(t, "deputy_email")?,
        starts_at: row.time(t, "starts_at")?,
        ends_at: row.time(t, "ends_at")?,
        zone: row.get(t, "zone")?,
        created_by: row.get(t, "created_by")?,
        created_at: row.time(t, "created_at")?,
        removed_at: row.optional_time(t, "removed_at")?,
    })
}

fn count(row: &impl RowAccess, t: &'static str, name: &'static str) -> Result<u32, StoreError> {
    let v: i64 = row.get(t, name)?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt {
        table: t,
        column: name,
        detail: format!("{v} is not a count"),
    })
}

pub(crate) fn alert(row: &impl RowAccess) -> Result<AlertRecord, StoreError> {
    let t = "alerts";
    Ok(AlertRecord {
        id: row.get(t, "id")?,
        cause: row.get(t, "cause")?,
        kind: row.get(t, "kind")?,
        role: row.get(t, "role")?,
        case_id: row.get(t, "case_id")?,
        counterpart: row.get(t, "counterpart")?,
        urgency: row.get(t, "urgency")?,
        deadline: row.optional_time(t, "deadline")?,
        raised_at: row.time(t, "raised_at")?,
        level: count(row, t, "level")?,
        escalate_at: row.optional_time(t, "escalate_at")?,
        acknowledged_at: row.optional_time(t, "acknowledged_at")?,
        acknowledged_by: row.get(t, "acknowledged_by")?,
    })
}

pub(crate) fn delivery(row: &impl RowAccess) -> Result<DeliveryRecord, StoreError> {
    let t = "alert_deliveries";
    Ok(DeliveryRecord {
        id: row.get(t, "id")?,
        alert_id: row.get(t, "alert_id")?,
        level: count(row, t, "level")?,
        channel: row.get(t, "channel")?,
        target: row.get(t, "target")?,
        recipient: row.get(t, "recipient")?,
        state: row.get(t, "state")?,
        attempts: count(row, t, "attempts")?,
        next_attempt_at: row.time(t, "next_attempt_at")?,
        last_error: row.get(t, "last_error")?,
        delivered_at: row.optional_time(t, "delivered_at")?,
    })
}
