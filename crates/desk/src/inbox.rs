//! The inbox: the cases this person may see, in the node's order (open
//! cases first, emergencies first, then the nearest clock), refreshed
//! without a reload.

use std::sync::Arc;

use axum::extract::State;
use custos_node::Node;
use custos_node::app::{CaseFilter, CaseSummary};
use maud::{Markup, html};

use crate::error::DeskError;
use crate::i18n::{Lang, t};
use crate::layout;
use crate::session::Desk;

/// The inbox's table alone, for htmx to refresh.
pub const LIST: &str = "/desk/inbox/list";

/// How many cases the inbox shows at once.
const PAGE: u32 = 100;

/// The inbox page.
pub async fn page(State(node): State<Arc<Node>>, desk: Desk) -> Result<Markup, DeskError> {
    let cases = list_cases(&node, &desk).await?;
    let title = t(desk.lang, "inbox-title");
    Ok(layout::page(
        &desk,
        crate::PREFIX,
        &title,
        html! {
            h1 { (title) }
            div #inbox hx-get=(LIST) hx-trigger="every 5s" hx-swap="innerHTML" {
                (table(desk.lang, &cases))
            }
        },
    ))
}

/// The inbox's table, for a refresh.
pub async fn list(State(node): State<Arc<Node>>, desk: Desk) -> Result<Markup, DeskError> {
    Ok(table(desk.lang, &list_cases(&node, &desk).await?))
}

async fn list_cases(node: &Node, desk: &Desk) -> Result<Vec<CaseSummary>, DeskError> {
    Ok(node
        .cases(
            &desk.actor,
            &CaseFilter {
                limit: Some(PAGE),
                ..CaseFilter::default()
            },
        )
        .await?)
}

fn table(lang: Lang, cases: &[CaseSummary]) -> Markup {
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
                        tr.(c.urgency.as_str()) {
                            td { (t(lang, &format!("urgency-{}", c.urgency.as_str()))) }
                            td {
                                a href=(format!("/desk/cases/{}", c.id)) {
                                    (t(lang, &format!("kind-{}", c.kind.as_str())))
                                }
                            }
                            td { (c.counterpart.as_str()) }
                            td { (t(lang, &format!("state-{}", c.state.as_str()))) }
                            td {
                                @if let Some(due) = c.next_due {
                                    time datetime=(crate::layout::rfc3339(due)) { (crate::layout::rfc3339(due)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
