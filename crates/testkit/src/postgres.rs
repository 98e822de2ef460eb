//! A fresh PostgreSQL database per test, so tests running at once never share tables.

use sqlx::Connection as _;

use crate::KitError;

/// The variable that names the test server: a URL whose database the kit
/// connects to in order to create and drop its own databases.
pub const POSTGRES_URL_VAR: &str = "CUSTOS_TEST_POSTGRES_URL";

/// A database of its own on the test PostgreSQL server, dropped (with any
/// connection still open to it) when this value is dropped.
#[derive(Debug)]
pub struct TempDatabase {
    admin: String,
    name: String,
}

impl TempDatabase {
    /// A fresh database on the server `CUSTOS_TEST_POSTGRES_URL` names, or
    /// `None` (with a `SKIPPED:` line) when the variable is not set: tests
    /// that need PostgreSQL then skip, as the project's rules say, unless
    /// `CUSTOS_TEST_REQUIRE_POSTGRES=1` makes that a failure.
    ///
    /// Panics when the variable is set but the database cannot be created:
    /// a misconfigured server must fail the test, not skip it.
    pub fn from_env() -> Option<TempDatabase> {
        let admin = crate::postgres_url()?;
        match TempDatabase::create(&admin) {
            Ok(db) => Some(db),
            Err(e) => panic!("cannot create a test database on {POSTGRES_URL_VAR}: {e}"),
        }
    }

    /// A fresh database on the server of `admin` (a `postgres://` URL).
    ///
    /// Blocks the calling thread; usable from synchronous tests and from
    /// inside a tokio runtime alike (the work runs on a thread of its own).
    pub fn create(admin: &str) -> Result<TempDatabase, KitError> {
        let name = format!("custos_kit_{}", uuid::Uuid::new_v4().simple());
        run_sql(admin, format!("CREATE DATABASE {name}"))?;
        Ok(TempDatabase {
            admin: admin.to_owned(),
            name,
        })
    }

    /// The database's URL, on the same server and with the same credentials.
    pub fn url(&self) -> String {
        match self.admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{}", self.name),
            None => format!("{}/{}", self.admin, self.name),
        }
    }

    /// Runs `sql` on this database, behind the back of any node using it.
    pub fn execute(&self, sql: &str) -> Result<(), KitError> {
        run_sql(&self.url(), sql.to_owned())
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = run_sql(&self.admin, drop) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

/// Runs `sql` over one connection to `url`, on a thread and runtime of its own.
fn run_sql(url: &str, sql: String) -> Result<(), KitError> {
    let url = url.to_owned();
    let work = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(KitError::io("start a runtime for PostgreSQL"))?;
        rt.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .map_err(|e| KitError::Postgres(e.to_string()))?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .map_err(|e| KitError::Postgres(e.to_string()))?;
            conn.close()
                .await
                .map_err(|e| KitError::Postgres(e.to_string()))
        })
    });
    work.join()
        .map_err(|_| KitError::Setup("the PostgreSQL helper thread panicked".into()))?
}
