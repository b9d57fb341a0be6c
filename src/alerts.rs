//! Failure alerts by email: to a file outbox of `.eml` files by default, or through SMTP (STARTTLS
//! or TLS, with authentication) when `CHURNFLOW_SMTP_URL` is set, trusting a private CA's
//! certificate too when `CHURNFLOW_SMTP_CA_FILE` names one.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tracing::{info, warn};
use workflows::Dag;
use workflows::executor::{ExecutorError, RunStatus, RunSummary};
use workflows::scheduler::RunObserver;
use workflows::state::RunState;
use workflows::store::redact_url;

use crate::settings::EmailSettings;

/// Sends one message by the configured route; returns where it went, for the log.
pub async fn send(settings: &EmailSettings, message: Message) -> Result<String> {
    match &settings.smtp_url {
        Some(url) => {
            let shown = redact_url(url);
            let transport = smtp_transport(url, settings.smtp_ca_file.as_deref())
                .with_context(|| format!("SMTP URL {shown}"))?;
            transport
                .send(message)
                .await
                .with_context(|| format!("sending mail through {shown}"))?;
            Ok(shown)
        }
        None => {
            std::fs::create_dir_all(&settings.outbox_dir).with_context(|| {
                format!("creating the outbox {}", settings.outbox_dir.display())
            })?;
            let transport = AsyncFileTransport::<Tokio1Executor>::new(&settings.outbox_dir);
            let id = transport.send(message).await.with_context(|| {
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

/// The SMTP transport of lettre's URL forms; with `ca_file`, its TLS (which the URL must ask for)
/// trusts that file's certificates besides the system's roots.
fn smtp_transport(
    url: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>> {
    let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?;
    let Some(ca_file) = ca_file else {
        return Ok(builder.build());
    };
    let ca_context = || {
        format!(
            "email.smtp_ca_file / CHURNFLOW_SMTP_CA_FILE {}",
            ca_file.display()
        )
    };
    let pem = std::fs::read(ca_file).with_context(ca_context)?;
    let certificate = Certificate::from_pem(&pem).with_context(ca_context)?;
    let parsed = url::Url::parse(url)?;
    let host = parsed.host_str().unwrap_or_default().to_string();
    let parameters = TlsParameters::builder(host)
        .add_root_certificate(certificate)
        .build()?;
    let tls_query = parsed
        .query_pairs()
        .find(|(key, _)| key == "tls")
        .map(|(_, value)| value.into_owned());
    let tls = match (parsed.scheme(), tls_query.as_deref()) {
        ("smtps", _) => Tls::Wrapper(parameters),
        (_, Some("required")) => Tls::Required(parameters),
        (_, Some("opportunistic")) => Tls::Opportunistic(parameters),
        _ => bail!(
            "{} is set but the SMTP URL asks for no TLS: use smtps:// or ?tls=required",
            ca_context()
        ),
    };
    Ok(builder.tls(tls).build())
}

/// The alert for a failed run, or None when the run did not fail or nobody is to be told.
pub fn failure_alert(
    settings: &EmailSettings,
    dag: &Dag,
    summary: &RunSummary,
) -> Result<Option<Message>> {
    if summary.status != RunStatus::Finished(RunState::Failed) || dag.on_failure_email.is_empty() {
        return Ok(None);
    }
    let date = summary.run.logical_date;
    let failed: Vec<_> = summary.failed_tasks().collect();
    let names: Vec<&str> = failed.iter().map(|ti| ti.task.as_str()).collect();
    let mut body = format!(
        "The run of DAG `{}` for {date} failed (run id {}).\n\nFailed tasks:\n",
        dag.name, summary.run.id
    );
    for ti in &failed {
        body.push_str(&format!(
            "\n- {} (after {} attempt(s)): {}\n",
            ti.task,
            ti.try_number,
            ti.error.as_deref().unwrap_or("no error text")
        ));
    }
    let upstream_failed = summary
        .tasks
        .iter()
        .filter(|ti| ti.state == workflows::state::TaskState::UpstreamFailed)
        .count();
    body.push_str(&format!(
        "\n{upstream_failed} task(s) did not run because a task above them failed.\n\
         Severity: failure. Earlier results are unchanged.\n\n\
         Logs: churnflow logs {} --date {date} --task {}\n\
         Resume: churnflow run {} --date {date}\n",
        dag.name,
        names.first().copied().unwrap_or("TASK"),
        dag.name
    ));
    let from: Mailbox = settings
        .from
        .parse()
        .with_context(|| format!("sender address `{}`", settings.from))?;
    let mut builder = Message::builder().from(from).subject(format!(
        "[churnflow] FAILED {} {date}: {}",
        dag.name,
        names.join(", ")
    ));
    for to in &dag.on_failure_email {
        let to: Mailbox = to
            .parse()
            .with_context(|| format!("dag `{}`: on_failure_email `{to}`", dag.name))?;
        builder = builder.to(to);
    }
    Ok(Some(
        builder
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .context("building the alert email")?,
    ))
}

/// Sends the failure alert of a run, if it needs one. An alert that cannot be sent is logged, not
/// fatal: the run's own result stands.
pub async fn alert_if_failed(settings: &EmailSettings, dag: &Dag, summary: &RunSummary) {
    let outcome = async {
        match failure_alert(settings, dag, summary)? {
            Some(message) => send(settings, message).await.map(Some),
            None => Ok(None),
        }
    }
    .await;
    match outcome {
        Ok(Some(route)) => info!(dag = %dag.name, to = %route, "failure alert sent"),
        Ok(None) => {}
        Err(err) => {
            warn!(dag = %dag.name, error = %crate::describe(&err), "failure alert not sent")
        }
    }
}

/// The scheduler's observer: alerts on failed runs.
pub struct AlertObserver {
    pub email: Arc<EmailSettings>,
}

#[async_trait]
impl RunObserver for AlertObserver {
    async fn run_ended(&self, dag: &Dag, result: &Result<RunSummary, ExecutorError>) {
        match result {
            Ok(summary) => alert_if_failed(&self.email, dag, summary).await,
            Err(err) => warn!(dag = %dag.name, error = %err, "run could not be driven"),
        }
    }
}
