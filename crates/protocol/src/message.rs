//! Messages between nodes, version 1: the kinds, their bodies, the message
//! itself and the checks on its contents.
//!
//! A message is the JSON object
//! `{"v":1,"kind":…,"from":…,"to":…,"created_at":…,"thread":…,"prev":…,"body":{…}}`.
//! Its id is the content id of its RFC 8785 bytes, so the struct has no id
//! field. The body is kept as JSON in the message (it is what was signed) and
//! read into its kind's typed form, [`Body`], by [`Message::body`] and the
//! checks. Conversions from the model (request drafts, refusals) are explicit:
//! the signed refusal is a wire type of its own, read strictly, converted to
//! and from the model's `Refusal`.

use std::fmt;
use std::str::FromStr;

use custos_model::refusal::{Ground, Refusal};
use custos_model::validate::Severity;
use custos_model::{Decision, StateCode};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::case_bodies::{
    self, AskConsentBody, ConfirmPreservationBody, ConsultBody, CorrespondenceBody,
    DeletionReportBody, ExecuteBody, ExtendBody, FollowUpBody, GrantConsentBody, PostponeBody,
    ReasonsBody, RefuseConsentBody, StatusBody, StatusQueryBody, text_not_null,
};
use crate::error::ProtocolError;
use crate::ids::{MessageId, check_thread_id};
use crate::json::{self, PROTOCOL_VERSION, ReadError};
use crate::timestamp;

const PAYLOAD_TYPE_PREFIX: &str = "application/vnd.custos.message.";
const PAYLOAD_TYPE_SUFFIX: &str = "+json";

/// The kinds of message in a request's thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageKind {
    Submit,
    Acknowledge,
    RequestInfo,
    ProvideInfo,
    Consult,
    Postpone,
    Refuse,
    Execute,
    Deliver,
    Extend,
    Withdraw,
    Close,
    ConditionsAccepted,
    ConditionsDeclined,
    ConfirmPreservation,
    DeclineExtension,
    ExecutePartly,
    FollowUp,
    StatusQuery,
    Status,
    Correspondence,
    // issue 18: use limits and onward-transfer consent
    AskConsent,
    GrantConsent,
    RefuseConsent,
    // issue 18: retention
    DeletionReport,
}

impl MessageKind {
    /// Every kind, in the order of the documentation.
    pub const ALL: [MessageKind; 25] = [
        MessageKind::Submit,
        MessageKind::Acknowledge,
        MessageKind::RequestInfo,
        MessageKind::ProvideInfo,
        MessageKind::Consult,
        MessageKind::Postpone,
        MessageKind::Refuse,
        MessageKind::Execute,
        MessageKind::Deliver,
        MessageKind::Extend,
        MessageKind::Withdraw,
        MessageKind::Close,
        MessageKind::ConditionsAccepted,
        MessageKind::ConditionsDeclined,
        MessageKind::ConfirmPreservation,
        MessageKind::DeclineExtension,
        MessageKind::ExecutePartly,
        MessageKind::FollowUp,
        MessageKind::StatusQuery,
        MessageKind::Status,
        MessageKind::Correspondence,
        // issue 18: use limits and onward-transfer consent
        MessageKind::AskConsent,
        MessageKind::GrantConsent,
        MessageKind::RefuseConsent,
        // issue 18: retention
        MessageKind::DeletionReport,
    ];

