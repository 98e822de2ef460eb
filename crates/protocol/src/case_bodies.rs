//! The bodies of the case-action kinds that carry more than a note:
//! consultation conditions, a postponement's reasons, a preservation's dates,
//! the evidence an execution links, a follow-up request, a status answer and
//! correspondence (`docs/formats/messages.md` §3 and §11).
//!
//! Every body is read strictly: unknown members, `null` where a value is
//! expected and values of the wrong form are refused. The contents a
//! well-formed body must still have (text that is not blank, package and
//! thread ids of the right form) are checked by the model's decision
//! catalogue (`custos_model::validate::check_decision`, called from
//! `validate_body`), the rule a node applies to its own actions; a status
//! answer's state name is checked here. What depends on the case itself (a
//! prior consultation, an extension later than the current end) is for the
//! case derivation, not this crate.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::Date;
use time::macros::format_description;

/// Body of a `consult`: the conditions under which assistance could be
/// given, and an optional note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsultBody {
    pub conditions: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub note: Option<String>,
}

/// Body of a `postpone`: the reasons, until when if known, and a note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostponeBody {
    pub reasons: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "date_opt_out",
        deserialize_with = "date_not_null"
    )]
    pub until: Option<Date>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub note: Option<String>,
}

/// Body of a `confirm-preservation`: the date the preservation took effect
/// and the days it is kept for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmPreservationBody {
    #[serde(with = "date_text")]
    pub took_effect: Date,
    pub days: u32,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub note: Option<String>,
}

/// Body of an `extend`: the preservation now ends at the start of `until`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    #[serde(with = "date_text")]
    pub until: Date,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub note: Option<String>,
}

/// Body of a `decline-extension`: the reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonsBody {
    pub reasons: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub note: Option<String>,
}

/// Body of an `execute` or `execute-partly`: the ids of the evidence
/// packages sent with this execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteBody {
    pub evidence: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub note: Option<String>,
    /// Conditions on the use of what is provided, besides the case it
    /// answers and the purpose stated in the request (issue 18; absent in
    /// older messages, left out when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub use_conditions: Vec<String>,
    /// Issue 18: the providing State marks what it sends confidential; on
    /// the requesting node the case is then shown only to the people
    /// assigned to it. Absent in older messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidential: Option<Confidential>,
    /// Issue 18: the conditions the providing State attaches to the
    /// personal data it sends. Absent in older messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_data: Option<PersonalData>,
}

/// Confidentiality the providing State asks for what it sends (an answer,
/// an evidence package): whether it must stay confidential and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confidential {
    pub required: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub reasons: Option<String>,
}

/// The conditions the providing State attaches to the personal data it
/// sends: which categories of personal data, the conditions of their use
/// and keeping, and the date by which they are to be deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalData {
    /// The categories of personal data (`subscriber data`, `traffic data`).
    #[serde(default)]
    pub categories: Vec<String>,
    /// The conditions attached to them.
    #[serde(default)]
    pub conditions: Vec<String>,
    /// Delete by this date (YYYY-MM-DD).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "date_opt_out",
        deserialize_with = "date_not_null"
    )]
    pub delete_by: Option<Date>,
}

/// Body of an `ask-consent`: the packages to be used (an empty list: the
/// answers given), the intended use (exactly one of `for_case` and
/// `onward_to`, which the decision catalogue checks) and the reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskConsentBody {
    pub evidence: Vec<String>,
    /// Another case of the asking State (its thread id).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub for_case: Option<String>,
    /// A third State to send it on to (its code).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub onward_to: Option<String>,
    pub reasons: String,
    /// The material is exculpatory: the use needs no consent, and this
    /// ask is the notice given before it (left out when false, so asks
    /// made before the field existed read and hash as they did).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exculpatory: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub note: Option<String>,
}

/// Body of a `grant-consent`: the ask answered (its message id) and the
/// conditions of the consent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantConsentBody {
    pub ask: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub note: Option<String>,
}

/// Body of a `refuse-consent`: the ask answered and the reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefuseConsentBody {
    pub ask: String,
    pub reasons: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub note: Option<String>,
}

/// Body of a `follow-up`: the thread id of the follow-up request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpBody {
    pub request: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub note: Option<String>,
}

/// Body of a `status`: the state the answering node derived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub state: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub note: Option<String>,
}

/// Body of a `status-query`: an optional note and, when the query is an
/// escalation (sent by the requesting node's scheduler because an emergency
/// request's acknowledgement target passed), `"escalation": true`. The
/// member is left out when false, so a plain query's body is a note's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusQueryBody {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_not_null"
    )]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub escalation: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Body of a `correspondence`: its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrespondenceBody {
    pub text: String,
}

/// Body of a `deletion-report` (issue 18): the sending node deleted its
/// copy of the case's content when its retention ended. It carries only
/// when, and the content id of the sender's `content-deleted` ledger entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletionReportBody {
    #[serde(with = "crate::timestamp::micros")]
    pub deleted_at: time::OffsetDateTime,
    /// `sha256:<hex>` of the sender's `content-deleted` ledger entry.
    pub entry: String,
}

/// The state names a `status` may give (those of `custos-case`'s `State`,
/// repeated here so that this crate stays free of it; a test in the node
/// keeps the two lists equal).
pub const STATE_NAMES: [&str; 14] = [
    "new",
    "submitted",
    "acknowledged",
    "awaiting-information",
    "consulting",
    "conditions-accepted",
    "conditions-declined",
    "postponed",
    "preserved",
    "partly-executed",
    "executed",
    "refused",
    "withdrawn",
    "closed",
];

/// An optional text member that, when present, must be text (not `null`).
pub(crate) fn text_not_null<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

fn date_not_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Date>, D::Error> {
    date_text::deserialize(deserializer).map(Some)
}

fn date_opt_out<S: Serializer>(date: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
    match date {
        Some(d) => date_text::serialize(d, serializer),
        None => serializer.serialize_none(),
    }
}

/// A date as `YYYY-MM-DD` text.
mod date_text {
    use super::*;

    pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        let text = date
            .format(format_description!("[year]-[month]-[day]"))
            .map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let text = String::deserialize(deserializer)?;
        Date::parse(&text, format_description!("[year]-[month]-[day]")).map_err(|e| {
            serde::de::Error::custom(format!("{text:?} is not a date (YYYY-MM-DD): {e}"))
        })
    }
}

/// The problems of a status answer: it names a known state.
pub(crate) fn status_problems(b: &StatusBody) -> Vec<String> {
    if STATE_NAMES.contains(&b.state.as_str()) {
        Vec::new()
    } else {
        vec![format!("state: {:?} is not a case state", b.state)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::date;

    #[test]
    fn dates_are_text_and_read_strictly() {
        let b = PostponeBody {
            reasons: "trial".into(),
            until: Some(date!(2027 - 01 - 31)),
            note: None,
        };
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v, json!({"reasons": "trial", "until": "2027-01-31"}));
        assert_eq!(serde_json::from_value::<PostponeBody>(v).unwrap(), b);
        for bad in [
            json!({"reasons": "x", "until": null}),
            json!({"reasons": "x", "until": "31/01/2027"}),
            json!({"reasons": "x", "extra": 1}),
            json!({"until": "2027-01-31"}),
        ] {
            assert!(
                serde_json::from_value::<PostponeBody>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_status_answer_names_a_known_state() {
        let status = StatusBody {
            state: "sleeping".into(),
            note: None,
        };
        assert_eq!(status_problems(&status).len(), 1);
        let status = StatusBody {
            state: "consulting".into(),
            note: None,
        };
        assert!(status_problems(&status).is_empty());
    }
}
