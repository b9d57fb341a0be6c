//! `churnflow schedule`: the daemon.

use std::sync::Arc;

use anyhow::Result;
use workflows::scheduler::Scheduler;

use crate::Outcome;
use crate::app::App;
use crate::cli::ScheduleArgs;
use crate::outbox::{DeliverAfterRuns, deliver_periodically};
use crate::signals::shutdown_token;

/// How often the daemon delivers mail whose earlier delivery failed.
const OUTBOX_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

pub async fn schedule(app: &App, args: ScheduleArgs) -> Result<Outcome> {
    if let Some(addr) = args.metrics_addr {
        crate::telemetry::serve(addr)?;
    }
    let store = app.store().await?;
    tracing::info!(run_store = %store.display_url(), "connected");
    let executor = Arc::new(app.executor(store.clone())?);
    let email = Arc::new(app.settings.email.clone());
    let observer = Arc::new(DeliverAfterRuns {
        store: store.clone(),
        email: email.clone(),
    });
    let shutdown = shutdown_token();
    // Mail that could not go out is retried even on days without runs.
    let delivery = tokio::spawn(deliver_periodically(
        store.clone(),
        email,
        OUTBOX_EVERY,
        shutdown.clone(),
    ));
    let scheduler = Arc::new(Scheduler::new(
        app.dags.dags.values().cloned(),
        executor,
        app.clock.clone(),
        observer,
        shutdown,
    ));
    if scheduler.dags().is_empty() {
        tracing::warn!(
            "no DAG in {} has a schedule; nothing to do",
            app.settings.dags_path.display()
        );
    }
    scheduler.run().await?;
    let _ = delivery.await;
    store.close().await;
    Ok(Outcome::Success)
}
