//! Request drafts (`crates/model`): what `custos request validate` and the
//! client API do with a draft file (JSON with comments). The text is parsed
//! and validated; a report is made whatever the input.
#![no_main]

use custos_model::validate::{parse, validate, validate_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let report = validate_text(text);
    let _ = report.is_valid();
    let _ = report.errors();
    if let Ok(value) = parse(text) {
        let _ = validate(&value);
    }
});
