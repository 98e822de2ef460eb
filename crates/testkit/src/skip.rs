//! Tests that need an outside server skip, loudly and countably, when it is missing.
//!
//! The test runner captures what a passing test prints with `println!` or
//! `eprintln!`, so a skip announced that way is invisible and the test shows
//! as passed. [`skipped`] writes its `SKIPPED: ...` line straight to the
//! process's standard error, past the capture, where the CI script counts
//! such lines. Under `CUSTOS_TEST_REQUIRE_POSTGRES=1` (as CI sets it) a test
//! that would skip for want of PostgreSQL fails instead.

use std::io::Write as _;

use crate::POSTGRES_URL_VAR;

/// Set to `1` to make a missing `CUSTOS_TEST_POSTGRES_URL` a failure, not a skip.
pub const REQUIRE_POSTGRES_VAR: &str = "CUSTOS_TEST_REQUIRE_POSTGRES";

/// What a test that needs PostgreSQL does, given the environment's two variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostgresDecision {
    /// Run against the server at this URL.
    Run(String),
    /// Skip, for this reason.
    Skip(String),
    /// Fail, for this reason: the server is required and not named.
    Fail(String),
}

/// Decides from the values of `CUSTOS_TEST_POSTGRES_URL` and
/// `CUSTOS_TEST_REQUIRE_POSTGRES`. An empty URL counts as unset; the
/// requirement holds only for the value `1`.
pub fn postgres_decision(url: Option<&str>, require: Option<&str>) -> PostgresDecision {
    match url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => PostgresDecision::Run(u.to_owned()),
        None if require.map(str::trim) == Some("1") => PostgresDecision::Fail(format!(
            "{REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set: start PostgreSQL and name it, e.g. postgres://postgres@127.0.0.1:5432/test"
        )),
        None => PostgresDecision::Skip(format!("{POSTGRES_URL_VAR} is not set")),
    }
}

/// The PostgreSQL server URL a test runs against, or `None` after printing
/// a `SKIPPED:` line naming the test. Panics (failing the test) when the
/// server is required and not named.
pub fn postgres_url() -> Option<String> {
    let test = current_test();
    let test = test.as_str();
    let url = std::env::var(POSTGRES_URL_VAR).ok();
    let require = std::env::var(REQUIRE_POSTGRES_VAR).ok();
    match postgres_decision(url.as_deref(), require.as_deref()) {
        PostgresDecision::Run(url) => Some(url),
        PostgresDecision::Skip(reason) => {
            skipped(test, &reason);
            None
        }
        PostgresDecision::Fail(reason) => panic!("{test}: {reason}"),
    }
}

/// The running test's name: the test runner names each test's thread after it.
pub fn current_test() -> String {
    std::thread::current().name().unwrap_or("a test").to_owned()
}

/// Announces that `test` (or a part of it) did not run, and why, on the
/// process's standard error past the test runner's capture.
pub fn skipped(test: &str, reason: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "SKIPPED: {test}: {reason}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_server_runs_whether_required_or_not() {
        for require in [None, Some("1"), Some("0")] {
            assert_eq!(
                postgres_decision(Some("postgres://h/db"), require),
                PostgresDecision::Run("postgres://h/db".into())
            );
        }
    }

    #[test]
    fn a_missing_server_skips_unless_required() {
        assert!(matches!(
            postgres_decision(None, None),
            PostgresDecision::Skip(_)
        ));
        assert!(matches!(
            postgres_decision(None, Some("0")),
            PostgresDecision::Skip(_)
        ));
        assert!(matches!(
            postgres_decision(Some("  "), None),
            PostgresDecision::Skip(_)
        ));
    }

    #[test]
    fn a_missing_server_fails_when_required() {
        let PostgresDecision::Fail(reason) = postgres_decision(None, Some("1")) else {
            panic!("a required server that is not named must fail");
        };
        assert!(reason.contains(POSTGRES_URL_VAR), "{reason}");
        assert!(matches!(
            postgres_decision(Some(""), Some("1")),
            PostgresDecision::Fail(_)
        ));
    }
}
