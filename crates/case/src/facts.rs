//! What the accepted events have established besides the state: the
//! request's kind and urgency, whether the requested State consulted, the
//! preservation and its end, the evidence linked, the pauses for more
//! information. The table's guards and the contents checks read these; each
//! accepted event updates them.

use custos_model::clock::preservation_earliest_end;
use custos_model::refusal::{Ground, Refusal};
use custos_model::validate::Issue;
use time::{Date, Duration, OffsetDateTime, Time};

use crate::action::{Act, ConsentUse, Submission};
use crate::code::RefusalCode;
use crate::state::State;
use crate::table::Guard;

/// The request, as its `submit` gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestFacts {
    pub submission: Submission,
    pub submitted_at: OffsetDateTime,
}

/// A confirmed preservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preservation {
    /// The date the preservation took effect.
    pub took_effect: Date,
    /// The days the requested State said it preserves for.
    pub days: u32,
    /// The day it ends (at 00:00 UTC): at least the Convention's minimum
    /// after it took effect, later once extended.
    pub ends: Date,
    pub extended: bool,
    pub extension_declined: bool,
    /// The follow-up request, once announced: the preservation is held
    /// while it is pending.
    pub follow_up: Option<String>,
}

impl Preservation {
    /// The instant the preservation ends.
    pub fn ends_at(&self) -> OffsetDateTime {
        midnight(self.ends)
    }

    /// Whether the preservation is in force at `at`.
    pub fn in_force_at(&self, at: OffsetDateTime) -> bool {
        self.follow_up.is_some() || at < self.ends_at()
    }
}

/// The start of a day, in UTC.
pub(crate) fn midnight(date: Date) -> OffsetDateTime {
    date.with_time(Time::MIDNIGHT).assume_utc()
}

/// Postponement, as last stated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Postponement {
    pub reasons: String,
    pub until: Option<Date>,
}

/// How the providing State answered an ask for consent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsentAnswer {
    /// Granted by the message `id`, with these conditions.
    Granted { id: String, conditions: Vec<String> },
    /// Refused by the message `id`, with these reasons.
    Refused { id: String, reasons: String },
}

/// An ask for consent to use what was provided beyond its case, and its
/// answer once given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    /// The message id of the `ask-consent`.
    pub ask: String,
    /// The packages it names; empty: the answers given (the executions).
    pub evidence: Vec<String>,
    pub use_for: ConsentUse,
    pub reasons: String,
    /// A notice of exculpatory use: the Convention lets the requesting
    /// State use or send on exculpatory material without consent, telling
    /// the providing State first. It stands as the authority for the use
    /// at once and is answered by no one.
    pub exculpatory: bool,
    pub answer: Option<ConsentAnswer>,
}

impl Consent {
    /// The message a use relying on this ask cites: the grant's, or the
    /// notice's own for exculpatory material; `None` while the ask is
    /// pending or when it was refused.
    pub fn authority(&self) -> Option<&str> {
        if self.exculpatory {
            return Some(&self.ask);
        }
        self.granted().map(|(id, _)| id)
    }

    /// Whether the ask awaits an answer (a notice never does).
    pub fn pending(&self) -> bool {
        !self.exculpatory && self.answer.is_none()
    }

    /// The grant's message id and conditions, when the consent was granted.
    pub fn granted(&self) -> Option<(&str, &[String])> {
        match &self.answer {
            Some(ConsentAnswer::Granted { id, conditions }) => Some((id, conditions)),
            _ => None,
        }
    }

    /// Whether the consent, once granted, covers `package` (or, with
    /// `None`, the answers given) for `use_for`.
    pub fn covers(&self, package: Option<&str>, use_for: &ConsentUse) -> bool {
        self.use_for == *use_for
            && match package {
                Some(p) => self.evidence.iter().any(|e| e == p),
                None => self.evidence.is_empty(),
            }
    }
}

