//! Oversight statistics: what a State reports on its cooperation (to its
//! parliament, its data-protection authority, the Conference of the States
//! Parties) without case content and without identifiers.
//!
//! For the cases opened in a period, per direction (received, sent): counts
//! by request kind, counterpart State, outcome (`custos_case::figures`),
//! refusal ground and postponement, and the p50 and p90 of the time from
//! submission to acknowledgement and to the first decision. Drafts never
//! submitted are not counted. The figures
//! come from the rollups the store keeps with the case index
//! (`custos_store::CaseStore::case_statistics`): no
//! thread is read and no row names a case.
//!
//! **Suppression** (the rule is documented in `docs/formats/statistics.md`):
//! in each row of counts (the cells of one table of one direction, which
//! add up to the direction's total or, for refusal grounds, about to the
//! refusals), a count from 1 to `threshold − 1` is suppressed (primary);
//! then, while a row has exactly one suppressed cell, or suppressed cells
//! that add up to less than the threshold, the smallest count still shown
//! is suppressed too (secondary), so that no suppressed count can be worked
//! out from the total and the others. A direction whose total is below the
//! threshold shows no count at all. Percentiles are given only for a group
//! of at least `threshold` measured cases. The threshold is the node's
//! (`[statistics] threshold`, default 5); a caller may raise it, never
//! lower it.
//!
//! The report can be signed by the node (a DSSE envelope of type
//! [`PAYLOAD_TYPE`]) and verified against the signer's key in the
//! directory ([`Node::verify_statistics`]).

use std::collections::BTreeMap;

use custos_case::{CaseView, Outcome};
use custos_model::refusal::Ground;
use custos_seal::Envelope;
use custos_store::{
    CaseFigures, CaseStatistics, Direction, StatsDimension, StatsPeriod, StatsTimes,
};
use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::{Date, Duration, Month};

use super::Actor;
use super::access::Operation;
use crate::{Node, NodeError};

/// The payload type of a signed report.
pub const PAYLOAD_TYPE: &str = "application/vnd.custos.statistics+json; version=1";

/// The report format's version (`version` in the report).
pub const REPORT_VERSION: u32 = 1;

/// The node's default suppression threshold.
pub const DEFAULT_THRESHOLD: u64 = 5;

/// The node's statistics settings (`[statistics]` in `custos.toml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatisticsSettings {
    /// Counts below this are suppressed; percentiles need this many cases.
    pub threshold: u64,
}

impl Default for StatisticsSettings {
    fn default() -> Self {
        StatisticsSettings {
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

/// What a report is asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatisticsQuery {
    /// The first day of the period (default: 1 January of last year).
    pub from: Option<Date>,
    /// The last day of the period, included (default: 31 December of last
    /// year).
    pub to: Option<Date>,
    /// A threshold above the node's (never below it).
    pub threshold: Option<u64>,
}

/// One count of a report: shown, or suppressed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CountCell {
    /// What is counted: a kind, a State's code, an outcome, a ground code,
    /// `postponed` / `not-postponed`, or `all`.
    pub key: String,
    /// The count, absent when suppressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Whether the count is suppressed.
    #[serde(default)]
    pub suppressed: bool,
}

/// The percentiles of one response time of one group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeRow {
    /// `all`, or a request kind.
    pub group: String,
    /// `acknowledgement` or `decision`.
    pub measure: String,
    /// Whole seconds; absent when withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90_seconds: Option<i64>,
    /// Whether the percentiles are withheld (fewer measured cases than the
    /// threshold).
    #[serde(default)]
    pub withheld: bool,
}

/// The figures of one direction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectionFigures {
    /// `received` (requests other States sent to this one) or `sent`.
    pub direction: String,
    /// Every case of the direction (key `all`).
    pub total: CountCell,
    pub by_kind: Vec<CountCell>,
    pub by_counterpart: Vec<CountCell>,
    pub by_outcome: Vec<CountCell>,
    /// A refusal citing several grounds counts under each.
    pub by_refusal_ground: Vec<CountCell>,
    /// `postponed` and `not-postponed`.
    pub postponement: Vec<CountCell>,
    pub response_times: Vec<TimeRow>,
}

