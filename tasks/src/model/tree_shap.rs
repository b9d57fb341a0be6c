//! Exact TreeSHAP (Lundberg et al. 2020, "tree path dependent") for churnflow's boosted trees,
//! fast enough to explain every customer of a nightly snapshot.
//!
//! A tree's SHAP values are a sum over its root-to-leaf paths. On one path, with its unique
//! features j (repeated splits on a feature merged), the *zero fraction* z_j (the share of
//! training cover that follows the path at j's splits) is fixed by the tree; the *one fraction*
//! o_j is 1 when the row follows the path at every split on j and 0 otherwise. So a path's
//! contributions depend on the row only through the bit mask of its o_j: they are computed once
//! per path and mask with the algorithm's EXTEND / UNWOUND_SUM (as `shap`'s `tree_shap.h` does)
//! and looked up per row. A row then costs one comparison per split and one table lookup per
//! leaf, instead of the O(leaves x depth^2) walk of the classic algorithm (LightGBM's
//! `pred_contrib`).
//!
//! Tables grow as 2^d per leaf, so paths with more than [`MAX_TABLE_DEPTH`] unique features are
//! computed per row instead (exact either way).

use super::boosting::{BoostedTree, Direction};

/// Paths with at most this many unique features get a precomputed table (2^d x d values).
pub const MAX_TABLE_DEPTH: usize = 8;

/// One root-to-leaf path, features merged.
#[derive(Debug, Clone)]
struct PathPlan {
    /// (feature, zero fraction) per unique feature on the path.
    features: Vec<(usize, f64)>,
    /// Every edge of the path as (node, direction, unique feature's bit): the row follows the
    /// path at feature j when it follows every edge carrying j's bit.
    edges: Vec<(u32, Direction, u8)>,
    leaf_value: f64,
    /// `table[mask * d + j]`: feature j's contribution when the row's one-fractions are `mask`.
    table: Option<Vec<f64>>,
}

/// A tree's paths, ready to explain rows.
#[derive(Debug, Clone)]
pub struct TreePlan {
    paths: Vec<PathPlan>,
    nodes: usize,
    /// The tree's expected output over its training cover.
    pub expected: f64,
}

/// An edge walked from the root: (node, direction, feature split on, cover ratio of the child).
type Edge = (usize, Direction, usize, f64);

#[derive(Clone, Copy)]
struct PathElement {
    zero: f64,
    one: f64,
    weight: f64,
}

/// EXTEND of the algorithm: adds one feature to the path's subset-size weights.
fn extend(path: &mut Vec<PathElement>, zero: f64, one: f64) {
    let depth = path.len();
    path.push(PathElement {
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    });
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / (depth + 1) as f64;
        path[i].weight = zero * path[i].weight * (depth - i) as f64 / (depth + 1) as f64;
    }
}

/// UNWOUND_SUM: the total weight of the path without element `index`.
fn unwound_sum(path: &[PathElement], index: usize) -> f64 {
    let depth = path.len() - 1;
    let PathElement { zero, one, .. } = path[index];
    let mut total = 0.0;
    if one != 0.0 {
        let mut next = path[depth].weight;
        for i in (0..depth).rev() {
            let tmp = next * (depth + 1) as f64 / ((i + 1) as f64 * one);
            total += tmp;
            next = path[i].weight - tmp * zero * (depth - i) as f64 / (depth + 1) as f64;
        }
    } else if zero != 0.0 {
        for i in (0..depth).rev() {
            total += path[i].weight / zero / ((depth - i) as f64 / (depth + 1) as f64);
        }
    }
    total
}

/// Each unique feature's contribution on a path with these zero fractions and one fractions.
fn path_contributions(zeros: &[f64], ones: &[bool], leaf_value: f64, out: &mut [f64]) {
    let mut path = Vec::with_capacity(zeros.len() + 1);
    // The algorithm's root element: no feature, always followed.
    extend(&mut path, 1.0, 1.0);
    for (zero, one) in zeros.iter().zip(ones) {
        extend(&mut path, *zero, if *one { 1.0 } else { 0.0 });
    }
    for (j, value) in out.iter_mut().enumerate() {
        let element = path[j + 1];
        *value = unwound_sum(&path, j + 1) * (element.one - element.zero) * leaf_value;
    }
}

