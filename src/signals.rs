//! Turns SIGINT and SIGTERM into a cancellation token, so a stop is clean: runs are interrupted,
//! their running tasks queued to resume, nothing left marked running.

use tokio_util::sync::CancellationToken;
use tracing::warn;

/// A token cancelled by the first SIGINT or SIGTERM this process receives.
pub fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(err) => {
                    warn!(error = %err, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => warn!("SIGINT received; stopping cleanly"),
            () = terminate => warn!("SIGTERM received; stopping cleanly"),
        }
        cancel.cancel();
    });
    token
}
