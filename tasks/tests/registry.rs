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
