//! Canary decisions and the canary's rows: which version is served to the canary's customers,
//! taking it out of the CRM view in one transaction (`rolled_back`), and recording a promotion
//! made on its realised performance (`promoted`).

use serde::Serialize;
use sqlx::Row;

use super::{Warehouse, WarehouseError, now_ms};

/// A decision people made about a canary version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryDecision {
    /// Its rows left the CRM view; it is not served again.
    RolledBack,
    /// It became champion on its realised performance.
    Promoted,
}

impl CanaryDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            CanaryDecision::RolledBack => "rolled_back",
            CanaryDecision::Promoted => "promoted",
        }
    }
}

/// What a rollback did: the versions taken out of the CRM view and the score dates whose canary
/// rows went (the published date and any later one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CanaryRollback {
    pub model: String,
    pub versions: Vec<i64>,
    pub score_dates: Vec<String>,
    pub rows: u64,
}

impl Warehouse {
    /// The version the canary served most recently for `model`, and that score date.
    pub async fn canary_version(
        &self,
        model: &str,
    ) -> Result<Option<(i64, String)>, WarehouseError> {
        let what = format!("finding the canary of {model}");
        let row = sqlx::query(
            "SELECT model_version, score_date FROM risk_scores \
             WHERE model = $1 AND role = 'canary' \
             ORDER BY score_date DESC, model_version DESC LIMIT 1",
        )
        .bind(model)
        .fetch_optional(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        row.map(|r| Ok((r.try_get("model_version")?, r.try_get("score_date")?)))
            .transpose()
            .map_err(self.query_error(&what))
    }

    /// The canary version the CRM was served on `score_date` and for how many customers.
    pub async fn canary_served(
        &self,
        score_date: &str,
        model: &str,
    ) -> Result<Option<(i64, i64)>, WarehouseError> {
        let what = format!("counting the canary's rows of {model} on {score_date}");
        let row = sqlx::query(
            "SELECT model_version, COUNT(*) AS n FROM risk_scores \
             WHERE score_date = $1 AND model = $2 AND role = 'canary' \
             GROUP BY model_version ORDER BY n DESC LIMIT 1",
        )
        .bind(score_date)
        .bind(model)
        .fetch_optional(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        row.map(|r| Ok((r.try_get("model_version")?, r.try_get("n")?)))
            .transpose()
            .map_err(self.query_error(&what))
    }

    /// Whether `version` of `model` was rolled back as a canary (then it is not served again).
    pub async fn canary_rolled_back(
        &self,
        model: &str,
        version: i64,
    ) -> Result<bool, WarehouseError> {
        self.canary_decided(model, version, CanaryDecision::RolledBack)
            .await
    }

    /// Whether `decision` was made about `version` of `model` as a canary.
    pub async fn canary_decided(
        &self,
        model: &str,
        version: i64,
        decision: CanaryDecision,
    ) -> Result<bool, WarehouseError> {
        let what = format!("reading the canary decisions of {model} v{version}");
        let row = sqlx::query(
            "SELECT COUNT(*) FROM canary_decisions \
             WHERE model = $1 AND model_version = $2 AND decision = $3",
        )
        .bind(model)
        .bind(version)
        .bind(decision.as_str())
        .fetch_one(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        Ok(row.try_get::<i64, _>(0).map_err(self.query_error(&what))? > 0)
    }

    /// Records `decision` about `version` of `model` with a note saying why.
    pub async fn record_canary_decision(
        &self,
        model: &str,
        version: i64,
        decision: CanaryDecision,
        note: &str,
    ) -> Result<(), WarehouseError> {
        let what = format!("recording the canary decision about {model} v{version}");
        sqlx::query(
            "INSERT INTO canary_decisions (model, model_version, decision, decided_at, note) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(model)
        .bind(version)
        .bind(decision.as_str())
        .bind(now_ms())
        .bind(note)
        .execute(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        Ok(())
    }

    /// Takes `model`'s canary out of the CRM view in one transaction: its rows of the published
    /// score date and of every later one are deleted (the champion's rows of those customers,
    /// kept all along, are served again) and each version taken out is recorded as rolled back,
    /// so the score stage does not serve it again. Readers of `risk_scores_latest` see the view
    /// before or after, never a mix. Earlier dates' canary rows stay: they are what the CRM was
    /// shown then, and what the canary's realised performance is measured on.
    pub async fn rollback_canary(
        &self,
        model: &str,
        note: &str,
    ) -> Result<CanaryRollback, WarehouseError> {
        let what = format!("rolling back the canary of {model}");
        let mut tx = self.pool().begin().await.map_err(self.query_error(&what))?;
        let published: Option<String> =
            sqlx::query("SELECT score_date FROM risk_publications ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(self.query_error(&what))?
                .map(|r| r.try_get::<String, _>(0))
                .transpose()
                .map_err(self.query_error(&what))?;
        let from = published.unwrap_or_default();
        let found = sqlx::query(
            "SELECT DISTINCT score_date, model_version FROM risk_scores \
             WHERE model = $1 AND role = 'canary' AND score_date >= $2 \
             ORDER BY score_date, model_version",
        )
        .bind(model)
        .bind(&from)
        .fetch_all(&mut *tx)
        .await
        .map_err(self.query_error(&what))?;
        let mut versions = Vec::new();
        let mut score_dates = Vec::new();
        for row in &found {
            let date: String = row.try_get("score_date").map_err(self.query_error(&what))?;
            let version: i64 = row
                .try_get("model_version")
                .map_err(self.query_error(&what))?;
            if !score_dates.contains(&date) {
                score_dates.push(date);
            }
            if !versions.contains(&version) {
                versions.push(version);
            }
        }
        if versions.is_empty() {
            return Err(WarehouseError::Data(format!(
                "model `{model}` has no canary rows on the published date ({}) or later: no \
                 canary is served, nothing to roll back",
                if from.is_empty() { "none" } else { &from }
            )));
        }
        let deleted = sqlx::query(
            "DELETE FROM risk_scores WHERE model = $1 AND role = 'canary' AND score_date >= $2",
        )
        .bind(model)
        .bind(&from)
        .execute(&mut *tx)
        .await
        .map_err(self.query_error(&what))?;
        // The estimates stored for those rows go with them.
        sqlx::query(
            "DELETE FROM model_performance WHERE model = $1 AND role = 'canary' \
             AND score_date >= $2",
        )
        .bind(model)
        .bind(&from)
        .execute(&mut *tx)
        .await
        .map_err(self.query_error(&what))?;
        let now = now_ms();
        for version in &versions {
            sqlx::query(
                "INSERT INTO canary_decisions (model, model_version, decision, decided_at, note) \
                 VALUES ($1, $2, 'rolled_back', $3, $4)",
            )
            .bind(model)
            .bind(*version)
            .bind(now)
            .bind(note)
            .execute(&mut *tx)
            .await
            .map_err(self.query_error(&what))?;
        }
        tx.commit().await.map_err(self.query_error(&what))?;
        Ok(CanaryRollback {
            model: model.to_string(),
            versions,
            score_dates,
            rows: deleted.rows_affected(),
        })
    }
}
