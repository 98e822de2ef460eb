//! What the case tests share: the officers of the test kit's two nodes,
//! and a step of a case taken by one node and carried to the other.

use custos_node::app::{Actor, CaseAction};
use custos_testkit::Network;
use serde_json::Value;
use time::Duration;

/// The officer acting for `state`'s node: `cli:officer-fr`.
pub fn officer(state: &str) -> Actor {
    Actor::Cli {
        user: format!("officer-{}", state.to_lowercase()),
    }
}

/// The other State of the France–Germany pair.
pub fn other(state: &str) -> &'static str {
    if state == "FR" { "DE" } else { "FR" }
}

/// `state` takes `action` a minute after the previous step; the message is
/// carried to the other node, which must accept it. Returns its id.
pub async fn step(
    net: &Network,
    thread: &str,
    state: &str,
    action: CaseAction,
    body: Value,
) -> String {
    net.clock.advance(Duration::minutes(1));
    let sent = net
        .node(state)
        .act(thread, action, body, &officer(state))
        .await
        .unwrap_or_else(|e| panic!("{state} {action}: {e}"));
    let reply = net
        .carry(state, &sent.message_id, other(state))
        .await
        .unwrap_or_else(|e| panic!("{state} {action}: {e}"));
    assert_eq!(reply.status, 200, "{state} {action}: {}", reply.text());
    sent.message_id
}
