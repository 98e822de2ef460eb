//! The PostgreSQL adapter's confidential cases and case assignments
//! (`assignments.rs`): each assignment and its ending with its ledger entry
//! in one transaction.

use time::OffsetDateTime;

use crate::StoreError;
use crate::assignments::{self, CaseAssignment, ConfidentialMark};
use crate::decode::failed;
use crate::encode;
use crate::postgres::PgStore;
use crate::postgres_write::{PgTx, finish};
use crate::txn::Tx;

impl PgStore {
    pub(crate) async fn pg_assign_case(
        &self,
        assignment: &CaseAssignment,
        entry: &[u8],
    ) -> Result<Option<i64>, StoreError> {
        let at = assignments::check_assignment(assignment)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin assigning a case"))?;
        let done = async {
            // Two assignments racing: the partial unique index keeps one;
            // the other inserts nothing and writes no entry.
            let id = sqlx::query_scalar::<_, i64>(
                "INSERT INTO case_assignments (case_id, person, assigned_by, assigned_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (case_id, person) WHERE unassigned_at IS NULL DO NOTHING \
                 RETURNING id",
            )
            .bind(&assignment.case_id)
            .bind(&assignment.person)
            .bind(&assignment.assigned_by)
            .bind(at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed("assign a case"))?;
            if id.is_some() {
                PgTx(&mut tx).queue_entries(&[entry], at).await?;
            }
            Ok(id)
        }
        .await;
        finish(tx, done, "commit a case assignment").await
    }

    pub(crate) async fn pg_unassign_case(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError> {
        let at = encode::timestamp("case_assignments.unassigned_at", at)?;
        encode::text("case_assignments.unassigned_by", by)?;
        encode::text("case_assignments.case_id", case_id)?;
        encode::text("case_assignments.person", person)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin unassigning a case"))?;
        let done = async {
            let n = sqlx::query(
                "UPDATE case_assignments SET unassigned_by = $3, unassigned_at = $4 \
                 WHERE case_id = $1 AND person = $2 AND unassigned_at IS NULL",
            )
            .bind(case_id)
            .bind(person)
            .bind(by)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(failed("unassign a case"))?
            .rows_affected();
            if n > 0 {
                PgTx(&mut tx).queue_entries(&[entry], at).await?;
            }
            Ok(n)
        }
        .await;
        finish(tx, done, "commit a case unassignment").await
    }

    pub(crate) async fn pg_case_assignments(
        &self,
        case_id: &str,
    ) -> Result<Vec<CaseAssignment>, StoreError> {
        if !encode::storable(case_id) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT id, case_id, person, assigned_by, assigned_at, unassigned_by, unassigned_at \
             FROM case_assignments WHERE case_id = $1 ORDER BY id",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list a case's assignments"))?;
        rows.iter().map(assignments::assignment_row).collect()
    }

    pub(crate) async fn pg_mark_confidential(
        &self,
        mark: &ConfidentialMark,
    ) -> Result<(), StoreError> {
        let at = assignments::check_mark(mark)?;
        sqlx::query(
            "INSERT INTO confidential_cases (case_id, source, marked_at) VALUES ($1, $2, $3) \
             ON CONFLICT (case_id, source) DO NOTHING",
        )
        .bind(&mark.case_id)
        .bind(&mark.source)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(failed("mark a case confidential"))?;
        Ok(())
    }

    pub(crate) async fn pg_confidential_marks(
        &self,
        case_id: &str,
    ) -> Result<Vec<ConfidentialMark>, StoreError> {
        if !encode::storable(case_id) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT case_id, source, marked_at FROM confidential_cases \
             WHERE case_id = $1 ORDER BY marked_at, source",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read a case's confidentiality"))?;
        rows.iter().map(assignments::mark_row).collect()
    }

    pub(crate) async fn pg_all_confidential_marks(
        &self,
    ) -> Result<Vec<ConfidentialMark>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, source, marked_at FROM confidential_cases \
             ORDER BY case_id, marked_at, source",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read the cases' confidentiality"))?;
        rows.iter().map(assignments::mark_row).collect()
    }
}
