//! The model registry table: versions of each model and their stage. A version is registered once
//! per run; the first passing one becomes champion, a later passing one replaces the champion
//! (which is archived), and people can promote or roll back by hand. At most one champion per model
//! is enforced by a unique index, and every change of stage is one transaction. Every change of
//! champion is recorded in `champion_history` (rollback puts back the one before the current,
//! whatever its number), and a champion promoted with a pin stays until it is unpinned.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Warehouse, WarehouseError, now_ms};
use crate::identity::Role;

/// A registered version's stage: candidate, champion or archived (see [`Role`]).
pub type Stage = Role;

fn parse_stage(text: &str) -> Result<Stage, WarehouseError> {
    Role::parse(text).ok_or_else(|| WarehouseError::Registry(format!("unknown stage `{text}`")))
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelVersion {
    pub model: String,
    pub version: i64,
    pub stage: Stage,
    /// Object-store prefix of the artifact and card (`models/<model>/v<N>/`).
    pub artifact_prefix: String,
    pub card: serde_json::Value,
    pub dag: String,
    pub logical_date: String,
    pub created_at: i64,
    pub stage_changed_at: i64,
}

const COLUMNS: &str = "model, version, stage, artifact_prefix, card, dag, logical_date, \
                       created_at, stage_changed_at";

fn from_row(row: &AnyRow) -> Result<ModelVersion, WarehouseError> {
    let get = |e: sqlx::Error| WarehouseError::Registry(format!("reading a version row: {e}"));
    let card: String = row.try_get("card").map_err(get)?;
    Ok(ModelVersion {
        model: row.try_get("model").map_err(get)?,
        version: row.try_get("version").map_err(get)?,
        stage: parse_stage(&row.try_get::<String, _>("stage").map_err(get)?)?,
        artifact_prefix: row.try_get("artifact_prefix").map_err(get)?,
        card: serde_json::from_str(&card)
            .map_err(|e| WarehouseError::Registry(format!("a model card is not JSON: {e}")))?,
        dag: row.try_get("dag").map_err(get)?,
        logical_date: row.try_get("logical_date").map_err(get)?,
        created_at: row.try_get("created_at").map_err(get)?,
        stage_changed_at: row.try_get("stage_changed_at").map_err(get)?,
    })
}

/// The object-store prefix of a version's files.
pub fn version_prefix(model: &str, version: i64) -> String {
    format!("models/{model}/v{version}")
}

/// Who made a version champion, as the history records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChampionChange {
    /// The nightly gate passed it.
    Gate,
    /// A person promoted it.
    Promote,
    /// A person rolled back to it.
    Rollback,
}

impl ChampionChange {
    fn as_str(self) -> &'static str {
        match self {
            ChampionChange::Gate => "gate",
            ChampionChange::Promote => "promote",
            ChampionChange::Rollback => "rollback",
        }
    }
}

/// Archives the champion of `model`, if it has one, inside `tx`.
async fn archive_champion(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    model: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE model_versions SET stage = 'archived', stage_changed_at = $2 \
         WHERE model = $1 AND stage = 'champion'",
    )
    .bind(model)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Records inside `tx` that `version` became champion of `model`.
async fn record_champion(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    model: &str,
    version: i64,
    change: ChampionChange,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO champion_history (model, version, since, set_by) VALUES ($1, $2, $3, $4)",
    )
    .bind(model)
    .bind(version)
    .bind(now)
    .bind(change.as_str())
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

impl Warehouse {
    /// The row of a version just written by `what`.
    async fn committed_version(
        &self,
        model: &str,
        version: i64,
        what: &str,
    ) -> Result<ModelVersion, WarehouseError> {
        self.model_version(model, version)
            .await?
            .ok_or_else(|| WarehouseError::Registry(format!("{what}: the row vanished")))
    }

