//! Metrics in the Prometheus text format, served by the daemon (`churnflow schedule --metrics-addr
//! 127.0.0.1:9464`). The engine records runs, task attempts and their durations and the time of
//! each DAG's last success; the stages record rows validated and scored and the drift severity;
//! delivery records the outbox backlog. Without `--metrics-addr` nothing is installed and the
//! recording macros cost nothing.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// Histogram buckets for task and run durations, in seconds: from a noop to a long training.
const DURATION_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0,
];

/// Serves the metrics on `addr` (any path; `/health` answers too) until the process ends. Call
/// inside the runtime.
pub fn serve(addr: SocketAddr) -> Result<()> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_duration_seconds".to_string()),
            &DURATION_BUCKETS,
        )
        .context("metrics buckets")?
        .with_http_listener(addr)
        .install()
        .with_context(|| format!("--metrics-addr {addr}: cannot serve metrics there"))?;
    describe();
    tracing::info!(%addr, "serving metrics (Prometheus text format)");
    Ok(())
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "churnflow_runs_total",
        "DAG runs ended, by DAG and end state"
    );
    describe_histogram!(
        "churnflow_run_duration_seconds",
        Unit::Seconds,
        "Wall time of DAG runs"
    );
    describe_gauge!(
        "churnflow_last_success_timestamp_seconds",
        Unit::Seconds,
        "When each DAG last finished a run successfully (Unix time)"
    );
    describe_counter!(
        "churnflow_task_attempts_total",
        "Task attempts ended, by DAG, task and outcome"
    );
    describe_histogram!(
        "churnflow_task_duration_seconds",
        Unit::Seconds,
        "Wall time of task attempts"
    );
    describe_counter!("churnflow_rows_validated_total", "Snapshot rows validated");
    describe_counter!("churnflow_rows_scored_total", "Customers scored");
    describe_gauge!(
        "churnflow_drift_severity",
        "The highest drift severity of the last drift check: 0 none, 1 low, 2 medium, 3 high"
    );
    describe_gauge!("churnflow_outbox_unsent", "Emails waiting in the outbox");
}
