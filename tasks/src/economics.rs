//! What acting on a churn score is worth: the profit of a retention action over customers ranked
//! by calibrated churn probability, the probability cut-off that maximises it (within a daily
//! capacity), and the expected maximum profit (EMP) of a ranking.
//!
//! The profit model is Verbraken, Verbeke and Baesens (2013), "A Novel Profit Maximizing Metric
//! for Measuring Classification Performance of Customer Churn Prediction Models". Every contacted
//! customer costs `contact_cost`. A contacted churner is saved with probability `save_rate` (the
//! paper's gamma), is then worth `customer_value` and takes the offer (`offer_cost`); a contacted
//! customer who would have stayed takes the offer too. So acting on a customer returns
//! `save_rate * (value - offer) - contact` for a churner and `-(offer + contact)` otherwise, and
//! on a calibrated probability p it is worth acting when `p > (contact + offer) / (save_rate *
//! (value - offer) + offer)` (the break-even probability).
//!
//! EMP takes the save rate as uncertain, Beta(alpha, beta) distributed, and integrates over it the
//! profit of the cut-off that is best for each save rate, on the convex hull of the ROC curve; the
//! integrals are incomplete Beta functions (statrs). Checked against empulse's `empc_score` in
//! `tests/economics.rs`.

use serde::{Deserialize, Serialize};
use statrs::function::beta::beta_reg;

/// The spread of the save rate when none is given: alpha + beta = 20, the paper's Beta(6, 14)
/// around a save rate of 0.3.
const DEFAULT_SAVE_RATE_WEIGHT: f64 = 20.0;
/// Points of a stored profit curve: every percent of the customers, ranked.
const CURVE_POINTS: usize = 100;

/// One retention action and its economics, from dags.toml (`[[evaluate.params.actions]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionAction {
    /// The risk tier whose customers get the action (a tier of the score stage).
    pub tier: String,
    /// Cost of contacting one customer (a call, an email).
    pub contact_cost: f64,
    /// Cost of the offer to each contacted customer who takes it: every saved churner and every
    /// contacted customer who would have stayed anyway.
    #[serde(default)]
    pub offer_cost: f64,
    /// What a retained customer is worth (for example a year's margin).
    pub customer_value: f64,
    /// The share of contacted churners the action keeps (the mean of the save rate).
    pub save_rate: f64,
    /// How sure that share is, as the Beta distribution's alpha + beta (EMP only); 20 when absent.
    #[serde(default)]
    pub save_rate_weight: Option<f64>,
    /// At most this many customers a day (a call centre's capacity); no limit when absent.
    #[serde(default)]
    pub capacity: Option<usize>,
}

impl RetentionAction {
    /// What is wrong with these numbers, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.tier.trim().is_empty() {
            problems.push("tier is empty".to_string());
        }
        let mut non_negative = |name: &str, value: f64| {
            if !(value.is_finite() && value >= 0.0) {
                problems.push(format!("{name} = {value} is not a finite amount >= 0"));
            }
        };
        non_negative("contact_cost", self.contact_cost);
        non_negative("offer_cost", self.offer_cost);
        non_negative("customer_value", self.customer_value);
        if !(self.save_rate > 0.0 && self.save_rate < 1.0) {
            problems.push(format!("save_rate = {} is not in (0, 1)", self.save_rate));
        }
        if let Some(weight) = self.save_rate_weight
            && !(weight.is_finite() && weight > 0.0)
        {
            problems.push(format!("save_rate_weight = {weight} is not > 0"));
        }
        if self.capacity == Some(0) {
            problems.push("capacity = 0 leaves the action without customers".to_string());
        }
        if self.contact_cost + self.offer_cost == 0.0 {
            problems.push(
                "contact_cost and offer_cost are both 0: acting on every customer would pay"
                    .to_string(),
            );
        }
        problems
    }

    /// The profit of acting on one customer who churns (`churner`) or stays.
    pub fn profit_of_contact(&self, churner: bool) -> f64 {
        if churner {
            self.save_rate * (self.customer_value - self.offer_cost) - self.contact_cost
        } else {
            -(self.offer_cost + self.contact_cost)
        }
    }

    /// The churn probability above which acting on a customer is expected to pay.
    pub fn break_even_probability(&self) -> f64 {
        let cost = self.contact_cost + self.offer_cost;
        let gain = self.save_rate * (self.customer_value - self.offer_cost) + self.offer_cost;
        if gain <= 0.0 {
            1.0
        } else {
            (cost / gain).min(1.0)
        }
    }

    /// The save rate's Beta distribution (alpha, beta).
    fn save_rate_beta(&self) -> (f64, f64) {
        let weight = self.save_rate_weight.unwrap_or(DEFAULT_SAVE_RATE_WEIGHT);
        (self.save_rate * weight, (1.0 - self.save_rate) * weight)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EconomicsError {
    #[error("{0} probabilities but {1} labels")]
    Length(usize, usize),
    #[error("probability {0} is not a number in [0, 1]")]
    NotAProbability(f64),
    #[error("the labels hold only one class ({0} rows); the profit curve needs both")]
    OneClass(usize),
}

/// The profit of acting on the customers ranked highest, down to one cut-off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfitPoint {
    /// Customers acted on, and their share of all.
    pub customers: usize,
    pub share: f64,
    /// The lowest probability acted on.
    pub min_probability: f64,
    /// The profit realised on these rows with their labels.
    pub profit: f64,
}

