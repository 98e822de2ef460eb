//! The message kind that carries each action, and the kinds this crate
//! proposes beyond the protocol's version 1 list.
//!
//! One kind per action, each with a versioned payload type
//! `application/vnd.custos.message.<kind>.v1+json`. Kinds marked
//! `in_protocol` exist in `custos-protocol` today (some of them gain body
//! members the case reads); the others are proposed here and documented in
//! `docs/formats/messages.md` §11, for the protocol to take up.

use crate::action::{ActedBy, Action};

/// The message kind of one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageKindSpec {
    pub action: Action,
    /// The wire name of the kind.
    pub kind: &'static str,
    /// `application/vnd.custos.message.<kind>.v1+json`.
    pub payload_type: &'static str,
    /// Whether protocol version 1 already has this kind.
    pub in_protocol: bool,
    /// The body members, in the documentation's words.
    pub body: &'static str,
    /// What the case derivation reads of the body.
    pub reads: &'static str,
}

const fn spec(
    action: Action,
    kind: &'static str,
    payload_type: &'static str,
    in_protocol: bool,
    body: &'static str,
    reads: &'static str,
) -> MessageKindSpec {
    MessageKindSpec {
        action,
        kind,
        payload_type,
        in_protocol,
        body,
        reads,
    }
}

/// Every action's message kind, in the order of [`Action::ALL`].
pub const MESSAGE_KINDS: [MessageKindSpec; 24] = [
    spec(
        Action::Submit,
        "submit",
        "application/vnd.custos.message.submit.v1+json",
        true,
        r#"`{"draft": …}` (§3)"#,
        "the draft's `kind`, `urgency` and `deadline` (`date`, `reasons`)",
    ),
    spec(
        Action::Acknowledge,
        "acknowledge",
        "application/vnd.custos.message.acknowledge.v1+json",
        true,
        "note",
        "nothing",
    ),
    spec(
        Action::RequestInfo,
        "request-info",
        "application/vnd.custos.message.request-info.v1+json",
        true,
        "note (the questions)",
        "nothing",
    ),
    spec(
        Action::ProvideInfo,
        "provide-info",
        "application/vnd.custos.message.provide-info.v1+json",
        true,
        "note (the answer)",
        "nothing",
    ),
    spec(
        Action::Consult,
        "consult",
        "application/vnd.custos.message.consult.v1+json",
        true,
        r#"`{"conditions": [text, …], "note"?: text}`"#,
        "`conditions`: at least one, none blank",
    ),
    spec(
        Action::AcceptConditions,
        "conditions-accepted",
        "application/vnd.custos.message.conditions-accepted.v1+json",
        false,
        "note",
        "nothing",
    ),
    spec(
        Action::DeclineConditions,
        "conditions-declined",
        "application/vnd.custos.message.conditions-declined.v1+json",
        false,
        "note",
        "nothing",
    ),
    spec(
        Action::Postpone,
        "postpone",
        "application/vnd.custos.message.postpone.v1+json",
        true,
        r#"`{"reasons": text, "until"?: date, "note"?: text}`"#,
        "`reasons` (not blank), `until`",
    ),
    spec(
        Action::Refuse,
        "refuse",
        "application/vnd.custos.message.refuse.v1+json",
        true,
        r#"`{"refusal": {…}, "note"?: text}` (§3)"#,
        "`grounds` and `reasons`; whether a consultation came first is read from the thread, not from `consulted`",
    ),
    spec(
        Action::ConfirmPreservation,
        "confirm-preservation",
        "application/vnd.custos.message.confirm-preservation.v1+json",
        false,
        r#"`{"took_effect": date, "days": number, "note"?: text}`"#,
        "`took_effect` and `days`",
    ),
    spec(
        Action::ExtendPreservation,
        "extend",
        "application/vnd.custos.message.extend.v1+json",
        true,
        r#"`{"until": date, "note"?: text}`"#,
        "`until`, after the current end",
    ),
    spec(
        Action::DeclineExtension,
        "decline-extension",
        "application/vnd.custos.message.decline-extension.v1+json",
        false,
        r#"`{"reasons": text, "note"?: text}`"#,
        "`reasons` (not blank)",
    ),
    spec(
        Action::ExecutePartly,
        "execute-partly",
        "application/vnd.custos.message.execute-partly.v1+json",
        false,
        r#"`{"evidence": [package id, …], "note"?: text, "use_conditions"?: [text, …], "confidential"?: {…}, "personal_data"?: {…}}`"#,
        "`evidence`",
    ),
    spec(
        Action::ExecuteWholly,
        "execute",
        "application/vnd.custos.message.execute.v1+json",
        true,
        r#"`{"evidence": [package id, …], "note"?: text, "use_conditions"?: [text, …], "confidential"?: {…}, "personal_data"?: {…}}`"#,
        "`evidence`",
    ),
    spec(
        Action::AnnounceFollowUp,
        "follow-up",
        "application/vnd.custos.message.follow-up.v1+json",
        false,
        r#"`{"request": thread id, "note"?: text}`"#,
        "`request` (not blank)",
    ),
    spec(
        Action::Withdraw,
        "withdraw",
        "application/vnd.custos.message.withdraw.v1+json",
        true,
        "note",
        "nothing",
    ),
    spec(
        Action::AskStatus,
        "status-query",
        "application/vnd.custos.message.status-query.v1+json",
        false,
        "`{\"note\"?: text, \"escalation\"?: true}`",
        "nothing (`escalation` is read by intake, not by the case)",
    ),
    spec(
        Action::AnswerStatus,
        "status",
        "application/vnd.custos.message.status.v1+json",
        false,
        r#"`{"state": state, "note"?: text}`"#,
        "nothing (the answer comes from the derived state)",
    ),
    spec(
        Action::Close,
        "close",
        "application/vnd.custos.message.close.v1+json",
        true,
        "note",
        "nothing",
    ),
    spec(
        Action::Correspond,
        "correspondence",
        "application/vnd.custos.message.correspondence.v1+json",
        false,
        r#"`{"text": text}`"#,
        "nothing",
    ),
    // issue 18: use limits and onward-transfer consent
    spec(
        Action::AskConsent,
        "ask-consent",
        "application/vnd.custos.message.ask-consent.v1+json",
        false,
        r#"`{"evidence": [package id, …], "for_case"?: thread id, "onward_to"?: State, "reasons": text, "note"?: text}` (exactly one of `for_case`, `onward_to`; an empty `evidence` asks for the answers given)"#,
        "`evidence` (packages linked by the case's executions), the use (`for_case` or `onward_to`), `reasons` (not blank)",
    ),
    spec(
        Action::GrantConsent,
        "grant-consent",
        "application/vnd.custos.message.grant-consent.v1+json",
        false,
        r#"`{"ask": message id, "conditions"?: [text, …], "note"?: text}`"#,
        "`ask` (a pending ask-consent of the case), `conditions`",
    ),
    spec(
        Action::RefuseConsent,
        "refuse-consent",
        "application/vnd.custos.message.refuse-consent.v1+json",
        false,
        r#"`{"ask": message id, "reasons": text, "note"?: text}`"#,
        "`ask` (a pending ask-consent of the case), `reasons` (not blank)",
    ),
    // issue 18: retention
    spec(
        Action::ReportDeletion,
        "deletion-report",
        "application/vnd.custos.message.deletion-report.v1+json",
        false,
        r#"`{"deleted_at": time, "entry": "sha256:…"}`"#,
        "nothing (the receiving node shows the other State's deletion)",
    ),
];

