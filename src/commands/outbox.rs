//! `churnflow outbox`: the reports and alerts of the run store's outbox, sent or waiting, and a
//! resend of what waits.

use anyhow::Result;
use chrono::Utc;
use serde_json::json;
use workflows::store::OutboxEntry;

use crate::Outcome;
use crate::app::App;
use crate::cli::OutboxArgs;
use crate::outbox::deliver_due;
use crate::tables;

fn entry_json(entry: &OutboxEntry) -> serde_json::Value {
    json!({
        "id": entry.id,
        "kind": entry.message.kind,
        "dag": entry.message.dag,
        "logical_date": entry.message.logical_date,
        "subject": entry.message.subject,
        "to": entry.message.envelope_to,
        "created_at": entry.created_at.to_rfc3339(),
        "attempts": entry.attempts,
        "sent_at": entry.sent_at.map(|t| t.to_rfc3339()),
        "sent_via": entry.sent_via,
        "next_attempt_at": entry.sent_at.is_none().then(|| entry.next_attempt_at.to_rfc3339()),
        "last_error": entry.last_error,
    })
}

pub async fn outbox(app: &App, args: OutboxArgs) -> Result<Outcome> {
    let store = app.store().await?;
    let mut outcome = Outcome::Success;
    if args.resend {
        let delivery = deliver_due(&store, &app.settings.email, Utc::now(), true).await?;
        for (id, subject, route) in &delivery.sent {
            eprintln!("sent {id} \"{subject}\" via {route}");
        }
        for (id, subject, error) in &delivery.failed {
            eprintln!("not sent {id} \"{subject}\": {error}");
        }
        if !delivery.failed.is_empty() {
            outcome = Outcome::RunFailed;
        }
    }
    let entries = store
        .list_messages(args.unsent, i64::from(args.limit))
        .await?;
    if args.json {
        outln!(
            "{:#}",
            serde_json::Value::Array(entries.iter().map(entry_json).collect())
        );
        return Ok(outcome);
    }
    let mut table = tables::table(&["id", "kind", "date", "subject", "state", "attempts", "note"]);
    for entry in &entries {
        let (state, note) = match (&entry.sent_at, &entry.last_error) {
            (Some(at), _) => (
                "sent".to_string(),
                format!(
                    "{} via {}",
                    at.format("%Y-%m-%d %H:%M:%S"),
                    entry.sent_via.as_deref().unwrap_or("?")
                ),
            ),
            (None, Some(error)) => (
                format!(
                    "waiting (next {})",
                    entry.next_attempt_at.format("%H:%M:%S")
                ),
                error.chars().take(100).collect(),
            ),
            (None, None) => ("waiting".to_string(), String::new()),
        };
        table.add_row(vec![
            entry.id.to_string(),
            entry.message.kind.clone(),
            entry.message.logical_date.clone(),
            entry.message.subject.chars().take(60).collect(),
            state,
            entry.attempts.to_string(),
            note,
        ]);
    }
    outln!("{table}");
    let waiting = store.unsent_messages().await?;
    outln!("{waiting} message(s) waiting; `churnflow outbox --resend` delivers them now");
    Ok(outcome)
}
