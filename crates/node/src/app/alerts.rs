//! Alerts that reach the person on duty: raised when an emergency or urgent
//! request arrives and when a case's clock warns or falls overdue, queued
//! durably, delivered by mail and signed webhooks (`alert_channels.rs`),
//! retried with back-off, escalated when nobody acknowledges them, and
//! acknowledged by a person.
//!
//! **Raised with its cause.** The alert an arriving message or a fired
//! clock event calls for ([`Node::prepare_alert`]) is written in the same
//! store transaction as that message or event, so a crash between the two
//! cannot keep the cause and lose its alert.
//!
//! An alert carries no case content: its kind, the counterpart State, the
//! urgency, the deadline and a link to the case on the node's desk. Each is
//! unique per cause (the message that arrived, or the clock event), so a
//! cause met twice raises one alert. Raising, each delivery, each
//! escalation and the acknowledgement are written to the custody ledger
//! with the change they record.
//!
//! **Escalation.** An alert goes first to everyone on duty for its role
//! (`[alerts] role`, the duty officer by default) and to every webhook. Not
//! acknowledged within `[alerts] escalate_after`, it goes to their
//! deputies, then to the next people on the rota for that role, one at a
//! time, and so on until someone acknowledges it or nobody is left.
//!
//! **Delivery.** The delivery worker ([`Node::run_alerts`]) leases due
//! deliveries (so two node processes sharing a database never send one
//! twice at once), sends them, and records each as delivered, or schedules
//! it again with a doubling delay, or gives it up after
//! [`AlertSettings::max_attempts`]. Raising an alert wakes it at once.

use std::sync::{Arc, RwLock};

use custos_store::{AlertRecord, DeliveryRecord, NewAlert, NewDelivery};
use serde::Serialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use tokio::sync::{Notify, watch};

use super::alert_channels::{self, Outgoing, SmtpSettings, WebhookSettings};
use super::rota::on_duty_at;
use super::{Actor, Operation, Role};
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// How alerts are delivered and escalated (`[alerts]` in `custos.toml`).
#[derive(Clone, Debug)]
pub struct AlertSettings {
    /// The node's address as people reach it (`https://custos.example.org`);
    /// an alert links to `{public_url}/cases/{id}`.
    pub public_url: String,
    /// How long an alert waits for an acknowledgement before it goes one
    /// level further.
    pub escalate_after: Duration,
    /// The role whose rota alerts go to.
    pub role: Role,
    /// How long before an emergency's acknowledgement target the requested
    /// side's duty officer is warned (`ack_warning`; zero: no warning).
    pub ack_warning: Duration,
    /// Mail, if configured.
    pub smtp: Option<SmtpSettings>,
    /// Webhooks, each called for every alert and escalation.
    pub webhooks: Vec<WebhookSettings>,
    /// How often the worker looks for due work when not woken.
    pub poll: std::time::Duration,
    /// The first retry's delay; each next one doubles, up to `retry_max`.
    pub retry_base: std::time::Duration,
    pub retry_max: std::time::Duration,
    /// Attempts before a delivery is given up.
    pub max_attempts: u32,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            public_url: String::new(),
            escalate_after: Duration::minutes(10),
            role: Role::DutyOfficer,
            ack_warning: Duration::minutes(15),
            smtp: None,
            webhooks: Vec::new(),
            poll: std::time::Duration::from_secs(1),
            retry_base: std::time::Duration::from_secs(1),
            retry_max: std::time::Duration::from_secs(300),
            max_attempts: 200,
        }
    }
}

/// The node's alert settings in force and the worker's wake-up.
#[derive(Debug, Default)]
pub(crate) struct AlertState {
    settings: RwLock<Arc<AlertSettings>>,
    wake: Notify,
}