/// The case's facts after the accepted events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub request: Option<RequestFacts>,
    pub acknowledged_at: Option<OffsetDateTime>,
    /// Whether the requested State has consulted the requesting State.
    pub consulted: bool,
    /// The conditions last proposed.
    pub conditions: Vec<String>,
    /// The requesting State's answer to them, once given.
    pub conditions_accepted: Option<bool>,
    pub postponement: Option<Postponement>,
    pub refusal: Option<Refusal>,
    pub preservation: Option<Preservation>,
    /// Evidence package ids linked by executions, in the order first linked.
    pub evidence: Vec<String>,
    /// When the whole request was executed.
    pub executed_at: Option<OffsetDateTime>,
    /// When the request was refused.
    pub refused_at: Option<OffsetDateTime>,
    /// When the case was withdrawn or closed.
    pub over_at: Option<OffsetDateTime>,
    /// Since when more information is awaited, while it is.
    pub paused_since: Option<OffsetDateTime>,
    /// Time spent awaiting information in pauses that have ended.
    pub paused: Duration,
    /// The state to return to once the information comes.
    pub resume_to: Option<State>,
    // issue 18: use limits and onward-transfer consent
    /// Whether the requested State executed the request, in part or whole.
    pub provided: bool,
    /// Every ask for consent, in the order asked, with its answer.
    pub consents: Vec<Consent>,
}

impl Facts {
    /// Whether a guard holds for an event at `at`.
    pub fn holds(&self, guard: Guard, at: OffsetDateTime) -> bool {
        match guard {
            Guard::Consulted => self.consulted,
            Guard::PreservationRequest => self
                .request
                .as_ref()
                .is_some_and(|r| r.submission.kind == custos_model::RequestKind::Preservation),
            Guard::PreservationInForce => self
                .preservation
                .as_ref()
                .is_some_and(|p| p.in_force_at(at)),
            Guard::Provided => self.provided,
            Guard::ConsentAsked => self.consents.iter().any(Consent::pending),
        }
    }

    /// The consent granted, or the notice of exculpatory use given, for
    /// `package` (`None`: the answers given) and `use_for`, if any: the
    /// first, whose [`Consent::authority`] a use cites.
    pub fn consent_for(&self, package: Option<&str>, use_for: &ConsentUse) -> Option<&Consent> {
        self.consents
            .iter()
            .find(|c| c.authority().is_some() && c.covers(package, use_for))
    }

    /// The consents granted, in the order asked.
    pub fn consents_granted(&self) -> impl Iterator<Item = &Consent> {
        self.consents.iter().filter(|c| c.granted().is_some())
    }

    fn pending_ask(&self, ask: &str) -> bool {
        self.consents.iter().any(|c| c.ask == ask && c.pending())
    }

    /// The time spent awaiting information up to `at`, counting a pause
    /// still open.
    pub fn paused_until(&self, at: OffsetDateTime) -> Duration {
        let open = self
            .paused_since
            .map(|since| (at - since).max(Duration::ZERO))
            .unwrap_or(Duration::ZERO);
        self.paused + open
    }

    /// Checks the contents of an action the table allows: the refusal
    /// through the model's own check (with the consultation this case has
    /// seen), reasons, conditions, an extension's date.
    pub fn check_contents(&self, act: &Act) -> Result<(), RefusalCode> {
        let blank = |s: &str| s.trim().is_empty();
        match act {
            Act::Consult { conditions }
                if conditions.is_empty() || conditions.iter().any(|c| blank(c)) =>
            {
                Err(RefusalCode::ConditionsMissing)
            }
            Act::Postpone { reasons, .. } | Act::DeclineExtension { reasons } if blank(reasons) => {
                Err(RefusalCode::ReasonsMissing)
            }
            Act::Refuse { grounds, reasons } => {
                let refusal = Refusal {
                    grounds: grounds.clone(),
                    reasons: reasons.clone(),
                    consulted: self.consulted,
                };
                match refusal.check().first() {
                    Some(issue) => Err(refusal_code(issue, grounds)),
                    None => Ok(()),
                }
            }
            Act::ExtendPreservation { until }
                if self.preservation.as_ref().is_some_and(|p| *until <= p.ends) =>
            {
                Err(RefusalCode::ExtensionNotLater)
            }
            Act::AnnounceFollowUp { request } if blank(request) => {
                Err(RefusalCode::FollowUpMissing)
            }
            Act::AskConsent {
                evidence,
                use_for,
                reasons,
                ..
            } => {
                let target = match use_for {
                    ConsentUse::OtherCase(t) | ConsentUse::OnwardTransfer(t) => t,
                };
                if blank(reasons) || blank(target) {
                    Err(RefusalCode::ConsentIncomplete)
                } else if evidence.iter().any(|e| !self.evidence.contains(e)) {
                    Err(RefusalCode::NothingProvided)
                } else {
                    Ok(())
                }
            }
            Act::GrantConsent { ask, .. } if !self.pending_ask(ask) => {
                Err(RefusalCode::ConsentNotAsked)
            }
            Act::RefuseConsent { ask, .. } if !self.pending_ask(ask) => {
                Err(RefusalCode::ConsentNotAsked)
            }
            Act::RefuseConsent { reasons, .. } if blank(reasons) => {
                Err(RefusalCode::ConsentIncomplete)
            }
            _ => Ok(()),
        }
    }

