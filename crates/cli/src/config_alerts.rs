//! The `[alerts]` section of `custos.toml`: where alerts go (mail over SMTP,
//! signed webhooks) and when an unacknowledged one escalates. Passwords and
//! webhook secrets are masked when the configuration is printed.

use std::fmt;

use anyhow::{Context, bail};
use custos_node::app::{AlertSettings, Role, SmtpSecurity, SmtpSettings, WebhookSettings};
use serde::{Deserialize, Serialize};

use crate::config::duration_text;

/// `[alerts]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// The node's address as people reach it; alerts link to `{public_url}/cases/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// How long an alert waits for an acknowledgement before it goes to the
    /// deputy, then to the next person on the rota (default 10m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_after: Option<String>,
    /// The role whose rota alerts go to (default duty-officer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// How long before an emergency's acknowledgement target the duty
    /// officer of the requested side is warned (default 15m; "0s": never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_warning: Option<String>,
    /// The first retry's delay of a failed delivery (default 1s; doubling up to 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpSection>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookSettings>,
}

/// `[alerts.smtp]`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    pub host: String,
    /// Default: 465 for tls, 587 for starttls, 25 for plain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `tls` (default), `starttls`, or `plain` (loopback servers only).
    #[serde(default = "default_security")]
    pub security: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The sender: `Custos FR <custos@example.org>`.
    pub from: String,
}

fn default_security() -> String {
    "tls".to_owned()
}

impl fmt::Debug for SmtpSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSection")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .finish()
    }
}

impl AlertsSection {
    pub fn is_default(&self) -> bool {
        *self == AlertsSection::default()
    }

    /// The settings as the node applies them, each value checked.
    pub fn settings(&self, listen: &str) -> anyhow::Result<AlertSettings> {
        let mut s = AlertSettings {
            public_url: self
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{listen}")),
            ..AlertSettings::default()
        };
        if let Some(t) = &self.escalate_after {
            s.escalate_after = duration_text("alerts.escalate_after", t)?;
        }
        if let Some(t) = &self.ack_warning {
            // Zero (in any unit) turns the warning off.
            s.ack_warning = if t.trim().trim_end_matches(['s', 'm', 'h', 'd']) == "0" {
                time::Duration::ZERO
            } else {
                duration_text("alerts.ack_warning", t)?
            };
        }
        if let Some(t) = &self.retry_after {
            s.retry_base = duration_text("alerts.retry_after", t)?
                .try_into()
                .context("alerts.retry_after")?;
        }
        if let Some(role) = &self.role {
            s.role = role
                .parse::<Role>()
                .map_err(|e| anyhow::anyhow!("alerts.role: {e}"))?;
        }
        if let Some(smtp) = &self.smtp {
            let security = match smtp.security.as_str() {
                "tls" => SmtpSecurity::Tls,
                "starttls" => SmtpSecurity::StartTls,
                "plain" => SmtpSecurity::Plain,
                other => bail!("alerts.smtp.security: {other:?} is not tls, starttls or plain"),
            };
            let port = smtp.port.unwrap_or(match security {
                SmtpSecurity::Tls => 465,
                SmtpSecurity::StartTls => 587,
                SmtpSecurity::Plain => 25,
            });
            let settings = SmtpSettings {
                host: smtp.host.clone(),
                port,
                security,
                username: smtp.username.clone(),
                password: smtp.password.clone(),
                from: smtp.from.clone(),
                timeout: std::time::Duration::from_secs(10),
            };
            settings.check()?;
            s.smtp = Some(settings);
        }
        for hook in &self.webhooks {
            let w = hook.clone();
            w.check()?;
            if s.webhooks.iter().any(|o| o.name == w.name) {
                bail!("alerts.webhooks: two webhooks are named {:?}", w.name);
            }
            s.webhooks.push(w);
        }
        Ok(s)
    }
}

/// The `[alerts]` part of the example configuration.
pub const EXAMPLE: &str = r#"
[alerts]
# Alerts to the people on duty (`custos rota`): when an emergency or urgent request
# arrives, when a case's clock warns or falls overdue. An alert carries no case content:
# its kind, the counterpart State, the urgency, the deadline and a link.
# The node's address as people reach it; alerts link to {public_url}/cases/{id}.
public_url = "https://custos.example.org"
# Not acknowledged (`custos alerts ack ID`) within this time, an alert goes to the deputy,
# then to the next person on the rota for the role, and so on (default 10m).
escalate_after = "10m"
# The role whose rota alerts go to (default duty-officer).
role = "duty-officer"
# On the requested side, warn this long before an emergency's acknowledgement target
# (default 15m; "0s" gives no warning).
ack_warning = "15m"

[alerts.smtp]
host = "smtp.example.org"
# tls (port 465), starttls (port 587) or plain (loopback servers only, port 25).
security = "starttls"
port = 587
username = "custos"
password = "change me"
from = "Custos FR <custos@example.org>"

# Webhooks signed in the Standard Webhooks form (webhook-id, webhook-timestamp,
# webhook-signature: v1,<base64 HMAC-SHA256>); chat and paging services verify them.
[[alerts.webhooks]]
name = "pager"
url = "https://pager.example.org/hooks/custos"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_gives_settings_and_hides_its_secrets() {
        #[derive(Deserialize)]
        struct Only {
            alerts: AlertsSection,
        }
        let only: Only = toml::from_str(EXAMPLE).expect("the example parses");
        let s = only.alerts.settings("127.0.0.1:7700").expect("valid");
        assert_eq!(s.escalate_after, time::Duration::minutes(10));
        assert_eq!(s.ack_warning, time::Duration::minutes(15));
        assert_eq!(s.webhooks.len(), 1);
        let shown = format!("{:?}", only.alerts);
        assert!(
            !shown.contains("change me") && !shown.contains("MfKQ9r8"),
            "{shown}"
        );
    }
}
