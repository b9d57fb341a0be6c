//! Failure alerts and the SMTP route: the alert of a failed run (queued through [`crate::outbox`])
//! and the transport that sends mail through SMTP (STARTTLS or TLS, with authentication) when
//! `CHURNFLOW_SMTP_URL` is set, trusting a private CA's certificate too when
//! `CHURNFLOW_SMTP_CA_FILE` names one. Without it, mail goes to a file outbox of `.eml` files.

use anyhow::{Context, Result, bail};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Message, Tokio1Executor};
use workflows::Dag;
use workflows::executor::{RunStatus, RunSummary};
use workflows::state::RunState;

use crate::settings::EmailSettings;

/// The SMTP transport of lettre's URL forms; with `ca_file`, its TLS (which the URL must ask for)
/// trusts that file's certificates besides the system's roots.
pub(crate) fn smtp_transport(
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
    let mut builder = Message::builder()
        .from(from)
        .message_id(None)
        .subject(format!(
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
