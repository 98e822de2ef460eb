//! The PostgreSQL adapter's rota and alerts (`alerts.rs`): each change and
//! its ledger entries in one transaction; deliveries leased with
//! `FOR UPDATE SKIP LOCKED`, so that replicas sharing the database never
//! send one twice at once.

use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;

use crate::StoreError;
use crate::alerts::{
    AlertRecord, DeliveryRecord, NewAlert, NewDelivery, ShiftRecord, alert, alert_columns,
    delivery, shift,
};
use crate::decode::failed;
use crate::encode;
use crate::postgres::PgStore;
use crate::postgres_write::{PgTx, finish};
use crate::txn::Tx;

fn stamp(field: &'static str, t: OffsetDateTime) -> Result<OffsetDateTime, StoreError> {
    encode::timestamp(field, t)
}

fn optional_stamp(
    field: &'static str,
    t: Option<OffsetDateTime>,
) -> Result<Option<OffsetDateTime>, StoreError> {
    t.map(|t| stamp(field, t)).transpose()
}

fn texts<'a>(fields: impl IntoIterator<Item = (&'static str, &'a str)>) -> Result<(), StoreError> {
    for (field, value) in fields {
        encode::text(field, value)?;
    }
    Ok(())
}

async fn queue(
    tx: &mut Transaction<'_, Postgres>,
    ledger: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let at = stamp("ledger_pending.queued_at", at)?;
    let entries: Vec<&[u8]> = ledger.iter().map(Vec::as_slice).collect();
    PgTx(&mut *tx).queue_entries(&entries, at).await
}

async fn insert_deliveries(
    tx: &mut Transaction<'_, Postgres>,
    alert_id: &str,
    level: u32,
    deliveries: &[NewDelivery],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    for d in deliveries {
        sqlx::query(
            "INSERT INTO alert_deliveries (alert_id, level, channel, target, recipient, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(alert_id)
        .bind(i64::from(level))
        .bind(&d.channel)
        .bind(&d.target)
        .bind(&d.recipient)
        .bind(at)
        .execute(&mut **tx)
        .await
        .map_err(failed("queue an alert's delivery"))?;
    }
    Ok(())
}

/// An alert checked and converted for its insert.
pub(crate) struct AlertRow<'a> {
    new: &'a NewAlert,
    deadline: Option<OffsetDateTime>,
    raised: OffsetDateTime,
    escalate: Option<OffsetDateTime>,
}

/// Checks an alert before its transaction opens.
pub(crate) fn alert_row(new: &NewAlert) -> Result<AlertRow<'_>, StoreError> {
    let a = &new.alert;
    texts([
        ("alerts.id", a.id.as_str()),
        ("alerts.cause", &a.cause),
        ("alerts.kind", &a.kind),
        ("alerts.role", &a.role),
        ("alerts.case_id", &a.case_id),
        ("alerts.counterpart", &a.counterpart),
        ("alerts.urgency", &a.urgency),
    ])?;
    for d in &new.deliveries {
        texts([
            ("alert_deliveries.target", d.target.as_str()),
            ("alert_deliveries.recipient", &d.recipient),
        ])?;
    }
    Ok(AlertRow {
        new,
        deadline: optional_stamp("alerts.deadline", a.deadline)?,
        raised: stamp("alerts.raised_at", a.raised_at)?,
        escalate: optional_stamp("alerts.escalate_at", a.escalate_at)?,
    })
}

/// Inserts an alert, its deliveries and its ledger entries in `tx`;
/// `false` (nothing written) if its cause was raised before.
pub(crate) async fn insert_alert(
    tx: &mut Transaction<'_, Postgres>,
    row: &AlertRow<'_>,
) -> Result<bool, StoreError> {
    let a = &row.new.alert;
    let n = sqlx::query(
        "INSERT INTO alerts (id, cause, kind, role, case_id, counterpart, urgency, \
         deadline, raised_at, level, escalate_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (cause) DO NOTHING",
    )
    .bind(&a.id)
    .bind(&a.cause)
    .bind(&a.kind)
    .bind(&a.role)
    .bind(&a.case_id)
    .bind(&a.counterpart)
    .bind(&a.urgency)
    .bind(row.deadline)
    .bind(row.raised)
    .bind(i64::from(a.level))
    .bind(row.escalate)
    .execute(&mut **tx)
    .await
    .map_err(failed("raise an alert"))?
    .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    insert_deliveries(tx, &a.id, a.level, &row.new.deliveries, row.raised).await?;
    queue(tx, &row.new.ledger, row.raised).await?;
    Ok(true)
}

