//! The nightly agreement between the champion and its shadow (`shadow_agreement`): one row per
//! score date and model, replaced by a rerun. The shadow's own rows are in `risk_scores` with role
//! `shadow`.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Warehouse, WarehouseError, now_ms};
use crate::agreement::Agreement;

/// One night's comparison of the champion and the shadow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowRecord {
    pub score_date: String,
    pub model: String,
    pub champion_version: i64,
    pub shadow_version: i64,
    pub agreement: Agreement,
}

#[derive(Serialize, Deserialize)]
struct TierMatrix {
    tiers: Vec<String>,
    matrix: Vec<Vec<u64>>,
}

impl Warehouse {
    pub async fn save_shadow_agreement(&self, record: &ShadowRecord) -> Result<(), WarehouseError> {
        let what = format!(
            "saving the shadow agreement of {} on {}",
            record.model, record.score_date
        );
        let a = &record.agreement;
        let matrix = serde_json::to_string(&TierMatrix {
            tiers: a.tiers.clone(),
            matrix: a.matrix.clone(),
        })
        .map_err(|e| WarehouseError::Data(format!("{what}: {e}")))?;
        let mut tx = self.pool().begin().await.map_err(self.query_error(&what))?;
        sqlx::query("DELETE FROM shadow_agreement WHERE score_date = $1 AND model = $2")
            .bind(&record.score_date)
            .bind(&record.model)
            .execute(&mut *tx)
            .await
            .map_err(self.query_error(&what))?;
        sqlx::query(
            "INSERT INTO shadow_agreement (score_date, model, champion_version, shadow_version, \
             rows_compared, spearman, top_decile_overlap, tier_agreement, tier_matrix, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&record.score_date)
        .bind(&record.model)
        .bind(record.champion_version)
        .bind(record.shadow_version)
        .bind(a.rows as i64)
        .bind(a.spearman)
        .bind(a.top_decile_overlap)
        .bind(a.tier_agreement)
        .bind(matrix)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(self.query_error(&what))?;
        tx.commit().await.map_err(self.query_error(&what))
    }

    /// The agreement stored for `model` on `score_date`, if a shadow scored that night.
    pub async fn shadow_agreement(
        &self,
        score_date: &str,
        model: &str,
    ) -> Result<Option<ShadowRecord>, WarehouseError> {
        let what = format!("reading the shadow agreement of {model} on {score_date}");
        let row = sqlx::query(
            "SELECT champion_version, shadow_version, rows_compared, spearman, \
             top_decile_overlap, tier_agreement, tier_matrix FROM shadow_agreement \
             WHERE score_date = $1 AND model = $2",
        )
        .bind(score_date)
        .bind(model)
        .fetch_optional(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let get = |e: sqlx::Error| self.query_error(what.as_str())(e);
        let matrix: TierMatrix =
            serde_json::from_str(&row.try_get::<String, _>("tier_matrix").map_err(get)?)
                .map_err(|e| WarehouseError::Data(format!("{what}: {e}")))?;
        Ok(Some(ShadowRecord {
            score_date: score_date.to_string(),
            model: model.to_string(),
            champion_version: row.try_get("champion_version").map_err(get)?,
            shadow_version: row.try_get("shadow_version").map_err(get)?,
            agreement: Agreement {
                rows: row.try_get::<i64, _>("rows_compared").map_err(get)? as usize,
                spearman: row.try_get("spearman").map_err(get)?,
                top_decile_overlap: row.try_get("top_decile_overlap").map_err(get)?,
                tier_agreement: row.try_get("tier_agreement").map_err(get)?,
                tiers: matrix.tiers,
                matrix: matrix.matrix,
            },
        }))
    }
}
