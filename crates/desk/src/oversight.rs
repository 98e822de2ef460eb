//! Oversight pages: the custody ledger's latest checkpoint with its
//! witnesses' cosignatures and the verification of the whole ledger, the
//! oversight statistics with charts, the record of who saw what, and the
//! personal data the cases hold. Each handler calls one method of the node
//! as the signed-in person; what they may see is the node's decision.

use std::sync::Arc;

use axum::extract::{Query, State};
use custos_node::Node;
use custos_node::app::ledger::LedgerVerdict;
use custos_node::app::{
    AccessView, AuditFilter, CountCell, DirectionFigures, Operation, PersonalDataView,
    StatisticsQuery,
};
use maud::{Markup, html};
use serde::Deserialize;
use time::Date;

use crate::chart::{self, Bar};
use crate::error::DeskError;
use crate::i18n::{Lang, t, t_args};
use crate::layout;
use crate::session::Desk;

pub const LEDGER: &str = "/desk/ledger";
/// The verification's verdict alone, loaded by the ledger page.
pub const LEDGER_VERIFY: &str = "/desk/ledger/verify";
pub const STATISTICS: &str = "/desk/statistics";
pub const AUDIT: &str = "/desk/audit";
pub const PERSONAL_DATA: &str = "/desk/personal-data";

/// How many rows of the record one audit page shows.
const AUDIT_PAGE: u32 = 100;
/// How many cases the personal-data page reads.
const PERSONAL_DATA_CASES: u32 = 100;

/// The ledger page: the latest checkpoint and the one with the most
/// cosignatures; the verification is loaded after the page.
pub async fn ledger(State(node): State<Arc<Node>>, desk: Desk) -> Result<Markup, DeskError> {
    let view = node.ledger_checkpoint(&desk.actor).await?;
    let lang = desk.lang;
    let title = t(lang, "ledger-title");
    Ok(layout::page(
        &desk,
        LEDGER,
        &title,
        html! {
            h1 { (title) }
            section aria-labelledby="verify-h" {
                h2 #verify-h { (t(lang, "ledger-verification")) }
                @if desk.may(Operation::VerifyLedger) {
                    div #verdict hx-get=(LEDGER_VERIFY) hx-trigger="load" hx-swap="innerHTML" aria-live="polite" {
                        p.empty { (t(lang, "ledger-verifying")) }
                    }
                }
            }
            @match (&view.checkpoint, &view.cosigned) {
                (None, _) => p.empty { (t(lang, "ledger-no-checkpoint")) },
                (Some(latest), cosigned) => {
                    (note(lang, "latest", &t(lang, "ledger-latest"), latest))
                    @if let Some(c) = cosigned.as_ref().filter(|c| *c != latest) {
                        (note(lang, "cosigned", &t(lang, "ledger-cosigned"), c))
                    }
                }
            }
        },
    ))
}

/// The verdict of verifying the whole ledger.
pub async fn ledger_verify(State(node): State<Arc<Node>>, desk: Desk) -> Result<Markup, DeskError> {
    let verdict = node.check_ledger(&desk.actor, &mut |_, _| {}).await?;
    let lang = desk.lang;
    Ok(match verdict {
        LedgerVerdict::Good(r) => html! {
            p.verified #ledger-verdict {
                (t_args(lang, "ledger-good", &[("size", r.size.into())]))
            }
            dl.facts {
                dt { (t(lang, "ledger-root")) } dd { code { (r.root) } }
                dt { (t(lang, "ledger-checkpoint-size")) }
                dd { @match r.checkpoint_size { Some(s) => (s), None => "—" } }
            }
        },
        LedgerVerdict::Bad(b) => html! {
            p.problem #ledger-verdict role="alert" {
                (t_args(lang, "ledger-bad", &[("index", b.first_bad_entry.into())]))
                " " (b.problem)
            }
        },
    })
}

/// A signed note (C2SP): its origin, size and root, and one row per
/// signature (the node's and each witness's).
fn note(lang: Lang, id: &str, heading: &str, text: &str) -> Markup {
    let (body, sigs) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = body.lines();
    let origin = lines.next().unwrap_or_default();
    let size = lines.next().unwrap_or_default();
    let root = lines.next().unwrap_or_default();
    let signatures: Vec<(&str, String)> = sigs
        .lines()
        .filter_map(|l| l.strip_prefix("— "))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(name, sig)| (name, key_id(sig)))
        .collect();
    let heading_id = format!("{id}-h");
    html! {
        section aria-labelledby=(heading_id) {
            h2 #(heading_id) { (heading) }
            dl.facts {
                dt { (t(lang, "ledger-origin")) } dd { code { (origin) } }
                dt { (t(lang, "ledger-size")) } dd { (size) }
                dt { (t(lang, "ledger-root")) } dd { code { (root) } }
            }
            table.data #(format!("{id}-signatures")) {
                caption { (t(lang, "ledger-signatures")) }
                thead { tr {
                    th scope="col" { (t(lang, "ledger-signer")) }
                    th scope="col" { (t(lang, "ledger-key-id")) }
                } }
                tbody {
                    @for (name, key) in &signatures {
                        tr { td { (name) } td { code { (key) } } }
                    }
                }
            }
            details {
                summary { (t(lang, "ledger-note")) }
                pre.note { (text) }
            }
        }
    }
}

