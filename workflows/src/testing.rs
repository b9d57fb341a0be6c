//! Test support (feature `testing`): a fresh run-store database per test, on SQLite or on the
//! PostgreSQL server at `CHURNFLOW_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! Where PostgreSQL is unreachable, a test asking for it is skipped with a message on a developer's
//! machine, and fails under `CI=true`: CI must never skip it silently.

use std::path::Path;

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

use crate::store::{RunStore, redact_url, sqlite_url};

pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists only for one test.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<(String, String)>,
}

fn pg_admin_url() -> String {
    std::env::var("CHURNFLOW_TEST_PG").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.to_string())
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

impl TestDatabase {
    /// A SQLite file in `dir`.
    pub fn sqlite(dir: &Path) -> Self {
        Self {
            url: sqlite_url(&dir.join("runs.db")),
            postgres: None,
        }
    }

    /// A new, empty PostgreSQL database; None (with a message) where no server is reachable and
    /// this is not CI.
    pub async fn postgres() -> Option<Self> {
        let admin = pg_admin_url();
        let mut conn = match PgConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(err) if !ci() => {
                eprintln!(
                    "skipping a PostgreSQL test: no server at {} ({err}); CI=true makes this a failure",
                    redact_url(&admin)
                );
                return None;
            }
            Err(err) => panic!(
                "PostgreSQL is required under CI=true but {} is unreachable: {err}",
                redact_url(&admin)
            ),
        };
        let name = format!("churnflow_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("the test role may create databases");
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        Some(Self {
            url: format!("{base}/{name}"),
            postgres: Some((admin, name)),
        })
    }

    pub async fn connect(&self) -> RunStore {
        RunStore::connect(&self.url)
            .await
            .unwrap_or_else(|err| panic!("test database {}: {err}", redact_url(&self.url)))
    }

    /// Drops a PostgreSQL test database (SQLite files go with their temporary directory).
    pub async fn drop_database(self) {
        if let Some((admin, name)) = self.postgres
            && let Ok(mut conn) = PgConnection::connect(&admin).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
}
