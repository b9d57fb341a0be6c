//! Checks one snapshot against the data contract. Every violation names its column, rule, observed
//! value, limit and a few example keys. Hard violations stop the run; soft ones are warnings that
//! reach the report.
//!
//! Hard: a missing column, a wrong type, an empty snapshot, duplicate keys, a snapshot column that
//! disagrees with the partition date, nulls beyond a column's limit, values outside a range, NaN or
//! infinite values in a numeric column (unless its contract says `non_finite = "soft"`).
//! Soft: values outside a column's allowed set (with their share), a row count that changed by
//! more than half against the previous snapshot.

use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;

use crate::bounded_text::{VALUE_CHARS, bounded, bounded_list};
use crate::contract::{ColumnType, Contract, NonFinite};

/// How many example keys a violation lists.
const EXAMPLES: usize = 5;
/// A row-count change beyond this share against the previous snapshot is a warning.
const ROW_COUNT_CHANGE_LIMIT: f64 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Hard,
    Soft,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub column: String,
    pub rule: &'static str,
    pub severity: Severity,
    pub observed: String,
    pub limit: String,
    pub example_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationReport {
    pub snapshot_date: NaiveDate,
    pub rows: usize,
    pub violations: Vec<Violation>,
}

impl ValidationReport {
    pub fn hard(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| v.severity == Severity::Hard)
    }

    pub fn passed(&self) -> bool {
        self.hard().next().is_none()
    }

    /// One line per hard violation, for the error that stops the run.
    pub fn summary(&self) -> String {
        self.hard()
            .map(|v| {
                format!(
                    "column `{}`: rule {}: observed {}, limit {}{}",
                    v.column,
                    v.rule,
                    v.observed,
                    v.limit,
                    if v.example_keys.is_empty() {
                        String::new()
                    } else {
                        format!(" (e.g. {})", v.example_keys.join(", "))
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn type_matches(expected: ColumnType, actual: &DataType) -> bool {
    match expected {
        ColumnType::String => matches!(actual, DataType::String),
        ColumnType::Int => actual.is_integer(),
        ColumnType::Float => actual.is_float() || actual.is_integer(),
        ColumnType::Bool => matches!(actual, DataType::Boolean),
        ColumnType::Date => matches!(actual, DataType::Date),
    }
}

fn type_name(kind: ColumnType) -> &'static str {
    match kind {
        ColumnType::String => "string",
        ColumnType::Int => "int",
        ColumnType::Float => "float",
        ColumnType::Bool => "bool",
        ColumnType::Date => "date",
    }
}

/// A column as text, for checks that compare values as strings (keys, dates).
fn as_text(frame: &DataFrame, column: &str) -> Option<StringChunked> {
    let column = frame.column(column).ok()?.cast(&DataType::String).ok()?;
    column.str().ok().cloned()
}

/// The rows where `flagged` holds, as a mask, and how many there are.
fn flag(values: &StringChunked, flagged: impl Fn(Option<&str>) -> bool) -> (BooleanChunked, usize) {
    let mask: BooleanChunked = values.iter().map(|v| Some(flagged(v))).collect();
    let count = mask.sum().unwrap_or(0) as usize;
    (mask, count)
}

/// Keys of the rows where `mask` is true, up to [`EXAMPLES`].
fn example_keys(frame: &DataFrame, key: &str, mask: &BooleanChunked) -> Vec<String> {
    let Some(keys) = as_text(frame, key) else {
        return Vec::new();
    };
    keys.iter()
        .zip(mask.iter())
        .filter(|(_, hit)| *hit == Some(true))
        .filter_map(|(key, _)| key.map(|k| bounded(k, VALUE_CHARS)))
        .take(EXAMPLES)
        .collect()
}

/// The rows of a numeric column outside `[min, max]` and a description, if there are any.
fn out_of_range(
    column: &Column,
    min: Option<f64>,
    max: Option<f64>,
) -> Option<(BooleanChunked, String)> {
    if min.is_none() && max.is_none() {
        return None;
    }
    let values = column.cast(&DataType::Float64).ok()?;
    let values = values.f64().ok()?;
    let outside = match (min.map(|m| values.lt(m)), max.map(|m| values.gt(m))) {
        (Some(below), Some(above)) => &below | &above,
        (Some(below), None) => below,
        (None, Some(above)) => above,
        (None, None) => return None,
    };
    // NaN and infinities have a rule of their own (`finite`); a range speaks of real numbers.
    let outside = &outside & &values.is_finite();
    let values = values.filter(&values.is_finite()).ok()?;
    let count = outside.sum().unwrap_or(0);
    (count > 0).then(|| {
        let observed = format!(
            "{count} rows outside (min {}, max {})",
            values.min().unwrap_or(f64::NAN),
            values.max().unwrap_or(f64::NAN)
        );
        (outside, observed)
    })
}

/// The rows of a float column holding NaN or an infinity, and a description, if there are any.
fn non_finite(column: &Column) -> Option<(BooleanChunked, String)> {
    let values = column.f64().ok()?;
    let (mut nan, mut pos, mut neg) = (0usize, 0usize, 0usize);
    let mask: BooleanChunked = values
        .iter()
        .map(|v| {
            let hit = match v {
                Some(v) if v.is_nan() => {
                    nan += 1;
                    true
                }
                Some(v) if v == f64::INFINITY => {
                    pos += 1;
                    true
                }
                Some(v) if v == f64::NEG_INFINITY => {
                    neg += 1;
                    true
                }
                _ => false,
            };
            Some(hit)
        })
        .collect();
    let count = nan + pos + neg;
    (count > 0).then(|| {
        (
            mask,
            format!("{count} rows not finite (NaN {nan}, +inf {pos}, -inf {neg})"),
        )
    })
}

/// Checks `frame`, the snapshot of `snapshot_date`, against `contract`; `previous_rows` is the row
/// count of the previous snapshot, if there is one.
pub fn validate(
    contract: &Contract,
    frame: &DataFrame,
    snapshot_date: NaiveDate,
    previous_rows: Option<usize>,
) -> ValidationReport {
    let rows = frame.height();
    let mut violations = Vec::new();
    let mut push = |column: &str, rule, severity, observed: String, limit: String, keys| {
        violations.push(Violation {
            column: column.to_string(),
            rule,
            severity,
            observed,
            limit,
            example_keys: keys,
        });
    };
    if rows == 0 {
        push(
            "*",
            "not_empty",
            Severity::Hard,
            "0 rows".into(),
            "at least 1 row".into(),
            vec![],
        );
    }
    for (name, spec) in &contract.columns {
        let Ok(column) = frame.column(name) else {
            push(
                name,
                "present",
                Severity::Hard,
                "missing".into(),
                "required by the contract".into(),
                vec![],
            );
            continue;
        };
        if !type_matches(spec.kind, column.dtype()) {
            push(
                name,
                "type",
                Severity::Hard,
                column.dtype().to_string(),
                type_name(spec.kind).into(),
                vec![],
            );
            continue;
        }
        if rows == 0 {
            continue;
        }
        let nulls = column.null_count();
        let null_share = nulls as f64 / rows as f64;
        if null_share > spec.max_null_fraction {
            let mask = column.is_null();
            push(
                name,
                "null_fraction",
                Severity::Hard,
                format!("{null_share:.4} ({nulls} rows)"),
                format!("{:.4}", spec.max_null_fraction),
                example_keys(frame, &contract.key, &mask),
            );
        }
        if let Some((mask, observed)) = non_finite(column) {
            let severity = match spec.non_finite {
                NonFinite::Hard => Severity::Hard,
                NonFinite::Soft => Severity::Soft,
            };
            push(
                name,
                "finite",
                severity,
                observed,
                "no NaN or infinite values".into(),
                example_keys(frame, &contract.key, &mask),
            );
        }
        if let Some((outside, observed)) = out_of_range(column, spec.min, spec.max) {
            push(
                name,
                "range",
                Severity::Hard,
                observed,
                format!(
                    "[{}, {}]",
                    spec.min.map_or("-inf".into(), |v| v.to_string()),
                    spec.max.map_or("inf".into(), |v| v.to_string())
                ),
                example_keys(frame, &contract.key, &outside),
            );
        }
        if let (Some(allowed), Ok(values)) = (&spec.allowed, column.str()) {
            let unseen: BooleanChunked = values
                .iter()
                .map(|value| Some(value.is_some_and(|v| !allowed.iter().any(|a| a == v))))
                .collect();
            let count = unseen.sum().unwrap_or(0) as usize;
            if count > 0 {
                let mut new_values: Vec<&str> = values
                    .iter()
                    .flatten()
                    .filter(|v| !allowed.iter().any(|a| a == v))
                    .collect();
                new_values.sort_unstable();
                new_values.dedup();
                push(
                    name,
                    "allowed_values",
                    Severity::Soft,
                    format!(
                        "{:.4} of rows ({count}) hold unseen values: {}",
                        count as f64 / rows as f64,
                        bounded_list(&new_values)
                    ),
                    format!("one of {}", allowed.join(", ")),
                    example_keys(frame, &contract.key, &unseen),
                );
            }
        }
    }
    if let Some(keys) = as_text(frame, &contract.key) {
        let mut counts = std::collections::HashMap::<&str, usize>::new();
        for key in keys.iter().flatten() {
            *counts.entry(key).or_default() += 1;
        }
        let (duplicated, count) = flag(&keys, |key| {
            key.is_some_and(|k| counts.get(k).is_some_and(|n| *n > 1))
        });
        if count > 0 {
            push(
                &contract.key,
                "unique_key",
                Severity::Hard,
                format!("{count} rows share a key"),
                "every key once".into(),
                example_keys(frame, &contract.key, &duplicated),
            );
        }
    }
    if let Some(dates) = as_text(frame, &contract.snapshot_column) {
        let expected = snapshot_date.to_string();
        let (stale, count) = flag(&dates, |d| d != Some(expected.as_str()));
        if count > 0 {
            push(
                &contract.snapshot_column,
                "freshness",
                Severity::Hard,
                format!("{count} rows with another snapshot date"),
                expected,
                example_keys(frame, &contract.key, &stale),
            );
        }
    }
    if let Some(previous) = previous_rows.filter(|p| *p > 0) {
        let change = (rows as f64 - previous as f64) / previous as f64;
        if change.abs() > ROW_COUNT_CHANGE_LIMIT {
            push(
                "*",
                "row_count_change",
                Severity::Soft,
                format!("{rows} rows, {:+.1}% against {previous}", change * 100.0),
                format!("within ±{:.0}%", ROW_COUNT_CHANGE_LIMIT * 100.0),
                vec![],
            );
        }
    }
    ValidationReport {
        snapshot_date,
        rows,
        violations,
    }
}
