//! The object store on a local directory: Parquet round trips, listing, and the demo history layout.

use chrono::NaiveDate;
use tasks::demo_data::{HistorySpec, write_history};
use tasks::storage::{DataStore, Table, partition_key};

fn spec() -> HistorySpec {
    HistorySpec {
        customers: 500,
        newest: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
        history_days: 210,
        cadence_days: 30,
        horizon_days: 90,
        seed: 42,
        drift_newest: true,
    }
}

#[tokio::test]
async fn demo_history_lands_in_the_contract_layout() {
    let dir = tempfile::tempdir().unwrap();
    let store = DataStore::open(dir.path().to_str().unwrap()).unwrap();
    let written = write_history(&store, spec()).await.unwrap();
    // 2026-04-28 + 30-day steps up to 2026-10-25, then the newest: 7 + 1 snapshots.
    assert_eq!(written.snapshots, 8);
    let features = store.snapshot_dates(Table::Features).await.unwrap();
    let labels = store.snapshot_dates(Table::Labels).await.unwrap();
    assert_eq!(features.len(), 8);
    assert_eq!(*features.last().unwrap(), spec().newest);
    // Labels exist only where 90 days have passed by the newest date.
    assert!(
        labels
            .iter()
            .all(|date| *date + chrono::Duration::days(90) <= spec().newest)
    );
    assert_eq!(labels.len(), written.labelled);
    assert_eq!(
        labels.len(),
        5,
        "2026-04-28 to 2026-08-26: 2026-08-26 + 90 days is the newest date"
    );
    let newest = store
        .get_parquet(&partition_key(Table::Features, spec().newest))
        .await
        .unwrap();
    assert_eq!(newest.height(), 500);
    assert!(
        dir.path()
            .join("features/snapshot_date=2026-11-24/part-0.parquet")
            .exists()
    );
}

#[tokio::test]
async fn a_missing_or_corrupt_object_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = DataStore::open(dir.path().to_str().unwrap()).unwrap();
    let missing = store
        .get_parquet("features/snapshot_date=2026-01-01/part-0.parquet")
        .await
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("reading `features/snapshot_date=2026-01-01/part-0.parquet`"),
        "{missing}"
    );
    store
        .put_bytes(
            "features/snapshot_date=2026-01-02/part-0.parquet",
            b"not parquet".to_vec(),
        )
        .await
        .unwrap();
    let corrupt = store
        .get_parquet("features/snapshot_date=2026-01-02/part-0.parquet")
        .await
        .unwrap_err();
    assert!(
        corrupt
            .to_string()
            .contains("decoding Parquet `features/snapshot_date=2026-01-02/part-0.parquet`"),
        "{corrupt}"
    );
}