    /// The stable wire name, such as `request-info`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Submit => "submit",
            MessageKind::Acknowledge => "acknowledge",
            MessageKind::RequestInfo => "request-info",
            MessageKind::ProvideInfo => "provide-info",
            MessageKind::Consult => "consult",
            MessageKind::Postpone => "postpone",
            MessageKind::Refuse => "refuse",
            MessageKind::Execute => "execute",
            MessageKind::Deliver => "deliver",
            MessageKind::Extend => "extend",
            MessageKind::Withdraw => "withdraw",
            MessageKind::Close => "close",
            MessageKind::ConditionsAccepted => "conditions-accepted",
            MessageKind::ConditionsDeclined => "conditions-declined",
            MessageKind::ConfirmPreservation => "confirm-preservation",
            MessageKind::DeclineExtension => "decline-extension",
            MessageKind::ExecutePartly => "execute-partly",
            MessageKind::FollowUp => "follow-up",
            MessageKind::StatusQuery => "status-query",
            MessageKind::Status => "status",
            MessageKind::Correspondence => "correspondence",
            MessageKind::AskConsent => "ask-consent",
            MessageKind::GrantConsent => "grant-consent",
            MessageKind::RefuseConsent => "refuse-consent",
            MessageKind::DeletionReport => "deletion-report",
        }
    }

    /// The DSSE payload type of version 1 messages of this kind:
    /// `application/vnd.custos.message.<kind>.v1+json`.
    pub fn payload_type(self) -> &'static str {
        match self {
            MessageKind::Submit => "application/vnd.custos.message.submit.v1+json",
            MessageKind::Acknowledge => "application/vnd.custos.message.acknowledge.v1+json",
            MessageKind::RequestInfo => "application/vnd.custos.message.request-info.v1+json",
            MessageKind::ProvideInfo => "application/vnd.custos.message.provide-info.v1+json",
            MessageKind::Consult => "application/vnd.custos.message.consult.v1+json",
            MessageKind::Postpone => "application/vnd.custos.message.postpone.v1+json",
            MessageKind::Refuse => "application/vnd.custos.message.refuse.v1+json",
            MessageKind::Execute => "application/vnd.custos.message.execute.v1+json",
            MessageKind::Deliver => "application/vnd.custos.message.deliver.v1+json",
            MessageKind::Extend => "application/vnd.custos.message.extend.v1+json",
            MessageKind::Withdraw => "application/vnd.custos.message.withdraw.v1+json",
            MessageKind::Close => "application/vnd.custos.message.close.v1+json",
            MessageKind::ConditionsAccepted => {
                "application/vnd.custos.message.conditions-accepted.v1+json"
            }
            MessageKind::ConditionsDeclined => {
                "application/vnd.custos.message.conditions-declined.v1+json"
            }
            MessageKind::ConfirmPreservation => {
                "application/vnd.custos.message.confirm-preservation.v1+json"
            }
            MessageKind::DeclineExtension => {
                "application/vnd.custos.message.decline-extension.v1+json"
            }
            MessageKind::ExecutePartly => "application/vnd.custos.message.execute-partly.v1+json",
            MessageKind::FollowUp => "application/vnd.custos.message.follow-up.v1+json",
            MessageKind::StatusQuery => "application/vnd.custos.message.status-query.v1+json",
            MessageKind::Status => "application/vnd.custos.message.status.v1+json",
            MessageKind::Correspondence => "application/vnd.custos.message.correspondence.v1+json",
            MessageKind::AskConsent => "application/vnd.custos.message.ask-consent.v1+json",
            MessageKind::GrantConsent => "application/vnd.custos.message.grant-consent.v1+json",
            MessageKind::RefuseConsent => "application/vnd.custos.message.refuse-consent.v1+json",
            MessageKind::DeletionReport => "application/vnd.custos.message.deletion-report.v1+json",
        }
    }

    /// The kind a payload type names. A known kind with another version
    /// (`….submit.v2+json`) is an unsupported version; anything else is an
    /// unknown payload type.
    pub fn from_payload_type(payload_type: &str) -> Result<Self, ProtocolError> {
        if let Some(kind) = Self::ALL
            .into_iter()
            .find(|k| k.payload_type() == payload_type)
        {
            return Ok(kind);
        }
        let other_version = payload_type
            .strip_prefix(PAYLOAD_TYPE_PREFIX)
            .and_then(|rest| rest.strip_suffix(PAYLOAD_TYPE_SUFFIX))
            .and_then(|rest| rest.rsplit_once(".v"))
            .filter(|(kind, version)| {
                kind.parse::<MessageKind>().is_ok()
                    && !version.is_empty()
                    && version.bytes().all(|b| b.is_ascii_digit())
            });
        match other_version {
            Some((_, version)) => Err(ProtocolError::UnsupportedVersion {
                what: format!("payload type {payload_type:?}"),
                found: version.to_owned(),
            }),
            None => Err(ProtocolError::UnknownPayloadType {
                payload_type: payload_type.to_owned(),
            }),
        }
    }

    /// The decision this kind carries, whose contents the model's decision
    /// catalogue checks (`custos_model::validate::check_decision`): every
    /// kind but `submit` (a request draft), `deliver` (evidence), `status`
    /// (the answering node's derived state) and `deletion-report` (the
    /// node's purge).
    pub fn decision(self) -> Option<Decision> {
        Some(match self {
            MessageKind::Submit
            | MessageKind::Deliver
            | MessageKind::Status
            | MessageKind::DeletionReport => return None,
            MessageKind::Acknowledge => Decision::Acknowledge,
            MessageKind::RequestInfo => Decision::RequestInfo,
            MessageKind::ProvideInfo => Decision::ProvideInfo,
            MessageKind::Consult => Decision::Consult,
            MessageKind::Postpone => Decision::Postpone,
            MessageKind::Refuse => Decision::Refuse,
            MessageKind::Execute => Decision::ExecuteWholly,
            MessageKind::ExecutePartly => Decision::ExecutePartly,
            MessageKind::Extend => Decision::ExtendPreservation,
            MessageKind::Withdraw => Decision::Withdraw,
            MessageKind::Close => Decision::Close,
            MessageKind::ConditionsAccepted => Decision::AcceptConditions,
            MessageKind::ConditionsDeclined => Decision::DeclineConditions,
            MessageKind::ConfirmPreservation => Decision::ConfirmPreservation,
            MessageKind::DeclineExtension => Decision::DeclineExtension,
            MessageKind::FollowUp => Decision::AnnounceFollowUp,
            MessageKind::StatusQuery => Decision::AskStatus,
            MessageKind::Correspondence => Decision::Correspond,
            MessageKind::AskConsent => Decision::AskConsent,
            MessageKind::GrantConsent => Decision::GrantConsent,
            MessageKind::RefuseConsent => Decision::RefuseConsent,
        })
    }

    /// Whether the body of this kind is a free-text note only (`{}` or
    /// `{"note": …}`); the other kinds have bodies of their own ([`Body`]).
    pub fn carries_note(self) -> bool {
        matches!(
            self,
            MessageKind::Acknowledge
                | MessageKind::RequestInfo
                | MessageKind::ProvideInfo
                | MessageKind::Deliver
                | MessageKind::Withdraw
                | MessageKind::Close
                | MessageKind::ConditionsAccepted
                | MessageKind::ConditionsDeclined
                | MessageKind::StatusQuery
        )
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names no message kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a message kind")]
pub struct UnknownKind(pub String);

impl FromStr for MessageKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// Body of a `submit`: the request draft, which must validate and name the
/// sender as requesting State and the receiver as requested State.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    pub draft: Value,
}

