//! Messages (`crates/protocol`): what `POST /federation/v1/messages` does
//! with a body. Mode 0 runs `open_message` on the bytes as ciphertext
//! (age header and stream, then every check); mode 1 runs the checks after
//! decryption on the bytes as envelope JSON; modes 2 and up sign the bytes
//! as the payload of a message kind with France's real key, so that the
//! message parser, canonical form, directory, time window and body checks
//! all see fuzzer-made payloads. France's envelopes are also opened by
//! France (the sender reading its own outbox) to cover that path.
#![no_main]

use custos_protocol::{MessageKind, open_message, verify_message_envelope};
use custos_seal::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let w = custos_fuzz::world();
    let de = w.de.state;
    let (mode, rest) = custos_fuzz::split(data);
    match mode {
        0 => {
            let identities = std::slice::from_ref(&w.de.encryption);
            let _ = open_message(
                rest,
                identities,
                &w.directory,
                de,
                custos_fuzz::NOW,
                custos_fuzz::LIMIT,
            );
        }
        1 => {
            let _ = verify_message_envelope(rest.to_vec(), &w.directory, de, custos_fuzz::NOW);
        }
        n => {
            let kind = MessageKind::ALL[usize::from(n) % MessageKind::ALL.len()];
            let envelope = Envelope::sign(kind.payload_type(), rest, &w.fr.signing);
            if let Ok(opened) =
                verify_message_envelope(envelope.to_json(), &w.directory, de, custos_fuzz::NOW)
            {
                // An accepted message has a body of its kind and keeps its id.
                opened
                    .message
                    .body()
                    .expect("an accepted message has a body");
                assert_eq!(opened.payload, rest);
                let _ = opened.message.draft();
            }
        }
    }
});