/// An oversight statistics report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatisticsReport {
    /// The report format's version ([`REPORT_VERSION`]).
    pub version: u32,
    /// The reporting State.
    pub state: String,
    /// The first day of the period (cases opened from its start).
    pub from: String,
    /// The last day of the period, included.
    pub to: String,
    /// When the report was made (RFC 3339).
    pub generated_at: String,
    /// The suppression threshold applied.
    pub threshold: u64,
    /// `received`, then `sent`.
    pub directions: Vec<DirectionFigures>,
}

/// What checking a signed report found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatisticsVerified {
    /// Whether the envelope verifies against the reporting State's key and
    /// holds a report of that State.
    pub valid: bool,
    /// The signing key's id, when one verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    /// Why not, when not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The report, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<StatisticsReport>,
}

/// The figures a case's index row carries, from its derived view.
pub(crate) fn case_figures(view: &CaseView) -> CaseFigures {
    let f = custos_case::figures(view);
    CaseFigures {
        outcome: f.outcome.as_str().to_owned(),
        grounds: f.grounds.iter().map(|g| (*g).to_owned()).collect(),
        postponed: f.postponed,
        ack_seconds: f.to_acknowledgement.map(Duration::whole_seconds),
        decision_seconds: f.to_decision.map(Duration::whole_seconds),
    }
}

/// Applies the suppression rule to one row of counts, in the order given.
pub fn suppress(counts: &[(String, u64)], threshold: u64) -> Vec<CountCell> {
    let mut hidden: Vec<bool> = counts
        .iter()
        .map(|(_, n)| *n > 0 && *n < threshold)
        .collect();
    loop {
        let suppressed: Vec<u64> = counts
            .iter()
            .zip(&hidden)
            .filter(|(_, h)| **h)
            .map(|((_, n), _)| *n)
            .collect();
        let exposed = !suppressed.is_empty()
            && (suppressed.len() == 1 || suppressed.iter().sum::<u64>() < threshold);
        if !exposed {
            break;
        }
        // The smallest count still shown (the first such, in row order).
        let next = counts
            .iter()
            .enumerate()
            .filter(|(i, (_, n))| !hidden[*i] && *n > 0)
            .min_by_key(|(_, (_, n))| *n)
            .map(|(i, _)| i);
        match next {
            Some(i) => hidden[i] = true,
            None => break,
        }
    }
    counts
        .iter()
        .zip(hidden)
        .map(|((key, n), h)| CountCell {
            key: key.clone(),
            count: (!h).then_some(*n),
            suppressed: h,
        })
        .collect()
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Incoming => "received",
        Direction::Outgoing => "sent",
    }
}

/// The order a row lists its keys in: the catalogue's order where there is
/// one, else by name.
fn ordered(map: BTreeMap<String, u64>, order: &[&str]) -> Vec<(String, u64)> {
    let mut rows: Vec<(String, u64)> = map.into_iter().collect();
    rows.sort_by_key(|(k, _)| {
        (
            order.iter().position(|o| o == k).unwrap_or(usize::MAX),
            k.clone(),
        )
    });
    rows
}

fn time_rows(times: &[StatsTimes], direction: Direction, threshold: u64) -> Vec<TimeRow> {
    let mut groups: Vec<&StatsTimes> = times.iter().filter(|t| t.direction == direction).collect();
    groups.sort_by(|a, b| match (&a.kind, &b.kind) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(y),
    });
    let mut rows = Vec::new();
    for t in groups {
        let group = t.kind.clone().unwrap_or_else(|| "all".to_owned());
        for (measure, p) in [("acknowledgement", t.acknowledged), ("decision", t.decided)] {
            let given = p.cases >= threshold;
            rows.push(TimeRow {
                group: group.clone(),
                measure: measure.to_owned(),
                p50_seconds: p.p50.filter(|_| given),
                p90_seconds: p.p90.filter(|_| given),
                withheld: !given,
            });
        }
    }
    rows
}