impl PgStore {
    async fn begin(&self, what: &'static str) -> Result<Transaction<'_, Postgres>, StoreError> {
        self.pool.begin().await.map_err(failed(what))
    }

    pub(crate) async fn pg_put_shift(
        &self,
        s: &ShiftRecord,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        texts([
            ("rota_shifts.id", s.id.as_str()),
            ("rota_shifts.role", &s.role),
            ("rota_shifts.person", &s.person),
            ("rota_shifts.email", &s.email),
            ("rota_shifts.deputy", &s.deputy),
            ("rota_shifts.deputy_email", &s.deputy_email),
            ("rota_shifts.zone", &s.zone),
            ("rota_shifts.created_by", &s.created_by),
        ])?;
        let starts = stamp("rota_shifts.starts_at", s.starts_at)?;
        let ends = stamp("rota_shifts.ends_at", s.ends_at)?;
        let created = stamp("rota_shifts.created_at", s.created_at)?;
        let mut tx = self.begin("begin adding a shift").await?;
        let done = async {
            sqlx::query(
                "INSERT INTO rota_shifts (id, role, person, email, deputy, deputy_email, \
                 starts_at, ends_at, zone, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&s.id)
            .bind(&s.role)
            .bind(&s.person)
            .bind(&s.email)
            .bind(&s.deputy)
            .bind(&s.deputy_email)
            .bind(starts)
            .bind(ends)
            .bind(&s.zone)
            .bind(&s.created_by)
            .bind(created)
            .execute(&mut *tx)
            .await
            .map_err(failed("add a shift to the rota"))?;
            queue(&mut tx, ledger, created).await
        }
        .await;
        finish(tx, done, "commit a shift").await
    }

    pub(crate) async fn pg_remove_shift(
        &self,
        id: &str,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        if !encode::storable(id) {
            return Ok(false);
        }
        let at = stamp("rota_shifts.removed_at", at)?;
        let mut tx = self.begin("begin removing a shift").await?;
        let done = async {
            let n = sqlx::query(
                "UPDATE rota_shifts SET removed_at = $2 WHERE id = $1 AND removed_at IS NULL",
            )
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(failed("remove a shift from the rota"))?
            .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            queue(&mut tx, ledger, at).await?;
            Ok(true)
        }
        .await;
        finish(tx, done, "commit a shift removed").await
    }

    pub(crate) async fn pg_shifts(
        &self,
        include_removed: bool,
    ) -> Result<Vec<ShiftRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            alert_columns!(rota_shifts),
            " FROM rota_shifts WHERE ($1 OR removed_at IS NULL) \
             ORDER BY starts_at, id"
        );
        let rows = sqlx::query(sql)
            .bind(include_removed)
            .fetch_all(&self.pool)
            .await
            .map_err(failed("read the rota"))?;
        rows.iter().map(shift).collect()
    }

    pub(crate) async fn pg_raise_alert(
        &self,
        a: &AlertRecord,
        deliveries: &[NewDelivery],
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        let new = NewAlert {
            alert: a.clone(),
            deliveries: deliveries.to_vec(),
            ledger: ledger.to_vec(),
        };
        let row = alert_row(&new)?;
        let mut tx = self.begin("begin raising an alert").await?;
        let done = insert_alert(&mut tx, &row).await;
        finish(tx, done, "commit an alert").await
    }