    /// Every version of `model`, newest first.
    pub async fn model_versions(&self, model: &str) -> Result<Vec<ModelVersion>, WarehouseError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM model_versions WHERE model = $1 ORDER BY version DESC"
        ))
        .bind(model)
        .fetch_all(self.pool())
        .await
        .map_err(self.query_error(format!("listing versions of model `{model}`")))?;
        rows.iter().map(from_row).collect()
    }

    /// The names of all registered models.
    pub async fn models(&self) -> Result<Vec<String>, WarehouseError> {
        let rows = sqlx::query("SELECT DISTINCT model FROM model_versions ORDER BY model")
            .fetch_all(self.pool())
            .await
            .map_err(self.query_error("listing models"))?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()
            .map_err(self.query_error("listing models"))
    }

    pub async fn model_version(
        &self,
        model: &str,
        version: i64,
    ) -> Result<Option<ModelVersion>, WarehouseError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM model_versions WHERE model = $1 AND version = $2"
        ))
        .bind(model)
        .bind(version)
        .fetch_optional(self.pool())
        .await
        .map_err(self.query_error(format!("reading version {version} of model `{model}`")))?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn champion(&self, model: &str) -> Result<Option<ModelVersion>, WarehouseError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM model_versions WHERE model = $1 AND stage = 'champion'"
        ))
        .bind(model)
        .fetch_optional(self.pool())
        .await
        .map_err(self.query_error(format!("reading the champion of model `{model}`")))?;
        row.as_ref().map(from_row).transpose()
    }

    /// The version a run registered, if it did (a retried register task finds its own work).
    pub async fn version_of_run(
        &self,
        model: &str,
        dag: &str,
        logical_date: &str,
    ) -> Result<Option<ModelVersion>, WarehouseError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM model_versions WHERE model = $1 AND dag = $2 AND logical_date = $3"
        ))
        .bind(model)
        .bind(dag)
        .bind(logical_date)
        .fetch_optional(self.pool())
        .await
        .map_err(self.query_error(format!("reading the version of `{model}` for {logical_date}")))?;
        row.as_ref().map(from_row).transpose()
    }

    /// The number the next version of `model` gets.
    pub async fn next_model_version(&self, model: &str) -> Result<i64, WarehouseError> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model = $1",
        )
        .bind(model)
        .fetch_one(self.pool())
        .await
        .map_err(self.query_error(format!("numbering a version of model `{model}`")))?;
        row.try_get::<i64, _>(0)
            .map_err(self.query_error(format!("numbering a version of model `{model}`")))
    }

    /// Records version `version` (whose files are already under its prefix); as champion when
    /// `champion` is set, archiving the previous champion in the same transaction.
    pub async fn register_model_version(
        &self,
        model: &str,
        version: i64,
        card: &serde_json::Value,
        dag: &str,
        logical_date: &str,
        champion: bool,
    ) -> Result<ModelVersion, WarehouseError> {
        let what = format!("registering version {version} of model `{model}`");
        let now = now_ms();
        let mut tx = self.pool().begin().await.map_err(self.query_error(&what))?;
        if champion {
            archive_champion(&mut tx, model, now)
                .await
                .map_err(self.query_error(&what))?;
        }
        let stage = if champion {
            Stage::Champion
        } else {
            Stage::Candidate
        };
        sqlx::query(&format!(
            "INSERT INTO model_versions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
        ))
        .bind(model)
        .bind(version)
        .bind(stage.as_str())
        .bind(version_prefix(model, version))
        .bind(card.to_string())
        .bind(dag)
        .bind(logical_date)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.query_error(&what))?;
        if champion {
            record_champion(&mut tx, model, version, ChampionChange::Gate, now)
                .await
                .map_err(self.query_error(&what))?;
        }
        tx.commit().await.map_err(self.query_error(&what))?;
        self.committed_version(model, version, &what).await
    }

    /// Makes `version` the champion of `model`, archiving the current one; with `pin`, the
    /// nightly gate will not replace it until it is unpinned.
    pub async fn promote(
        &self,
        model: &str,
        version: i64,
        pin: bool,
    ) -> Result<ModelVersion, WarehouseError> {
        if self.model_version(model, version).await?.is_none() {
            return Err(WarehouseError::Registry(format!(
                "model `{model}` has no version {version}"
            )));
        }
        self.set_champion(model, version, ChampionChange::Promote, pin)
            .await
    }

    /// Puts back the champion before the current one (by the champion history, whatever its
    /// version number) and removes a pin.
    pub async fn rollback(&self, model: &str) -> Result<ModelVersion, WarehouseError> {
        let what = format!("rolling back model `{model}`");
        let Some(current) = self.champion(model).await? else {
            return Err(WarehouseError::Registry(format!(
                "model `{model}` has no champion to roll back"
            )));
        };
        // The history is a stack: rows a rollback went back past are skipped, so a second
        // rollback goes further back instead of undoing the first.
        let previous: Option<i64> = sqlx::query_scalar(
            "SELECT h.version FROM champion_history h \
             JOIN model_versions v ON v.model = h.model AND v.version = h.version \
             WHERE h.model = $1 AND h.version <> $2 AND h.rolled_back = 0 \
             ORDER BY h.seq DESC LIMIT 1",
        )
        .bind(model)
        .bind(current.version)
        .fetch_optional(self.pool())
        .await
        .map_err(self.query_error(&what))?;
        let Some(previous) = previous else {
            return Err(WarehouseError::Registry(format!(
                "model `{model}`: no champion before v{} to roll back to",
                current.version
            )));
        };
        self.set_champion(model, previous, ChampionChange::Rollback, false)
            .await
    }

    /// The version pinned as champion of `model`, if one is.
    pub async fn pinned(&self, model: &str) -> Result<Option<i64>, WarehouseError> {
        sqlx::query_scalar("SELECT version FROM champion_pins WHERE model = $1")
            .bind(model)
            .fetch_optional(self.pool())
            .await
            .map_err(self.query_error(format!("reading the pin of model `{model}`")))
    }

    /// Removes the pin of `model`; false when it had none.
    pub async fn unpin(&self, model: &str) -> Result<bool, WarehouseError> {
        let removed = sqlx::query("DELETE FROM champion_pins WHERE model = $1")
            .bind(model)
            .execute(self.pool())
            .await
            .map_err(self.query_error(format!("unpinning model `{model}`")))?
            .rows_affected();
        Ok(removed > 0)
    }

    /// One transaction: the current champion is archived, `version` becomes champion, the change
    /// is recorded, and the model is pinned to it (`pin`) or unpinned.
    async fn set_champion(
        &self,
        model: &str,
        version: i64,
        change: ChampionChange,
        pin: bool,
    ) -> Result<ModelVersion, WarehouseError> {
        let what = format!("making version {version} of model `{model}` champion");
        let now = now_ms();
        let mut tx = self.pool().begin().await.map_err(self.query_error(&what))?;
        if change == ChampionChange::Rollback {
            sqlx::query(
                "UPDATE champion_history SET rolled_back = 1 WHERE model = $1 AND version IN \
                 (SELECT version FROM model_versions WHERE model = $1 AND stage = 'champion')",
            )
            .bind(model)
            .execute(&mut *tx)
            .await
            .map_err(self.query_error(&what))?;
        }
        archive_champion(&mut tx, model, now)
            .await
            .map_err(self.query_error(&what))?;
        sqlx::query(
            "UPDATE model_versions SET stage = 'champion', stage_changed_at = $3 \
             WHERE model = $1 AND version = $2",
        )
        .bind(model)
        .bind(version)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.query_error(&what))?;
        record_champion(&mut tx, model, version, change, now)
            .await
            .map_err(self.query_error(&what))?;
        sqlx::query("DELETE FROM champion_pins WHERE model = $1")
            .bind(model)
            .execute(&mut *tx)
            .await
            .map_err(self.query_error(&what))?;
        if pin {
            sqlx::query(
                "INSERT INTO champion_pins (model, version, pinned_at) VALUES ($1, $2, $3)",
            )
            .bind(model)
            .bind(version)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(self.query_error(&what))?;
        }
        tx.commit().await.map_err(self.query_error(&what))?;
        self.committed_version(model, version, &what).await
    }
}
