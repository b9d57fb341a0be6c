//! Publications of the risk table: which score date the CRM's `risk_scores_latest` shows. A day's
//! rows are loaded by the score stage and published separately, by the publish stage when the
//! day meets the DAG's publish policy, or by a person; the view follows the newest publication.

use serde::Serialize;
use sqlx::Row;

use super::{Warehouse, WarehouseError, now_ms};

/// One publication: a score date made the one the CRM sees.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Publication {
    pub score_date: String,
    pub published_at: i64,
    /// `policy`, `manual` or `migration`.
    pub published_by: String,
    pub note: String,
}

impl Warehouse {
    /// Makes `score_date` the date the CRM sees. Refused when the risk table holds no rows for it.
    pub async fn publish(
        &self,
        score_date: &str,
        published_by: &str,
        note: &str,
    ) -> Result<Publication, WarehouseError> {
        let what = format!("publishing the risk scores of {score_date}");
        let rows = self.risk_score_count(score_date).await?;
        if rows == 0 {
            return Err(WarehouseError::Data(format!(
                "cannot publish {score_date}: the risk table holds no scores for it"
            )));
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO risk_publications (score_date, published_at, published_by, note) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(score_date)
        .bind(now)
        .bind(published_by)
        .bind(note)
        .execute(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        Ok(Publication {
            score_date: score_date.to_string(),
            published_at: now,
            published_by: published_by.to_string(),
            note: note.to_string(),
        })
    }

    /// The newest publication: the score date the CRM sees, if any is published.
    pub async fn current_publication(&self) -> Result<Option<Publication>, WarehouseError> {
        let what = "reading the current publication";
        let row = sqlx::query(
            "SELECT score_date, published_at, published_by, note FROM risk_publications \
             ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await
        .map_err(self.query_error(what))?;
        row.map(|row| {
            Ok(Publication {
                score_date: row.try_get("score_date")?,
                published_at: row.try_get("published_at")?,
                published_by: row.try_get("published_by")?,
                note: row.try_get("note")?,
            })
        })
        .transpose()
        .map_err(self.query_error(what))
    }
}
