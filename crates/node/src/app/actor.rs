//! Who acts on a node: the party every recorded action is attributed to.
//!
//! Each face names its caller once, as an [`Actor`], and hands it to the
//! node's operations; the label written into the custody ledger and the
//! request histories comes from [`Actor::label`] and nowhere else.

use std::fmt;

use custos_model::StateCode;

use super::access::Roles;

/// The party performing an operation on the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// An operator at the command line, by the name the CLI gives (its
    /// `CUSTOS_OPERATOR`, else the operating-system account).
    Cli { user: String },
    /// A person's program or tool holding one of their client-API tokens:
    /// the person, the token's name, and the roles the token may use (its
    /// scope within the person's roles).
    Api {
        user: String,
        token: String,
        roles: Roles,
    },
    /// A person signed in to the node's web desk (or the API) with password
    /// and second factor, with the roles they hold.
    Desk { user: String, roles: Roles },
    /// A peer State's node.
    Peer(StateCode),
    /// This node's scheduler, firing the cases' clock events.
    Scheduler,
}

impl Actor {
    /// How the actor is named in ledger entries and request histories:
    /// `cli:{user}`, `api:{user}/{token}`, `desk:{user}`, `node:{State}` or
    /// `node:scheduler`.
    pub fn label(&self) -> String {
        match self {
            Actor::Cli { user } => format!("cli:{user}"),
            Actor::Api { user, token, .. } => format!("api:{user}/{token}"),
            Actor::Desk { user, .. } => format!("desk:{user}"),
            Actor::Peer(state) => format!("node:{state}"),
            Actor::Scheduler => "node:scheduler".to_owned(),
        }
    }
}

impl Actor {
    /// The person behind the actor, for the record of who saw what: the
    /// operator or user name; `None` for a peer State or the scheduler.
    pub fn person(&self) -> Option<&str> {
        match self {
            Actor::Cli { user } | Actor::Api { user, .. } | Actor::Desk { user, .. } => Some(user),
            Actor::Peer(_) | Actor::Scheduler => None,
        }
    }

    /// The name the record of who saw what files the actor under: its
    /// person, or for a peer State or the scheduler its label.
    pub(crate) fn recorded_person(&self) -> String {
        self.person().map_or_else(|| self.label(), str::to_owned)
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
                    user: "ana".into(),
                    token: "desk 7".into(),
                    roles: Roles::NONE,
                },
                "api:ana/desk 7",
            ),
            (
                Actor::Desk {
                    user: "bo".into(),
                    roles: Roles::NONE,
                },
                "desk:bo",
            ),
            (Actor::Peer(fr), "node:FR"),
            (Actor::Scheduler, "node:scheduler"),
        ];
        for (actor, label) in cases {
            assert_eq!(actor.label(), label);
            assert_eq!(actor.to_string(), label);
        }
    }
}
