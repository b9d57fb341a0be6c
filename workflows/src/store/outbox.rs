//! The outbox: messages (the binary's report and alert emails, already encoded) queued in the run
//! store and delivered with retries, so that a mail server that is down loses nothing.
//!
//! A message is queued once per `dedup_key` (the same alert for the same DAG, date and cause is
//! sent once). A failure alert is queued in the same transaction as the run's outcome
//! ([`RunStore::finish_run_with_messages`]). Delivery claims a message for a lease with a
//! conditional update (`claimed_until`), and records its outcome only while it still holds that
//! claim, so two processes never send it at once, a resend that ignores the backoff included.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::records::millis_to_time;
use super::{QueryContext, RunStore, StoreError};
use crate::state::RunState;

/// A message to queue: its encoded form and envelope, and what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Queued at most once: `failure:<dag>:<date>:<tasks>`, `report:<dag>:<date>:<run>:<attempt>`.
    pub dedup_key: String,
    pub dag: String,
    pub logical_date: String,
    /// `report`, `alert`, `failure`.
    pub kind: String,
    pub subject: String,
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    /// The whole message as it goes on the wire (RFC 5322).
    pub message: Vec<u8>,
}

/// A queued message as stored, with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub message: OutboxMessage,
    pub created_at: DateTime<Utc>,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    /// The end of the claim of the process delivering it, if one is.
    pub claimed_until: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub sent_via: Option<String>,
    pub last_error: Option<String>,
}

const COLUMNS: &str = "id, dedup_key, dag, logical_date, kind, subject, envelope_from, \
                       envelope_to, message, created_at, attempts, next_attempt_at, \
                       claimed_until, sent_at, sent_via, last_error";

impl OutboxEntry {
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let get = "reading the outbox";
        let to: String = row.try_get("envelope_to").doing(get)?;
        Ok(Self {
            id: row.try_get("id").doing(get)?,
            message: OutboxMessage {
                dedup_key: row.try_get("dedup_key").doing(get)?,
                dag: row.try_get("dag").doing(get)?,
                logical_date: row.try_get("logical_date").doing(get)?,
                kind: row.try_get("kind").doing(get)?,
                subject: row.try_get("subject").doing(get)?,
                envelope_from: row.try_get("envelope_from").doing(get)?,
                envelope_to: to.lines().map(str::to_string).collect(),
                message: row.try_get("message").doing(get)?,
            },
            created_at: millis_to_time(row.try_get("created_at").doing(get)?),
            attempts: row.try_get("attempts").doing(get)?,
            next_attempt_at: millis_to_time(row.try_get("next_attempt_at").doing(get)?),
            claimed_until: row
                .try_get::<Option<i64>, _>("claimed_until")
                .doing(get)?
                .map(millis_to_time),
            sent_at: row
                .try_get::<Option<i64>, _>("sent_at")
                .doing(get)?
                .map(millis_to_time),
            sent_via: row.try_get("sent_via").doing(get)?,
            last_error: row.try_get("last_error").doing(get)?,
        })
    }
}

/// Queues `message` inside a transaction the caller commits; false when its key was queued before.
pub(crate) async fn enqueue_in(
    tx: &mut sqlx::AnyConnection,
    message: &OutboxMessage,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO outbox (dedup_key, dag, logical_date, kind, subject, envelope_from, \
         envelope_to, message, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (dedup_key) DO NOTHING",
    )
    .bind(&message.dedup_key)
    .bind(&message.dag)
    .bind(&message.logical_date)
    .bind(&message.kind)
    .bind(&message.subject)
    .bind(&message.envelope_from)
    .bind(message.envelope_to.join("\n"))
    .bind(message.message.clone())
    .bind(now.timestamp_millis())
    .execute(&mut *tx)
    .await
    .doing("queueing a message")?
    .rows_affected();
    Ok(inserted == 1)
}

