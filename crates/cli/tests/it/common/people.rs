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

/// A TOTP code of `secret_base32` that this test process has not handed
/// out before: the node refuses a code it already accepted (a replay), so
/// a person signing in twice within one 30-second step waits for the next.
#[allow(clippy::disallowed_methods)] // as totp_now
pub fn totp_unused(secret_base32: &str) -> String {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static USED: OnceLock<Mutex<HashMap<String, i64>>> = OnceLock::new();
    let used = USED.get_or_init(Mutex::default);
    loop {
        let step = time::OffsetDateTime::now_utc().unix_timestamp() / 30;
        {
            let mut used = used
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if used.get(secret_base32).is_none_or(|last| *last < step) {
                // The code is computed for the same step it is recorded under.
                let code = totp_now(secret_base32);
                if time::OffsetDateTime::now_utc().unix_timestamp() / 30 == step {
                    used.insert(secret_base32.to_owned(), step);
                    return code;
                }
                continue;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
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
