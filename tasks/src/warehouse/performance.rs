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
        let (value, at) = match measured {
            Measured::Estimated => ("estimated", "estimated_at"),
            Measured::Realised => ("realised", "realised_at"),
        };
        let statement = format!(
            "INSERT INTO model_performance (score_date, model, role, model_version, metric, \
             {value}, {at}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (score_date, model, role, metric) DO UPDATE SET \
             {value} = excluded.{value}, {at} = excluded.{at}, \
             model_version = excluded.model_version"
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
            .map(|r| {
                Ok(PerformanceRow {
                    score_date: r.try_get("score_date")?,
                    role: r.try_get("role")?,
                    model_version: r.try_get("model_version")?,
                    metric: r.try_get("metric")?,
                    estimated: r.try_get("estimated")?,
                    realised: r.try_get("realised")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error(&what))
    }
}
