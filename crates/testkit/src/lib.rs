//! Custos nodes built in process, for tests and benchmarks.
//!
//! Everything here is real: keys made by [`Keystore::create`] in a
//! temporary folder, a SQLite file (or a fresh PostgreSQL database, see
//! [`TempDatabase`]), a directory signed by a registry key, and the node's
//! own axum router. What a test gains is control: a [`TestClock`] it can
//! stop, set and move, and a router it can call without a socket
//! ([`TestNode::call`]).
//!
//! - [`NodeBuilder`] makes one node; [`TestNode`] holds it with its store,
//!   clock and folder.
//! - [`Network`] makes several nodes of different States that trust one
//!   signed directory naming all of them, either in process only (the
//!   addresses lead nowhere; messages are carried by the test) or served on
//!   127.0.0.1 by `custos_http::serve` with their ledger sequencers running,
//!   as `custos serve` runs them.
//!
//! The kit builds a node only through `Node::new` and the node's public
//! methods; it is a dev-dependency and is never published.

#![allow(clippy::missing_errors_doc)]

pub mod bench;
mod clock;
mod network;
mod node;
mod postgres;
mod router;
mod skip;

pub use clock::TestClock;
pub use custos_node::Keystore;
pub use network::{Network, NetworkBuilder};
pub use node::{NodeBuilder, TestNode};
pub use postgres::{POSTGRES_URL_VAR, TempDatabase};
pub use router::{Reply, request};
pub use skip::{
    PostgresDecision, REQUIRE_POSTGRES_VAR, current_test, postgres_decision, postgres_url, skipped,
};

use time::OffsetDateTime;
use time::macros::datetime;

/// The instant a kit node's clock shows unless told otherwise.
pub const AT: OffsetDateTime = datetime!(2026-11-01 12:00 UTC);

/// The federation endpoint through which nodes deliver messages.
pub const MESSAGES_PATH: &str = "/federation/v1/messages";

/// The address requests sent through [`TestNode::call`] come from, unless they name one.
pub const TEST_PEER: &str = "127.0.0.1:9";

/// Why the kit could not build what was asked.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    #[error(transparent)]
    Node(#[from] custos_node::NodeError),
    #[error(transparent)]
    Store(#[from] custos_store::StoreError),
    #[error(transparent)]
    Protocol(#[from] custos_protocol::ProtocolError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("{0}")]
    Setup(String),
}

impl KitError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> KitError {
        let what = what.into();
        move |source| KitError::Io { what, source }
    }
}
