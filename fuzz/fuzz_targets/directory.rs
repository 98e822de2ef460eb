//! Directory entries and lists (`crates/protocol`): what `custos directory
//! import` and a node's start-up do with a signed list. Mode 0 verifies the
//! bytes as a signed list against the registry key; mode 1 has the registry
//! sign the bytes as the list payload, so the list reader, every entry's
//! self-signature check and the duplicate checks see fuzzer-made lists
//! (seeds carry real signed entries); mode 2 signs the bytes as an entry
//! payload with France's key and reads the entry; mode 3 reads the bytes as
//! an entry envelope. A list that verifies must also pass the succession
//! check against the fixed directory without panicking.
#![no_main]

use custos_protocol::{
    DIRECTORY_ENTRY_PAYLOAD_TYPE, DIRECTORY_PAYLOAD_TYPE, Directory, DirectoryEntry,
};
use custos_seal::Envelope;
use libfuzzer_sys::fuzz_target;

fn after_verify(directory: &Directory, w: &custos_fuzz::World) {
    let _ = directory.check_current(custos_fuzz::NOW);
    let _ = directory.check_succession(&w.directory);
    for entry in directory.entries() {
        let _ = directory.current_recipients(entry.state, custos_fuzz::NOW);
        let _ = directory.node_url(entry.state);
    }
}

fuzz_target!(|data: &[u8]| {
    let w = custos_fuzz::world();
    let registry = w.registry.verifying_key();
    let (mode, rest) = custos_fuzz::split(data);
    match mode % 4 {
        0 => {
            if let Ok(d) = Directory::verify_allow_expired(rest, &registry) {
                after_verify(&d, w);
            }
        }
        1 => {
            let signed = Envelope::sign(DIRECTORY_PAYLOAD_TYPE, rest, &w.registry).to_json();
            if let Ok(d) = Directory::verify_allow_expired(&signed, &registry) {
                after_verify(&d, w);
            }
        }
        2 => {
            let signed = Envelope::sign(DIRECTORY_ENTRY_PAYLOAD_TYPE, rest, &w.fr.signing);
            if let Ok(entry) = DirectoryEntry::from_signed(&signed) {
                entry.check().expect("a read entry passes its own check");
            }
        }
        _ => {
            if let Ok(envelope) = Envelope::from_json(rest) {
                let _ = DirectoryEntry::from_signed(&envelope);
            }
        }
    }
});
