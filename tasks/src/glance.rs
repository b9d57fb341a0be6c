//! Today at a glance: the few sentences a retention manager reads before anything else, made from
//! figures the report already holds: whether today's scores can be acted on (data checks, drift,
//! the model, the CRM), what changed (customers who moved up a tier) and what today's actions are
//! expected to earn. Pure functions; the report stage gathers the inputs.

use serde::Serialize;

use crate::drift::Severity;
use crate::economics::RetentionAction;
use crate::report::{ReportData, thousands};
use crate::warehouse::TierMove;

/// The top of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Glance {
    /// Whether today's scores can be acted on as they are.
    pub act: bool,
    /// One sentence: act on them, check first, or nothing to act on.
    pub verdict: String,
    /// Why, in plain words: data checks, drift, the model, the CRM, past performance.
    pub findings: Vec<String>,
    /// Whether today's rows carry the tiers of the day published before (false when that day's
    /// tiers could not be read: the moves below are then unknown, not zero).
    pub compared: bool,
    /// Customers in a riskier tier than on the day published before, in a safer one, and
    /// customers without a tier that day.
    pub moved_up: i64,
    pub moved_down: i64,
    pub new_customers: i64,
    /// What each action with stated economics is expected to earn today.
    pub actions: Vec<ActionValue>,
    /// Their sum, when any action states its economics.
    pub expected_value: Option<f64>,
}

/// One action's expected result on today's customers of its tier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionValue {
    pub tier: String,
    pub customers: i64,
    /// The customers acted on: all of the tier, or the riskiest up to the action's capacity.
    pub acted_on: i64,
    /// The sum of their churn probabilities: the churners expected among them without action.
    pub expected_churners: f64,
    /// Expected profit of acting on all of them, against not acting: each customer adds
    /// `p * profit(churner) + (1 - p) * profit(stayer)`.
    pub expected_profit: f64,
}

/// Customers who moved to a riskier tier, to a safer one, and those without a previous tier.
/// `riskiest_first` orders the tiers; a tier it does not name counts as neither riskier nor safer.
pub fn movement(moves: &[TierMove], riskiest_first: &[String]) -> (i64, i64, i64) {
    let rank = |tier: &str| riskiest_first.iter().position(|t| t == tier);
    let (mut up, mut down, mut new) = (0, 0, 0);
    for m in moves {
        match &m.previous_tier {
            None => new += m.customers,
            Some(before) => match (rank(&m.tier), rank(before)) {
                (Some(now), Some(then)) if now < then => up += m.customers,
                (Some(now), Some(then)) if now > then => down += m.customers,
                _ => {}
            },
        }
    }
    (up, down, new)
}

/// The probabilities' sum of the riskiest `capacity` customers of a tier that holds more than its
/// action's capacity (the warehouse adds them up: `Warehouse::top_probability_sum`).
#[derive(Debug, Clone, PartialEq)]
pub struct CappedTier {
    pub tier: String,
    pub capacity: i64,
    pub probability_sum: f64,
}

/// What acting on today's customers of each action's tier is expected to earn: on all of them,
/// or on the riskiest up to the action's capacity when `capped` holds the tier.
pub fn action_values(
    moves: &[TierMove],
    actions: &[RetentionAction],
    capped: &[CappedTier],
) -> Vec<ActionValue> {
    actions
        .iter()
        .map(|action| {
            let (customers, in_tier) = moves
                .iter()
                .filter(|m| m.tier == action.tier)
                .fold((0, 0.0), |(n, s), m| {
                    (n + m.customers, s + m.probability_sum)
                });
            let (acted_on, expected_churners) = match capped
                .iter()
                .find(|c| c.tier == action.tier && c.capacity < customers)
            {
                Some(cap) => (cap.capacity, cap.probability_sum),
                None => (customers, in_tier),
            };
            let stayers = acted_on as f64 - expected_churners;
            ActionValue {
                tier: action.tier.clone(),
                customers,
                acted_on,
                expected_churners,
                expected_profit: expected_churners * action.profit_of_contact(true)
                    + stayers * action.profit_of_contact(false),
            }
        })
        .collect()
}

/// The tiers riskiest first: today's order, with each tier only the day before had placed
/// before the first of today's tiers that followed it then (a tier that emptied today still ranks
/// where it did).
pub fn tier_order(today: &[String], before: &[String]) -> Vec<String> {
    let mut order = today.to_vec();
    for (i, tier) in before.iter().enumerate() {
        if order.contains(tier) {
            continue;
        }
        let next = before[i + 1..]
            .iter()
            .find_map(|later| order.iter().position(|t| t == later));
        match next {
            Some(position) => order.insert(position, tier.clone()),
            None => order.push(tier.clone()),
        }
    }
    order
}

