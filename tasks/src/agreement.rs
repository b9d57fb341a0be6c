//! How far a shadow model agrees with the champion on the same customers: Spearman's rank
//! correlation of their probabilities, the overlap of their riskiest tenths, and how often they put
//! a customer in the same tier (the tier agreement matrix). Spearman's rho is checked against
//! SciPy's `spearmanr` in `tests/agreement.rs`.

use serde::{Deserialize, Serialize};

use crate::scoring::Tiers;

/// The champion's and the shadow's scores of one night compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub rows: usize,
    /// Spearman's rank correlation (ties take their average rank), in [-1, 1].
    pub spearman: f64,
    /// The share of the champion's riskiest tenth that is also in the shadow's.
    pub top_decile_overlap: f64,
    /// The share of customers both models put in the same tier.
    pub tier_agreement: f64,
    /// Tier names, highest first, and `matrix[i][j]`: customers in tier i by the champion and tier
    /// j by the shadow.
    pub tiers: Vec<String>,
    pub matrix: Vec<Vec<u64>>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AgreementError {
    #[error("{0} champion scores but {1} shadow scores")]
    Length(usize, usize),
    #[error("no customers to compare")]
    Empty,
}

/// Ranks 1..=n of `values`, ties taking the mean of the ranks they span (SciPy's `rankdata`).
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Ranks start+1 ..= end share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Pearson's correlation of two equally long series (0 when either is constant).
fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// Spearman's rank correlation: Pearson's of the average ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&average_ranks(x), &average_ranks(y))
}

/// The indices of the riskiest tenth (at least one row), highest first; ties broken by index.
fn top_decile(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(scores.len().div_ceil(10).max(1));
    order
}

/// The champion's and the shadow's probabilities and tiers of the same customers (same order)
/// compared; `tiers` names the tiers, highest first.
pub fn agreement(
    champion: (&[f64], &[Option<&str>]),
    shadow: (&[f64], &[Option<&str>]),
    tiers: &Tiers,
) -> Result<Agreement, AgreementError> {
    let rows = champion.0.len();
    for len in [champion.1.len(), shadow.0.len(), shadow.1.len()] {
        if len != rows {
            return Err(AgreementError::Length(rows, len));
        }
    }
    if rows == 0 {
        return Err(AgreementError::Empty);
    }
    let top_champion = top_decile(champion.0);
    let mut in_shadow_top = vec![false; rows];
    for i in top_decile(shadow.0) {
        in_shadow_top[i] = true;
    }
    let overlap = top_champion.iter().filter(|&&i| in_shadow_top[i]).count();
    let names: Vec<String> = tiers.tiers().iter().map(|t| t.name.clone()).collect();
    let position = |tier: Option<&str>| {
        tier.and_then(|t| names.iter().position(|n| n == t))
            .unwrap_or(names.len() - 1)
    };
    let mut matrix = vec![vec![0u64; names.len()]; names.len()];
    for (&a, &b) in champion.1.iter().zip(shadow.1) {
        matrix[position(a)][position(b)] += 1;
    }
    let same: u64 = (0..names.len()).map(|i| matrix[i][i]).sum();
    Ok(Agreement {
        rows,
        spearman: spearman(champion.0, shadow.0),
        top_decile_overlap: overlap as f64 / top_champion.len() as f64,
        tier_agreement: same as f64 / rows as f64,
        tiers: names,
        matrix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_their_average_rank() {
        assert_eq!(
            average_ranks(&[0.3, 0.1, 0.3, 0.9]),
            vec![2.5, 1.0, 2.5, 4.0]
        );
    }

    #[test]
    fn identical_scores_agree_fully_and_reversed_ones_not_at_all() {
        let champion: Vec<f64> = (0..50).map(|i| f64::from(i) / 50.0).collect();
        let tiers = Tiers::standard();
        let tier_names = |scores: &[f64]| -> Vec<Option<&'static str>> {
            scores
                .iter()
                .map(|p| {
                    Some(if *p >= 0.7 {
                        "high"
                    } else if *p >= 0.4 {
                        "medium"
                    } else {
                        "low"
                    })
                })
                .collect()
        };
        let champion_tiers = tier_names(&champion);
        let same = agreement(
            (&champion, &champion_tiers),
            (&champion, &champion_tiers),
            &tiers,
        )
        .unwrap();
        assert!((same.spearman - 1.0).abs() < 1e-12);
        assert_eq!(same.top_decile_overlap, 1.0);
        assert_eq!(same.tier_agreement, 1.0);
        assert_eq!(
            same.matrix.iter().flatten().sum::<u64>(),
            50,
            "every customer once"
        );
        let reversed: Vec<f64> = champion.iter().rev().copied().collect();
        let reversed_tiers = tier_names(&reversed);
        let opposite = agreement(
            (&champion, &champion_tiers),
            (&reversed, &reversed_tiers),
            &tiers,
        )
        .unwrap();
        assert!((opposite.spearman + 1.0).abs() < 1e-12);
        assert_eq!(opposite.top_decile_overlap, 0.0);
        // high: >= 0.7 (15 customers), medium: >= 0.4 (15), low: 20. Reversed, champion's high
        // customers are the shadow's low ones.
        assert_eq!(opposite.matrix[0][2], 15);
        assert!(
            agreement(
                (&champion, &champion_tiers),
                (&champion[1..], &champion_tiers[1..]),
                &tiers
            )
            .is_err()
        );
    }
}
