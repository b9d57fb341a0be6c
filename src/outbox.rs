//! Email through the run store's outbox: every report and alert is queued (a run's failure alert
//! in the same transaction as its outcome), then delivered by the configured route (the `.eml`
//! file outbox or SMTP) with retries and backoff. `churnflow run`, the report stage and the
//! scheduler deliver what is due; `churnflow outbox` lists and resends.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor, address::Envelope};
use tracing::{info, warn};
use workflows::Dag;
use workflows::executor::{ExecutorError, RunMessages, RunSummary};
use workflows::scheduler::RunObserver;
use workflows::store::{OutboxEntry, OutboxMessage, RunStore, mask_secrets, redact_url};

use crate::alerts::{failure_alert, smtp_transport};
use crate::settings::EmailSettings;

/// A claimed message is not tried by another process for this long.
const DELIVERY_LEASE: Duration = Duration::from_secs(120);
/// The wait after the first failed delivery; it doubles with each failure ...
const FIRST_RETRY: chrono::Duration = chrono::Duration::seconds(30);
/// ... up to this.
const MAX_RETRY: chrono::Duration = chrono::Duration::hours(1);
/// Messages one delivery pass takes on.
const BATCH: i64 = 100;
/// Dedup keys longer than this are cut (PostgreSQL indexes keys up to a few kilobytes).
const MAX_KEY: usize = 400;

/// What goes into the outbox for `message`, sent at most once under `dedup_key`.
pub fn queued(
    message: &Message,
    dedup_key: &str,
    dag: &str,
    logical_date: &str,
    kind: &str,
    subject: &str,
) -> OutboxMessage {
    let envelope = message.envelope();
    OutboxMessage {
        dedup_key: dedup_key.chars().take(MAX_KEY).collect(),
        dag: dag.to_string(),
        logical_date: logical_date.to_string(),
        kind: kind.to_string(),
        subject: subject.to_string(),
        envelope_from: envelope.from().map(ToString::to_string).unwrap_or_default(),
        envelope_to: envelope.to().iter().map(ToString::to_string).collect(),
        message: message.formatted(),
    }
}

/// The wait before the next try after `attempts` failed deliveries.
pub fn backoff(attempts: i64) -> chrono::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    (FIRST_RETRY * 2i32.pow(doublings)).min(MAX_RETRY)
}

/// Sends one stored message by the configured route; where it went, for the log.
async fn send_raw(settings: &EmailSettings, entry: &OutboxEntry) -> Result<String> {
    let from = entry
        .message
        .envelope_from
        .parse()
        .ok()
        .filter(|_| !entry.message.envelope_from.is_empty());
    let to = entry
        .message
        .envelope_to
        .iter()
        .map(|address| {
            address
                .parse()
                .with_context(|| format!("recipient `{address}`"))
        })
        .collect::<Result<Vec<_>>>()?;
    let envelope = Envelope::new(from, to).context("the message's envelope")?;
    match &settings.smtp_url {
        Some(url) => {
            let shown = redact_url(url);
            let transport = smtp_transport(url, settings.smtp_ca_file.as_deref())
                .with_context(|| format!("SMTP URL {shown}"))?;
            transport
                .send_raw(&envelope, &entry.message.message)
                .await
                .with_context(|| format!("sending mail through {shown}"))?;
            Ok(shown)
        }
        None => {
            std::fs::create_dir_all(&settings.outbox_dir).with_context(|| {
                format!("creating the outbox {}", settings.outbox_dir.display())
            })?;
            let transport = AsyncFileTransport::<Tokio1Executor>::new(&settings.outbox_dir);
            let id = transport
                .send_raw(&envelope, &entry.message.message)
                .await
                .with_context(|| {
                    format!(
                        "writing mail to the outbox {}",
                        settings.outbox_dir.display()
                    )
                })?;
            Ok(settings
                .outbox_dir
                .join(format!("{id}.eml"))
                .display()
                .to_string())
        }
    }
}

/// What one delivery pass did.
#[derive(Debug, Default)]
pub struct Delivery {
    /// (message id, subject, where it went)
    pub sent: Vec<(i64, String, String)>,
    /// (message id, subject, why not)
    pub failed: Vec<(i64, String, String)>,
}

