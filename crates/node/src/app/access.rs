//! Who may do what: the roles people hold on a node and the one table that
//! says, for every operation of the application layer, what each role may do.
//!
//! The table ([`MATRIX`]) is data: one row per [`Operation`], one [`Grant`]
//! per [`Role`] in the order of [`Role::ALL`], so a row that forgets a role
//! does not compile, and a test fails when an operation has no row. Every
//! operation of [`crate::Node`] that a person performs asks
//! [`crate::Node::authorize`] before doing anything; no face decides.

use std::fmt;
use std::str::FromStr;

use custos_case::Action;
use serde::{Deserialize, Serialize};

/// A role a person holds on this node. A person may hold several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// The 24/7 point of contact: receives and answers urgent requests,
    /// preservations and emergencies at any hour.
    DutyOfficer,
    /// A central authority's caseworker: drafts, sends and decides mutual
    /// legal assistance requests.
    Caseworker,
    /// The authority that executes a request: gathers and sends evidence.
    ExecutingAuthority,
    /// The data-protection officer: oversees personal data and the access
    /// record.
    DataProtectionOfficer,
    /// An auditor: sees decisions and the access record; sees a case's
    /// content only when granted it for that case.
    Auditor,
    /// The node's administrator: users, rota, directory, keys.
    Administrator,
}

impl Role {
    /// Every role, in the order of a [`MATRIX`] row's grants.
    pub const ALL: [Role; 6] = [
        Role::DutyOfficer,
        Role::Caseworker,
        Role::ExecutingAuthority,
        Role::DataProtectionOfficer,
        Role::Auditor,
        Role::Administrator,
    ];