/// What the glance is made from besides the report's data.
#[derive(Debug, Clone, Copy, Default)]
pub struct GlanceInputs<'a> {
    /// Today's customers per (tier, previous tier).
    pub moves: &'a [TierMove],
    /// The scoring model's actions and their economics.
    pub actions: &'a [RetentionAction],
    /// The tiers of the day published before, riskiest first.
    pub tiers_before: &'a [String],
    /// Tiers holding more customers than their action's capacity.
    pub capped: &'a [CappedTier],
}

/// The glance of `data`'s night.
pub fn glance(data: &ReportData, inputs: GlanceInputs<'_>) -> Glance {
    let today: Vec<String> = data.tiers.iter().map(|t| t.tier.clone()).collect();
    let order = tier_order(&today, inputs.tiers_before);
    let moves = inputs.moves;
    let (moved_up, moved_down, new_customers) = movement(moves, &order);
    let compared = moves.iter().any(|m| m.previous_tier.is_some());
    let actions = action_values(moves, inputs.actions, inputs.capped);
    let expected_value =
        (!actions.is_empty()).then(|| actions.iter().map(|a| a.expected_profit).sum());
    let (act, findings) = trust(data);
    let verdict = if data.scored == 0 {
        format!("No customers were scored for {}.", data.logical_date)
    } else if data.publication.as_ref().is_some_and(|p| !p.published) {
        "Today's scores were held back from the CRM: check before acting on them.".to_string()
    } else if act {
        "Today's scores can be acted on.".to_string()
    } else {
        "Check before acting on today's scores.".to_string()
    };
    Glance {
        act: act && data.scored > 0,
        verdict,
        findings,
        compared,
        moved_up,
        moved_down,
        new_customers,
        actions,
        expected_value,
    }
}

/// Names of the inputs (and the score) at `severity`, at most a few.
fn drifted(data: &ReportData, severity: Severity) -> String {
    let names: Vec<&str> = data
        .drift
        .iter()
        .filter(|row| row.drift.severity == severity)
        .map(|row| {
            if row.kind == "prediction" {
                "the scores themselves"
            } else {
                row.drift.feature.as_str()
            }
        })
        .collect();
    let shown = names.iter().take(4).copied().collect::<Vec<_>>().join(", ");
    match names.len() {
        0..=4 => shown,
        n => format!("{shown} and {} more", n - 4),
    }
}