    /// Records what an accepted event establishes, and the pause for more
    /// information as the state enters or leaves `awaiting-information`.
    pub fn record(&mut self, act: &Act, at: OffsetDateTime, from: State, to: State) {
        match act {
            Act::Submit(submission) => {
                self.request = Some(RequestFacts {
                    submission: submission.clone(),
                    submitted_at: at,
                });
            }
            Act::Acknowledge => {
                self.acknowledged_at.get_or_insert(at);
            }
            Act::Consult { conditions } => {
                self.consulted = true;
                self.conditions.clone_from(conditions);
                self.conditions_accepted = None;
            }
            Act::AcceptConditions => self.conditions_accepted = Some(true),
            Act::DeclineConditions => self.conditions_accepted = Some(false),
            Act::Postpone { reasons, until } => {
                self.postponement = Some(Postponement {
                    reasons: reasons.clone(),
                    until: *until,
                });
            }
            Act::Refuse { grounds, reasons } => {
                self.refusal = Some(Refusal {
                    grounds: grounds.clone(),
                    reasons: reasons.clone(),
                    consulted: self.consulted,
                });
                self.refused_at.get_or_insert(at);
            }
            Act::ConfirmPreservation { took_effect, days } => {
                self.preservation = Some(Preservation {
                    took_effect: *took_effect,
                    days: *days,
                    ends: preservation_earliest_end(*took_effect, *days),
                    extended: false,
                    extension_declined: false,
                    follow_up: None,
                });
            }
            Act::ExtendPreservation { until } => {
                if let Some(p) = self.preservation.as_mut() {
                    p.ends = *until;
                    p.extended = true;
                    p.extension_declined = false;
                }
            }
            Act::DeclineExtension { .. } => {
                if let Some(p) = self.preservation.as_mut() {
                    p.extension_declined = true;
                }
            }
            Act::ExecutePartly { evidence } => {
                self.link(evidence);
                self.provided = true;
            }
            Act::ExecuteWholly { evidence } => {
                self.link(evidence);
                self.provided = true;
                self.executed_at.get_or_insert(at);
            }
            Act::AnnounceFollowUp { request } => {
                if let Some(p) = self.preservation.as_mut() {
                    p.follow_up = Some(request.clone());
                }
            }
            Act::Withdraw | Act::Close => {
                self.over_at.get_or_insert(at);
            }
            Act::RequestInfo
            | Act::ProvideInfo
            | Act::AskStatus
            | Act::AnswerStatus
            | Act::Correspond
            | Act::ReportDeletion => {}
            // Consents are recorded with their message ids
            // ([`Facts::record_consent`]).
            Act::AskConsent { .. } | Act::GrantConsent { .. } | Act::RefuseConsent { .. } => {}
        }
        let awaiting = State::AwaitingInformation;
        if to == awaiting && from != awaiting {
            self.paused_since = Some(at);
            self.resume_to = Some(from);
        } else if from == awaiting && to != awaiting {
            if let Some(since) = self.paused_since.take() {
                self.paused += (at - since).max(Duration::ZERO);
            }
            self.resume_to = None;
        }
    }

    /// Records an accepted consent action under its message id `id`.
    pub fn record_consent(&mut self, id: &str, act: &Act) {
        match act {
            Act::AskConsent {
                evidence,
                use_for,
                reasons,
                exculpatory,
            } => self.consents.push(Consent {
                ask: id.to_owned(),
                evidence: evidence.clone(),
                use_for: use_for.clone(),
                reasons: reasons.clone(),
                exculpatory: *exculpatory,
                answer: None,
            }),
            Act::GrantConsent { ask, conditions } => {
                self.answer(
                    ask,
                    ConsentAnswer::Granted {
                        id: id.to_owned(),
                        conditions: conditions.clone(),
                    },
                );
            }
            Act::RefuseConsent { ask, reasons } => {
                self.answer(
                    ask,
                    ConsentAnswer::Refused {
                        id: id.to_owned(),
                        reasons: reasons.clone(),
                    },
                );
            }
            _ => {}
        }
    }

