//! The PostgreSQL adapter's oversight statistics (`stats.rs`): one
//! `GROUP BY` for the cells and one for the percentiles
//! (`percentile_disc`, per direction and per direction and kind through
//! grouping sets), both over the period's range of created instants.

use sqlx::Row;

use crate::StoreError;
use crate::decode::failed;
use crate::encode;
use crate::postgres::PgStore;
use crate::stats::{
    CaseStatistics, Percentiles, StatsCell, StatsPeriod, StatsTimes, split_grounds,
};

fn corrupt(column: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt {
        table: "case_index",
        column,
        detail,
    }
}

fn percentiles(cases: i64, values: Option<Vec<Option<i64>>>) -> Percentiles {
    let values = values.unwrap_or_default();
    Percentiles {
        cases: u64::try_from(cases).unwrap_or(0),
        p50: values.first().copied().flatten(),
        p90: values.get(1).copied().flatten(),
    }
}

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
        let mut cells = Vec::with_capacity(rows.len());
        for row in &rows {
            let get = |c: &'static str| -> Result<String, StoreError> {
                row.try_get(c).map_err(|e| corrupt(c, e.to_string()))
            };
            cells.push(StatsCell {
                direction: get("direction")?
                    .parse()
                    .map_err(|e| corrupt("direction", format!("{e}")))?,
                kind: get("kind")?,
                counterpart: get("counterpart")?,
                outcome: get("outcome")?,
                postponed: row
                    .try_get("postponed")
                    .map_err(|e| corrupt("postponed", e.to_string()))?,
                grounds: split_grounds(&get("grounds")?),
                cases: u64::try_from(
                    row.try_get::<i64, _>("cases")
                        .map_err(|e| corrupt("cases", e.to_string()))?,
                )
                .unwrap_or(0),
            });
        }
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
        let mut times = Vec::with_capacity(rows.len());
        for row in &rows {
            let direction: String = row
                .try_get("direction")
                .map_err(|e| corrupt("direction", e.to_string()))?;
            let number = |c: &'static str| -> Result<i64, StoreError> {
                row.try_get(c).map_err(|e| corrupt(c, e.to_string()))
            };
            let list = |c: &'static str| -> Result<Option<Vec<Option<i64>>>, StoreError> {
                row.try_get(c).map_err(|e| corrupt(c, e.to_string()))
            };
            times.push(StatsTimes {
                direction: direction
                    .parse()
                    .map_err(|e| corrupt("direction", format!("{e}")))?,
                kind: row
                    .try_get("kind")
                    .map_err(|e| corrupt("kind", e.to_string()))?,
                acknowledged: percentiles(number("ack_cases")?, list("ack")?),
                decided: percentiles(number("decision_cases")?, list("decision")?),
            });
        }
        Ok(CaseStatistics { cells, times })
    }
}
