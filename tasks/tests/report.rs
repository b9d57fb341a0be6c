//! The rendered report, as people read it: a snapshot of the HTML for a fixed run, and the proof
//! that customer-supplied text cannot inject markup.

use tasks::drift::{FeatureDrift, Severity};
use tasks::glance::{ActionValue, Glance};
use tasks::report::{
    ActionLine, ArmLine, CanaryLine, ChartImage, DEFAULT_TEMPLATE, GateSummary, MetricLine,
    OutcomeLine, PublicationSummary, ReportData, SliceLine, TaskLine, TierLine, ValidationSummary,
    render,
};
use tasks::warehouse::{DriftRow, ModelRequest, RequestKind, RiskRow};

fn report(customer: &str, action: &str) -> ReportData {
    ReportData {
        dag: "nightly_churn".into(),
        logical_date: "2026-11-25".into(),
        run_id: 7,
        generated_at: "2026-11-25 02:31 UTC".into(),
        tasks: vec![TaskLine {
            task: "score".into(),
            state: "success".into(),
            attempts: 1,
            seconds: Some(1.25),
        }],
        validation: Some(ValidationSummary {
            rows: 3,
            passed: true,
            violations: vec![serde_json::json!({
                "column": "favorite_category", "rule": "allowed_values", "severity": "soft",
                "observed": "1 unseen (<b>gaming</b>)", "limit": "0", "example_keys": [customer],
            })],
        }),
        model: "churn_logreg".into(),
        candidate_version: Some(2),
        champion_version: Some(1),
        candidate_families: vec![
            "logistic regression".into(),
            "gradient-boosted trees".into(),
        ],
        metrics: vec![MetricLine {
            metric: "ROC AUC".into(),
            meaning: "how well churners rank above the others".into(),
            candidates: vec![Some(0.85), Some(0.853)],
            champion: Some(0.86),
        }],
        gate: Some(GateSummary {
            passed: false,
            family: "logistic regression".into(),
            reasons: vec!["FAIL: ROC AUC 0.8500 against champion v1's 0.8600".into()],
        }),
        scored: 3,
        tiers: vec![TierLine {
            tier: "high".into(),
            customers: 3,
            share: 1.0,
            action: action.into(),
            previous: Some(2),
        }],
        previous_date: Some("2026-11-24".into()),
        actions: vec![ActionLine {
            tier: "high".into(),
            cut_off: 0.3312,
            break_even: 0.3313,
            capacity: Some(1000),
            capacity_bound: true,
            share: 0.125,
            profit_per_customer: 12.5,
            emp_per_customer: 13.25,
        }],
        slices: vec![SliceLine {
            column: "country".into(),
            threshold: 0.3312,
            groups: 10,
            demographic_parity_difference: 0.04,
            equalized_odds_difference: 0.11,
            failure_slices: vec!["BR (ROC AUC 0.544)".into()],
            lowest_roc_auc: Some(0.544),
            highest_roc_auc: Some(0.871),
        }],
        shadow: Some(tasks::warehouse::ShadowRecord {
            score_date: "2026-11-25".into(),
            model: "churn_logreg".into(),
            champion_version: 1,
            shadow_version: 2,
            agreement: tasks::agreement::Agreement {
                rows: 3,
                spearman: 0.5,
                top_decile_overlap: 1.0,
                tier_agreement: 2.0 / 3.0,
                tiers: vec!["high".into(), "low".into()],
                matrix: vec![vec![2, 1], vec![0, 0]],
            },
        }),
        outcomes: Some(OutcomeLine {
            score_date: "2026-08-27".into(),
            model_version: 1,
            rows: 3,
            metrics: vec![
                ("ROC AUC".into(), 0.861, Some(0.874)),
                ("high tier: share that churned".into(), 0.71, None),
            ],
            below_policy: Some("the scores of 2026-08-27 (v1) reached a ROC AUC of 0.8610 once the labels landed, below the policy's 0.9000".into()),
            canary: Some(ArmLine {
                model_version: 2,
                rows: 306,
                roc_auc: Some(0.876),
            }),
        }),
        canary: Some(CanaryLine {
            version: 2,
            customers: 306,
            share: 0.102,
        }),
        requests_open: vec![ModelRequest {
            seq: 2,
            model: "churn_logreg".into(),
            request: RequestKind::Retrain,
            reason: "high drift on 2026-12-04 against v1's training reference in the features: `failed_payment_count`".into(),
            requested_by: "drift".into(),
            requested_on: "2026-12-04".into(),
            met_on: None,
            met_note: None,
        }],
        requests_met: Vec::new(),
        top: vec![
            RiskRow {
                customer_id: "C000000001".into(),
                churn_probability: 0.99996,
                risk_tier: "high".into(),
                recommended_action: action.into(),
                model_version: 1,
                reasons: vec![
                    "days since last order high (87)".into(),
                    "failed payments high (3)".into(),
                ],
                previous_tier: Some("medium".into()),
                role: "champion".into(),
                crm_keys: None,
            },
            RiskRow {
                customer_id: customer.into(),
                churn_probability: 0.93,
                risk_tier: "high".into(),
                recommended_action: action.into(),
                model_version: 1,
                reasons: vec![format!("payment method: {customer}")],
                previous_tier: None,
                role: "champion".into(),
                crm_keys: None,
            },
        ],
        drift: vec![DriftRow {
            model: "churn_logreg".into(),
            model_version: 1,
            kind: "feature".into(),
            drift: FeatureDrift {
                feature: "payment_method".into(),
                test: "chi2".into(),
                statistic: 120.5,
                p_value: 1e-20,
                p_value_adjusted: 2.1e-19,
                psi: 0.31,
                effect_measure: "jensen_shannon".into(),
                effect_size: 0.22,
                severity: Severity::High,
                unseen_share: 0.06,
                reference_rows: 1000,
                current_rows: 1000,
                histogram: None,
            },
        }],
        max_drift: Severity::High,
        risk_export: Some("exports/risk_scores/score_date=2026-11-25/risk_scores.csv".into()),
        publication: Some(PublicationSummary {
            score_date: "2026-11-25".into(),
            published: false,
            reason: "drift is high (payment_method), above the policy's \
                     max_drift medium; to publish it anyway: churnflow publish nightly_churn \
                     --date 2026-11-25"
                .into(),
            crm_shows: "2026-11-24".into(),
        }),
        charts: ["tier_history", "reliability", "cumulative_gains", "performance_trend",
            "drift_effects", "score_distribution"]
            .into_iter()
            .map(|id| {
                let image = ChartImage {
                    alt: format!("{id} for <{customer}>"),
                    width: 640,
                    height: 320,
                    src: format!("cid:{id}"),
                };
                (id.to_string(), image)
            })
            .collect(),
        glance: Some(Glance {
            act: false,
            verdict: "Today's scores were held back from the CRM: check before acting on them."
                .into(),
            findings: vec![
                format!("Some inputs changed a lot since the model was trained ({customer})."),
                "Today's data passed its checks with 1 warning (see Data checks).".into(),
            ],
            compared: true,
            moved_up: 1_204,
            moved_down: 310,
            new_customers: 12,
            actions: vec![ActionValue {
                tier: "high".into(),
                customers: 1_629,
                acted_on: 1_000,
                expected_churners: 812.4,
                expected_profit: 31_415.9,
            }],
            expected_value: Some(31_415.9),
        }),
    }
}

