//! The SQLite adapter's oversight statistics (`stats.rs`): in one read
//! transaction, the rollup rows of the period's whole years and months
//! (`case_stats_counts`, `case_stats_times`, one primary-key range per
//! span), the case rows of its ragged ends (one range of the
//! `case_index_statistics` index), then the exact times of the few
//! histogram buckets that hold a percentile (`case_index_ack_times`,
//! `case_index_decision_times`).

use std::collections::HashMap;

use rusqlite::params;

use crate::StoreError;
use crate::encode;
use crate::rows;
use crate::sqlite::SqliteStore;
use crate::sqlite_db::failed;
use crate::stats::{self, BucketKey, CaseStatistics, Measure, StatsPeriod, Tally};

const WHAT: &str = "count the cases of a period";

impl SqliteStore {
    pub(crate) async fn sqlite_case_statistics(
        &self,
        period: StatsPeriod,
    ) -> Result<CaseStatistics, StoreError> {
        let plan = stats::plan(period);
        let micros =
            |field, t| Ok::<_, StoreError>(encode::unix_micros(encode::timestamp(field, t)?));
        let edges = plan
            .edges
            .iter()
            .map(|(a, b)| Ok((micros("from", *a)?, micros("to", *b)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let covered = match plan.covered {
            Some((a, b)) => Some((micros("from", a)?, micros("to", b)?)),
            None => None,
        };
        let spans = plan.spans;
        self.read_long(move |conn| {
            // One snapshot for the rollups and the case rows.
            let tx = conn.unchecked_transaction().map_err(failed(WHAT))?;
            let mut tally = Tally::default();
            let mut counts = tx
                .prepare_cached(
                    "SELECT direction, draft, dimension, key, cases FROM case_stats_counts \
                     WHERE span = ?1",
                )
                .map_err(failed(WHAT))?;
            let mut histogram = tx
                .prepare_cached(
                    "SELECT direction, kind, measure, bucket, cases FROM case_stats_times \
                     WHERE span = ?1",
                )
                .map_err(failed(WHAT))?;
            for span in &spans {
                let mut rows = counts.query(params![span]).map_err(failed(WHAT))?;
                while let Some(row) = rows.next().map_err(failed(WHAT))? {
                    tally.count(rows::stats_count(row)?);
                }
                let mut rows = histogram.query(params![span]).map_err(failed(WHAT))?;
                while let Some(row) = rows.next().map_err(failed(WHAT))? {
                    tally.bucket(rows::stats_bucket(row)?);
                }
            }
            let mut scan = tx
                .prepare_cached(
                    "SELECT direction, kind, counterpart, outcome, postponed, grounds, \
                     ack_seconds, decision_seconds FROM case_index \
                     INDEXED BY case_index_statistics \
                     WHERE created_at >= ?1 AND created_at < ?2",
                )
                .map_err(failed(WHAT))?;
            for (from, to) in &edges {
                let mut rows = scan.query(params![from, to]).map_err(failed(WHAT))?;
                while let Some(row) = rows.next().map_err(failed(WHAT))? {
                    tally.edge(&rows::stats_scan_row(row)?)?;
                }
            }
            let mut times: HashMap<BucketKey, Vec<i64>> = HashMap::new();
            if let Some((from, to)) = covered {
                for key in tally.wanted() {
                    let sql = match key.measure {
                        Measure::Acknowledgement => {
                            "SELECT ack_seconds AS seconds FROM case_index \
                             INDEXED BY case_index_ack_times \
                             WHERE direction = ?1 AND kind = ?2 AND ack_bucket = ?3 \
                             AND created_at >= ?4 AND created_at < ?5"
                        }
                        Measure::Decision => {
                            "SELECT decision_seconds AS seconds FROM case_index \
                             INDEXED BY case_index_decision_times \
                             WHERE direction = ?1 AND kind = ?2 AND decision_bucket = ?3 \
                             AND created_at >= ?4 AND created_at < ?5"
                        }
                    };
                    let mut stmt = tx.prepare_cached(sql).map_err(failed(WHAT))?;
                    let mut rows = stmt
                        .query(params![
                            key.direction.as_str(),
                            key.kind,
                            key.bucket,
                            from,
                            to
                        ])
                        .map_err(failed(WHAT))?;
                    let mut values = Vec::new();
                    while let Some(row) = rows.next().map_err(failed(WHAT))? {
                        values.push(rows::stats_seconds(row)?);
                    }
                    times.insert(key, values);
                }
            }
            tally.finish(times)
        })
        .await
    }
}
