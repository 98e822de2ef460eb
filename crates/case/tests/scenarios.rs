//! Cases from beginning to end, step by step: the state, the clocks and the
//! allowed actions after each event, and the refusals of what the case does
//! not allow, both before sending (`check`, `check_event`) and when a peer
//! sends it anyway (recorded by `derive` with its code).

mod support;

use custos_case::{
    Act, Action, CaseClock, ClockKind, ClockStatus, ConsentUse, RefusalCode, Settings, Side, State,
    check, check_event, derive_with,
};
use custos_model::RequestKind;
use custos_model::refusal::Ground;
use support::{Thread, consult, execute_partly, refuse, submit, submit_with_deadline};
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

use Side::{Requested, Requesting};

fn clock(view: &custos_case::CaseView, kind: ClockKind) -> CaseClock {
    view.clocks
        .iter()
        .find(|c| c.kind == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} clock in {:?}", view.clocks))
}

/// Adds an event and checks beforehand that the case allows it.
fn act(thread: &mut Thread, side: Side, act: Act) -> custos_case::CaseView {
    let before = thread.view();
    let next = Thread {
        events: thread.events.clone(),
        now: thread.now,
    }
    .add(side, act.clone());
    check(&before, act.action(), side).unwrap_or_else(|e| panic!("{e}"));
    check_event(&before, &next).unwrap_or_else(|e| panic!("{e}"));
    thread.add(side, act);
    let view = thread.view();
    assert!(view.refused.is_empty(), "{:?}", view.refused);
    view
}

#[test]
fn mla_through_acknowledgement_information_consultation_partial_execution_and_close() {
    let mut t = Thread::new();
    let deadline = date!(2026 - 02 - 01);
    let v = act(
        &mut t,
        Requesting,
        submit_with_deadline(RequestKind::Mla, deadline),
    );
    assert_eq!(v.state, State::Submitted);
    assert_eq!(
        v.allowed.requested,
        [
            Action::Acknowledge,
            Action::AnswerStatus,
            Action::Correspond
        ]
    );
    assert_eq!(
        v.allowed.requesting,
        [Action::Withdraw, Action::AskStatus, Action::Correspond]
    );
    let due = datetime!(2026-02-02 0:00 UTC);
    assert_eq!(clock(&v, ClockKind::Deadline).due, Some(due));
    assert_eq!(clock(&v, ClockKind::Deadline).status, ClockStatus::Running);

    let v = act(&mut t, Requested, Act::Acknowledge);
    assert_eq!(v.state, State::Acknowledged);
    assert!(!v.allowed.requested.contains(&Action::Refuse));
    assert!(!v.allowed.requested.contains(&Action::ConfirmPreservation));

    // More information: the deadline pauses for as long as the answer takes.
    let v = act(&mut t, Requested, Act::RequestInfo);
    assert_eq!(v.state, State::AwaitingInformation);
    assert_eq!(v.allowed.requesting[0], Action::ProvideInfo);
    t.wait(Duration::days(3));
    let v = t.view();
    let paused = clock(&v, ClockKind::Deadline);
    assert_eq!(paused.status, ClockStatus::Paused);
    assert_eq!(paused.due, Some(due + Duration::days(3)));
    let v = act(&mut t, Requesting, Act::ProvideInfo);
    assert_eq!(v.state, State::Acknowledged);
    let resumed = clock(&v, ClockKind::Deadline);
    assert_eq!(resumed.status, ClockStatus::Running);
    assert_eq!(
        resumed.due,
        Some(due + Duration::days(3) + Duration::hours(1))
    );

    // Consultation on conditions, accepted.
    let v = act(&mut t, Requested, consult());
    assert_eq!(v.state, State::Consulting);
    assert!(v.facts.consulted);
    let v = act(&mut t, Requesting, Act::AcceptConditions);
    assert_eq!(v.state, State::ConditionsAccepted);
    assert_eq!(v.facts.conditions_accepted, Some(true));
    assert!(!v.allowed.requested.contains(&Action::Refuse));

    // Partial execution with an evidence package, then the requester closes.
    let v = act(&mut t, Requested, execute_partly("sha256:aa"));
    assert_eq!(v.state, State::PartlyExecuted);
    assert_eq!(v.facts.evidence, ["sha256:aa"]);
    let v = act(&mut t, Requesting, Act::AskStatus);
    assert_eq!(v.state, State::PartlyExecuted);
    let v = act(&mut t, Requested, Act::AnswerStatus);
    let v2 = act(&mut t, Requesting, Act::Close);
    assert_eq!(v2.state, State::Closed);
    // Over, the case still takes an ask for consent to use what was
    // provided (issue 18), and nothing else.
    assert_eq!(v2.allowed.requesting, [Action::AskConsent]);
    assert!(v2.allowed.requested.is_empty());
    assert_eq!(clock(&v2, ClockKind::Deadline).status, ClockStatus::Stopped);
    assert_eq!(v.timeline.len() + 1, v2.timeline.len());
    let steps: Vec<_> = v2.timeline.iter().map(|e| e.state).collect();
    assert_eq!(
        steps,
        [
            State::Submitted,
            State::Acknowledged,
            State::AwaitingInformation,
            State::Acknowledged,
            State::Consulting,
            State::ConditionsAccepted,
            State::PartlyExecuted,
            State::PartlyExecuted,
            State::PartlyExecuted,
            State::Closed,
        ]
    );
    // Nothing is accepted once closed.
    let late = t.add(Requested, Act::Correspond);
    let v = t.view();
    assert_eq!(v.refused.len(), 1);
    assert_eq!(v.refused[0].id, late.id);
    assert_eq!(v.refused[0].code, RefusalCode::CaseOver);
}

