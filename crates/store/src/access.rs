//! The record of who saw what, and the cases granted to a person: the
//! records both adapters keep (`sqlite_access.rs`, `postgres_access.rs`).

use time::OffsetDateTime;

use crate::StoreError;
use crate::encode;
use crate::rows::RowAccess;

/// The outcome of an access decision.
pub const ALLOWED: &str = "allowed";
/// The outcome of an access decision that refused.
pub const REFUSED: &str = "refused";

/// One decision of the node's access check, as recorded: never any case
/// content, only who, what, which case and the outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRecord {
    /// The row's number, assigned by the store (0 when recording).
    pub id: i64,
    pub at: OffsetDateTime,
    /// The person: a user or operator name, or `anonymous` for a caller
    /// that could not be authenticated.
    pub person: String,
    /// The label the ledger names the actor by (`api:ana/desk`).
    pub actor: String,
    /// The operation's name (`read-case`, `act:refuse`).
    pub operation: String,
    /// The case (request id) concerned, if any.
    pub case_id: Option<String>,
    /// [`ALLOWED`] or [`REFUSED`].
    pub outcome: String,
    /// Why it was refused.
    pub reason: Option<String>,
    /// The content id (`sha256:<hex>`) of the ledger entry recording the
    /// same decision, queued in the same transaction.
    pub entry_sha256: String,
}

/// Which access records to list: all given conditions hold; newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessFilter {
    pub person: Option<String>,
    pub case_id: Option<String>,
    /// At or after this time.
    pub since: Option<OffsetDateTime>,
    /// Before this time.
    pub until: Option<OffsetDateTime>,
    pub limit: u32,
    pub offset: u64,
}

/// A case's content granted to a person until a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseGrant {
    /// The grant's number, assigned by the store (0 when granting).
    pub id: i64,
    pub case_id: String,
    pub person: String,
    pub reason: String,
    /// The label of who granted it.
    pub granted_by: String,
    pub granted_at: OffsetDateTime,
    pub until: OffsetDateTime,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl CaseGrant {
    /// Whether the grant lets its person see the case at `now`.
    pub fn in_force(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.until
    }
}

/// Checks an access record's values before a write.
pub(crate) fn check_record(r: &AccessRecord) -> Result<OffsetDateTime, StoreError> {
    encode::text("access_record.person", &r.person)?;
    encode::text("access_record.actor", &r.actor)?;
    encode::text("access_record.operation", &r.operation)?;
    if let Some(case) = &r.case_id {
        encode::text("access_record.case_id", case)?;
    }
    if let Some(reason) = &r.reason {
        encode::text("access_record.reason", reason)?;
    }
    encode::text("access_record.entry_sha256", &r.entry_sha256)?;
    if r.outcome != ALLOWED && r.outcome != REFUSED {
        return Err(StoreError::InvalidValue {
            field: "access_record.outcome",
            problem: format!("{:?} is neither allowed nor refused", r.outcome),
        });
    }
    encode::timestamp("access_record.at", r.at)
}

/// Checks a grant's values before a write; its times at storage precision.
pub(crate) fn check_grant(g: &CaseGrant) -> Result<(OffsetDateTime, OffsetDateTime), StoreError> {
    encode::text("case_grants.case_id", &g.case_id)?;
    encode::text("case_grants.person", &g.person)?;
    encode::text("case_grants.reason", &g.reason)?;
    encode::text("case_grants.granted_by", &g.granted_by)?;
    Ok((
        encode::timestamp("case_grants.granted_at", g.granted_at)?,
        encode::timestamp("case_grants.until", g.until)?,
    ))
}

pub(crate) fn access_row(row: &impl RowAccess) -> Result<AccessRecord, StoreError> {
    const T: &str = "access_record";
    Ok(AccessRecord {
        id: row.get(T, "id")?,
        at: row.time(T, "at")?,
        person: row.get(T, "person")?,
        actor: row.get(T, "actor")?,
        operation: row.get(T, "operation")?,
        case_id: row.get(T, "case_id")?,
        outcome: row.get(T, "outcome")?,
        reason: row.get(T, "reason")?,
        entry_sha256: row.get(T, "entry_sha256")?,
    })
}

pub(crate) fn grant_row(row: &impl RowAccess) -> Result<CaseGrant, StoreError> {
    const T: &str = "case_grants";
    Ok(CaseGrant {
        id: row.get(T, "id")?,
        case_id: row.get(T, "case_id")?,
        person: row.get(T, "person")?,
        reason: row.get(T, "reason")?,
        granted_by: row.get(T, "granted_by")?,
        granted_at: row.time(T, "granted_at")?,
        until: row.time(T, "until")?,
        revoked_by: row.get(T, "revoked_by")?,
        revoked_at: row.optional_time(T, "revoked_at")?,
    })
}