/// The cut-off an action takes, and what it earns there, on labelled rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionPlan {
    /// The action, with the tier it belongs to.
    pub action: RetentionAction,
    /// Where acting starts to pay on a calibrated probability.
    pub break_even_probability: f64,
    /// The cut-off that maximises the profit on the rows (customers at or above it are acted on,
    /// unless a tier above took them), and the profit there.
    pub min_probability: f64,
    pub customers: usize,
    /// The customers acted on as a share of all rows.
    pub share: f64,
    pub profit: f64,
    /// The profit per customer of all rows, comparable between days of different sizes.
    pub profit_per_customer: f64,
    /// Whether the capacity, not the economics, set the cut-off.
    pub capacity_bound: bool,
    /// The profit acting on the top 1 %, 2 %, ... of the customers the tier could take.
    pub curve: Vec<ProfitPoint>,
    /// The profit at the fixed cut-offs 0.05, 0.10, ..., 0.95 of the customers the tier could
    /// take (no capacity): what a typed cut-off would have earned.
    #[serde(default)]
    pub at_cut_offs: Vec<ProfitPoint>,
    /// The expected maximum profit per customer over the save rate's uncertainty, and the share of
    /// customers acted on at it (over the whole ranking, without capacity).
    pub emp_per_customer: f64,
    pub emp_share: f64,
}

/// Checks the inputs and returns the rows ranked by probability, highest first (ties keep input
/// order).
fn ranked(probabilities: &[f64], labels: &[bool]) -> Result<Vec<usize>, EconomicsError> {
    if probabilities.len() != labels.len() {
        return Err(EconomicsError::Length(probabilities.len(), labels.len()));
    }
    if let Some(&bad) = probabilities
        .iter()
        .find(|p| !(p.is_finite() && (0.0..=1.0).contains(*p)))
    {
        return Err(EconomicsError::NotAProbability(bad));
    }
    let positives = labels.iter().filter(|y| **y).count();
    if positives == 0 || positives == labels.len() {
        return Err(EconomicsError::OneClass(labels.len()));
    }
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
    Ok(order)
}

