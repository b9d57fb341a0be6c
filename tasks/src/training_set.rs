//! The leakage-safe training set of a logical date T: features of labelled snapshots whose horizon
//! has passed by T (snapshot date <= T - horizon) inside a window, joined with their labels on key
//! and snapshot date. Nothing observed after a snapshot's date reaches its features, and no label
//! that was unknown on T is used.
//!
//! Validation is out of time: the newest labelled snapshot, when there are at least two. A table
//! with a single labelled snapshot uses a stratified random holdout of it instead. A cap on
//! training rows takes a stratified sample.

use chrono::NaiveDate;
use polars::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::contract::Contract;
use crate::storage::{DataStore, StorageError, Table, partition_key};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainingSetSpec {
    pub logical_date: NaiveDate,
    /// How far back from T - horizon labelled snapshots are used.
    pub window_days: u32,
    /// The share of rows held out when only one labelled snapshot exists.
    pub holdout_fraction: f64,
    /// At most this many training rows (stratified sample); None for all.
    pub max_train_rows: Option<usize>,
    pub seed: u64,
}

/// Rows with their labels.
pub struct Labelled {
    pub features: DataFrame,
    pub labels: Vec<bool>,
}

/// How validation was done, for the model card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Validation {
    OutOfTime { snapshot: NaiveDate },
    StratifiedHoldout { snapshot: NaiveDate, fraction: f64 },
}

pub struct TrainingSet {
    pub train: Labelled,
    pub validation: Labelled,
    pub train_snapshots: Vec<NaiveDate>,
    pub validation_kind: Validation,
    /// SHA-256 over the bytes of every feature and label partition read, in date order: two
    /// training sets with equal fingerprints came from identical files.
    pub fingerprint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainingSetError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(
        "no labelled snapshot between {from} and {to} (labels are known {horizon} days after a \
         snapshot); generate or ingest older snapshots, or widen the training window"
    )]
    NoLabelledSnapshot {
        from: NaiveDate,
        to: NaiveDate,
        horizon: u32,
    },
    #[error("snapshot {snapshot}: joining features and labels failed: {reason}")]
    Join { snapshot: NaiveDate, reason: String },
    #[error("snapshot {snapshot}: label column `{column}`: {reason}")]
    Label {
        snapshot: NaiveDate,
        column: String,
        reason: String,
    },
}

/// The positive/negative labels of a joined frame, by the contract's positive value.
fn label_values(
    contract: &Contract,
    frame: &DataFrame,
    snapshot: NaiveDate,
) -> Result<Vec<bool>, TrainingSetError> {
    let fail = |reason: String| TrainingSetError::Label {
        snapshot,
        column: contract.label.clone(),
        reason,
    };
    let column = frame
        .column(&contract.label)
        .map_err(|err| fail(err.to_string()))?
        .cast(&DataType::String)
        .map_err(|err| fail(err.to_string()))?;
    let values = column.str().map_err(|err| fail(err.to_string()))?;
    values
        .iter()
        .map(|v| match v {
            Some(v) => Ok(v.eq_ignore_ascii_case(&contract.label_positive)),
            None => Err(fail(
                "holds nulls; every labelled row needs a label".to_string(),
            )),
        })
        .collect()
}

/// Joins one snapshot's features with its labels (CPU work: call it off the async threads).
fn join_labelled(
    contract: &Contract,
    snapshot: NaiveDate,
    features: DataFrame,
    labels: DataFrame,
) -> Result<Labelled, TrainingSetError> {
    let keys = [col(&contract.key), col(&contract.snapshot_column)];
    let labels = labels.lazy().select([
        col(&contract.key),
        col(&contract.snapshot_column),
        col(&contract.label),
    ]);
    let joined = features
        .lazy()
        .join(labels, keys.clone(), keys, JoinArgs::new(JoinType::Inner))
        .collect()
        .map_err(|err| TrainingSetError::Join {
            snapshot,
            reason: err.to_string(),
        })?;
    let labels = label_values(contract, &joined, snapshot)?;
    Ok(Labelled {
        features: joined,
        labels,
    })
}

/// Row indices split by class, each shuffled by `rng`.
fn shuffled_by_class(labels: &[bool], rng: &mut StdRng) -> (Vec<usize>, Vec<usize>) {
    let (mut positives, mut negatives): (Vec<usize>, Vec<usize>) =
        (0..labels.len()).partition(|&i| labels[i]);
    positives.shuffle(rng);
    negatives.shuffle(rng);
    (positives, negatives)
}

fn take_rows(set: &Labelled, rows: &[usize]) -> Result<Labelled, PolarsError> {
    let idx = IdxCa::from_vec("idx".into(), rows.iter().map(|&i| i as IdxSize).collect());
    Ok(Labelled {
        features: set.features.take(&idx)?,
        labels: rows.iter().map(|&i| set.labels[i]).collect(),
    })
}

