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
use crate::storage::{DataStore, ParquetObject, StorageError, Table, partition_key};

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
pub fn label_values(
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

/// The name of the row-number column the label join carries (dropped before anything sees it).
const ROW_COLUMN: &str = "__churnflow_feature_row";

/// One snapshot's feature file and which of its rows have a label (in file order). Only the key
/// columns have been decoded: the whole frame is decoded when its rows are gathered, one
/// snapshot at a time, and the key join never runs beside a decoded snapshot.
struct LabelledRows {
    snapshot: NaiveDate,
    features: ParquetObject,
    rows: Vec<IdxSize>,
    labels: Vec<bool>,
}

/// Matches one snapshot's feature rows with its labels on key and snapshot date, decoding only
/// the key columns of the feature file (CPU work: call it off the async threads).
fn match_labels(
    contract: &Contract,
    snapshot: NaiveDate,
    features: ParquetObject,
    labels: &ParquetObject,
) -> Result<LabelledRows, TrainingSetError> {
    let fail = |err: PolarsError| TrainingSetError::Join {
        snapshot,
        reason: err.to_string(),
    };
    let key_columns = [contract.key.clone(), contract.snapshot_column.clone()];
    let feature_keys = features.decode(Some(&key_columns))?;
    let labels = labels.decode(Some(&[
        contract.key.clone(),
        contract.snapshot_column.clone(),
        contract.label.clone(),
    ]))?;
    let keys = [col(&contract.key), col(&contract.snapshot_column)];
    let matched = feature_keys
        .lazy()
        .with_row_index(ROW_COLUMN, None)
        .join(
            labels.lazy(),
            keys.clone(),
            keys,
            JoinArgs::new(JoinType::Inner),
        )
        .select([col(ROW_COLUMN), col(&contract.label)])
        .sort([ROW_COLUMN], SortMultipleOptions::default())
        .collect()
        .map_err(fail)?;
    let rows = matched
        .column(ROW_COLUMN)
        .and_then(|rows| rows.idx().cloned())
        .map_err(fail)?
        .into_no_null_iter()
        .collect();
    let labels = label_values(contract, &matched, snapshot)?;
    Ok(LabelledRows {
        snapshot,
        features,
        rows,
        labels,
    })
}

/// Gathers `rows` of every column of `frame` into one frame per selection, dropping each column
/// of `frame` once it is gathered: the parts fill as the source empties, so a training set and
/// its validation rows never sit in memory beside a full copy of the snapshot.
fn take_column_wise(
    frame: DataFrame,
    selections: &[&[IdxSize]],
) -> Result<Vec<DataFrame>, PolarsError> {
    let indices: Vec<IdxCa> = selections
        .iter()
        .map(|rows| IdxCa::from_vec("idx".into(), rows.to_vec()))
        .collect();
    let mut parts: Vec<Vec<Column>> = vec![Vec::with_capacity(frame.width()); selections.len()];
    for column in frame.into_columns() {
        for (part, idx) in parts.iter_mut().zip(&indices) {
            part.push(column.take(idx)?);
        }
    }
    parts
        .into_iter()
        .zip(selections)
        .map(|(columns, rows)| DataFrame::new(rows.len(), columns))
        .collect()
}

/// The rows `rows` of `frame`, gathered a column at a time (see [`take_column_wise`]).
fn take_rows(frame: DataFrame, rows: &[IdxSize]) -> Result<DataFrame, PolarsError> {
    Ok(take_column_wise(frame, &[rows])?.pop().unwrap_or_default())
}

/// Positions into `labels`, split by class, each shuffled by `rng`.
fn shuffled_by_class(labels: &[bool], rng: &mut StdRng) -> (Vec<usize>, Vec<usize>) {
    let (mut positives, mut negatives): (Vec<usize>, Vec<usize>) =
        (0..labels.len()).partition(|&i| labels[i]);
    positives.shuffle(rng);
    negatives.shuffle(rng);
    (positives, negatives)
}

/// Positions of a stratified sample of `share` of the labels, and of the rest, each ascending.
fn stratified_positions(labels: &[bool], share: f64, rng: &mut StdRng) -> (Vec<usize>, Vec<usize>) {
    let (positives, negatives) = shuffled_by_class(labels, rng);
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
    (picked, rest)
}

impl LabelledRows {
    /// The whole feature file, decoded (a failure names its key).
    fn decode(&self) -> Result<DataFrame, TrainingSetError> {
        Ok(self.features.decode(None)?)
    }

    fn gather_failed(&self, err: PolarsError) -> TrainingSetError {
        TrainingSetError::Join {
            snapshot: self.snapshot,
            reason: err.to_string(),
        }
    }

    /// The labelled rows, gathered.
    fn gather(self) -> Result<Labelled, TrainingSetError> {
        let frame = self.decode()?;
        Ok(Labelled {
            features: take_rows(frame, &self.rows).map_err(|err| self.gather_failed(err))?,
            labels: self.labels,
        })
    }

    /// A stratified sample of `share` of the labelled rows, and the rest, gathered.
    fn split(self, share: f64, rng: &mut StdRng) -> Result<(Labelled, Labelled), TrainingSetError> {
        let (picked, rest) = stratified_positions(&self.labels, share, rng);
        let rows_of = |positions: &[usize]| -> Vec<IdxSize> {
            positions.iter().map(|&i| self.rows[i]).collect()
        };
        let labels_of = |positions: &[usize]| -> Vec<bool> {
            positions.iter().map(|&i| self.labels[i]).collect()
        };
        let (picked_rows, rest_rows) = (rows_of(&picked), rows_of(&rest));
        let frame = self.decode()?;
        let mut parts = take_column_wise(frame, &[&picked_rows, &rest_rows])
            .map_err(|err| self.gather_failed(err))?
            .into_iter();
        let mut next = |positions: &[usize]| Labelled {
            features: parts.next().unwrap_or_default(),
            labels: labels_of(positions),
        };
        Ok((next(&picked), next(&rest)))
    }
}

/// A stratified sample of `share` of the rows (the training-row cap).
fn stratified_sample(set: Labelled, share: f64, rng: &mut StdRng) -> Result<Labelled, PolarsError> {
    let (picked, _) = stratified_positions(&set.labels, share, rng);
    let rows: Vec<IdxSize> = picked.iter().map(|&i| i as IdxSize).collect();
    Ok(Labelled {
        labels: picked.iter().map(|&i| set.labels[i]).collect(),
        features: take_rows(set.features, &rows)?,
    })
}

/// Splits `set` into a stratified `share` of its rows and the rest (the calibration rows and the
/// rows the model is fitted on), gathering each a column at a time.
pub fn stratified_split(
    set: Labelled,
    share: f64,
    seed: u64,
) -> Result<(Labelled, Labelled), PolarsError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (picked, rest) = stratified_positions(&set.labels, share, &mut rng);
    let as_rows =
        |positions: &[usize]| -> Vec<IdxSize> { positions.iter().map(|&i| i as IdxSize).collect() };
    let mut parts =
        take_column_wise(set.features, &[&as_rows(&picked), &as_rows(&rest)])?.into_iter();
    let mut next = |positions: &[usize]| Labelled {
        features: parts.next().unwrap_or_default(),
        labels: positions.iter().map(|&i| set.labels[i]).collect(),
    };
    Ok((next(&picked), next(&rest)))
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
    for date in &labelled {
        let features = store
            .get_parquet_object(&partition_key(Table::Features, *date))
            .await?;
        let labels = store
            .get_parquet_object(&partition_key(Table::Labels, *date))
            .await?;
        raw.push((*date, features, labels));
    }
    let (contract, spec) = (contract.clone(), *spec);
    tokio::task::spawn_blocking(move || assemble(&contract, &spec, raw))
        .await
        .map_err(|err| TrainingSetError::Join {
            snapshot: newest,
            reason: format!("the assembling task crashed: {err}"),
        })?
}