/// One cut-off per action, tier by tier from the highest: each action takes, from the customers
/// the tiers above left, those down to the cut-off that maximises its profit on these labelled
/// rows, at most its capacity. A cut-off falls only between distinct probabilities, since the
/// tiers are probability cut-offs. An action that pays on nobody gets a cut-off above every
/// remaining customer (its tier is then empty).
pub fn plan_actions(
    probabilities: &[f64],
    labels: &[bool],
    actions: &[RetentionAction],
) -> Result<Vec<ActionPlan>, EconomicsError> {
    let order = ranked(probabilities, labels)?;
    let rows = order.len();
    let (emp_curve, churn_rate) = roc_hull(probabilities, labels, &order);
    let mut start = 0;
    let mut upper = 1.0f64;
    let mut plans = Vec::with_capacity(actions.len());
    for economics in actions {
        let limit = economics.capacity.unwrap_or(usize::MAX).min(rows - start);
        // Cumulative profit of taking ranks start..start+k, at cut-offs between distinct values.
        let mut best = (0usize, 0.0f64);
        let mut cumulative = 0.0;
        let mut cut_points = Vec::new();
        for k in 1..=(rows - start) {
            let row = order[start + k - 1];
            cumulative += economics.profit_of_contact(labels[row]);
            let at_boundary =
                start + k == rows || probabilities[order[start + k]] < probabilities[row];
            if !at_boundary {
                continue;
            }
            cut_points.push((k, cumulative));
            if k <= limit && cumulative > best.1 {
                best = (k, cumulative);
            }
        }
        let (customers, profit) = best;
        let min_probability = if customers == 0 {
            // Nobody: a cut-off just above the first remaining customer (within the tier above).
            let first = order.get(start).map_or(1.0, |&row| probabilities[row]);
            next_up(first).min(upper)
        } else {
            probabilities[order[start + customers - 1]]
        };
        // Would the economics alone have taken more than the capacity allowed?
        let capacity_bound = economics.capacity.is_some()
            && cut_points
                .iter()
                .any(|&(k, profit)| k > limit && profit > best.1);
        let curve = curve_points(
            &cut_points,
            rows - start,
            rows,
            probabilities,
            &order,
            start,
        );
        let at_cut_offs = (1..20)
            .map(|i| {
                // i / 20 rounds as the literal does: 14 / 20 is 0.7 exactly as typed.
                let cut_off = f64::from(i) / 20.0;
                // Customers from `start` at or above the cut-off: a prefix of the ranking.
                let customers =
                    order[start..].partition_point(|&row| probabilities[row] >= cut_off);
                let profit = match cut_points.binary_search_by_key(&customers, |&(k, _)| k) {
                    Ok(at) => cut_points[at].1,
                    Err(_) => 0.0,
                };
                ProfitPoint {
                    customers,
                    share: customers as f64 / rows as f64,
                    min_probability: cut_off,
                    profit,
                }
            })
            .collect();
        let (emp_per_customer, emp_share) = emp(&emp_curve, churn_rate, economics);
        plans.push(ActionPlan {
            action: economics.clone(),
            break_even_probability: economics.break_even_probability(),
            min_probability,
            customers,
            share: customers as f64 / rows as f64,
            profit,
            profit_per_customer: profit / rows as f64,
            capacity_bound,
            curve,
            at_cut_offs,
            emp_per_customer,
            emp_share,
        });
        start += customers;
        upper = min_probability;
    }
    Ok(plans)
}

/// The smallest f64 above `x` (a cut-off that leaves `x` out), at most 1.
pub fn next_up(x: f64) -> f64 {
    if x >= 1.0 {
        1.0
    } else {
        f64::from_bits(x.to_bits() + 1)
    }
}

/// The profit curve at every percent of the `available` customers (from rank `start`), each at
/// the last cut point at or below that many customers.
fn curve_points(
    cut_points: &[(usize, f64)],
    available: usize,
    rows: usize,
    probabilities: &[f64],
    order: &[usize],
    start: usize,
) -> Vec<ProfitPoint> {
    let mut points = Vec::with_capacity(CURVE_POINTS);
    let mut next = 0;
    let mut last: Option<(usize, f64)> = None;
    for percent in 1..=CURVE_POINTS {
        let wanted = available * percent / CURVE_POINTS;
        while next < cut_points.len() && cut_points[next].0 <= wanted {
            last = Some(cut_points[next]);
            next += 1;
        }
        if let Some((customers, profit)) = last
            && points
                .last()
                .is_none_or(|p: &ProfitPoint| p.customers != customers)
        {
            points.push(ProfitPoint {
                customers,
                share: customers as f64 / rows as f64,
                min_probability: probabilities[order[start + customers - 1]],
                profit,
            });
        }
    }
    points
}

