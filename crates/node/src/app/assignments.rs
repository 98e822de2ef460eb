//! Issue 18, items 2 and 3: confidential cases, the people assigned to a
//! case, exporting a case's content with a recorded decision, and the
//! personal data a case holds with the conditions attached to it.
//!
//! **Confidential.** A case is confidential on this node when signed
//! content says so: the requesting State's draft (`confidentiality.required`,
//! on the receiving node), an answer of the providing State (an execution
//! body's `confidential.required`, on the requesting node) or an evidence
//! package's manifest (`confidentiality.required`, on the receiving node of
//! the package). Intake and the evidence receiver mark the case
//! (`SafeguardStore::mark_confidential`) before they store what marked it, so a
//! confidential case is never visible unmarked. [`Node::authorize`] is the
//! one place that enforces it: a person not assigned to a confidential case
//! is refused every case-scoped operation on it with
//! [`CONFIDENTIAL_NOT_ASSIGNED`] (recorded as every refusal is), except
//! managing its assignments, the record of who saw what, grants and the
//! data-protection officer's personal-data listing, which show no content;
//! the listings (cases, requests, received evidence) leave it out.
//!
//! **Assigning.** No one is assigned to a case automatically: the duty
//! officer, who receives and triages requests at any hour, or the
//! administrator assigns the people who handle it (`assign-case`); each
//! assignment and its ending is written with its ledger entry in one
//! transaction. The CLI's operator, who runs with the node's files and
//! keys, is not held by assignments.

use custos_model::StateCode;
use custos_store::{CaseAssignment, ConfidentialMark};
use serde::Serialize;
use serde_json::{Value, json};
use time::{Date, OffsetDateTime};

use super::Actor;
use super::access::Operation;
use super::cases::CaseDetail;
use super::views::RequestView;
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// The reason a person not assigned to a confidential case is refused.
pub const CONFIDENTIAL_NOT_ASSIGNED: &str = "confidential-not-assigned";

/// The mark of a request the requesting State marked confidential.
pub const MARK_REQUEST: &str = "request";

/// A person's assignment to a case, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignmentView {
    pub id: i64,
    pub case: String,
    pub person: String,
    /// Who assigned them (`api:ana/desk`, `cli:ops`).
    pub assigned_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub assigned_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unassigned_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub unassigned_at: Option<OffsetDateTime>,
    /// Whether the assignment is in force.
    pub in_force: bool,
}

impl From<CaseAssignment> for AssignmentView {
    fn from(a: CaseAssignment) -> Self {
        AssignmentView {
            in_force: a.in_force(),
            id: a.id,
            case: a.case_id,
            person: a.person,
            assigned_by: a.assigned_by,
            assigned_at: a.assigned_at,
            unassigned_by: a.unassigned_by,
            unassigned_at: a.unassigned_at,
        }
    }
}

/// A case's assignments and why it is confidential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssigneesView {
    pub case: String,
    /// Whether the case is confidential on this node.
    pub confidential: bool,
    /// Why: `request`, `answer:<message id>`, `package:<package id>`.
    pub confidential_because: Vec<String>,
    /// Every assignment, ended or not, oldest first.
    pub assignments: Vec<AssignmentView>,
}

/// A case's content as exported, with the recorded decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseExport {
    pub case: String,
    /// Whether the case is confidential on this node.
    pub confidential: bool,
    /// Why it was exported, as recorded.
    pub reason: String,
    /// Who exported it.
    pub exported_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub exported_at: OffsetDateTime,
    /// The content id of the `case-exported` ledger entry recording it.
    pub ledger_entry: String,
    /// The request as signed, with its thread and history.
    pub request: RequestView,
    /// The case: state, clocks, timeline with each step's body.
    pub case_view: CaseDetail,
}

