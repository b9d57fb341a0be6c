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
        drift_from: None,
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

/// A staged write is invisible until finished, and an abandoned one leaves the object that was at
/// its key before (yesterday's export stays when today's load fails).
#[tokio::test]
async fn a_staged_write_shows_only_once_finished() {
    let dir = tempfile::tempdir().unwrap();
    let store = DataStore::open(dir.path().to_str().unwrap()).unwrap();
    let key = "exports/risk_scores/score_date=2026-11-24/risk_scores.csv";
    store.put_bytes(key, b"yesterday\n".to_vec()).await.unwrap();

    let mut staged = store.stage(key).await.unwrap();
    staged
        .write(bytes::Bytes::from_static(b"to"))
        .await
        .unwrap();
    staged
        .write(bytes::Bytes::from_static(b"day\n"))
        .await
        .unwrap();
    assert_eq!(&store.get_bytes(key).await.unwrap()[..], b"yesterday\n");
    staged.abort().await.unwrap();
    assert_eq!(&store.get_bytes(key).await.unwrap()[..], b"yesterday\n");
    assert_eq!(
        store.list("exports").await.unwrap(),
        vec![key.to_string()],
        "nothing of the abandoned write is left beside it"
    );

    let mut staged = store.stage(key).await.unwrap();
    // Pieces larger than an upload part are split into parts and joined back in order.
    let big: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
    staged.write(bytes::Bytes::from(big.clone())).await.unwrap();
    staged
        .write(bytes::Bytes::from_static(b"end"))
        .await
        .unwrap();
    staged.finish().await.unwrap();
    let written = store.get_bytes(key).await.unwrap();
    assert_eq!(written.len(), big.len() + 3);
    assert_eq!(&written[..big.len()], &big[..]);
    assert_eq!(&written[big.len()..], b"end");
}
