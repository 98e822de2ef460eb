//! Oversight statistics read from the kept rollups of the case index
//! (`0016_statistics_rollup.sql`): for the cases opened in a period, how
//! many there are of each kind, counterpart, outcome, postponement and
//! refusal grounds per direction, and the response-time percentiles per
//! direction and per direction and kind. The node suppresses small counts
//! and presents the report; the store only counts. Nothing here names a
//! case.
//!
//! The database keeps, in the transaction of every write to a case row,
//! the counts and a histogram of the response times per calendar year and
//! per calendar month (UTC) of the cases' opening. A period is read as its
//! whole years and months ([`plan`]) from the rollups, and its ragged ends
//! (the days before its first whole month and after its last) from the
//! case rows themselves. A percentile is located in the merged histogram
//! to its bucket ([`time_bucket`]), then read exactly from the times of
//! that bucket alone ([`Tally::wanted`], [`Tally::finish`]), so the
//! figures are those of sorting every time of the period.

use std::collections::{BTreeMap, HashMap};

use time::{Date, Month, OffsetDateTime, UtcOffset};

use crate::StoreError;
use crate::records::Direction;

/// The outcome of a case never submitted: the rollups keep such drafts
/// apart (`draft`), since the report leaves them out.
pub const DRAFT_OUTCOME: &str = "not-submitted";

/// What a count of [`CaseStatistics`] counts the cases by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatsDimension {
    /// The request kind's name.
    Kind,
    /// The counterpart State's code.
    Counterpart,
    /// The outcome's name.
    Outcome,
    /// `postponed` or `not-postponed`.
    Postponement,
    /// The refusal's ground codes as stored, joined by commas (`R2,R6`);
    /// cases without grounds are not counted here.
    Grounds,
}

impl StatsDimension {
    /// The name the rollup stores.
    pub fn as_str(self) -> &'static str {
        match self {
            StatsDimension::Kind => "kind",
            StatsDimension::Counterpart => "counterpart",
            StatsDimension::Outcome => "outcome",
            StatsDimension::Postponement => "postponed",
            StatsDimension::Grounds => "grounds",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "kind" => StatsDimension::Kind,
            "counterpart" => StatsDimension::Counterpart,
            "outcome" => StatsDimension::Outcome,
            "postponed" => StatsDimension::Postponement,
            "grounds" => StatsDimension::Grounds,
            other => {
                return Err(corrupt(
                    "case_stats_counts",
                    "dimension",
                    format!("unknown dimension {other:?}"),
                ));
            }
        })
    }
}

/// How many cases of a direction share one value of one dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsCount {
    pub direction: Direction,
    /// Whether these are drafts (outcome [`DRAFT_OUTCOME`]).
    pub draft: bool,
    pub dimension: StatsDimension,
    pub key: String,
    /// Never zero.
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

/// What [`crate::CaseStore::case_statistics`] counts for a period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseStatistics {
    /// The non-zero counts, sorted by direction, draft, dimension and key.
    pub counts: Vec<StatsCount>,
    /// One entry per direction and per direction and kind that has cases
    /// (drafts included), sorted by direction, then the direction's entry
    /// before its kinds'.
    pub times: Vec<StatsTimes>,
}

/// The cases a report covers: opened at or after `from` and before `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsPeriod {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

fn corrupt(table: &'static str, column: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt {
        table,
        column,
        detail,
    }
}

pub(crate) fn direction(table: &'static str, text: &str) -> Result<Direction, StoreError> {
    text.parse()
        .map_err(|e| corrupt(table, "direction", format!("{e}")))
}

/// A count read from the database, which is never negative.
pub(crate) fn cases(table: &'static str, n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| corrupt(table, "cases", format!("a negative count ({n})")))
}

/// The discrete percentile `p` of sorted values, as PostgreSQL's
/// `percentile_disc` computes it (the first value whose position reaches
/// the fraction, the position computed in `f64` exactly as there).
#[cfg(test)]
pub(crate) fn percentile_disc(sorted: &[i64], p: f64) -> Option<i64> {
    let rank = percentile_rank(sorted.len() as u64, p)?;
    sorted.get(usize::try_from(rank).ok()? - 1).copied()
}

