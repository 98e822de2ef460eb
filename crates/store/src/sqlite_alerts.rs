//! The SQLite adapter's rota and alerts (`alerts.rs`): short reads on the
//! calling thread, writes (each with its ledger entries) on the writer's
//! thread.

use rusqlite::{Connection, params};
use time::OffsetDateTime;

use crate::StoreError;
use crate::alerts::{
    AlertRecord, DeliveryRecord, NewAlert, NewDelivery, ShiftRecord, alert, alert_columns,
    delivery, shift,
};
use crate::encode;
use crate::sqlite::SqliteStore;
use crate::sqlite_db::{all, execute, first};
use crate::sqlite_write::SqliteTx;
use crate::txn::{Tx, run_now};

fn micros(field: &'static str, t: OffsetDateTime) -> Result<i64, StoreError> {
    encode::timestamp(field, t).map(encode::unix_micros)
}

fn optional_micros(
    field: &'static str,
    t: Option<OffsetDateTime>,
) -> Result<Option<i64>, StoreError> {
    t.map(|t| micros(field, t)).transpose()
}

/// Queues the ledger entries of a change, in its transaction.
fn queue(conn: &Connection, ledger: &[Vec<u8>], at: OffsetDateTime) -> Result<(), StoreError> {
    let at = encode::timestamp("ledger_pending.queued_at", at)?;
    let entries: Vec<&[u8]> = ledger.iter().map(Vec::as_slice).collect();
    run_now(SqliteTx(conn).queue_entries(&entries, at))
}

fn insert_deliveries(
    conn: &Connection,
    alert_id: &str,
    level: u32,
    deliveries: &[NewDelivery],
    at: i64,
) -> Result<(), StoreError> {
    for d in deliveries {
        execute(
            conn,
            "INSERT INTO alert_deliveries (alert_id, level, channel, target, recipient, next_attempt_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            params![alert_id, level, d.channel, d.target, d.recipient, at],
            "queue an alert's delivery",
        )?;
    }
    Ok(())
}

fn check_text<'a>(
    fields: impl IntoIterator<Item = (&'static str, &'a str)>,
) -> Result<(), StoreError> {
    for (field, value) in fields {
        encode::text(field, value)?;
    }
    Ok(())
}

/// An alert checked and converted for its insert.
pub(crate) struct AlertRow {
    new: NewAlert,
    deadline: Option<i64>,
    raised: i64,
    escalate: Option<i64>,
}

/// Checks an alert before its transaction opens.
pub(crate) fn alert_row(new: &NewAlert) -> Result<AlertRow, StoreError> {
    let a = &new.alert;
    check_text([
        ("alerts.id", a.id.as_str()),
        ("alerts.cause", &a.cause),
        ("alerts.kind", &a.kind),
        ("alerts.role", &a.role),
        ("alerts.case_id", &a.case_id),
        ("alerts.counterpart", &a.counterpart),
        ("alerts.urgency", &a.urgency),
    ])?;
    for d in &new.deliveries {
        check_text([
            ("alert_deliveries.target", d.target.as_str()),
            ("alert_deliveries.recipient", &d.recipient),
        ])?;
    }
    Ok(AlertRow {
        deadline: optional_micros("alerts.deadline", a.deadline)?,
        raised: micros("alerts.raised_at", a.raised_at)?,
        escalate: optional_micros("alerts.escalate_at", a.escalate_at)?,
        new: new.clone(),
    })
}

/// Inserts an alert, its deliveries and its ledger entries in the
/// transaction of `conn`; `false` (nothing written) if its cause was
/// raised before.
pub(crate) fn insert_alert(conn: &Connection, row: &AlertRow) -> Result<bool, StoreError> {
    let a = &row.new.alert;
    let n = execute(
        conn,
        "INSERT INTO alerts (id, cause, kind, role, case_id, counterpart, urgency, \
         deadline, raised_at, level, escalate_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (cause) DO NOTHING",
        params![
            a.id,
            a.cause,
            a.kind,
            a.role,
            a.case_id,
            a.counterpart,
            a.urgency,
            row.deadline,
            row.raised,
            a.level,
            row.escalate
        ],
        "raise an alert",
    )?;
    if n == 0 {
        return Ok(false);
    }
    insert_deliveries(conn, &a.id, a.level, &row.new.deliveries, row.raised)?;
    queue(conn, &row.new.ledger, a.raised_at)?;
    Ok(true)
}