/// One direction's figures from the store's cells, suppressed.
fn direction_figures(
    stats: &CaseStatistics,
    direction: Direction,
    threshold: u64,
) -> DirectionFigures {
    let (mut kinds, mut peers, mut outcomes, mut grounds, mut postponed) = (
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
    );
    let mut total = 0;
    // A draft the node keeps was never a request between States.
    for c in stats
        .counts
        .iter()
        .filter(|c| c.direction == direction && !c.draft)
    {
        let key = c.key.clone();
        match c.dimension {
            StatsDimension::Kind => *kinds.entry(key).or_insert(0) += c.cases,
            StatsDimension::Counterpart => *peers.entry(key).or_insert(0) += c.cases,
            StatsDimension::Outcome => {
                total += c.cases;
                *outcomes.entry(key).or_insert(0) += c.cases;
            }
            StatsDimension::Grounds => {
                for g in c.key.split(',').filter(|g| !g.is_empty()) {
                    *grounds.entry(g.to_owned()).or_insert(0) += c.cases;
                }
            }
            StatsDimension::Postponement => *postponed.entry(key).or_insert(0) += c.cases,
        }
    }
    let outcome_order: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    let ground_order: Vec<&str> = Ground::ALL.iter().map(|g| g.code()).collect();
    let small = total > 0 && total < threshold;
    let row = |map, order: &[&str]| {
        let cells = suppress(&ordered(map, order), threshold);
        if small {
            // Nothing of a direction below the threshold is shown.
            cells
                .into_iter()
                .map(|c| CountCell {
                    count: None,
                    suppressed: true,
                    ..c
                })
                .collect()
        } else {
            cells
        }
    };
    DirectionFigures {
        direction: direction_name(direction).to_owned(),
        total: CountCell {
            key: "all".to_owned(),
            count: (!small).then_some(total),
            suppressed: small,
        },
        by_kind: row(kinds, &[]),
        by_counterpart: row(peers, &[]),
        by_outcome: row(outcomes, &outcome_order),
        by_refusal_ground: row(grounds, &ground_order),
        postponement: row(postponed, &["postponed", "not-postponed"]),
        response_times: time_rows(&stats.times, direction, threshold),
    }
}

