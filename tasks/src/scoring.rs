//! Scoring: the champion's churn probability for every customer of a snapshot, its risk tier by
//! thresholds from dags.toml, and the action recommended for that tier, as the risk frame the
//! warehouse and the exports take (columns [`crate::warehouse::RISK_COLUMNS`]).

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::contract::Contract;
use crate::economics::next_up;
use crate::identity::Role;
use crate::model::reasons::Reasons;
use crate::model::{ChurnModel, ModelError};
use crate::warehouse::TierCount;

/// One tier: customers with a probability at or above `min_probability` (and below the next
/// tier's) get `action`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub name: String,
    pub min_probability: f64,
    pub action: String,
    /// At most this many customers a day (the highest first); the rest fall to the tier below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<usize>,
}

/// The tiers, checked: thresholds in [0, 1], distinct, and one tier starting at 0 so every
/// customer gets one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tiers(Vec<Tier>);

#[derive(Debug, thiserror::Error)]
pub enum ScoringError {
    #[error("risk tiers: {0}")]
    Tiers(String),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("snapshot: {0}")]
    Frame(#[from] PolarsError),
    #[error("reasons: {0}")]
    Reasons(String),
    #[error("risk export: {0}")]
    Export(String),
    #[error(
        "the model gave {count} of {rows} customers a score that is not a number in [0, 1] \
         (e.g. {examples}); nothing was written"
    )]
    NotAProbability {
        count: usize,
        rows: usize,
        examples: String,
    },
}

