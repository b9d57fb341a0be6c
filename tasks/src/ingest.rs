//! Ingest: a user's CSV or Parquet export becomes a snapshot partition (features, and labels when
//! the file has the label column) for a given snapshot date. Types are coerced by the contract; a
//! value that does not parse (a blank or `n/a` in a numeric column) becomes a null that is counted
//! per column and reported, never a crash. Whether the result meets the contract is the validate
//! stage's call, not ingest's: ingest refuses only a file it cannot stand behind as the snapshot of
//! that date: one without the key column, one without rows (it would replace a day's history with
//! nothing), and one whose snapshot column holds another date than the one given.

use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;

use crate::contract::{ColumnType, Contract};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnCoercion {
    pub column: String,
    /// Values present in the file that did not parse as the contract's type.
    pub unparsed: usize,
    /// Nulls after coercion (unparsed values included).
    pub nulls: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestReport {
    pub rows: usize,
    pub columns: Vec<ColumnCoercion>,
    /// Contract columns the file does not have (validate will report them).
    pub missing: Vec<String>,
    /// File columns the contract does not know (kept out of the snapshot).
    pub ignored: Vec<String>,
    /// Whether the file held the label column (and so a labels partition was made).
    pub labelled: bool,
}

/// A coerced snapshot, ready for the object store.
pub struct Ingested {
    pub features: DataFrame,
    pub labels: Option<DataFrame>,
    pub report: IngestReport,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{file}: cannot read it as {format}: {reason}")]
    Read {
        file: String,
        format: &'static str,
        reason: String,
    },
    #[error("{file}: unsupported file type; use .csv or .parquet")]
    Format { file: String },
    #[error("{file}: has no key column `{key}` (the contract's key); its columns are: {columns}")]
    NoKey {
        file: String,
        key: String,
        columns: String,
    },
    #[error("{file}: has no rows; a snapshot needs at least one customer")]
    Empty { file: String },
    #[error(
        "{file}: column `{column}` holds {count} row(s) with another date than --date {expected} \
         (e.g. {examples}); ingest each snapshot date separately"
    )]
    OtherDate {
        file: String,
        column: String,
        expected: NaiveDate,
        count: usize,
        examples: String,
    },
    #[error("{file}: column `{column}`: {reason}")]
    Column {
        file: String,
        column: String,
        reason: String,
    },
}

/// Reads a CSV (every column as text, so nothing is guessed) or a Parquet file.
pub fn read_file(path: &Path) -> Result<DataFrame, IngestError> {
    let file = path.display().to_string();
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "csv" => CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|reader| reader.finish())
            .map_err(|err| IngestError::Read {
                file,
                format: "CSV",
                reason: err.to_string(),
            }),
        "parquet" | "pq" => std::fs::File::open(path)
            .map_err(PolarsError::from)
            .and_then(|f| ParquetReader::new(f).finish())
            .map_err(|err| IngestError::Read {
                file,
                format: "Parquet",
                reason: err.to_string(),
            }),
        _ => Err(IngestError::Format { file }),
    }
}

fn target_type(kind: ColumnType) -> DataType {
    match kind {
        ColumnType::String => DataType::String,
        ColumnType::Int => DataType::Int64,
        ColumnType::Float => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Date => DataType::Date,
    }
}

/// One column cast to `target`, non-strictly: what does not parse becomes null. Text is trimmed
/// first and blanks count as missing, not as unparsed.
fn coerce_column(column: &Column, target: &DataType) -> PolarsResult<(Column, usize)> {
    let present = if column.dtype() == &DataType::String {
        let blanks_as_null: StringChunked = column
            .str()?
            .iter()
            .map(|v| v.map(str::trim).filter(|s| !s.is_empty()))
            .collect();
        blanks_as_null
            .with_name(column.name().clone())
            .into_column()
    } else {
        column.clone()
    };
    let before = present.null_count();
    let cast = if target == &DataType::Boolean && present.dtype() == &DataType::String {
        // polars does not parse text as booleans; true/false in any case do.
        let parsed: BooleanChunked = present
            .str()?
            .iter()
            .map(|v| match v.map(str::to_ascii_lowercase).as_deref() {
                Some("true") => Some(true),
                Some("false") => Some(false),
                _ => None,
            })
            .collect();
        parsed.with_name(column.name().clone()).into_column()
    } else {
        // `cast` is polars' non-strict cast: what does not parse becomes null.
        present.cast(target)?
    };
    let unparsed = cast.null_count() - before;
    Ok((cast, unparsed))
}

