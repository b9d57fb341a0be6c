//! `churnflow schedule`: the daemon.

use std::sync::Arc;

use anyhow::Result;
use workflows::scheduler::Scheduler;

use crate::Outcome;
use crate::alerts::AlertObserver;
use crate::app::App;
use crate::signals::shutdown_token;

pub async fn schedule(app: &App) -> Result<Outcome> {
    let store = app.store().await?;
    tracing::info!(run_store = %store.display_url(), "connected");
    let executor = Arc::new(app.executor(store.clone())?);
    let observer = Arc::new(AlertObserver {
        email: Arc::new(app.settings.email.clone()),
    });
    let shutdown = shutdown_token();
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
    store.close().await;
    Ok(Outcome::Success)
}