/// The message kind that carries `action`.
pub fn message_kind(action: Action) -> &'static MessageKindSpec {
    // The table lists one kind per action in the order in which the actions
    // are declared (a test checks it), so the discriminant is the index.
    &MESSAGE_KINDS[action as usize]
}

/// The table of §11 of `docs/formats/messages.md` (a test keeps the
/// document current).
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| Action | Side | Kind | Payload type | Body | The case reads |\n|---|---|---|---|---|---|\n",
    );
    for spec in &MESSAGE_KINDS {
        let side = match spec.action.acted_by() {
            ActedBy::Only(side) => side.as_str(),
            ActedBy::Either => "either",
        };
        let proposed = if spec.in_protocol {
            ""
        } else {
            " (*proposed*)"
        };
        out.push_str(&format!(
            "| {} | {side} | `{}`{proposed} | `{}` | {} | {} |\n",
            spec.action, spec.kind, spec.payload_type, spec.body, spec.reads
        ));
    }
    out
}

/// The kinds this crate proposes beyond protocol version 1.
pub fn proposed_kinds() -> impl Iterator<Item = &'static MessageKindSpec> {
    MESSAGE_KINDS.iter().filter(|s| !s.in_protocol)
}

/// The action a wire kind carries, if it is a case action's kind. The
/// protocol's `deliver` is not one: evidence reaches the case through the
/// package ids an execution lists.
pub fn action_of_kind(kind: &str) -> Option<Action> {
    MESSAGE_KINDS
        .iter()
        .find(|s| s.kind == kind)
        .map(|s| s.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_kind_per_action_in_the_order_of_the_actions() {
        for (spec, action) in MESSAGE_KINDS.iter().zip(Action::ALL) {
            assert_eq!(spec.action, action);
            assert_eq!(message_kind(action), spec);
            assert_eq!(
                spec.payload_type,
                format!("application/vnd.custos.message.{}.v1+json", spec.kind)
            );
            assert_eq!(action_of_kind(spec.kind), Some(action));
        }
        let mut kinds: Vec<_> = MESSAGE_KINDS.iter().map(|s| s.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(
            kinds.len(),
            MESSAGE_KINDS.len(),
            "a kind carries two actions"
        );
    }

    #[test]
    fn the_proposed_kinds() {
        let names: Vec<_> = proposed_kinds().map(|s| s.kind).collect();
        assert_eq!(
            names,
            [
                "conditions-accepted",
                "conditions-declined",
                "confirm-preservation",
                "decline-extension",
                "execute-partly",
                "follow-up",
                "status-query",
                "status",
                "correspondence",
                "ask-consent",
                "grant-consent",
                "refuse-consent",
                "deletion-report"
            ]
        );
        assert_eq!(action_of_kind("deliver"), None);
    }
}