/// The 1-based position of the discrete percentile `p` among `n` sorted
/// values (`None` when there are none).
pub(crate) fn percentile_rank(n: u64, p: f64) -> Option<u64> {
    if n == 0 {
        return None;
    }
    let rownum = (p * n as f64).ceil() as u64;
    Some(rownum.clamp(1, n))
}

/// The bucket of a response time in the rollup's histogram, as the
/// generated columns `ack_bucket` and `decision_bucket` compute it: its
/// lowest value, seven significant bits kept (every negative time in
/// bucket -1, every time from 2^31 seconds in bucket 2^31).
pub(crate) fn time_bucket(seconds: i64) -> i64 {
    const TOP: i64 = 1 << 31;
    if seconds < 0 {
        -1
    } else if seconds < 128 {
        seconds
    } else if seconds >= TOP {
        TOP
    } else {
        // 128 ≤ seconds < 2^31: keep the top seven bits.
        let shift = 64 - seconds.leading_zeros() - 7;
        (seconds >> shift) << shift
    }
}

/// A response time the report measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Measure {
    Acknowledgement,
    Decision,
}

impl Measure {
    pub(crate) const BOTH: [Measure; 2] = [Measure::Acknowledgement, Measure::Decision];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Measure::Acknowledgement => "acknowledgement",
            Measure::Decision => "decision",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "acknowledgement" => Ok(Measure::Acknowledgement),
            "decision" => Ok(Measure::Decision),
            other => Err(corrupt(
                "case_stats_times",
                "measure",
                format!("unknown measure {other:?}"),
            )),
        }
    }
}

/// How a period is read: the rollup spans (`2025`, `2025-03`) that lie
/// wholly inside it, the range of created instants they cover together,
/// and the ranges at its ends read from the case rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StatsPlan {
    pub spans: Vec<String>,
    pub covered: Option<(OffsetDateTime, OffsetDateTime)>,
    pub edges: Vec<(OffsetDateTime, OffsetDateTime)>,
}

fn first_of(year: i32, month: Month) -> Option<Date> {
    Date::from_calendar_date(year, month, 1).ok()
}

fn next_month(d: Date) -> Option<Date> {
    match d.month() {
        Month::December => first_of(d.year().checked_add(1)?, Month::January),
        m => first_of(d.year(), m.next()),
    }
}

fn start(d: Date) -> OffsetDateTime {
    d.midnight().assume_utc()
}

/// Splits a period into whole calendar years and months (UTC), each as
/// large as it can be, and the instants before the first and after the
/// last.
pub(crate) fn plan(period: StatsPeriod) -> StatsPlan {
    let from = period.from.to_offset(UtcOffset::UTC);
    let to = period.to.to_offset(UtcOffset::UTC);
    if from >= to {
        return StatsPlan::default();
    }
    let whole = || -> Option<StatsPlan> {
        let month_of = |t: OffsetDateTime| first_of(t.year(), t.month());
        let mut m0 = month_of(from)?;
        if start(m0) < from {
            m0 = next_month(m0)?;
        }
        let m1 = month_of(to)?;
        if m0 >= m1 {
            return None;
        }
        let mut spans = Vec::new();
        let mut d = m0;
        while d < m1 {
            let next_year = first_of(d.year() + 1, Month::January);
            match next_year {
                Some(y) if d.month() == Month::January && y <= m1 => {
                    spans.push(format!("{:04}", d.year()));
                    d = y;
                }
                _ => {
                    spans.push(format!("{:04}-{:02}", d.year(), u8::from(d.month())));
                    d = next_month(d)?;
                }
            }
        }
        let (a, b) = (start(m0), start(m1));
        let edges = [(from, a), (b, to)]
            .into_iter()
            .filter(|(x, y)| x < y)
            .collect();
        Some(StatsPlan {
            spans,
            covered: Some((a, b)),
            edges,
        })
    };
    whole().unwrap_or_else(|| StatsPlan {
        spans: Vec::new(),
        covered: None,
        edges: vec![(from, to)],
    })
}

/// One bucket of one measure of one direction and kind: the times to read
/// exactly over the covered range.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct BucketKey {
    pub direction: Direction,
    pub kind: String,
    pub measure: Measure,
    pub bucket: i64,
}

