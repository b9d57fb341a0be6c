//! `demo_snapshot`: the daily source of a store of demo data. The shipped `demo_data` DAG runs it
//! before `nightly_churn`, so a scheduler left running on demo data (`docker compose up`, or
//! `churnflow schedule` after `quickstart`) finds each night's snapshot, and the labels that
//! became known, as it would from a real source. On a store `churnflow demo-data` did not fill
//! (no `demo-data.json` at its root) it does nothing: it never writes made-up customers into
//! someone's data.

use async_trait::async_trait;
use serde::Deserialize;
use tasks::contract::Contract;
use tasks::demo_data::{DEMO_MARKER, add_day};
use workflows::{Task, TaskContext, TaskError, TaskOutcome};

use super::StageEnv;

pub struct DemoSnapshot {
    pub env: StageEnv,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSnapshotParams {}

#[async_trait]
impl Task for DemoSnapshot {
    type Params = DemoSnapshotParams;

    fn kind(&self) -> &'static str {
        "demo_snapshot"
    }

    async fn run(
        &self,
        ctx: &TaskContext,
        _params: DemoSnapshotParams,
    ) -> Result<TaskOutcome, TaskError> {
        let store = self.env.store()?;
        if !store.exists(DEMO_MARKER).await.map_err(TaskError::new)? {
            return Ok(TaskOutcome::Skipped(format!(
                "the object store holds no demo data (no {DEMO_MARKER}): nothing to add"
            )));
        }
        // A store that cannot be read now may be readable on the next try; a marker that does
        // not parse will not be.
        let bytes = store.get_bytes(DEMO_MARKER).await.map_err(TaskError::new)?;
        let marker: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            TaskError::permanent(format!(
                "{DEMO_MARKER} is not JSON ({e}): write the demo data again with `churnflow \
                 demo-data`"
            ))
        })?;
        let (Some(customers), Some(seed)) = (marker["customers"].as_u64(), marker["seed"].as_u64())
        else {
            return Err(TaskError::permanent(format!(
                "{DEMO_MARKER} names no customers and seed: {marker}"
            )));
        };
        let day = ctx.logical_date.day();
        let drift_from = marker["drift_from"]
            .as_str()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let started = std::time::Instant::now();
        let added = add_day(
            &store,
            customers as usize,
            seed,
            day,
            Contract::demo().label_horizon_days,
            drift_from,
        )
        .await
        .map_err(TaskError::new)?;
        ctx.log.line(format!(
            "{}; labels of {} earlier snapshot(s) landed{}; {:.1} s",
            match added.snapshot_rows {
                Some(rows) => format!("snapshot of {day} written ({rows} customers)"),
                None => format!("the snapshot of {day} was there"),
            },
            added.labelled.len(),
            match added.labelled.as_slice() {
                [] => String::new(),
                dates => format!(
                    " ({})",
                    dates
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            started.elapsed().as_secs_f64()
        ));
        Ok(TaskOutcome::Success(serde_json::json!({
            "snapshot_rows": added.snapshot_rows,
            "labelled": added.labelled,
        })))
    }
}