/// The key id of a note signature: its first four bytes, in hex.
fn key_id(signature: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(signature)
        .ok()
        .filter(|b| b.len() >= 4)
        .map(|b| hex::encode(&b[..4]))
        .unwrap_or_else(|| "?".to_owned())
}

/// The statistics page's query: the period's first and last days.
#[derive(Debug, Default, Deserialize)]
pub struct PeriodQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

fn day(text: Option<&str>) -> Result<Option<Date>, DeskError> {
    layout::day(text).map_err(|message| DeskError {
        status: axum::http::StatusCode::BAD_REQUEST,
        code: "invalid-query",
        message,
    })
}

/// The oversight statistics, with a chart and a table per breakdown.
pub async fn statistics(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Query(q): Query<PeriodQuery>,
) -> Result<Markup, DeskError> {
    let query = StatisticsQuery {
        from: day(q.from.as_deref())?,
        to: day(q.to.as_deref())?,
        threshold: None,
    };
    let report = node.oversight_statistics(&desk.actor, &query).await?;
    let lang = desk.lang;
    let title = t(lang, "stats-title");
    Ok(layout::page(
        &desk,
        STATISTICS,
        &title,
        html! {
            h1 { (title) }
            form.filters method="get" action=(STATISTICS) {
                label for="from" { (t(lang, "stats-from")) }
                input #from name="from" type="date" value=(report.from);
                label for="to" { (t(lang, "stats-to")) }
                input #to name="to" type="date" value=(report.to);
                button type="submit" { (t(lang, "filter-apply")) }
            }
            p { (t_args(lang, "stats-threshold", &[("threshold", report.threshold.into())])) }
            @for d in &report.directions {
                (direction(lang, d))
            }
        },
    ))
}

fn direction(lang: Lang, d: &DirectionFigures) -> Markup {
    let name = t(lang, &format!("stats-direction-{}", d.direction));
    let kinds: Vec<Bar> = d
        .by_kind
        .iter()
        .map(|c| bar(c, t(lang, &format!("kind-{}", c.key))))
        .collect();
    let states: Vec<Bar> = d
        .by_counterpart
        .iter()
        .map(|c| bar(c, c.key.clone()))
        .collect();
    let outcomes: Vec<Bar> = d
        .by_outcome
        .iter()
        .map(|c| bar(c, t(lang, &format!("outcome-{}", c.key))))
        .collect();
    let heading_id = format!("{}-h", d.direction);
    html! {
        section.direction aria-labelledby=(heading_id) {
            h2 #(heading_id) {
                (name) " — " (t(lang, "stats-total")) " "
                @match d.total.count { Some(n) => (n), None => (t(lang, "stats-withheld")) }
            }
            (breakdown(lang, &format!("{}-kind", d.direction), &name, "stats-by-kind", &kinds))
            (breakdown(lang, &format!("{}-state", d.direction), &name, "stats-by-state", &states))
            (breakdown(lang, &format!("{}-outcome", d.direction), &name, "stats-by-outcome", &outcomes))
        }
    }
}

fn bar(c: &CountCell, label: String) -> Bar {
    Bar {
        label,
        value: if c.suppressed { None } else { c.count },
    }
}