impl TreePlan {
    pub fn new(tree: &BoostedTree) -> Self {
        let mut paths = Vec::new();
        let mut expected = 0.0;
        let mut stack: Vec<(usize, Vec<Edge>)> = vec![(0, Vec::new())];
        while let Some((index, edges)) = stack.pop() {
            let node = &tree.nodes[index];
            if node.is_leaf() {
                let mut features: Vec<(usize, f64)> = Vec::new();
                let mut flat: Vec<(u32, Direction, u8)> = Vec::new();
                let mut reach = 1.0;
                for &(at, direction, feature, ratio) in &edges {
                    reach *= ratio;
                    let bit = match features.iter().position(|(f, _)| *f == feature) {
                        Some(k) => {
                            features[k].1 *= ratio;
                            k
                        }
                        None => {
                            features.push((feature, ratio));
                            features.len() - 1
                        }
                    };
                    flat.push((at as u32, direction, bit as u8));
                }
                expected += reach * node.value;
                let mut plan = PathPlan {
                    features,
                    edges: flat,
                    leaf_value: node.value,
                    table: None,
                };
                plan.table = table(&plan);
                paths.push(plan);
                continue;
            }
            for direction in node.directions() {
                let child = node.child(direction);
                let ratio = if node.cover > 0.0 {
                    tree.nodes[child].cover / node.cover
                } else {
                    0.0
                };
                let mut next = edges.clone();
                next.push((index, direction, node.feature, ratio));
                stack.push((child, next));
            }
        }
        Self {
            paths,
            nodes: tree.nodes.len(),
            expected,
        }
    }

    /// Adds the tree's SHAP values of one row to `phi` (one slot per feature). `taken` is scratch
    /// space of at least one slot per node.
    pub fn add_row(
        &self,
        tree: &BoostedTree,
        row: &[f64],
        phi: &mut [f64],
        taken: &mut Vec<Direction>,
    ) {
        taken.clear();
        taken.extend(tree.nodes.iter().map(|node| node.direction_of(row)));
        debug_assert_eq!(taken.len(), self.nodes);
        for path in &self.paths {
            let d = path.features.len();
            let mut mask = (1usize << d) - 1;
            for &(at, dir, bit) in &path.edges {
                if taken[at as usize] != dir {
                    mask &= !(1usize << bit);
                }
            }
            match &path.table {
                Some(table) => {
                    let values = &table[mask * d..(mask + 1) * d];
                    for ((feature, _), value) in path.features.iter().zip(values) {
                        phi[*feature] += value;
                    }
                }
                None => {
                    // A path too long to tabulate: computed for this row.
                    let ones: Vec<bool> = (0..d).map(|j| mask >> j & 1 == 1).collect();
                    let zeros: Vec<f64> = path.features.iter().map(|(_, z)| *z).collect();
                    let mut out = vec![0.0; d];
                    path_contributions(&zeros, &ones, path.leaf_value, &mut out);
                    for ((feature, _), value) in path.features.iter().zip(out.iter()) {
                        phi[*feature] += value;
                    }
                }
            }
        }
    }
}

/// The path's contributions for every mask, when it is short enough to tabulate.
fn table(path: &PathPlan) -> Option<Vec<f64>> {
    let d = path.features.len();
    if d > MAX_TABLE_DEPTH {
        return None;
    }
    let zeros: Vec<f64> = path.features.iter().map(|(_, z)| *z).collect();
    let mut table = vec![0.0; (1 << d) * d];
    let mut ones = vec![false; d];
    for mask in 0..(1usize << d) {
        for (j, one) in ones.iter_mut().enumerate() {
            *one = mask >> j & 1 == 1;
        }
        path_contributions(
            &zeros,
            &ones,
            path.leaf_value,
            &mut table[mask * d..(mask + 1) * d],
        );
    }
    Some(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shapley values by their definition over the features' subsets, for one path: the path's
    /// expected leaf value given the features in S are known (o for known, z for unknown).
    fn brute_force(zeros: &[f64], ones: &[bool], leaf: f64) -> Vec<f64> {
        let d = zeros.len();
        let value = |subset: usize| -> f64 {
            (0..d)
                .map(|j| {
                    if subset >> j & 1 == 1 {
                        if ones[j] { 1.0 } else { 0.0 }
                    } else {
                        zeros[j]
                    }
                })
                .product::<f64>()
                * leaf
        };
        let factorial = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
        (0..d)
            .map(|i| {
                (0..1usize << d)
                    .filter(|s| s >> i & 1 == 0)
                    .map(|s| {
                        let size = s.count_ones() as usize;
                        let weight = factorial(size) * factorial(d - size - 1) / factorial(d);
                        weight * (value(s | 1 << i) - value(s))
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn one_path_matches_the_shapley_definition() {
        let zeros = [0.6, 0.3, 0.8, 0.45, 0.1];
        for mask in 0..32usize {
            let ones: Vec<bool> = (0..5).map(|j| mask >> j & 1 == 1).collect();
            let mut fast = [0.0; 5];
            path_contributions(&zeros, &ones, 1.7, &mut fast);
            let slow = brute_force(&zeros, &ones, 1.7);
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() < 1e-12, "mask {mask}: {fast:?} vs {slow:?}");
            }
        }
    }
}
