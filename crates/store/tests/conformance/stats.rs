//! Conformance cases on the oversight statistics: the figures the store
//! gives from its kept rollups are those of counting the case rows it
//! holds from scratch, after every kind of write to the case index.

use std::collections::BTreeMap;

use super::*;
use custos_store::{
    CaseFigures, CaseRow, CaseRowFilter, CaseStatistics, DRAFT_OUTCOME, Percentiles, StatsCount,
    StatsDimension, StatsPeriod, StatsTimes, URGENCY_ROUTINE,
};

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const KINDS: [RequestKind; 3] = [
    RequestKind::Mla,
    RequestKind::Preservation,
    RequestKind::EmergencyData,
];
const OUTCOMES: [&str; 5] = ["executed", "refused", "open", "withdrawn", DRAFT_OUTCOME];

/// A time spread over a few buckets and bucket sizes, with repeats, a
/// negative one now and then, and sometimes none.
fn time(rng: &mut Rng) -> Option<i64> {
    match rng.below(10) {
        0 => None,
        1 => Some(-(rng.below(100) as i64)),
        2 => Some(rng.below(200) as i64),
        3 => Some(3_600),
        4..=6 => Some(120_000 + rng.below(20_000) as i64),
        _ => Some(rng.below(6_000_000) as i64),
    }
}

/// A case row opened between November 2024 and February 2026.
fn stats_row(id: &str, rng: &mut Rng) -> CaseRow {
    let start = datetime!(2024-11-01 0:00 UTC);
    let created_at = start
        + Duration::seconds(rng.below(487 * 86_400) as i64)
        + Duration::microseconds(rng.below(1_000_000) as i64);
    let direction = if rng.below(2) == 0 {
        Direction::Outgoing
    } else {
        Direction::Incoming
    };
    let outcome = OUTCOMES[rng.below(OUTCOMES.len() as u64) as usize];
    let grounds = if outcome == "refused" {
        ["R1", "R2", "R6"][..1 + rng.below(3) as usize]
            .iter()
            .map(|g| (*g).to_owned())
            .collect()
    } else {
        Vec::new()
    };
    CaseRow {
        id: id.to_owned(),
        kind: KINDS[rng.below(KINDS.len() as u64) as usize],
        direction,
        counterpart: state(["FR", "NL", "IT"][rng.below(3) as usize]),
        side: "requested".to_owned(),
        state: "acknowledged".to_owned(),
        urgency: URGENCY_ROUTINE,
        open: outcome == "open",
        overdue: false,
        next_due: None,
        last_step_at: Some(created_at),
        created_at,
        allowed: Vec::new(),
        stale: false,
        figures: CaseFigures {
            outcome: outcome.to_owned(),
            grounds,
            postponed: rng.below(4) == 0,
            ack_seconds: time(rng),
            decision_seconds: time(rng),
        },
    }
}

fn percentiles(mut values: Vec<i64>) -> Percentiles {
    values.sort_unstable();
    let pick = |p: f64| {
        let n = values.len();
        (n > 0).then(|| values[((p * n as f64).ceil() as usize).clamp(1, n) - 1])
    };
    Percentiles {
        cases: values.len() as u64,
        p50: pick(0.5),
        p90: pick(0.9),
    }
}

/// A direction, or a direction and kind.
type Group = (Direction, Option<String>);

/// The statistics of a period counted from the case rows themselves.
fn from_scratch(rows: &[CaseRow], period: StatsPeriod) -> CaseStatistics {
    let mut counts: BTreeMap<(Direction, bool, StatsDimension, String), u64> = BTreeMap::new();
    let mut times: BTreeMap<Group, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.created_at >= period.from && r.created_at < period.to)
    {
        let f = &r.figures;
        let draft = f.outcome == DRAFT_OUTCOME;
        let mut keys = vec![
            (StatsDimension::Kind, r.kind.as_str().to_owned()),
            (StatsDimension::Counterpart, r.counterpart.to_string()),
            (StatsDimension::Outcome, f.outcome.clone()),
            (
                StatsDimension::Postponement,
                if f.postponed {
                    "postponed"
                } else {
                    "not-postponed"
                }
                .to_owned(),
            ),
        ];
        if !f.grounds.is_empty() {
            keys.push((StatsDimension::Grounds, f.grounds.join(",")));
        }
        for (dimension, key) in keys {
            *counts
                .entry((r.direction, draft, dimension, key))
                .or_insert(0) += 1;
        }
        for group in [None, Some(r.kind.as_str().to_owned())] {
            let (ack, decision) = times.entry((r.direction, group)).or_default();
            ack.extend(f.ack_seconds);
            decision.extend(f.decision_seconds);
        }
    }
    CaseStatistics {
        counts: counts
            .into_iter()
            .map(|((direction, draft, dimension, key), cases)| StatsCount {
                direction,
                draft,
                dimension,
                key,
                cases,
            })
            .collect(),
        times: times
            .into_iter()
            .map(|((direction, kind), (ack, decision))| StatsTimes {
                direction,
                kind,
                acknowledged: percentiles(ack),
                decided: percentiles(decision),
            })
            .collect(),
    }
}