/// An alert as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertView {
    pub id: String,
    /// What happened: `emergency-request`, `urgent-request`,
    /// `ack-target-near`, `ack-target-passed`, `clock-warning`,
    /// `clock-overdue` or `test`.
    pub kind: String,
    /// The role whose rota it goes to.
    pub role: String,
    /// The case (request id) it points to.
    pub case_id: String,
    /// The counterpart State.
    pub counterpart: String,
    /// `emergency`, `urgent` or `routine`.
    pub urgency: String,
    /// The deadline the alert is about, if any.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(with = "time::serde::rfc3339::option")]
    pub deadline: Option<OffsetDateTime>,
    /// Where the case is on the node's desk.
    pub link: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "time::serde::rfc3339")]
    pub raised_at: OffsetDateTime,
    /// How far it went: 0 the people on duty, 1 their deputies, 2 and on
    /// the next people on the rota.
    pub level: u32,
    /// When it goes one level further unless acknowledged first.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(with = "time::serde::rfc3339::option")]
    pub escalate_at: Option<OffsetDateTime>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(with = "time::serde::rfc3339::option")]
    pub acknowledged_at: Option<OffsetDateTime>,
    pub acknowledged_by: Option<String>,
    pub deliveries: Vec<DeliveryView>,
}

/// One delivery of an alert as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryView {
    pub level: u32,
    /// `email` or `webhook`.
    pub channel: String,
    /// The address, or the webhook's name.
    pub target: String,
    /// Who it is meant for.
    pub recipient: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
}

/// What raised an alert, as intake and the scheduler describe it.
#[derive(Clone, Debug)]
pub(crate) struct Cause {
    /// Unique per cause: `message:{id}`, `clock:{case} {clock} {event} {due}`.
    pub key: String,
    pub kind: &'static str,
    pub case_id: String,
    pub counterpart: String,
    pub urgency: String,
    pub deadline: Option<OffsetDateTime>,
}

fn delivery_view(d: &DeliveryRecord) -> DeliveryView {
    DeliveryView {
        level: d.level,
        channel: d.channel.clone(),
        target: d.target.clone(),
        recipient: d.recipient.clone(),
        state: d.state.clone(),
        attempts: d.attempts,
        last_error: d.last_error.clone(),
        delivered_at: d.delivered_at,
    }
}

/// The link to a case on the node's desk.
pub(crate) fn link(public_url: &str, case_id: &str) -> String {
    format!("{}/cases/{case_id}", public_url.trim_end_matches('/'))
}

/// The delay before attempt `attempts + 1`: `base` doubled per attempt made,
/// at most `max`.
pub fn backoff(
    base: std::time::Duration,
    max: std::time::Duration,
    attempts: u32,
) -> std::time::Duration {
    base.saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(20)))
        .min(max)
}

impl Node {
    /// Puts alert settings in force (`custos serve` and the CLI, from
    /// `custos.toml`).
    pub fn configure_alerts(&self, settings: AlertSettings) {
        *self
            .alerts
            .settings
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
    }