/// Whether the scores can be acted on, and why, one plain sentence per concern.
fn trust(data: &ReportData) -> (bool, Vec<String>) {
    let mut act = true;
    let mut findings = Vec::new();
    if let Some(p) = data.publication.as_ref().filter(|p| !p.published) {
        act = false;
        findings.push(if p.crm_shows.is_empty() {
            format!(
                "They were not sent to the CRM ({}); it has no scores yet.",
                p.reason
            )
        } else {
            format!(
                "They were not sent to the CRM ({}); it keeps the scores of {}.",
                p.reason, p.crm_shows
            )
        });
    }
    match &data.validation {
        Some(v) if !v.passed => {
            act = false;
            findings.push("Today's data failed its checks (see Data checks).".to_string());
        }
        Some(v) if !v.violations.is_empty() => findings.push(format!(
            "Today's data passed its checks with {} warning{} (see Data checks).",
            v.violations.len(),
            if v.violations.len() == 1 { "" } else { "s" }
        )),
        Some(v) => findings.push(format!(
            "Today's data passed every check ({} customers).",
            thousands(v.rows)
        )),
        None => {
            act = false;
            findings.push("Today's data checks are not on record.".to_string());
        }
    }
    match data.max_drift {
        Severity::High => {
            act = false;
            findings.push(format!(
                "Some inputs changed a lot since the model was trained ({}): its scores may \
                 mislead until the data team has looked.",
                drifted(data, Severity::High)
            ));
        }
        Severity::Medium => findings.push(format!(
            "Some inputs moved since the model was trained ({}), not enough to hold the scores \
             back.",
            drifted(data, Severity::Medium)
        )),
        _ if data.drift.is_empty() => {
            findings.push("No drift measurement is on record for today.".to_string())
        }
        _ => findings.push(
            "Today's customers look like those the model learned from (no notable drift)."
                .to_string(),
        ),
    }
    let champion = data
        .champion_version
        .map(|v| format!("v{v}"))
        .unwrap_or_else(|| "the model in service".to_string());
    findings.push(match (&data.gate, data.candidate_version) {
        (Some(gate), Some(candidate))
            if gate.passed && data.champion_version == Some(candidate) =>
        {
            format!("A new model, v{candidate}, passed the promotion checks and scored today.")
        }
        (Some(gate), _) if !gate.passed => format!(
            "Tonight's new candidate model did not pass the promotion checks; {champion}, the \
             proven model, scored."
        ),
        _ => format!("{champion}, the model in service, scored as before."),
    });
    if let Some(canary) = &data.canary {
        findings.push(format!(
            "{} customers ({:.1}%) got the scores of v{}, the canary under trial.",
            thousands(canary.customers as i64),
            canary.share * 100.0,
            canary.version
        ));
    }
    if let Some(outcome) = data.outcomes.as_ref().filter(|o| o.below_policy.is_some()) {
        findings.push(format!(
            "The scores sent on {} did worse than the policy once their outcomes were known; \
             a retrain is requested.",
            outcome.score_date
        ));
    }
    (act, findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(tier: &str, before: Option<&str>, customers: i64, probability_sum: f64) -> TierMove {
        TierMove {
            tier: tier.into(),
            previous_tier: before.map(Into::into),
            customers,
            probability_sum,
        }
    }

    #[test]
    fn moves_are_counted_by_the_tiers_order() {
        let order: Vec<String> = ["high", "medium", "low"].map(String::from).into();
        let moves = [
            moved("high", Some("medium"), 10, 6.0),
            moved("high", Some("low"), 2, 1.0),
            moved("high", Some("high"), 50, 40.0),
            moved("medium", Some("high"), 7, 2.0),
            moved("low", Some("medium"), 3, 0.3),
            moved("low", None, 4, 0.2),
            moved("low", Some("retired tier"), 5, 0.1),
        ];
        assert_eq!(movement(&moves, &order), (12, 10, 4));
    }

    /// Worked by hand: 100 high-tier customers whose probabilities sum to 40 (40 churners
    /// expected). A call costs 5 and the offer 20; a kept customer is worth 300 and the call
    /// keeps 30% of churners. A churner contacted: 0.3 * (300 - 20) - 5 = 79; a stayer
    /// contacted: -(20 + 5) = -25. Expected: 40 * 79 + 60 * (-25) = 3160 - 1500 = 1660.
    #[test]
    fn an_action_is_worth_its_expected_saves_less_its_costs() {
        let action = RetentionAction {
            tier: "high".into(),
            contact_cost: 5.0,
            offer_cost: 20.0,
            customer_value: 300.0,
            save_rate: 0.3,
            save_rate_weight: None,
            capacity: None,
        };
        let moves = [
            moved("high", Some("high"), 70, 30.0),
            moved("high", None, 30, 10.0),
            moved("low", Some("low"), 900, 50.0),
        ];
        let values = action_values(&moves, std::slice::from_ref(&action), &[]);
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].customers, 100);
        assert_eq!(values[0].acted_on, 100);
        assert!((values[0].expected_churners - 40.0).abs() < 1e-12);
        assert!((values[0].expected_profit - 1660.0).abs() < 1e-9);
        // A capacity of 30 a day: the 30 riskiest, whose probabilities sum to 21 (21 expected
        // churners): 21 * 79 + 9 * (-25) = 1659 - 225 = 1434.
        let capped = [CappedTier {
            tier: "high".into(),
            capacity: 30,
            probability_sum: 21.0,
        }];
        let values = action_values(&moves, &[action], &capped);
        assert_eq!((values[0].customers, values[0].acted_on), (100, 30));
        assert!((values[0].expected_profit - 1434.0).abs() < 1e-9);
    }

    #[test]
    fn a_tier_that_emptied_keeps_its_rank() {
        let names =
            |tiers: &[&str]| -> Vec<String> { tiers.iter().map(|t| t.to_string()).collect() };
        let today = names(&["medium", "low"]);
        let before = names(&["high", "medium", "low"]);
        assert_eq!(
            tier_order(&today, &before),
            names(&["high", "medium", "low"])
        );
        let before = names(&["medium", "watch", "low"]);
        assert_eq!(
            tier_order(&today, &before),
            names(&["medium", "watch", "low"])
        );
        let before = names(&["low", "gone"]);
        assert_eq!(
            tier_order(&today, &before),
            names(&["medium", "low", "gone"])
        );
        // Customers who were high yesterday and are medium today moved down, not sideways.
        let moves = [moved("medium", Some("high"), 5, 2.0)];
        assert_eq!(
            movement(
                &moves,
                &tier_order(&today, &names(&["high", "medium", "low"]))
            ),
            (0, 5, 0)
        );
    }
}
