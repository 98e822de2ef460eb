//! The PostgreSQL adapter's oversight statistics (`stats.rs`): in one
//! repeatable-read transaction, the rollup rows of the period's whole
//! years and months (`case_stats_counts`, `case_stats_times`, summed over
//! the spans), the case rows of its ragged ends (one range of
//! `case_index_statistics`), then the exact times of the few histogram
//! buckets that hold a percentile (`case_index_ack_times`,
//! `case_index_decision_times`).

use std::collections::HashMap;

use sqlx::Row;

use crate::StoreError;
use crate::decode::failed;
use crate::encode;
use crate::postgres::PgStore;
use crate::stats::{
    self, BucketKey, CaseStatistics, EdgeRow, Measure, StatsDimension, StatsPeriod, Tally,
};

const WHAT: &str = "count the cases of a period";

fn get<'r, T>(row: &'r sqlx::postgres::PgRow, table: &'static str, column: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(|e| StoreError::Corrupt {
        table,
        column,
        detail: e.to_string(),
    })
}

impl PgStore {
    pub(crate) async fn pg_case_statistics(
        &self,
        period: StatsPeriod,
    ) -> Result<CaseStatistics, StoreError> {
        let plan = stats::plan(period);
        let mut tx = self.pool.begin().await.map_err(failed(WHAT))?;
        // One snapshot for the rollups and the case rows.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(failed(WHAT))?;
        let mut tally = Tally::default();
        if !plan.spans.is_empty() {
            const C: &str = "case_stats_counts";
            let rows = sqlx::query(
                "SELECT direction, draft, dimension, key, SUM(cases)::BIGINT AS cases \
                 FROM case_stats_counts WHERE span = ANY($1) \
                 GROUP BY direction, draft, dimension, key",
            )
            .bind(&plan.spans)
            .fetch_all(&mut *tx)
            .await
            .map_err(failed(WHAT))?;
            for row in &rows {
                let dir: String = get(row, C, "direction")?;
                let dimension: String = get(row, C, "dimension")?;
                let key: String = get(row, C, "key")?;
                tally.count(
                    stats::direction(C, &dir)?,
                    get(row, C, "draft")?,
                    StatsDimension::parse(&dimension)?,
                    &key,
                    get(row, C, "cases")?,
                );
            }
            const T: &str = "case_stats_times";
            let rows = sqlx::query(
                "SELECT direction, kind, measure, bucket, SUM(cases)::BIGINT AS cases \
                 FROM case_stats_times WHERE span = ANY($1) \
                 GROUP BY direction, kind, measure, bucket",
            )
            .bind(&plan.spans)
            .fetch_all(&mut *tx)
            .await
            .map_err(failed(WHAT))?;
            for row in &rows {
                let dir: String = get(row, T, "direction")?;
                let kind: String = get(row, T, "kind")?;
                let measure: String = get(row, T, "measure")?;
                tally.bucket(
                    stats::direction(T, &dir)?,
                    &kind,
                    Measure::parse(&measure)?,
                    get(row, T, "bucket")?,
                    get(row, T, "cases")?,
                );
            }
        }
        for (from, to) in &plan.edges {
            const I: &str = "case_index";
            let rows = sqlx::query(
                "SELECT direction, kind, counterpart, outcome, postponed, grounds, \
                 ack_seconds, decision_seconds FROM case_index \
                 WHERE created_at >= $1 AND created_at < $2",
            )
            .bind(encode::timestamp("from", *from)?)
            .bind(encode::timestamp("to", *to)?)
            .fetch_all(&mut *tx)
            .await
            .map_err(failed(WHAT))?;
            for row in &rows {
                let (direction, kind, counterpart, outcome, grounds): (
                    String,
                    String,
                    String,
                    String,
                    String,
                ) = (
                    get(row, I, "direction")?,
                    get(row, I, "kind")?,
                    get(row, I, "counterpart")?,
                    get(row, I, "outcome")?,
                    get(row, I, "grounds")?,
                );
                tally.edge(&EdgeRow {
                    direction: &direction,
                    kind: &kind,
                    counterpart: &counterpart,
                    outcome: &outcome,
                    postponed: get(row, I, "postponed")?,
                    grounds: &grounds,
                    ack: get(row, I, "ack_seconds")?,
                    decision: get(row, I, "decision_seconds")?,
                })?;
            }
        }
        let mut times: HashMap<BucketKey, Vec<i64>> = HashMap::new();
        if let Some((from, to)) = plan.covered {
            let (from, to) = (encode::timestamp("from", from)?, encode::timestamp("to", to)?);
            for key in tally.wanted() {
                let sql = match key.measure {
                    Measure::Acknowledgement => {
                        "SELECT ack_seconds AS seconds FROM case_index \
                         WHERE direction = $1 AND kind = $2 AND ack_bucket = $3 \
                         AND created_at >= $4 AND created_at < $5"
                    }
                    Measure::Decision => {
                        "SELECT decision_seconds AS seconds FROM case_index \
                         WHERE direction = $1 AND kind = $2 AND decision_bucket = $3 \
                         AND created_at >= $4 AND created_at < $5"
                    }
                };
                let values: Vec<i64> = sqlx::query_scalar(sql)
                    .bind(key.direction.as_str())
                    .bind(&key.kind)
                    .bind(key.bucket)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(failed(WHAT))?;
                times.insert(key, values);
            }
        }
        tx.commit().await.map_err(failed(WHAT))?;
        tally.finish(times)
    }
}
