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

    /// Publishes `score_date` by policy: only when no later date is published, checked and
    /// written in one transaction (on PostgreSQL under a lock on the table), so two runs deciding
    /// at once cannot move the CRM back in time. The publication the CRM sees after it.
    pub async fn publish_unless_later(
        &self,
        score_date: &str,
        note: &str,
    ) -> Result<(bool, Option<String>), WarehouseError> {
        let what = format!("publishing the risk scores of {score_date}");
        if self.risk_score_count(score_date).await? == 0 {
            return Err(WarehouseError::Data(format!(
                "cannot publish {score_date}: the risk table holds no scores for it"
            )));
        }
        let mut tx = self.pool().begin().await.map_err(self.query_error(&what))?;
        if self.backend() == super::Backend::Postgres {
            sqlx::query("LOCK TABLE risk_publications IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .map_err(self.query_error(&what))?;
        }
        // SQLite: the conditional insert is the first statement, so the write lock is taken at
        // once and the check and the write see the same table.
        let inserted = sqlx::query(
            "INSERT INTO risk_publications (score_date, published_at, published_by, note) \
             SELECT $1, $2, 'policy', $3 WHERE NOT EXISTS ( \
                 SELECT 1 FROM (SELECT score_date FROM risk_publications ORDER BY seq DESC \
                 LIMIT 1) newest WHERE newest.score_date > $1)",
        )
        .bind(score_date)
        .bind(now_ms())
        .bind(note)
        .execute(&mut *tx)
        .await
        .map_err(self.query_error(&what))?
        .rows_affected();
        let shown: Option<String> = sqlx::query_scalar(
            "SELECT score_date FROM risk_publications ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(self.query_error(&what))?;
        tx.commit().await.map_err(self.query_error(&what))?;
        Ok((inserted == 1, shown))
    }

    /// Before the published date's rows are replaced (a rerun of that day), the CRM goes back
    /// to the date published before it, so the new rows are not seen until the publish stage
    /// (or a person) publishes them again. Nothing happens when `score_date` is not the one the
    /// CRM sees, or when nothing was published before it.
    pub async fn withdraw(&self, score_date: &str) -> Result<Option<String>, WarehouseError> {
        let Some(current) = self.current_publication().await? else {
            return Ok(None);
        };
        if current.score_date != score_date {
            return Ok(None);
        }
        let what = format!("withdrawing the publication of {score_date}");
        let before: Option<String> = sqlx::query_scalar(
            "SELECT score_date FROM risk_publications WHERE score_date <> $1 \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(score_date)
        .fetch_optional(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        let Some(before) = before else {
            return Ok(None);
        };
        sqlx::query(
            "INSERT INTO risk_publications (score_date, published_at, published_by, note) \
             VALUES ($1, $2, 'withdrawal', $3)",
        )
        .bind(&before)
        .bind(now_ms())
        .bind(format!("{score_date} withdrawn while it is scored again"))
        .execute(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        Ok(Some(before))
    }

    /// The date the CRM was shown before `score_date` was scored: the newest publication of an
    /// earlier date, if any (a rerun of a published day compares with the day before it).
    pub async fn previous_publication(
        &self,
        score_date: &str,
    ) -> Result<Option<String>, WarehouseError> {
        sqlx::query_scalar(
            "SELECT score_date FROM risk_publications WHERE score_date < $1 \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(score_date)
        .fetch_optional(self.pool())
        .await
        .map_err(self.query_error(format!("reading the publication before {score_date}")))
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