fn day(d: Date) -> String {
    d.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

impl Node {
    /// The node's statistics settings.
    fn statistics_settings(&self) -> &StatisticsSettings {
        &self.settings.statistics
    }

    /// The oversight statistics report for a period (operation
    /// `read-oversight-statistics`): counts and response times without case
    /// content or identifiers, small counts suppressed.
    pub async fn oversight_statistics(
        &self,
        actor: &Actor,
        query: &StatisticsQuery,
    ) -> Result<StatisticsReport, NodeError> {
        self.authorize(actor, Operation::ReadOversightStatistics, None)
            .await?;
        let floor = self.statistics_settings().threshold;
        let threshold = match query.threshold {
            Some(t) if t < floor => {
                return Err(NodeError::BadStatisticsQuery(format!(
                    "the threshold {t} is below the node's ({floor}); it may only be raised"
                )));
            }
            Some(t) => t,
            None => floor,
        };
        let now = self.clock.now();
        let last_year = now.year() - 1;
        let january = |y| Date::from_calendar_date(y, Month::January, 1);
        let december = |y| Date::from_calendar_date(y, Month::December, 31);
        let bad = |e: time::error::ComponentRange| NodeError::BadStatisticsQuery(e.to_string());
        let from = match query.from {
            Some(d) => d,
            None => january(last_year).map_err(bad)?,
        };
        let to = match query.to {
            Some(d) => d,
            None => december(last_year).map_err(bad)?,
        };
        if from > to {
            return Err(NodeError::BadStatisticsQuery(format!(
                "the period starts ({}) after it ends ({})",
                day(from),
                day(to)
            )));
        }
        let end = to
            .next_day()
            .ok_or_else(|| NodeError::BadStatisticsQuery("the period ends too late".to_owned()))?;
        self.refresh_cases().await?;
        let stats = self
            .store
            .case_statistics(StatsPeriod {
                from: from.midnight().assume_utc(),
                to: end.midnight().assume_utc(),
            })
            .await?;
        Ok(StatisticsReport {
            version: REPORT_VERSION,
            state: self.state().to_string(),
            from: day(from),
            to: day(to),
            generated_at: custos_protocol::timestamp::format(now),
            threshold,
            directions: [Direction::Incoming, Direction::Outgoing]
                .into_iter()
                .map(|d| direction_figures(&stats, d, threshold))
                .collect(),
        })
    }

    /// [`Node::oversight_statistics`], signed by the node: a DSSE envelope
    /// of type [`PAYLOAD_TYPE`] holding the report's JSON, as JSON bytes.
    pub async fn signed_oversight_statistics(
        &self,
        actor: &Actor,
        query: &StatisticsQuery,
    ) -> Result<Vec<u8>, NodeError> {
        let report = self.oversight_statistics(actor, query).await?;
        let payload = serde_json::to_vec(&report)
            .map_err(|e| NodeError::Internal(format!("cannot encode a report: {e}")))?;
        Ok(self.with_keys(|k| Envelope::sign(PAYLOAD_TYPE, &payload, &k.signing).to_json()))
    }

    /// Checks a signed report (operation `read-directory`: it reads the
    /// directory's keys): the envelope's type, its signature by a key the
    /// directory gives the State the report names (or, for this node's own
    /// reports without a directory, a key of its own history), valid when
    /// the report was made.
    pub async fn verify_statistics(
        &self,
        actor: &Actor,
        signed: &[u8],
    ) -> Result<StatisticsVerified, NodeError> {
        self.authorize(actor, Operation::ReadDirectory, None)
            .await?;
        Ok(match self.check_signed_report(signed) {
            Ok((keyid, report)) => StatisticsVerified {
                valid: true,
                keyid: Some(keyid),
                problem: None,
                report: Some(report),
            },
            Err(problem) => StatisticsVerified {
                valid: false,
                keyid: None,
                problem: Some(problem),
                report: None,
            },
        })
    }

    fn check_signed_report(&self, signed: &[u8]) -> Result<(String, StatisticsReport), String> {
        let envelope = Envelope::from_json(signed).map_err(|e| e.to_string())?;
        // The report's claims are read only to find whose key must have
        // signed it; nothing is trusted until the signature verifies.
        let claimed: StatisticsReport = serde_json::from_slice(&envelope.payload)
            .map_err(|e| format!("the payload is not a statistics report: {e}"))?;
        let state: custos_model::StateCode = claimed
            .state
            .parse()
            .map_err(|e| format!("the report names no State: {e}"))?;
        let at = custos_protocol::timestamp::parse(&claimed.generated_at)
            .map_err(|e| format!("the report's time: {e}"))?;
        let directory = self.directory();
        let own = self.with_keys(|k| k.history.signing.clone());
        let resolver = |keyid: &str| {
            let from_directory = directory
                .as_ref()
                .and_then(|d| d.sender_key(state, keyid).cloned());
            let from_own = (state == self.state())
                .then(|| own.iter().find(|v| v.key.key_id() == keyid).cloned())
                .flatten();
            from_directory
                .or(from_own)
                .filter(|v| v.is_usable_at(at))
                .map(|v| v.key)
        };
        let verified = envelope
            .verify_typed(PAYLOAD_TYPE, resolver)
            .map_err(|e| format!("the signature does not verify for {state}: {e}"))?;
        let report: StatisticsReport = serde_json::from_slice(&verified.payload)
            .map_err(|e| format!("the payload is not a statistics report: {e}"))?;
        Ok((verified.keyid, report))
    }
}

/// Writes a count for a table or CSV: the number, or `x` when suppressed.
fn count_text(c: &CountCell) -> String {
    c.count.map_or_else(|| "x".to_owned(), |n| n.to_string())
}

/// A duration in seconds as days, hours and minutes.
pub fn duration_text(seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h}h"),
    }
}

