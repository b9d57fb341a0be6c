//! The scheduler's watermark per DAG: the last fire time handed out (run or, by the catch-up
//! policy, deliberately skipped). After an outage the fire times between the watermark and now are
//! the missed ones.
//!
//! Several daemons may share one store. A daemon claims fire times by moving the watermark from the
//! value it read to the last fire time it handles, with a compare-and-set, and creates their runs
//! in the same transaction: exactly one daemon wins each fire, and a daemon killed after its claim
//! leaves queued runs behind (which any daemon's sweep resumes), never a fire with no run.

use chrono::{DateTime, Utc};

use super::records::millis_to_time;
use super::runs::ensure_run_in;
use super::{QueryContext, RunStore, StoreError};
use crate::logical_date::LogicalDate;

/// Fire times one daemon wants to claim for a DAG.
#[derive(Debug, Clone)]
pub struct FireClaim<'a> {
    pub dag: &'a str,
    /// The watermark the daemon read: the claim holds only if it is still there.
    pub seen: DateTime<Utc>,
    /// The last fire time handled by this claim; the watermark moves to it.
    pub through: DateTime<Utc>,
    /// The runs to create (the fires that are due; skipped ones get none).
    pub runs: &'a [LogicalDate],
    /// The DAG's tasks and their retry budgets, for the new runs' task instances.
    pub tasks: &'a [(String, u32)],
    pub trigger: &'a str,
    pub now: DateTime<Utc>,
}

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

    /// Sets the first watermark of a DAG, unless another process set one first.
    pub async fn start_watermark(&self, dag: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO scheduler_watermarks (dag, fired_at) VALUES ($1, $2) \
             ON CONFLICT (dag) DO NOTHING",
        )
        .bind(dag)
        .bind(at.timestamp_millis())
        .execute(self.pool())
        .await
        .doing("starting a scheduler watermark")?;
        Ok(())
    }

    /// Moves the watermark forward to `fired_at`; never moves it back. For operators and tests
    /// that set where a schedule resumes; daemons claim with [`RunStore::claim_fires`].
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

    /// Claims fire times: moves the watermark from `claim.seen` to `claim.through` and creates the
    /// claimed runs, queued, in one transaction. False when another process moved the watermark
    /// first (nothing is written; read it again).
    pub async fn claim_fires(&self, claim: &FireClaim<'_>) -> Result<bool, StoreError> {
        let mut tx = self
            .pool()
            .begin()
            .await
            .doing("starting to claim fire times")?;
        // The write comes first, so SQLite takes its lock at once; on PostgreSQL a second claimant
        // waits on the row and then finds the watermark moved.
        let moved = sqlx::query(
            "UPDATE scheduler_watermarks SET fired_at = $3 WHERE dag = $1 AND fired_at = $2",
        )
        .bind(claim.dag)
        .bind(claim.seen.timestamp_millis())
        .bind(claim.through.timestamp_millis())
        .execute(&mut *tx)
        .await
        .doing("claiming fire times")?
        .rows_affected();
        if moved == 0 {
            tx.rollback().await.doing("giving up a lost claim")?;
            return Ok(false);
        }
        for date in claim.runs {
            ensure_run_in(
                &mut tx,
                claim.dag,
                date,
                claim.trigger,
                claim.tasks,
                claim.now,
            )
            .await?;
        }
        tx.commit().await.doing("committing claimed fire times")?;
        Ok(true)
    }
}
