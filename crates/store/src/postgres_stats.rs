//! The PostgreSQL adapter's oversight statistics (`stats.rs`): one
//! `GROUP BY` for the cells and one for the percentiles
//! (`percentile_disc`, per direction and per direction and kind through
//! grouping sets), both over the period's range of created instants.

use crate::StoreError;
use crate::decode::failed;
use crate::encode;
use crate::postgres::PgStore;
use crate::rows;
use crate::stats::{CaseStatistics, StatsPeriod};

impl PgStore {
    pub(crate) async fn pg_case_statistics(
        &self,
        period: StatsPeriod,
    ) -> Result<CaseStatistics, StoreError> {
        let from = encode::timestamp("from", period.from)?;
        let to = encode::timestamp("to", period.to)?;
        const CELLS: &str = "count the cases of a period";
        let rows = sqlx::query(
            "SELECT direction, kind, counterpart, outcome, postponed, grounds, COUNT(*) AS cases \
             FROM case_index WHERE created_at >= $1 AND created_at < $2 \
             GROUP BY direction, kind, counterpart, outcome, postponed, grounds",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(failed(CELLS))?;
        let cells = rows
            .iter()
            .map(rows::stats_cell)
            .collect::<Result<Vec<_>, _>>()?;
        const TIMES: &str = "measure the response times of a period";
        // The ordered-set aggregates sort every duration of the period:
        // in memory for this query, not spilled at the default work_mem.
        let mut tx = self.pool.begin().await.map_err(failed(TIMES))?;
        sqlx::query("SET LOCAL work_mem = '256MB'")
            .execute(&mut *tx)
            .await
            .map_err(failed(TIMES))?;
        let rows = sqlx::query(
            "SELECT direction, kind, COUNT(ack_seconds) AS ack_cases, \
             percentile_disc(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY ack_seconds) AS ack, \
             COUNT(decision_seconds) AS decision_cases, \
             percentile_disc(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY decision_seconds) AS decision \
             FROM case_index WHERE created_at >= $1 AND created_at < $2 \
             GROUP BY GROUPING SETS ((direction), (direction, kind))",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await
        .map_err(failed(TIMES))?;
        tx.commit().await.map_err(failed(TIMES))?;
        let times = rows
            .iter()
            .map(rows::stats_times)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CaseStatistics { cells, times })
    }
}
