//! Both States derive the same case from the same messages, whatever the
//! order in which they arrive and however often: a property test that
//! shuffles and repeats the delivery of a thread (a whole case, plus
//! random events, legal or not, some sharing an id) and compares the views.

mod support;

use custos_case::{Act, CaseEvent, Side, derive};
use custos_model::RequestKind;
use custos_model::refusal::Ground;
use proptest::prelude::*;
use proptest::sample::Index;
use support::{T0, consult, execute_partly, refuse, submit, submit_with_deadline};
use time::Duration;
use time::macros::date;

use Side::{Requested, Requesting};

/// A whole MLA case, an hour apart: the events most threads are made of.
fn scenario() -> Vec<CaseEvent> {
    [
        (
            Requesting,
            submit_with_deadline(RequestKind::Mla, date!(2026 - 01 - 03)),
        ),
        (Requested, Act::Acknowledge),
        (Requested, Act::RequestInfo),
        (Requesting, Act::ProvideInfo),
        (Requested, consult()),
        (Requesting, Act::DeclineConditions),
        (Requested, execute_partly("sha256:01")),
        (Requested, refuse(&[Ground::EssentialInterests])),
        (Requesting, Act::Close),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (side, act))| {
        CaseEvent::new(
            format!("scenario-{i}"),
            side,
            T0 + Duration::hours(i as i64),
            act,
        )
    })
    .collect()
}

fn any_act() -> impl Strategy<Value = Act> {
    prop_oneof![
        Just(submit(RequestKind::Mla)),
        Just(submit(RequestKind::Preservation)),
        Just(submit(RequestKind::EmergencyData)),
        Just(Act::Acknowledge),
        Just(Act::RequestInfo),
        Just(Act::ProvideInfo),
        Just(consult()),
        Just(Act::AcceptConditions),
        Just(Act::DeclineConditions),
        Just(Act::Postpone {
            reasons: "A national investigation would be harmed.".into(),
            until: None,
        }),
        Just(refuse(&[Ground::FiscalMatters])),
        Just(refuse(&[Ground::Persecution])),
        Just(Act::ConfirmPreservation {
            took_effect: date!(2026 - 01 - 01),
            days: 60,
        }),
        Just(Act::ExtendPreservation {
            until: date!(2026 - 04 - 01),
        }),
        Just(Act::DeclineExtension {
            reasons: "No longer needed by our law.".into(),
        }),
        Just(Act::AnnounceFollowUp {
            request: "thr-1".into(),
        }),
        Just(execute_partly("sha256:02")),
        Just(Act::ExecuteWholly {
            evidence: vec!["sha256:03".into()],
        }),
        Just(Act::Withdraw),
        Just(Act::AskStatus),
        Just(Act::AnswerStatus),
        Just(Act::Close),
        Just(Act::Correspond),
        Just(Act::ReportDeletion),
    ]
}

/// Random events over three days; ids from a small pool, so that some
/// share an id with different contents.
fn noise() -> impl Strategy<Value = Vec<CaseEvent>> {
    prop::collection::vec(
        (0u32..40, any::<bool>(), 0i64..3 * 24 * 60, any_act()),
        0..30,
    )
    .prop_map(|events| {
        events
            .into_iter()
            .map(|(id, requested, minutes, act)| {
                let side = if requested { Requested } else { Requesting };
                CaseEvent::new(
                    format!("noise-{id}"),
                    side,
                    T0 + Duration::minutes(minutes),
                    act,
                )
            })
            .collect()
    })
}

/// A thread, and the same thread delivered in another order with repeats.
fn delivery() -> impl Strategy<Value = (Vec<CaseEvent>, Vec<CaseEvent>)> {
    (
        any::<bool>(),
        noise(),
        prop::collection::vec(any::<Index>(), 0..20),
    )
        .prop_flat_map(|(with_scenario, noise, repeats)| {
            let mut thread = if with_scenario {
                scenario()
            } else {
                Vec::new()
            };
            thread.extend(noise);
            let mut delivered = thread.clone();
            if !thread.is_empty() {
                for r in repeats {
                    delivered.push(thread[r.index(thread.len())].clone());
                }
            }
            (Just(thread), Just(delivered).prop_shuffle())
        })
}

proptest! {
    #[test]
    fn shuffled_and_repeated_delivery_derives_the_same_case(
        (thread, delivered) in delivery(),
        minutes in 0i64..5 * 24 * 60,
    ) {
        let now = T0 + Duration::minutes(minutes);
        let once = derive(&thread, now);
        let again = derive(&delivered, now);
        prop_assert_eq!(&once, &again);
        // Every distinct id ends on the timeline or among the refused, once.
        let mut ids: Vec<&str> = thread.iter().map(|e| e.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        prop_assert_eq!(once.timeline.len() + once.refused.len(), ids.len());
    }
}

#[test]
fn the_whole_scenario_is_accepted_in_any_order_of_arrival() {
    let thread = scenario();
    let mut reversed = thread.clone();
    reversed.reverse();
    reversed.extend(thread.iter().cloned());
    let now = T0 + Duration::days(2);
    let view = derive(&reversed, now);
    assert_eq!(view, derive(&thread, now));
    assert_eq!(view.timeline.len(), thread.len());
    assert!(view.refused.is_empty(), "{:?}", view.refused);
    assert_eq!(view.state, custos_case::State::Closed);
}