/// The upper convex hull of the ROC curve as (false-positive rate, true-positive rate) points
/// from (0, 0) to (1, 1), tied scores taken together, and the churn rate.
fn roc_hull(probabilities: &[f64], labels: &[bool], order: &[usize]) -> (Vec<(f64, f64)>, f64) {
    let positives = labels.iter().filter(|y| **y).count() as f64;
    let negatives = labels.len() as f64 - positives;
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (i, &row) in order.iter().enumerate() {
        if labels[row] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_tie = i + 1 == order.len() || probabilities[order[i + 1]] != probabilities[row];
        if last_of_tie {
            points.push((fp / negatives, tp / positives));
        }
    }
    let mut hull: Vec<(f64, f64)> = Vec::with_capacity(points.len());
    for p in points {
        while hull.len() >= 2 {
            let (a, b) = (hull[hull.len() - 2], hull[hull.len() - 1]);
            // Drop b when it lies on or under the line from a to p.
            if (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0) >= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(p);
    }
    (hull, positives / labels.len() as f64)
}

/// The expected maximum profit per customer (Verbraken et al. 2013) of the ROC hull `hull` at
/// churn rate `churn_rate`, and the expected share of customers acted on. For a save rate gamma
/// the best hull point is the last whose segment into it is steeper than
/// `(offer + contact) / (gamma * (value - offer) - contact) * (1 - rate) / rate`; each point is
/// best over an interval of gamma, and its profit, linear in gamma, is integrated against the Beta
/// density there.
fn emp(hull: &[(f64, f64)], churn_rate: f64, economics: &RetentionAction) -> (f64, f64) {
    let value = economics.customer_value;
    if value <= 0.0 {
        return (0.0, 0.0);
    }
    let delta = economics.offer_cost / value;
    let phi = economics.contact_cost / value;
    let (pi1, pi0) = (churn_rate, 1.0 - churn_rate);
    let (alpha, beta) = economics.save_rate_beta();
    // The save rate at which the segment from hull point j to j + 1 starts to pay.
    let switch: Vec<f64> = hull
        .windows(2)
        .map(|w| {
            let (dx, dy) = (w[1].0 - w[0].0, w[1].1 - w[0].1);
            if dy <= 0.0 || delta >= 1.0 {
                f64::INFINITY
            } else if dx == 0.0 {
                // Only churners added: worth it once a saved churner covers the contact.
                phi / (1.0 - delta)
            } else {
                ((delta + phi) * pi0 / (dy / dx * pi1) + phi) / (1.0 - delta)
            }
        })
        .collect();
    let cdf = |a: f64, b: f64, x: f64| beta_reg(a, b, x.clamp(0.0, 1.0));
    let (mut total, mut share) = (0.0, 0.0);
    let mut lower = 0.0f64;
    for (j, &(fpr, tpr)) in hull.iter().enumerate() {
        let upper = switch.get(j).copied().unwrap_or(f64::INFINITY);
        let (l, u) = (lower.clamp(0.0, 1.0), upper.clamp(0.0, 1.0));
        if u > l {
            let weight = cdf(alpha, beta, u) - cdf(alpha, beta, l);
            // The integral of gamma times the density over [l, u].
            let weighted_gamma =
                alpha / (alpha + beta) * (cdf(alpha + 1.0, beta, u) - cdf(alpha + 1.0, beta, l));
            total += value
                * ((1.0 - delta) * pi1 * tpr * weighted_gamma
                    - phi * pi1 * tpr * weight
                    - (delta + phi) * pi0 * fpr * weight);
            share += (pi1 * tpr + pi0 * fpr) * weight;
        }
        lower = lower.max(upper);
    }
    (total, share)
}

/// The expected maximum profit per customer of a ranking, and the share acted on at it.
pub fn expected_maximum_profit(
    probabilities: &[f64],
    labels: &[bool],
    economics: &RetentionAction,
) -> Result<(f64, f64), EconomicsError> {
    let order = ranked(probabilities, labels)?;
    let (hull, churn_rate) = roc_hull(probabilities, labels, &order);
    Ok(emp(&hull, churn_rate, economics))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> RetentionAction {
        RetentionAction {
            tier: "high".into(),
            contact_cost: 1.0,
            offer_cost: 10.0,
            customer_value: 200.0,
            save_rate: 0.3,
            save_rate_weight: None,
            capacity: None,
        }
    }

    #[test]
    fn break_even_is_where_the_expected_profit_of_a_contact_is_zero() {
        let economics = call();
        let p = economics.break_even_probability();
        let expected =
            p * economics.profit_of_contact(true) + (1.0 - p) * economics.profit_of_contact(false);
        assert!(expected.abs() < 1e-12, "{expected}");
        // (1 + 10) / (0.3 * 190 + 10) = 11 / 67
        assert!((p - 11.0 / 67.0).abs() < 1e-15);
    }

    #[test]
    fn bad_numbers_are_named() {
        let mut economics = call();
        economics.save_rate = 1.5;
        economics.contact_cost = f64::NAN;
        economics.capacity = Some(0);
        let problems = economics.problems().join("; ");
        assert!(problems.contains("save_rate = 1.5"), "{problems}");
        assert!(problems.contains("contact_cost = NaN"), "{problems}");
        assert!(problems.contains("capacity = 0"), "{problems}");
    }
}
