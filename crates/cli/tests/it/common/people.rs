//! People on the test nodes: a user added with `custos user add`, whose
//! password and second-factor secret the tests keep to sign in, and the
//! TOTP code (RFC 6238) an authenticator app would show, computed here
//! apart from the node's own code.

use std::ffi::OsStr;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha1::Sha1;

use super::Network;

/// A person with a user on a node.
#[derive(Clone, Debug)]
pub struct Person {
    pub name: String,
    pub password: String,
    /// The base32 TOTP secret shown once when the user was added.
    pub totp_secret: String,
}

/// The six-digit TOTP code of a base32 secret, now.
#[allow(clippy::disallowed_methods)] // the serving node reads the real time, as an authenticator does
pub fn totp_now(secret_base32: &str) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret_base32.as_bytes())
        .expect("the secret is base32");
    let step = time::OffsetDateTime::now_utc().unix_timestamp() / 30;
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&key).expect("any key length");
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let at = usize::from(h[19] & 0x0f);
    let word = u32::from_be_bytes([h[at] & 0x7f, h[at + 1], h[at + 2], h[at + 3]]);
    format!("{:06}", word % 1_000_000)
}

/// Waits for the next 30-second step, whose code the node has not seen: a
/// code signs in once, so a second sign-in of the same person needs it.
#[allow(clippy::disallowed_methods)] // the step is the real clock's, as the node's is
pub fn wait_for_a_fresh_code() {
    let now = time::OffsetDateTime::now_utc();
    let into_step = now.unix_timestamp().rem_euclid(30);
    let left = std::time::Duration::from_secs(u64::try_from(30 - into_step).unwrap_or(30))
        .saturating_sub(std::time::Duration::from_nanos(u64::from(now.nanosecond())));
    std::thread::sleep(left + std::time::Duration::from_millis(200));
}

impl Network {
    /// Adds user `name` with `roles` (comma-separated role names) to the
    /// node of State `cc`, as its operator would.
    pub fn add_person(&self, cc: &str, name: &str, roles: &str) -> Person {
        let dir = self.dir(cc);
        let added: Value = serde_json::from_str(&self.run_ok(&[
            OsStr::new("user"),
            OsStr::new("add"),
            OsStr::new(name),
            OsStr::new("--roles"),
            OsStr::new(roles),
            OsStr::new("--data"),
            dir.as_os_str(),
            OsStr::new("--json"),
        ]))
        .expect("user add --json prints JSON");
        Person {
            name: name.to_owned(),
            password: added["password"].as_str().expect("a password").to_owned(),
            totp_secret: added["second_factor"]["totp_secret"]
                .as_str()
                .expect("a TOTP secret")
                .to_owned(),
        }
    }
}
