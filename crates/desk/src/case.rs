//! The case page: the whole thread as a timeline (who, when, what, each
//! step's delivery and verified receipt, any message the case refused),
//! the clocks, the use limits, the conditions and the personal-data
//! conditions in plain sight, and the actions this person may take now
//! ([`crate::actions`]). Everything comes from one view,
//! [`Node::case`]; nothing is decided here.

use std::sync::Arc;

use axum::extract::{Path, State};
use custos_node::Node;
use custos_node::app::{CaseDetail, Operation, TimelineItem};
use maud::{Markup, html};
use serde_json::Value;

use crate::actions::{self, Open};
use crate::error::DeskError;
use crate::fields;
use crate::i18n::{Lang, t};
use crate::layout::{self, rfc3339};
use crate::session::Desk;

/// The route of a case page.
pub const ROUTE: &str = "/desk/cases/{id}";

/// The path of case `id`'s page.
pub fn path(id: &str) -> String {
    format!("/desk/cases/{id}")
}

/// The case page.
pub async fn page(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path(id): Path<String>,
) -> Result<Markup, DeskError> {
    let case = node.case(&id, &desk.actor).await?;
    Ok(render(&desk, &case, None))
}

/// The whole page; `open` is an action form to show open, with what the
/// node said of it.
pub fn render(desk: &Desk, case: &CaseDetail, open: Option<&Open>) -> Markup {
    let lang = desk.lang;
    let title = t(lang, &format!("kind-{}", case.kind.as_str()));
    layout::page(
        desk,
        &path(&case.id),
        &title,
        html! {
            h1 { (title) }
            (facts(lang, case))
            @if desk.may(Operation::ListEvidence) {
                p.links {
                    a #case-evidence-link href=(crate::evidence::page_path(&case.id)) {
                        (t(lang, "case-evidence-link"))
                    }
                }
            }
            @if let Some(problem) = open.and_then(|o| o.refused.as_ref()) {
                p.problem #action-refused role="alert" { (problem) }
            }
            (actions::section(desk, case, open))
            (clocks(lang, case))
            (limits(lang, case))
            (timeline(lang, case))
        },
    )
}

fn facts(lang: Lang, case: &CaseDetail) -> Markup {
    html! {
        dl.facts #case-facts {
            dt { (t(lang, "case-id")) } dd { code { (case.id) } }
            dt { (t(lang, "case-state")) }
            dd #case-state data-state=(case.state.as_str()) { (t(lang, &format!("state-{}", case.state.as_str()))) }
            dt { (t(lang, "case-counterpart")) } dd { (case.counterpart.as_str()) }
            dt { (t(lang, "case-side")) } dd { (t(lang, &format!("side-{}", case.side.as_str()))) }
            @if case.overdue {
                dt { (t(lang, "case-overdue-label")) } dd.alarm { (t(lang, "case-overdue-yes")) }
            }
        }
    }
}