/// Personal data the case holds, as the providing State described it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonalDataItem {
    /// `answer` (an execution's body) or `package` (an evidence manifest).
    pub source: String,
    /// The message id or the package id.
    pub id: String,
    /// The providing State.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub from: StateCode,
    pub categories: Vec<String>,
    pub conditions: Vec<String>,
    /// The providing State's deletion date, YYYY-MM-DD.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub delete_by: Option<String>,
    /// Whether the providing State marked it confidential.
    pub confidential: bool,
}

/// The personal data a case holds, its conditions and its deletion date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonalDataView {
    pub case: String,
    pub items: Vec<PersonalDataItem>,
    /// The earliest known date by which the case's personal data is to be
    /// deleted (YYYY-MM-DD): the earliest `delete_by` of its items.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub deletion_date: Option<String>,
}

/// Whether a signed value says `{"required": true, ...}`.
pub(crate) fn marked_confidential(v: Option<&Value>) -> bool {
    v.and_then(|c| c.get("required")).and_then(Value::as_bool) == Some(true)
}

fn ymd(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The operations a confidential case does not hold back from a person
/// not assigned to it: managing assignments, the record of who saw what,
/// grants and the personal-data listing show no case content.
fn exempt(op: Operation) -> bool {
    matches!(
        op,
        Operation::AssignCase
            | Operation::ReadAudit
            | Operation::GrantCaseAccess
            | Operation::ListPersonalData
    )
}

impl Node {
    /// Whether `op` on `case` is held back from `actor` because the case is
    /// confidential and the actor's person is not assigned to it. Only
    /// people holding roles (API tokens, desk sessions) are held back.
    pub(crate) async fn hidden_case(
        &self,
        actor: &Actor,
        op: Operation,
        case: &str,
    ) -> Result<bool, NodeError> {
        let person = match actor {
            Actor::Api { user, .. } | Actor::Desk { user, .. } => user,
            _ => return Ok(false),
        };
        if exempt(op) || self.store.confidential_marks(case).await?.is_empty() {
            return Ok(false);
        }
        let assigned = self
            .store
            .case_assignments(case)
            .await?
            .iter()
            .any(|a| a.in_force() && &a.person == person);
        Ok(!assigned)
    }

    /// The person whose view of the listings leaves out the confidential
    /// cases not assigned to them; `None` for an actor not held back.
    pub(crate) fn listing_person(actor: &Actor) -> Option<String> {
        match actor {
            Actor::Api { user, .. } | Actor::Desk { user, .. } => Some(user.clone()),
            _ => None,
        }
    }

    /// Marks `case` confidential because of `source` (from signed content
    /// about to be stored).
    pub(crate) async fn mark_confidential(
        &self,
        case: &str,
        source: String,
    ) -> Result<(), NodeError> {
        let mark = ConfidentialMark {
            case_id: case.to_owned(),
            source,
            marked_at: self.clock.now(),
        };
        self.store.mark_confidential(&mark).await?;
        Ok(())
    }

    /// Assigns `person` to case `case` (operation `assign-case`); the
    /// assignment and its `case-assigned` ledger entry in one transaction.
    /// A person already assigned is refused (`invalid-draft`), nothing
    /// written.
    pub async fn assign_case(
        &self,
        actor: &Actor,
        case: &str,
        person: &str,
    ) -> Result<AssignmentView, NodeError> {
        self.authorize(actor, Operation::AssignCase, Some(case))
            .await?;
        let person = person.trim();
        if person.is_empty() {
            return Err(NodeError::InvalidDraft(
                "an assignment names the person (--user)".to_owned(),
            ));
        }
        if self.store.get_request(case).await?.is_none() {
            return Err(NodeError::NotFound(format!("no case {case}")));
        }
        if self.store.user(person).await?.is_none() {
            return Err(NodeError::NotFound(format!("no user {person}")));
        }
        let now = self.clock.now();
        let entry = Entry::new(EntryKind::CaseAssigned, now, actor.label())
            .request(case)
            .detail(json!({ "person": person }))
            .encode()?;
        let assignment = CaseAssignment {
            id: 0,
            case_id: case.to_owned(),
            person: person.to_owned(),
            assigned_by: actor.label(),
            assigned_at: now,
            unassigned_by: None,
            unassigned_at: None,
        };
        let Some(id) = self.store.assign_case(&assignment, &entry).await? else {
            return Err(NodeError::InvalidDraft(format!(
                "{person} is assigned to case {case} already"
            )));
        };
        let stored = self
            .store
            .case_assignments(case)
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .unwrap_or(CaseAssignment { id, ..assignment });
        Ok(stored.into())
    }

    /// Ends the assignment of `person` to case `case` (operation
    /// `assign-case`), with its `case-unassigned` ledger entry in the same
    /// transaction.
    pub async fn unassign_case(
        &self,
        actor: &Actor,
        case: &str,
        person: &str,
    ) -> Result<u64, NodeError> {
        self.authorize(actor, Operation::AssignCase, Some(case))
            .await?;
        let now = self.clock.now();
        let entry = Entry::new(EntryKind::CaseUnassigned, now, actor.label())
            .request(case)
            .detail(json!({ "person": person }))
            .encode()?;
        let n = self
            .store
            .unassign_case(case, person, &actor.label(), now, &entry)
            .await?;
        if n == 0 {
            return Err(NodeError::NotFound(format!(
                "{person} is not assigned to case {case}"
            )));
        }
        Ok(n)
    }

    /// A case's assignments and why it is confidential (operation
    /// `assign-case`).
    pub async fn case_assignees(
        &self,
        actor: &Actor,
        case: &str,
    ) -> Result<AssigneesView, NodeError> {
        self.authorize(actor, Operation::AssignCase, Some(case))
            .await?;
        if self.store.get_request(case).await?.is_none() {
            return Err(NodeError::NotFound(format!("no case {case}")));
        }
        let marks = self.store.confidential_marks(case).await?;
        Ok(AssigneesView {
            case: case.to_owned(),
            confidential: !marks.is_empty(),
            confidential_because: marks.into_iter().map(|m| m.source).collect(),
            assignments: self
                .store
                .case_assignments(case)
                .await?
                .into_iter()
                .map(AssignmentView::from)
                .collect(),
        })
    }

    /// Exports case `case`'s content for `actor` (operation `export-case`):
    /// the decision (who, when, why) is written to the ledger as a
    /// `case-exported` entry first, and only then is the content read and
    /// returned. An export gives its reason; one without is refused before
    /// anything is read.
    pub async fn export_case(
        &self,
        actor: &Actor,
        case: &str,
        reason: &str,
    ) -> Result<CaseExport, NodeError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(NodeError::InvalidDraft(
                "an export records why: give a reason (--reason)".to_owned(),
            ));
        }
        self.authorize(actor, Operation::ExportCase, Some(case))
            .await?;
        if self.store.get_request(case).await?.is_none() {
            return Err(NodeError::NotFound(format!("no case {case}")));
        }
        let confidential = !self.store.confidential_marks(case).await?.is_empty();
        let now = self.clock.now();
        let entry = Entry::new(EntryKind::CaseExported, now, actor.label())
            .request(case)
            .detail(json!({ "reason": reason, "confidential": confidential }))
            .encode()?;
        let ledger_entry = custos_seal::content_id(&entry);
        self.store.queue_ledger(&[entry], now).await?;
        let request = self.request_detail(case).await?;
        let case_view = self.derived(case, now).await?.detail();
        Ok(CaseExport {
            case: case.to_owned(),
            confidential,
            reason: reason.to_owned(),
            exported_by: actor.label(),
            exported_at: now,
            ledger_entry,
            request,
            case_view,
        })
    }

    /// The personal data case `case` holds (operation
    /// `list-personal-data`): what each execution and each evidence package
    /// received for it says of the personal data sent, its conditions and
    /// its deletion date, read from the signed messages and manifests.
    pub async fn personal_data(
        &self,
        actor: &Actor,
        case: &str,
    ) -> Result<PersonalDataView, NodeError> {
        self.authorize(actor, Operation::ListPersonalData, Some(case))
            .await?;
        let origins = self.index_received_packages().await?;
        self.personal_data_of(case, &origins).await
    }

    /// [`Node::personal_data`] once allowed, with the index of received
    /// packages read once by the caller: only the case's own packages'
    /// manifests are read and checked.
    async fn personal_data_of(
        &self,
        case: &str,
        origins: &[custos_store::ReceivedOrigin],
    ) -> Result<PersonalDataView, NodeError> {
        let derived = self.derived(case, self.clock.now()).await?;
        let mut items = Vec::new();
        let mut dates: Vec<Date> = Vec::new();
        for step in derived.detail().timeline {
            let Some(body) = step.body.as_ref() else {
                continue;
            };
            let Some(pd) = body.get("personal_data") else {
                continue;
            };
            let Ok(pd) =
                serde_json::from_value::<custos_protocol::case_bodies::PersonalData>(pd.clone())
            else {
                continue;
            };
            dates.extend(pd.delete_by);
            items.push(PersonalDataItem {
                source: "answer".to_owned(),
                id: step.message_id.clone(),
                from: step.state_code,
                categories: pd.categories,
                conditions: pd.conditions,
                delete_by: pd.delete_by.map(ymd),
                confidential: marked_confidential(body.get("confidential")),
            });
        }
        let folders = origins
            .iter()
            .filter(|o| o.request == case)
            .filter_map(|o| {
                crate::evidence::receive::received_folder(&self.settings.data_dir, &o.package_id)
            })
            .filter(|folder| folder.is_dir());
        for folder in folders {
            let Ok(view) = self.package_manifest_checked(&folder) else {
                continue;
            };
            let m = &view.manifest;
            if m.request != case {
                continue;
            }
            let Some(pd) = m.personal_data.clone() else {
                continue;
            };
            dates.extend(pd.delete_by);
            items.push(PersonalDataItem {
                source: "package".to_owned(),
                id: view.package_id.clone(),
                from: m.sender,
                categories: pd.categories,
                conditions: pd.conditions,
                delete_by: pd.delete_by.map(ymd),
                confidential: marked_confidential(Some(&m.confidentiality)),
            });
        }
        // The case's retention end (issue 18, item 4, kept by its own
        // table) joins here: the deletion date is the earliest of the
        // providing States' dates and the end of the case's retention.
        let deletion_date = dates.into_iter().min().map(ymd);
        Ok(PersonalDataView {
            case: case.to_owned(),
            items,
            deletion_date,
        })
    }

    /// The personal data of the cases `actor` may list, newest cases
    /// first, at most `limit` of them: [`Node::personal_data`] for each
    /// case of the node's listing, confidential ones included (their
    /// personal data is not held back), leaving out the cases the actor
    /// may not list personal data of (an auditor's cases not granted
    /// to them). Each case's decision is recorded as `list-personal-data`,
    /// the listing's rows in one transaction.
    pub async fn personal_data_register(
        &self,
        actor: &Actor,
        limit: u32,
    ) -> Result<Vec<PersonalDataView>, NodeError> {
        // A confidential case does not hold its personal data back from
        // the people who may list it (`exempt`): they see every case here.
        let cases = self
            .cases_listed(
                actor,
                &super::CaseFilter {
                    limit: Some(limit),
                    ..super::CaseFilter::default()
                },
                None,
            )
            .await?;
        let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        let verdicts = self
            .authorize_cases(actor, Operation::ListPersonalData, &ids)
            .await?;
        let origins = self.index_received_packages().await?;
        let mut out = Vec::with_capacity(cases.len());
        for (id, verdict) in ids.into_iter().zip(verdicts) {
            // Not the actor's to see: nothing listed.
            if verdict.is_err() {
                continue;
            }
            match self.personal_data_of(id, &origins).await {
                Ok(view) => out.push(view),
                // Its content already deleted (retention) or never held:
                // no personal data to list.
                Err(NodeError::NotFound(_) | NodeError::ContentDeleted { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}
