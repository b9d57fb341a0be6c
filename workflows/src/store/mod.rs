//! The run store: every DAG run, task instance and attempt, and the scheduler's watermarks.
//!
//! One set of queries serves SQLite (the default, a file under the state directory) and PostgreSQL
//! (`DATABASE_URL=postgres://...`) through sqlx's `Any` driver; the schema is migrated on connect
//! from `sql/migrations/<backend>/`.
//!
//! No two processes ever execute the same task instance at once. Every state change is a single
//! conditional `UPDATE` (claim a task only while it is queued or due for a retry; finish it only
//! while this process still owns it), which both databases apply atomically; `UNIQUE (dag,
//! logical_date)` with insert-on-conflict keeps one run per DAG and date. A claim is a lease that
//! heartbeats extend: a task left running by a killed process is found once its lease lapses and is
//! retried. On SQLite every transaction starts with a write, so it takes the write lock at once
//! instead of failing to upgrade a read lock under contention.

mod outbox;
mod records;
mod redact;
mod runs;
mod scheduling;
mod tasks;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor as _};

pub use outbox::{OutboxEntry, OutboxMessage};
pub use records::{AttemptRecord, RunRecord, TaskInstance};
pub use redact::{SECRET_ENV, mask_secrets, redact_url, secrets_in_env, url_secrets};
pub use runs::{Reopen, TaskReset};
pub use scheduling::FireClaim;
pub use tasks::Finish;

/// How often a SQLite migration is tried when another process migrates the same file at once.
const SQLITE_MIGRATION_ATTEMPTS: u32 = 20;

/// How long one SQLite connection waits for another process's write lock before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("run store at {url}: {what}: {source}")]
    Connect {
        url: String,
        what: &'static str,
        source: sqlx::Error,
    },
    #[error("run store at {url}: applying migrations failed: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("run store: unsupported DATABASE_URL `{0}`: expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("run store: {what}: {source}")]
    Query {
        what: &'static str,
        source: sqlx::Error,
    },
    #[error("run store holds a bad value: {0}")]
    Corrupt(String),
}

/// Adds what the store was doing to a sqlx error.
pub(crate) trait QueryContext<T> {
    fn doing(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> QueryContext<T> for Result<T, sqlx::Error> {
    fn doing(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Query { what, source })
    }
}

#[derive(Debug, Clone)]
pub struct RunStore {
    pool: AnyPool,
    backend: Backend,
    url: String,
}

impl RunStore {
    /// Connects to the database at `url`, creating a SQLite file if missing, and migrates it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let redacted = redact_url(url);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redacted));
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            options = options.max_connections(4).after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        format!(
                            "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
                             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
                        )
                        .as_str(),
                    )
                    .await?;
                    Ok(())
                })
            });
        } else {
            options = options.max_connections(8);
        }
        let connect_url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}mode=rwc")
            }
            _ => url.to_string(),
        };
        if backend == Backend::Postgres {
            probe_connection(&connect_url)
                .await
                .map_err(|source| StoreError::Connect {
                    url: redacted.clone(),
                    what: "cannot connect",
                    source,
                })?;
        }
        let pool = options
            .connect(&connect_url)
            .await
            .map_err(|source| StoreError::Connect {
                url: redacted.clone(),
                what: "cannot connect",
                source,
            })?;
        let mut migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("../sql/migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../sql/migrations/postgres"),
        };
        // The warehouse of the churn stages may share this database and sqlx's migration table;
        // its migrations are not ours to know.
        migrator.set_ignore_missing(true);
        // sqlx serialises migrations on PostgreSQL with an advisory lock but not on SQLite, where
        // two processes opening a new file at once both try to create the schema. Each migration is
        // one transaction, so the loser retries and finds the work done.
        let attempts = if backend == Backend::Sqlite {
            SQLITE_MIGRATION_ATTEMPTS
        } else {
            1
        };
        let mut attempt = 1;
        while let Err(source) = migrator.run(&pool).await {
            if attempt >= attempts {
                return Err(StoreError::Migrate {
                    url: redacted,
                    source,
                });
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self {
            pool,
            backend,
            url: redacted,
        })
    }

    /// The URL with any password replaced, fit for logs and messages.
    pub fn display_url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// How long a first connection to PostgreSQL may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection, made before the pool: the pool retries a refused or failed connection until
/// its acquire timeout and then says only "pool timed out"; this says why at once (connection
/// refused, unknown host, authentication failed) or that nothing answered.
async fn probe_connection(url: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection as _;
    match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::AnyConnection::connect(url)).await {
        Ok(Ok(connection)) => connection.close().await,
        Ok(Err(err)) => Err(err),
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        ))),
    }
}

/// The `sqlite://` URL of a database file.
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}
