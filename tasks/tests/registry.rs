//! The model registry on SQLite: rollback walks the champion history like a stack, and a pin
//! follows promotions and rollbacks.

use tasks::warehouse::Warehouse;

async fn registry_with_three_champions() -> (tempfile::TempDir, Warehouse) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let warehouse = Warehouse::connect(&url).await.unwrap();
    for version in 1..=3 {
        warehouse
            .register_model_version(
                "m",
                version,
                &serde_json::json!({}),
                "nightly",
                "2026-11-24",
                true,
            )
            .await
            .unwrap();
    }
    (dir, warehouse)
}

#[tokio::test]
async fn rollback_goes_back_one_champion_at_a_time() {
    let (_dir, warehouse) = registry_with_three_champions().await;
    assert_eq!(warehouse.rollback("m").await.unwrap().version, 2);
    assert_eq!(warehouse.rollback("m").await.unwrap().version, 1);
    let err = warehouse.rollback("m").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "model registry: model `m`: no champion before v1 to roll back to"
    );
    // A promotion starts a new top of the stack: rollback returns to where it was.
    warehouse.promote("m", 3, true).await.unwrap();
    assert_eq!(warehouse.pinned("m").await.unwrap(), Some(3));
    assert_eq!(warehouse.rollback("m").await.unwrap().version, 1);
    assert_eq!(warehouse.pinned("m").await.unwrap(), None);
}

/// A day's realised figure stays beside its estimate while the version is the same, and goes when
/// a rerun scores the day with another version (it would be the old version's figure).
#[tokio::test]
async fn a_realised_figure_belongs_to_its_version() {
    use std::collections::BTreeMap;
    use tasks::identity::Role;
    use tasks::warehouse::{Measured, ScoredBy};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let warehouse = Warehouse::connect(&url).await.unwrap();
    let scored = |version| ScoredBy {
        score_date: "2026-08-26",
        model: "m",
        role: Role::Canary,
        model_version: version,
    };
    let auc = |value: f64| BTreeMap::from([("roc_auc".to_string(), value)]);
    let row = |warehouse: &Warehouse| {
        let warehouse = warehouse.clone();
        async move {
            let rows = warehouse.performance("2026-08-26", "m").await.unwrap();
            assert_eq!(rows.len(), 1, "{rows:?}");
            (rows[0].model_version, rows[0].estimated, rows[0].realised)
        }
    };
    warehouse
        .save_performance(&scored(2), Measured::Estimated, &auc(0.85))
        .await
        .unwrap();
    warehouse
        .save_performance(&scored(2), Measured::Realised, &auc(0.87))
        .await
        .unwrap();
    assert_eq!(row(&warehouse).await, (2, Some(0.85), Some(0.87)));
    // The same version estimated again (a rerun): the realised figure stays.
    warehouse
        .save_performance(&scored(2), Measured::Estimated, &auc(0.84))
        .await
        .unwrap();
    assert_eq!(row(&warehouse).await, (2, Some(0.84), Some(0.87)));
    // Another version: the old version's realised figure goes.
    warehouse
        .save_performance(&scored(3), Measured::Estimated, &auc(0.86))
        .await
        .unwrap();
    assert_eq!(row(&warehouse).await, (3, Some(0.86), None));
}
