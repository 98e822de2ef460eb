//! Who acts on a node: the party every recorded action is attributed to.
//!
//! Each face names its caller once, as an [`Actor`], and hands it to the
//! node's operations; the label written into the custody ledger and the
//! request histories comes from [`Actor::label`] and nowhere else.

use std::fmt;

use custos_model::StateCode;

/// The party performing an operation on the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// An operator at the command line, by the name the CLI gives (its
    /// `CUSTOS_OPERATOR`, else the operating-system account).
    Cli { user: String },
    /// A program or officer's tool holding a client-API token, by the token's name.
    Api { token: String },
    /// A user of the node's web desk, by user name.
    Desk { user: String },
    /// A peer State's node.
    Peer(StateCode),
    /// This node's scheduler, firing the cases' clock events.
    Scheduler,
}

impl Actor {
    /// How the actor is named in ledger entries and request histories:
    /// `cli:{user}`, `api:{token}`, `desk:{user}`, `node:{State}` or
    /// `node:scheduler`.
    pub fn label(&self) -> String {
        match self {
            Actor::Cli { user } => format!("cli:{user}"),
            Actor::Api { token } => format!("api:{token}"),
            Actor::Desk { user } => format!("desk:{user}"),
            Actor::Peer(state) => format!("node:{state}"),
            Actor::Scheduler => "node:scheduler".to_owned(),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_actor_has_the_label_its_records_carry() {
        let fr: StateCode = "FR".parse().expect("a State code");
        let cases = [
            (Actor::Cli { user: "ana".into() }, "cli:ana"),
            (
                Actor::Api {
                    token: "desk 7".into(),
                },
                "api:desk 7",
            ),
            (Actor::Desk { user: "bo".into() }, "desk:bo"),
            (Actor::Peer(fr), "node:FR"),
            (Actor::Scheduler, "node:scheduler"),
        ];
        for (actor, label) in cases {
            assert_eq!(actor.label(), label);
            assert_eq!(actor.to_string(), label);
        }
    }
}