/// A row of `case_stats_counts`.
pub(crate) struct RollupCount {
    pub direction: Direction,
    pub draft: bool,
    pub dimension: StatsDimension,
    pub key: String,
    pub cases: i64,
}

/// A row of `case_stats_times`.
pub(crate) struct RollupBucket {
    pub direction: Direction,
    pub kind: String,
    pub measure: Measure,
    pub bucket: i64,
    pub cases: i64,
}

/// A case row of a period's ragged ends, owned.
pub(crate) struct StatsCase {
    pub direction: String,
    pub kind: String,
    pub counterpart: String,
    pub outcome: String,
    pub postponed: bool,
    pub grounds: String,
    pub ack: Option<i64>,
    pub decision: Option<i64>,
}

impl StatsCase {
    pub(crate) fn as_edge(&self) -> EdgeRow<'_> {
        EdgeRow {
            direction: &self.direction,
            kind: &self.kind,
            counterpart: &self.counterpart,
            outcome: &self.outcome,
            postponed: self.postponed,
            grounds: &self.grounds,
            ack: self.ack,
            decision: self.decision,
        }
    }
}

/// One case row of a period's ragged ends.
pub(crate) struct EdgeRow<'r> {
    pub direction: &'r str,
    pub kind: &'r str,
    pub counterpart: &'r str,
    pub outcome: &'r str,
    pub postponed: bool,
    pub grounds: &'r str,
    pub ack: Option<i64>,
    pub decision: Option<i64>,
}

type CountKey = (Direction, bool, StatsDimension, String);
type TimesKey = (Direction, String, Measure);

/// A percentile to read: of a direction (every kind) or of one kind.
struct Target {
    direction: Direction,
    kind: Option<String>,
    measure: Measure,
    /// 0: p50, 1: p90.
    which: usize,
    /// The bucket holding it and its 1-based position there.
    bucket: i64,
    rank: u64,
}

/// The figures of a period as they are read: counts and histograms of
/// the rollups and of the ragged ends, and the ends' exact times.
#[derive(Default)]
pub(crate) struct Tally {
    counts: HashMap<CountKey, i64>,
    histograms: BTreeMap<TimesKey, BTreeMap<i64, i64>>,
    edge_times: HashMap<BucketKey, Vec<i64>>,
}

impl Tally {
    /// Adds a count read from `case_stats_counts`.
    pub fn count(&mut self, c: RollupCount) {
        self.add_count(c.direction, c.draft, c.dimension, &c.key, c.cases);
    }

    fn add_count(
        &mut self,
        direction: Direction,
        draft: bool,
        dimension: StatsDimension,
        key: &str,
        cases: i64,
    ) {
        *self
            .counts
            .entry((direction, draft, dimension, key.to_owned()))
            .or_insert(0) += cases;
    }

    /// Adds a histogram row read from `case_stats_times`.
    pub fn bucket(&mut self, b: RollupBucket) {
        self.add_bucket(b.direction, &b.kind, b.measure, b.bucket, b.cases);
    }

    fn add_bucket(
        &mut self,
        direction: Direction,
        kind: &str,
        measure: Measure,
        bucket: i64,
        cases: i64,
    ) {
        *self
            .histograms
            .entry((direction, kind.to_owned(), measure))
            .or_default()
            .entry(bucket)
            .or_insert(0) += cases;
    }

    /// Adds a case row of the period's ends, as the triggers would.
    pub fn edge(&mut self, row: &EdgeRow<'_>) -> Result<(), StoreError> {
        let dir = direction("case_index", row.direction)?;
        let draft = row.outcome == DRAFT_OUTCOME;
        let postponed = if row.postponed {
            "postponed"
        } else {
            "not-postponed"
        };
        let mut dims = vec![
            (StatsDimension::Kind, row.kind),
            (StatsDimension::Counterpart, row.counterpart),
            (StatsDimension::Outcome, row.outcome),
            (StatsDimension::Postponement, postponed),
        ];
        if !row.grounds.is_empty() {
            dims.push((StatsDimension::Grounds, row.grounds));
        }
        for (dimension, key) in dims {
            self.add_count(dir, draft, dimension, key, 1);
        }
        for (measure, time) in [
            (Measure::Acknowledgement, row.ack),
            (Measure::Decision, row.decision),
        ] {
            if let Some(seconds) = time {
                let bucket = time_bucket(seconds);
                self.add_bucket(dir, row.kind, measure, bucket, 1);
                self.edge_times
                    .entry(BucketKey {
                        direction: dir,
                        kind: row.kind.to_owned(),
                        measure,
                        bucket,
                    })
                    .or_default()
                    .push(seconds);
            }
        }
        Ok(())
    }

