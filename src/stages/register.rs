//! `register`: versions the run's candidate of the family the gate judged. Its model and drift
//! reference are copied to `models/<model>/v<N>/` with a model card (which records every
//! candidate and why the winner won); the registry row records it as champion when the gate
//! passed it (archiving the previous champion in the same transaction) and as candidate otherwise.
//! A retried register finds the version its run already made.

use async_trait::async_trait;
use tasks::artifacts;
use tasks::gate::Decision;
use tasks::model_card::{Build, Evaluation, ModelCard, TrainingSummary};
use tasks::warehouse::registry_prefix;
use workflows::{Task, TaskContext, TaskError, TaskOutcome};

use super::evaluate::missing_candidate;
use super::{ModelParams, StageEnv};

pub struct Register {
    pub env: StageEnv,
}

/// The build this binary came from.
pub fn this_build() -> Build {
    let commit = env!("CHURNFLOW_GIT_COMMIT");
    Build {
        churnflow_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: (!commit.is_empty()).then(|| commit.to_string()),
    }
}

#[async_trait]
impl Task for Register {
    type Params = ModelParams;

    fn kind(&self) -> &'static str {
        "register"
    }

    fn check(&self, p: &ModelParams) -> Vec<String> {
        let mut problems = super::checks::Problems::default();
        problems.model(p);
        problems.into_vec()
    }

    async fn run(&self, ctx: &TaskContext, p: ModelParams) -> Result<TaskOutcome, TaskError> {
        if let Some(reason) = super::not_trained(ctx) {
            return Ok(TaskOutcome::Skipped(reason));
        }
        let store = self.env.store()?;
        let warehouse = self.env.warehouse().await?;
        let date = ctx.logical_date.to_string();
        if let Some(done) = warehouse
            .version_of_run(&p.model, &ctx.dag, &date)
            .await
            .map_err(TaskError::new)?
        {
            ctx.log.line(format!(
                "this run already registered v{} ({})",
                done.version,
                done.stage.as_str()
            ));
            return Ok(TaskOutcome::Success(serde_json::json!({
                "model": p.model, "version": done.version, "stage": done.stage,
            })));
        }
        let run_prefix = artifacts::candidate_prefix(&p.model, ctx.logical_date.day());
        let read = |e| missing_candidate(&run_prefix, e);
        let evaluation: Evaluation = artifacts::get_json(
            &store,
            &artifacts::key(&run_prefix, artifacts::EVALUATION_FILE),
        )
        .await
        .map_err(read)?;
        let gate: Decision =
            artifacts::get_json(&store, &artifacts::key(&run_prefix, artifacts::GATE_FILE))
                .await
                .map_err(read)?;
        // The family the gate judged is the one registered; the others are in the card.
        let staged = artifacts::family_prefix(&run_prefix, gate.family);
        let training: TrainingSummary =
            artifacts::get_json(&store, &artifacts::key(&staged, artifacts::TRAINING_FILE))
                .await
                .map_err(|e| missing_candidate(&staged, e))?;
        let version = warehouse
            .next_model_version(&p.model)
            .await
            .map_err(TaskError::new)?;
        let prefix = registry_prefix(&p.model, version);
        for file in [artifacts::MODEL_FILE, artifacts::REFERENCE_FILE] {
            artifacts::copy(&store, &staged, &prefix, file)
                .await
                .map_err(TaskError::new)?;
        }
        let card = ModelCard {
            model: p.model.clone(),
            version,
            registered_at: chrono::Utc::now(),
            build: this_build(),
            training,
            evaluation,
            gate: gate.clone(),
        };
        artifacts::put_json(
            &store,
            &artifacts::key(&prefix, artifacts::CARD_FILE),
            &card,
        )
        .await
        .map_err(TaskError::new)?;
        let card_json = serde_json::to_value(&card).map_err(TaskError::new)?;
        // A champion pinned by hand stays: a candidate that passed is kept as a candidate.
        let pinned = warehouse.pinned(&p.model).await.map_err(TaskError::new)?;
        if let (Some(pinned), true) = (pinned, gate.passed) {
            ctx.log.line(format!(
                "{} v{pinned} is pinned as champion by hand; v{version} passed the gate and is \
                 kept as a candidate (`churnflow models unpin {}` lets the gate promote again)",
                p.model, p.model
            ));
        }
        let champion = gate.passed && pinned.is_none();
        // The row goes in last: a version is visible only once its files are complete.
        let registered = warehouse
            .register_model_version(&p.model, version, &card_json, &ctx.dag, &date, champion)
            .await
            .map_err(TaskError::new)?;
        ctx.log.line(format!(
            "registered {} v{version} ({}) as {} under {prefix}/",
            p.model,
            gate.family,
            registered.stage.as_str()
        ));
        Ok(TaskOutcome::Success(serde_json::json!({
            "model": p.model, "version": version, "stage": registered.stage, "prefix": prefix,
            "family": gate.family,
        })))
    }
}
