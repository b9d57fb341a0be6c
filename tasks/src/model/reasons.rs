//! Reasons a CRM user reads: for each customer, the features that raise the risk most (the
//! largest positive contributions to the model's margin), written with the contract's display
//! name, whether the value is high or low against the training rows, and the value itself:
//! `days since last order high (87)`, `payment method: paypal`, `email open rate missing`.
//!
//! Contributions are in log-odds before calibration (the family's margin). Only the top
//! [`REASONS_PER_CUSTOMER`] are kept: a million customers' full contribution matrices are never
//! held at once, only one slice of rows at a time.

use polars::prelude::*;

use super::{ChurnModel, Contributions, ModelError, SLICE_ROWS};
use crate::contract::Contract;
use crate::drift::NULL_CATEGORY;
use crate::preprocess::PreprocessError;

/// Reasons stored per customer.
pub const REASONS_PER_CUSTOMER: usize = 3;

/// The reasons of every row, as columns: `texts[k]` holds each row's (k+1)-th reason and
/// `contributions[k]` its contribution; null where a row has fewer features raising its risk.
/// Built straight into column arrays a slice at a time (a million customers' reasons as Rust
/// strings took about 200 MB more).
#[derive(Debug, Clone)]
pub struct Reasons {
    pub texts: [StringChunked; REASONS_PER_CUSTOMER],
    pub contributions: [Float64Chunked; REASONS_PER_CUSTOMER],
}

impl Reasons {
    fn empty() -> Self {
        Self {
            texts: std::array::from_fn(|_| StringChunked::full_null("".into(), 0)),
            contributions: std::array::from_fn(|_| Float64Chunked::full_null("".into(), 0)),
        }
    }

    pub fn rows(&self) -> usize {
        self.texts[0].len()
    }
}

/// A feature's raw values in one slice, as the reason text shows them.
enum Values {
    /// With the training centre a value is called high or low against.
    Numeric {
        values: Float64Chunked,
        centre: f64,
    },
    Categorical(StringChunked),
}

fn column_error(column: &str, err: PolarsError) -> ModelError {
    ModelError::Preprocess(PreprocessError::Column {
        column: column.to_string(),
        reason: err.to_string(),
    })
}

/// A number as a person writes it: whole numbers without decimals, others to two places.
fn readable(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

impl Values {
    fn read(frame: &DataFrame, column: &str, centre: Option<f64>) -> Result<Self, ModelError> {
        let fail = |err| column_error(column, err);
        let series = frame.column(column).map_err(fail)?;
        Ok(match centre {
            Some(centre) => Values::Numeric {
                values: series
                    .cast(&DataType::Float64)
                    .map_err(fail)?
                    .f64()
                    .map_err(fail)?
                    .clone(),
                centre,
            },
            None => Values::Categorical(
                series
                    .cast(&DataType::String)
                    .map_err(fail)?
                    .str()
                    .map_err(fail)?
                    .clone(),
            ),
        })
    }

    fn text(&self, name: &str, row: usize) -> String {
        match self {
            Values::Numeric { values, centre } => match values.get(row) {
                Some(v) if v.is_finite() => {
                    let side = if v >= *centre { "high" } else { "low" };
                    format!("{name} {side} ({})", readable(v))
                }
                _ => format!("{name} missing"),
            },
            Values::Categorical(values) => match values.get(row) {
                Some(v) if v != NULL_CATEGORY => format!("{name}: {v}"),
                _ => format!("{name} missing"),
            },
        }
    }
}

/// The top reasons of every row of `features` (CPU work: call it off the async threads).
pub fn reasons(
    model: &ChurnModel,
    contract: &Contract,
    features: &DataFrame,
) -> Result<Reasons, ModelError> {
    let centres = model.feature_centres();
    let mut out = Reasons::empty();
    let mut offset = 0;
    while offset < features.height() {
        let slice = features.slice(offset as i64, SLICE_ROWS);
        let contributions = model.contributions(&slice)?;
        append_slice(&mut out, &contributions, &slice, contract, &centres)?;
        offset += SLICE_ROWS;
    }
    Ok(out)
}

fn append_slice(
    out: &mut Reasons,
    contributions: &Contributions,
    slice: &DataFrame,
    contract: &Contract,
    centres: &std::collections::BTreeMap<String, f64>,
) -> Result<(), ModelError> {
    let columns = contributions
        .features
        .iter()
        .map(|name| Values::read(slice, name, centres.get(name).copied()))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<&str> = contributions
        .features
        .iter()
        .map(|name| contract.display_name(name))
        .collect();
    let rows = contributions.rows();
    let mut texts: [Vec<Option<String>>; REASONS_PER_CUSTOMER] =
        std::array::from_fn(|_| Vec::with_capacity(rows));
    let mut values: [Vec<Option<f64>>; REASONS_PER_CUSTOMER] =
        std::array::from_fn(|_| Vec::with_capacity(rows));
    for row in 0..rows {
        let top = top_positive(contributions.row(row));
        for (k, reason) in top.into_iter().enumerate() {
            texts[k].push(reason.map(|(feature, _)| columns[feature].text(names[feature], row)));
            values[k].push(reason.map(|(_, value)| value));
        }
    }
    for (k, (texts, values)) in texts.into_iter().zip(values).enumerate() {
        let texts: StringChunked = texts.into_iter().collect();
        let values: Float64Chunked = values.into_iter().collect();
        out.texts[k]
            .append(&texts)
            .map_err(|e| column_error("reasons", e))?;
        out.contributions[k]
            .append(&values)
            .map_err(|e| column_error("reasons", e))?;
    }
    Ok(())
}

/// The (feature, contribution) of the largest positive contributions, largest first; ties go to
/// the feature listed first.
fn top_positive(row: &[f64]) -> [Option<(usize, f64)>; REASONS_PER_CUSTOMER] {
    let mut top: [Option<(usize, f64)>; REASONS_PER_CUSTOMER] = [None; REASONS_PER_CUSTOMER];
    for (feature, &value) in row.iter().enumerate() {
        if value.is_nan() || value <= 0.0 {
            continue;
        }
        let Some(slot) = top.iter().position(|t| t.is_none_or(|(_, v)| value > v)) else {
            continue;
        };
        top[slot..].rotate_right(1);
        top[slot] = Some((feature, value));
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_three_largest_positive_contributions_in_order() {
        let top = top_positive(&[0.1, -2.0, 0.5, 0.3, 0.0, 0.5, f64::NAN]);
        assert_eq!(top, [Some((2, 0.5)), Some((5, 0.5)), Some((3, 0.3))]);
        assert_eq!(top_positive(&[-1.0, 0.2]), [Some((1, 0.2)), None, None]);
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(readable(87.0), "87");
        assert_eq!(readable(0.4567), "0.46");
    }
}
