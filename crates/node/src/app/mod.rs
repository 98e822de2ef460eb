//! The application layer: every operation a person or a program performs on
//! a node, as one API that every face (the command line, the client API, the
//! web desk to come) calls.
//!
//! The rule: faces parse, call and present. They never touch the store or
//! build a ledger entry; an operation that records something takes the
//! [`Actor`] performing it and writes its ledger entry in the same
//! transaction as the action. Operations return plain-data views, each
//! `Serialize` so that a face prints or answers with the view as it is
//! (the CLI's `--json`, the client API's bodies), and name their filters
//! with the few plain types re-exported here, so that no face depends on
//! `custos-store`.
//!
//! The operations themselves are methods of [`Node`]: opening and creating a
//! node ([`Node::open`], [`create_store`]), requests ([`requests`]), cases
//! derived from their threads and the actions taken on them ([`cases`]), the
//! case index and the clocks the scheduler fires ([`clocks`]), people
//! ([`users`], signing in and sessions in [`signin`], client tokens in
//! [`tokens`], the secrets they rest on in [`secrets`]), listing requests, the outbox, refusals and forks
//! ([`views`]), checking drafts ([`drafts`]), the node's keys and directory ([`keys`],
//! [`directory`]),
//! the ledger's checks ([`ledger`]), evidence as shown ([`evidence`]), the
//! on-call rota ([`rota`]) and the alerts sent to it ([`alerts`],
//! [`alert_channels`]), oversight statistics without case data ([`stats`]), backing up and restoring a node ([`backup`], [`restore`]), readiness, versions and the figures monitoring reads ([`health`]), and the background workers ([`workers`]). Sending, intake, evidence work and
//! the custody ledger keep their own modules (`send`, `intake`,
//! `crate::evidence`, `custody`).

pub mod access;
pub mod actor;
pub mod alert_channels;
pub mod alerts;
pub mod assignments;
pub mod audit;
pub mod backup;
pub mod cases;
pub mod clocks;
pub(crate) mod copies;
pub mod desk;
pub mod directory;
pub mod drafts;
pub mod evidence;
pub mod evidence_case;
pub mod evidence_upload;
pub mod health;
pub mod keys;
pub mod ledger;
pub mod requests;
pub mod restore;
pub mod retention;
pub mod rota;
pub mod secrets;
pub mod signin;
pub mod stats;
pub mod tokens;
pub mod uselimits;
pub mod users;
pub mod views;
pub mod workers;

use std::net::SocketAddr;
use std::sync::Arc;

use custos_model::StateCode;
use custos_model::clock::Clock;
use time::OffsetDateTime;

pub use access::{Grant, Operation, Role, Roles};
pub use actor::Actor;
pub use alert_channels::{SmtpSecurity, SmtpSettings, WebhookSettings};
pub use alerts::{AlertSettings, AlertView, DeliveryView};
pub use assignments::{
    AssigneesView, AssignmentView, CaseExport, PersonalDataItem, PersonalDataView,
};
pub use audit::{AccessView, AuditFilter, CaseGrantView};
pub use backup::{BackupError, BackupOptions, BackupReport, KeyProtection, ServeLock};
pub use cases::{CaseDetail, CaseFilter, CaseSummary, ClockView, RefusedItem, TimelineItem};
pub use clocks::{ClockCounts, ClockSettings, IndexRebuilt, TickReport};
pub use custos_case::{
    Action as CaseAction, ClockKind, ClockStatus, NotAllowed, RefusalCode, Side,
    State as CaseState, Urgency,
};
pub use custos_store::{Direction, OutboxState, RequestFilter, StoreError};
pub use desk::{DeskSession, InboxView, StateCountView};
pub use directory::DirectoryView;
pub use drafts::DraftReport;
pub use health::{Readiness, ReadinessCheck, Surroundings, Versions, versions};
pub use keys::{KeyRevoked, KeysRotated, KeysView};
pub use requests::SendReport;
pub use restore::{KeySecret, RestoreReport, restore};
pub use retention::{
    DeletionView, PeerDeletionView, PurgeReport, RetentionChangeView, RetentionPeriod,
    RetentionSettings, RetentionView,
};
pub use rota::{ShiftInput, ShiftView};
pub use signin::{END_SESSION, SIGN_IN, Session, SessionView};
pub use stats::{
    CountCell, DirectionFigures, StatisticsQuery, StatisticsReport, StatisticsSettings,
    StatisticsVerified, TimeRow,
};
pub use tokens::{NewToken, TokenRequest};
pub use uselimits::{ConsentCited, ConsentView, UseLimitsView};
pub use users::{NewUser, PeopleSettings, RoleChange, SecondFactor, UserSecrets, UserView};
pub use views::{
    ForkView, HistoryEvent, MessageView, NodeCounts, OutboxView, RefusalView, RequestSummary,
    RequestView, TokenView,
};
pub use workers::Workers;
// evidence at the desk and the client API
pub use evidence_case::{CaseEvidenceView, CasePackage, CustodyEvent, Download, OpenedFile};
pub use evidence_upload::{ByteRange, UploadError, UploadView};