#[test]
fn customer_text_is_escaped() {
    let html = render(
        "nightly_report.html",
        DEFAULT_TEMPLATE,
        &report("<script>alert('x')</script>", "call & \"offer\""),
    )
    .unwrap();
    assert!(
        !html.contains("<script>"),
        "markup from a customer key got through"
    );
    assert!(html.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt;"));
    assert!(html.contains("call &amp; &quot;offer&quot;"));
    assert!(!html.contains("<b>gaming</b>"));
}

#[test]
fn report_as_rendered() {
    let html = render(
        "nightly_report.html",
        DEFAULT_TEMPLATE,
        &report("C000000042", "call within 48 hours"),
    )
    .unwrap();
    insta::assert_snapshot!(html);
}

#[test]
fn a_broken_template_names_itself() {
    let err = render("mine.html", "{% for x in %}", &report("C1", "none")).unwrap_err();
    assert!(
        err.to_string().starts_with("report template `mine.html`:"),
        "{err}"
    );
}

#[test]
fn the_headline_gives_the_top_tier_and_its_change() {
    let mut data = report("C000000042", "call within 48 hours");
    data.tiers[0].customers = 1_629;
    data.tiers[0].previous = Some(1_195);
    assert_eq!(
        data.headline(),
        "Churn risk 2026-11-25: 1,629 high risk (+434)"
    );
    data.tiers[0].previous = None;
    assert_eq!(data.headline(), "Churn risk 2026-11-25: 1,629 high risk");
    data.tiers.clear();
    assert_eq!(
        data.headline(),
        "Churn risk 2026-11-25: no customers scored"
    );
}

#[test]
fn the_text_part_says_what_changed_and_what_to_do() {
    insta::assert_snapshot!(report("C000000042", "call within 48 hours").plain_text());
}

/// The glance's verdict follows what would make a retention manager wait: a day held back from
/// the CRM or high drift; warnings and a rejected candidate are said, not held against the day.
#[test]
fn the_glance_says_whether_to_act_and_why() {
    let mut data = report("C000000042", "call within 48 hours");
    data.glance = None;
    let held = tasks::glance::glance(&data, Default::default());
    assert!(!held.act);
    assert_eq!(
        held.verdict,
        "Today's scores were held back from the CRM: check before acting on them."
    );
    let said = held.findings.join("\n");
    assert!(said.contains("it keeps the scores of 2026-11-24"), "{said}");
    assert!(
        said.contains("changed a lot since the model was trained (payment_method)"),
        "{said}"
    );
    assert!(said.contains("passed its checks with 1 warning"), "{said}");
    assert!(
        said.contains("did not pass the promotion checks; v1, the proven model"),
        "{said}"
    );
    assert!(said.contains("did worse than the policy"), "{said}");
    assert!(
        said.contains("306 customers (10.2%) got the scores of v2"),
        "{said}"
    );

    data.publication.as_mut().unwrap().published = true;
    data.max_drift = Severity::Medium;
    data.drift[0].drift.severity = Severity::Medium;
    let act = tasks::glance::glance(&data, Default::default());
    assert!(act.act, "{act:?}");
    assert_eq!(act.verdict, "Today's scores can be acted on.");
    assert!(
        act.findings
            .iter()
            .any(|f| f.contains("not enough to hold the scores back"))
    );
    assert_eq!(act.expected_value, None, "no action states its economics");

    data.scored = 0;
    let none = tasks::glance::glance(&data, Default::default());
    assert!(!none.act);
    assert_eq!(none.verdict, "No customers were scored for 2026-11-25.");
}