#[test]
fn consultation_then_refusal_with_grounds() {
    let mut t = Thread::new();
    act(&mut t, Requesting, submit(RequestKind::StoredData));
    act(&mut t, Requested, Act::Acknowledge);
    act(&mut t, Requested, consult());
    let v = act(&mut t, Requesting, Act::DeclineConditions);
    assert_eq!(v.state, State::ConditionsDeclined);
    assert!(v.allowed.requested.contains(&Action::Refuse));
    let v = act(
        &mut t,
        Requested,
        refuse(&[Ground::EssentialInterests, Ground::FiscalMatters]),
    );
    assert_eq!(v.state, State::Refused);
    let refusal = v.facts.refusal.clone().unwrap();
    assert_eq!(
        refusal.grounds,
        [Ground::EssentialInterests, Ground::FiscalMatters]
    );
    assert!(refusal.consulted && refusal.check().is_empty());
    assert_eq!(
        v.allowed.requesting,
        [Action::AskStatus, Action::Close, Action::Correspond]
    );
    assert_eq!(
        v.allowed.requested,
        [Action::AnswerStatus, Action::Correspond]
    );
}

#[test]
fn a_refusal_without_consultation_is_refused_before_sending_and_on_receipt() {
    let mut t = Thread::new();
    act(&mut t, Requesting, submit(RequestKind::Mla));
    act(&mut t, Requested, Act::Acknowledge);
    let before = t.view();
    let err = check(&before, Action::Refuse, Requested).unwrap_err();
    assert_eq!(err.code, RefusalCode::ConsultationRequired);
    assert_eq!(err.state, State::Acknowledged);
    assert!(err.allowed.contains(&Action::Consult));
    assert_eq!(
        err.to_string(),
        "refuse by the requested State is not allowed in state acknowledged \
         (consultation-required: consult the requesting State before refusing or postponing); \
         the requested State may: request-info, consult, execute-partly, execute-wholly, \
         answer-status, correspond"
    );
    // Postponing needs the consultation too.
    assert_eq!(
        check(&before, Action::Postpone, Requested)
            .unwrap_err()
            .code,
        RefusalCode::ConsultationRequired
    );

    // The peer sends it anyway: recorded, refused, the case unchanged.
    let sent = t.add(Requested, refuse(&[Ground::EssentialInterests]));
    let v = t.view();
    assert_eq!(v.state, State::Acknowledged);
    assert_eq!(v.refused.len(), 1);
    let r = &v.refused[0];
    assert_eq!(
        (r.id.as_str(), r.code, r.state, r.action),
        (
            sent.id.as_str(),
            RefusalCode::ConsultationRequired,
            State::Acknowledged,
            Action::Refuse
        )
    );
}

