//! `model_performance`: per score date, model, role and metric, the value estimated the night the
//! scores were made and the value realised once the labels landed.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::{Warehouse, WarehouseError, now_ms};
use crate::identity::Role;

/// Which column a save fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measured {
    Estimated,
    Realised,
}

/// Whose scores: a score date's rows of one model in one role, scored by one version.
#[derive(Debug, Clone, Copy)]
pub struct ScoredBy<'a> {
    pub score_date: &'a str,
    pub model: &'a str,
    pub role: Role,
    pub model_version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerformanceRow {
    pub score_date: String,
    pub role: String,
    pub model_version: i64,
    pub metric: String,
    pub estimated: Option<f64>,
    pub realised: Option<f64>,
}

impl PerformanceRow {
    /// A row of `SELECT score_date, role, model_version, metric, estimated, realised`.
    fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            score_date: r.try_get("score_date")?,
            role: r.try_get("role")?,
            model_version: r.try_get("model_version")?,
            metric: r.try_get("metric")?,
            estimated: r.try_get("estimated")?,
            realised: r.try_get("realised")?,
        })
    }
}

/// One score date's realised ROC AUC of a canary's arm and of the champion's arm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanaryEvidence {
    pub score_date: String,
    pub canary_roc_auc: f64,
    pub champion_roc_auc: f64,
    pub champion_version: i64,
}

impl Warehouse {
    /// Stores `metrics` as estimated or realised values of `scored`, keeping the other column.
    pub async fn save_performance(
        &self,
        scored: &ScoredBy<'_>,
        measured: Measured,
        metrics: &BTreeMap<String, f64>,
    ) -> Result<(), WarehouseError> {
        let what = format!(
            "saving the {} performance of {} on {}",
            if measured == Measured::Estimated {
                "estimated"
            } else {
                "realised"
            },
            scored.model,
            scored.score_date
        );
        let (value, at, other, other_at) = match measured {
            Measured::Estimated => ("estimated", "estimated_at", "realised", "realised_at"),
            Measured::Realised => ("realised", "realised_at", "estimated", "estimated_at"),
        };
        // The other column stays only while the version does: a rerun that scores the date with
        // another version (a canary's, say) must not inherit the old version's figure.
        let keep = |column: &str| {
            format!(
                "{column} = CASE WHEN model_performance.model_version = excluded.model_version \
                 THEN model_performance.{column} ELSE NULL END"
            )
        };
        let statement = format!(
            "INSERT INTO model_performance (score_date, model, role, model_version, metric, \
             {value}, {at}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (score_date, model, role, metric) DO UPDATE SET \
             {value} = excluded.{value}, {at} = excluded.{at}, {}, {}, \
             model_version = excluded.model_version",
            keep(other),
            keep(other_at)
        );
        let mut tx = self.pool().begin().await.map_err(self.query_error(&what))?;
        let now = now_ms();
        for (metric, number) in metrics.iter().filter(|(_, v)| v.is_finite()) {
            sqlx::query(&statement)
                .bind(scored.score_date)
                .bind(scored.model)
                .bind(scored.role.as_str())
                .bind(scored.model_version)
                .bind(metric)
                .bind(*number)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(self.query_error(&what))?;
        }
        tx.commit().await.map_err(self.query_error(&what))
    }

    /// Removes what is stored of `role`'s performance for `model` on `score_date` (a canary's,
    /// when a rerun of the date has none).
    pub async fn delete_performance(
        &self,
        score_date: &str,
        model: &str,
        role: Role,
    ) -> Result<(), WarehouseError> {
        let what = format!("removing the {role} performance of {model} on {score_date}");
        sqlx::query(
            "DELETE FROM model_performance WHERE score_date = $1 AND model = $2 AND role = $3",
        )
        .bind(score_date)
        .bind(model)
        .bind(role.as_str())
        .execute(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        Ok(())
    }

    /// The performance rows of `model` scored on `score_date`, by role and metric.
    pub async fn performance(
        &self,
        score_date: &str,
        model: &str,
    ) -> Result<Vec<PerformanceRow>, WarehouseError> {
        let what = format!("reading the performance of {model} on {score_date}");
        let rows = sqlx::query(
            "SELECT score_date, role, model_version, metric, estimated, realised \
             FROM model_performance WHERE score_date = $1 AND model = $2 ORDER BY role, metric",
        )
        .bind(score_date)
        .bind(model)
        .fetch_all(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        rows.iter()
            .map(PerformanceRow::from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error(&what))
    }

    /// `metric` of `model`'s arm `role` on the last `dates` score dates whose labels landed,
    /// oldest first, with the night's estimate beside each: the report's trend.
    pub async fn realised_history(
        &self,
        model: &str,
        role: Role,
        metric: &str,
        dates: i64,
    ) -> Result<Vec<PerformanceRow>, WarehouseError> {
        let what = format!("reading the realised {metric} of {model} over time");
        let rows = sqlx::query(
            "SELECT score_date, role, model_version, metric, estimated, realised \
             FROM model_performance \
             WHERE model = $1 AND role = $2 AND metric = $3 AND realised IS NOT NULL \
             ORDER BY score_date DESC LIMIT $4",
        )
        .bind(model)
        .bind(role.as_str())
        .bind(metric)
        .bind(dates)
        .fetch_all(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        let mut history = rows
            .iter()
            .map(PerformanceRow::from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(self.query_error(&what))?;
        history.reverse();
        Ok(history)
    }

    /// The realised ROC AUC of `model`'s canary `version` on each score date whose labels landed,
    /// beside the champion's arm's on the same date: the evidence a canary's promotion needs.
    pub async fn canary_evidence(
        &self,
        model: &str,
        version: i64,
    ) -> Result<Vec<CanaryEvidence>, WarehouseError> {
        let what = format!("reading the realised performance of {model}'s canary v{version}");
        let rows = sqlx::query(
            "SELECT c.score_date, c.realised AS canary, k.realised AS champion, \
             k.model_version AS champion_version \
             FROM model_performance c JOIN model_performance k \
               ON k.score_date = c.score_date AND k.model = c.model AND k.metric = c.metric \
              AND k.role = 'champion' \
             WHERE c.model = $1 AND c.role = 'canary' AND c.model_version = $2 \
               AND c.metric = 'roc_auc' AND c.realised IS NOT NULL AND k.realised IS NOT NULL \
             ORDER BY c.score_date",
        )
        .bind(model)
        .bind(version)
        .fetch_all(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        rows.iter()
            .map(|r| {
                Ok(CanaryEvidence {
                    score_date: r.try_get("score_date")?,
                    canary_roc_auc: r.try_get("canary")?,
                    champion_roc_auc: r.try_get("champion")?,
                    champion_version: r.try_get("champion_version")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error(&what))
    }
}
