//! The case part of `custos demo`: requests carried through their decisions
//! by the two States, through each node's client API while the nodes serve.
//!
//! Each step is one action taken by a desk officer on the acting State's
//! node (`POST /api/v1/cases/{id}/actions`); the demo waits until the other
//! node has the signed message and its receipt came back, then reads the
//! case on both nodes (`GET /api/v1/cases/{id}`) and shows the state each
//! derives: they must agree, step after step. The node decides what is
//! allowed; the demo only calls and narrates.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::network::DemoNode;

/// How long a step may take to reach the other node.
const STEP_DEADLINE: Duration = Duration::from_secs(20);

/// A case between two demo nodes: the requesting State's and the
/// requested State's.
pub struct Case<'a> {
    pub client: &'a reqwest::Client,
    pub id: String,
    pub requesting: &'a DemoNode,
    pub requested: &'a DemoNode,
    /// The steps taken, as the demo's JSON summary shows them.
    pub steps: Vec<Value>,
}

impl<'a> Case<'a> {
    pub fn new(
        client: &'a reqwest::Client,
        id: &str,
        requesting: &'a DemoNode,
        requested: &'a DemoNode,
    ) -> Case<'a> {
        Case {
            client,
            id: id.to_owned(),
            requesting,
            requested,
            steps: Vec::new(),
        }
    }

    fn node(&self, cc: &str) -> anyhow::Result<&'a DemoNode> {
        [self.requesting, self.requested]
            .into_iter()
            .find(|n| n.state.as_str() == cc)
            .with_context(|| format!("{cc} is not a State of case {}", self.id))
    }

    /// The case as the node of `cc` shows it to its desk officer.
    pub async fn show(&self, cc: &str) -> anyhow::Result<Value> {
        let node = self.node(cc)?;
        let r = self
            .client
            .get(format!("{}/api/v1/cases/{}", node.url, self.id))
            .bearer_auth(&node.token)
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!(
                "{cc}'s client API answered {status} for case {}: {body}",
                self.id
            );
        }
        Ok(body)
    }

    /// The node of `by` takes `action` with `body`; returns the state both
    /// nodes then show, once they agree. `say` narrates the step.
    pub async fn act(
        &mut self,
        by: &str,
        action: &str,
        body: Value,
        say: &mut dyn FnMut(&str),
    ) -> anyhow::Result<String> {
        let t0 = Instant::now();
        let node = self.node(by)?;
        let r = self
            .client
            .post(format!("{}/api/v1/cases/{}/actions", node.url, self.id))
            .bearer_auth(&node.token)
            .json(&json!({ "action": action, "body": body }))
            .send()
            .await?;
        let status = r.status();
        let sent: Value = r.json().await.unwrap_or_default();
        if status.as_u16() != 202 {
            bail!("{by} could not {action} case {}: {status} {sent}", self.id);
        }
        let message = sent["message_id"].as_str().unwrap_or_default().to_owned();
        let (requesting, requested) = self.both_hold(by, &message).await?;
        let state = requesting["state"].as_str().unwrap_or_default().to_owned();
        if requested["state"] != requesting["state"] {
            bail!(
                "the two nodes disagree on case {} after {action}: {} shows {}, {} shows {}",
                self.id,
                self.requesting.state,
                requesting["state"],
                self.requested.state,
                requested["state"]
            );
        }
        let ms = t0.elapsed().as_millis();
        // The acting node names its own officer on the step.
        let by_node = if by == self.requesting.state.as_str() {
            &requesting
        } else {
            &requested
        };
        let actor = by_node["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["message_id"] == message.as_str())
            .and_then(|s| s["actor"].as_str())
            .unwrap_or_default()
            .to_owned();
        say(&format!(
            "{by} ({actor}) {action:<18} -> {}: {state}, {}: {state}  ({ms} ms)",
            self.requesting.state, self.requested.state
        ));
        self.steps.push(json!({
            "by": by,
            "actor": actor,
            "action": action,
            "message": message,
            "states": {
                self.requesting.state.as_str(): requesting["state"],
                self.requested.state.as_str(): requested["state"],
            },
            "ms": ms,
        }));
        Ok(state)
    }

    /// The node of `by` tries `action`, which the case does not allow: the
    /// node refuses it before sending; returns the node's error (code and
    /// message).
    pub async fn try_refused(
        &self,
        by: &str,
        action: &str,
        body: Value,
        say: &mut dyn FnMut(&str),
    ) -> anyhow::Result<Value> {
        let node = self.node(by)?;
        let r = self
            .client
            .post(format!("{}/api/v1/cases/{}/actions", node.url, self.id))
            .bearer_auth(&node.token)
            .json(&json!({ "action": action, "body": body }))
            .send()
            .await?;
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or_default();
        if status.is_success() {
            bail!(
                "{by}'s node sent {action} on case {}, which it should have refused",
                self.id
            );
        }
        let error = answer["error"].clone();
        say(&format!(
            "{by} tries to {action}: refused before sending ({status}) - {}",
            error["message"].as_str().unwrap_or_default()
        ));
        Ok(json!({ "by": by, "action": action, "status": status.as_u16(), "error": error }))
    }

    /// Both nodes' views once the other node holds `message` (the acting
    /// node holds it from the start). Every read of a case is a custody
    /// event, so the other node is asked at a modest pace and the acting
    /// node once.
    async fn both_hold(&self, by: &str, message: &str) -> anyhow::Result<(Value, Value)> {
        let receiver = if by == self.requesting.state.as_str() {
            self.requested.state.as_str()
        } else {
            self.requesting.state.as_str()
        };
        let holds = |v: &Value| {
            v["timeline"]
                .as_array()
                .is_some_and(|t| t.iter().any(|s| s["message_id"] == message))
        };
        let deadline = Instant::now() + STEP_DEADLINE;
        let theirs = loop {
            let view = self.show(receiver).await?;
            if holds(&view) {
                break view;
            }
            if Instant::now() > deadline {
                bail!(
                    "message {message} of case {} did not reach {receiver} in {STEP_DEADLINE:?}",
                    self.id
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mine = self.show(by).await?;
        if !holds(&mine) {
            bail!(
                "{by} does not show its own message {message} on case {}",
                self.id
            );
        }
        Ok(if by == self.requesting.state.as_str() {
            (mine, theirs)
        } else {
            (theirs, mine)
        })
    }

    /// The case's summary for the demo's JSON: its steps and what both
    /// nodes show at the end.
    pub async fn summary(&self, refused_before_sending: Vec<Value>) -> anyhow::Result<Value> {
        let requesting = self.show(self.requesting.state.as_str()).await?;
        let requested = self.show(self.requested.state.as_str()).await?;
        Ok(json!({
            "id": self.id,
            "kind": requesting["kind"],
            "requesting": self.requesting.state,
            "requested": self.requested.state,
            "steps": self.steps,
            "refused_before_sending": refused_before_sending,
            "final": {
                self.requesting.state.as_str(): {
                    "state": requesting["state"],
                    "timeline": requesting["timeline"].as_array().map_or(0, Vec::len),
                    "evidence": requesting["evidence"],
                    "clocks": requesting["clocks"],
                },
                self.requested.state.as_str(): {
                    "state": requested["state"],
                    "timeline": requested["timeline"].as_array().map_or(0, Vec::len),
                    "evidence": requested["evidence"],
                    "clocks": requested["clocks"],
                },
            },
        }))
    }
}