#[test]
fn a_refusal_only_on_fiscal_matters_or_bank_secrecy_is_refused() {
    let mut t = Thread::new();
    act(&mut t, Requesting, submit(RequestKind::Mla));
    act(&mut t, Requested, Act::Acknowledge);
    act(&mut t, Requested, consult());
    let view = t.view();
    for grounds in [
        &[Ground::FiscalMatters][..],
        &[Ground::BankSecrecy],
        &[Ground::FiscalMatters, Ground::BankSecrecy],
    ] {
        // The table allows a refusal here; its contents do not pass.
        check(&view, Action::Refuse, Requested).unwrap();
        let event = t.event(Requested, refuse(grounds));
        let err = check_event(&view, &event).unwrap_err();
        assert_eq!(
            err.code,
            RefusalCode::RefusalOnExcludedGrounds,
            "{grounds:?}"
        );
    }
    let no_reasons = t.event(
        Requested,
        Act::Refuse {
            grounds: vec![Ground::NoDualCriminality],
            reasons: "  ".into(),
        },
    );
    assert_eq!(
        check_event(&view, &no_reasons).unwrap_err().code,
        RefusalCode::RefusalWithoutReasons
    );
    assert_eq!(
        check_event(&view, &t.event(Requested, refuse(&[])))
            .unwrap_err()
            .code,
        RefusalCode::RefusalWithoutGrounds
    );

    t.add(Requested, refuse(&[Ground::FiscalMatters]));
    let v = t.view();
    assert_eq!(v.state, State::Consulting);
    assert_eq!(v.refused[0].code, RefusalCode::RefusalOnExcludedGrounds);
}

fn preserved(days: u32) -> Thread {
    let mut t = Thread::new();
    act(&mut t, Requesting, submit(RequestKind::Preservation));
    act(&mut t, Requested, Act::Acknowledge);
    let v = act(
        &mut t,
        Requested,
        Act::ConfirmPreservation {
            took_effect: date!(2026 - 01 - 01),
            days,
        },
    );
    assert_eq!(v.state, State::Preserved);
    t
}

/// The first day of the preservation is day 1 (1 January); day 61 is 2 March.
const DAY_61: OffsetDateTime = datetime!(2026-03-02 0:00 UTC);

#[test]
fn a_preservation_ends_on_day_61_unless_extended() {
    // Even a confirmation for fewer days counts the Convention's minimum.
    for days in [30, 60] {
        let t = preserved(days);
        let on_day_60 = t.view_at(DAY_61 - Duration::minutes(1));
        let p = clock(&on_day_60, ClockKind::Preservation);
        assert_eq!(
            (p.status, p.due),
            (ClockStatus::Running, Some(DAY_61)),
            "{days}"
        );
        assert!(
            on_day_60
                .allowed
                .requested
                .contains(&Action::ExtendPreservation)
        );
        let on_day_61 = t.view_at(DAY_61);
        assert_eq!(
            clock(&on_day_61, ClockKind::Preservation).status,
            ClockStatus::Ended
        );
        assert!(
            !on_day_61
                .allowed
                .requested
                .contains(&Action::ExtendPreservation)
        );
        assert!(
            !on_day_61
                .allowed
                .requesting
                .contains(&Action::AnnounceFollowUp)
        );
        assert_eq!(
            check(&on_day_61, Action::ExtendPreservation, Requested)
                .unwrap_err()
                .code,
            RefusalCode::PreservationNotInForce
        );
    }

    // Extended before its end, it runs on to the new date.
    let mut t = preserved(60);
    let v = act(
        &mut t,
        Requested,
        Act::ExtendPreservation {
            until: date!(2026 - 04 - 01),
        },
    );
    assert!(v.facts.preservation.as_ref().unwrap().extended);
    let on_day_61 = t.view_at(DAY_61);
    let p = clock(&on_day_61, ClockKind::Preservation);
    assert_eq!(
        (p.status, p.due),
        (ClockStatus::Running, Some(datetime!(2026-04-01 0:00 UTC)))
    );
    assert_eq!(
        clock(
            &t.view_at(datetime!(2026-04-01 0:00 UTC)),
            ClockKind::Preservation
        )
        .status,
        ClockStatus::Ended
    );
    // An extension that does not move the end is refused.
    let same = t.event(
        Requested,
        Act::ExtendPreservation {
            until: date!(2026 - 04 - 01),
        },
    );
    assert_eq!(
        check_event(&t.view(), &same).unwrap_err().code,
        RefusalCode::ExtensionNotLater
    );

    // An extension sent after the end is refused when it arrives.
    let mut t = preserved(60);
    t.now = Some(DAY_61 + Duration::hours(2));
    t.add(
        Requested,
        Act::ExtendPreservation {
            until: date!(2026 - 05 - 01),
        },
    );
    let v = t.view();
    assert_eq!(v.refused[0].code, RefusalCode::PreservationNotInForce);
    assert_eq!(
        clock(&v, ClockKind::Preservation).status,
        ClockStatus::Ended
    );
}