/// Body of the kinds that carry an optional note (`{}` or `{"note": "…"}`;
/// an absent note is left out, never written as `null`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub note: Option<String>,
}

/// Body of a `refuse`: the refusal decision and an optional note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WireRefuseBody", into = "WireRefuseBody")]
pub struct RefuseBody {
    pub refusal: Refusal,
    pub note: Option<String>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRefuseBody {
    refusal: WireRefusal,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    note: Option<String>,
}

/// The refusal as it is signed; read strictly, unlike the model's own type.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRefusal {
    grounds: Vec<Ground>,
    reasons: String,
    consulted: bool,
}

impl From<WireRefuseBody> for RefuseBody {
    fn from(w: WireRefuseBody) -> Self {
        Self {
            refusal: Refusal {
                grounds: w.refusal.grounds,
                reasons: w.refusal.reasons,
                consulted: w.refusal.consulted,
            },
            note: w.note,
        }
    }
}

impl From<RefuseBody> for WireRefuseBody {
    fn from(b: RefuseBody) -> Self {
        Self {
            refusal: WireRefusal {
                grounds: b.refusal.grounds,
                reasons: b.refusal.reasons,
                consulted: b.refusal.consulted,
            },
            note: b.note,
        }
    }
}

/// A message body read into the typed form of its kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Submit(SubmitBody),
    Refuse(RefuseBody),
    Consult(ConsultBody),
    Postpone(PostponeBody),
    ConfirmPreservation(ConfirmPreservationBody),
    Extend(ExtendBody),
    /// A `decline-extension`.
    DeclineExtension(ReasonsBody),
    /// An `execute` or an `execute-partly`.
    Execute(ExecuteBody),
    FollowUp(FollowUpBody),
    Status(StatusBody),
    /// A `status-query`: a note, and whether it is an escalation.
    StatusQuery(StatusQueryBody),
    Correspondence(CorrespondenceBody),
    // issue 18: use limits and onward-transfer consent
    AskConsent(AskConsentBody),
    GrantConsent(GrantConsentBody),
    RefuseConsent(RefuseConsentBody),
    // issue 18: retention
    DeletionReport(DeletionReportBody),
    /// The body of every kind that carries a note only
    /// ([`MessageKind::carries_note`]).
    Note(NoteBody),
}

