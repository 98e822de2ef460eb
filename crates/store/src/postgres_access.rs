//! The PostgreSQL adapter's record of who saw what and its case grants
//! (`access.rs`): each write with its ledger entry in one transaction.

use sqlx::postgres::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;
use crate::access::{self, AccessFilter, AccessRecord, CaseGrant};
use crate::decode::failed;
use crate::encode;
use crate::postgres::PgStore;
use crate::postgres_write::{PgTx, finish};
use crate::txn::Tx;

/// Inserts an access record (checked, its time `at` from
/// [`access::check_record`]) in the transaction of `conn`; its number.
pub(crate) async fn insert_record(
    conn: &mut PgConnection,
    record: &AccessRecord,
    at: OffsetDateTime,
) -> Result<i64, StoreError> {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO access_record (at, person, actor, operation, case_id, outcome, \
         reason, entry_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(at)
    .bind(&record.person)
    .bind(&record.actor)
    .bind(&record.operation)
    .bind(&record.case_id)
    .bind(&record.outcome)
    .bind(&record.reason)
    .bind(&record.entry_sha256)
    .fetch_one(conn)
    .await
    .map_err(failed("record an access"))
}

impl PgStore {
    pub(crate) async fn pg_record_accesses(
        &self,
        records: &[(AccessRecord, Vec<u8>)],
    ) -> Result<Vec<i64>, StoreError> {
        let checked = records
            .iter()
            .map(|(r, entry)| Ok((access::check_record(r)?, r, entry)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin recording an access"))?;
        let done = async {
            let mut ids = Vec::with_capacity(checked.len());
            for (at, record, entry) in &checked {
                PgTx(&mut tx)
                    .queue_entries(&[entry.as_slice()], *at)
                    .await?;
                ids.push(insert_record(&mut tx, record, *at).await?);
            }
            Ok(ids)
        }
        .await;
        finish(tx, done, "commit access records").await
    }

    pub(crate) async fn pg_access_records(
        &self,
        filter: &AccessFilter,
    ) -> Result<Vec<AccessRecord>, StoreError> {
        let since = filter
            .since
            .map(|t| encode::timestamp("since", t))
            .transpose()?;
        let until = filter
            .until
            .map(|t| encode::timestamp("until", t))
            .transpose()?;
        let offset = encode::count("offset", filter.offset)?;
        let rows = sqlx::query(
            "SELECT id, at, person, actor, operation, case_id, outcome, reason, entry_sha256 \
             FROM access_record \
             WHERE ($1::text IS NULL OR person = $1) AND ($2::text IS NULL OR case_id = $2) \
               AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4) \
             ORDER BY at DESC, id DESC LIMIT $5 OFFSET $6",
        )
        .bind(&filter.person)
        .bind(&filter.case_id)
        .bind(since)
        .bind(until)
        .bind(i64::from(filter.limit))
        .bind(offset)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list the access record"))?;
        rows.iter().map(access::access_row).collect()
    }

    pub(crate) async fn pg_grant_case(
        &self,
        grant: &CaseGrant,
        entry: &[u8],
    ) -> Result<i64, StoreError> {
        let (granted_at, until) = access::check_grant(grant)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin granting a case"))?;
        let done = async {
            PgTx(&mut tx).queue_entries(&[entry], granted_at).await?;
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO case_grants (case_id, person, reason, granted_by, granted_at, until) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(&grant.case_id)
            .bind(&grant.person)
            .bind(&grant.reason)
            .bind(&grant.granted_by)
            .bind(granted_at)
            .bind(until)
            .fetch_one(&mut *tx)
            .await
            .map_err(failed("grant a case"))
        }
        .await;
        finish(tx, done, "commit a case grant").await
    }

    pub(crate) async fn pg_revoke_case_grants(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError> {
        let at = encode::timestamp("case_grants.revoked_at", at)?;
        encode::text("case_grants.revoked_by", by)?;
        encode::text("case_grants.case_id", case_id)?;
        encode::text("case_grants.person", person)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin revoking a case grant"))?;
        let done = async {
            let n = sqlx::query(
                "UPDATE case_grants SET revoked_by = $3, revoked_at = $4 \
                 WHERE case_id = $1 AND person = $2 AND revoked_at IS NULL",
            )
            .bind(case_id)
            .bind(person)
            .bind(by)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(failed("revoke a case grant"))?
            .rows_affected();
            if n > 0 {
                PgTx(&mut tx).queue_entries(&[entry], at).await?;
            }
            Ok(n)
        }
        .await;
        finish(tx, done, "commit a case grant's revocation").await
    }

    pub(crate) async fn pg_case_grants(&self, case_id: &str) -> Result<Vec<CaseGrant>, StoreError> {
        if !encode::storable(case_id) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT id, case_id, person, reason, granted_by, granted_at, until, revoked_by, \
             revoked_at FROM case_grants WHERE case_id = $1 ORDER BY id",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list a case's grants"))?;
        rows.iter().map(access::grant_row).collect()
    }
}
