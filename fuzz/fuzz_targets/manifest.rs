//! Evidence manifests (`crates/protocol`): what the receiver of an evidence
//! offer (`POST /federation/v1/evidence`) and `custos evidence verify` do
//! with `manifest.dsse.json`. Mode 0 reads the bytes unverified and
//! verified as they came; modes 1 and 2 sign them as a version 2 or
//! version 1 manifest payload with Germany's real key, so that the manifest
//! parser, canonical-form check, field rules, path rules, totals and segment
//! table all see fuzzer-made manifests. What verifies is then used as a
//! receiver uses it.
#![no_main]

use custos_protocol::evidence::{
    MANIFEST_PAYLOAD_TYPE, MANIFEST_PAYLOAD_TYPE_V1, Manifest, check_relative_path,
    read_manifest_unverified, segment_count, segment_file_name, verify_manifest,
};
use custos_seal::Envelope;
use libfuzzer_sys::fuzz_target;

fn use_manifest(manifest: &Manifest) {
    let _ = manifest.validate();
    let _ = manifest.sha256sum_lines();
    let _ = manifest.to_canonical_json();
    for file in &manifest.files {
        let _ = check_relative_path(&file.path);
    }
    for segment in &manifest.segments {
        let _ = segment.digest();
        let _ = segment_file_name(segment.index);
    }
    let _ = segment_count(manifest.content.size, manifest.content.segment_size);
}

fuzz_target!(|data: &[u8]| {
    let w = custos_fuzz::world();
    let (mode, rest) = custos_fuzz::split(data);
    let bytes = match mode % 3 {
        0 => rest.to_vec(),
        1 => Envelope::sign(MANIFEST_PAYLOAD_TYPE, rest, &w.de.signing).to_json(),
        _ => Envelope::sign(MANIFEST_PAYLOAD_TYPE_V1, rest, &w.de.signing).to_json(),
    };
    if let Ok(unverified) = read_manifest_unverified(&bytes) {
        use_manifest(&unverified.manifest);
    }
    if let Ok(verified) = verify_manifest(&bytes, &w.directory) {
        use_manifest(&verified.manifest);
    }
});