    fn answer(&mut self, ask: &str, answer: ConsentAnswer) {
        if let Some(c) = self
            .consents
            .iter_mut()
            .find(|c| c.ask == ask && c.pending())
        {
            c.answer = Some(answer);
        }
    }

    fn link(&mut self, evidence: &[String]) {
        for id in evidence {
            if !self.evidence.contains(id) {
                self.evidence.push(id.clone());
            }
        }
    }
}

/// The stable code for the first problem the model finds with a refusal.
fn refusal_code(issue: &Issue, grounds: &[Ground]) -> RefusalCode {
    match issue.path.as_str() {
        "grounds" if grounds.is_empty() => RefusalCode::RefusalWithoutGrounds,
        "grounds" => RefusalCode::RefusalOnExcludedGrounds,
        "reasons" => RefusalCode::RefusalWithoutReasons,
        _ => RefusalCode::ConsultationRequired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn consulted() -> Facts {
        Facts {
            consulted: true,
            ..Facts::default()
        }
    }

    #[test]
    fn refusals_are_checked_by_the_model() {
        let refuse = |grounds: Vec<Ground>, reasons: &str| Act::Refuse {
            grounds,
            reasons: reasons.into(),
        };
        let f = consulted();
        assert_eq!(
            f.check_contents(&refuse(vec![Ground::EssentialInterests], "why")),
            Ok(())
        );
        assert_eq!(
            f.check_contents(&refuse(vec![], "why")),
            Err(RefusalCode::RefusalWithoutGrounds)
        );
        assert_eq!(
            f.check_contents(&refuse(
                vec![Ground::FiscalMatters, Ground::BankSecrecy],
                "why"
            )),
            Err(RefusalCode::RefusalOnExcludedGrounds)
        );
        assert_eq!(
            f.check_contents(&refuse(vec![Ground::NoDualCriminality], " ")),
            Err(RefusalCode::RefusalWithoutReasons)
        );
        assert_eq!(
            Facts::default().check_contents(&refuse(vec![Ground::EssentialInterests], "why")),
            Err(RefusalCode::ConsultationRequired)
        );
    }

    #[test]
    fn a_preservation_is_in_force_until_its_end_or_while_held() {
        let mut f = Facts::default();
        let confirm = Act::ConfirmPreservation {
            took_effect: date!(2026 - 01 - 01),
            days: 30,
        };
        f.record(
            &confirm,
            datetime!(2026-01-01 9:00 UTC),
            State::Acknowledged,
            State::Preserved,
        );
        let p = f.preservation.clone().unwrap();
        assert_eq!(p.ends, date!(2026 - 03 - 02));
        assert!(p.in_force_at(datetime!(2026-03-01 23:59 UTC)));
        assert!(!p.in_force_at(datetime!(2026-03-02 0:00 UTC)));
        assert_eq!(
            f.check_contents(&Act::ExtendPreservation {
                until: date!(2026 - 03 - 02)
            }),
            Err(RefusalCode::ExtensionNotLater)
        );
        f.record(
            &Act::AnnounceFollowUp {
                request: "thr-x".into(),
            },
            datetime!(2026-02-01 9:00 UTC),
            State::Preserved,
            State::Preserved,
        );
        assert!(
            f.preservation
                .unwrap()
                .in_force_at(datetime!(2027-01-01 0:00 UTC))
        );
    }

    #[test]
    fn pauses_add_up_across_requests_for_information() {
        let mut f = Facts::default();
        let t0 = datetime!(2026-01-01 0:00 UTC);
        let (a, w) = (State::Acknowledged, State::AwaitingInformation);
        f.record(&Act::RequestInfo, t0, a, w);
        f.record(&Act::RequestInfo, t0 + Duration::days(1), w, w);
        assert_eq!(f.paused_until(t0 + Duration::days(2)), Duration::days(2));
        f.record(&Act::ProvideInfo, t0 + Duration::days(3), w, a);
        assert_eq!(f.resume_to, None);
        f.record(&Act::RequestInfo, t0 + Duration::days(10), a, w);
        assert_eq!(f.resume_to, Some(a));
        assert_eq!(f.paused_until(t0 + Duration::days(11)), Duration::days(4));
    }
}
