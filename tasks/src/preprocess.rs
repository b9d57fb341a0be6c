//! The feature transform a model is trained with and scored with: numeric features imputed with
//! their training median (nulls, NaN and infinities alike), then standardised with the training mean and standard deviation;
//! categorical features one-hot encoded over the categories seen in training (a null is a category
//! of its own; a category never seen in training encodes as all zeros).
//!
//! It is fitted on training rows only and saved inside the model, so scoring applies exactly the
//! training transform.

use std::collections::BTreeMap;

use ndarray::{Array2, ShapeBuilder};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::contract::Contract;
use crate::drift::NULL_CATEGORY;
use crate::logistic::Cell;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericStep {
    pub column: String,
    pub median: f64,
    pub mean: f64,
    /// 1 where the training column was constant, so scaling never divides by zero.
    pub scale: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalStep {
    pub column: String,
    /// Sorted; nulls as [`NULL_CATEGORY`].
    pub categories: Vec<String>,
    /// The share of training rows in each category (the mean of its one-hot column), which the
    /// logistic regression's contributions are measured from. Empty in models saved before.
    #[serde(default)]
    pub frequencies: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub numeric: Vec<NumericStep>,
    pub categorical: Vec<CategoricalStep>,
}

#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("column `{column}`: {reason}")]
    Column { column: String, reason: String },
}

/// A feature column cast to `dtype`, with the column named in any error.
fn cast_column(
    frame: &DataFrame,
    column: &str,
    dtype: &DataType,
) -> Result<Column, PreprocessError> {
    frame
        .column(column)
        .and_then(|c| c.cast(dtype))
        .map_err(|err| column_error(column, err))
}

/// The median, mean and scale of a numeric training column (nulls imputed with the median).
fn numeric_step(frame: &DataFrame, column: String) -> Result<NumericStep, PreprocessError> {
    let values = cast_column(frame, &column, &DataType::Float64)?;
    let values = values.f64().map_err(|err| column_error(&column, err))?;
    let median = median(values.iter().flatten().filter(|v| v.is_finite()).collect());
    let imputed = || values.iter().map(|v| present(v).unwrap_or(median));
    let rows = values.len().max(1) as f64;
    let mean = imputed().sum::<f64>() / rows;
    let variance = imputed().map(|v| (v - mean).powi(2)).sum::<f64>() / rows;
    let scale = if variance > 0.0 { variance.sqrt() } else { 1.0 };
    Ok(NumericStep {
        column,
        median,
        mean,
        scale,
    })
}

/// The sorted distinct values of a categorical training column, a null as [`NULL_CATEGORY`].
fn categorical_step(frame: &DataFrame, column: String) -> Result<CategoricalStep, PreprocessError> {
    let values = cast_column(frame, &column, &DataType::String)?;
    let values = values.str().map_err(|err| column_error(&column, err))?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for value in values.iter() {
        *counts.entry(value.unwrap_or(NULL_CATEGORY)).or_default() += 1;
    }
    let rows = values.len().max(1) as f64;
    Ok(CategoricalStep {
        frequencies: counts.values().map(|n| *n as f64 / rows).collect(),
        categories: counts.into_keys().map(str::to_string).collect(),
        column,
    })
}

/// A numeric value the model can use: NaN and infinities count as missing, like nulls (validate
/// stops a snapshot holding them unless the contract lets them through as a warning).
fn present(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}

/// The median of the values present (the mean of the two middle ones for an even count).
fn median(mut present: Vec<f64>) -> f64 {
    if present.is_empty() {
        return 0.0;
    }
    present.sort_by(f64::total_cmp);
    let mid = present.len() / 2;
    if present.len().is_multiple_of(2) {
        (present[mid - 1] + present[mid]) / 2.0
    } else {
        present[mid]
    }
}

impl Preprocessor {
    /// Learns the transform from training rows.
    pub fn fit(contract: &Contract, frame: &DataFrame) -> Result<Self, PreprocessError> {
        Ok(Self {
            numeric: contract
                .numeric_features()
                .into_iter()
                .map(|column| numeric_step(frame, column))
                .collect::<Result<_, _>>()?,
            categorical: contract
                .categorical_features()
                .into_iter()
                .map(|column| categorical_step(frame, column))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The names of the model's input columns, in order.
    pub fn output_names(&self) -> Vec<String> {
        self.numeric
            .iter()
            .map(|step| step.column.clone())
            .chain(self.categorical.iter().flat_map(|step| {
                step.categories
                    .iter()
                    .map(move |category| format!("{}={category}", step.column))
            }))
            .collect()
    }

    /// Applies the fitted transform to any frame with the feature columns. The matrix is
    /// column-major: it is filled a column at a time, and the logistic regression's products
    /// (`X w`, `X^T r`) go a column at a time over contiguous memory.
    pub fn transform(&self, frame: &DataFrame) -> Result<Array2<f64>, PreprocessError> {
        // The clone shares the columns: dropping them from it frees nothing of `frame`.
        self.transform_owned(frame.clone())
    }

    /// As [`Preprocessor::transform`], into cells of type `T` (`f32` halves a training matrix),
    /// letting go of each column of `frame` once it is encoded, so a frame the caller gives up
    /// is freed while the matrix fills.
    pub fn transform_owned<T: Cell>(
        &self,
        mut frame: DataFrame,
    ) -> Result<Array2<T>, PreprocessError> {
        let rows = frame.height();
        let width = self.output_names().len();
        let mut out = Array2::from_elem((rows, width).f(), T::from_f64(0.0));
        for (j, step) in self.numeric.iter().enumerate() {
            let values = cast_column(&frame, &step.column, &DataType::Float64)?;
            let values = values
                .f64()
                .map_err(|err| column_error(&step.column, err))?;
            for (cell, value) in out.column_mut(j).iter_mut().zip(values.iter()) {
                *cell =
                    T::from_f64((present(value).unwrap_or(step.median) - step.mean) / step.scale);
            }
            release(&mut frame, &step.column);
        }
        let mut offset = self.numeric.len();
        for step in &self.categorical {
            let values = cast_column(&frame, &step.column, &DataType::String)?;
            let values = values
                .str()
                .map_err(|err| column_error(&step.column, err))?;
            for (i, value) in values.iter().enumerate() {
                let value = value.unwrap_or(NULL_CATEGORY);
                if let Ok(position) = step
                    .categories
                    .binary_search_by(|category| category.as_str().cmp(value))
                {
                    out[(i, offset + position)] = T::from_f64(1.0);
                }
            }
            offset += step.categories.len();
            release(&mut frame, &step.column);
        }
        Ok(out)
    }
}

fn column_error(column: &str, err: PolarsError) -> PreprocessError {
    PreprocessError::Column {
        column: column.to_string(),
        reason: err.to_string(),
    }
}

/// Drops a column that has been encoded (its memory goes when no other frame shares it).
fn release(frame: &mut DataFrame, column: &str) {
    // The column was just read, so it is there; a feature listed twice is simply gone already.
    let _ = frame.drop_in_place(column);
}