    /// The groups that have cases: each direction, and each direction and
    /// kind, with the kinds of the group.
    fn groups(&self) -> Vec<(Direction, Option<String>, Vec<String>)> {
        let mut kinds: BTreeMap<Direction, Vec<String>> = BTreeMap::new();
        for ((dir, _, dimension, key), n) in &self.counts {
            if *dimension == StatsDimension::Kind && *n > 0 {
                kinds.entry(*dir).or_default().push(key.clone());
            }
        }
        let mut out = Vec::new();
        for (dir, mut ks) in kinds {
            ks.sort();
            ks.dedup();
            out.push((dir, None, ks.clone()));
            for k in ks {
                out.push((dir, Some(k.clone()), vec![k]));
            }
        }
        out
    }

    /// A group's merged histogram of one measure.
    fn histogram(
        &self,
        direction: Direction,
        kinds: &[String],
        measure: Measure,
    ) -> BTreeMap<i64, i64> {
        let mut merged = BTreeMap::new();
        for k in kinds {
            if let Some(h) = self.histograms.get(&(direction, k.clone(), measure)) {
                for (b, n) in h {
                    *merged.entry(*b).or_insert(0) += n;
                }
            }
        }
        merged
    }

    fn targets(&self) -> Vec<(Target, Vec<String>)> {
        let mut out = Vec::new();
        for (direction, kind, kinds) in self.groups() {
            for measure in Measure::BOTH {
                let h = self.histogram(direction, &kinds, measure);
                let n = u64::try_from(h.values().sum::<i64>()).unwrap_or(0);
                for (which, p) in [0.5, 0.9].into_iter().enumerate() {
                    let Some(rank) = percentile_rank(n, p) else {
                        continue;
                    };
                    let mut before = 0u64;
                    for (b, c) in &h {
                        let c = u64::try_from(*c).unwrap_or(0);
                        if before + c >= rank {
                            out.push((
                                Target {
                                    direction,
                                    kind: kind.clone(),
                                    measure,
                                    which,
                                    bucket: *b,
                                    rank: rank - before,
                                },
                                kinds.clone(),
                            ));
                            break;
                        }
                        before += c;
                    }
                }
            }
        }
        out
    }

