//! The inbox: the cases this person may see, in the node's order (open
//! cases first, emergencies first, then the nearest clock), the counts of
//! open cases by state, filters and pages; refreshed without a reload. The
//! filters are a plain GET form: htmx applies them in place, and without
//! script the browser loads the filtered page. The banner of emergencies
//! awaiting acknowledgement ([`alerts`]) is polled by every page.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use custos_model::{RequestKind, StateCode};
use custos_node::Node;
use custos_node::app::{CaseFilter, CaseState, CaseSummary, InboxView, Urgency};
use fluent_templates::fluent_bundle::FluentValue;
use maud::{Markup, html};
use serde::Deserialize;

use crate::error::DeskError;
use crate::i18n::{self, Lang, t, t_args};
use crate::layout;
use crate::session::Desk;

/// The inbox's cases and counts alone, for htmx to refresh.
pub const LIST: &str = "/desk/inbox/list";
/// The banner of emergencies awaiting acknowledgement.
pub const ALERTS: &str = "/desk/inbox/alerts";

/// How many cases the inbox shows at once.
const PAGE: u32 = 50;

/// The filters and page, as the form sends them (empty fields mean "any").
#[derive(Clone, Debug, Default, Deserialize)]
pub struct InboxQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    counterpart: String,
    #[serde(default)]
    urgency: String,
    /// `open` (the default), `overdue`, `finished` or `all`.
    #[serde(default)]
    show: String,
    /// From 1.
    #[serde(default)]
    page: String,
}

/// What the filters select, parsed.
struct Selection {
    filter: CaseFilter,
    page: u64,
    show: &'static str,
}

impl InboxQuery {
    fn parse(&self) -> Result<Selection, DeskError> {
        let bad = |field: &str| DeskError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid-filter",
            message: format!("the filter {field:?} has a value the inbox does not know"),
        };
        let state = match self.state.as_str() {
            "" => None,
            s => Some(
                CaseState::ALL
                    .into_iter()
                    .find(|x| x.as_str() == s)
                    .ok_or_else(|| bad("state"))?,
            ),
        };
        let kind = match self.kind.as_str() {
            "" => None,
            k => Some(k.parse::<RequestKind>().map_err(|_| bad("kind"))?),
        };
        let counterpart = match self.counterpart.trim() {
            "" => None,
            c => Some(
                c.to_ascii_uppercase()
                    .parse::<StateCode>()
                    .map_err(|_| bad("counterpart"))?,
            ),
        };
        let urgency = match self.urgency.as_str() {
            "" => None,
            u => Some(
                Urgency::ALL
                    .into_iter()
                    .find(|x| x.as_str() == u)
                    .ok_or_else(|| bad("urgency"))?,
            ),
        };
        let (show, open, overdue) = match self.show.as_str() {
            "" | "open" => ("open", Some(true), None),
            "overdue" => ("overdue", None, Some(true)),
            "finished" => ("finished", Some(false), None),
            "all" => ("all", None, None),
            _ => return Err(bad("show")),
        };
        let page = match self.page.as_str() {
            "" => 1,
            p => p
                .parse::<u64>()
                .ok()
                .filter(|p| (1..=1_000_000).contains(p))
                .ok_or_else(|| bad("page"))?,
        };
        Ok(Selection {
            filter: CaseFilter {
                state,
                kind,
                counterpart,
                urgency,
                open,
                overdue,
                limit: Some(PAGE),
                offset: Some((page - 1) * u64::from(PAGE)),
            },
            page,
            show,
        })
    }

    /// The query string of this selection on page `page`.
    fn with_page(&self, page: u64) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("state", self.state.as_str()),
            ("kind", self.kind.as_str()),
            ("counterpart", self.counterpart.trim()),
            ("urgency", self.urgency.as_str()),
            ("show", self.show.as_str()),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.append_pair("page", &page.to_string());
        q.finish()
    }
}

