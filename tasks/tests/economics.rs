//! The profit arithmetic on a hand-computed fixture, and the maximum profit and expected maximum
//! profit against empulse (`fixtures/make_economics.py`).

use tasks::economics::{RetentionAction, expected_maximum_profit, plan_actions};

fn economics(value: f64, offer: f64, contact: f64, save_rate: f64) -> RetentionAction {
    RetentionAction {
        tier: "high".into(),
        contact_cost: contact,
        offer_cost: offer,
        customer_value: value,
        save_rate,
        save_rate_weight: None,
        capacity: None,
    }
}

/// Seven customers, ranked: a call earns 0.3 * (200 - 10) - 1 = 56 on a churner and costs
/// 10 + 1 = 11 on a customer who stays; an email earns 0.1 * (200 - 2) - 0.1 = 19.7 on a churner
/// and costs 2.1 on a customer who stays. The cumulative profits are in the comments.
#[test]
fn the_best_cut_off_by_hand() {
    let probabilities = [0.9, 0.8, 0.7, 0.7, 0.6, 0.3, 0.2];
    let labels = [true, false, true, false, true, false, false];
    let call = economics(200.0, 10.0, 1.0, 0.3);
    let mut email = economics(200.0, 2.0, 0.1, 0.1);
    email.tier = "medium".into();
    assert_eq!(call.profit_of_contact(true), 56.0);
    assert_eq!(call.profit_of_contact(false), -11.0);
    assert!((email.profit_of_contact(true) - 19.7).abs() < 1e-12);
    assert!((email.profit_of_contact(false) + 2.1).abs() < 1e-12);

    // Calls alone: cumulative 56, 45, (tie) 90, 146, 135, 124: the best is the top five, 146,
    // down to 0.6. The tie at 0.7 is never split.
    let plans = plan_actions(&probabilities, &labels, std::slice::from_ref(&call)).unwrap();
    let high = &plans[0];
    assert_eq!((high.customers, high.min_probability), (5, 0.6));
    assert!((high.profit - 146.0).abs() < 1e-9);
    assert!((high.profit_per_customer - 146.0 / 7.0).abs() < 1e-12);
    assert!(!high.capacity_bound);
    let customers: Vec<usize> = high.curve.iter().map(|p| p.customers).collect();
    assert_eq!(
        customers,
        vec![1, 2, 4, 5, 6, 7],
        "cut points, ties together"
    );
    assert!((high.curve.last().unwrap().profit - 124.0).abs() < 1e-9);

    // At most three calls a day: two customers (the tie at 0.7 would make four), 45 < 56, so one.
    let mut capped = call.clone();
    capped.capacity = Some(3);
    let plans = plan_actions(&probabilities, &labels, &[capped]).unwrap();
    assert_eq!((plans[0].customers, plans[0].min_probability), (1, 0.9));
    assert!((plans[0].profit - 56.0).abs() < 1e-9);
    assert!(plans[0].capacity_bound);

    // Calls, then emails for the rest: after the top five, an email to 0.3 (stays) costs 2.1 and
    // to 0.2 (stays) 2.1 more: no email pays, the medium tier is empty, its cut-off just above 0.3.
    let plans = plan_actions(&probabilities, &labels, &[call.clone(), email.clone()]).unwrap();
    assert_eq!(plans[1].customers, 0);
    assert!(plans[1].min_probability > 0.3 && plans[1].min_probability < 0.6);
    assert_eq!(plans[1].profit, 0.0);

    // With the last customer a churner, the email pays on both: -2.1 + 19.7 = 17.6.
    let labels = [true, false, true, false, true, false, true];
    let plans = plan_actions(&probabilities, &labels, &[call, email]).unwrap();
    // Calls: 56, 45, 90, 146, 135, 191: all seven pay more than emailing the last two.
    assert_eq!((plans[0].customers, plans[0].min_probability), (7, 0.2));
    assert!((plans[0].profit - 191.0).abs() < 1e-9);
    assert_eq!(plans[1].customers, 0);
}

#[test]
fn bad_inputs_are_refused() {
    let call = economics(200.0, 10.0, 1.0, 0.3);
    let actions = [call];
    assert!(plan_actions(&[0.5, f64::NAN], &[true, false], &actions).is_err());
    assert!(plan_actions(&[0.5, 1.5], &[true, false], &actions).is_err());
    assert!(plan_actions(&[0.5], &[true, false], &actions).is_err());
    assert!(plan_actions(&[0.5, 0.2], &[true, true], &actions).is_err());
}

#[derive(serde::Deserialize)]
struct Fixture {
    labels: Vec<u8>,
    scores: Vec<f64>,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    economics: Reference,
    empc: f64,
    empc_rate: f64,
    save_rate: f64,
    mpc: f64,
    mpc_rate: f64,
}

#[derive(serde::Deserialize)]
struct Reference {
    customer_value: f64,
    offer_cost: f64,
    contact_cost: f64,
    alpha: f64,
    beta: f64,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/economics.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// EMP (Verbraken et al.'s EMPC) and the share acted on at it, against empulse's `empc_score`.
#[test]
fn expected_maximum_profit_matches_empulse() {
    let fixture = fixture();
    let labels: Vec<bool> = fixture.labels.iter().map(|y| *y == 1).collect();
    for case in &fixture.cases {
        let r = &case.economics;
        let mut e = economics(
            r.customer_value,
            r.offer_cost,
            r.contact_cost,
            case.save_rate,
        );
        e.save_rate_weight = Some(r.alpha + r.beta);
        let (emp, share) = expected_maximum_profit(&fixture.scores, &labels, &e).unwrap();
        assert!(
            (emp - case.empc).abs() < 1e-6 * case.empc.abs().max(1.0),
            "EMP {emp} vs empulse {}",
            case.empc
        );
        assert!(
            (share - case.empc_rate).abs() < 1e-6,
            "share {share} vs {}",
            case.empc_rate
        );
    }
}

/// At a fixed save rate, the best cut-off's profit per customer and share are empulse's
/// `mpc_score` and its `optimal_rate`.
#[test]
fn maximum_profit_matches_empulse() {
    let fixture = fixture();
    let labels: Vec<bool> = fixture.labels.iter().map(|y| *y == 1).collect();
    for case in &fixture.cases {
        let r = &case.economics;
        let e = economics(
            r.customer_value,
            r.offer_cost,
            r.contact_cost,
            case.save_rate,
        );
        let plans = plan_actions(&fixture.scores, &labels, &[e]).unwrap();
        let rows = labels.len() as f64;
        assert!(
            (plans[0].profit_per_customer - case.mpc).abs() < 1e-9,
            "{} vs {}",
            plans[0].profit_per_customer,
            case.mpc
        );
        assert!((plans[0].customers as f64 / rows - case.mpc_rate).abs() < 1e-9);
    }
}
