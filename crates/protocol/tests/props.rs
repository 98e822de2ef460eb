//! Property tests: any single altered byte of a sealed message is refused
//! before anything inside it is trusted, and every message survives its own
//! JSON encoding unchanged, with a stable id.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

mod common;

use std::sync::OnceLock;

use common::*;
use custos_model::refusal::{Ground, Refusal};
use custos_protocol::case_bodies::{
    AskConsentBody, ConfirmPreservationBody, ConsultBody, CorrespondenceBody, ExecuteBody,
    ExtendBody, FollowUpBody, GrantConsentBody, PostponeBody, ReasonsBody, RefuseConsentBody,
    StatusBody, StatusQueryBody,
};
use custos_protocol::{
    Body, ErrorCode, Message, MessageId, MessageKind, NoteBody, RefuseBody, SubmitBody,
    new_thread_id, open_message, seal_message, timestamp,
};
use proptest::prelude::*;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

struct Sealed {
    world: World,
    ciphertext: Vec<u8>,
}

fn sealed() -> &'static Sealed {
    static SEALED: OnceLock<Sealed> = OnceLock::new();
    SEALED.get_or_init(|| {
        let world = world();
        let recipients = [
            world.de.encryption.recipient(),
            world.fr.encryption.recipient(),
        ];
        let ciphertext = seal_message(&submit_fr_de(), &world.fr.signing, &recipients)
            .unwrap()
            .ciphertext;
        Sealed { world, ciphertext }
    })
}

proptest! {
    #[test]
    fn one_flipped_byte_anywhere_is_refused_at_decryption(
        position in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let s = sealed();
        let w = &s.world;
        let mut bytes = s.ciphertext.clone();
        let at = position.index(bytes.len());
        bytes[at] ^= mask;
        let result = open_message(
            &bytes,
            std::slice::from_ref(&w.de.encryption),
            &w.directory,
            w.de.state,
            NOW,
            LIMIT,
        );
        let code = result.map(|_| ()).map_err(|e| e.code());
        prop_assert!(
            matches!(code, Err(ErrorCode::MalformedCiphertext | ErrorCode::NotForThisNode)),
            "byte {} ^ {:#04x}: {:?}", at, mask, code
        );
    }
}

fn arb_state() -> impl Strategy<Value = custos_model::StateCode> {
    "[A-Z]{2}".prop_map(|s| s.parse().unwrap())
}

fn arb_time() -> impl Strategy<Value = OffsetDateTime> {
    // 1970 to about 2100, microsecond steps.
    (0i64..4_102_444_800_000_000).prop_map(|micros| {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).unwrap()
    })
}

fn arb_id() -> impl Strategy<Value = MessageId> {
    any::<Vec<u8>>().prop_map(|b| MessageId::of_payload(&b))
}

fn arb_thread() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(|n| new_thread_id(Uuid::from_u128(n)))
}

/// JSON without floating-point numbers (the draft format has few, and the
/// canonical form of a float need not read back as the same `Value`).
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(Value::from),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".*", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_note() -> impl Strategy<Value = Option<String>> {
    prop::option::of(".*")
}

/// A kind with a body of that kind's typed form.
fn arb_body() -> impl Strategy<Value = (MessageKind, Body)> {
    let grounds = prop::collection::vec(prop::sample::select(Ground::ALL.to_vec()), 0..4);
    let note_kinds: Vec<MessageKind> = MessageKind::ALL
        .into_iter()
        .filter(|k| k.carries_note() && *k != MessageKind::StatusQuery)
        .collect();
    prop_oneof![
        arb_json().prop_map(|draft| (MessageKind::Submit, Body::Submit(SubmitBody { draft }))),
        (grounds, ".*", any::<bool>(), arb_note()).prop_map(
            |(grounds, reasons, consulted, note)| {
                let refusal = Refusal {
                    grounds,
                    reasons,
                    consulted,
                };
                (
                    MessageKind::Refuse,
                    Body::Refuse(RefuseBody { refusal, note }),
                )
            }
        ),
        (prop::sample::select(note_kinds), arb_note())
            .prop_map(|(kind, note)| (kind, Body::Note(NoteBody { note }))),
        arb_case_body(),
    ]
}

fn arb_date() -> impl Strategy<Value = time::Date> {
    (1i32..=9999, 1u16..=366).prop_map(|(year, day)| {
        time::Date::from_ordinal_date(year, day)
            .unwrap_or_else(|_| time::Date::from_ordinal_date(year, 1).unwrap())
    })
}

