//! `validate`: the logical date's snapshot against the data contract. Hard violations fail the task
//! (and so stop the run); warnings go into the output for the report.

use async_trait::async_trait;
use tasks::storage::{DataStore, Table, partition_key};
use tasks::validate::validate;
use tasks::warehouse::ValidationRecord;
use workflows::{Task, TaskContext, TaskError, TaskOutcome};

use super::StageEnv;

pub struct Validate {
    pub env: StageEnv,
}

/// The params every churn stage takes (`model` is accepted for uniformity and not used here).
pub type ValidateParams = super::ModelParams;

#[async_trait]
impl Task for Validate {
    type Params = ValidateParams;

    fn kind(&self) -> &'static str {
        "validate"
    }

    fn check(&self, p: &ValidateParams) -> Vec<String> {
        let mut problems = super::checks::Problems::default();
        problems.model(p);
        problems.into_vec()
    }

    async fn run(
        &self,
        ctx: &TaskContext,
        params: ValidateParams,
    ) -> Result<TaskOutcome, TaskError> {
        let contract = super::load_contract(params.contract.as_deref())?;
        let store: DataStore = self.env.store()?;
        let warehouse = self.env.warehouse().await?;
        let date = ctx.logical_date.day();
        let key = partition_key(Table::Features, date);
        if !store.exists(&key).await.map_err(TaskError::new)? {
            return Err(TaskError::new(format!(
                "no snapshot for {date}: `{key}` is missing from the object store {}",
                workflows::store::redact_url(store.root())
            )));
        }
        let frame = store
            .get_parquet(&key)
            .await
            .map_err(super::storage_error)?;
        let previous = store
            .snapshot_dates(Table::Features)
            .await
            .map_err(TaskError::new)?
            .into_iter()
            .rfind(|d| *d < date);
        let previous_rows = match previous {
            Some(d) => Some(
                store
                    .parquet_rows(&partition_key(Table::Features, d))
                    .await
                    .map_err(TaskError::new)?,
            ),
            None => None,
        };
        let report =
            tokio::task::spawn_blocking(move || validate(&contract, &frame, date, previous_rows))
                .await
                .map_err(|err| TaskError::new(format!("the check crashed: {err}")))?;
        let json = serde_json::to_value(&report).map_err(TaskError::new)?;
        let artifact = ctx.artifacts_dir.join("validation.json");
        std::fs::write(&artifact, format!("{json:#}"))
            .map_err(|err| TaskError::new(format!("writing {}: {err}", artifact.display())))?;
        let hard = report.hard().count();
        metrics::counter!("churnflow_rows_validated_total", "dag" => ctx.dag.clone())
            .increment(report.rows as u64);
        warehouse
            .save_validation(
                &ctx.dag,
                &ctx.logical_date.to_string(),
                &ValidationRecord {
                    snapshot_key: key.clone(),
                    row_count: report.rows as i64,
                    passed: report.passed(),
                    hard_violations: hard as i64,
                    soft_violations: (report.violations.len() - hard) as i64,
                    report: json.clone(),
                },
            )
            .await
            .map_err(TaskError::new)?;
        ctx.log.line(format!(
            "{} rows checked, {} violations ({} hard)",
            report.rows,
            report.violations.len(),
            report.hard().count()
        ));
        if !report.passed() {
            // A contract breach stays a breach however often it is checked.
            return Err(TaskError::permanent(format!(
                "snapshot {date} (`{key}`) breaks the data contract:\n{}",
                report.summary()
            )));
        }
        Ok(TaskOutcome::Success(json))
    }
}