#[test]
fn a_preservation_is_kept_alive_by_a_pending_follow_up_request() {
    let mut t = preserved(60);
    let v = act(
        &mut t,
        Requesting,
        Act::AnnounceFollowUp {
            request: "thr-0f0e0d0c-0b0a-4908-8706-050403020100".into(),
        },
    );
    assert_eq!(v.state, State::Preserved);
    let later = t.view_at(DAY_61 + Duration::days(30));
    let p = clock(&later, ClockKind::Preservation);
    assert_eq!((p.status, p.due), (ClockStatus::Held, None));
    assert!(!later.overdue);
    // Still in force: the requested State may still extend or decline to.
    assert!(later.allowed.requested.contains(&Action::DeclineExtension));
    // Closing the case once the follow-up is decided ends the hold.
    t.now = Some(DAY_61 + Duration::days(40));
    let v = act(&mut t, Requesting, Act::Close);
    assert_eq!(
        clock(&v, ClockKind::Preservation).status,
        ClockStatus::Stopped
    );
    // A follow-up announced with no request named is refused.
    let t = preserved(60);
    let blank = t.event(
        Requesting,
        Act::AnnounceFollowUp {
            request: " ".into(),
        },
    );
    assert_eq!(
        check_event(&t.view(), &blank).unwrap_err().code,
        RefusalCode::FollowUpMissing
    );
}

#[test]
fn only_a_preservation_request_can_be_confirmed_as_preserved() {
    let mut t = Thread::new();
    act(&mut t, Requesting, submit(RequestKind::Mla));
    act(&mut t, Requested, Act::Acknowledge);
    assert_eq!(
        check(&t.view(), Action::ConfirmPreservation, Requested)
            .unwrap_err()
            .code,
        RefusalCode::NotAPreservation
    );
}

#[test]
fn an_emergency_whose_acknowledgement_target_passes_is_overdue() {
    let mut t = Thread::new();
    let submitted = act(&mut t, Requesting, submit(RequestKind::EmergencyData));
    let at = submitted.timeline[0].at;
    let target = at + Duration::hours(1);
    let just_in_time = t.view_at(target);
    let c = clock(&just_in_time, ClockKind::Acknowledgement);
    assert_eq!(
        (c.status, c.due, just_in_time.overdue),
        (ClockStatus::Running, Some(target), false)
    );
    let late = t.view_at(target + Duration::seconds(1));
    assert_eq!(
        clock(&late, ClockKind::Acknowledgement).status,
        ClockStatus::Overdue
    );
    assert!(late.overdue);
    assert_eq!(late.open_clocks().count(), 1);

    // The node's own target, when configured.
    let settings = Settings {
        emergency_ack_target: Duration::hours(2),
    };
    let v = derive_with(&t.events, target + Duration::seconds(1), &settings);
    assert!(!v.overdue);

    // Acknowledged late: met late, no longer overdue.
    t.now = Some(target + Duration::minutes(30) - Duration::hours(1));
    let v = act(&mut t, Requested, Act::Acknowledge);
    assert_eq!(
        clock(&v, ClockKind::Acknowledgement).status,
        ClockStatus::MetLate
    );
    assert!(!v.overdue);
    assert_eq!(v.open_clocks().count(), 0);
}

#[test]
fn routine_requests_have_no_acknowledgement_clock() {
    let mut t = Thread::new();
    act(&mut t, Requesting, submit(RequestKind::Mla));
    assert!(t.view_at(t.time() + Duration::days(30)).clocks.is_empty());
}

