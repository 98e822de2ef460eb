//! The record of who saw what, and the cases granted to a person.
//!
//! Every decision of [`Node::authorize`] that concerns a person (allowed or
//! refused, reads and actions alike) and every failed authentication is
//! written as one row of the access record together with an `access` entry
//! of the custody ledger, in one store transaction: the row says who, which
//! operation, which case, the outcome and the refusal's reason, and names
//! its ledger entry by content id. Neither ever holds case content. An
//! allowed action's row is written before the action runs (an action whose
//! row cannot be written does not run); the action's own entry (a
//! `decision`, a `message-sent`, ...) is written with the action. Sending a
//! request is the exception that the federation's rate asks for: its row is
//! written in the sending's own transaction and names the `message-sent`
//! entry, so a sending costs one transaction and one entry
//! ([`AllowedAction`], [`crate::Node::authorize_action`]). The node's
//! scheduler performs no person's operation and is not recorded here.

use custos_store::{ALLOWED, AccessFilter, AccessRecord, CaseGrant, REFUSED};
use serde::Serialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::Actor;
use super::access::Operation;
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// The person named for a caller that could not be authenticated.
pub const ANONYMOUS: &str = "anonymous";

/// The operation name of a failed authentication in the record.
pub const AUTHENTICATE: &str = "authenticate";

/// The most rows one listing of the record returns.
pub const MAX_AUDIT_ROWS: u32 = 1000;

/// The rows listed when no limit is asked.
pub const DEFAULT_AUDIT_ROWS: u32 = 100;

/// An action a person was allowed to take, whose access record is written
/// with the action, naming the action's own ledger entry
/// ([`crate::Node::authorize_action`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedAction {
    person: String,
    actor: String,
    operation: String,
    case_id: Option<String>,
}

impl AllowedAction {
    pub(crate) fn new(actor: &Actor, op: Operation, case: Option<&str>) -> Self {
        AllowedAction {
            person: actor.recorded_person(),
            actor: actor.label(),
            operation: op.name(),
            case_id: case.map(str::to_owned),
        }
    }

    /// The record of the action taken at `at`, whose ledger entry is
    /// `entry` (encoded); `case` names the case when the action opened it.
    pub(crate) fn record(
        self,
        at: OffsetDateTime,
        entry: &[u8],
        case: Option<&str>,
    ) -> AccessRecord {
        AccessRecord {
            id: 0,
            at,
            person: self.person,
            actor: self.actor,
            operation: self.operation,
            case_id: self.case_id.or_else(|| case.map(str::to_owned)),
            outcome: ALLOWED.to_owned(),
            reason: None,
            entry_sha256: custos_seal::content_id(entry),
        }
    }
}

/// Which rows of the record of who saw what to list; newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this person (a user or operator name, or `anonymous`).
    pub person: Option<String>,
    /// Only this case.
    pub case: Option<String>,
    /// At or after this time.
    pub since: Option<OffsetDateTime>,
    /// Before this time.
    pub until: Option<OffsetDateTime>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Skip this many first.
    pub offset: Option<u64>,
}

/// One row of the record of who saw what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessView {
    /// The row's number.
    pub id: i64,
    /// When, in RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: OffsetDateTime,
    /// The person (user or operator name, or `anonymous`).
    pub person: String,
    /// How the ledger names the actor (`api:ana/desk`).
    pub actor: String,
    /// The operation (`read-case`, `act:refuse`, `authenticate`).
    pub operation: String,
    /// The case concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// `allowed` or `refused`.
    pub outcome: String,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The content id of the custody-ledger entry recording it.
    pub ledger_entry: String,
}

impl From<AccessRecord> for AccessView {
    fn from(r: AccessRecord) -> Self {
        AccessView {
            id: r.id,
            at: r.at,
            person: r.person,
            actor: r.actor,
            operation: r.operation,
            case: r.case_id,
            outcome: r.outcome,
            reason: r.reason,
            ledger_entry: r.entry_sha256,
        }
    }
}

/// A case granted to a person, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseGrantView {
    pub id: i64,
    pub case: String,
    pub person: String,
    pub reason: String,
    pub granted_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub granted_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub until: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub revoked_at: Option<OffsetDateTime>,
    /// Whether the grant lets its person see the case now.
    pub in_force: bool,
}

