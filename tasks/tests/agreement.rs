//! Spearman's rank correlation against SciPy (`fixtures/make_agreement.py`).

use tasks::agreement::spearman;

#[derive(serde::Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    champion: Vec<f64>,
    shadow: Vec<f64>,
    spearman: f64,
}

#[test]
fn spearman_matches_scipy_with_and_without_ties() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/agreement.json");
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for case in &fixture.cases {
        let rho = spearman(&case.champion, &case.shadow);
        assert!(
            (rho - case.spearman).abs() < 1e-12,
            "{rho} vs SciPy {} ({} rows)",
            case.spearman,
            case.champion.len()
        );
    }
}
