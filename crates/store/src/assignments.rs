//! Confidential cases and the people assigned to a case: the records both
//! adapters keep (`sqlite_assignments.rs`, `postgres_assignments.rs`).

use time::OffsetDateTime;

use crate::StoreError;
use crate::encode;
use crate::rows::RowAccess;

/// A person assigned to a case, in force until unassigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseAssignment {
    /// The assignment's number, assigned by the store (0 when assigning).
    pub id: i64,
    pub case_id: String,
    pub person: String,
    /// The label of who assigned them.
    pub assigned_by: String,
    pub assigned_at: OffsetDateTime,
    pub unassigned_by: Option<String>,
    pub unassigned_at: Option<OffsetDateTime>,
}

impl CaseAssignment {
    /// Whether the assignment is still in force.
    pub fn in_force(&self) -> bool {
        self.unassigned_at.is_none()
    }
}

/// Why a case is confidential on this node: `request`, `answer:<message
/// id>` or `package:<package id>`, from signed content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfidentialMark {
    pub case_id: String,
    pub source: String,
    pub marked_at: OffsetDateTime,
}

pub(crate) fn check_assignment(a: &CaseAssignment) -> Result<OffsetDateTime, StoreError> {
    encode::text("case_assignments.case_id", &a.case_id)?;
    encode::text("case_assignments.person", &a.person)?;
    encode::text("case_assignments.assigned_by", &a.assigned_by)?;
    encode::timestamp("case_assignments.assigned_at", a.assigned_at)
}

pub(crate) fn check_mark(m: &ConfidentialMark) -> Result<OffsetDateTime, StoreError> {
    encode::text("confidential_cases.case_id", &m.case_id)?;
    encode::text("confidential_cases.source", &m.source)?;
    encode::timestamp("confidential_cases.marked_at", m.marked_at)
}

pub(crate) fn assignment_row(row: &impl RowAccess) -> Result<CaseAssignment, StoreError> {
    const T: &str = "case_assignments";
    Ok(CaseAssignment {
        id: row.get(T, "id")?,
        case_id: row.get(T, "case_id")?,
        person: row.get(T, "person")?,
        assigned_by: row.get(T, "assigned_by")?,
        assigned_at: row.time(T, "assigned_at")?,
        unassigned_by: row.get(T, "unassigned_by")?,
        unassigned_at: row.optional_time(T, "unassigned_at")?,
    })
}

pub(crate) fn mark_row(row: &impl RowAccess) -> Result<ConfidentialMark, StoreError> {
    const T: &str = "confidential_cases";
    Ok(ConfidentialMark {
        case_id: row.get(T, "case_id")?,
        source: row.get(T, "source")?,
        marked_at: row.time(T, "marked_at")?,
    })
}

/// The listings' condition leaving out the confidential cases not assigned
/// to the person bound as the parameter given (SQLite `?N`, PostgreSQL
/// `$N::text`), or nothing when it is null; `id` is the listed table's case
/// id column.
#[macro_export]
#[doc(hidden)]
macro_rules! hidden_clause {
    ($p:literal) => {
        concat!(
            "(",
            $p,
            " IS NULL OR id NOT IN (SELECT c.case_id FROM confidential_cases c ",
            "WHERE NOT EXISTS (SELECT 1 FROM case_assignments a WHERE a.case_id = c.case_id ",
            "AND a.person = ",
            $p,
            " AND a.unassigned_at IS NULL)))"
        )
    };
}
