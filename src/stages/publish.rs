//! `publish`: decides whether the day's scores reach the CRM. The score stage loads the day's rows
//! into the risk table; this stage, after drift, makes them the ones `risk_scores_latest` shows
//! when the day meets the publish policy: drift no worse than `max_drift`, at most
//! `max_soft_violations` warnings from validate. Otherwise the CRM keeps the last published date,
//! the report says so at the top, and `churnflow publish DAG --date D` publishes the day anyway.
//! A day older than the published one never takes its place by policy (a backfill does not move
//! the CRM back in time), and neither does a date after today (it would hold every later night
//! back).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tasks::drift::Severity;
use workflows::{Task, TaskContext, TaskError, TaskOutcome};

use super::{ModelParams, StageEnv};

pub struct Publish {
    pub env: StageEnv,
}

/// When a day's scores are published by themselves.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublishPolicy {
    /// The worst drift severity (of any feature or the score) that is still published: `none`,
    /// `low`, `medium` or `high` (high: drift never holds a day back).
    pub max_drift: Severity,
    /// The most warnings (soft violations) of validate that are still published; no limit when
    /// absent.
    pub max_soft_violations: Option<i64>,
}

impl Default for PublishPolicy {
    fn default() -> Self {
        Self {
            max_drift: Severity::Medium,
            max_soft_violations: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishParams {
    #[serde(flatten)]
    pub model: ModelParams,
    #[serde(default)]
    pub policy: PublishPolicy,
}

/// Why a day is held back, if it is.
fn held_back(
    policy: &PublishPolicy,
    drift: Severity,
    drifted: &[String],
    soft_violations: i64,
) -> Option<String> {
    let mut reasons = Vec::new();
    if drift > policy.max_drift {
        reasons.push(format!(
            "drift is {} ({}), above the policy's max_drift {}",
            drift.as_str(),
            drifted.join(", "),
            policy.max_drift.as_str()
        ));
    }
    if let Some(limit) = policy.max_soft_violations
        && soft_violations > limit
    {
        reasons.push(format!(
            "validate found {soft_violations} warnings, above the policy's max_soft_violations \
             {limit}"
        ));
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

#[async_trait]
impl Task for Publish {
    type Params = PublishParams;

    fn kind(&self) -> &'static str {
        "publish"
    }

    fn check(&self, p: &PublishParams) -> Vec<String> {
        let mut problems = super::checks::Problems::default();
        problems.model(&p.model);
        if p.policy.max_soft_violations.is_some_and(|n| n < 0) {
            problems.push("policy.max_soft_violations must not be negative");
        }
        problems.into_vec()
    }

    async fn run(&self, ctx: &TaskContext, p: PublishParams) -> Result<TaskOutcome, TaskError> {
        let warehouse = self.env.warehouse().await?;
        let date = ctx.logical_date.to_string();
        let score_date = ctx.logical_date.day().to_string();
        let drift_rows = warehouse
            .drift(&ctx.dag, &date)
            .await
            .map_err(TaskError::new)?;
        let drift = drift_rows
            .iter()
            .map(|row| row.drift.severity)
            .max()
            .unwrap_or(Severity::None);
        let drifted: Vec<String> = drift_rows
            .iter()
            .filter(|row| row.drift.severity > p.policy.max_drift)
            .map(|row| row.drift.feature.clone())
            .collect();
        let soft_violations = warehouse
            .validation(&ctx.dag, &date)
            .await
            .map_err(TaskError::new)?
            .map_or(0, |record| record.soft_violations);
        let current = warehouse
            .current_publication()
            .await
            .map_err(TaskError::new)?;
        let how = format!(
            "to publish it anyway: churnflow publish {} --date {score_date}",
            ctx.dag
        );
        // A date after today (a run asked for with --allow-future) is published only by hand:
        // by policy it would keep every later night, all of them earlier dates, from the CRM.
        // A day of slack covers time zones ahead of UTC.
        let latest_allowed = chrono::Utc::now().date_naive() + chrono::Days::new(1);
        let future = ctx.logical_date.day() > latest_allowed;
        let current_date = current.map(|c| c.score_date).unwrap_or_default();
        let held = held_back(&p.policy, drift, &drifted, soft_violations)
            .map(|reason| format!("{reason}; {how}"))
            .or_else(|| {
                future.then(|| {
                    format!("{score_date} is a future date, published only by hand; {how}")
                })
            });
        let (published, reason, shown) = match held {
            Some(reason) => (false, reason, current_date),
            None => {
                // The check against a later published date happens in the same transaction
                // as the publication.
                let (published, shown) = warehouse
                    .publish_unless_later(&score_date, "met the publish policy")
                    .await
                    .map_err(TaskError::new)?;
                let shown = shown.unwrap_or_default();
                if published {
                    (true, "met the publish policy".to_string(), shown)
                } else {
                    let reason = format!("the CRM shows the later date {shown}; {how}");
                    (false, reason, shown)
                }
            }
        };
        ctx.log.line(format!(
            "{score_date}: {}: {reason}; the CRM shows {}",
            if published {
                "published"
            } else {
                "not published"
            },
            if shown.is_empty() {
                "nothing yet"
            } else {
                &shown
            }
        ));
        Ok(TaskOutcome::Success(serde_json::json!({
            "publication": {
                "score_date": score_date,
                "published": published,
                "reason": reason,
                "crm_shows": shown,
            }
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_held_back_for_each_rule_it_breaks() {
        let policy = PublishPolicy {
            max_drift: Severity::Medium,
            max_soft_violations: Some(2),
        };
        assert_eq!(held_back(&policy, Severity::Medium, &[], 2), None);
        let reason = held_back(&policy, Severity::High, &["payment_method".into()], 3).unwrap();
        assert_eq!(
            reason,
            "drift is high (payment_method), above the policy's max_drift medium; validate found \
             3 warnings, above the policy's max_soft_violations 2"
        );
        let never = PublishPolicy {
            max_drift: Severity::High,
            max_soft_violations: None,
        };
        assert_eq!(held_back(&never, Severity::High, &[], 100), None);
    }
}