/// The inbox page.
pub async fn page(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Query(query): Query<InboxQuery>,
) -> Result<Markup, DeskError> {
    let selection = query.parse()?;
    let inbox = node.inbox(&desk.actor, &selection.filter).await?;
    let title = t(desk.lang, "inbox-title");
    Ok(layout::page(
        &desk,
        crate::PREFIX,
        &title,
        html! {
            h1 { (title) }
            (filters(desk.lang, &query, selection.show))
            div #inbox hx-get=(LIST) hx-include="#filters" hx-trigger="every 5s"
                hx-swap="innerHTML" {
                (contents(desk.lang, &query, &selection, &inbox))
            }
        },
    ))
}

/// The inbox's counts and table, for a refresh or a change of filter.
pub async fn list(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Query(query): Query<InboxQuery>,
) -> Result<Markup, DeskError> {
    let selection = query.parse()?;
    let inbox = node.inbox(&desk.actor, &selection.filter).await?;
    Ok(contents(desk.lang, &query, &selection, &inbox))
}

/// The banner of open emergencies this side has still to acknowledge.
pub async fn alerts(State(node): State<Arc<Node>>, desk: Desk) -> Result<Markup, DeskError> {
    let waiting = node.emergencies_awaiting(&desk.actor).await?;
    let lang = desk.lang;
    Ok(html! {
        @if !waiting.is_empty() {
            section.emergency-banner aria-labelledby="emergency-banner-title" {
                h2 #emergency-banner-title {
                    (t_args(lang, "alerts-emergencies",
                        &[("count", FluentValue::from(i18n::number(lang, waiting.len() as u64)))]))
                }
                ul {
                    @for c in &waiting {
                        li {
                            a href=(format!("/desk/cases/{}", c.id)) {
                                (t(lang, &format!("kind-{}", c.kind.as_str())))
                                " · " (c.counterpart.as_str())
                            }
                        }
                    }
                }
            }
        }
    })
}

fn filters(lang: Lang, query: &InboxQuery, show: &str) -> Markup {
    html! {
        form #filters.filters method="get" action=(crate::PREFIX)
            hx-get=(LIST) hx-target="#inbox" hx-swap="innerHTML" hx-trigger="change, submit"
            hx-push-url="false" role="search" aria-label=(t(lang, "filters-label")) {
            div {
                label for="f-show" { (t(lang, "filter-show")) }
                select #f-show name="show" {
                    @for (value, key) in [("open", "show-open"), ("overdue", "show-overdue"),
                                          ("finished", "show-finished"), ("all", "show-all")] {
                        option value=(value) selected[show == value] { (t(lang, key)) }
                    }
                }
            }
            div {
                label for="f-state" { (t(lang, "case-state")) }
                select #f-state name="state" {
                    option value="" { (t(lang, "filter-any")) }
                    @for s in CaseState::ALL {
                        option value=(s.as_str()) selected[query.state == s.as_str()] {
                            (t(lang, &format!("state-{}", s.as_str())))
                        }
                    }
                }
            }
            div {
                label for="f-kind" { (t(lang, "case-kind")) }
                select #f-kind name="kind" {
                    option value="" { (t(lang, "filter-any")) }
                    @for k in RequestKind::ALL {
                        option value=(k.as_str()) selected[query.kind == k.as_str()] {
                            (t(lang, &format!("kind-{}", k.as_str())))
                        }
                    }
                }
            }
            div {
                label for="f-urgency" { (t(lang, "case-urgency")) }
                select #f-urgency name="urgency" {
                    option value="" { (t(lang, "filter-any")) }
                    @for u in Urgency::ALL {
                        option value=(u.as_str()) selected[query.urgency == u.as_str()] {
                            (t(lang, &format!("urgency-{}", u.as_str())))
                        }
                    }
                }
            }
            div {
                label for="f-counterpart" { (t(lang, "case-counterpart")) }
                input #f-counterpart name="counterpart" type="text" size="3" maxlength="2"
                    autocapitalize="characters" spellcheck="false"
                    aria-describedby="f-counterpart-help" value=(query.counterpart.trim());
                small #f-counterpart-help { (t(lang, "filter-counterpart-help")) }
            }
            button type="submit" { (t(lang, "filter-apply")) }
        }
    }
}