    /// The buckets whose times must be read over the covered range, each
    /// once.
    pub fn wanted(&self) -> Vec<BucketKey> {
        let mut keys: Vec<BucketKey> = self
            .targets()
            .into_iter()
            .flat_map(|(t, kinds)| {
                kinds.into_iter().map(move |kind| BucketKey {
                    direction: t.direction,
                    kind,
                    measure: t.measure,
                    bucket: t.bucket,
                })
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// The statistics, given the times of each [`Tally::wanted`] bucket
    /// over the covered range. A bucket whose times do not add up to its
    /// count is an error, never a wrong figure.
    pub fn finish(
        self,
        covered: HashMap<BucketKey, Vec<i64>>,
    ) -> Result<CaseStatistics, StoreError> {
        let mut times: BTreeMap<(Direction, Option<String>), StatsTimes> = BTreeMap::new();
        for (direction, kind, kinds) in self.groups() {
            let mut entry = StatsTimes {
                direction,
                kind: kind.clone(),
                acknowledged: Percentiles::default(),
                decided: Percentiles::default(),
            };
            for measure in Measure::BOTH {
                let n = self
                    .histogram(direction, &kinds, measure)
                    .values()
                    .sum::<i64>();
                let p = match measure {
                    Measure::Acknowledgement => &mut entry.acknowledged,
                    Measure::Decision => &mut entry.decided,
                };
                p.cases = cases("case_stats_times", n)?;
            }
            times.insert((direction, kind), entry);
        }
        for (t, kinds) in self.targets() {
            let mut values = Vec::new();
            let mut expected = 0;
            for kind in kinds {
                let key = BucketKey {
                    direction: t.direction,
                    kind,
                    measure: t.measure,
                    bucket: t.bucket,
                };
                expected += self
                    .histograms
                    .get(&(key.direction, key.kind.clone(), key.measure))
                    .and_then(|h| h.get(&key.bucket))
                    .copied()
                    .unwrap_or(0);
                values.extend(covered.get(&key).into_iter().flatten());
                values.extend(self.edge_times.get(&key).into_iter().flatten());
            }
            if i64::try_from(values.len()).ok() != Some(expected) {
                return Err(corrupt(
                    "case_stats_times",
                    "cases",
                    format!(
                        "the {} bucket {} of {} cases counts {expected} times, the cases hold {}",
                        t.measure.as_str(),
                        t.bucket,
                        t.direction.as_str(),
                        values.len()
                    ),
                ));
            }
            values.sort_unstable();
            let value = usize::try_from(t.rank)
                .ok()
                .and_then(|r| values.get(r - 1))
                .copied();
            if let Some(entry) = times.get_mut(&(t.direction, t.kind)) {
                let p = match t.measure {
                    Measure::Acknowledgement => &mut entry.acknowledged,
                    Measure::Decision => &mut entry.decided,
                };
                match t.which {
                    0 => p.p50 = value,
                    _ => p.p90 = value,
                }
            }
        }
        let mut counts = Vec::new();
        for ((direction, draft, dimension, key), n) in self.counts {
            if n != 0 {
                counts.push(StatsCount {
                    direction,
                    draft,
                    dimension,
                    key,
                    cases: cases("case_stats_counts", n)?,
                });
            }
        }
        counts.sort_by(|a, b| {
            (a.direction, a.draft, a.dimension, &a.key).cmp(&(
                b.direction,
                b.draft,
                b.dimension,
                &b.key,
            ))
        });
        Ok(CaseStatistics {
            counts,
            times: times.into_values().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

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

    #[test]
    fn buckets_keep_seven_bits_and_sort_as_their_times() {
        let cases = [
            (-5, -1),
            (0, 0),
            (127, 127),
            (128, 128),
            (129, 128),
            (255, 254),
            (1_001, 1_000),
            (1_023, 1_016),
            (130_000, 129_024),
            (2_600_000, 2_588_672),
            ((1 << 31) - 1, (1 << 31) - (1 << 24)),
            (1 << 31, 1 << 31),
            (i64::MAX, 1 << 31),
        ];
        for (seconds, bucket) in cases {
            assert_eq!(time_bucket(seconds), bucket, "{seconds}");
        }
        let mut last = i64::MIN;
        for s in (-300..300_000).step_by(7) {
            let b = time_bucket(s);
            assert!(b >= last && b <= s.max(-1), "{s}");
            last = b;
        }
    }

    #[test]
    fn a_period_is_read_as_whole_years_and_months_and_its_ends() {
        let p = |from, to| plan(StatsPeriod { from, to });
        let year = p(
            datetime!(2025-01-01 0:00 UTC),
            datetime!(2026-01-01 0:00 UTC),
        );
        assert_eq!(year.spans, ["2025"]);
        assert!(year.edges.is_empty());
        let ragged = p(
            datetime!(2024-11-15 0:00 UTC),
            datetime!(2026-02-03 0:00 UTC),
        );
        assert_eq!(ragged.spans, ["2024-12", "2025", "2026-01"]);
        assert_eq!(
            ragged.covered,
            Some((
                datetime!(2024-12-01 0:00 UTC),
                datetime!(2026-02-01 0:00 UTC)
            ))
        );
        assert_eq!(
            ragged.edges,
            [
                (
                    datetime!(2024-11-15 0:00 UTC),
                    datetime!(2024-12-01 0:00 UTC)
                ),
                (
                    datetime!(2026-02-01 0:00 UTC),
                    datetime!(2026-02-03 0:00 UTC)
                ),
            ]
        );
        let short = p(
            datetime!(2025-03-02 0:00 UTC),
            datetime!(2025-03-20 0:00 UTC),
        );
        assert!(short.spans.is_empty() && short.covered.is_none());
        assert_eq!(short.edges.len(), 1);
        assert_eq!(
            p(
                datetime!(2025-03-02 0:00 UTC),
                datetime!(2025-03-02 0:00 UTC)
            ),
            StatsPlan::default()
        );
    }
}