#[test]
fn a_deadline_passed_without_execution_is_overdue_and_execution_meets_it() {
    let mut t = Thread::new();
    act(
        &mut t,
        Requesting,
        submit_with_deadline(RequestKind::StoredData, date!(2026 - 01 - 05)),
    );
    act(&mut t, Requested, Act::Acknowledge);
    let v = t.view_at(datetime!(2026-01-06 0:00:01 UTC));
    assert!(v.overdue);
    let v = act(
        &mut t,
        Requested,
        Act::ExecuteWholly {
            evidence: vec!["sha256:bb".into()],
        },
    );
    assert_eq!(v.state, State::Executed);
    assert_eq!(clock(&v, ClockKind::Deadline).status, ClockStatus::Met);
}

#[test]
fn illegal_transitions_are_recorded_with_their_codes() {
    let mut t = Thread::new();
    let early = t.add(Requested, Act::Acknowledge);
    t.add(Requesting, submit(RequestKind::Mla));
    let by_wrong_side = t.add(Requesting, Act::Acknowledge);
    let again = t.add(Requesting, submit(RequestKind::Mla));
    let too_soon = t.add(Requested, execute_partly("sha256:cc"));
    t.add(Requested, Act::Acknowledge);
    let no_conditions = t.add(Requested, Act::Consult { conditions: vec![] });
    let v = t.view();
    let codes: Vec<_> = v.refused.iter().map(|r| (r.id.clone(), r.code)).collect();
    assert_eq!(
        codes,
        [
            (early.id, RefusalCode::NoRequest),
            (by_wrong_side.id, RefusalCode::WrongSide),
            (again.id, RefusalCode::AlreadySubmitted),
            (too_soon.id, RefusalCode::NotAllowedInState),
            (no_conditions.id, RefusalCode::ConditionsMissing),
        ]
    );
    assert_eq!(v.state, State::Acknowledged);
    assert_eq!(v.timeline.len(), 2);
}

#[test]
fn two_different_events_with_one_id_are_both_refused() {
    let mut t = Thread::new();
    t.add(Requesting, submit(RequestKind::Mla));
    let ack = t.add(Requested, Act::Acknowledge);
    let mut forged = ack.clone();
    forged.act = Act::ExecuteWholly { evidence: vec![] };
    t.events.push(forged);
    let v = t.view();
    assert_eq!(v.state, State::Submitted);
    assert_eq!(v.refused.len(), 1);
    assert_eq!(v.refused[0].code, RefusalCode::ConflictingDuplicate);
    assert_eq!(v.refused[0].action, Action::Acknowledge);
}