impl Body {
    /// Reads the body of a message of `kind`. Unknown members and values of
    /// the wrong type are refused.
    pub fn parse(kind: MessageKind, value: &Value) -> Result<Self, ProtocolError> {
        fn read<'a, T: Deserialize<'a>>(
            value: &'a Value,
            wrap: fn(T) -> Body,
        ) -> Result<Body, serde_json::Error> {
            T::deserialize(value).map(wrap)
        }
        let read = match kind {
            MessageKind::Submit => read(value, Body::Submit),
            MessageKind::Refuse => read(value, Body::Refuse),
            MessageKind::Consult => read(value, Body::Consult),
            MessageKind::Postpone => read(value, Body::Postpone),
            MessageKind::ConfirmPreservation => read(value, Body::ConfirmPreservation),
            MessageKind::Extend => read(value, Body::Extend),
            MessageKind::DeclineExtension => read(value, Body::DeclineExtension),
            MessageKind::Execute | MessageKind::ExecutePartly => read(value, Body::Execute),
            MessageKind::FollowUp => read(value, Body::FollowUp),
            MessageKind::Status => read(value, Body::Status),
            MessageKind::StatusQuery => read(value, Body::StatusQuery),
            MessageKind::Correspondence => read(value, Body::Correspondence),
            MessageKind::AskConsent => read(value, Body::AskConsent),
            MessageKind::GrantConsent => read(value, Body::GrantConsent),
            MessageKind::RefuseConsent => read(value, Body::RefuseConsent),
            MessageKind::DeletionReport => read(value, Body::DeletionReport),
            MessageKind::Acknowledge
            | MessageKind::RequestInfo
            | MessageKind::ProvideInfo
            | MessageKind::Deliver
            | MessageKind::Withdraw
            | MessageKind::Close
            | MessageKind::ConditionsAccepted
            | MessageKind::ConditionsDeclined => read(value, Body::Note),
        };
        read.map_err(|e| ProtocolError::InvalidBody {
            kind,
            problems: e.to_string(),
        })
    }

