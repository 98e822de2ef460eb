//! The PostgreSQL adapter's oversight statistics (`stats.rs`): in one
//! repeatable-read transaction, the rollup rows of the period's whole
//! years and months (`case_stats_counts`, `case_stats_times`, summed over
//! the spans), the case rows of its ragged ends (one range of
//! `case_index_statistics`), then the exact times of the few histogram
//! buckets that hold a percentile (`case_index_ack_times`,
//! `case_index_decision_times`).

use std::collections::HashMap;

use crate::StoreError;
use crate::decode::failed;
use crate::encode;
use crate::postgres::PgStore;
use crate::rows;
use crate::stats::{self, BucketKey, CaseStatistics, Measure, StatsPeriod, Tally};

const WHAT: &str = "count the cases of a period";

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
                tally.count(rows::stats_count(row)?);
            }
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
                tally.bucket(rows::stats_bucket(row)?);
            }
        }
        for (from, to) in &plan.edges {
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
                tally.edge(&rows::stats_case(row)?.as_edge())?;
            }
        }
        let mut times: HashMap<BucketKey, Vec<i64>> = HashMap::new();
        if let Some((from, to)) = plan.covered {
            let (from, to) = (
                encode::timestamp("from", from)?,
                encode::timestamp("to", to)?,
            );
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
                let rows = sqlx::query(sql)
                    .bind(key.direction.as_str())
                    .bind(&key.kind)
                    .bind(key.bucket)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(failed(WHAT))?;
                let values = rows
                    .iter()
                    .map(rows::stats_seconds)
                    .collect::<Result<Vec<_>, _>>()?;
                times.insert(key, values);
            }
        }
        tx.commit().await.map_err(failed(WHAT))?;
        tally.finish(times)
    }
}