    pub(crate) async fn pg_alerts(
        &self,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            alert_columns!(alerts),
            " FROM alerts WHERE (NOT $1 OR acknowledged_at IS NULL) \
             ORDER BY raised_at DESC, id LIMIT $2"
        );
        let rows = sqlx::query(sql)
            .bind(open_only)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(failed("list alerts"))?;
        rows.iter().map(alert).collect()
    }

    pub(crate) async fn pg_get_alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        if !encode::storable(id) {
            return Ok(None);
        }
        let sql = concat!(
            "SELECT ",
            alert_columns!(alerts),
            " FROM alerts WHERE id = $1"
        );
        let row = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(failed("read an alert"))?;
        row.as_ref().map(alert).transpose()
    }

    pub(crate) async fn pg_acknowledge_alert(
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
        let at = stamp("alerts.acknowledged_at", at)?;
        let mut tx = self.begin("begin acknowledging an alert").await?;
        let done = async {
            let n = sqlx::query(
                "UPDATE alerts SET acknowledged_at = $2, acknowledged_by = $3 \
                 WHERE id = $1 AND acknowledged_at IS NULL",
            )
            .bind(id)
            .bind(at)
            .bind(by)
            .execute(&mut *tx)
            .await
            .map_err(failed("acknowledge an alert"))?
            .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            queue(&mut tx, ledger, at).await?;
            Ok(true)
        }
        .await;
        finish(tx, done, "commit an acknowledgement").await
    }

    pub(crate) async fn pg_due_escalations(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let now = stamp("now", now)?;
        let sql = concat!(
            "SELECT ",
            alert_columns!(alerts),
            " FROM alerts WHERE acknowledged_at IS NULL \
             AND escalate_at IS NOT NULL AND escalate_at <= $1 ORDER BY escalate_at, id LIMIT $2"
        );
        let rows = sqlx::query(sql)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(failed("find alerts to escalate"))?;
        rows.iter().map(alert).collect()
    }

    pub(crate) async fn pg_escalate_alert(
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
        let next = optional_stamp("alerts.escalate_at", escalate_at)?;
        let at = stamp("alert_deliveries.next_attempt_at", at)?;
        let mut tx = self.begin("begin escalating an alert").await?;
        let done = async {
            let n = sqlx::query(
                "UPDATE alerts SET level = level + 1, escalate_at = $3 \
                 WHERE id = $1 AND level = $2 AND acknowledged_at IS NULL",
            )
            .bind(id)
            .bind(i64::from(from_level))
            .bind(next)
            .execute(&mut *tx)
            .await
            .map_err(failed("escalate an alert"))?
            .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            insert_deliveries(&mut tx, id, from_level + 1, deliveries, at).await?;
            queue(&mut tx, ledger, at).await?;
            Ok(true)
        }
        .await;
        finish(tx, done, "commit an escalation").await
    }

    pub(crate) async fn pg_claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let now = stamp("now", now)?;
        let lease = stamp("alert_deliveries.leased_until", lease_until)?;
        let sql = concat!(
            "UPDATE alert_deliveries SET leased_until = $2 WHERE id IN ( \
               SELECT id FROM alert_deliveries WHERE state = 'pending' AND next_attempt_at <= $1 \
               AND (leased_until IS NULL OR leased_until <= $1) \
               ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING ",
            alert_columns!(alert_deliveries),
            ""
        );
        let rows = sqlx::query(sql)
            .bind(now)
            .bind(lease)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(failed("lease deliveries due"))?;
        let mut out = rows.iter().map(delivery).collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|d| (d.next_attempt_at, d.id));
        Ok(out)
    }

    pub(crate) async fn pg_delivery_done(
        &self,
        id: i64,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let at = stamp("alert_deliveries.delivered_at", at)?;
        let mut tx = self.begin("begin recording a delivery").await?;
        let done = async {
            let n = sqlx::query(
                "UPDATE alert_deliveries SET state = 'delivered', delivered_at = $2, \
                 attempts = attempts + 1, leased_until = NULL, last_error = NULL \
                 WHERE id = $1 AND state = 'pending'",
            )
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(failed("record a delivery made"))?
            .rows_affected();
            if n == 1 {
                queue(&mut tx, ledger, at).await?;
            }
            Ok(())
        }
        .await;
        finish(tx, done, "commit a delivery").await
    }

    pub(crate) async fn pg_delivery_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        let next = stamp("alert_deliveries.next_attempt_at", next_attempt_at)?;
        let error: String = error.replace('\0', " ").chars().take(500).collect();
        sqlx::query(
            "UPDATE alert_deliveries SET attempts = $2, next_attempt_at = $3, last_error = $4, \
             leased_until = NULL WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(i64::from(attempts))
        .bind(next)
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(failed("schedule a delivery again"))?;
        Ok(())
    }

    pub(crate) async fn pg_delivery_failed(
        &self,
        id: i64,
        attempts: u32,
        at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        let _ = stamp("at", at)?;
        let error: String = error.replace('\0', " ").chars().take(500).collect();
        sqlx::query(
            "UPDATE alert_deliveries SET state = 'failed', attempts = $2, last_error = $3, \
             leased_until = NULL WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(i64::from(attempts))
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(failed("give a delivery up"))?;
        Ok(())
    }

    pub(crate) async fn pg_alert_deliveries(
        &self,
        alert_id: &str,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        if !encode::storable(alert_id) {
            return Ok(Vec::new());
        }
        let sql = concat!(
            "SELECT ",
            alert_columns!(alert_deliveries),
            " FROM alert_deliveries WHERE alert_id = $1 ORDER BY id"
        );
        let rows = sqlx::query(sql)
            .bind(alert_id)
            .fetch_all(&self.pool)
            .await
            .map_err(failed("read an alert's deliveries"))?;
        rows.iter().map(delivery).collect()
    }
}
