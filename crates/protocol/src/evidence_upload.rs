//! The authorisation a sending node puts on each call of an evidence
//! upload (offer, status, segment, acceptance), in the `custos-upload-auth`
//! header: a DSSE envelope, signed with the sender's node key, of
//! `{"v":1,"package":..,"from":..,"to":..,"at":..}`.
//!
//! The receiver checks it against its directory (a signing key of `from`,
//! not revoked, valid at `at`), that `from` is the sender the package's
//! manifest names, that `to` is itself and `package` the package called,
//! and that `at` is within [`MAX_CLOCK_AHEAD`] of its clock either way. So
//! only the node that signed the manifest can offer it, follow it, upload to
//! it or ask for its acceptance; anyone else who has learnt the package id
//! (or holds a copy of the manifest) is refused with `upload-unauthorized`.
//! Over plain HTTP a header seen on the wire could be replayed for those few
//! minutes; nodes outside loopback talk TLS.

use custos_model::StateCode;
use custos_seal::{Envelope, SigningKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::directory::Directory;
use crate::error::ProtocolError;
use crate::sealed::MAX_CLOCK_AHEAD;
use crate::timestamp;

/// The HTTP header that carries the authorisation.
pub const UPLOAD_AUTH_HEADER: &str = "custos-upload-auth";
/// DSSE payload type of an upload authorisation.
pub const UPLOAD_AUTH_PAYLOAD_TYPE: &str = "application/vnd.custos.evidence-upload.v1+json";
/// The longest header value read, in bytes.
pub const MAX_UPLOAD_AUTH_BYTES: usize = 2048;

/// "`from` is uploading package `package` to `to`, at `at`."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadAuth {
    pub v: u32,
    /// The package id, `sha256:<hex>`.
    pub package: String,
    pub from: StateCode,
    pub to: StateCode,
    #[serde(with = "timestamp::micros")]
    pub at: OffsetDateTime,
}

fn refuse(detail: impl Into<String>) -> ProtocolError {
    ProtocolError::UploadUnauthorized {
        detail: detail.into(),
    }
}

/// The header value authorising `from`'s calls about `package` to `to` at
/// `now`: the signed envelope's JSON (ASCII, a valid header value).
pub fn sign_upload_auth(
    package: &str,
    from: StateCode,
    to: StateCode,
    now: OffsetDateTime,
    key: &SigningKey,
) -> Result<String, ProtocolError> {
    let auth = UploadAuth {
        v: 1,
        package: package.to_owned(),
        from,
        to,
        at: timestamp::truncate(now),
    };
    let payload = crate::json::canonical("upload authorisation", &auth)?;
    let json = Envelope::sign(UPLOAD_AUTH_PAYLOAD_TYPE, &payload, key).to_json();
    String::from_utf8(json).map_err(|e| ProtocolError::Encoding {
        what: "upload authorisation".into(),
        detail: e.to_string(),
    })
}