/// A body of one of the case kinds that carry more than a note.
fn arb_case_body() -> impl Strategy<Value = (MessageKind, Body)> {
    let texts = prop::collection::vec(".*", 0..3);
    prop_oneof![
        (texts.clone(), arb_note()).prop_map(|(conditions, note)| (
            MessageKind::Consult,
            Body::Consult(ConsultBody { conditions, note })
        )),
        (".*", prop::option::of(arb_date()), arb_note()).prop_map(|(reasons, until, note)| (
            MessageKind::Postpone,
            Body::Postpone(PostponeBody {
                reasons,
                until,
                note
            })
        )),
        (arb_date(), any::<u32>(), arb_note()).prop_map(|(took_effect, days, note)| (
            MessageKind::ConfirmPreservation,
            Body::ConfirmPreservation(ConfirmPreservationBody {
                took_effect,
                days,
                note
            })
        )),
        (arb_date(), arb_note()).prop_map(|(until, note)| (
            MessageKind::Extend,
            Body::Extend(ExtendBody { until, note })
        )),
        (".*", arb_note()).prop_map(|(reasons, note)| (
            MessageKind::DeclineExtension,
            Body::DeclineExtension(ReasonsBody { reasons, note })
        )),
        (any::<bool>(), texts.clone(), arb_note(), texts.clone()).prop_map(
            |(partly, evidence, note, use_conditions)| (
                if partly {
                    MessageKind::ExecutePartly
                } else {
                    MessageKind::Execute
                },
                Body::Execute(ExecuteBody {
                    evidence,
                    note,
                    use_conditions,
                    confidential: None,
                    personal_data: None,
                })
            )
        ),
        (".*", arb_note()).prop_map(|(request, note)| (
            MessageKind::FollowUp,
            Body::FollowUp(FollowUpBody { request, note })
        )),
        (".*", arb_note()).prop_map(|(state, note)| (
            MessageKind::Status,
            Body::Status(StatusBody { state, note })
        )),
        (arb_note(), any::<bool>()).prop_map(|(note, escalation)| (
            MessageKind::StatusQuery,
            Body::StatusQuery(StatusQueryBody { note, escalation })
        )),
        ".*".prop_map(|text| (
            MessageKind::Correspondence,
            Body::Correspondence(CorrespondenceBody { text })
        )),
        // issue 18: use limits and onward-transfer consent
        (
            texts.clone(),
            prop::option::of(".*"),
            prop::option::of(".*"),
            ".*",
            any::<bool>(),
            arb_note()
        )
            .prop_map(
                |(evidence, for_case, onward_to, reasons, exculpatory, note)| (
                    MessageKind::AskConsent,
                    Body::AskConsent(AskConsentBody {
                        evidence,
                        for_case,
                        onward_to,
                        reasons,
                        exculpatory,
                        note
                    })
                )
            ),
        (".*", texts.clone(), arb_note()).prop_map(|(ask, conditions, note)| (
            MessageKind::GrantConsent,
            Body::GrantConsent(GrantConsentBody {
                ask,
                conditions,
                note
            })
        )),
        (".*", ".*", arb_note()).prop_map(|(ask, reasons, note)| (
            MessageKind::RefuseConsent,
            Body::RefuseConsent(RefuseConsentBody { ask, reasons, note })
        )),
    ]
}

fn arb_message() -> impl Strategy<Value = (Message, Body)> {
    (
        arb_state(),
        arb_state(),
        arb_time(),
        arb_thread(),
        prop::option::of(arb_id()),
        arb_body(),
    )
        .prop_map(|(from, to, created_at, thread, prev, (kind, body))| {
            let message = Message::new(kind, from, to, thread, prev, created_at, body.to_value());
            (message, body)
        })
}

proptest! {
    #[test]
    fn messages_survive_their_json((message, body) in arb_message()) {
        let canonical = message.to_canonical_json().unwrap();
        prop_assert_eq!(&Message::from_json(&canonical).unwrap(), &message);
        custos_seal::ensure_canonical(&canonical).unwrap();
        prop_assert_eq!(message.body().unwrap(), body);

        // Any JSON spelling reads back the same, and re-encodes canonically.
        let pretty = serde_json::to_vec_pretty(&message).unwrap();
        let again = Message::from_json(&pretty).unwrap();
        prop_assert_eq!(&again, &message);
        prop_assert_eq!(again.to_canonical_json().unwrap(), canonical.clone());
        prop_assert_eq!(message.id().unwrap(), MessageId::of_payload(&canonical));

        let via_serde: Message = serde_json::from_slice(&canonical).unwrap();
        prop_assert_eq!(via_serde, message);
    }

    #[test]
    fn timestamps_survive_their_text(t in arb_time()) {
        prop_assert_eq!(timestamp::parse(&timestamp::format(t)), Ok(t));
    }
}