impl RunStore {
    /// Queues `message` unless a message with its key was queued before; true when it was new.
    pub async fn enqueue_message(
        &self,
        message: &OutboxMessage,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .enqueue_messages(std::slice::from_ref(message), now)
            .await?
            == 1)
    }

    /// Queues several messages in one transaction (a report and its alert), each unless its key
    /// was queued before; how many were new.
    pub async fn enqueue_messages(
        &self,
        messages: &[OutboxMessage],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut tx = self
            .pool()
            .begin()
            .await
            .doing("starting to queue messages")?;
        let mut queued = 0;
        for message in messages {
            queued += usize::from(enqueue_in(&mut tx, message, now).await?);
        }
        tx.commit().await.doing("committing queued messages")?;
        Ok(queued)
    }

    /// Closes a running run with its final state and, in the same transaction, queues `messages`
    /// (its failure alert): the outcome and its alert are stored together or not at all. Nothing
    /// is queued when another process closed the run first.
    pub async fn finish_run_with_messages(
        &self,
        run_id: i64,
        state: RunState,
        messages: &[OutboxMessage],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.doing("starting to close a run")?;
        let closed = sqlx::query(
            "UPDATE dag_runs SET state = $2, ended_at = $3 WHERE id = $1 AND state = 'running'",
        )
        .bind(run_id)
        .bind(state.as_str())
        .bind(now.timestamp_millis())
        .execute(&mut *tx)
        .await
        .doing("closing a run")?
        .rows_affected();
        if closed == 1 {
            for message in messages {
                enqueue_in(&mut tx, message, now).await?;
            }
        }
        tx.commit().await.doing("committing a closed run")?;
        Ok(())
    }

    /// Claims up to `limit` unsent messages due by `now` (all unsent ones with `ignore_backoff`)
    /// that no other process holds, each for `lease`. The entries come back with their claim,
    /// which [`RunStore::message_sent`] and [`RunStore::message_failed`] must present.
    pub async fn claim_due_messages(
        &self,
        now: DateTime<Utc>,
        lease: std::time::Duration,
        ignore_backoff: bool,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let now_ms = now.timestamp_millis();
        let due_by = if ignore_backoff { i64::MAX } else { now_ms };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until < $2) ORDER BY id LIMIT $3"
        ))
        .bind(due_by)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .doing("reading due messages")?;
        let until = now_ms + i64::try_from(lease.as_millis()).unwrap_or(60_000);
        let mut claimed = Vec::new();
        for row in &rows {
            let entry = OutboxEntry::from_row(row)?;
            let won = sqlx::query(
                "UPDATE outbox SET claimed_until = $3, attempts = attempts + 1 \
                 WHERE id = $1 AND sent_at IS NULL \
                 AND (claimed_until IS NULL OR claimed_until < $2) AND attempts = $4",
            )
            .bind(entry.id)
            .bind(now_ms)
            .bind(until)
            // The attempt read: a claim and release by another process in between makes this
            // one lose, so the attempt number this claim carries is the stored one.
            .bind(entry.attempts)
            .execute(self.pool())
            .await
            .doing("claiming a message")?
            .rows_affected();
            if won == 1 {
                claimed.push(OutboxEntry {
                    attempts: entry.attempts + 1,
                    claimed_until: Some(millis_to_time(until)),
                    ..entry
                });
            }
        }
        Ok(claimed)
    }

    /// Records the delivery of a message this process claimed; false when its claim had lapsed
    /// and another process took it over. A claim is its lease's end and its attempt number: two
    /// claims made within one millisecond share the first, never the second.
    pub async fn message_sent(
        &self,
        entry: &OutboxEntry,
        via: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let recorded = sqlx::query(
            "UPDATE outbox SET sent_at = $3, sent_via = $4, last_error = NULL, \
             claimed_until = NULL WHERE id = $1 AND claimed_until = $2 AND attempts = $5",
        )
        .bind(entry.id)
        .bind(entry.claimed_until.map(|t| t.timestamp_millis()))
        .bind(now.timestamp_millis())
        .bind(via)
        .bind(entry.attempts)
        .execute(self.pool())
        .await
        .doing("recording a sent message")?
        .rows_affected();
        Ok(recorded == 1)
    }

    /// Records a failed delivery of a message this process claimed; the next attempt waits until
    /// `retry_at`.
    pub async fn message_failed(
        &self,
        entry: &OutboxEntry,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET last_error = $3, next_attempt_at = $4, claimed_until = NULL \
             WHERE id = $1 AND claimed_until = $2 AND attempts = $5",
        )
        .bind(entry.id)
        .bind(entry.claimed_until.map(|t| t.timestamp_millis()))
        .bind(error)
        .bind(retry_at.timestamp_millis())
        .bind(entry.attempts)
        .execute(self.pool())
        .await
        .doing("recording a failed delivery")?;
        Ok(())
    }

    /// The newest messages first; only the unsent ones with `unsent_only`.
    pub async fn list_messages(
        &self,
        unsent_only: bool,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let filter = if unsent_only {
            "WHERE sent_at IS NULL"
        } else {
            ""
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM outbox {filter} ORDER BY id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .doing("listing the outbox")?;
        rows.iter().map(OutboxEntry::from_row).collect()
    }

    /// Whether a message of `kind` about `dag` and `logical_date` was queued before (a report of
    /// that date was already emailed, so a new one is a correction).
    pub async fn has_message(
        &self,
        dag: &str,
        logical_date: &str,
        kind: &str,
    ) -> Result<bool, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE dag = $1 AND logical_date = $2 AND kind = $3",
        )
        .bind(dag)
        .bind(logical_date)
        .bind(kind)
        .fetch_one(self.pool())
        .await
        .doing("looking for earlier messages")?;
        Ok(count > 0)
    }

    /// How many messages wait to be delivered.
    pub async fn unsent_messages(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
            .fetch_one(self.pool())
            .await
            .doing("counting unsent messages")
    }
}
