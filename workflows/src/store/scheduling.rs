//! The scheduler's watermark per DAG: the last fire time it handed to a run. After an outage the
//! fire times between the watermark and now are the missed ones.

use chrono::{DateTime, Utc};

use super::records::millis_to_time;
use super::{QueryContext, RunStore, StoreError};

impl RunStore {
    pub async fn watermark(&self, dag: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let fired: Option<i64> =
            sqlx::query_scalar("SELECT fired_at FROM scheduler_watermarks WHERE dag = $1")
                .bind(dag)
                .fetch_optional(self.pool())
                .await
                .doing("reading a scheduler watermark")?;
        Ok(fired.map(millis_to_time))
    }

    /// Moves the watermark forward to `fired_at`; never moves it back.
    pub async fn advance_watermark(
        &self,
        dag: &str,
        fired_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO scheduler_watermarks (dag, fired_at) VALUES ($1, $2) \
             ON CONFLICT (dag) DO UPDATE SET fired_at = excluded.fired_at \
             WHERE scheduler_watermarks.fired_at < excluded.fired_at",
        )
        .bind(dag)
        .bind(fired_at.timestamp_millis())
        .execute(self.pool())
        .await
        .doing("moving a scheduler watermark")?;
        Ok(())
    }
}