/// Delivers the messages that are due (every unsent one with `ignore_backoff`); a failure is
/// recorded with the next try's time, never lost.
pub async fn deliver_due(
    store: &RunStore,
    settings: &EmailSettings,
    now: DateTime<Utc>,
    ignore_backoff: bool,
) -> Result<Delivery> {
    let claimed = store
        .claim_due_messages(now, DELIVERY_LEASE, ignore_backoff, BATCH)
        .await?;
    let mut delivery = Delivery::default();
    let secrets = workflows::store::secrets_in_env();
    for entry in claimed {
        match send_raw(settings, &entry).await {
            Ok(route) => {
                store.message_sent(entry.id, &route, Utc::now()).await?;
                info!(id = entry.id, kind = %entry.message.kind, to = %route, "email sent");
                delivery.sent.push((entry.id, entry.message.subject, route));
            }
            Err(err) => {
                let error = mask_secrets(&crate::describe(&err), &secrets);
                let retry_at = Utc::now() + backoff(entry.attempts);
                store.message_failed(entry.id, &error, retry_at).await?;
                warn!(id = entry.id, attempts = entry.attempts, retry_at = %retry_at, error = %error,
                      "email not delivered; it stays in the outbox");
                delivery
                    .failed
                    .push((entry.id, entry.message.subject, error));
            }
        }
    }
    Ok(delivery)
}

/// Delivers what is due and logs what could not go; for callers whose own result must stand
/// whatever the mail server does.
pub async fn deliver_quietly(store: &RunStore, settings: &EmailSettings) -> Delivery {
    let delivered = deliver_due(store, settings, Utc::now(), false).await;
    if let Ok(unsent) = store.unsent_messages().await {
        metrics::gauge!("churnflow_outbox_unsent").set(unsent as f64);
    }
    match delivered {
        Ok(delivery) => delivery,
        Err(err) => {
            warn!(error = %crate::describe(&err), "the outbox could not be read");
            Delivery::default()
        }
    }
}

/// Composes each failed run's alert for the executor, which queues it with the run's outcome.
pub struct FailureAlerts {
    pub email: Arc<EmailSettings>,
}

impl RunMessages for FailureAlerts {
    fn messages(&self, dag: &Dag, summary: &RunSummary) -> Vec<OutboxMessage> {
        match failure_alert(&self.email, dag, summary) {
            Ok(Some(message)) => {
                let failed: Vec<&str> = summary.failed_tasks().map(|t| t.task.as_str()).collect();
                let date = summary.run.logical_date.to_string();
                let subject = message
                    .headers()
                    .get_raw("Subject")
                    .unwrap_or_default()
                    .to_string();
                let key = format!("failure:{}:{date}:{}", dag.name, failed.join(","));
                vec![queued(
                    &message, &key, &dag.name, &date, "failure", &subject,
                )]
            }
            Ok(None) => Vec::new(),
            Err(err) => {
                warn!(dag = %dag.name, error = %crate::describe(&err), "the failure alert cannot be composed");
                Vec::new()
            }
        }
    }
}

/// The scheduler's observer: delivers what is due each time a run ends (its failure alert was
/// queued with its outcome).
pub struct DeliverAfterRuns {
    pub store: RunStore,
    pub email: Arc<EmailSettings>,
}

#[async_trait::async_trait]
impl RunObserver for DeliverAfterRuns {
    async fn run_ended(&self, dag: &Dag, result: &Result<RunSummary, ExecutorError>) {
        if let Err(err) = result {
            warn!(dag = %dag.name, error = %err, "run could not be driven");
        }
        deliver_quietly(&self.store, &self.email).await;
    }
}

/// Delivers what is due every `every` until `shutdown`: messages whose earlier delivery failed go
/// out once their backoff ends, even on days without runs.
pub async fn deliver_periodically(
    store: RunStore,
    email: Arc<EmailSettings>,
    every: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        deliver_quietly(&store, &email).await;
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_from_30_seconds_up_to_an_hour() {
        let seconds: Vec<i64> = [1, 2, 3, 4, 8, 50]
            .map(|n| backoff(n).num_seconds())
            .to_vec();
        assert_eq!(seconds, [30, 60, 120, 240, 3600, 3600]);
    }
}
