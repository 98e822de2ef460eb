//! The channels an alert is delivered by: mail over SMTP (`lettre`: implicit
//! TLS, STARTTLS, or plain on loopback only; optional authentication) and
//! webhooks signed in the Standard Webhooks form (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`, with a `whsec_<base64>` secret), which chat
//! and paging services verify with their own libraries.
//!
//! What is sent is the alert's kind, the counterpart State, the urgency,
//! the deadline and the link, never case content. Secrets and passwords
//! are masked in `Debug` and never logged.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use custos_store::AlertRecord;
use hmac::{Hmac, KeyInit, Mac};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;
use sha2::Sha256;
use time::OffsetDateTime;

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain, then upgraded with STARTTLS (port 587); refused if the server
    /// does not offer it.
    StartTls,
    /// No encryption: allowed only to a loopback server.
    Plain,
}

/// The mail server alerts go through (`[alerts.smtp]`).
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender address (`Custos FR <custos@example.org>`).
    pub from: String,
    pub timeout: Duration,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .finish()
    }
}

/// A webhook endpoint (`[[alerts.webhooks]]` in `custos.toml`, read as it
/// is written there).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub name: String,
    pub url: String,
    /// `whsec_<base64>`.
    pub secret: String,
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &"***")
            .finish()
    }
}

/// Why a channel's settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChannelConfigError(pub String);