/// Checks a header value: a signature by a current key of `sender` (the
/// manifest's sender), for `package`, addressed to `me`, made within
/// [`MAX_CLOCK_AHEAD`] of `now`. A missing header is `None`.
pub fn verify_upload_auth(
    header: Option<&[u8]>,
    directory: &Directory,
    package: &str,
    sender: StateCode,
    me: StateCode,
    now: OffsetDateTime,
) -> Result<(), ProtocolError> {
    let bytes = header.ok_or_else(|| {
        refuse(format!(
            "no {UPLOAD_AUTH_HEADER} header; the package's sender signs one for each call"
        ))
    })?;
    if bytes.len() > MAX_UPLOAD_AUTH_BYTES {
        return Err(refuse(format!(
            "the {UPLOAD_AUTH_HEADER} header is longer than {MAX_UPLOAD_AUTH_BYTES} bytes"
        )));
    }
    let envelope = Envelope::from_json(bytes)
        .map_err(|e| refuse(format!("the header is not a signed envelope: {e}")))?;
    if envelope.payload_type != UPLOAD_AUTH_PAYLOAD_TYPE {
        return Err(refuse(
            "the header's payload type is not an upload authorisation",
        ));
    }
    let auth: UploadAuth = serde_json::from_slice(&envelope.payload).map_err(|e| {
        refuse(format!(
            "the header's payload is not an upload authorisation: {e}"
        ))
    })?;
    if auth.v != 1 {
        return Err(refuse(format!("version {} is not read", auth.v)));
    }
    if auth.from != sender {
        return Err(refuse(format!(
            "signed for {}, but the package's sender is {sender}",
            auth.from
        )));
    }
    if auth.to != me || auth.package != package {
        return Err(refuse(format!(
            "signed for package {} to {}, not for {package} to {me}",
            auth.package, auth.to
        )));
    }
    if auth.at > now + MAX_CLOCK_AHEAD || auth.at < now - MAX_CLOCK_AHEAD {
        return Err(refuse(format!(
            "signed at {}, more than 5 minutes from this node's clock ({})",
            timestamp::format(auth.at),
            timestamp::format(now)
        )));
    }
    directory
        .check_signature(sender, &envelope, auth.at)
        .map_err(|e| refuse(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use custos_seal::EncryptionIdentity;
    use time::macros::datetime;

    use super::*;
    use crate::directory::{DirectoryEntry, DirectoryList, KeyValidity};

    fn st(code: &str) -> StateCode {
        code.parse().unwrap()
    }

    fn directory(keys: &[(&str, &SigningKey)]) -> Directory {
        let registry = SigningKey::from_seed(&[9; 32]);
        let issued = datetime!(2026-11-01 00:00 UTC);
        let signed = keys
            .iter()
            .map(|(state, key)| {
                DirectoryEntry {
                    v: 1,
                    state: st(state),
                    name: format!("{state} node"),
                    node_url: format!("https://{state}.example"),
                    signing_keys: vec![KeyValidity::new(
                        key.verifying_key(),
                        datetime!(2026-01-01 00:00 UTC),
                    )],
                    encryption_keys: vec![KeyValidity::new(
                        EncryptionIdentity::generate().recipient(),
                        datetime!(2026-01-01 00:00 UTC),
                    )],
                    contact_24_7: None,
                    central_authority: None,
                    languages: vec!["en".into()],
                    treaty_status: None,
                    issued_at: issued,
                }
                .sign(key)
                .unwrap()
            })
            .collect();
        let list = DirectoryList::new(1, "Test", issued, datetime!(2027-01-01 00:00 UTC), signed)
            .sign(&registry)
            .unwrap();
        Directory::verify_allow_expired(&list, &registry.verifying_key()).unwrap()
    }

    #[test]
    fn only_the_sender_for_this_package_and_receiver_now_is_authorised() {
        let de = SigningKey::from_seed(&[2; 32]);
        let it = SigningKey::from_seed(&[3; 32]);
        let dir = directory(&[
            ("DE", &de),
            ("IT", &it),
            ("FR", &SigningKey::from_seed(&[1; 32])),
        ]);
        let package = format!("sha256:{}", "c".repeat(64));
        let now = datetime!(2026-11-28 12:00 UTC);
        let check = |header: Option<&str>, at: OffsetDateTime| {
            verify_upload_auth(
                header.map(str::as_bytes),
                &dir,
                &package,
                st("DE"),
                st("FR"),
                at,
            )
        };
        let good = sign_upload_auth(&package, st("DE"), st("FR"), now, &de).unwrap();
        check(Some(&good), now).unwrap();
        check(Some(&good), now + time::Duration::minutes(4)).unwrap();
        let refused = [
            check(None, now),
            check(Some(&good), now + time::Duration::minutes(6)),
            check(Some(&good), now - time::Duration::minutes(6)),
            // Another peer, with its own real key.
            check(
                Some(&sign_upload_auth(&package, st("IT"), st("FR"), now, &it).unwrap()),
                now,
            ),
            // Claiming to be the sender, signed with another key.
            check(
                Some(&sign_upload_auth(&package, st("DE"), st("FR"), now, &it).unwrap()),
                now,
            ),
            // The sender's authorisation for another package or receiver.
            check(
                Some(
                    &sign_upload_auth(
                        &format!("sha256:{}", "d".repeat(64)),
                        st("DE"),
                        st("FR"),
                        now,
                        &de,
                    )
                    .unwrap(),
                ),
                now,
            ),
            check(
                Some(&sign_upload_auth(&package, st("DE"), st("IT"), now, &de).unwrap()),
                now,
            ),
            check(Some("{not json"), now),
        ];
        for (i, r) in refused.into_iter().enumerate() {
            let err = r.expect_err(&format!("case {i} was authorised"));
            assert_eq!(
                err.code(),
                crate::ErrorCode::UploadUnauthorized,
                "case {i}: {err}"
            );
        }
    }
}