    /// The JSON value of the body.
    pub fn to_value(&self) -> Value {
        // These bodies hold only JSON values, text, numbers, booleans, dates
        // as text and the refusal grounds' codes, all of which serde_json
        // represents; the fallback (an empty body) is unreachable.
        match self {
            Body::Submit(b) => serde_json::to_value(b),
            Body::Refuse(b) => serde_json::to_value(b),
            Body::Consult(b) => serde_json::to_value(b),
            Body::Postpone(b) => serde_json::to_value(b),
            Body::ConfirmPreservation(b) => serde_json::to_value(b),
            Body::Extend(b) => serde_json::to_value(b),
            Body::DeclineExtension(b) => serde_json::to_value(b),
            Body::Execute(b) => serde_json::to_value(b),
            Body::FollowUp(b) => serde_json::to_value(b),
            Body::Status(b) => serde_json::to_value(b),
            Body::StatusQuery(b) => serde_json::to_value(b),
            Body::Correspondence(b) => serde_json::to_value(b),
            Body::AskConsent(b) => serde_json::to_value(b),
            Body::GrantConsent(b) => serde_json::to_value(b),
            Body::RefuseConsent(b) => serde_json::to_value(b),
            Body::DeletionReport(b) => serde_json::to_value(b),
            Body::Note(b) => serde_json::to_value(b),
        }
        .unwrap_or_else(|_| Value::Object(serde_json::Map::new()))
    }
}

/// One message of a request's thread, version 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Protocol version: [`PROTOCOL_VERSION`].
    pub v: u32,
    pub kind: MessageKind,
    /// The sending State.
    pub from: StateCode,
    /// The receiving State.
    pub to: StateCode,
    /// When the sender made the message. On the wire: UTC text with
    /// microseconds; anything finer is dropped when the message is encoded.
    #[serde(with = "timestamp::micros")]
    pub created_at: OffsetDateTime,
    /// The request's thread id, `thr-<uuid>`.
    pub thread: String,
    /// The previous message in the thread; `None` only for `submit`.
    #[serde(deserialize_with = "required_option")]
    pub prev: Option<MessageId>,
    /// The body, whose members depend on `kind` (see [`Body`]).
    pub body: Value,
}

/// An `Option` member that must be present (as `null` or a value).
fn required_option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

impl Message {
    /// A version 1 message; `created_at` is cut to whole microseconds in UTC,
    /// as it will read back from the wire.
    pub fn new(
        kind: MessageKind,
        from: StateCode,
        to: StateCode,
        thread: impl Into<String>,
        prev: Option<MessageId>,
        created_at: OffsetDateTime,
        body: Value,
    ) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            kind,
            from,
            to,
            created_at: timestamp::truncate(created_at),
            thread: thread.into(),
            prev,
            body,
        }
    }

    /// A `submit` carrying a request draft. A submit opens its thread, so
    /// `prev` must be `None` for the message to be sealed and accepted.
    pub fn submit(
        from: StateCode,
        to: StateCode,
        thread: impl Into<String>,
        prev: Option<MessageId>,
        created_at: OffsetDateTime,
        draft: Value,
    ) -> Self {
        let body = Body::Submit(SubmitBody { draft }).to_value();
        Self::new(
            MessageKind::Submit,
            from,
            to,
            thread,
            prev,
            created_at,
            body,
        )
    }

    /// A `refuse` carrying the refusal decision.
    pub fn refuse(
        from: StateCode,
        to: StateCode,
        thread: impl Into<String>,
        prev: MessageId,
        created_at: OffsetDateTime,
        refusal: Refusal,
        note: Option<String>,
    ) -> Self {
        let body = Body::Refuse(RefuseBody { refusal, note }).to_value();
        Self::new(
            MessageKind::Refuse,
            from,
            to,
            thread,
            Some(prev),
            created_at,
            body,
        )
    }

    /// A message of one of the note-carrying kinds
    /// ([`MessageKind::carries_note`]).
    pub fn with_note(
        kind: MessageKind,
        from: StateCode,
        to: StateCode,
        thread: impl Into<String>,
        prev: MessageId,
        created_at: OffsetDateTime,
        note: Option<String>,
    ) -> Result<Self, ProtocolError> {
        if !kind.carries_note() {
            return Err(ProtocolError::InvalidBody {
                kind,
                problems: format!("a `{kind}` body is not a note"),
            });
        }
        let body = Body::Note(NoteBody { note }).to_value();
        Ok(Self::new(
            kind,
            from,
            to,
            thread,
            Some(prev),
            created_at,
            body,
        ))
    }

    /// The body read into the typed form of the message's kind.
    pub fn body(&self) -> Result<Body, ProtocolError> {
        Body::parse(self.kind, &self.body)
    }

    /// The request draft of a `submit`, if this is one and carries a draft.
    pub fn draft(&self) -> Option<&Value> {
        match self.kind {
            MessageKind::Submit => self.body.get("draft"),
            _ => None,
        }
    }

    /// The RFC 8785 bytes that are signed and whose hash is the id.
    pub fn to_canonical_json(&self) -> Result<Vec<u8>, ProtocolError> {
        json::canonical("message", self)
    }

    /// The message id: `sha256:` and the hex SHA-256 of the canonical bytes.
    pub fn id(&self) -> Result<MessageId, ProtocolError> {
        Ok(MessageId::of_payload(&self.to_canonical_json()?))
    }

    /// Reads a message from JSON (for instance one taken from a store):
    /// version first, then the members and their forms. The body's contents
    /// are not checked here ([`validate_message`] does that).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let message: Message = json::read_versioned(bytes, diagnose).map_err(|e| match e {
            ReadError::Version(found) => ProtocolError::UnsupportedVersion {
                what: "message".to_owned(),
                found,
            },
            ReadError::Shape(detail) => ProtocolError::MalformedMessage { detail },
        })?;
        check_thread_id(&message.thread).map_err(|e| ProtocolError::MalformedMessage {
            detail: format!("field `thread`: {e}"),
        })?;
        Ok(message)
    }
}

