//! Why a peer could not be reached, said once and plainly.
//!
//! The HTTP client's own message repeats the URL ("error sending request
//! for url (...)") and keeps the reason (a refused connection, a timeout, a
//! name that does not resolve) several causes deep. Operators read these
//! lines in `custos outbox list`, `custos request send` and the witness
//! report, so the node names the peer's URL once and the reason in words.

use std::error::Error as _;

/// `cannot reach URL: REASON`, with the reason taken from the innermost cause.
pub fn cannot_reach(url: &str, e: &reqwest::Error) -> String {
    format!("cannot reach {url}: {}", reason(e))
}

/// The reason a request to a peer failed, without the URL.
pub fn reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    let mut innermost: Option<&(dyn std::error::Error + 'static)> = None;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            let said = match io.kind() {
                ConnectionRefused => Some("connection refused"),
                ConnectionReset => Some("connection reset"),
                ConnectionAborted => Some("connection aborted"),
                TimedOut => Some("timed out"),
                HostUnreachable => Some("host unreachable"),
                NetworkUnreachable => Some("network unreachable"),
                AddrNotAvailable => Some("address not available"),
                _ => None,
            };
            if let Some(said) = said {
                return said.to_owned();
            }
        }
        innermost = Some(s);
        source = s.source();
    }
    match innermost {
        Some(s) => s.to_string(),
        None => e.to_string(),
    }
}