impl SqliteStore {
    pub(crate) async fn sqlite_put_shift(
        &self,
        s: &ShiftRecord,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        check_text([
            ("rota_shifts.id", s.id.as_str()),
            ("rota_shifts.role", &s.role),
            ("rota_shifts.person", &s.person),
            ("rota_shifts.email", &s.email),
            ("rota_shifts.deputy", &s.deputy),
            ("rota_shifts.deputy_email", &s.deputy_email),
            ("rota_shifts.zone", &s.zone),
            ("rota_shifts.created_by", &s.created_by),
        ])?;
        let starts = micros("rota_shifts.starts_at", s.starts_at)?;
        let ends = micros("rota_shifts.ends_at", s.ends_at)?;
        let created = micros("rota_shifts.created_at", s.created_at)?;
        let (s, ledger) = (s.clone(), ledger.to_vec());
        self.writer
            .write(move |conn| {
                execute(
                    conn,
                    "INSERT INTO rota_shifts (id, role, person, email, deputy, deputy_email, \
                     starts_at, ends_at, zone, created_by, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        s.id,
                        s.role,
                        s.person,
                        s.email,
                        s.deputy,
                        s.deputy_email,
                        starts,
                        ends,
                        s.zone,
                        s.created_by,
                        created
                    ],
                    "add a shift to the rota",
                )?;
                queue(conn, &ledger, s.created_at)
            })
            .await
    }

    pub(crate) async fn sqlite_remove_shift(
        &self,
        id: &str,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        if !encode::storable(id) {
            return Ok(false);
        }
        let when = micros("rota_shifts.removed_at", at)?;
        let (id, ledger) = (id.to_owned(), ledger.to_vec());
        self.writer
            .write(move |conn| {
                let n = execute(
                    conn,
                    "UPDATE rota_shifts SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
                    params![id, when],
                    "remove a shift from the rota",
                )?;
                if n == 0 {
                    return Ok(false);
                }
                queue(conn, &ledger, at)?;
                Ok(true)
            })
            .await
    }

    pub(crate) async fn sqlite_shifts(
        &self,
        include_removed: bool,
    ) -> Result<Vec<ShiftRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            alert_columns!(rota_shifts),
            " FROM rota_shifts WHERE (?1 OR removed_at IS NULL) \
             ORDER BY starts_at, id"
        );
        self.read_long(move |conn| {
            all(conn, sql, [include_removed], "read the rota", |row| {
                shift(row)
            })
        })
        .await
    }

    pub(crate) async fn sqlite_raise_alert(
        &self,
        a: &AlertRecord,
        deliveries: &[NewDelivery],
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        let row = alert_row(&NewAlert {
            alert: a.clone(),
            deliveries: deliveries.to_vec(),
            ledger: ledger.to_vec(),
        })?;
        self.writer
            .write(move |conn| insert_alert(conn, &row))
            .await
    }

    pub(crate) async fn sqlite_alerts(
        &self,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            alert_columns!(alerts),
            " FROM alerts WHERE (NOT ?1 OR acknowledged_at IS NULL) \
             ORDER BY raised_at DESC, id LIMIT ?2"
        );
        self.read_long(move |conn| {
            all(
                conn,
                sql,
                params![open_only, i64::from(limit)],
                "list alerts",
                |row| alert(row),
            )
        })
        .await
    }

    pub(crate) async fn sqlite_get_alert(
        &self,
        id: &str,
    ) -> Result<Option<AlertRecord>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        let sql = concat!(
            "SELECT ",
            alert_columns!(alerts),
            " FROM alerts WHERE id = ?1"
        );
        self.read(|conn| first(conn, sql, [id], "read an alert", |row| alert(row)))
    }

    pub(crate) async fn sqlite_acknowledge_alert(
        &self,
        id: &str,
        by: &str,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        if !encode::storable(id) {
            return Ok(false);
        }
        encode::text("alerts.acknowledged_by", by)?;
        let when = micros("alerts.acknowledged_at", at)?;
        let (id, by, ledger) = (id.to_owned(), by.to_owned(), ledger.to_vec());
        self.writer
            .write(move |conn| {
                let n = execute(
                    conn,
                    "UPDATE alerts SET acknowledged_at = ?2, acknowledged_by = ?3 \
                     WHERE id = ?1 AND acknowledged_at IS NULL",
                    params![id, when, by],
                    "acknowledge an alert",
                )?;
                if n == 0 {
                    return Ok(false);
                }
                queue(conn, &ledger, at)?;
                Ok(true)
            })
            .await
    }

    pub(crate) async fn sqlite_due_escalations(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let now = micros("now", now)?;
        let sql = concat!(
            "SELECT ",
            alert_columns!(alerts),
            " FROM alerts WHERE acknowledged_at IS NULL \
             AND escalate_at IS NOT NULL AND escalate_at <= ?1 ORDER BY escalate_at, id LIMIT ?2"
        );
        self.read(|conn| {
            all(
                conn,
                sql,
                params![now, i64::from(limit)],
                "find alerts to escalate",
                |row| alert(row),
            )
        })
    }

    pub(crate) async fn sqlite_escalate_alert(
        &self,
        id: &str,
        from_level: u32,
        escalate_at: Option<OffsetDateTime>,
        deliveries: &[NewDelivery],
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        if !encode::storable(id) {
            return Ok(false);
        }
        let next = optional_micros("alerts.escalate_at", escalate_at)?;
        let when = micros("alert_deliveries.next_attempt_at", at)?;
        let (id, deliveries, ledger) = (id.to_owned(), deliveries.to_vec(), ledger.to_vec());
        self.writer
            .write(move |conn| {
                let n = execute(
                    conn,
                    "UPDATE alerts SET level = level + 1, escalate_at = ?3 \
                     WHERE id = ?1 AND level = ?2 AND acknowledged_at IS NULL",
                    params![id, from_level, next],
                    "escalate an alert",
                )?;
                if n == 0 {
                    return Ok(false);
                }
                insert_deliveries(conn, &id, from_level + 1, &deliveries, when)?;
                queue(conn, &ledger, at)?;
                Ok(true)
            })
            .await
    }

    pub(crate) async fn sqlite_claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let now = micros("now", now)?;
        let lease = micros("alert_deliveries.leased_until", lease_until)?;
        let select = concat!(
            "SELECT ",
            alert_columns!(alert_deliveries),
            " FROM alert_deliveries WHERE state = 'pending' \
             AND next_attempt_at <= ?1 AND (leased_until IS NULL OR leased_until <= ?1) \
             ORDER BY next_attempt_at, id LIMIT ?2"
        );
        self.writer
            .write(move |conn| {
                let due = all(
                    conn,
                    select,
                    params![now, i64::from(limit)],
                    "find deliveries due",
                    |row| delivery(row),
                )?;
                for d in &due {
                    execute(
                        conn,
                        "UPDATE alert_deliveries SET leased_until = ?2 WHERE id = ?1",
                        params![d.id, lease],
                        "lease a delivery",
                    )?;
                }
                Ok(due)
            })
            .await
    }

    pub(crate) async fn sqlite_delivery_done(
        &self,
        id: i64,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let when = micros("alert_deliveries.delivered_at", at)?;
        let ledger = ledger.to_vec();
        self.writer
            .write(move |conn| {
                let n = execute(
                    conn,
                    "UPDATE alert_deliveries SET state = 'delivered', delivered_at = ?2, \
                     attempts = attempts + 1, leased_until = NULL, last_error = NULL \
                     WHERE id = ?1 AND state = 'pending'",
                    params![id, when],
                    "record a delivery made",
                )?;
                if n == 1 {
                    queue(conn, &ledger, at)?;
                }
                Ok(())
            })
            .await
    }

    pub(crate) async fn sqlite_delivery_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        let next = micros("alert_deliveries.next_attempt_at", next_attempt_at)?;
        let error: String = error.replace('\0', " ").chars().take(500).collect();
        self.writer
            .write(move |conn| {
                execute(
                    conn,
                    "UPDATE alert_deliveries SET attempts = ?2, next_attempt_at = ?3, \
                     last_error = ?4, leased_until = NULL WHERE id = ?1 AND state = 'pending'",
                    params![id, attempts, next, error],
                    "schedule a delivery again",
                )?;
                Ok(())
            })
            .await
    }

    pub(crate) async fn sqlite_delivery_failed(
        &self,
        id: i64,
        attempts: u32,
        at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        let _ = micros("at", at)?;
        let error: String = error.replace('\0', " ").chars().take(500).collect();
        self.writer
            .write(move |conn| {
                execute(
                    conn,
                    "UPDATE alert_deliveries SET state = 'failed', attempts = ?2, \
                     last_error = ?3, leased_until = NULL WHERE id = ?1 AND state = 'pending'",
                    params![id, attempts, error],
                    "give a delivery up",
                )?;
                Ok(())
            })
            .await
    }

    pub(crate) async fn sqlite_alert_deliveries(
        &self,
        alert_id: &str,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        if !encode::storable(alert_id) {
            return Ok(Vec::new());
        }
        let sql = concat!(
            "SELECT ",
            alert_columns!(alert_deliveries),
            " FROM alert_deliveries WHERE alert_id = ?1 ORDER BY id"
        );
        self.read(|conn| {
            all(conn, sql, [alert_id], "read an alert's deliveries", |row| {
                delivery(row)
            })
        })
    }
}
