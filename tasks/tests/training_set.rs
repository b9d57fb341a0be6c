//! The leakage-safe training set, built from demo history in a local object store.

use chrono::NaiveDate;
use tasks::contract::Contract;
use tasks::demo_data::{HistorySpec, write_history};
use tasks::storage::DataStore;
use tasks::training_set::{TrainingSetSpec, Validation, build};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

async fn store_with_history(history_days: u32) -> (tempfile::TempDir, DataStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = DataStore::open(dir.path().to_str().unwrap()).unwrap();
    write_history(
        &store,
        HistorySpec {
            customers: 1_000,
            newest: day(2026, 11, 24),
            history_days,
            cadence_days: 30,
            horizon_days: 90,
            seed: 5,
            drift_newest: false,
            drift_from: None,
        },
    )
    .await
    .unwrap();
    (dir, store)
}

fn spec() -> TrainingSetSpec {
    TrainingSetSpec {
        logical_date: day(2026, 11, 24),
        window_days: 365,
        holdout_fraction: 0.2,
        max_train_rows: None,
        seed: 1,
    }
}

fn churn_rate(labels: &[bool]) -> f64 {
    labels.iter().filter(|l| **l).count() as f64 / labels.len() as f64
}

#[tokio::test]
async fn uses_only_snapshots_whose_labels_were_known_and_validates_out_of_time() {
    let (_dir, store) = store_with_history(300).await;
    let set = build(&store, &Contract::demo(), &spec()).await.unwrap();
    // Snapshots every 30 days from 2026-01-28; labels known by 2026-11-24 up to 2026-08-26.
    assert_eq!(
        set.validation_kind,
        Validation::OutOfTime {
            snapshot: day(2026, 8, 26)
        }
    );
    assert_eq!(
        set.train_snapshots,
        [
            day(2026, 1, 28),
            day(2026, 2, 27),
            day(2026, 3, 29),
            day(2026, 4, 28),
            day(2026, 5, 28),
            day(2026, 6, 27),
            day(2026, 7, 27)
        ]
    );
    assert!(
        set.train_snapshots
            .iter()
            .all(|d| *d + chrono::Duration::days(90) <= spec().logical_date)
    );
    assert_eq!(set.train.labels.len(), 7_000);
    assert_eq!(set.validation.labels.len(), 1_000);
    assert_eq!(set.train.features.height(), 7_000);
    let rate = churn_rate(&set.train.labels);
    assert!((0.12..0.3).contains(&rate), "train churn rate {rate}");

    let narrow = TrainingSetSpec {
        window_days: 60,
        ..spec()
    };
    let set = build(&store, &Contract::demo(), &narrow).await.unwrap();
    assert_eq!(set.train_snapshots, [day(2026, 6, 27), day(2026, 7, 27)]);
}

#[tokio::test]
async fn one_labelled_snapshot_gets_a_stratified_holdout() {
    let (_dir, store) = store_with_history(300).await;
    let one = TrainingSetSpec {
        window_days: 0,
        ..spec()
    };
    let set = build(&store, &Contract::demo(), &one).await.unwrap();
    assert_eq!(
        set.validation_kind,
        Validation::StratifiedHoldout {
            snapshot: day(2026, 8, 26),
            fraction: 0.2
        }
    );
    assert_eq!(set.train.labels.len() + set.validation.labels.len(), 1_000);
    assert!((set.validation.labels.len() as i64 - 200).abs() <= 1);
    assert!((churn_rate(&set.train.labels) - churn_rate(&set.validation.labels)).abs() < 0.01);
}

#[tokio::test]
async fn caps_training_rows_with_a_stratified_sample() {
    let (_dir, store) = store_with_history(300).await;
    let full = build(&store, &Contract::demo(), &spec()).await.unwrap();
    let capped = build(
        &store,
        &Contract::demo(),
        &TrainingSetSpec {
            max_train_rows: Some(2_000),
            ..spec()
        },
    )
    .await
    .unwrap();
    assert!((capped.train.labels.len() as i64 - 2_000).abs() <= 1);
    assert!((churn_rate(&capped.train.labels) - churn_rate(&full.train.labels)).abs() < 0.002);
    assert_eq!(
        capped.validation.labels.len(),
        1_000,
        "validation is never capped"
    );
}

#[tokio::test]
async fn says_what_is_missing_when_nothing_is_labelled() {
    let (_dir, store) = store_with_history(60).await;
    let err = build(&store, &Contract::demo(), &spec())
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "no labelled snapshot between 2025-08-26 and 2026-08-26 (labels are known 90 days after a snapshot); \
         generate or ingest older snapshots, or widen the training window"
    );
}

/// Labels stored in another order than the features, and missing for some customers: every
/// training and validation row still carries its own customer's label, and unlabelled customers
/// are left out.
#[tokio::test]
async fn each_row_keeps_its_own_label_whatever_order_the_labels_are_stored_in() {
    use std::collections::HashMap;
    use tasks::demo_data::{SnapshotSpec, generate};
    use tasks::polars::prelude::*;
    use tasks::storage::{Table, partition_key};

    let dir = tempfile::tempdir().unwrap();
    let store = DataStore::open(dir.path().to_str().unwrap()).unwrap();
    let date = day(2026, 8, 26);
    let mut snapshot = generate(&SnapshotSpec {
        customers: 1_000,
        snapshot_date: date,
        seed: 3,
        drift: false,
    })
    .unwrap();
    // Reversed, and every tenth customer's label missing.
    let kept: Vec<IdxSize> = (0..1_000u32).rev().filter(|i| i % 10 != 0).collect();
    let mut labels = snapshot
        .labels
        .take(&IdxCa::from_vec("idx".into(), kept))
        .unwrap();
    let truth: HashMap<String, bool> = labels
        .column("customer_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .zip(labels.column("churned").unwrap().bool().unwrap().iter())
        .map(|(key, churned)| (key.unwrap().to_string(), churned.unwrap()))
        .collect();
    store
        .put_parquet(
            &partition_key(Table::Features, date),
            &mut snapshot.features,
        )
        .await
        .unwrap();
    store
        .put_parquet(&partition_key(Table::Labels, date), &mut labels)
        .await
        .unwrap();
    let one = TrainingSetSpec {
        window_days: 0,
        ..spec()
    };
    let set = build(&store, &Contract::demo(), &one).await.unwrap();
    assert_eq!(set.train.labels.len() + set.validation.labels.len(), 900);
    for part in [&set.train, &set.validation] {
        let keys = part.features.column("customer_id").unwrap().str().unwrap();
        assert_eq!(keys.len(), part.labels.len());
        for (key, label) in keys.iter().zip(&part.labels) {
            assert_eq!(truth[key.unwrap()], *label, "customer {key:?}");
        }
    }
}
