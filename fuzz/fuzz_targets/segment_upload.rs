//! Evidence transfer (`crates/protocol`): the pieces of a segment upload
//! that come from the other side. Mode 0 reads the bytes as a receiver's
//! answer (upload status, `package-incomplete` answer, error body) the way
//! the sender does, and works out the segments to send; mode 1 reads the
//! two halves as the package id and segment index of an upload URL, the
//! way the receiver finds the segment; mode 2 reads the bytes as a segment
//! file (age ciphertext) with Germany's identity, the way `evidence verify`
//! and `evidence open` stream it, up to a bounded size.
#![no_main]

use std::io::Read;

use custos_protocol::ErrorResponse;
use custos_protocol::evidence_transfer::{
    IncompleteAnswer, UploadStatus, is_package_id, package_hex,
};
use libfuzzer_sys::fuzz_target;

/// The number of segments of the package being sent.
const LISTED: usize = 3;

fuzz_target!(|data: &[u8]| {
    let w = custos_fuzz::world();
    let (mode, rest) = custos_fuzz::split(data);
    match mode % 3 {
        0 => {
            if let Ok(status) = serde_json::from_slice::<UploadStatus>(rest)
                && let Some(missing) = status.missing(LISTED)
            {
                assert!(missing.windows(2).all(|p| p[0] < p[1]));
                assert!(missing.iter().all(|&i| (i as usize) < LISTED));
            }
            let _ = serde_json::from_slice::<IncompleteAnswer>(rest);
            let _ = serde_json::from_slice::<ErrorResponse>(rest);
        }
        1 => {
            let (id, index) = custos_fuzz::halves(rest);
            let (Ok(id), Ok(index)) = (std::str::from_utf8(id), std::str::from_utf8(index)) else {
                return;
            };
            let _ = is_package_id(id);
            if let Some(hex) = package_hex(id) {
                assert_eq!(hex.len(), 64);
            }
            let _ = index
                .parse::<u64>()
                .ok()
                .and_then(|i| usize::try_from(i).ok())
                .filter(|&i| i < LISTED);
        }
        _ => {
            if let Ok(reader) = custos_seal::decrypt_reader(rest, &w.de.encryption) {
                let mut sink = Vec::new();
                let _ = reader.take(1 << 20).read_to_end(&mut sink);
            }
        }
    }
});
