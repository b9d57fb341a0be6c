//! The figures behind the report's charts, gathered from what the other stages stored (drift
//! rows, the scoring model's validation metrics, earlier reports' summaries, realised
//! performance), and drawn by `tasks::charts` off the async workers. A chart that cannot be
//! drawn is left out with a log line: the report still goes out.

use tasks::charts::{self, Chart, DriftBar, PerformancePoint, TierDay};
use tasks::drift::Histogram;
use tasks::identity::Role;
use tasks::metrics::Metrics;
use tasks::report::{ReportData, ReportSummary};
use tasks::storage::DataStore;
use tasks::warehouse::Warehouse;

/// Runs the tier chart covers, today's included.
pub const TIER_HISTORY_RUNS: usize = 30;
/// Score dates the performance trend covers.
const PERFORMANCE_DATES: i64 = 30;
/// Inputs the drift chart shows, most drifted first.
const DRIFT_BARS: usize = 12;

/// Where a report and its summary are stored.
pub fn report_prefix(dag: &str, date: &str) -> String {
    format!("reports/{dag}/{date}")
}
pub const REPORT_FILE: &str = "report.html";
pub const SUMMARY_FILE: &str = "summary.json";

/// What the charts draw.
#[derive(Debug, Default)]
pub struct ChartInputs {
    pub score_histogram: Option<Histogram>,
    pub validation: Option<Metrics>,
    pub tier_days: Vec<TierDay>,
    pub trend: Vec<PerformancePoint>,
    pub floor: Option<f64>,
    pub drift: Vec<DriftBar>,
}

impl ChartInputs {
    /// The inputs of `data`'s night: `validation` is the scoring model's validation metrics,
    /// `floor` the outcome policy's ROC AUC floor.
    pub async fn gather(
        store: &DataStore,
        warehouse: &Warehouse,
        data: &ReportData,
        validation: Option<Metrics>,
        floor: Option<f64>,
    ) -> anyhow::Result<Self> {
        let score_histogram = data
            .drift
            .iter()
            .find(|row| row.kind == "prediction")
            .and_then(|row| row.drift.histogram.clone());
        let drift = data
            .drift
            .iter()
            .map(|row| DriftBar {
                feature: if row.kind == "prediction" {
                    "(the score)".to_string()
                } else {
                    row.drift.feature.clone()
                },
                psi: row.drift.psi,
                severity: row.drift.severity,
            })
            .collect();
        let trend = warehouse
            .realised_history(&data.model, Role::Champion, "roc_auc", PERFORMANCE_DATES)
            .await?
            .into_iter()
            .filter_map(|row| {
                Some(PerformancePoint {
                    date: row.score_date,
                    realised: row.realised?,
                    estimated: row.estimated,
                })
            })
            .collect();
        Ok(Self {
            score_histogram,
            validation,
            tier_days: tier_days(store, data).await?,
            trend,
            floor,
            drift,
        })
    }

    /// Every chart there are figures for, in the order the report shows them.
    pub fn draw(&self) -> (Vec<Chart>, Vec<String>) {
        let validation = self.validation.as_ref();
        let attempts = [
            charts::tier_history(&self.tier_days),
            charts::cumulative_gains(validation.map_or(&[], |m| m.gains.as_slice())),
            charts::reliability(validation.map_or(&[], |m| m.reliability.as_slice())),
            charts::performance_trend(&self.trend, self.floor),
            charts::drift_effects(&self.drift, DRIFT_BARS),
            match &self.score_histogram {
                Some(histogram) => charts::score_distribution(histogram),
                None => Ok(None),
            },
        ];
        let mut drawn = Vec::new();
        let mut failed = Vec::new();
        for attempt in attempts {
            match attempt {
                Ok(Some(chart)) => drawn.push(chart),
                Ok(None) => {}
                Err(err) => failed.push(err.to_string()),
            }
        }
        (drawn, failed)
    }
}

/// Customers per tier of the last runs' reports of this DAG before `data`'s date (from their
/// summaries), then `data`'s own.
async fn tier_days(store: &DataStore, data: &ReportData) -> anyhow::Result<Vec<TierDay>> {
    let prefix = format!("reports/{}/", data.dag);
    let mut earlier: Vec<String> = store
        .list(&prefix)
        .await?
        .into_iter()
        .filter_map(|key| {
            let date = key.strip_prefix(&prefix)?.strip_suffix(SUMMARY_FILE)?;
            let date = date.strip_suffix('/')?;
            (date < data.logical_date.as_str()).then(|| date.to_string())
        })
        .collect();
    earlier.sort();
    let keep = earlier.len().saturating_sub(TIER_HISTORY_RUNS - 1);
    let mut days = Vec::new();
    for date in &earlier[keep..] {
        let key = format!("{}/{SUMMARY_FILE}", report_prefix(&data.dag, date));
        // A summary that cannot be read leaves a gap, not a failed report.
        let Ok(bytes) = store.get_bytes(&key).await else {
            continue;
        };
        let Ok(summary) = serde_json::from_slice::<ReportSummary>(&bytes) else {
            continue;
        };
        if !summary.tiers.is_empty() {
            days.push(TierDay {
                date: summary.logical_date,
                tiers: summary.tiers,
            });
        }
    }
    let today = data.summary();
    if !today.tiers.is_empty() {
        days.push(TierDay {
            date: today.logical_date,
            tiers: today.tiers,
        });
    }
    Ok(days)
}