fn diagnose(object: &serde_json::Map<String, Value>) -> Option<String> {
    json::field::<MessageKind>(object, "kind")
        .or_else(|| json::field::<StateCode>(object, "from"))
        .or_else(|| json::field::<StateCode>(object, "to"))
        .or_else(|| json::field_by(object, "created_at", json::timestamp))
        .or_else(|| json::field::<String>(object, "thread"))
        .or_else(|| json::field::<Option<MessageId>>(object, "prev"))
}

/// Checks that the body's contents are acceptable for its kind: no unknown
/// members; a `submit` draft validates with the model (warnings allowed) and
/// names the sender and receiver as requesting and requested States; a
/// refusal passes `Refusal::check` within the model's check of its
/// decision, and so does every other case action's body (`custos_model::validate::check_decision`,
/// the one a node runs on its own actions: required contents given, texts
/// not blank, package and thread ids of their form, grounds and packages
/// each once; warnings allowed); a status answer names a known state.
pub fn validate_body(message: &Message) -> Result<(), ProtocolError> {
    // A submission's body is `{"draft": …}` and nothing else: read in place,
    // its draft (the bulk of the message) is not copied to be checked. Any
    // other shape goes through `Body::parse`, which names what is wrong.
    if let Some(draft) = submitted_draft(message) {
        return problems_to_result(message, draft_problems(draft, message.from, message.to));
    }
    let body = message.body()?;
    let mut problems = match &body {
        Body::Submit(body) => draft_problems(&body.draft, message.from, message.to),
        Body::Status(b) => case_bodies::status_problems(b),
        _ => Vec::new(),
    };
    if let Some(decision) = message.kind.decision() {
        let (report, _) = custos_model::validate::check_decision(decision, &message.body);
        for issue in report.issues {
            let line = issue.to_string();
            if issue.severity == Severity::Error && !problems.contains(&line) {
                problems.push(line);
            }
        }
    }
    problems_to_result(message, problems)
}

/// The draft of a `submit` whose body has the draft as its only member.
fn submitted_draft(message: &Message) -> Option<&Value> {
    let body = message.body.as_object()?;
    if message.kind != MessageKind::Submit || body.len() != 1 {
        return None;
    }
    body.get("draft")
}