pub use crate::send::Sent;

use crate::{Keystore, Node, NodeError, NodeSettings};

/// Why a node or its database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The key files could not be loaded.
    #[error("cannot load the node's keys: {0}")]
    Keys(NodeError),
    /// The database could not be opened (its URL is left to the caller to
    /// show, masked).
    #[error("cannot open the node's database: {0}")]
    Database(NodeError),
    /// The node's stored state could not be loaded.
    #[error(transparent)]
    Node(NodeError),
}

impl Node {
    /// Opens the node whose data directory is `settings.data_dir`: its keys
    /// (`keys/`), its database at `database_url`, and the directory stored
    /// there.
    pub async fn open(
        settings: NodeSettings,
        database_url: &str,
        clock: Arc<dyn Clock>,
        http: reqwest::Client,
    ) -> Result<Arc<Node>, OpenError> {
        let keys = Keystore::load(&settings.data_dir.join("keys")).map_err(OpenError::Keys)?;
        let store = custos_store::open(database_url)
            .await
            .map_err(|e| OpenError::Database(e.into()))?;
        Node::new(settings, keys, store, clock, http)
            .await
            .map_err(OpenError::Node)
    }

    /// Closes the node's database connections; call once its work is done.
    pub async fn close(&self) {
        self.store.close().await;
    }
}

/// What [`create_store`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreCreated {
    /// The database now records this node.
    Created,
    /// The database already belongs to a node; nothing was changed.
    Taken { state: StateCode, name: String },
}

/// Prepares the database at `url` for a new node of `state` named `name`:
/// the schema, and the node's identity. A database that already belongs to
/// a node is left as it is.
pub async fn create_store(
    url: &str,
    state: StateCode,
    name: &str,
    now: OffsetDateTime,
) -> Result<StoreCreated, OpenError> {
    let store = custos_store::open(url)
        .await
        .map_err(|e| OpenError::Database(e.into()))?;
    let outcome = async {
        if let Some(existing) = store.node_info().await? {
            return Ok(StoreCreated::Taken {
                state: existing.state,
                name: existing.name,
            });
        }
        store
            .put_node_info(&custos_store::NodeInfo {
                state,
                name: name.to_owned(),
                created_at: now,
            })
            .await?;
        Ok::<_, NodeError>(StoreCreated::Created)
    }
    .await;
    store.close().await;
    outcome.map_err(OpenError::Node)
}

/// Plain (unencrypted) HTTP is served only on a loopback address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "plain HTTP is allowed only on a loopback address (127.0.0.1, ::1); give --tls-cert and --tls-key to listen on {0}"
)]
pub struct PlainOffLoopback(pub SocketAddr);

/// Checks that a node may listen on `addr`: with TLS anywhere, without it
/// only on loopback.
pub fn check_listen(addr: SocketAddr, tls: bool) -> Result<(), PlainOffLoopback> {
    if tls || addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(PlainOffLoopback(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_off_loopback_only() {
        let local: SocketAddr = "127.0.0.1:8080".parse().expect("an address");
        let local6: SocketAddr = "[::1]:8080".parse().expect("an address");
        let public: SocketAddr = "0.0.0.0:8080".parse().expect("an address");
        assert_eq!(check_listen(local, false), Ok(()));
        assert_eq!(check_listen(local6, false), Ok(()));
        assert_eq!(check_listen(public, false), Err(PlainOffLoopback(public)));
        assert_eq!(check_listen(public, true), Ok(()));
    }
}