    /// The role's name as written in the CLI, the API and the record.
    pub fn name(self) -> &'static str {
        match self {
            Role::DutyOfficer => "duty-officer",
            Role::Caseworker => "caseworker",
            Role::ExecutingAuthority => "executing-authority",
            Role::DataProtectionOfficer => "data-protection-officer",
            Role::Auditor => "auditor",
            Role::Administrator => "administrator",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Role::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: the roles are {roles}", roles = Role::ALL.map(Role::name).join(", "))]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A set of roles, as a person holds them or a token is scoped to them.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Roles(u8);

impl Roles {
    /// No role at all.
    pub const NONE: Roles = Roles(0);

    /// Every role (the CLI's operator, who runs with the node's files).
    pub fn all() -> Roles {
        Role::ALL.into_iter().collect()
    }

    pub fn contains(self, role: Role) -> bool {
        self.0 & (1 << role.index()) != 0
    }

    pub fn insert(&mut self, role: Role) {
        self.0 |= 1 << role.index();
    }

    pub fn remove(&mut self, role: Role) {
        self.0 &= !(1 << role.index());
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles held in both sets (a token's scope within its user's roles).
    pub fn intersection(self, other: Roles) -> Roles {
        Roles(self.0 & other.0)
    }

    /// Whether every role of `self` is also in `other`.
    pub fn is_subset(self, other: Roles) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    /// The names, comma-separated (`duty-officer,auditor`), as stored.
    pub fn names(self) -> String {
        self.iter().map(Role::name).collect::<Vec<_>>().join(",")
    }

    /// Parses [`Roles::names`]' form; an empty string is no role.
    pub fn parse_names(s: &str) -> Result<Roles, UnknownRole> {
        s.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(Role::from_str)
            .collect()
    }
}

impl FromIterator<Role> for Roles {
    fn from_iter<I: IntoIterator<Item = Role>>(iter: I) -> Self {
        let mut roles = Roles::NONE;
        for r in iter {
            roles.insert(r);
        }
        roles
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Roles {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Roles {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Role>::deserialize(d)?.into_iter().collect())
    }
}

/// What a role may do with an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grant {
    /// The role may perform it.
    Allowed,
    /// The role may perform it on a case it was granted
    /// ([`Operation::GrantCaseAccess`]), and on nothing else.
    WhenGrantedTheCase,
    /// The role may not.
    Refused,
}

/// Every operation of the application layer that a person performs, as the
/// access table and the record of who did what name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    // -- Requests and cases.
    /// List requests or cases (metadata: kind, counterpart, state, clocks).
    ListCases,
    /// Read a request or case with its content and timeline.
    ReadCase,
    /// Save a request draft.
    SaveDraft,
    /// Validate a draft or decision (no record is read).
    ValidateDraft,
    /// Send a new request to another State.
    SendRequest,
    /// Take an action on a case (acknowledge, refuse, execute, ...); the
    /// case's first step, submitting it, is [`Operation::SendRequest`].
    Act(Action),
    /// Grant an auditor a case's content.
    GrantCaseAccess,
    // -- Evidence.
    /// List evidence packages and their verification status.
    ListEvidence,
    SealEvidence,
    SendEvidence,
    VerifyEvidence,
    /// Decrypt a package and write its files out of the node's custody
    /// (logged as opened and as exported).
    OpenEvidence,
    /// Export the node's decryption identity for standard tools: it opens
    /// every package ever sent to this node.
    ExportIdentity,
    // -- The custody ledger.
    /// Read ledger entries, checkpoints and proofs.
    ReadLedger,
    /// Verify the ledger (quick or deep) and witness peers.
    VerifyLedger,
    // -- The directory and the node's keys.
    ReadDirectory,
    ImportDirectory,
    ReadKeys,
    RotateKeys,
    RevokeKey,
    // -- Delivery.
    /// The outbox, held messages and refused peer messages.
    ReadOutbox,
    // -- People.
    ListUsers,
    /// Add, disable, enable a user, change roles, reset a second factor.
    ManageUsers,
    /// Create, list and revoke one's own API tokens.
    ManageOwnTokens,
    /// List and revoke anyone's API tokens.
    ManageAllTokens,
    // -- The record of who saw what.
    ReadAudit,
    // -- Rota and alerts.
    ReadRota,
    ManageRota,
    ReadAlerts,
    AcknowledgeAlert,
    // -- Oversight.
    /// Statistics without case content.
    ReadStatistics,
    /// The `/metrics` counters (the monitoring scope).
    ReadMetrics,
    // issue 18: confidentiality and personal-data conditions
    /// Assign a person to a case, end an assignment, list a case's
    /// assignments.
    AssignCase,
    /// Export or print a case's content out of the node, with a recorded
    /// reason.
    ExportCase,
    /// List the personal data a case holds, its conditions and its
    /// deletion date.
    ListPersonalData,
    // issue 18: oversight statistics
    /// The oversight statistics report: counts and response times of a
    /// period, without case content or identifiers, small counts
    /// suppressed.
    ReadOversightStatistics,
    // issue 18: retention
    /// Set a case's retention (a period or a date) with a reason.
    SetRetention,
    /// Place or lift a legal hold on a case, with a reason.
    LegalHold,
    /// Delete the content of the cases whose retention ended, now (the
    /// scheduler does it on its own; this is the operator's command).
    PurgeContent,
    // -- Running the node.
    /// Write a backup of the node (its database, files and, when asked,
    /// its keys encrypted) to a file.
    BackUp,
    // issue 19: the desk
    /// Choose one's own language at the desk.
    SetOwnLanguage,
}

use Grant::{Allowed as A, Refused as R, WhenGrantedTheCase as G};

/// The access table: one row per operation, its grants in the order of
/// [`Role::ALL`]: duty officer, caseworker, executing authority,
/// data-protection officer, auditor, administrator.
pub static MATRIX: &[(Operation, [Grant; 6])] = &[
    //                                       duty cwk  exec dpo  aud  admin
    (Operation::ListCases, [A, A, A, A, A, R]),
    (Operation::ReadCase, [A, A, A, A, G, R]),
    (Operation::SaveDraft, [A, A, R, R, R, R]),
    (Operation::ValidateDraft, [A, A, A, A, A, A]),
    (Operation::SendRequest, [A, A, R, R, R, R]),
    (Operation::Act(Action::Acknowledge), [A, A, A, R, R, R]),
    (Operation::Act(Action::RequestInfo), [A, A, A, R, R, R]),
    (Operation::Act(Action::ProvideInfo), [A, A, R, R, R, R]),
    (Operation::Act(Action::Consult), [R, A, R, R, R, R]),
    (Operation::Act(Action::AcceptConditions), [R, A, R, R, R, R]),
    (
        Operation::Act(Action::DeclineConditions),
        [R, A, R, R, R, R],
    ),
    (Operation::Act(Action::Postpone), [R, A, A, R, R, R]),
    (Operation::Act(Action::Refuse), [R, A, R, R, R, R]),
    (
        Operation::Act(Action::ConfirmPreservation),
        [A, A, A, R, R, R],
    ),
    (
        Operation::Act(Action::ExtendPreservation),
        [A, A, A, R, R, R],
    ),
    (Operation::Act(Action::DeclineExtension), [R, A, R, R, R, R]),
    (Operation::Act(Action::ExecutePartly), [A, A, A, R, R, R]),
    (Operation::Act(Action::ExecuteWholly), [A, A, A, R, R, R]),
    (Operation::Act(Action::AnnounceFollowUp), [A, A, R, R, R, R]),
    (Operation::Act(Action::Withdraw), [R, A, R, R, R, R]),
    (Operation::Act(Action::AskStatus), [A, A, A, R, R, R]),
    (Operation::Act(Action::AnswerStatus), [A, A, A, R, R, R]),
    (Operation::Act(Action::Close), [A, A, R, R, R, R]),
    (Operation::Act(Action::Correspond), [A, A, A, R, R, R]),
    (Operation::GrantCaseAccess, [R, R, R, A, R, A]),
    (Operation::ListEvidence, [A, A, A, A, A, R]),
    (Operation::SealEvidence, [A, A, A, R, R, R]),
    (Operation::SendEvidence, [A, A, A, R, R, R]),
    (Operation::VerifyEvidence, [A, A, A, A, A, R]),
    (Operation::OpenEvidence, [A, A, A, R, G, R]),
    (Operation::ExportIdentity, [R, R, R, R, R, A]),
    (Operation::ReadLedger, [A, A, A, A, A, A]),
    (Operation::VerifyLedger, [A, A, A, A, A, A]),
    (Operation::ReadDirectory, [A, A, A, A, A, A]),
    (Operation::ImportDirectory, [R, R, R, R, R, A]),
    (Operation::ReadKeys, [A, A, A, A, A, A]),
    (Operation::RotateKeys, [R, R, R, R, R, A]),
    (Operation::RevokeKey, [R, R, R, R, R, A]),
    (Operation::ReadOutbox, [A, A, A, R, A, A]),
    (Operation::ListUsers, [A, R, R, A, A, A]),
    (Operation::ManageUsers, [R, R, R, R, R, A]),
    (Operation::ManageOwnTokens, [A, A, A, A, A, A]),
    (Operation::ManageAllTokens, [R, R, R, R, R, A]),
    (Operation::ReadAudit, [R, R, R, A, A, R]),
    (Operation::ReadRota, [A, A, A, A, A, A]),
    (Operation::ManageRota, [R, R, R, R, R, A]),
    (Operation::ReadAlerts, [A, A, A, R, A, A]),
    (Operation::AcknowledgeAlert, [A, A, A, R, R, A]),
    (Operation::ReadStatistics, [A, A, A, A, A, A]),
    (Operation::ReadMetrics, [R, R, R, R, R, A]),
    // issue 18: use limits and onward-transfer consent. Consent is the
    // central authority's decision, like a refusal.
    (Operation::Act(Action::AskConsent), [R, A, R, R, R, R]),
    (Operation::Act(Action::GrantConsent), [R, A, R, R, R, R]),
    (Operation::Act(Action::RefuseConsent), [R, A, R, R, R, R]),
    // issue 18: confidentiality and personal-data conditions
    // Assigning is staffing a case: the duty officer, who receives and
    // triages requests at any hour, and the administrator; not a
    // caseworker, who could otherwise assign themselves a confidential case.
    (Operation::AssignCase, [A, R, R, R, R, A]),
    // Exporting is reading and taking out: those who read a case's content
    // and act on it; the DPO and the auditor read on screen.
    (Operation::ExportCase, [A, A, A, R, R, R]),
    // The data-protection officer's oversight; an auditor only on a case
    // granted to them; the administrator runs the node, not its cases.
    (Operation::ListPersonalData, [R, R, R, A, G, R]),
    // issue 18: oversight statistics. Those who account for the node's
    // cooperation: the caseworker (the central authority, which reports
    // to the Conference of the States Parties), the data-protection officer
    // and the auditor (oversight), the administrator (who publishes it).
    // Not the duty officer or the executing authority, whose work is the
    // cases themselves. The report holds no case content.
    (Operation::ReadOversightStatistics, [R, A, R, A, A, A]),
    // issue 18: retention
    (Operation::SetRetention, [R, A, R, A, R, R]),
    // The node's purge reports its deletions (as the scheduler); no person.
    (Operation::Act(Action::ReportDeletion), [R, R, R, R, R, R]),
    (Operation::LegalHold, [R, A, R, A, R, R]),
    (Operation::PurgeContent, [R, R, R, R, R, A]),
    (Operation::BackUp, [R, R, R, R, R, A]),
    // issue 19: the desk. Everyone chooses their own language.
    (Operation::SetOwnLanguage, [A, A, A, A, A, A]),
];

/// Every operation, each exactly once (the rows [`MATRIX`] must have).
pub fn operations() -> Vec<Operation> {
    let mut all = vec![
        Operation::ListCases,
        Operation::ReadCase,
        Operation::SaveDraft,
        Operation::ValidateDraft,
        Operation::SendRequest,
    ];
    // Submitting is sending a request (`SendRequest`), not a case action.
    all.extend(
        Action::ALL
            .into_iter()
            .filter(|a| *a != Action::Submit)
            .map(Operation::Act),
    );
    all.extend([
        Operation::GrantCaseAccess,
        Operation::ListEvidence,
        Operation::SealEvidence,
        Operation::SendEvidence,
        Operation::VerifyEvidence,
        Operation::OpenEvidence,
        Operation::ExportIdentity,
        Operation::ReadLedger,
        Operation::VerifyLedger,
        Operation::ReadDirectory,
        Operation::ImportDirectory,
        Operation::ReadKeys,
        Operation::RotateKeys,
        Operation::RevokeKey,
        Operation::ReadOutbox,
        Operation::ListUsers,
        Operation::ManageUsers,
        Operation::ManageOwnTokens,
        Operation::ManageAllTokens,
        Operation::ReadAudit,
        Operation::ReadRota,
        Operation::ManageRota,
        Operation::ReadAlerts,
        Operation::AcknowledgeAlert,
        Operation::ReadStatistics,
        Operation::ReadMetrics,
        // issue 18: confidentiality and personal-data conditions
        Operation::AssignCase,
        Operation::ExportCase,
        Operation::ListPersonalData,
        // issue 18: oversight statistics
        Operation::ReadOversightStatistics,
        // issue 18: retention
        Operation::SetRetention,
        Operation::LegalHold,
        Operation::PurgeContent,
        Operation::BackUp,
        // issue 19: the desk
        Operation::SetOwnLanguage,
    ]);
    all
}

/// Compile-time reminder: a new operation must be added to [`operations`]
/// (and so to [`MATRIX`], which the tests check against it).
#[allow(dead_code)]
fn every_operation_is_listed(op: Operation) {
    match op {
        Operation::ListCases
        | Operation::ReadCase
        | Operation::SaveDraft
        | Operation::ValidateDraft
        | Operation::SendRequest
        | Operation::Act(_)
        | Operation::GrantCaseAccess
        | Operation::ListEvidence
        | Operation::SealEvidence
        | Operation::SendEvidence
        | Operation::VerifyEvidence
        | Operation::OpenEvidence
        | Operation::ExportIdentity
        | Operation::ReadLedger
        | Operation::VerifyLedger
        | Operation::ReadDirectory
        | Operation::ImportDirectory
        | Operation::ReadKeys
        | Operation::RotateKeys
        | Operation::RevokeKey
        | Operation::ReadOutbox
        | Operation::ListUsers
        | Operation::ManageUsers
        | Operation::ManageOwnTokens
        | Operation::ManageAllTokens
        | Operation::ReadAudit
        | Operation::ReadRota
        | Operation::ManageRota
        | Operation::ReadAlerts
        | Operation::AcknowledgeAlert
        | Operation::ReadStatistics
        | Operation::ReadMetrics
        // issue 18: confidentiality and personal-data conditions
        | Operation::AssignCase
        | Operation::ExportCase
        | Operation::ListPersonalData => {}
        // issue 18: oversight statistics
        | Operation::ReadOversightStatistics => {}
        // issue 18: retention
        | Operation::SetRetention
        | Operation::LegalHold
        | Operation::PurgeContent => {}
        Operation::BackUp => {}
        // issue 19: the desk
        Operation::SetOwnLanguage => {}
    }
}

impl Operation {
    /// The operation's name in the record and in refusals
    /// (`read-case`, `act:refuse`).
    pub fn name(self) -> String {
        match self {
            Operation::Act(action) => format!("act:{}", action.as_str()),
            other => serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }

    /// Whether this operation only reads (recorded as a read) rather than
    /// changes something (recorded as an action).
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Operation::ListCases
                | Operation::ReadCase
                | Operation::ListEvidence
                | Operation::VerifyEvidence
                | Operation::ReadLedger
                | Operation::VerifyLedger
                | Operation::ReadDirectory
                | Operation::ReadKeys
                | Operation::ReadOutbox
                | Operation::ListUsers
                | Operation::ReadAudit
                | Operation::ReadRota
                | Operation::ReadAlerts
                | Operation::ReadStatistics
                | Operation::ReadMetrics
                | Operation::OpenEvidence
                | Operation::ExportIdentity
                // issue 18: confidentiality and personal-data conditions
                | Operation::ExportCase
                | Operation::ListPersonalData
                // issue 18: oversight statistics
                | Operation::ReadOversightStatistics
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// What `role` may do with `op`, from [`MATRIX`].
pub fn grant(role: Role, op: Operation) -> Grant {
    MATRIX
        .iter()
        .find(|(o, _)| *o == op)
        .map_or(Grant::Refused, |(_, grants)| grants[role.index()])
}

/// The widest grant any of `roles` has for `op`: [`Grant::Allowed`] if one
/// role is allowed, else [`Grant::WhenGrantedTheCase`] if one role is, else
/// [`Grant::Refused`].
pub fn grant_for(roles: Roles, op: Operation) -> Grant {
    let mut best = Grant::Refused;
    for role in roles.iter() {
        match grant(role, op) {
            Grant::Allowed => return Grant::Allowed,
            Grant::WhenGrantedTheCase => best = Grant::WhenGrantedTheCase,
            Grant::Refused => {}
        }
    }
    best
}

impl crate::Node {
    /// Whether `actor` may perform `op` (on the case `case`, when the
    /// operation concerns one); the one check every operation a person
    /// performs makes before it does anything. The CLI's operator, who runs
    /// with the node's files, and the node's own scheduler may do
    /// everything; a peer State performs no operation of this layer (its
    /// messages go through intake); a person acts with the roles the actor
    /// carries.
    pub async fn authorize(
        &self,
        actor: &super::Actor,
        op: Operation,
        case: Option<&str>,
    ) -> Result<(), crate::NodeError> {
        let verdict = self.verdict(actor, op, case).await?;
        // The scheduler performs no person's operation; every other
        // decision is recorded, refusals with their reason.
        if !matches!(actor, super::Actor::Scheduler) {
            self.record_decision(actor, &op.name(), case, refusal_reason(&verdict))
                .await?;
        }
        verdict
    }

    /// [`Node::authorize`] of one operation on each of several cases, as a
    /// listing that reads many cases decides: each case's verdict in the
    /// order given, every decision recorded (refusals with their reason)
    /// in one transaction rather than one each.
    pub(crate) async fn authorize_cases(
        &self,
        actor: &super::Actor,
        op: Operation,
        cases: &[&str],
    ) -> Result<Vec<Result<(), crate::NodeError>>, crate::NodeError> {
        let mut verdicts = Vec::with_capacity(cases.len());
        for case in cases {
            verdicts.push(self.verdict(actor, op, Some(case)).await?);
        }
        if !matches!(actor, super::Actor::Scheduler) {
            let decisions: Vec<(&str, Option<&str>)> = cases
                .iter()
                .zip(&verdicts)
                .map(|(case, verdict)| (*case, refusal_reason(verdict)))
                .collect();
            self.record_decisions(actor, &op.name(), &decisions).await?;
        }
        Ok(verdicts)
    }

    /// [`Node::authorize`] for an action that records a ledger entry of its
    /// own: a refusal is recorded at once, as always; an allowance is
    /// returned as the record to write in the action's own transaction,
    /// naming the action's entry (`None` for the scheduler, which is not
    /// recorded). The action then costs one transaction and one entry, not
    /// two of each.
    pub(crate) async fn authorize_action(
        &self,
        actor: &super::Actor,
        op: Operation,
        case: Option<&str>,
    ) -> Result<Option<super::audit::AllowedAction>, crate::NodeError> {
        let verdict = self.verdict(actor, op, case).await?;
        if matches!(actor, super::Actor::Scheduler) {
            return verdict.map(|()| None);
        }
        match verdict {
            Ok(()) => Ok(Some(super::audit::AllowedAction::new(actor, op, case))),
            Err(refused) => {
                if let crate::NodeError::Forbidden { reason, .. } = &refused {
                    self.record_decision(actor, &op.name(), case, Some(reason))
                        .await?;
                }
                Err(refused)
            }
        }
    }

    /// Whether `actor` may perform `op` on `case`: the outer error is a
    /// failure to find out, the inner one the refusal.
    async fn verdict(
        &self,
        actor: &super::Actor,
        op: Operation,
        case: Option<&str>,
    ) -> Result<Result<(), crate::NodeError>, crate::NodeError> {
        let refusal = match decide(actor, op) {
            Grant::Allowed => None,
            Grant::WhenGrantedTheCase => {
                let granted = match (actor.person(), case) {
                    (Some(person), Some(case)) => self.holds_grant(person, case).await?,
                    _ => false,
                };
                (!granted).then_some("only on a case granted to them")
            }
            Grant::Refused => Some("none of the roles held allows it"),
        };
        // issue 18: a confidential case is only for the people assigned.
        let refusal = match (refusal, case) {
            (None, Some(case)) if self.hidden_case(actor, op, case).await? => {
                Some(super::assignments::CONFIDENTIAL_NOT_ASSIGNED)
            }
            (refusal, _) => refusal,
        };
        Ok(match refusal {
            None => Ok(()),
            Some(reason) => Err(forbidden(actor, op, reason)),
        })
    }
}

/// The reason a verdict of the access check refused, recorded with it.
fn refusal_reason(verdict: &Result<(), crate::NodeError>) -> Option<&str> {
    match verdict {
        Err(crate::NodeError::Forbidden { reason, .. }) => Some(reason.as_str()),
        _ => None,
    }
}

/// The grant an actor has for an operation, before any case is considered.
pub fn decide(actor: &super::Actor, op: Operation) -> Grant {
    use super::Actor;
    match actor {
        Actor::Cli { .. } | Actor::Scheduler => Grant::Allowed,
        Actor::Peer(_) => Grant::Refused,
        Actor::Api { roles, .. } | Actor::Desk { roles, .. } => grant_for(*roles, op),
    }
}

/// The typed refusal of `op` to `actor`.
pub fn forbidden(actor: &super::Actor, op: Operation, reason: &str) -> crate::NodeError {
    let roles = match actor {
        super::Actor::Api { roles, .. } | super::Actor::Desk { roles, .. } => roles.names(),
        _ => String::new(),
    };
    let held = if roles.is_empty() {
        "no role".to_owned()
    } else {
        format!("roles held: {roles}")
    };
    crate::NodeError::Forbidden {
        actor: actor.label(),
        operation: op.name(),
        reason: format!("{reason} ({held})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_exactly_one_row_with_a_decision_for_every_role() {
        let ops = operations();
        for op in &ops {
            let rows = MATRIX.iter().filter(|(o, _)| o == op).count();
            assert_eq!(rows, 1, "{op} has {rows} rows in the access table");
        }
        assert_eq!(
            MATRIX.len(),
            ops.len(),
            "the access table has a row for an operation that operations() does not list"
        );
        let mut names: Vec<String> = ops.iter().map(|o| o.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ops.len(), "two operations share a name");
        assert!(names.iter().all(|n| !n.is_empty()));
    }

    #[test]
    fn roles_parse_and_print_by_name_and_sets_combine() {
        for role in Role::ALL {
            assert_eq!(role.name().parse::<Role>(), Ok(role));
        }
        assert!("judge".parse::<Role>().is_err());
        let held = Roles::parse_names("duty-officer, auditor").expect("names");
        assert_eq!(held.names(), "duty-officer,auditor");
        assert!(Roles::parse_names("").expect("empty").is_empty());
        let scope: Roles = [Role::Auditor].into_iter().collect();
        assert!(scope.is_subset(held));
        assert!(!held.is_subset(scope));
        assert_eq!(held.intersection(scope), scope);
        assert_eq!(Roles::all().iter().count(), 6);
        let json = serde_json::to_string(&held).expect("json");
        assert_eq!(json, r#"["duty-officer","auditor"]"#);
        let back: Roles = serde_json::from_str(&json).expect("back");
        assert_eq!(back, held);
    }

    #[test]
    fn the_widest_grant_of_a_persons_roles_decides() {
        let auditor: Roles = [Role::Auditor].into_iter().collect();
        assert_eq!(
            grant_for(auditor, Operation::ReadCase),
            Grant::WhenGrantedTheCase
        );
        assert_eq!(
            grant_for(auditor, Operation::Act(Action::Refuse)),
            Grant::Refused
        );
        let both: Roles = [Role::Auditor, Role::Caseworker].into_iter().collect();
        assert_eq!(grant_for(both, Operation::ReadCase), Grant::Allowed);
        assert_eq!(grant_for(Roles::NONE, Operation::ReadRota), Grant::Refused);
        // The administrator runs the node, not its cases.
        let admin: Roles = [Role::Administrator].into_iter().collect();
        assert_eq!(grant_for(admin, Operation::ReadCase), Grant::Refused);
        assert_eq!(grant_for(admin, Operation::ManageUsers), Grant::Allowed);
    }
}