impl Tiers {
    pub fn new(mut tiers: Vec<Tier>) -> Result<Self, ScoringError> {
        if let Some(bad) = tiers
            .iter()
            .find(|t| !(0.0..=1.0).contains(&t.min_probability))
        {
            return Err(ScoringError::Tiers(format!(
                "tier `{}`: min_probability {} is not in [0, 1]",
                bad.name, bad.min_probability
            )));
        }
        if let Some(bad) = tiers.iter().find(|t| t.capacity == Some(0)) {
            return Err(ScoringError::Tiers(format!(
                "tier `{}`: capacity 0 leaves it without customers",
                bad.name
            )));
        }
        let mut names: Vec<&str> = tiers.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(ScoringError::Tiers(format!(
                "two tiers are named `{}`",
                twice[0]
            )));
        }
        tiers.sort_by(|a, b| b.min_probability.total_cmp(&a.min_probability));
        if tiers
            .windows(2)
            .any(|w| w[0].min_probability == w[1].min_probability)
        {
            return Err(ScoringError::Tiers(
                "two tiers share a min_probability".to_string(),
            ));
        }
        if tiers.last().is_none_or(|t| t.min_probability != 0.0) {
            return Err(ScoringError::Tiers(
                "the lowest tier must start at min_probability = 0 so every customer has a tier"
                    .to_string(),
            ));
        }
        Ok(Self(tiers))
    }

    /// High (>= 0.7): call; medium (>= 0.4): offer; low: no action. On calibrated probabilities a
    /// high-tier customer churns at least 7 times in 10 without action: about 5 % of the demo
    /// customers, a list a retention team can call (0.6 gave 9 %, 0.5 gave 12 %).
    pub fn standard() -> Self {
        Self(vec![
            Tier {
                name: "high".into(),
                min_probability: 0.7,
                action: "call within 48 hours with a retention offer".into(),
                capacity: None,
            },
            Tier {
                name: "medium".into(),
                min_probability: 0.4,
                action: "send a personalised discount email".into(),
                capacity: None,
            },
            Tier {
                name: "low".into(),
                min_probability: 0.0,
                action: "no action".into(),
                capacity: None,
            },
        ])
    }

    /// These tiers with the cut-offs chosen from the actions' economics (`cut_offs`: tier name,
    /// cut-off, capacity), highest tier first. A tier without a cut-off keeps its own, lowered to
    /// the cut-off above it where that is lower (it is then empty); the lowest tier keeps 0. Two
    /// tiers may share a cut-off here: the higher one takes the customers. Returns what changed,
    /// a line a tier, for the log.
    pub fn with_cut_offs(
        &self,
        cut_offs: &[(String, f64, Option<usize>)],
    ) -> Result<(Self, Vec<String>), ScoringError> {
        if let Some((unknown, _, _)) = cut_offs
            .iter()
            .find(|(name, _, _)| !self.0.iter().any(|t| &t.name == name))
        {
            return Err(ScoringError::Tiers(format!(
                "an action is set for tier `{unknown}`, which the score stage does not have (its \
                 tiers: {})",
                self.0
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let mut tiers = Vec::with_capacity(self.0.len());
        let mut notes = Vec::new();
        let mut above = 1.0f64;
        let last = self.0.len() - 1;
        for (i, tier) in self.0.iter().enumerate() {
            let mut chosen = tier.clone();
            if i == last {
                chosen.min_probability = 0.0;
            } else if let Some((_, cut_off, capacity)) =
                cut_offs.iter().find(|(name, _, _)| *name == tier.name)
            {
                chosen.min_probability = cut_off.clamp(0.0, above);
                chosen.capacity = *capacity;
                notes.push(format!(
                    "{}: from {:.4} (typed {:.4}){}",
                    tier.name,
                    chosen.min_probability,
                    tier.min_probability,
                    capacity.map_or(String::new(), |c| format!(", at most {c} a day"))
                ));
            } else if tier.min_probability > above {
                chosen.min_probability = above;
                notes.push(format!(
                    "{}: typed {:.4} lies above the cut-off of the tier above; empty",
                    tier.name, tier.min_probability
                ));
            }
            above = chosen.min_probability;
            tiers.push(chosen);
        }
        Ok((Self(tiers), notes))
    }

    /// These tiers on one day's probabilities with every capacity kept: a tier holding more
    /// customers than its capacity raises its cut-off to the highest probabilities that fit (never
    /// splitting customers of equal probability), and the rest fall to the tiers below.
    pub fn within_capacity(&self, probabilities: &[f64]) -> Self {
        if self.0.iter().all(|t| t.capacity.is_none()) {
            return self.clone();
        }
        let mut sorted: Vec<f64> = probabilities.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let mut tiers = self.0.clone();
        let mut upper = f64::INFINITY;
        for tier in &mut tiers {
            if let Some(capacity) = tier.capacity {
                // The tier's customers are sorted[first..end): below `upper`, at or above its cut-off.
                let first = sorted.partition_point(|p| *p >= upper);
                let end = sorted.partition_point(|p| *p >= tier.min_probability);
                if end > first + capacity {
                    // The most customers within capacity that end between two distinct values.
                    let mut take = capacity;
                    while take > 0 && sorted[first + take] == sorted[first + take - 1] {
                        take -= 1;
                    }
                    tier.min_probability = if take == 0 {
                        next_up(sorted[first]).min(upper)
                    } else {
                        sorted[first + take - 1]
                    };
                }
            }
            upper = tier.min_probability;
        }
        Self(tiers)
    }

    /// These tiers for a `share` (0 to 1) of the customers: each capacity scaled to it (rounded,
    /// and at least 1, as a capacity must be), so that an arm serving a tenth of the customers
    /// calls a tenth of the capacity.
    pub fn with_capacity_share(&self, share: f64) -> Self {
        let mut tiers = self.0.clone();
        for tier in &mut tiers {
            if let Some(capacity) = tier.capacity {
                let scaled = (capacity as f64 * share.clamp(0.0, 1.0)).round() as usize;
                tier.capacity = Some(scaled.max(1));
            }
        }
        Self(tiers)
    }

    pub fn tiers(&self) -> &[Tier] {
        &self.0
    }

    /// The tier of a probability (the highest whose threshold it reaches).
    pub fn tier_of(&self, probability: f64) -> &Tier {
        &self.0[self.position_of(probability)]
    }

    /// Where the tier of a probability is in [`Tiers::tiers`].
    fn position_of(&self, probability: f64) -> usize {
        self.0
            .iter()
            .position(|t| probability >= t.min_probability)
            .unwrap_or(self.0.len() - 1)
    }

    /// Customers per tier of a risk frame (by its `risk_tier` column), highest tier first, tiers
    /// without customers left out: what the warehouse's `tier_counts` reports once the frame is
    /// loaded, without a GROUP BY over a million rows.
    pub fn counts(&self, frame: &DataFrame) -> Result<Vec<TierCount>, ScoringError> {
        let mut customers = vec![0i64; self.0.len()];
        let names = frame.column("risk_tier")?.str()?;
        for name in names.iter().flatten() {
            if let Some(position) = self.0.iter().position(|t| t.name == name) {
                customers[position] += 1;
            }
        }
        Ok(self
            .0
            .iter()
            .zip(customers)
            .filter(|(_, customers)| *customers > 0)
            .map(|(tier, customers)| TierCount {
                tier: tier.name.clone(),
                customers,
                action: tier.action.clone(),
            })
            .collect())
    }
}

/// The contract's CRM key columns of each row as one JSON object of text values (`{"email":
/// "a@example.com", "crm_id": "881"}`, null for a missing value), so that a CRM import can match
/// on them; a null column when the contract names none.
pub fn crm_keys_column(
    contract: &Contract,
    snapshot: &DataFrame,
    rows: usize,
) -> Result<Column, ScoringError> {
    if contract.crm_keys.is_empty() {
        return Ok(Column::full_null(
            CRM_KEYS_COLUMN.into(),
            rows,
            &DataType::String,
        ));
    }
    let values = contract
        .crm_keys
        .iter()
        .map(|name| {
            let column = snapshot.column(name)?.cast(&DataType::String)?;
            Ok((name.as_str(), column.str()?.clone()))
        })
        .collect::<Result<Vec<_>, PolarsError>>()?;
    let objects: Vec<String> = (0..rows)
        .map(|i| {
            let object: serde_json::Map<String, serde_json::Value> = values
                .iter()
                .map(|(name, column)| {
                    let value = column
                        .get(i)
                        .map_or(serde_json::Value::Null, |v| v.to_string().into());
                    (name.to_string(), value)
                })
                .collect();
            serde_json::Value::Object(object).to_string()
        })
        .collect();
    Ok(Column::new(CRM_KEYS_COLUMN.into(), objects))
}

/// The risk table's column of the contract's CRM keys.
pub const CRM_KEYS_COLUMN: &str = "crm_keys";

/// What identifies the scores of one run.
pub struct ScoreRun<'a> {
    pub score_date: &'a str,
    pub model: &'a str,
    pub model_version: i64,
    pub role: Role,
    /// When the rows were scored (ISO 8601, UTC).
    pub scored_at: &'a str,
}

/// Scores every row of `snapshot` (CPU work: call it off the async threads), with each
/// customer's top reasons when `reasons` holds them (see [`crate::model::reasons`]); the reason
/// columns are empty otherwise.
pub fn risk_frame(
    contract: &Contract,
    model: &ChurnModel,
    tiers: &Tiers,
    snapshot: &DataFrame,
    run: &ScoreRun<'_>,
    reasons: Option<Reasons>,
) -> Result<DataFrame, ScoringError> {
    let probabilities = model.predict(snapshot)?;
    let keys = snapshot.column(&contract.key)?.cast(&DataType::String)?;
    check_probabilities(&probabilities, keys.str()?)?;
    let tiers = tiers.within_capacity(&probabilities);
    let (names, actions): (Vec<&str>, Vec<&str>) = probabilities
        .iter()
        .map(|p| {
            let tier = tiers.tier_of(*p);
            (tier.name.as_str(), tier.action.as_str())
        })
        .unzip();
    let rows = probabilities.len();
    let scores: Vec<i64> = probabilities
        .iter()
        .map(|p| (p * 100.0).round() as i64)
        .collect();
    // Values every row shares are scalar columns: a million copies of the date, the model or a
    // null took about 150 MB before the CSV was written.
    let text = |name: &str, value: &str| {
        Column::new_scalar(
            name.into(),
            Scalar::new(DataType::String, AnyValue::StringOwned(value.into())),
            rows,
        )
    };
    let mut columns = vec![
        text("score_date", run.score_date),
        keys.with_name("customer_id".into()),
        Column::new("churn_probability".into(), probabilities),
        Column::new("risk_tier".into(), names),
        Column::new("recommended_action".into(), actions),
        text("model", run.model),
        Column::new_scalar(
            "model_version".into(),
            Scalar::new(DataType::Int64, AnyValue::Int64(run.model_version)),
            rows,
        ),
        text("role", run.role.as_str()),
    ];
    match reasons {
        Some(reasons) if reasons.rows() == rows => {
            let [t1, t2, t3] = reasons.texts;
            let [c1, c2, c3] = reasons.contributions;
            for (k, (texts, contributions)) in
                [(t1, c1), (t2, c2), (t3, c3)].into_iter().enumerate()
            {
                let name = format!("reason_{}", k + 1);
                columns.push(texts.with_name(name.as_str().into()).into_column());
                columns.push(
                    contributions
                        .with_name(format!("{name}_contribution").into())
                        .into_column(),
                );
            }
        }
        Some(reasons) => {
            return Err(ScoringError::Reasons(format!(
                "{} reasons for {rows} customers",
                reasons.rows()
            )));
        }
        None => {
            for k in 1..=3 {
                columns.push(Column::full_null(
                    format!("reason_{k}").into(),
                    rows,
                    &DataType::String,
                ));
                columns.push(Column::full_null(
                    format!("reason_{k}_contribution").into(),
                    rows,
                    &DataType::Float64,
                ));
            }
        }
    }
    columns.push(Column::new("churn_score".into(), scores));
    columns.push(Column::full_null(
        "previous_tier".into(),
        rows,
        &DataType::String,
    ));
    columns.push(Column::new_scalar(
        "tier_changed".into(),
        Scalar::new(DataType::Int64, AnyValue::Int64(1)),
        rows,
    ));
    columns.push(text("scored_at", run.scored_at));
    columns.push(crm_keys_column(contract, snapshot, rows)?);
    Ok(DataFrame::new(rows, columns)?)
}

/// Fills `previous_tier` and `tier_changed` from the risk rows of the day published before
/// (`previous`: `customer_id` and `risk_tier` columns): a customer it did not have has no previous
/// tier and counts as changed.
pub fn with_previous_tiers(
    mut frame: DataFrame,
    previous: &DataFrame,
) -> Result<DataFrame, ScoringError> {
    let before: std::collections::HashMap<&str, &str> = previous
        .column("customer_id")?
        .str()?
        .iter()
        .zip(previous.column("risk_tier")?.str()?.iter())
        .filter_map(|(key, tier)| Some((key?, tier?)))
        .collect();
    let keys = frame.column("customer_id")?.str()?.clone();
    let tiers = frame.column("risk_tier")?.str()?.clone();
    let previous_tiers: Vec<Option<&str>> = keys
        .iter()
        .map(|key| key.and_then(|k| before.get(k).copied()))
        .collect();
    let changed: Vec<i64> = previous_tiers
        .iter()
        .zip(tiers.iter())
        .map(|(before, now)| i64::from(*before != now))
        .collect();
    frame.with_column(Column::new("previous_tier".into(), previous_tiers))?;
    frame.with_column(Column::new("tier_changed".into(), changed))?;
    Ok(frame)
}

/// The rows whose tier (and so action) changed since the day published before: the delta a CRM
/// can import instead of the whole table.
pub fn delta(frame: &DataFrame) -> Result<DataFrame, ScoringError> {
    let changed = frame.column("tier_changed")?.i64()?.equal(1);
    Ok(frame.filter(&changed)?)
}

/// How many rows' tier changed since the day published before.
pub fn changed_rows(frame: &DataFrame) -> Result<usize, ScoringError> {
    Ok(frame
        .column("tier_changed")?
        .i64()?
        .equal(1)
        .sum()
        .unwrap_or(0) as usize)
}

/// The frame as its Parquet export types it: `score_date` a date, `scored_at` a UTC timestamp
/// (both the same for every row of a day's frame).
pub fn typed_for_parquet(frame: &DataFrame) -> Result<DataFrame, ScoringError> {
    let rows = frame.height();
    let text = |name: &str| -> Result<String, ScoringError> {
        if rows == 0 {
            return Ok(String::new());
        }
        match frame.column(name)?.get(0)? {
            AnyValue::String(v) => Ok(v.to_string()),
            AnyValue::StringOwned(v) => Ok(v.to_string()),
            other => Err(ScoringError::Export(format!("{name} is {other}, not text"))),
        }
    };
    let (date, at) = (text("score_date")?, text("scored_at")?);
    let days = if rows == 0 {
        0
    } else {
        let day = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            .map_err(|e| ScoringError::Export(format!("score_date `{date}`: {e}")))?;
        (day - chrono::NaiveDate::default()).num_days() as i32
    };
    let millis = if rows == 0 {
        0
    } else {
        chrono::DateTime::parse_from_rfc3339(&at)
            .map_err(|e| ScoringError::Export(format!("scored_at `{at}`: {e}")))?
            .timestamp_millis()
    };
    let mut typed = frame.clone();
    typed.with_column(Column::new_scalar(
        "score_date".into(),
        Scalar::new(DataType::Date, AnyValue::Date(days)),
        rows,
    ))?;
    typed.with_column(
        Int64Chunked::full("scored_at".into(), millis, rows)
            .into_datetime(TimeUnit::Milliseconds, Some(polars::prelude::TimeZone::UTC))
            .into_column(),
    )?;
    Ok(typed)
}

/// Refuses scores that are not probabilities (NaN, infinite, outside [0, 1]) before anything is
/// written: the CRM must never receive them, whatever reached the model.
fn check_probabilities(probabilities: &[f64], keys: &StringChunked) -> Result<(), ScoringError> {
    let bad: Vec<usize> = probabilities
        .iter()
        .enumerate()
        .filter(|(_, p)| !(0.0..=1.0).contains(*p))
        .map(|(i, _)| i)
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    let examples = bad
        .iter()
        .take(5)
        .map(|&i| {
            format!(
                "{} = {}",
                keys.get(i).unwrap_or("<no key>"),
                probabilities[i]
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    Err(ScoringError::NotAProbability {
        count: bad.len(),
        rows: probabilities.len(),
        examples,
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_arm_gets_its_share_of_each_capacity() {
        let tiers = Tiers::new(vec![
            Tier {
                name: "high".into(),
                min_probability: 0.7,
                action: "call".into(),
                capacity: Some(500),
            },
            Tier {
                name: "low".into(),
                min_probability: 0.0,
                action: "none".into(),
                capacity: None,
            },
        ])
        .unwrap();
        let scaled = tiers.with_capacity_share(0.05);
        assert_eq!(scaled.tiers()[0].capacity, Some(25));
        assert_eq!(scaled.tiers()[1].capacity, None);
        assert_eq!(
            tiers.with_capacity_share(0.0313).tiers()[0].capacity,
            Some(16)
        );
        // A small capacity never becomes none at all.
        assert_eq!(
            tiers.with_capacity_share(0.0001).tiers()[0].capacity,
            Some(1)
        );
    }

    use super::*;

    #[test]
    fn every_probability_falls_in_one_tier() {
        let tiers = Tiers::standard();
        assert_eq!(tiers.tier_of(0.95).name, "high");
        assert_eq!(tiers.tier_of(0.7).name, "high");
        assert_eq!(tiers.tier_of(0.69).name, "medium");
        assert_eq!(tiers.tier_of(0.0).name, "low");
    }

    #[test]
    fn counts_customers_per_tier_highest_first_leaving_out_empty_tiers() {
        let frame = DataFrame::new(
            4,
            vec![Column::new(
                "risk_tier".into(),
                ["high", "low", "high", "low"],
            )],
        )
        .unwrap();
        let counts = Tiers::standard().counts(&frame).unwrap();
        let summary: Vec<(&str, i64)> = counts
            .iter()
            .map(|c| (c.tier.as_str(), c.customers))
            .collect();
        assert_eq!(summary, [("high", 2), ("low", 2)]);
        assert_eq!(counts[1].action, "no action");
    }

    #[test]
    fn scores_that_are_not_probabilities_are_refused_naming_customers() {
        let keys = StringChunked::from_slice("id".into(), &["a", "b", "c", "d"]);
        assert!(check_probabilities(&[0.0, 0.5, 1.0, 0.25], &keys).is_ok());
        let err = check_probabilities(&[0.1, f64::NAN, f64::INFINITY, 1.5], &keys).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the model gave 3 of 4 customers a score that is not a number in [0, 1] \
             (e.g. b = NaN, c = inf, d = 1.5); nothing was written"
        );
    }

    #[test]
    fn the_parquet_export_types_dates_and_a_utc_timestamp() {
        let frame = DataFrame::new(
            1,
            vec![
                Column::new("score_date".into(), ["2026-12-04"]),
                Column::new("scored_at".into(), ["2026-12-04T02:31:05.250Z"]),
            ],
        )
        .unwrap();
        let typed = typed_for_parquet(&frame).unwrap();
        assert_eq!(typed.column("score_date").unwrap().dtype(), &DataType::Date);
        let at = typed.column("scored_at").unwrap();
        assert_eq!(
            at.dtype(),
            &DataType::Datetime(TimeUnit::Milliseconds, Some(polars::prelude::TimeZone::UTC))
        );
        let millis = at.cast(&DataType::Int64).unwrap();
        // 2026-12-04T02:31:05.250Z
        assert_eq!(millis.i64().unwrap().get(0), Some(1_796_351_465_250));
    }

    #[test]
    fn tiers_without_a_floor_are_refused() {
        let err = Tiers::new(vec![Tier {
            name: "high".into(),
            min_probability: 0.5,
            action: "call".into(),
            capacity: None,
        }])
        .unwrap_err();
        assert!(err.to_string().contains("lowest tier"), "{err}");
    }

    #[test]
    fn tiers_named_twice_are_refused() {
        let mut tiers = Tiers::standard().tiers().to_vec();
        tiers[1].name = "high".into();
        let err = Tiers::new(tiers).unwrap_err();
        assert!(
            err.to_string().contains("two tiers are named `high`"),
            "{err}"
        );
    }

    fn thresholds(tiers: &Tiers) -> Vec<f64> {
        tiers.tiers().iter().map(|t| t.min_probability).collect()
    }

    #[test]
    fn cut_offs_from_costs_replace_the_typed_ones_and_stay_in_order() {
        let standard = Tiers::standard();
        let (tiers, notes) = standard
            .with_cut_offs(&[("high".into(), 0.25, Some(2))])
            .unwrap();
        // The medium tier's typed 0.4 lies above the new high cut-off: it is empty.
        assert_eq!(thresholds(&tiers), vec![0.25, 0.25, 0.0]);
        assert_eq!(tiers.tiers()[0].capacity, Some(2));
        assert_eq!(tiers.tier_of(0.3).name, "high");
        assert_eq!(tiers.tier_of(0.2).name, "low");
        assert_eq!(notes.len(), 2, "{notes:?}");

        let err = standard
            .with_cut_offs(&[("urgent".into(), 0.5, None)])
            .unwrap_err();
        assert!(err.to_string().contains("tier `urgent`"), "{err}");
    }

    #[test]
    fn a_tier_over_capacity_keeps_its_highest_customers_and_never_splits_a_tie() {
        let (tiers, _) = Tiers::standard()
            .with_cut_offs(&[
                ("high".into(), 0.5, Some(2)),
                ("medium".into(), 0.3, Some(3)),
            ])
            .unwrap();
        let probabilities = [0.9, 0.8, 0.8, 0.7, 0.6, 0.45, 0.45, 0.35, 0.1];
        let capped = tiers.within_capacity(&probabilities);
        let names: Vec<&str> = probabilities
            .iter()
            .map(|p| capped.tier_of(*p).name.as_str())
            .collect();
        // High: two places, but 0.8 is tied, so one customer (0.9). Medium: 0.8, 0.8, 0.7 fill
        // its three places; 0.6 and below fall to low.
        assert_eq!(
            names,
            vec![
                "high", "medium", "medium", "medium", "low", "low", "low", "low", "low"
            ]
        );
        // Within capacity already: nothing changes.
        let roomy = Tiers::standard().within_capacity(&probabilities);
        assert_eq!(roomy, Tiers::standard());
    }
}
