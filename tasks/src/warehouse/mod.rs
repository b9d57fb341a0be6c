//! The warehouse: the tables the stages leave for people and for the CRM import (validation
//! reports, the model registry, metrics, gate decisions, the risk table, drift reports). A SQLite
//! file by default, PostgreSQL for a `postgres://` URL, through sqlx's `Any` driver; the schema is
//! migrated on connect from `sql/warehouse/<backend>/`.
//!
//! It may share its database with the engine's run store: both keep their migrations in sqlx's one
//! table and each ignores the other's.

mod canary;
mod performance;
mod publications;
mod records;
mod registry;
mod requests;
mod risk;
mod shadow;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor as _};

pub use canary::{CanaryDecision, CanaryRollback};
pub use performance::{CanaryEvidence, Measured, PerformanceRow, ScoredBy};
pub use publications::Publication;
pub use records::{DriftRow, GateRecord, MetricRecord, ValidationRecord};
pub use registry::{ModelVersion, Stage, version_prefix as registry_prefix};
pub use requests::{ModelRequest, RequestKind};
pub use risk::{
    CSV_PIECE_ROWS, RISK_COLUMNS, RiskLoad, RiskPartition, RiskRow, ServedScores, TierCount,
    TierMove, risk_csv, risk_csv_pieces,
};
pub use shadow::ShadowRecord;

/// How long a SQLite writer waits for another (the run store writes heartbeats to the same file).
const SQLITE_BUSY_TIMEOUT_MS: u32 = 30_000;
const SQLITE_MIGRATION_ATTEMPTS: u32 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("warehouse URL {0} is neither sqlite: nor postgres://")]
    UnsupportedUrl(String),
    #[error("warehouse at {url}: cannot connect: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("warehouse at {url}: applying migrations failed: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("warehouse at {url}: {what}: {source}")]
    Query {
        url: String,
        what: String,
        source: sqlx::Error,
    },
    #[error("model registry: {0}")]
    Registry(String),
    #[error("{0}")]
    Data(String),
}

#[derive(Debug, Clone)]
pub struct Warehouse {
    pool: AnyPool,
    backend: Backend,
    /// The URL as given (PostgreSQL bulk loads open their own connection with it).
    url: String,
    redacted: String,
}

/// The URL without its secrets (the userinfo's password, query parameters such as `password=`),
/// for messages. The same rule as the run store's `redact_url` in `workflows`, which this crate
/// cannot use: the two crates know nothing of each other.
pub fn redact(url: &str) -> String {
    const SECRET_PARAMETERS: [&str; 5] = ["pass", "secret", "token", "key", "auth"];
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_string();
    };
    let has_password = parsed.password().is_some();
    let has_secret_parameter = parsed.query_pairs().any(|(name, _)| {
        let lower = name.to_ascii_lowercase();
        SECRET_PARAMETERS.iter().any(|s| lower.contains(s))
    });
    if !has_password && !has_secret_parameter {
        return url.to_string();
    }
    if has_password {
        let _ = parsed.set_password(Some("***"));
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            let secret = SECRET_PARAMETERS.iter().any(|s| lower.contains(s));
            let value = if secret {
                "***".to_string()
            } else {
                value.into_owned()
            };
            (name.into_owned(), value)
        })
        .collect();
    if !pairs.is_empty() {
        let query = pairs
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&");
        parsed.set_query(Some(&query));
    }
    parsed.to_string()
}

/// How long a first connection to PostgreSQL may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection, made before the pool: the pool retries a refused or failed connection until
/// its acquire timeout (30 s) and then says only "pool timed out"; this says why at once
/// (connection refused, unknown host, authentication failed) or that nothing answered.
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

/// Milliseconds since the Unix epoch, the warehouse's time column unit.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Warehouse {
    /// Connects to `url`, creating a SQLite file if missing, and migrates the schema.
    pub async fn connect(url: &str) -> Result<Self, WarehouseError> {
        install_default_drivers();
        let redacted = redact(url);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(WarehouseError::UnsupportedUrl(redacted));
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let connect_url = match backend {
            Backend::Sqlite => {
                options = options.max_connections(2).after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute(
                            format!(
                                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                                 PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                            )
                            .as_str(),
                        )
                        .await?;
                        Ok(())
                    })
                });
                if url.contains("mode=") {
                    url.to_string()
                } else {
                    let separator = if url.contains('?') { '&' } else { '?' };
                    format!("{url}{separator}mode=rwc")
                }
            }
            Backend::Postgres => {
                options = options.max_connections(4);
                url.to_string()
            }
        };
        if backend == Backend::Postgres {
            probe_connection(&connect_url)
                .await
                .map_err(|source| WarehouseError::Connect {
                    url: redacted.clone(),
                    source,
                })?;
        }
        let pool =
            options
                .connect(&connect_url)
                .await
                .map_err(|source| WarehouseError::Connect {
                    url: redacted.clone(),
                    source,
                })?;
        let mut migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("../sql/warehouse/sqlite"),
            Backend::Postgres => sqlx::migrate!("../sql/warehouse/postgres"),
        };
        // The run store's migrations may sit in the same table.
        migrator.set_ignore_missing(true);
        // Two processes opening a new SQLite file at once both try to create the schema; each
        // migration is one transaction, so the loser retries and finds the work done.
        let attempts = match backend {
            Backend::Sqlite => SQLITE_MIGRATION_ATTEMPTS,
            Backend::Postgres => 1,
        };
        let mut attempt = 1;
        while let Err(source) = migrator.run(&pool).await {
            if attempt >= attempts {
                return Err(WarehouseError::Migrate {
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
            url: url.to_string(),
            redacted,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with any password hidden.
    pub fn redacted_url(&self) -> &str {
        &self.redacted
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) fn query_error(
        &self,
        what: impl Into<String>,
    ) -> impl FnOnce(sqlx::Error) -> WarehouseError {
        let url = self.redacted.clone();
        let what = what.into();
        move |source| WarehouseError::Query { url, what, source }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn hides_passwords_in_userinfo_and_query() {
        assert_eq!(
            redact("postgres://churn:s3cr3t@db:5432/churn"),
            "postgres://churn:***@db:5432/churn"
        );
        assert_eq!(
            redact("postgres://churn@db/churn?password=hunter2&sslmode=require"),
            "postgres://churn@db/churn?password=***&sslmode=require"
        );
        assert_eq!(
            redact("sqlite://.churnflow/churnflow.db"),
            "sqlite://.churnflow/churnflow.db"
        );
    }
}
