//! Where a model's files live in the object store, and reading and writing them.
//!
//! A run's candidates are staged under `models/<model>/candidates/<logical_date>/`: the validation
//! rows they share, `families.json` (which families were fitted), the evaluation and the gate
//! decision there, and each family's model, drift reference and training summary under
//! `<family>/`. Registering copies what serving needs of the chosen family to
//! `models/<model>/v<N>/` and adds the model card. Stages
//! hand work to each other through these files, never through memory.

use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{ChurnModel, Family};
use crate::storage::{DataStore, StorageError};

/// The column of a staged validation frame holding the label as a boolean.
pub const LABEL_COLUMN: &str = "__label";
/// The column of a drift reference holding the model's score of each row.
pub const SCORE_COLUMN: &str = "__score";

pub const MODEL_FILE: &str = "model.json";
pub const CARD_FILE: &str = "card.json";
pub const REFERENCE_FILE: &str = "reference.parquet";
pub const VALIDATION_FILE: &str = "validation.parquet";
pub const TRAINING_FILE: &str = "training.json";
pub const EVALUATION_FILE: &str = "evaluation.json";
pub const GATE_FILE: &str = "gate.json";
pub const FAMILIES_FILE: &str = "families.json";

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("`{key}` in the object store is not the expected JSON: {reason}")]
    Json { key: String, reason: String },
    #[error("`{key}`: {reason}")]
    Frame { key: String, reason: String },
}

/// The staging prefix of the candidate trained for `logical_date`.
pub fn candidate_prefix(model: &str, logical_date: NaiveDate) -> String {
    format!("models/{model}/candidates/{logical_date}")
}

/// Where one family's candidate of a run is staged.
pub fn family_prefix(candidate_prefix: &str, family: Family) -> String {
    format!("{candidate_prefix}/{family}")
}

pub fn key(prefix: &str, file: &str) -> String {
    format!("{prefix}/{file}")
}

pub async fn put_json<T: Serialize>(
    store: &DataStore,
    key: &str,
    value: &T,
) -> Result<(), ArtifactError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|err| ArtifactError::Json {
        key: key.to_string(),
        reason: err.to_string(),
    })?;
    Ok(store.put_bytes(key, bytes).await?)
}

pub async fn get_json<T: DeserializeOwned>(
    store: &DataStore,
    key: &str,
) -> Result<T, ArtifactError> {
    let bytes = store.get_bytes(key).await?;
    serde_json::from_slice(&bytes).map_err(|err| ArtifactError::Json {
        key: key.to_string(),
        reason: err.to_string(),
    })
}

/// The model under `prefix`; artifacts written before model families are logistic regressions.
pub async fn load_model(store: &DataStore, prefix: &str) -> Result<ChurnModel, ArtifactError> {
    let key = key(prefix, MODEL_FILE);
    let bytes = store.get_bytes(&key).await?;
    ChurnModel::from_json(&bytes).map_err(|err| ArtifactError::Json {
        key,
        reason: err.to_string(),
    })
}

/// Copies one object (within the store) from one prefix to another.
pub async fn copy(
    store: &DataStore,
    from_prefix: &str,
    to_prefix: &str,
    file: &str,
) -> Result<(), ArtifactError> {
    let bytes = store.get_bytes(&key(from_prefix, file)).await?;
    Ok(store
        .put_bytes(&key(to_prefix, file), bytes.to_vec())
        .await?)
}

/// `features` with the labels added as [`LABEL_COLUMN`].
pub fn with_labels(features: &DataFrame, labels: &[bool]) -> PolarsResult<DataFrame> {
    let mut frame = features.clone();
    frame.with_column(Column::new(LABEL_COLUMN.into(), labels))?;
    Ok(frame)
}

/// Splits a staged validation frame back into features and labels.
pub fn split_labels(frame: DataFrame, key: &str) -> Result<(DataFrame, Vec<bool>), ArtifactError> {
    let fail = |reason: String| ArtifactError::Frame {
        key: key.to_string(),
        reason,
    };
    let labels: Vec<bool> = frame
        .column(LABEL_COLUMN)
        .and_then(|c| c.bool().cloned())
        .map_err(|err| fail(err.to_string()))?
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect();
    let features = frame
        .drop(LABEL_COLUMN)
        .map_err(|err| fail(err.to_string()))?;
    Ok((features, labels))
}