fn contents(lang: Lang, query: &InboxQuery, selection: &Selection, inbox: &InboxView) -> Markup {
    html! {
        (counts(lang, inbox))
        (table(lang, &inbox.cases))
        (pager(lang, query, selection, inbox.cases.len()))
    }
}

fn counts(lang: Lang, inbox: &InboxView) -> Markup {
    html! {
        section.counts aria-labelledby="counts-title" {
            h2 #counts-title { (t(lang, "counts-title")) }
            p #counts-total {
                (t_args(lang, "counts-open", &[
                    ("open", FluentValue::from(i18n::number(lang, inbox.open))),
                    ("overdue", FluentValue::from(i18n::number(lang, inbox.overdue))),
                ]))
            }
            ul {
                @for c in &inbox.counts {
                    li data-state=(c.state) {
                        a href=(format!("{}?state={}&show=open", crate::PREFIX, c.state)) {
                            span.name { (t(lang, &format!("state-{}", c.state))) }
                            " "
                            span.count { (i18n::number(lang, c.cases)) }
                        }
                    }
                }
            }
        }
    }
}

fn pager(lang: Lang, query: &InboxQuery, selection: &Selection, shown: usize) -> Markup {
    let more = shown == PAGE as usize;
    html! {
        @if selection.page > 1 || more {
            nav.pager aria-label=(t(lang, "pages-label")) {
                @if selection.page > 1 {
                    a rel="prev" href=(format!("{}?{}", crate::PREFIX, query.with_page(selection.page - 1))) {
                        (t(lang, "page-previous"))
                    }
                }
                span {
                    (t_args(lang, "page-number", &[("page", FluentValue::from(i18n::number(lang, selection.page)))]))
                }
                @if more {
                    a rel="next" href=(format!("{}?{}", crate::PREFIX, query.with_page(selection.page + 1))) {
                        (t(lang, "page-next"))
                    }
                }
            }
        }
    }
}

#[allow(clippy::disallowed_methods)] // the inbox shows how far each clock is from the present
fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn table(lang: Lang, cases: &[CaseSummary]) -> Markup {
    let now = now();
    html! {
        @if cases.is_empty() {
            p.empty { (t(lang, "inbox-empty")) }
        } @else {
            table.cases {
                thead {
                    tr {
                        th scope="col" { (t(lang, "case-urgency")) }
                        th scope="col" { (t(lang, "case-kind")) }
                        th scope="col" { (t(lang, "case-counterpart")) }
                        th scope="col" { (t(lang, "case-state")) }
                        th scope="col" { (t(lang, "case-next-due")) }
                    }
                }
                tbody {
                    @for c in cases {
                        tr class=(row_class(c)) {
                            td { (t(lang, &format!("urgency-{}", c.urgency.as_str()))) }
                            td {
                                a href=(format!("/desk/cases/{}", c.id)) {
                                    (t(lang, &format!("kind-{}", c.kind.as_str())))
                                }
                            }
                            td { (c.counterpart.as_str()) }
                            td {
                                (t(lang, &format!("state-{}", c.state.as_str())))
                                @if c.overdue {
                                    " " strong.overdue { (t(lang, "case-overdue")) }
                                }
                            }
                            td {
                                @if let Some(due) = c.next_due {
                                    time datetime=(layout::rfc3339(due)) title=(i18n::date(lang, due)) {
                                        span.relative { (i18n::relative(lang, due, now)) }
                                        " "
                                        span.absolute { (i18n::date(lang, due)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The row's classes: its urgency, and whether it is overdue or still
/// awaits this side's acknowledgement.
fn row_class(c: &CaseSummary) -> String {
    let mut class = c.urgency.as_str().to_owned();
    if c.overdue {
        class.push_str(" overdue");
    }
    if c.allowed
        .contains(&custos_node::app::CaseAction::Acknowledge)
    {
        class.push_str(" awaiting");
    }
    class
}