/// One breakdown: the chart and, beside it, the table of its numbers.
fn breakdown(lang: Lang, id: &str, direction: &str, key: &str, bars: &[Bar]) -> Markup {
    let heading = t(lang, key);
    let title = format!("{heading} ({direction})");
    let desc = bars
        .iter()
        .map(|b| match b.value {
            Some(v) => format!("{}: {v}", b.label),
            None => format!("{}: {}", b.label, t(lang, "stats-withheld")),
        })
        .collect::<Vec<_>>()
        .join("; ");
    html! {
        div.breakdown {
            h3 { (heading) }
            @if bars.is_empty() {
                p.empty { (t(lang, "stats-none")) }
            } @else {
                (chart::bars(id, &title, &desc, bars, &t(lang, "stats-withheld")))
                table.data {
                    caption.visually-hidden { (title) }
                    thead { tr {
                        th scope="col" { (heading) }
                        th scope="col" { (t(lang, "stats-count")) }
                    } }
                    tbody {
                        @for b in bars {
                            tr {
                                th scope="row" { (b.label) }
                                td.number { @match b.value { Some(v) => (v), None => (t(lang, "stats-withheld")) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The audit page's filters.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    person: Option<String>,
    #[serde(default)]
    case: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    offset: Option<u64>,
}

fn some(text: &Option<String>) -> Option<String> {
    text.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The record of who saw what, newest first, with filters.
pub async fn audit(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Query(q): Query<AuditQuery>,
) -> Result<Markup, DeskError> {
    let offset = q.offset.unwrap_or(0);
    let filter = AuditFilter {
        person: some(&q.person),
        case: some(&q.case),
        since: day(q.since.as_deref())?.map(|d| d.midnight().assume_utc()),
        until: day(q.until.as_deref())?
            .and_then(Date::next_day)
            .map(|d| d.midnight().assume_utc()),
        limit: Some(AUDIT_PAGE),
        offset: Some(offset),
    };
    let rows = node.audit(&desk.actor, &filter).await?;
    let lang = desk.lang;
    let title = t(lang, "audit-title");
    let next = (rows.len() as u32 == AUDIT_PAGE).then(|| {
        let mut url = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("person", &q.person),
            ("case", &q.case),
            ("since", &q.since),
            ("until", &q.until),
        ] {
            if let Some(v) = some(v) {
                url.append_pair(k, &v);
            }
        }
        url.append_pair("offset", &(offset + u64::from(AUDIT_PAGE)).to_string());
        format!("{AUDIT}?{}", url.finish())
    });
    Ok(layout::page(
        &desk,
        AUDIT,
        &title,
        html! {
            h1 { (title) }
            form.filters method="get" action=(AUDIT) {
                label for="person" { (t(lang, "audit-person")) }
                input #person name="person" type="text" value=(q.person.as_deref().unwrap_or_default());
                label for="case" { (t(lang, "audit-case")) }
                input #case name="case" type="text" value=(q.case.as_deref().unwrap_or_default());
                label for="since" { (t(lang, "audit-since")) }
                input #since name="since" type="date" value=(q.since.as_deref().unwrap_or_default());
                label for="until" { (t(lang, "audit-until")) }
                input #until name="until" type="date" value=(q.until.as_deref().unwrap_or_default());
                button type="submit" { (t(lang, "filter-apply")) }
            }
            (audit_table(lang, &rows))
            @if let Some(next) = next {
                p { a href=(next) { (t(lang, "page-next")) } }
            }
        },
    ))
}

fn audit_table(lang: Lang, rows: &[AccessView]) -> Markup {
    html! {
        @if rows.is_empty() {
            p.empty { (t(lang, "audit-empty")) }
        } @else {
            table.data #audit {
                thead { tr {
                    th scope="col" { (t(lang, "audit-at")) }
                    th scope="col" { (t(lang, "audit-person")) }
                    th scope="col" { (t(lang, "audit-operation")) }
                    th scope="col" { (t(lang, "audit-case")) }
                    th scope="col" { (t(lang, "audit-outcome")) }
                } }
                tbody {
                    @for r in rows {
                        tr.(r.outcome) {
                            td { time datetime=(layout::rfc3339(r.at)) { (layout::rfc3339(r.at)) } }
                            td { (r.person) }
                            td { code { (r.operation) } }
                            td { @if let Some(c) = &r.case { a href=(format!("/desk/cases/{c}")) { (c) } } }
                            td {
                                (t(lang, &format!("audit-outcome-{}", r.outcome)))
                                @if let Some(why) = &r.reason { br; small { (why) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The personal data of the cases the person may list: per case, what
/// was received, its conditions and the date by which it is deleted.
pub async fn personal_data(State(node): State<Arc<Node>>, desk: Desk) -> Result<Markup, DeskError> {
    let cases = node
        .personal_data_register(&desk.actor, PERSONAL_DATA_CASES)
        .await?;
    let lang = desk.lang;
    let title = t(lang, "pd-title");
    let holding: Vec<&PersonalDataView> = cases.iter().filter(|c| !c.items.is_empty()).collect();
    Ok(layout::page(
        &desk,
        PERSONAL_DATA,
        &title,
        html! {
            h1 { (title) }
            p { (t_args(lang, "pd-summary", &[
                ("cases", (cases.len() as u64).into()),
                ("holding", (holding.len() as u64).into()),
            ])) }
            @if holding.is_empty() {
                p.empty { (t(lang, "pd-empty")) }
            } @else {
                table.data #personal-data {
                    thead { tr {
                        th scope="col" { (t(lang, "pd-case")) }
                        th scope="col" { (t(lang, "pd-source")) }
                        th scope="col" { (t(lang, "pd-from")) }
                        th scope="col" { (t(lang, "pd-categories")) }
                        th scope="col" { (t(lang, "pd-conditions")) }
                        th scope="col" { (t(lang, "pd-delete-by")) }
                    } }
                    tbody {
                        @for c in &holding {
                            @for (i, item) in c.items.iter().enumerate() {
                                tr {
                                    @if i == 0 {
                                        th scope="rowgroup" rowspan=(c.items.len()) {
                                            a href=(format!("/desk/cases/{}", c.case)) { (c.case) }
                                            @if let Some(d) = &c.deletion_date {
                                                br; small { (t(lang, "pd-deletion-date")) " " (d) }
                                            }
                                        }
                                    }
                                    td {
                                        (t(lang, &format!("pd-source-{}", item.source)))
                                        @if item.confidential { " " strong.badge { (t(lang, "pd-confidential")) } }
                                    }
                                    td { (item.from.as_str()) }
                                    td { (item.categories.join(", ")) }
                                    td { (item.conditions.join("; ")) }
                                    td { (item.delete_by.as_deref().unwrap_or("—")) }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}
