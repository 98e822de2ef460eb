//! What every benchmark needs to read its size and print its figures: a
//! count from the environment, a percentile of sorted times, and a time in
//! milliseconds or microseconds as the tables of `docs/benchmarks.md` show
//! them.

use std::time::Duration;

/// The count in environment variable `name` (`_` may group digits:
/// `1_000_000`), or `default` when it is unset or not a count.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| count(&v))
        .unwrap_or(default)
}

/// `text` as a count, its digits perhaps grouped by `_`.
fn count(text: &str) -> Option<usize> {
    text.trim().replace('_', "").parse().ok()
}

/// The `p` percentile (0.0 to 1.0) of `sorted`, the nearest rank; zero
/// when nothing was measured.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let Some(last) = sorted.len().checked_sub(1) else {
        return Duration::ZERO;
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a rank within the slice
    let i = (last as f64 * p.clamp(0.0, 1.0)).round() as usize;
    sorted[i.min(last)]
}

/// `d` in milliseconds with two decimals: `12.85 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// `d` in microseconds with one decimal: `8.0 µs`.
pub fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let times: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&times, 0.5), Duration::from_millis(51));
        assert_eq!(percentile(&times, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&times, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&times, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }

    #[test]
    fn counts_may_group_their_digits() {
        assert_eq!(count("1_000_000"), Some(1_000_000));
        assert_eq!(count(" 200 "), Some(200));
        assert_eq!(count("ten"), None);
        assert_eq!(count("-5"), None);
        assert_eq!(env_usize("CUSTOS_TESTKIT_BENCH_NEVER_SET", 7), 7);
    }

    #[test]
    fn times_print_as_the_tables_show_them() {
        assert_eq!(ms(Duration::from_micros(12_850)), "12.85 ms");
        assert_eq!(micros(Duration::from_nanos(8_000)), "8.0 µs");
    }
}