impl StatisticsReport {
    /// The report as CSV (`docs/formats/statistics.md`): one line per count
    /// and per percentile pair.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "state,from,to,threshold,direction,table,key,count,p50_seconds,p90_seconds\n",
        );
        let head = format!(
            "{},{},{},{}",
            self.state, self.from, self.to, self.threshold
        );
        for d in &self.directions {
            let tables = [
                ("total", std::slice::from_ref(&d.total)),
                ("kind", d.by_kind.as_slice()),
                ("counterpart", d.by_counterpart.as_slice()),
                ("outcome", d.by_outcome.as_slice()),
                ("refusal-ground", d.by_refusal_ground.as_slice()),
                ("postponement", d.postponement.as_slice()),
            ];
            for (table, cells) in tables {
                for c in cells {
                    out.push_str(&format!(
                        "{head},{},{table},{},{},,\n",
                        d.direction,
                        c.key,
                        c.count
                            .map_or_else(|| "suppressed".to_owned(), |n| n.to_string())
                    ));
                }
            }
            for t in &d.response_times {
                let p = |v: Option<i64>| v.map_or_else(|| "withheld".to_owned(), |s| s.to_string());
                out.push_str(&format!(
                    "{head},{},response-time-{},{},,{},{}\n",
                    d.direction,
                    t.measure,
                    t.group,
                    p(t.p50_seconds),
                    p(t.p90_seconds)
                ));
            }
        }
        out
    }

    /// The report as a table for people.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "Oversight statistics of {}: cases opened from {} to {} (inclusive)\n\
             x: suppressed (fewer than {} cases, or hidden so that such a count cannot be \
             worked out from the others)\n",
            self.state, self.from, self.to, self.threshold
        );
        for d in &self.directions {
            out.push_str(&format!(
                "\n{} requests: {}\n",
                d.direction.to_uppercase(),
                count_text(&d.total)
            ));
            let line = |cells: &[CountCell]| {
                if cells.is_empty() {
                    "-".to_owned()
                } else {
                    cells
                        .iter()
                        .map(|c| format!("{} {}", c.key, count_text(c)))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            out.push_str(&format!("  {:<16}{}\n", "kind", line(&d.by_kind)));
            out.push_str(&format!(
                "  {:<16}{}\n",
                "counterpart",
                line(&d.by_counterpart)
            ));
            out.push_str(&format!("  {:<16}{}\n", "outcome", line(&d.by_outcome)));
            out.push_str(&format!(
                "  {:<16}{}\n",
                "refusal ground",
                line(&d.by_refusal_ground)
            ));
            out.push_str(&format!(
                "  {:<16}{}\n",
                "postponement",
                line(&d.postponement)
            ));
            for t in &d.response_times {
                let figures = match (t.p50_seconds, t.p90_seconds) {
                    (Some(a), Some(b)) => {
                        format!("p50 {}, p90 {}", duration_text(a), duration_text(b))
                    }
                    _ => "withheld (too few cases)".to_owned(),
                };
                out.push_str(&format!(
                    "  {:<16}{} to {}: {figures}\n",
                    "response time", t.group, t.measure
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(counts: &[(&str, u64)]) -> Vec<(String, u64)> {
        counts.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    }

    fn shown(cells: &[CountCell]) -> Vec<Option<u64>> {
        cells.iter().map(|c| c.count).collect()
    }

    #[test]
    fn counts_below_the_threshold_are_suppressed_with_a_second_one() {
        // One small count: the smallest other one goes too.
        let cells = suppress(&row(&[("a", 20), ("b", 2), ("c", 7)]), 5);
        assert_eq!(shown(&cells), [Some(20), None, None]);
        // Two small counts adding up to the threshold: enough.
        let cells = suppress(&row(&[("a", 20), ("b", 2), ("c", 3)]), 5);
        assert_eq!(shown(&cells), [Some(20), None, None]);
        // Two adding up to less: a third goes.
        let cells = suppress(&row(&[("a", 20), ("b", 1), ("c", 2), ("d", 9)]), 5);
        assert_eq!(shown(&cells), [Some(20), None, None, None]);
        // Nothing small: everything shown.
        let cells = suppress(&row(&[("a", 5), ("b", 6)]), 5);
        assert_eq!(shown(&cells), [Some(5), Some(6)]);
        assert!(cells.iter().all(|c| !c.suppressed));
    }

    #[test]
    fn the_store_keeps_apart_the_drafts_the_report_leaves_out() {
        assert_eq!(custos_store::DRAFT_OUTCOME, Outcome::NotSubmitted.as_str());
    }

    #[test]
    fn durations_read_as_days_hours_and_minutes() {
        assert_eq!(duration_text(59), "0m");
        assert_eq!(duration_text(3_660), "1h 01m");
        assert_eq!(duration_text(2 * 86_400 + 3 * 3_600), "2d 3h");
    }
}
