//! Email through the run store's outbox: every report and alert is queued (a run's failure alert
//! in the same transaction as its outcome), then delivered by the configured route (the `.eml`
//! file outbox or SMTP) with retries and backoff. `churnflow run`, the report stage and the
//! scheduler deliver what is due; `churnflow outbox` lists and resends.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    address::Envelope,
};
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
/// Dedup keys longer than this keep their start and a digest of the whole (PostgreSQL indexes keys
/// up to a few kilobytes, and two long causes must not share a cut key).
const MAX_KEY: usize = 200;

/// `key` as stored: itself when short, else its start and the SHA-256 of the whole.
pub fn dedup_key(key: &str) -> String {
    if key.len() <= MAX_KEY {
        return key.to_string();
    }
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut cut = MAX_KEY;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}#{hex}", &key[..cut])
}

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
        dedup_key: self::dedup_key(dedup_key),
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

/// The configured way out, built once per delivery pass: an SMTP transport (with its TLS
/// settings) or the file outbox.
enum Route {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        shown: String,
    },
    Files {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: std::path::PathBuf,
    },
}

impl Route {
    fn new(settings: &EmailSettings) -> Result<Self> {
        match &settings.smtp_url {
            Some(url) => {
                let shown = redact_url(url);
                let transport = smtp_transport(url, settings.smtp_ca_file.as_deref())
                    .with_context(|| format!("SMTP URL {shown}"))?;
                Ok(Route::Smtp { transport, shown })
            }
            None => {
                let dir = settings.outbox_dir.clone();
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating the outbox {}", dir.display()))?;
                Ok(Route::Files {
                    transport: AsyncFileTransport::<Tokio1Executor>::new(&dir),
                    dir,
                })
            }
        }
    }

    /// Sends one stored message; where it went, for the log.
    async fn send(&self, entry: &OutboxEntry) -> Result<String> {
        let message = &entry.message;
        let from = message
            .envelope_from
            .parse()
            .ok()
            .filter(|_| !message.envelope_from.is_empty());
        let to = message
            .envelope_to
            .iter()
            .map(|address| {
                address
                    .parse()
                    .with_context(|| format!("recipient `{address}`"))
            })
            .collect::<Result<Vec<_>>>()?;
        let envelope = Envelope::new(from, to).context("the message's envelope")?;
        match self {
            Route::Smtp { transport, shown } => {
                transport
                    .send_raw(&envelope, &message.message)
                    .await
                    .with_context(|| format!("sending mail through {shown}"))?;
                Ok(shown.clone())
            }
            Route::Files { transport, dir } => {
                let id = transport
                    .send_raw(&envelope, &message.message)
                    .await
                    .with_context(|| format!("writing mail to the outbox {}", dir.display()))?;
                Ok(dir.join(format!("{id}.eml")).display().to_string())
            }
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
    if !settings.enabled {
        info!("email is off (CHURNFLOW_EMAIL=off or --no-email): nothing delivered");
        return Ok(Delivery::default());
    }
    let claimed = store
        .claim_due_messages(now, DELIVERY_LEASE, ignore_backoff, BATCH)
        .await?;
    let mut delivery = Delivery::default();
    if claimed.is_empty() {
        return Ok(delivery);
    }
    let secrets = workflows::store::secrets_in_env();
    // A route that cannot be built (a CA file that does not read, say) fails every message of
    // the pass the same way, and each is recorded with the reason.
    let route = Route::new(settings);
    for entry in claimed {
        let sent = match &route {
            Ok(route) => route.send(&entry).await,
            Err(err) => Err(anyhow::anyhow!("{}", crate::describe(err))),
        };
        match sent {
            Ok(via) => {
                if store.message_sent(&entry, &via, Utc::now()).await? {
                    info!(id = entry.id, kind = %entry.message.kind, to = %via, "email sent");
                } else {
                    warn!(
                        id = entry.id,
                        "email sent after its claim lapsed; another process may send it too"
                    );
                }
                delivery.sent.push((entry.id, entry.message.subject, via));
            }
            Err(err) => {
                let error = mask_secrets(&crate::describe(&err), &secrets);
                let retry_at = Utc::now() + backoff(entry.attempts);
                store.message_failed(&entry, &error, retry_at).await?;
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
        if !self.email.enabled {
            return Vec::new();
        }
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
    fn long_dedup_keys_differ_by_their_whole_text() {
        let a = format!("failure:d:2026-12-03:{}a", "t,".repeat(300));
        let b = format!("failure:d:2026-12-03:{}b", "t,".repeat(300));
        assert_ne!(super::dedup_key(&a), super::dedup_key(&b));
        assert!(super::dedup_key(&a).len() < 300);
        assert_eq!(super::dedup_key("short"), "short");
    }

    #[test]
    fn backoff_doubles_from_30_seconds_up_to_an_hour() {
        let seconds: Vec<i64> = [1, 2, 3, 4, 8, 50]
            .map(|n| backoff(n).num_seconds())
            .to_vec();
        assert_eq!(seconds, [30, 60, 120, 240, 3600, 3600]);
    }
}
