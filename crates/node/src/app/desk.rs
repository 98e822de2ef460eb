//! What the web desk asks of the node beyond the other faces' operations:
//! the inbox (the cases listed with the counts of open cases by state), the
//! emergencies still waiting for this side's acknowledgement, and each
//! person's language.

use custos_case::{Action, Urgency};
use serde::Serialize;

use super::Actor;
use super::access::Operation;
use super::cases::{CaseFilter, CaseSummary};
use crate::{Node, NodeError};

/// The languages a person may choose (BCP 47 tags of the six official
/// languages of the United Nations).
pub const LANGUAGES: [&str; 6] = ["ar", "zh", "en", "fr", "ru", "es"];

/// How many open cases are in one state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StateCountView {
    /// The state's name (`submitted`, `acknowledged`, ...).
    pub state: String,
    pub cases: u64,
    /// Of those, the overdue ones.
    pub overdue: u64,
}

/// The inbox: one page of cases in the listing's order, and the counts of
/// every open case the person may see, by state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InboxView {
    pub cases: Vec<CaseSummary>,
    /// By state name; states without an open case are absent.
    pub counts: Vec<StateCountView>,
    /// Every open case the person may see.
    pub open: u64,
    /// Of those, the overdue ones.
    pub overdue: u64,
}

/// A signed-in desk session: who acts, and the language they chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskSession {
    pub actor: Actor,
    /// The language the person chose, if they did.
    pub language: Option<String>,
}

/// How many emergencies the banner lists at most.
const EMERGENCIES_SHOWN: u32 = 20;

impl Node {
    /// One page of the cases `filter` selects (as [`Node::cases`]), and the
    /// counts of all open cases by state, read from one index range of the
    /// case index.
    pub async fn inbox(&self, actor: &Actor, filter: &CaseFilter) -> Result<InboxView, NodeError> {
        let cases = self.cases(actor, filter).await?;
        let hidden = Self::listing_person(actor);
        let counts: Vec<StateCountView> = self
            .store
            .count_open_cases(hidden.as_deref())
            .await?
            .into_iter()
            .map(|c| StateCountView {
                state: c.state,
                cases: c.cases,
                overdue: c.overdue,
            })
            .collect();
        Ok(InboxView {
            open: counts.iter().map(|c| c.cases).sum(),
            overdue: counts.iter().map(|c| c.overdue).sum(),
            cases,
            counts,
        })
    }

    /// The open emergency cases that this node's side has still to
    /// acknowledge, most pressing first: what no page may let a person
    /// miss.
    pub async fn emergencies_awaiting(&self, actor: &Actor) -> Result<Vec<CaseSummary>, NodeError> {
        let cases = self
            .cases(
                actor,
                &CaseFilter {
                    urgency: Some(Urgency::Emergency),
                    open: Some(true),
                    limit: Some(EMERGENCIES_SHOWN),
                    ..CaseFilter::default()
                },
            )
            .await?;
        Ok(cases
            .into_iter()
            .filter(|c| c.allowed.contains(&Action::Acknowledge))
            .collect())
    }

    /// Stores the language `actor` chose for the desk (one of
    /// [`LANGUAGES`]); refused with [`NodeError::InvalidUser`] for another
    /// tag, and with [`NodeError::NotFound`] for an actor who is no user.
    pub async fn set_language(&self, actor: &Actor, language: &str) -> Result<(), NodeError> {
        self.authorize(actor, Operation::SetOwnLanguage, None)
            .await?;
        if !LANGUAGES.contains(&language) {
            return Err(NodeError::InvalidUser(format!(
                "{language:?} is not one of the desk's languages ({})",
                LANGUAGES.join(", ")
            )));
        }
        let Some(person) = actor.person() else {
            return Err(NodeError::NotFound("the actor is no user".to_owned()));
        };
        if !self.store.set_user_language(person, Some(language)).await? {
            return Err(NodeError::NotFound(format!("no user is named {person:?}")));
        }
        Ok(())
    }

    /// The desk session whose bearer secret is `bearer`, with the person's
    /// language; `None` as [`Node::authenticate`] for a session.
    pub async fn desk_session(&self, bearer: &str) -> Result<Option<DeskSession>, NodeError> {
        Ok(self
            .session_person(bearer)
            .await?
            .map(|(actor, language)| DeskSession { actor, language }))
    }
}