fn problems_to_result(message: &Message, problems: Vec<String>) -> Result<(), ProtocolError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ProtocolError::InvalidBody {
            kind: message.kind,
            problems: problems.join("; "),
        })
    }
}

fn draft_problems(draft: &Value, from: StateCode, to: StateCode) -> Vec<String> {
    draft_problems_from(&custos_model::validate::validate(draft), draft, from, to)
}

/// [`validate_message`] for a `submit` whose draft the caller has just
/// validated with the model: `report` is `custos_model::validate::validate`
/// of this message's own draft, so the draft is not validated a second
/// time. Every other check runs as in [`validate_message`], and so does
/// the comparison of the draft's States with the message's.
pub fn validate_submission(
    message: &Message,
    report: &custos_model::validate::Report,
) -> Result<(), ProtocolError> {
    check_header(message)?;
    check_thread_link(message)?;
    match submitted_draft(message) {
        Some(draft) => problems_to_result(
            message,
            draft_problems_from(report, draft, message.from, message.to),
        ),
        None => validate_body(message),
    }
}

fn draft_problems_from(
    report: &custos_model::validate::Report,
    draft: &Value,
    from: StateCode,
    to: StateCode,
) -> Vec<String> {
    let mut problems: Vec<String> = report
        .issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .map(|i| format!("draft: {i}"))
        .collect();
    for (field, want, role) in [
        ("requesting_state", from, "sender"),
        ("requested_state", to, "receiver"),
    ] {
        match draft.get(field).and_then(Value::as_str) {
            Some(s) if s == want.as_str() => {}
            Some(s) => problems.push(format!(
                "draft: {field} is {s:?}, but the message's {role} is {want}"
            )),
            None => problems.push(format!(
                "draft: {field} is missing; it must be the message's {role}, {want}"
            )),
        }
    }
    problems
}

/// Checks `prev` against the kind: a `submit` opens a thread and has no
/// previous message; every other kind names one.
pub fn check_thread_link(message: &Message) -> Result<(), ProtocolError> {
    match (message.kind, &message.prev) {
        (MessageKind::Submit, Some(prev)) => Err(ProtocolError::OutOfOrder {
            detail: format!(
                "a `submit` opens thread {} and must have `prev` null, found {prev}",
                message.thread
            ),
        }),
        (kind, None) if kind != MessageKind::Submit => Err(ProtocolError::OutOfOrder {
            detail: format!(
                "a `{kind}` message continues thread {} and must name the previous message",
                message.thread
            ),
        }),
        _ => Ok(()),
    }
}

/// Checks the message's own fields: version 1, a well-formed thread id, two
/// different States.
pub(crate) fn check_header(message: &Message) -> Result<(), ProtocolError> {
    if message.v != PROTOCOL_VERSION {
        return Err(ProtocolError::UnsupportedVersion {
            what: "message".to_owned(),
            found: message.v.to_string(),
        });
    }
    check_thread_id(&message.thread).map_err(|e| ProtocolError::MalformedMessage {
        detail: format!("field `thread`: {e}"),
    })?;
    if message.from == message.to {
        return Err(ProtocolError::MalformedMessage {
            detail: format!(
                "fields `from` and `to` both name {}; a message goes between two States",
                message.from
            ),
        });
    }
    Ok(())
}