fn clocks(lang: Lang, case: &CaseDetail) -> Markup {
    html! {
        section #clocks aria-labelledby="clocks-h" {
            h2 #clocks-h { (t(lang, "clocks-title")) }
            @if case.clocks.is_empty() {
                p.empty { (t(lang, "clocks-none")) }
            } @else {
                table.cases {
                    thead { tr {
                        th scope="col" { (t(lang, "clock-kind")) }
                        th scope="col" { (t(lang, "clock-status")) }
                        th scope="col" { (t(lang, "clock-started")) }
                        th scope="col" { (t(lang, "clock-due")) }
                    } }
                    tbody {
                        // i18n::date will format these instants per language.
                        @for c in &case.clocks {
                            tr.(c.status.as_str()) {
                                td { (t(lang, &format!("clock-{}", c.kind.as_str()))) }
                                td { (t(lang, &format!("clock-status-{}", c.status.as_str()))) }
                                td { time datetime=(rfc3339(c.started)) { (rfc3339(c.started)) } }
                                td { @if let Some(due) = c.due { time datetime=(rfc3339(due)) { (rfc3339(due)) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The use limits, the consultation's conditions and every condition the
/// providing State attached to personal data, as the signed steps say.
fn limits(lang: Lang, case: &CaseDetail) -> Markup {
    let u = &case.use_limits;
    let personal: Vec<&Value> = case
        .timeline
        .iter()
        .filter_map(|s| s.body.as_ref()?.get("personal_data"))
        .collect();
    let confidential = case.timeline.iter().any(|s| {
        s.body
            .as_ref()
            .and_then(|b| b.pointer("/confidential/required"))
            == Some(&Value::Bool(true))
    });
    html! {
        section #limits aria-labelledby="limits-h" {
            h2 #limits-h { (t(lang, "limits-title")) }
            dl.facts {
                dt { (t(lang, "limits-case")) } dd { code { (u.case) } }
                dt { (t(lang, "limits-purpose")) }
                dd { (u.purpose.as_deref().unwrap_or("—")) }
                dt { (t(lang, "limits-conditions")) }
                dd { (list(&u.conditions)) }
                dt { (t(lang, "limits-consultation")) }
                dd #consult-conditions { (list(&case.conditions)) }
                @if confidential {
                    dt { (t(lang, "limits-confidential")) } dd.alarm { (t(lang, "limits-confidential-yes")) }
                }
            }
            @if !u.consents.is_empty() {
                h3 { (t(lang, "limits-consents")) }
                ul {
                    @for c in &u.consents {
                        li { code { (c.ask) } " — " (c.use_for) " " (c.target) ": " strong { (c.answer) }
                            @if !c.conditions.is_empty() { " " (list(&c.conditions)) } }
                    }
                }
            }
            @if !personal.is_empty() {
                h3 { (t(lang, "limits-personal-data")) }
                @for p in personal {
                    dl.facts.personal {
                        dt { (t(lang, "field-personal-data-categories")) } dd { (list_value(p.get("categories"))) }
                        dt { (t(lang, "field-personal-data-conditions")) } dd { (list_value(p.get("conditions"))) }
                        dt { (t(lang, "field-personal-data-delete-by")) }
                        dd { (p.get("delete_by").and_then(Value::as_str).unwrap_or("—")) }
                    }
                }
            }
        }
    }
}

fn list(items: &[String]) -> Markup {
    html! {
        @if items.is_empty() { "—" } @else { ul.plain { @for i in items { li { (i) } } } }
    }
}

fn list_value(v: Option<&Value>) -> Markup {
    let items: Vec<String> = v
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    list(&items)
}

fn timeline(lang: Lang, case: &CaseDetail) -> Markup {
    html! {
        section #timeline aria-labelledby="timeline-h" {
            h2 #timeline-h { (t(lang, "timeline-title")) }
            p.note { (t(lang, "timeline-checked")) }
            ol.timeline {
                @for step in &case.timeline { (timeline_step(lang, step)) }
                @for r in &case.refused {
                    li.step.refused data-action=(r.action.as_str()) {
                        p.head {
                            time datetime=(rfc3339(r.at)) { (rfc3339(r.at)) } " · "
                            (r.state_code.as_str()) " · "
                            strong { (t(lang, &format!("action-{}", r.action.as_str()))) }
                        }
                        p.badge.fail { (t(lang, "timeline-refused")) " " code { (r.code.as_str()) } }
                    }
                }
            }
        }
    }
}

fn timeline_step(lang: Lang, step: &TimelineItem) -> Markup {
    let shown: Vec<(String, String)> = match (step.action.decision(), step.body.as_ref()) {
        (Some(decision), Some(body)) => fields::decision_fields(decision)
            .iter()
            .filter_map(|f| {
                let v = fields::lookup(body, &f.name)?;
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(l) => l
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                };
                (!text.is_empty()).then(|| (fields::label(lang, f), text))
            })
            .collect(),
        _ => Vec::new(),
    };
    html! {
        li.step data-action=(step.action.as_str()) {
            p.head {
                time datetime=(rfc3339(step.at)) { (rfc3339(step.at)) } " · "
                (step.state_code.as_str())
                @if let Some(who) = &step.actor { " · " (who) } " · "
                strong.action { (t(lang, &format!("action-{}", step.action.as_str()))) }
                " → " (t(lang, &format!("state-{}", step.state.as_str())))
            }
            p.badges {
                span.badge.ok { (t(lang, "timeline-signed")) }
                @if let Some(d) = step.delivery {
                    " "
                    @if step.receipt {
                        span.badge.ok.receipt { (t(lang, "timeline-receipt")) }
                    } @else {
                        span.badge.wait { (t(lang, &format!("delivery-{}", d.as_str()))) }
                    }
                }
            }
            @if !shown.is_empty() {
                dl.body {
                    @for (label, text) in &shown { dt { (label) } dd { (text) } }
                }
            }
        }
    }
}