/// Fingerprints, joins, splits and caps the fetched snapshots (oldest first); CPU work.
fn assemble(
    contract: &Contract,
    spec: &TrainingSetSpec,
    raw: Vec<(NaiveDate, ParquetObject, ParquetObject)>,
) -> Result<TrainingSet, TrainingSetError> {
    let dates: Vec<NaiveDate> = raw.iter().map(|(date, _, _)| *date).collect();
    let newest = *dates.last().expect("build() passes at least one snapshot");
    let mut fingerprint = sha2::Sha256::new();
    let mut matched = Vec::with_capacity(raw.len());
    for (date, features, labels) in raw {
        fingerprint.update(features.sha256());
        fingerprint.update(labels.sha256());
        matched.push(match_labels(contract, date, features, &labels)?);
    }
    let fingerprint: String = fingerprint
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let polars = |err: PolarsError| TrainingSetError::Join {
        snapshot: newest,
        reason: err.to_string(),
    };
    let (train, validation, train_snapshots, validation_kind) = if matched.len() >= 2 {
        let validation = matched.pop().expect("at least two snapshots").gather()?;
        let train = stack(
            matched
                .into_iter()
                .map(LabelledRows::gather)
                .collect::<Result<Vec<_>, _>>()?,
        )
        .map_err(polars)?;
        (
            train,
            validation,
            dates[..dates.len() - 1].to_vec(),
            Validation::OutOfTime { snapshot: newest },
        )
    } else {
        let only = matched.pop().expect("one snapshot");
        let (validation, train) = only.split(spec.holdout_fraction, &mut rng)?;
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
            stratified_sample(train, share, &mut rng).map_err(polars)?
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