    /// The alert settings in force.
    pub fn alert_settings(&self) -> Arc<AlertSettings> {
        Arc::clone(
            &self
                .alerts
                .settings
                .read()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// The deliveries of a new level: mail to `people` (name, address) not
    /// reached before, and every webhook.
    fn level_deliveries(
        settings: &AlertSettings,
        people: &[(String, String)],
        reached: &[String],
    ) -> Vec<NewDelivery> {
        let mut out: Vec<NewDelivery> = Vec::new();
        if settings.smtp.is_some() {
            for (name, email) in people {
                if reached.contains(email) || out.iter().any(|d| &d.target == email) {
                    continue;
                }
                out.push(NewDelivery {
                    channel: "email".to_owned(),
                    target: email.clone(),
                    recipient: name.clone(),
                });
            }
        }
        let names: Vec<&str> = people.iter().map(|(n, _)| n.as_str()).collect();
        for hook in &settings.webhooks {
            out.push(NewDelivery {
                channel: "webhook".to_owned(),
                target: hook.name.clone(),
                recipient: names.join(", "),
            });
        }
        out
    }

    /// The alert `cause` calls for, with its first deliveries (everyone on
    /// duty for the alerts' role, every webhook) and its ledger entry,
    /// ready to be written in the transaction of its cause.
    pub(crate) async fn prepare_alert(&self, cause: Cause) -> Result<NewAlert, NodeError> {
        let settings = self.alert_settings();
        let now = self.clock.now();
        let role = settings.role.name();
        let shifts = self.current_rota().await?;
        let people: Vec<(String, String)> = on_duty_at(&shifts, role, now)
            .map(|s| (s.person.clone(), s.email.clone()))
            .collect();
        if people.is_empty() {
            tracing::warn!(role, "an alert is raised with nobody on duty for its role");
        }
        let deliveries = Self::level_deliveries(&settings, &people, &[]);
        let id = format!("alert-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let alert = AlertRecord {
            id: id.clone(),
            cause: cause.key,
            kind: cause.kind.to_owned(),
            role: role.to_owned(),
            case_id: cause.case_id,
            counterpart: cause.counterpart,
            urgency: cause.urgency,
            deadline: cause.deadline,
            raised_at: now,
            level: 0,
            escalate_at: Some(now + settings.escalate_after),
            acknowledged_at: None,
            acknowledged_by: None,
        };
        let entry = Entry::new(EntryKind::AlertRaised, now, Actor::Scheduler.label())
            .request(alert.case_id.clone())
            .subject(id)
            .detail(json!({
                "kind": alert.kind,
                "counterpart": alert.counterpart,
                "urgency": alert.urgency,
                "role": alert.role,
                "to": people.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            }))
            .encode()?;
        Ok(NewAlert {
            alert,
            deliveries,
            ledger: vec![entry],
        })
    }

    /// After the transaction that wrote `alert` with its cause committed:
    /// logs it (without content) and wakes the delivery worker.
    pub(crate) fn alert_raised(&self, alert: &NewAlert) {
        let a = &alert.alert;
        tracing::info!(alert = %a.id, kind = a.kind, counterpart = %a.counterpart, "alert raised");
        self.alerts.wake.notify_one();
    }

    /// Raises the alert of `cause` on its own (a test alert) unless one
    /// was raised for it already; whether it was raised now.
    pub(crate) async fn raise_alert(&self, cause: Cause) -> Result<bool, NodeError> {
        let new = self.prepare_alert(cause).await?;
        let raised = self
            .store
            .raise_alert(&new.alert, &new.deliveries, &new.ledger)
            .await?;
        if raised {
            self.alert_raised(&new);
        }
        Ok(raised)
    }

    /// Alerts, newest first (only those not acknowledged when `open_only`).
    pub async fn alerts(
        &self,
        actor: &Actor,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<AlertView>, NodeError> {
        self.authorize(actor, Operation::ReadAlerts, None).await?;
        let settings = self.alert_settings();
        let mut out = Vec::new();
        for a in self.store.alerts(open_only, limit).await? {
            let deliveries = self.store.alert_deliveries(&a.id).await?;
            out.push(self.alert_view(&settings, a, &deliveries));
        }
        Ok(out)
    }

    fn alert_view(
        &self,
        settings: &AlertSettings,
        a: AlertRecord,
        deliveries: &[DeliveryRecord],
    ) -> AlertView {
        AlertView {
            link: link(&settings.public_url, &a.case_id),
            id: a.id,
            kind: a.kind,
            role: a.role,
            case_id: a.case_id,
            counterpart: a.counterpart,
            urgency: a.urgency,
            deadline: a.deadline,
            raised_at: a.raised_at,
            level: a.level,
            escalate_at: a.escalate_at.filter(|_| a.acknowledged_at.is_none()),
            acknowledged_at: a.acknowledged_at,
            acknowledged_by: a.acknowledged_by,
            deliveries: deliveries.iter().map(delivery_view).collect(),
        }
    }

    /// Acknowledges an alert: it stops escalating.
    pub async fn acknowledge_alert(&self, actor: &Actor, id: &str) -> Result<AlertView, NodeError> {
        self.authorize(actor, Operation::AcknowledgeAlert, None)
            .await?;
        let Some(before) = self.store.get_alert(id).await? else {
            return Err(NodeError::NotFound(format!(
                "no alert {id:?} (see `custos alerts list`)"
            )));
        };
        let now = self.clock.now();
        let entry = Entry::new(EntryKind::AlertAcknowledged, now, actor.label())
            .request(before.case_id.clone())
            .subject(id.to_owned())
            .detail(json!({ "level": before.level }))
            .encode()?;
        let by = actor.label();
        if !self.store.acknowledge_alert(id, &by, now, &[entry]).await? {
            tracing::info!(alert = id, "alert acknowledged already");
        } else {
            tracing::info!(alert = id, by = %by, "alert acknowledged");
        }
        let settings = self.alert_settings();
        let after = self.store.get_alert(id).await?.unwrap_or(before);
        let deliveries = self.store.alert_deliveries(id).await?;
        Ok(self.alert_view(&settings, after, &deliveries))
    }

    /// Raises a test alert (kind `test`, no case) to check the channels; the
    /// worker of a serving node delivers it, or [`Node::deliver_alerts_now`].
    pub async fn test_alert(&self, actor: &Actor) -> Result<AlertView, NodeError> {
        self.authorize(actor, Operation::ManageRota, None).await?;
        let key = format!("test:{}", uuid::Uuid::new_v4().simple());
        self.raise_alert(Cause {
            key: key.clone(),
            kind: "test",
            case_id: "test".to_owned(),
            counterpart: self.state().to_string(),
            urgency: "routine".to_owned(),
            deadline: None,
        })
        .await?;
        let settings = self.alert_settings();
        let found = self
            .store
            .alerts(false, 50)
            .await?
            .into_iter()
            .find(|a| a.cause == key)
            .ok_or_else(|| NodeError::Internal("the test alert was not stored".to_owned()))?;
        let deliveries = self.store.alert_deliveries(&found.id).await?;
        Ok(self.alert_view(&settings, found, &deliveries))
    }

    /// Escalates the alerts whose time came; how many moved.
    async fn escalate_due(&self, now: OffsetDateTime) -> Result<usize, NodeError> {
        let settings = self.alert_settings();
        let mut moved = 0;
        for alert in self.store.due_escalations(now, 100).await? {
            let shifts = self.current_rota().await?;
            let reached: Vec<String> = self
                .store
                .alert_deliveries(&alert.id)
                .await?
                .into_iter()
                .filter(|d| d.channel == "email")
                .map(|d| d.target)
                .collect();
            let on_duty: Vec<_> = on_duty_at(&shifts, &alert.role, now).collect();
            let next_level = alert.level + 1;
            let people: Vec<(String, String)> = if next_level == 1 {
                on_duty
                    .iter()
                    .map(|s| (s.deputy.clone(), s.deputy_email.clone()))
                    .collect()
            } else {
                // The next person on the rota for the role, in the order of
                // the shifts to come, not reached yet.
                shifts
                    .iter()
                    .filter(|s| s.role == alert.role && s.ends_at > now)
                    .flat_map(|s| {
                        [
                            (s.person.clone(), s.email.clone()),
                            (s.deputy.clone(), s.deputy_email.clone()),
                        ]
                    })
                    .find(|(_, email)| !reached.contains(email))
                    .into_iter()
                    .collect()
            };
            let fresh = people.iter().any(|(_, e)| !reached.contains(e));
            let escalate_at = fresh.then(|| now + settings.escalate_after);
            let deliveries = Self::level_deliveries(&settings, &people, &reached);
            let entry = Entry::new(EntryKind::AlertEscalated, now, Actor::Scheduler.label())
                .request(alert.case_id.clone())
                .subject(alert.id.clone())
                .detail(json!({
                    "level": next_level,
                    "to": people.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
                }))
                .encode()?;
            if self
                .store
                .escalate_alert(
                    &alert.id,
                    alert.level,
                    escalate_at,
                    &deliveries,
                    now,
                    &[entry],
                )
                .await?
            {
                moved += 1;
                tracing::warn!(alert = %alert.id, level = next_level, "alert not acknowledged: escalated");
            }
        }
        Ok(moved)
    }

    /// Sends the deliveries due; how many were delivered.
    async fn send_due_deliveries(&self, now: OffsetDateTime) -> Result<usize, NodeError> {
        let settings = self.alert_settings();
        let lease = now + Duration::seconds(60);
        let due = self.store.claim_deliveries(now, lease, 50).await?;
        let mut delivered = 0;
        for d in due {
            let Some(alert) = self.store.get_alert(&d.alert_id).await? else {
                continue;
            };
            let out = Outgoing {
                delivery_id: d.id,
                alert: &alert,
                level: d.level,
                recipient: &d.recipient,
                link: link(&settings.public_url, &alert.case_id),
                node: self.state().to_string(),
            };
            let sent = match d.channel.as_str() {
                "email" => match &settings.smtp {
                    Some(smtp) => alert_channels::send_mail(smtp, &d.target, &out).await,
                    None => Err("mail is not configured ([alerts.smtp])".to_owned()),
                },
                "webhook" => match settings.webhooks.iter().find(|w| w.name == d.target) {
                    Some(hook) => {
                        alert_channels::call_webhook(&self.http, hook, &out, self.clock.now()).await
                    }
                    None => Err(format!(
                        "no webhook named {:?} in [alerts.webhooks]",
                        d.target
                    )),
                },
                other => Err(format!("unknown channel {other:?}")),
            };
            let at = self.clock.now();
            match sent {
                Ok(()) => {
                    let entry = Entry::new(EntryKind::AlertDelivered, at, Actor::Scheduler.label())
                        .request(alert.case_id.clone())
                        .subject(alert.id.clone())
                        .detail(json!({
                            "channel": d.channel,
                            "level": d.level,
                            "to": if d.channel == "webhook" { d.target.clone() } else { d.recipient.clone() },
                        }))
                        .encode()?;
                    self.store.delivery_done(d.id, at, &[entry]).await?;
                    delivered += 1;
                    tracing::info!(alert = %alert.id, channel = %d.channel, level = d.level, "alert delivered");
                }
                Err(problem) => {
                    let attempts = d.attempts + 1;
                    tracing::warn!(alert = %alert.id, channel = %d.channel, attempts, error = %problem, "alert delivery failed");
                    if attempts >= settings.max_attempts {
                        self.store
                            .delivery_failed(d.id, attempts, at, &problem)
                            .await?;
                    } else {
                        let wait = backoff(settings.retry_base, settings.retry_max, attempts);
                        let next = at + Duration::try_from(wait).unwrap_or(Duration::minutes(5));
                        self.store
                            .delivery_retry(d.id, attempts, next, &problem)
                            .await?;
                    }
                }
            }
        }
        Ok(delivered)
    }

    /// One round of the delivery worker: escalations due, then deliveries
    /// due; how many deliveries were made.
    pub async fn deliver_alerts_now(&self) -> Result<usize, NodeError> {
        let now = self.clock.now();
        self.escalate_due(now).await?;
        self.send_due_deliveries(now).await
    }

    /// The delivery worker: a round whenever an alert is raised, and every
    /// [`AlertSettings::poll`], until `stop` says so.
    pub(crate) async fn run_alerts(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.deliver_alerts_now().await {
                tracing::warn!(error = %e, "an alert delivery round failed");
            }
            let poll = self.alert_settings().poll;
            tokio::select! {
                _ = self.alerts.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_the_cap() {
        let s = std::time::Duration::from_secs;
        let waits: Vec<_> = (1..=6).map(|n| backoff(s(1), s(10), n)).collect();
        assert_eq!(waits, vec![s(1), s(2), s(4), s(8), s(10), s(10)]);
        assert_eq!(
            link("https://n.example/", "t-1"),
            "https://n.example/cases/t-1"
        );
    }
}
