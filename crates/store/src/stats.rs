//! Oversight statistics read from the case index (`0011_statistics.sql`):
//! for the cases opened in a period, how many there are in each cell of
//! (direction, kind, counterpart, outcome, postponed, refusal grounds), and
//! the response-time percentiles per direction and per direction and kind.
//! The node suppresses small counts and presents the report; the store
//! only counts. Nothing here names a case.

use time::OffsetDateTime;

use crate::records::Direction;

/// How many cases share one combination of the grouped columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsCell {
    pub direction: Direction,
    /// The request kind's name.
    pub kind: String,
    /// The counterpart State's code.
    pub counterpart: String,
    /// The outcome's name.
    pub outcome: String,
    pub postponed: bool,
    /// The refusal's ground codes.
    pub grounds: Vec<String>,
    pub cases: u64,
}

/// Percentiles of a response time (whole seconds) over the cases of a
/// group that have one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// How many cases of the group have this time.
    pub cases: u64,
    /// The median (`None` when no case has the time).
    pub p50: Option<i64>,
    pub p90: Option<i64>,
}

/// The response times of one group: a direction, or a direction and kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsTimes {
    pub direction: Direction,
    /// `None`: every kind of the direction.
    pub kind: Option<String>,
    /// From submission to acknowledgement.
    pub acknowledged: Percentiles,
    /// From submission to the first decision.
    pub decided: Percentiles,
}

/// What [`crate::Store::case_statistics`] counts for a period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseStatistics {
    /// Non-empty cells, in no particular order.
    pub cells: Vec<StatsCell>,
    /// One entry per direction and per direction and kind that has cases.
    pub times: Vec<StatsTimes>,
}

/// The cases a report covers: opened at or after `from` and before `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsPeriod {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

/// The discrete percentile `p` of sorted values, as PostgreSQL's
/// `percentile_disc` computes it (the first value whose position reaches
/// the fraction, the position computed in `f64` exactly as there), so
/// that both backends give the same figure.
pub(crate) fn percentile_disc(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rownum = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rownum.clamp(1, sorted.len()) - 1).copied()
}

/// Percentiles of unsorted values (sorted here).
pub(crate) fn percentiles(mut values: Vec<i64>) -> Percentiles {
    values.sort_unstable();
    Percentiles {
        cases: values.len() as u64,
        p50: percentile_disc(&values, 0.5),
        p90: percentile_disc(&values, 0.9),
    }
}

/// Splits a stored grounds list.
pub(crate) fn split_grounds(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discrete_percentiles_take_the_first_value_reaching_the_fraction() {
        assert_eq!(percentile_disc(&[], 0.5), None);
        assert_eq!(percentile_disc(&[7], 0.9), Some(7));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile_disc(&ten, 0.5), Some(5));
        assert_eq!(percentile_disc(&ten, 0.9), Some(9));
        let five: Vec<i64> = (1..=5).collect();
        assert_eq!(percentile_disc(&five, 0.5), Some(3));
        assert_eq!(percentile_disc(&five, 0.9), Some(5));
    }
}
