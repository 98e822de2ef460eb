//! The SQLite adapter's confidential cases and case assignments
//! (`assignments.rs`): each assignment and its ending with its ledger entry
//! in one transaction.

use rusqlite::params;
use time::OffsetDateTime;

use crate::StoreError;
use crate::assignments::{self, CaseAssignment, ConfidentialMark};
use crate::encode;
use crate::sqlite::SqliteStore;
use crate::sqlite_db::{all, execute, value};
use crate::sqlite_write::SqliteTx;
use crate::txn::{Tx, run_now};

impl SqliteStore {
    pub(crate) async fn sqlite_assign_case(
        &self,
        assignment: &CaseAssignment,
        entry: &[u8],
    ) -> Result<Option<i64>, StoreError> {
        let at = assignments::check_assignment(assignment)?;
        let a = assignment.clone();
        let entry = entry.to_vec();
        self.writer
            .write(move |conn| {
                let held: Option<i64> = value(
                    conn,
                    "SELECT id FROM case_assignments \
                     WHERE case_id = ?1 AND person = ?2 AND unassigned_at IS NULL",
                    params![a.case_id, a.person],
                    "read a case assignment",
                )?;
                if held.is_some() {
                    return Ok(None);
                }
                run_now(SqliteTx(conn).queue_entries(&[&entry], at))?;
                execute(
                    conn,
                    "INSERT INTO case_assignments (case_id, person, assigned_by, assigned_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![a.case_id, a.person, a.assigned_by, encode::unix_micros(at)],
                    "assign a case",
                )?;
                Ok(Some(conn.last_insert_rowid()))
            })
            .await
    }

    pub(crate) async fn sqlite_unassign_case(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError> {
        let at = encode::timestamp("case_assignments.unassigned_at", at)?;
        encode::text("case_assignments.unassigned_by", by)?;
        let (case_id, person, by) = (case_id.to_owned(), person.to_owned(), by.to_owned());
        let entry = entry.to_vec();
        self.writer
            .write(move |conn| {
                let n = execute(
                    conn,
                    "UPDATE case_assignments SET unassigned_by = ?3, unassigned_at = ?4 \
                     WHERE case_id = ?1 AND person = ?2 AND unassigned_at IS NULL",
                    params![case_id, person, by, encode::unix_micros(at)],
                    "unassign a case",
                )?;
                if n > 0 {
                    run_now(SqliteTx(conn).queue_entries(&[&entry], at))?;
                }
                Ok(n as u64)
            })
            .await
    }

    pub(crate) async fn sqlite_case_assignments(
        &self,
        case_id: &str,
    ) -> Result<Vec<CaseAssignment>, StoreError> {
        let case_id = case_id.to_owned();
        self.read(|conn| {
            all(
                conn,
                "SELECT id, case_id, person, assigned_by, assigned_at, unassigned_by, \
                 unassigned_at FROM case_assignments WHERE case_id = ?1 ORDER BY id",
                [case_id],
                "list a case's assignments",
                |row| assignments::assignment_row(row),
            )
        })
    }

    pub(crate) async fn sqlite_mark_confidential(
        &self,
        mark: &ConfidentialMark,
    ) -> Result<(), StoreError> {
        let at = assignments::check_mark(mark)?;
        let m = mark.clone();
        self.writer
            .write(move |conn| {
                execute(
                    conn,
                    "INSERT INTO confidential_cases (case_id, source, marked_at) \
                     VALUES (?1, ?2, ?3) ON CONFLICT (case_id, source) DO NOTHING",
                    params![m.case_id, m.source, encode::unix_micros(at)],
                    "mark a case confidential",
                )?;
                Ok(())
            })
            .await
    }

    pub(crate) async fn sqlite_confidential_marks(
        &self,
        case_id: &str,
    ) -> Result<Vec<ConfidentialMark>, StoreError> {
        let case_id = case_id.to_owned();
        self.read(|conn| {
            all(
                conn,
                "SELECT case_id, source, marked_at FROM confidential_cases \
                 WHERE case_id = ?1 ORDER BY marked_at, source",
                [case_id],
                "read a case's confidentiality",
                |row| assignments::mark_row(row),
            )
        })
    }

    pub(crate) async fn sqlite_all_confidential_marks(
        &self,
    ) -> Result<Vec<ConfidentialMark>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                "SELECT case_id, source, marked_at FROM confidential_cases \
                 ORDER BY case_id, marked_at, source",
                [],
                "read the cases' confidentiality",
                |row| assignments::mark_row(row),
            )
        })
    }
}