/// A stratified sample of `share` of the rows, and the rest.
fn stratified_split(
    set: &Labelled,
    share: f64,
    rng: &mut StdRng,
) -> Result<(Labelled, Labelled), PolarsError> {
    let (positives, negatives) = shuffled_by_class(&set.labels, rng);
    let cut = |v: &Vec<usize>| ((v.len() as f64 * share).round() as usize).min(v.len());
    let (p, n) = (cut(&positives), cut(&negatives));
    let mut picked: Vec<usize> = positives[..p]
        .iter()
        .chain(&negatives[..n])
        .copied()
        .collect();
    let mut rest: Vec<usize> = positives[p..]
        .iter()
        .chain(&negatives[n..])
        .copied()
        .collect();
    picked.sort_unstable();
    rest.sort_unstable();
    Ok((take_rows(set, &picked)?, take_rows(set, &rest)?))
}

fn stack(parts: Vec<Labelled>) -> Result<Labelled, PolarsError> {
    let mut parts = parts.into_iter();
    let Some(mut all) = parts.next() else {
        return Ok(Labelled {
            features: DataFrame::empty(),
            labels: Vec::new(),
        });
    };
    for part in parts {
        all.features.vstack_mut(&part.features)?;
        all.labels.extend(part.labels);
    }
    Ok(all)
}

/// Builds the training set of `spec.logical_date` from the store.
pub async fn build(
    store: &DataStore,
    contract: &Contract,
    spec: &TrainingSetSpec,
) -> Result<TrainingSet, TrainingSetError> {
    let horizon = contract.label_horizon_days;
    let newest_allowed = spec.logical_date - chrono::Duration::days(i64::from(horizon));
    let oldest_allowed = newest_allowed - chrono::Duration::days(i64::from(spec.window_days));
    let features = store.snapshot_dates(Table::Features).await?;
    let labelled: Vec<NaiveDate> = store
        .snapshot_dates(Table::Labels)
        .await?
        .into_iter()
        .filter(|d| *d <= newest_allowed && *d >= oldest_allowed && features.contains(d))
        .collect();
    let Some(&newest) = labelled.last() else {
        return Err(TrainingSetError::NoLabelledSnapshot {
            from: oldest_allowed,
            to: newest_allowed,
            horizon,
        });
    };
    let mut raw = Vec::with_capacity(labelled.len());
    let mut fingerprint = sha2::Sha256::new();
    for date in &labelled {
        let (features, features_digest) = store
            .get_parquet_hashed(&partition_key(Table::Features, *date))
            .await?;
        let (labels, labels_digest) = store
            .get_parquet_hashed(&partition_key(Table::Labels, *date))
            .await?;
        fingerprint.update(features_digest);
        fingerprint.update(labels_digest);
        raw.push((*date, features, labels));
    }
    let fingerprint: String = fingerprint
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (contract, spec) = (contract.clone(), *spec);
    tokio::task::spawn_blocking(move || assemble(&contract, &spec, raw, fingerprint))
        .await
        .map_err(|err| TrainingSetError::Join {
            snapshot: newest,
            reason: format!("the assembling task crashed: {err}"),
        })?
}

/// Joins, splits and caps the loaded snapshots (oldest first); CPU work.
fn assemble(
    contract: &Contract,
    spec: &TrainingSetSpec,
    raw: Vec<(NaiveDate, DataFrame, DataFrame)>,
    fingerprint: String,
) -> Result<TrainingSet, TrainingSetError> {
    let dates: Vec<NaiveDate> = raw.iter().map(|(date, _, _)| *date).collect();
    let newest = *dates.last().expect("build() passes at least one snapshot");
    let mut joined = raw
        .into_iter()
        .map(|(date, features, labels)| join_labelled(contract, date, features, labels))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let polars = |err: PolarsError| TrainingSetError::Join {
        snapshot: newest,
        reason: err.to_string(),
    };
    let (train, validation, train_snapshots, validation_kind) = if joined.len() >= 2 {
        let validation = joined.pop().expect("at least two snapshots");
        let train = stack(joined).map_err(polars)?;
        (
            train,
            validation,
            dates[..dates.len() - 1].to_vec(),
            Validation::OutOfTime { snapshot: newest },
        )
    } else {
        let only = joined.pop().expect("one snapshot");
        let (validation, train) =
            stratified_split(&only, spec.holdout_fraction, &mut rng).map_err(polars)?;
        (
            train,
            validation,
            vec![newest],
            Validation::StratifiedHoldout {
                snapshot: newest,
                fraction: spec.holdout_fraction,
            },
        )
    };
    let train = match spec.max_train_rows {
        Some(cap) if cap < train.labels.len() => {
            let share = cap as f64 / train.labels.len() as f64;
            stratified_split(&train, share, &mut rng).map_err(polars)?.0
        }
        _ => train,
    };
    Ok(TrainingSet {
        train,
        validation,
        train_snapshots,
        validation_kind,
        fingerprint,
    })
}