/// Refuses a snapshot column holding dates other than `expected`; blanks are taken as `expected`.
fn check_snapshot_dates(
    dates: &Column,
    expected: NaiveDate,
    file: &str,
    column: &str,
) -> Result<(), IngestError> {
    let (parsed, _) = coerce_column(dates, &DataType::Date).map_err(|err| IngestError::Column {
        file: file.to_string(),
        column: column.to_string(),
        reason: err.to_string(),
    })?;
    let as_text = dates
        .cast(&DataType::String)
        .ok()
        .and_then(|c| c.str().ok().cloned());
    let parsed = parsed.date().map_err(|err| IngestError::Column {
        file: file.to_string(),
        column: column.to_string(),
        reason: err.to_string(),
    })?;
    // polars keeps a date as days since 1970-01-01.
    let expected_days = (expected - chrono::DateTime::UNIX_EPOCH.date_naive()).num_days();
    let mut count = 0;
    let mut examples = Vec::new();
    for (i, day) in parsed.physical().iter().enumerate() {
        let original = as_text.as_ref().and_then(|t| t.get(i).map(str::trim));
        let differs = match day {
            Some(day) => i64::from(day) != expected_days,
            // Text that is not a date at all is another date too; a blank is not.
            None => original.is_some_and(|text| !text.is_empty()),
        };
        if differs {
            count += 1;
            if examples.len() < 3 {
                examples.push(original.unwrap_or("?").chars().take(40).collect::<String>());
            }
        }
    }
    if count == 0 {
        return Ok(());
    }
    Err(IngestError::OtherDate {
        file: file.to_string(),
        column: column.to_string(),
        expected,
        count,
        examples: examples.join(", "),
    })
}

/// Coerces `frame` (read from `file`) to the contract for `snapshot_date`.
pub fn coerce(
    contract: &Contract,
    frame: DataFrame,
    snapshot_date: NaiveDate,
    file: &str,
) -> Result<Ingested, IngestError> {
    let names: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    if !names.contains(&contract.key) {
        return Err(IngestError::NoKey {
            file: file.to_string(),
            key: contract.key.clone(),
            columns: names.join(", "),
        });
    }
    let column_error = |column: &str, err: PolarsError| IngestError::Column {
        file: file.to_string(),
        column: column.to_string(),
        reason: err.to_string(),
    };
    let rows = frame.height();
    if rows == 0 {
        return Err(IngestError::Empty {
            file: file.to_string(),
        });
    }
    if let Ok(dates) = frame.column(&contract.snapshot_column) {
        check_snapshot_dates(dates, snapshot_date, file, &contract.snapshot_column)?;
    }
    let mut columns = Vec::new();
    let mut coerced = Vec::new();
    let mut missing = Vec::new();
    for (name, spec) in &contract.columns {
        if name == &contract.snapshot_column {
            // The file's dates agree with it (checked above), or the file has none.
            coerced.push(Column::new(name.into(), vec![snapshot_date; rows]));
            continue;
        }
        let Ok(column) = frame.column(name) else {
            missing.push(name.clone());
            continue;
        };
        let (cast, unparsed) =
            coerce_column(column, &target_type(spec.kind)).map_err(|e| column_error(name, e))?;
        columns.push(ColumnCoercion {
            column: name.clone(),
            unparsed,
            nulls: cast.null_count(),
        });
        coerced.push(cast);
    }
    let features = DataFrame::new(rows, coerced).map_err(|e| column_error("(all)", e))?;
    let labels = match frame.column(&contract.label) {
        Ok(label) => {
            let (label, _) = coerce_column(label, &DataType::String)
                .map_err(|e| column_error(&contract.label, e))?;
            let key = features
                .column(&contract.key)
                .map_err(|e| column_error(&contract.key, e))?
                .clone();
            Some(
                DataFrame::new(
                    rows,
                    vec![
                        key,
                        Column::new(
                            contract.snapshot_column.as_str().into(),
                            vec![snapshot_date; rows],
                        ),
                        label,
                    ],
                )
                .map_err(|e| column_error(&contract.label, e))?,
            )
        }
        Err(_) => None,
    };
    let ignored = names
        .into_iter()
        .filter(|n| !contract.columns.contains_key(n) && n != &contract.label)
        .collect();
    Ok(Ingested {
        features,
        labels: labels.clone(),
        report: IngestReport {
            rows,
            columns,
            missing,
            ignored,
            labelled: labels.is_some(),
        },
    })
}
