//! Treaty registry files (`crates/model`, TOML): what `custos treaty status
//! --registry FILE` does with a file. The text is read as the CLI reads it
//! (`toml` into `Registry`), checked, and when it has no errors its status
//! is computed at its `as_of` date and at dates around it, with the legal
//! basis between its first two parties.
#![no_main]

use custos_model::Registry;
use custos_model::treaty::IssueLevel;
use libfuzzer_sys::fuzz_target;
use time::Duration;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(registry) = toml::from_str::<Registry>(text) else {
        return;
    };
    let issues = registry.check();
    if issues.iter().any(|i| i.level == IssueLevel::Error) {
        return;
    }
    let _ = registry.entry_into_force();
    for day in [Duration::ZERO, Duration::days(-400), Duration::days(400)] {
        let Some(at) = registry.as_of.checked_add(day) else {
            continue;
        };
        let _ = registry.status_at(at);
        if let [a, b, ..] = registry.parties.as_slice() {
            let _ = registry.convention_applies(a.code, b.code, at);
        }
    }
    for party in &registry.parties {
        let _ = registry.in_force_from(party.code);
    }
});
