//! The SQLite adapter's oversight statistics (`stats.rs`): one range read
//! of the `case_index_statistics` index over the period, counted and
//! measured in Rust as it streams (one pass, no sort in the database; the
//! durations are sorted per group here).

use std::collections::HashMap;

use rusqlite::params;

use crate::StoreError;
use crate::encode;
use crate::records::Direction;
use crate::rows;
use crate::sqlite::SqliteStore;
use crate::sqlite_db::failed;
use crate::stats::{
    CaseStatistics, StatsCell, StatsPeriod, StatsTimes, percentiles, split_grounds,
};

/// The durations of one group as they stream in.
#[derive(Default)]
struct Times {
    ack: Vec<i64>,
    decision: Vec<i64>,
}

fn direction(text: &str) -> Result<Direction, StoreError> {
    text.parse().map_err(|e| StoreError::Corrupt {
        table: "case_index",
        column: "direction",
        detail: format!("{e}"),
    })
}

impl SqliteStore {
    pub(crate) async fn sqlite_case_statistics(
        &self,
        period: StatsPeriod,
    ) -> Result<CaseStatistics, StoreError> {
        let from = encode::unix_micros(encode::timestamp("from", period.from)?);
        let to = encode::unix_micros(encode::timestamp("to", period.to)?);
        self.read_long(move |conn| {
            const WHAT: &str = "count the cases of a period";
            let mut stmt = conn
                .prepare_cached(
                    "SELECT direction, kind, counterpart, outcome, postponed, grounds, \
                     ack_seconds, decision_seconds FROM case_index INDEXED BY case_index_statistics \
                     WHERE created_at >= ?1 AND created_at < ?2",
                )
                .map_err(failed(WHAT))?;
            let mut rows = stmt.query(params![from, to]).map_err(failed(WHAT))?;
            // Cells keyed by their columns joined with a separator no name
            // holds; each key allocated once.
            // Each cell keeps its cases' durations (grouped by direction
            // and kind afterwards), so a row allocates nothing once its
            // cell is known.
            let mut cells: HashMap<String, (StatsCell, u64, Times)> = HashMap::new();
            let mut key = String::with_capacity(64);
            while let Some(row) = rows.next().map_err(failed(WHAT))? {
                let r = rows::stats_scan_row(row)?;
                let (dir, kind, counterpart, outcome) = (r.direction, r.kind, r.counterpart, r.outcome);
                let (postponed, grounds, ack, decision) = (r.postponed, r.grounds, r.ack, r.decision);
                key.clear();
                for part in [dir, kind, counterpart, outcome, if postponed { "1" } else { "0" }, grounds] {
                    key.push_str(part);
                    key.push('\u{1f}');
                }
                match cells.get_mut(key.as_str()) {
                    Some((_, n, t)) => {
                        *n += 1;
                        t.ack.extend(ack);
                        t.decision.extend(decision);
                    }
                    None => {
                        let cell = StatsCell {
                            direction: direction(dir)?,
                            kind: kind.to_owned(),
                            counterpart: counterpart.to_owned(),
                            outcome: outcome.to_owned(),
                            postponed,
                            grounds: split_grounds(grounds),
                            cases: 0,
                        };
                        let t = Times {
                            ack: ack.into_iter().collect(),
                            decision: decision.into_iter().collect(),
                        };
                        cells.insert(key.clone(), (cell, 1, t));
                    }
                }
            }
            let mut times: HashMap<(String, String), Times> = HashMap::new();
            let cells = cells
                .into_values()
                .map(|(mut cell, n, t)| {
                    cell.cases = n;
                    let group = times
                        .entry((cell.direction.as_str().to_owned(), cell.kind.clone()))
                        .or_default();
                    group.ack.extend(t.ack);
                    group.decision.extend(t.decision);
                    cell
                })
                .collect::<Vec<_>>();
            Ok(CaseStatistics {
                times: group_times(&cells, times),
                cells,
            })
        })
        .await
    }
}

/// The percentiles per direction and kind, and per direction (every kind
/// together), for each group that has cases.
fn group_times(
    cells: &[StatsCell],
    mut times: HashMap<(String, String), Times>,
) -> Vec<StatsTimes> {
    let mut groups: Vec<(Direction, String)> = cells
        .iter()
        .map(|c| (c.direction, c.kind.clone()))
        .collect();
    groups.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    groups.dedup();
    let mut out = Vec::new();
    let mut whole: HashMap<Direction, Times> = HashMap::new();
    for (dir, kind) in groups {
        let t = times
            .remove(&(dir.as_str().to_owned(), kind.clone()))
            .unwrap_or_default();
        let all = whole.entry(dir).or_default();
        all.ack.extend_from_slice(&t.ack);
        all.decision.extend_from_slice(&t.decision);
        out.push(StatsTimes {
            direction: dir,
            kind: Some(kind),
            acknowledged: percentiles(t.ack),
            decided: percentiles(t.decision),
        });
    }
    for (dir, t) in whole {
        out.push(StatsTimes {
            direction: dir,
            kind: None,
            acknowledged: percentiles(t.ack),
            decided: percentiles(t.decision),
        });
    }
    out
}