/// Every period shape: a calendar year, whole months across a year's
/// end with ragged ends, a few days inside a month, and everything.
fn periods() -> Vec<StatsPeriod> {
    [
        (
            datetime!(2025-01-01 0:00 UTC),
            datetime!(2026-01-01 0:00 UTC),
        ),
        (
            datetime!(2024-11-17 0:00 UTC),
            datetime!(2026-02-03 0:00 UTC),
        ),
        (
            datetime!(2024-12-01 0:00 UTC),
            datetime!(2025-07-01 0:00 UTC),
        ),
        (
            datetime!(2025-06-03 0:00 UTC),
            datetime!(2025-06-20 0:00 UTC),
        ),
        (
            datetime!(2020-01-01 0:00 UTC),
            datetime!(2030-01-01 0:00 UTC),
        ),
    ]
    .into_iter()
    .map(|(from, to)| StatsPeriod { from, to })
    .collect()
}

/// The store's statistics for every period shape equal those counted from
/// the rows it holds.
async fn check(s: &dyn Store, when: &str) {
    let rows = s
        .list_cases(&CaseRowFilter {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
    for period in periods() {
        let got = s.case_statistics(period).await.unwrap();
        let want = from_scratch(&rows, period);
        assert_eq!(got, want, "{when}, {period:?}");
    }
}

pub(crate) async fn statistics_kept_with_every_write_equal_a_count_from_scratch(fx: Fixture) {
    let s = fx.store.as_ref();
    let mut rng = Rng(0x5eed_f057_a7a7);
    check(s, "empty").await;

    // Seeding in batches.
    let mut rows: Vec<CaseRow> = (0..400)
        .map(|i| stats_row(&format!("thr-s-{i:04}"), &mut rng))
        .collect();
    s.bulk_put_cases(&rows[..250]).await.unwrap();
    s.bulk_put_cases(&rows[250..]).await.unwrap();
    check(s, "seeded").await;
    // The figures are not empty: years, months and both directions.
    let year = s.case_statistics(periods()[0]).await.unwrap();
    assert!(year.counts.len() > 20 && year.times.len() == 8, "{year:?}");

    // Seeding again over the same ids: other outcomes, times, months.
    for r in rows.iter_mut().step_by(3) {
        let id = r.id.clone();
        *r = stats_row(&id, &mut rng);
    }
    s.bulk_put_cases(&rows).await.unwrap();
    check(s, "seeded over").await;

    // A request recorded opens its row (the database's own trigger), and
    // its derivation writes the figures over it.
    let mut recorded = request(
        "thr-s-recorded",
        Direction::Incoming,
        RequestKind::Mla,
        "FR",
    );
    recorded.created_at = datetime!(2025-03-31 23:59:59.999_999 UTC);
    s.record_request(&recorded, &event("thr-s-recorded", 1))
        .await
        .unwrap();
    check(s, "recorded").await;
    let revision = s.case_revision("thr-s-recorded").await.unwrap().unwrap();
    let mut derived = stats_row("thr-s-recorded", &mut rng);
    derived.created_at = recorded.created_at;
    derived.figures.outcome = "refused".to_owned();
    derived.figures.grounds = vec!["R6".to_owned()];
    assert!(s.put_case(&derived, revision).await.unwrap());

    // Outcomes and times change as cases are derived again.
    for r in rows.iter_mut().skip(1).step_by(5) {
        let revision = s.case_revision(&r.id).await.unwrap().unwrap();
        let next = stats_row(&r.id, &mut rng);
        r.figures = next.figures;
        assert!(s.put_case(r, revision).await.unwrap());
    }
    check(s, "derived again").await;

    // Every row marked stale under a new format: no figure moves.
    s.reset_case_index(99).await.unwrap();
    check(s, "reset").await;

    // Rows purged behind the store's back.
    fx.raw(
        "DELETE FROM case_index WHERE id LIKE 'thr-s-00%' OR id = 'thr-s-recorded'; \
         UPDATE case_index SET outcome = 'withdrawn', ack_seconds = NULL WHERE id LIKE 'thr-s-01%'",
    )
    .await;
    check(s, "purged").await;
    check(fx.reopen().await.as_ref(), "reopened").await;
}
