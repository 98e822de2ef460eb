//! The transition table over every (state, action, side): each has one
//! outcome, allowed or refused, listed in `tests/data/transitions.txt`
//! (`UPDATE_EXPECT=1 cargo test -p custos-case --test table` rewrites it
//! after a deliberate change). Adding an action or a state fails here until
//! it has its rules: the exhaustive matches below stop the build, and the
//! coverage checks and the listing fail.

use std::fmt::Write as _;

use custos_case::table::{self, Guard, Next, RULES};
use custos_case::{ActedBy, Action, Side, State};

/// Every action, by an exhaustive match: a new variant stops the build here
/// until it is listed in `Action::ALL` and given rules.
fn action_is_listed(action: Action) -> bool {
    match action {
        Action::Submit
        | Action::Acknowledge
        | Action::RequestInfo
        | Action::ProvideInfo
        | Action::Consult
        | Action::AcceptConditions
        | Action::DeclineConditions
        | Action::Postpone
        | Action::Refuse
        | Action::ConfirmPreservation
        | Action::ExtendPreservation
        | Action::DeclineExtension
        | Action::ExecutePartly
        | Action::ExecuteWholly
        | Action::AnnounceFollowUp
        | Action::Withdraw
        | Action::AskStatus
        | Action::AnswerStatus
        | Action::Close
        | Action::Correspond
        // issue 18: use limits and onward-transfer consent
        | Action::AskConsent
        | Action::GrantConsent
        | Action::RefuseConsent
        | Action::ReportDeletion => Action::ALL.contains(&action),
    }
}

/// Every state, likewise.
fn state_is_listed(state: State) -> bool {
    match state {
        State::New
        | State::Submitted
        | State::Acknowledged
        | State::AwaitingInformation
        | State::Consulting
        | State::ConditionsAccepted
        | State::ConditionsDeclined
        | State::Postponed
        | State::Preserved
        | State::PartlyExecuted
        | State::Executed
        | State::Refused
        | State::Withdrawn
        | State::Closed => State::ALL.contains(&state),
    }
}

fn describe(state: State, action: Action, side: Side) -> String {
    match table::outcome(state, action, side) {
        Err(code) => code.to_string(),
        Ok(rule) => {
            let next = match rule.next {
                Next::To(s) => format!("-> {s}"),
                Next::Stay => "stay".to_owned(),
                Next::Resume => "resume".to_owned(),
            };
            match rule.guard {
                Some(g) => format!("{next} if {} (else {})", g.as_str(), g.refusal()),
                None => next,
            }
        }
    }
}

#[test]
fn every_state_action_and_side_has_exactly_one_outcome() {
    let mut listing = String::new();
    for state in State::ALL {
        assert!(state_is_listed(state));
        writeln!(listing, "{state}").unwrap();
        for action in Action::ALL {
            assert!(action_is_listed(action));
            let mut line = format!("  {:<22}", action.as_str());
            for side in Side::ALL {
                let rows = RULES
                    .iter()
                    .filter(|r| r.action == action && r.side == side && r.from.contains(&state))
                    .count();
                assert!(
                    rows <= 1,
                    "{rows} rows match ({state}, {action}, {side}); the table must be unambiguous"
                );
                write!(line, " {side}: {:<44}", describe(state, action, side)).unwrap();
            }
            writeln!(listing, "{}", line.trim_end()).unwrap();
        }
    }
    expect_test::expect_file!["data/transitions.txt"].assert_eq(&listing);
}

#[test]
fn every_action_has_a_rule_for_each_side_that_may_take_it() {
    for action in Action::ALL {
        for side in Side::ALL {
            let has_rule = RULES.iter().any(|r| r.action == action && r.side == side);
            assert_eq!(
                has_rule,
                action.acted_by().includes(side),
                "{action} by the {side} side: a rule exists exactly when that side may take it"
            );
        }
    }
    assert!(matches!(Action::Correspond.acted_by(), ActedBy::Either));
}

#[test]
fn every_state_is_reached_and_only_final_states_are_dead_ends() {
    for state in State::ALL {
        // Consent to use what was provided is asked and answered even after
        // the case is over, and a deletion report is taken in every state,
        // the final ones included, and never changes it (issue 18); nothing
        // else moves a case that is over.
        let leaves = RULES.iter().any(|r| {
            r.from.contains(&state)
                && !table::is_consent(r.action)
                && r.action != Action::ReportDeletion
        });
        if state != State::New {
            for side in Side::ALL {
                let r = table::rule(state, Action::ReportDeletion, side);
                assert_eq!(r.map(|r| r.next), Some(Next::Stay), "{state} {side}");
            }
        }
        assert_eq!(
            leaves,
            !state.is_final(),
            "{state}: a state has rules unless the case is over there"
        );
        if state.is_final() {
            for r in RULES.iter().filter(|r| r.from.contains(&state)) {
                assert_eq!(r.next, Next::Stay, "{r:?} moves a case that is over");
            }
        }
        if state != State::New {
            let reached = RULES.iter().any(|r| r.next == Next::To(state));
            assert!(reached, "no rule leads to {state}");
        }
    }
}

#[test]
fn rows_name_each_state_once_and_guards_have_refusals() {
    for r in RULES {
        let mut from = r.from.to_vec();
        from.sort_unstable();
        from.dedup();
        assert_eq!(
            from.len(),
            r.from.len(),
            "{:?} repeats a state in {:?}",
            r.action,
            r.from
        );
        assert!(!r.from.is_empty());
        if let Some(g) = r.guard {
            assert_ne!(g.refusal().as_str(), "");
        }
    }
    // Refusals and postponements, wherever allowed, need a consultation.
    for r in RULES
        .iter()
        .filter(|r| matches!(r.action, Action::Refuse | Action::Postpone))
    {
        assert_eq!(r.guard, Some(Guard::Consulted), "{r:?}");
    }
    // Consent is asked only once something was provided, and answered only
    // when asked; it never changes the case's state.
    for r in RULES.iter().filter(|r| table::is_consent(r.action)) {
        let guard = match r.action {
            Action::AskConsent => Guard::Provided,
            _ => Guard::ConsentAsked,
        };
        assert_eq!(r.guard, Some(guard), "{r:?}");
        assert_eq!(r.next, Next::Stay, "{r:?}");
        assert!(r.from.contains(&State::Closed), "{r:?}");
        assert!(!r.from.contains(&State::New), "{r:?}");
    }
}