impl CaseGrantView {
    fn of(g: CaseGrant, now: OffsetDateTime) -> Self {
        CaseGrantView {
            in_force: g.in_force(now),
            id: g.id,
            case: g.case_id,
            person: g.person,
            reason: g.reason,
            granted_by: g.granted_by,
            granted_at: g.granted_at,
            until: g.until,
            revoked_by: g.revoked_by,
            revoked_at: g.revoked_at,
        }
    }
}

/// The longest a case may be granted for at once.
pub const MAX_GRANT: Duration = Duration::days(366);

/// One row of the record of who saw what and its `access` ledger entry:
/// `person` (as `label`) was allowed, or refused for `refusal`, `op` (on
/// `case`) at `now`, coming `from` where the caller names it.
fn access_row(
    person: &str,
    label: &str,
    op: &str,
    case: Option<&str>,
    refusal: Option<&str>,
    from: Option<&str>,
    now: OffsetDateTime,
) -> Result<(AccessRecord, Vec<u8>), NodeError> {
    let outcome = if refusal.is_some() { REFUSED } else { ALLOWED };
    let mut detail = json!({ "operation": op, "outcome": outcome });
    if let Some(reason) = refusal {
        detail["reason"] = json!(reason);
    }
    if let Some(from) = from {
        detail["from"] = json!(from);
    }
    let mut entry = Entry::new(EntryKind::Access, now, label).detail(detail);
    if let Some(case) = case {
        entry = entry.request(case);
    }
    let bytes = entry.encode()?;
    let record = AccessRecord {
        id: 0,
        at: now,
        person: person.to_owned(),
        actor: label.to_owned(),
        operation: op.to_owned(),
        case_id: case.map(str::to_owned),
        outcome: outcome.to_owned(),
        reason: refusal.map(str::to_owned),
        entry_sha256: custos_seal::content_id(&bytes),
    };
    Ok((record, bytes))
}

impl Node {
    /// Writes one decision of the access check: a row of the record and
    /// its `access` ledger entry, in one transaction.
    pub(crate) async fn record_decision(
        &self,
        actor: &Actor,
        op: &str,
        case: Option<&str>,
        refusal: Option<&str>,
    ) -> Result<(), NodeError> {
        let person = actor.recorded_person();
        self.write_access(&person, &actor.label(), op, case, refusal, None)
            .await
    }

    /// Writes decisions of the access check on several cases, each a
    /// `(case, refusal)` of `actor` for `op`, as rows of the record with
    /// their ledger entries, in one transaction.
    pub(crate) async fn record_decisions(
        &self,
        actor: &Actor,
        op: &str,
        decisions: &[(&str, Option<&str>)],
    ) -> Result<(), NodeError> {
        if decisions.is_empty() {
            return Ok(());
        }
        let person = actor.recorded_person();
        let label = actor.label();
        let now = self.clock.now();
        let rows = decisions
            .iter()
            .map(|(case, refusal)| access_row(&person, &label, op, Some(case), *refusal, None, now))
            .collect::<Result<Vec<_>, NodeError>>()?;
        self.store.record_accesses(&rows).await?;
        Ok(())
    }

    async fn write_access(
        &self,
        person: &str,
        label: &str,
        op: &str,
        case: Option<&str>,
        refusal: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), NodeError> {
        let (record, bytes) = access_row(person, label, op, case, refusal, from, self.clock.now())?;
        self.store.record_access(&record, &bytes).await?;
        Ok(())
    }

    /// Records a caller of the client API that could not be authenticated
    /// (no bearer, or one the node does not know), as `anonymous`, with
    /// where it came from and why. No secret material is kept: `reason`
    /// must not carry the token.
    pub async fn record_authentication_failure(
        &self,
        from: &str,
        reason: &str,
    ) -> Result<(), NodeError> {
        self.write_access(
            ANONYMOUS,
            ANONYMOUS,
            AUTHENTICATE,
            None,
            Some(reason),
            Some(from),
        )
        .await
    }

