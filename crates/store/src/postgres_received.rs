//! The PostgreSQL adapter's index of received packages and files
//! (`received.rs`).

use crate::StoreError;
use crate::decode::failed;
use crate::postgres::PgStore;
use crate::postgres_write::finish;
use crate::received::{ReceivedFile, ReceivedOrigin, check, file, origin};

impl PgStore {
    pub(crate) async fn pg_index_received(
        &self,
        o: &ReceivedOrigin,
        hashes: &[String],
    ) -> Result<(), StoreError> {
        check(o, hashes)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("begin indexing a received package"))?;
        let done = async {
            sqlx::query(
                "INSERT INTO received_packages (package_id, provider, request) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(&o.package_id)
            .bind(&o.provider)
            .bind(&o.request)
            .execute(&mut *tx)
            .await
            .map_err(failed("index a received package"))?;
            sqlx::query(
                "INSERT INTO received_files (sha256, package_id) \
                 SELECT h, $2 FROM UNNEST($1::text[]) AS h ON CONFLICT DO NOTHING",
            )
            .bind(hashes)
            .bind(&o.package_id)
            .execute(&mut *tx)
            .await
            .map_err(failed("index received files"))?;
            Ok(())
        }
        .await;
        finish(tx, done, "commit a received package's index").await
    }

    pub(crate) async fn pg_received_origins(&self) -> Result<Vec<ReceivedOrigin>, StoreError> {
        let rows = sqlx::query(
            "SELECT package_id, provider, request FROM received_packages ORDER BY package_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list received packages"))?;
        rows.iter().map(origin).collect()
    }

    pub(crate) async fn pg_received_files(
        &self,
        hashes: &[String],
    ) -> Result<Vec<ReceivedFile>, StoreError> {
        let rows = sqlx::query(
            "SELECT f.sha256, p.package_id, p.provider, p.request \
             FROM received_files f JOIN received_packages p USING (package_id) \
             WHERE f.sha256 = ANY($1) ORDER BY f.sha256, p.package_id",
        )
        .bind(hashes)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("find received files"))?;
        rows.iter().map(file).collect()
    }
}