/// Every check a message must pass before it is sealed or after it is
/// opened: version 1, a well-formed thread id, two different States, `prev`
/// fitting the kind, and a valid body.
pub fn validate_message(message: &Message) -> Result<(), ProtocolError> {
    check_header(message)?;
    check_thread_link(message)?;
    validate_body(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_types_name_kind_and_version() {
        for kind in MessageKind::ALL {
            let pt = kind.payload_type();
            assert_eq!(
                pt,
                format!(
                    "{PAYLOAD_TYPE_PREFIX}{}.v1{PAYLOAD_TYPE_SUFFIX}",
                    kind.as_str()
                )
            );
            assert_eq!(MessageKind::from_payload_type(pt), Ok(kind));
            assert_eq!(kind.as_str().parse(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                Value::String(kind.as_str().into())
            );
        }
    }

    #[test]
    fn other_versions_and_unknown_kinds_are_told_apart() {
        let v2 =
            MessageKind::from_payload_type("application/vnd.custos.message.request-info.v2+json");
        assert!(
            matches!(&v2, Err(ProtocolError::UnsupportedVersion { found, .. }) if found == "2"),
            "{v2:?}"
        );
        for pt in [
            "application/vnd.custos.message.frobnicate.v1+json",
            "application/vnd.custos.receipt.v1+json",
            "application/vnd.custos.message.submit.vx+json",
            "",
        ] {
            assert!(
                matches!(
                    MessageKind::from_payload_type(pt),
                    Err(ProtocolError::UnknownPayloadType { .. })
                ),
                "{pt}"
            );
        }
    }

    #[test]
    fn note_bodies_refuse_unknown_fields_and_null() {
        let ok = Body::parse(MessageKind::Close, &serde_json::json!({"note": "done"})).unwrap();
        assert_eq!(
            ok,
            Body::Note(NoteBody {
                note: Some("done".into())
            })
        );
        assert_eq!(
            Body::parse(MessageKind::Close, &serde_json::json!({})).unwrap(),
            Body::Note(NoteBody::default())
        );
        for bad in [
            serde_json::json!({"nota": "x"}),
            serde_json::json!({"note": null}),
        ] {
            let err = Body::parse(MessageKind::Close, &bad).unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::InvalidBody, "{bad}");
        }
    }

    /// A message of `kind` with `body`, France to Germany.
    fn case_message(kind: MessageKind, body: Value) -> Message {
        Message::new(
            kind,
            "FR".parse().unwrap(),
            "DE".parse().unwrap(),
            crate::new_thread_id(uuid::Uuid::nil()),
            None,
            OffsetDateTime::UNIX_EPOCH,
            body,
        )
    }

    #[test]
    fn case_bodies_are_checked_by_the_models_decision_catalogue() {
        let package = format!("sha256:{}", "ab".repeat(32));
        for (kind, body, codes) in [
            (
                MessageKind::Consult,
                serde_json::json!({"conditions": [" "]}),
                vec!["wrong-type conditions[0]"],
            ),
            (
                MessageKind::Consult,
                serde_json::json!({"conditions": []}),
                vec!["missing-required conditions [Art. 40]"],
            ),
            (
                MessageKind::Execute,
                serde_json::json!({"evidence": [package, package, "pkg-1"]}),
                vec!["listed-twice evidence[1]", "invalid-package-id evidence[2]"],
            ),
            (
                MessageKind::FollowUp,
                serde_json::json!({"request": "thr-1"}),
                vec!["invalid-thread-id request"],
            ),
            (
                MessageKind::Refuse,
                serde_json::json!({"refusal": {"grounds": ["fiscal"], "reasons": "Tax.", "consulted": true}}),
                vec!["excluded-grounds-only refusal.grounds [Art. 40]"],
            ),
            (
                MessageKind::DeclineExtension,
                serde_json::json!({"reasons": ""}),
                vec!["missing-required reasons [Art. 42]"],
            ),
        ] {
            let err = validate_body(&case_message(kind, body)).unwrap_err();
            let ProtocolError::InvalidBody { problems, .. } = &err else {
                panic!("{kind}: {err}");
            };
            for code in &codes {
                assert!(problems.contains(code), "{kind}: {code} not in {problems}");
            }
            assert_eq!(
                problems.matches("error ").count(),
                codes.len(),
                "{problems}"
            );
        }
        // Recommended items missing are warnings: the message is accepted.
        validate_body(&case_message(
            MessageKind::RequestInfo,
            serde_json::json!({}),
        ))
        .unwrap();
        let empty = serde_json::json!({"evidence": []});
        validate_body(&case_message(MessageKind::ExecutePartly, empty)).unwrap();
    }
}