// issue 18: use limits and onward-transfer consent.
#[test]
fn consent_is_asked_after_provision_answered_once_and_exposed_when_granted() {
    let onward = |to: &str| Act::AskConsent {
        evidence: vec!["sha256:aa".into()],
        use_for: ConsentUse::OnwardTransfer(to.into()),
        reasons: "The same server attacked victims there.".into(),
        exculpatory: false,
    };
    let mut t = Thread::new();
    act(&mut t, Requesting, submit(RequestKind::Mla));
    act(&mut t, Requested, Act::Acknowledge);
    // Nothing provided yet: no consent can be asked.
    let early = t.add(Requesting, onward("NL"));
    let v = t.view();
    assert_eq!(v.refused[0].id, early.id);
    assert_eq!(v.refused[0].code, RefusalCode::NothingProvided);
    t.events.pop();

    act(&mut t, Requested, execute_partly("sha256:aa"));
    // A package the case never linked is not the requested State's to consent to.
    let before = t.view();
    let stranger = Act::AskConsent {
        evidence: vec!["sha256:bb".into()],
        use_for: ConsentUse::OnwardTransfer("NL".into()),
        reasons: "r".into(),
        exculpatory: false,
    };
    let e = check_event(&before, &t.event(Requesting, stranger)).unwrap_err();
    assert_eq!(e.code, RefusalCode::NothingProvided);
    // A grant out of turn (nothing asked) is refused with its code.
    let grant = |ask: &str| Act::GrantConsent {
        ask: ask.into(),
        conditions: vec!["Only for the prosecution of the attack".into()],
    };
    let e = check_event(&before, &t.event(Requested, grant("sha256:00"))).unwrap_err();
    assert_eq!(e.code, RefusalCode::ConsentNotAsked);
    // A blank reason is incomplete.
    let blank = Act::AskConsent {
        evidence: vec![],
        use_for: ConsentUse::OtherCase("thr-x".into()),
        reasons: " ".into(),
        exculpatory: false,
    };
    let e = check_event(&before, &t.event(Requesting, blank)).unwrap_err();
    assert_eq!(e.code, RefusalCode::ConsentIncomplete);

    let ask = t.add(Requesting, onward("NL"));
    let v = t.view();
    assert_eq!(
        v.state,
        State::PartlyExecuted,
        "consent never moves the case"
    );
    assert!(v.allowed.requested.contains(&Action::GrantConsent));
    let nl = ConsentUse::OnwardTransfer("NL".into());
    assert!(v.facts.consent_for(Some("sha256:aa"), &nl).is_none());
    // Only the requested State answers.
    let e = check(&v, Action::GrantConsent, Requesting).unwrap_err();
    assert_eq!(e.code, RefusalCode::WrongSide);
    // The grant cites the ask; a second answer to it is refused.
    let g = act(&mut t, Requested, grant(&ask.id));
    let c = g
        .facts
        .consent_for(Some("sha256:aa"), &nl)
        .expect("granted");
    assert_eq!(c.ask, ask.id);
    assert!(c.granted().is_some());
    assert!(
        g.facts
            .consent_for(Some("sha256:aa"), &ConsentUse::OnwardTransfer("BE".into()))
            .is_none()
    );
    assert!(!g.allowed.requested.contains(&Action::GrantConsent));
    let again = t.add(
        Requested,
        Act::RefuseConsent {
            ask: ask.id.clone(),
            reasons: "changed our mind".into(),
        },
    );
    let v = t.view();
    assert!(
        v.refused
            .iter()
            .any(|r| r.id == again.id && r.code == RefusalCode::ConsentNotAsked)
    );
    assert!(v.facts.consent_for(Some("sha256:aa"), &nl).is_some());
    t.events.pop();

    // After close: asked and refused; a refusal grants nothing.
    act(&mut t, Requesting, Act::Close);
    let ask2 = t.add(Requesting, onward("BE"));
    let v = act(
        &mut t,
        Requested,
        Act::RefuseConsent {
            ask: ask2.id.clone(),
            reasons: "The material identifies a protected witness.".into(),
        },
    );
    assert_eq!(v.state, State::Closed);
    let be = ConsentUse::OnwardTransfer("BE".into());
    assert!(v.facts.consent_for(Some("sha256:aa"), &be).is_none());
    assert_eq!(v.facts.consents_granted().count(), 1);

    // Exculpatory material: the notice is the authority for the use at
    // once, for that package and use only, and no one answers it.
    let other = ConsentUse::OtherCase("thr-defence".into());
    let notice = t.add(
        Requesting,
        Act::AskConsent {
            evidence: vec!["sha256:aa".into()],
            use_for: other.clone(),
            reasons: "The logs show the accused was elsewhere.".into(),
            exculpatory: true,
        },
    );
    let v = t.view();
    let c = v
        .facts
        .consent_for(Some("sha256:aa"), &other)
        .expect("the notice covers the use");
    assert_eq!(c.authority(), Some(notice.id.as_str()));
    assert!(c.granted().is_none() && !c.pending());
    assert!(v.facts.consent_for(Some("sha256:bb"), &other).is_none());
    assert!(v.facts.consent_for(Some("sha256:aa"), &be).is_none());
    assert!(!v.allowed.requested.contains(&Action::GrantConsent));
    let answer = t.add(
        Requested,
        Act::RefuseConsent {
            ask: notice.id.clone(),
            reasons: "We object.".into(),
        },
    );
    let v = t.view();
    assert!(
        v.refused
            .iter()
            .any(|r| r.id == answer.id && r.code == RefusalCode::ConsentNotAsked),
        "a notice is answered by no one"
    );
    assert!(v.facts.consent_for(Some("sha256:aa"), &other).is_some());
}