impl SmtpSettings {
    /// Checks the settings once at start-up.
    pub fn check(&self) -> Result<(), ChannelConfigError> {
        self.from.parse::<lettre::message::Mailbox>().map_err(|e| {
            ChannelConfigError(format!(
                "alerts.smtp.from: {:?} is not a mailbox ({e})",
                self.from
            ))
        })?;
        if self.security == SmtpSecurity::Plain && !is_loopback(&self.host) {
            return Err(ChannelConfigError(format!(
                "alerts.smtp: plain SMTP is allowed only to a loopback server; use security = \"tls\" or \"starttls\" for {}",
                self.host
            )));
        }
        if self.username.is_some() != self.password.is_some() {
            return Err(ChannelConfigError(
                "alerts.smtp: give both username and password, or neither".to_owned(),
            ));
        }
        Ok(())
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The HMAC key of a `whsec_<base64>` secret.
pub fn webhook_key(secret: &str) -> Result<Vec<u8>, ChannelConfigError> {
    let Some(b64) = secret.strip_prefix("whsec_") else {
        return Err(ChannelConfigError(
            "a webhook secret starts with whsec_ followed by base64".to_owned(),
        ));
    };
    let key = STANDARD.decode(b64).map_err(|_| {
        ChannelConfigError("the webhook secret after whsec_ is not base64".to_owned())
    })?;
    if key.len() < 16 {
        return Err(ChannelConfigError(
            "the webhook secret is shorter than 16 bytes".to_owned(),
        ));
    }
    Ok(key)
}

impl WebhookSettings {
    /// Checks the settings once at start-up.
    pub fn check(&self) -> Result<(), ChannelConfigError> {
        webhook_key(&self.secret)
            .map_err(|e| ChannelConfigError(format!("alerts.webhooks {:?}: {}", self.name, e.0)))?;
        let url = reqwest::Url::parse(&self.url).map_err(|e| {
            ChannelConfigError(format!("alerts.webhooks {:?}: url: {e}", self.name))
        })?;
        let plain_ok = url.host_str().is_some_and(is_loopback);
        if url.scheme() != "https" && !(url.scheme() == "http" && plain_ok) {
            return Err(ChannelConfigError(format!(
                "alerts.webhooks {:?}: use an https:// URL (http:// only to a loopback address)",
                self.name
            )));
        }
        Ok(())
    }
}

/// The Standard Webhooks signature header of `body` sent as message `id` at
/// `timestamp` (Unix seconds): `v1,<base64 HMAC-SHA256>`.
pub fn sign_webhook(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// What one delivery says.
#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    pub delivery_id: i64,
    pub alert: &'a AlertRecord,
    pub level: u32,
    pub recipient: &'a str,
    pub link: String,
    /// This node's State.
    pub node: String,
}

fn describe(kind: &str) -> &'static str {
    match kind {
        "emergency-request" => "Emergency request received",
        "urgent-request" => "Urgent request received",
        "ack-target-passed" => "Emergency acknowledgement target passed",
        "clock-warning" => "A case's clock falls due soon",
        "clock-overdue" => "A case's clock is overdue",
        "test" => "Test alert",
        _ => "Alert",
    }
}

fn deadline(a: &AlertRecord) -> String {
    a.deadline
        .map(custos_protocol::timestamp::format)
        .unwrap_or_else(|| "none".to_owned())
}

/// The webhook body: JSON in the Standard Webhooks envelope.
pub(crate) fn webhook_body(out: &Outgoing<'_>, now: OffsetDateTime) -> Vec<u8> {
    let a = out.alert;
    let body = json!({
        "type": if out.level == 0 { "alert.raised" } else { "alert.escalated" },
        "timestamp": custos_protocol::timestamp::format(now),
        "data": {
            "alert": a.id,
            "kind": a.kind,
            "summary": describe(&a.kind),
            "node": out.node,
            "counterpart": a.counterpart,
            "urgency": a.urgency,
            "deadline": a.deadline.map(custos_protocol::timestamp::format),
            "link": out.link,
            "level": out.level,
            "to": out.recipient,
        }
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Calls a webhook once; the error names what failed, never the secret.
pub(crate) async fn call_webhook(
    http: &reqwest::Client,
    hook: &WebhookSettings,
    out: &Outgoing<'_>,
    now: OffsetDateTime,
) -> Result<(), String> {
    let key = webhook_key(&hook.secret).map_err(|e| e.0)?;
    let id = format!("{}-{}", out.alert.id, out.delivery_id);
    let timestamp = now.unix_timestamp();
    let body = webhook_body(out, now);
    let signature = sign_webhook(&key, &id, timestamp, &body);
    let answer = http
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .timeout(Duration::from_secs(10))
        .body(body)
        .send()
        .await
        .map_err(|e| format!("webhook {:?} unreachable: {}", hook.name, e.without_url()))?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "webhook {:?} answered {}",
            hook.name,
            answer.status()
        ))
    }
}

/// The mail of a delivery.
pub(crate) fn mail(from: &str, to: &str, out: &Outgoing<'_>) -> Result<Message, String> {
    let a = out.alert;
    let subject = format!(
        "[Custos {}] {}: {} ({}){}",
        out.node,
        describe(&a.kind),
        a.counterpart,
        a.urgency,
        if out.level > 0 { " - escalated" } else { "" }
    );
    let text = format!(
        "{summary}.\n\n\
         Counterpart State: {counterpart}\n\
         Urgency: {urgency}\n\
         Deadline: {deadline}\n\
         Open: {link}\n\n\
         Acknowledge it on the desk or with: custos alerts ack {id}\n\
         (alert {id}, level {level}; sent to {to} as on duty for {role})\n",
        summary = describe(&a.kind),
        counterpart = a.counterpart,
        urgency = a.urgency,
        deadline = deadline(a),
        link = out.link,
        id = a.id,
        level = out.level,
        to = out.recipient,
        role = a.role,
    );
    let from = from
        .parse()
        .map_err(|e| format!("the sender address is invalid: {e}"))?;
    let to = to
        .parse()
        .map_err(|e| format!("the recipient address is invalid: {e}"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(text)
        .map_err(|e| format!("the mail could not be built: {e}"))
}

/// The SMTP transport of `s`.
pub fn smtp_transport(s: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let builder = match s.security {
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)
            .map_err(|e| format!("SMTP TLS setup for {}: {e}", s.host))?,
        SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
            .map_err(|e| format!("SMTP STARTTLS setup for {}: {e}", s.host))?,
        SmtpSecurity::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
    };
    let mut builder = builder.port(s.port).timeout(Some(s.timeout));
    if let (Some(user), Some(password)) = (&s.username, &s.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

/// Sends the mail of a delivery once; the error names what failed, never
/// the password.
pub(crate) async fn send_mail(
    s: &SmtpSettings,
    to: &str,
    out: &Outgoing<'_>,
) -> Result<(), String> {
    let message = mail(&s.from, to, out)?;
    let transport = smtp_transport(s)?;
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP {}:{}: {e}", s.host, s.port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let key = webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("a secret");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign_webhook(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(webhook_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(webhook_key("whsec_!!").is_err());
    }

    #[test]
    fn plain_smtp_is_refused_off_loopback() {
        let mut s = SmtpSettings {
            host: "mail.example.org".into(),
            port: 25,
            security: SmtpSecurity::Plain,
            username: None,
            password: Some("pw".into()),
            from: "Custos <custos@example.org>".into(),
            timeout: Duration::from_secs(5),
        };
        assert!(s.check().is_err());
        s.host = "127.0.0.1".into();
        assert!(s.check().is_err(), "a password without a user name");
        s.password = None;
        assert!(s.check().is_ok());
        assert!(!format!("{s:?}").contains("pw"));
    }
}