    /// Lists the record of who saw what (operation `read-audit`; the
    /// listing itself is recorded, as every read is).
    pub async fn audit(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
    ) -> Result<Vec<AccessView>, NodeError> {
        self.authorize(actor, Operation::ReadAudit, filter.case.as_deref())
            .await?;
        if let (Some(since), Some(until)) = (filter.since, filter.until)
            && until <= since
        {
            return Err(NodeError::InvalidDraft(
                "the period is empty: --until must be after --since".to_owned(),
            ));
        }
        let rows = self
            .store
            .access_records(&AccessFilter {
                person: filter.person.clone(),
                case_id: filter.case.clone(),
                since: filter.since,
                until: filter.until,
                limit: filter
                    .limit
                    .unwrap_or(DEFAULT_AUDIT_ROWS)
                    .min(MAX_AUDIT_ROWS),
                offset: filter.offset.unwrap_or(0),
            })
            .await?;
        Ok(rows.into_iter().map(AccessView::from).collect())
    }

    /// Grants `person` the content of case `case` until `until`, for
    /// `reason` (operation `grant-case-access`); the grant and its ledger
    /// entry in one transaction.
    pub async fn grant_case_access(
        &self,
        actor: &Actor,
        case: &str,
        person: &str,
        reason: &str,
        until: OffsetDateTime,
    ) -> Result<CaseGrantView, NodeError> {
        self.authorize(actor, Operation::GrantCaseAccess, Some(case))
            .await?;
        let now = self.clock.now();
        let person = person.trim();
        let reason = reason.trim();
        if person.is_empty() || reason.is_empty() {
            return Err(NodeError::InvalidDraft(
                "a grant names the person and gives a reason".to_owned(),
            ));
        }
        if until <= now || until - now > MAX_GRANT {
            return Err(NodeError::InvalidDraft(format!(
                "a grant ends in the future and within {} days",
                MAX_GRANT.whole_days()
            )));
        }
        if self.store.get_request(case).await?.is_none() {
            return Err(NodeError::NotFound(format!("no case {case}")));
        }
        let entry = Entry::new(EntryKind::CaseAccessGranted, now, actor.label())
            .request(case)
            .detail(json!({
                "person": person,
                "until": until.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                "reason": reason,
            }))
            .encode()?;
        let grant = CaseGrant {
            id: 0,
            case_id: case.to_owned(),
            person: person.to_owned(),
            reason: reason.to_owned(),
            granted_by: actor.label(),
            granted_at: now,
            until,
            revoked_by: None,
            revoked_at: None,
        };
        let id = self.store.grant_case(&grant, &entry).await?;
        let stored = self
            .store
            .case_grants(case)
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .unwrap_or(CaseGrant { id, ..grant });
        Ok(CaseGrantView::of(stored, now))
    }

    /// Revokes every grant of case `case` to `person` still in the record
    /// as not revoked (operation `grant-case-access`); how many.
    pub async fn revoke_case_access(
        &self,
        actor: &Actor,
        case: &str,
        person: &str,
    ) -> Result<u64, NodeError> {
        self.authorize(actor, Operation::GrantCaseAccess, Some(case))
            .await?;
        let now = self.clock.now();
        let entry = Entry::new(EntryKind::CaseAccessRevoked, now, actor.label())
            .request(case)
            .detail(json!({ "person": person }))
            .encode()?;
        let n = self
            .store
            .revoke_case_grants(case, person, &actor.label(), now, &entry)
            .await?;
        if n == 0 {
            return Err(NodeError::NotFound(format!(
                "{person} holds no grant of case {case} to revoke"
            )));
        }
        Ok(n)
    }

    /// The grants of a case, revoked or not (operation `read-case` on it).
    pub async fn case_grants(
        &self,
        actor: &Actor,
        case: &str,
    ) -> Result<Vec<CaseGrantView>, NodeError> {
        self.authorize(actor, Operation::ReadCase, Some(case))
            .await?;
        let now = self.clock.now();
        Ok(self
            .store
            .case_grants(case)
            .await?
            .into_iter()
            .map(|g| CaseGrantView::of(g, now))
            .collect())
    }

    /// Whether `person` holds a grant of `case` in force now.
    pub(crate) async fn holds_grant(&self, person: &str, case: &str) -> Result<bool, NodeError> {
        let now = self.clock.now();
        Ok(self
            .store
            .case_grants(case)
            .await?
            .iter()
            .any(|g| g.person == person && g.in_force(now)))
    }
}
