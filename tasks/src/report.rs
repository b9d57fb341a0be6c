//! The nightly report: an HTML page rendered with minijinja from a template in `reports/`. The
//! template is named `*.html`, so minijinja escapes every value it prints: customer-supplied text
//! (keys, categories, actions) cannot inject markup.

use std::collections::BTreeMap;

use minijinja::Environment;
use serde::Serialize;

use crate::charts::Chart;

use crate::drift::Severity;
use crate::warehouse::{DriftRow, RiskRow};

/// The report template shipped with churnflow (`reports/nightly_report.html`).
pub const DEFAULT_TEMPLATE: &str = include_str!("../../reports/nightly_report.html");

#[derive(Debug, Clone, Serialize)]
pub struct TaskLine {
    pub task: String,
    pub state: String,
    pub attempts: i64,
    pub seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricLine {
    /// The metric as a person reads it ("ROC AUC").
    pub metric: String,
    /// What it means, in a few words.
    #[serde(default)]
    pub meaning: String,
    /// One value per candidate family, in the order of [`ReportData::candidate_families`].
    pub candidates: Vec<Option<f64>>,
    pub champion: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TierLine {
    pub tier: String,
    pub customers: i64,
    pub share: f64,
    pub action: String,
    /// Customers in this tier on the day published before, when there is one.
    #[serde(default)]
    pub previous: Option<i64>,
}

impl ReportData {
    /// The email's subject line after the tag: the date, the top tier's customers and their
    /// change since the day published before ("Churn risk 2026-12-04: 1,629 high risk (+434)").
    pub fn headline(&self) -> String {
        let Some(top) = self.tiers.first() else {
            return format!("Churn risk {}: no customers scored", self.logical_date);
        };
        let change = match top.previous {
            Some(before) => format!(" ({:+})", top.customers - before),
            None => String::new(),
        };
        format!(
            "Churn risk {}: {} {} risk{change}",
            self.logical_date,
            thousands(top.customers),
            top.tier
        )
    }
}

impl ReportData {
    /// The email's text part: the report's summary in words and numbers, for readers whose mail
    /// program shows no HTML (and for previews).
    pub fn plain_text(&self) -> String {
        let mut out = format!(
            "Churn risk report for {} ({})\n\n",
            self.logical_date, self.dag
        );
        if let Some(glance) = &self.glance {
            out.push_str(&format!("{}\n", glance.verdict));
            for line in &glance.findings {
                out.push_str(&format!("- {line}\n"));
            }
            if let Some(day) = self.previous_date.as_ref().filter(|_| glance.compared) {
                out.push_str(&format!(
                    "{} customers moved to a riskier tier since {day}, {} to a safer one.\n",
                    thousands(glance.moved_up),
                    thousands(glance.moved_down)
                ));
            }
            if let Some(value) = glance.expected_value {
                out.push_str(&format!(
                    "Acting on today's lists is expected to earn {} after the cost of contacts \
                     and offers.\n",
                    money(value)
                ));
            }
            out.push('\n');
        }
        if self.tiers.is_empty() {
            out.push_str("No customers were scored for this date.\n");
        } else {
            let mut model = match self.champion_version {
                Some(v) => format!("{} v{v}", self.model),
                None => self.model.clone(),
            };
            if let Some(canary) = &self.canary {
                model.push_str(&format!(
                    " ({} of them with v{}, the canary)",
                    thousands(canary.customers as i64),
                    canary.version
                ));
            }
            out.push_str(&format!(
                "{} customers scored with {model}.\nWhat to do:\n",
                thousands(self.scored)
            ));
            for tier in &self.tiers {
                let change = match (tier.previous, &self.previous_date) {
                    (Some(before), Some(day)) => {
                        format!(", {:+} since {day}", tier.customers - before)
                    }
                    _ => String::new(),
                };
                out.push_str(&format!(
                    "- {}: {} customers ({:.1}%{change}): {}\n",
                    tier.tier,
                    thousands(tier.customers),
                    tier.share * 100.0,
                    tier.action
                ));
            }
        }
        if !self.actions.is_empty() {
            out.push_str("\nWhat the actions are worth (on customers whose outcome is known):\n");
            for a in &self.actions {
                out.push_str(&format!(
                    "- {}: from {} (pays from {}{}), {:.1}% of customers, profit {:.2} per \
                     customer\n",
                    a.tier,
                    probability_text(a.cut_off),
                    probability_text(a.break_even),
                    match (a.capacity_bound, a.capacity) {
                        (true, Some(c)) => format!("; held by the capacity of {c} a day"),
                        _ => String::new(),
                    },
                    a.share * 100.0,
                    a.profit_per_customer
                ));
            }
        }
        if let Some(o) = &self.outcomes {
            out.push_str(&format!(
                "\nHow the scores of {} did, now that {} customers' outcomes are known:\n",
                o.score_date,
                thousands(o.rows as i64)
            ));
            for (metric, realised, estimated) in &o.metrics {
                out.push_str(&format!(
                    "- {metric}: {realised:.3}{}\n",
                    estimated.map_or(String::new(), |e| format!(" (estimated {e:.3} that night)"))
                ));
            }
            if let Some(reason) = &o.below_policy {
                out.push_str(&format!("- BELOW POLICY: {reason}\n"));
            }
        }
        out.push_str("\nCan these scores be trusted?\n");
        for slice in &self.slices {
            if !slice.failure_slices.is_empty() {
                out.push_str(&format!(
                    "- Weaker for some {} values: {} (the model ranks those customers less well \
                     than the rest).\n",
                    slice.column,
                    slice.failure_slices.join(", ")
                ));
            }
        }
        if let Some(p) = &self.publication {
            out.push_str(&if p.published {
                "- Sent to the CRM: yes.\n".to_string()
            } else {
                format!(
                    "- Sent to the CRM: NO. {}. The CRM keeps the scores of {}.\n",
                    p.reason,
                    if p.crm_shows.is_empty() {
                        "no day"
                    } else {
                        &p.crm_shows
                    }
                )
            });
        }
        let high: Vec<&str> = self
            .drift
            .iter()
            .filter(|r| r.drift.severity == Severity::High)
            .map(|r| r.drift.feature.as_str())
            .collect();
        out.push_str(&format!(
            "- Change in the data since training: {}{}.\n",
            self.max_drift.as_str(),
            if high.is_empty() {
                String::new()
            } else {
                format!(" (large in {})", high.join(", "))
            }
        ));
        if let Some(v) = &self.validation {
            out.push_str(&format!(
                "- Data checks: {} ({} finding(s) on {} rows).\n",
                if v.passed { "passed" } else { "FAILED" },
                v.violations.len(),
                thousands(v.rows)
            ));
        }
        if let Some(g) = &self.gate {
            out.push_str(&if g.passed {
                format!(
                    "- Model: the new {} candidate passed the promotion gate.\n",
                    g.family
                )
            } else {
                format!(
                    "- Model: the new {} candidate was rejected; the champion stays.\n",
                    g.family
                )
            });
        }
        if !self.top.is_empty() {
            out.push_str(&format!(
                "\nThe {} customers most at risk:\n",
                self.top.len()
            ));
            for (rank, row) in self.top.iter().enumerate() {
                out.push_str(&format!(
                    "{:>3}. {}  {}  {}  {}\n",
                    rank + 1,
                    row.customer_id,
                    probability_text(row.churn_probability),
                    row.risk_tier,
                    row.reasons.join("; ")
                ));
            }
        }
        if let Some(export) = &self.risk_export {
            out.push_str(&format!("\nThe full risk table: {export}\n"));
        }
        out.push_str("The HTML version of this email has the details for the data team.\n");
        out
    }
}

/// A probability as a percentage that never shows a certainty: one decimal would round 0.9996
/// up to 100.0%.
pub fn probability_text(value: f64) -> String {
    match value {
        v if v >= 0.9995 => ">99.9%".to_string(),
        v if v > 0.0 && v < 0.0005 => "<0.1%".to_string(),
        v => format!("{:.1}%", v * 100.0),
    }
}

/// An amount in whole units of the costs' currency, with thousands separated ("-1,660").
pub fn money(value: f64) -> String {
    if !value.is_finite() {
        return "-".to_string();
    }
    thousands(value.round() as i64)
}

/// 1629 as "1,629".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[derive(Debug, Clone, Serialize)]
pub struct ValidationSummary {
    pub rows: i64,
    pub passed: bool,
    pub violations: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GateSummary {
    pub passed: bool,
    /// The family the gate judged, as people read it.
    pub family: String,
    /// Why that family was preferred over the others, then the policy's rules.
    pub reasons: Vec<String>,
}

/// Everything the report shows.
#[derive(Debug, Clone, Serialize)]
pub struct ReportData {
    pub dag: String,
    pub logical_date: String,
    pub run_id: i64,
    pub generated_at: String,
    pub tasks: Vec<TaskLine>,
    pub validation: Option<ValidationSummary>,
    pub model: String,
    pub candidate_version: Option<i64>,
    pub champion_version: Option<i64>,
    /// The families fitted this run (display names), the metric table's candidate columns.
    pub candidate_families: Vec<String>,
    pub metrics: Vec<MetricLine>,
    pub gate: Option<GateSummary>,
    pub scored: i64,
    pub tiers: Vec<TierLine>,
    pub top: Vec<RiskRow>,
    pub drift: Vec<DriftRow>,
    pub max_drift: Severity,
    pub risk_export: Option<String>,
    /// The day published before this one, which the tiers' changes compare with.
    #[serde(default)]
    pub previous_date: Option<String>,
    /// Whether the day's scores reached the CRM (the publish stage's decision), when it ran.
    #[serde(default)]
    pub publication: Option<PublicationSummary>,
    /// What each retention action is worth for the model that scored (when the DAG states the
    /// actions' economics), from tonight's validation rows.
    #[serde(default)]
    pub actions: Vec<ActionLine>,
    /// How the model that scored does per group of each slice column of the contract.
    #[serde(default)]
    pub slices: Vec<SliceLine>,
    /// The shadow model scored beside the champion tonight, and how far they agree.
    #[serde(default)]
    pub shadow: Option<crate::warehouse::ShadowRecord>,
    /// How the scores of the day one horizon ago did, now that its labels have landed.
    #[serde(default)]
    pub outcomes: Option<OutcomeLine>,
    /// The canary that served some customers in the CRM tonight.
    #[serde(default)]
    pub canary: Option<CanaryLine>,
    /// Requests of the model still open after tonight (decay or drift asking the next run for a
    /// retrain, a recalibration or new cut-offs), and those tonight's training met.
    #[serde(default)]
    pub requests_open: Vec<crate::warehouse::ModelRequest>,
    #[serde(default)]
    pub requests_met: Vec<crate::warehouse::ModelRequest>,
    /// The charts drawn tonight, by id (`score_distribution`, `reliability`, `cumulative_gains`,
    /// `tier_history`, `performance_trend`, `drift_effects`); a chart without data is absent.
    #[serde(default)]
    pub charts: BTreeMap<String, ChartImage>,
    /// The top of the report: can today's scores be acted on, what changed, what the actions are
    /// expected to earn.
    #[serde(default)]
    pub glance: Option<crate::glance::Glance>,
}

/// A chart as the template places it.
#[derive(Debug, Clone, Serialize)]
pub struct ChartImage {
    pub alt: String,
    pub width: u32,
    pub height: u32,
    /// A `data:` URI in the stored report (one file that shows everywhere), a `cid:` reference to
    /// the email's inline part in the email (mail programs show those without loading anything).
    pub src: String,
}

/// Where a rendering's images come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSource {
    /// Inside the page, as base64 `data:` URIs.
    Embedded,
    /// From the email's `multipart/related` parts, by `Content-ID` (the chart's id).
    ContentId,
}

/// The `Content-ID` of `chart`'s part in the email (globally unique in form, as RFC 2392 asks).
pub fn content_id(chart: &Chart) -> String {
    format!("{}@churnflow", chart.id)
}

/// The template's view of `charts`, with each image's source as `source` says.
pub fn chart_images(charts: &[Chart], source: ImageSource) -> BTreeMap<String, ChartImage> {
    use base64::Engine as _;
    charts
        .iter()
        .map(|chart| {
            let src = match source {
                ImageSource::Embedded => format!(
                    "data:image/png;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(&chart.png)
                ),
                ImageSource::ContentId => format!("cid:{}", content_id(chart)),
            };
            let image = ChartImage {
                alt: chart.alt.clone(),
                width: chart.width,
                height: chart.height,
                src,
            };
            (chart.id.clone(), image)
        })
        .collect()
}

/// What each report keeps of its night for later reports' trends (`summary.json` beside the
/// report): the customers per tier, riskiest first.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ReportSummary {
    pub logical_date: String,
    pub scored: i64,
    pub tiers: Vec<(String, i64)>,
}

impl ReportData {
    pub fn summary(&self) -> ReportSummary {
        ReportSummary {
            logical_date: self.logical_date.clone(),
            scored: self.scored,
            tiers: self
                .tiers
                .iter()
                .map(|t| (t.tier.clone(), t.customers))
                .collect(),
        }
    }
}

/// A canary's night: the version the CRM was served for its customers.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryLine {
    pub version: i64,
    pub customers: usize,
    pub share: f64,
}

/// How one arm's served rows did once their labels landed.
#[derive(Debug, Clone, Serialize)]
pub struct ArmLine {
    pub model_version: i64,
    pub rows: usize,
    pub roc_auc: Option<f64>,
}

/// The realised performance of scores sent one horizon ago, beside that night's estimate.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeLine {
    pub score_date: String,
    pub model_version: i64,
    pub rows: usize,
    /// (metric as people read it, realised, estimated that night)
    pub metrics: Vec<(String, f64, Option<f64>)>,
    pub below_policy: Option<String>,
    /// The canary's arm that day, when one served some customers (the figures above are then
    /// the champion's arm's).
    #[serde(default)]
    pub canary: Option<ArmLine>,
}

/// One slice column, as the report tells it.
#[derive(Debug, Clone, Serialize)]
pub struct SliceLine {
    pub column: String,
    pub threshold: f64,
    pub groups: usize,
    pub demographic_parity_difference: f64,
    pub equalized_odds_difference: f64,
    /// "BR (ROC AUC 0.544)" for each failure slice.
    pub failure_slices: Vec<String>,
    /// The lowest and highest ROC AUC over the groups that have both classes.
    pub lowest_roc_auc: Option<f64>,
    pub highest_roc_auc: Option<f64>,
}

impl SliceLine {
    pub fn from_report(report: &crate::fairness::SliceReport) -> Self {
        let aucs: Vec<f64> = report.groups.iter().filter_map(|g| g.roc_auc).collect();
        Self {
            column: report.column.clone(),
            threshold: report.threshold,
            groups: report.groups.len(),
            demographic_parity_difference: report.demographic_parity_difference,
            equalized_odds_difference: report.equalized_odds_difference,
            failure_slices: report
                .failure_slices
                .iter()
                .map(|(value, auc)| format!("{value} (ROC AUC {auc:.3})"))
                .collect(),
            lowest_roc_auc: aucs.iter().copied().reduce(f64::min),
            highest_roc_auc: aucs.iter().copied().reduce(f64::max),
        }
    }
}

/// One retention action's cut-off and profit, as the report tells it.
#[derive(Debug, Clone, Serialize)]
pub struct ActionLine {
    pub tier: String,
    /// The cut-off that maximises the action's profit, and where acting starts to pay.
    pub cut_off: f64,
    pub break_even: f64,
    pub capacity: Option<usize>,
    pub capacity_bound: bool,
    /// On the validation rows: the share of customers acted on, the profit per customer of all
    /// and the expected maximum profit per customer.
    pub share: f64,
    pub profit_per_customer: f64,
    pub emp_per_customer: f64,
}

impl ActionLine {
    pub fn from_plan(plan: &crate::economics::ActionPlan) -> Self {
        Self {
            tier: plan.action.tier.clone(),
            cut_off: plan.min_probability,
            break_even: plan.break_even_probability,
            capacity: plan.action.capacity,
            capacity_bound: plan.capacity_bound,
            share: plan.share,
            profit_per_customer: plan.profit_per_customer,
            emp_per_customer: plan.emp_per_customer,
        }
    }
}

/// The publish stage's decision, as the report tells it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PublicationSummary {
    pub score_date: String,
    pub published: bool,
    pub reason: String,
    /// The score date the CRM shows after the decision.
    pub crm_shows: String,
}

#[derive(Debug, thiserror::Error)]
#[error("report template `{name}`: {source:#}")]
pub struct ReportError {
    pub name: String,
    pub source: minijinja::Error,
}

/// Renders `data` with the template `source`, named `name` (its extension decides escaping).
pub fn render(name: &str, source: &str, data: &ReportData) -> Result<String, ReportError> {
    let fail = |source| ReportError {
        name: name.to_string(),
        source,
    };
    let mut env = Environment::new();
    env.add_filter("pct", |value: f64| format!("{:.1}%", value * 100.0));
    env.add_filter("probability", probability_text);
    env.add_filter("num", |value: f64, digits: Option<usize>| {
        format!("{:.*}", digits.unwrap_or(4), value)
    });
    env.add_filter("sci", |value: f64| format!("{value:.2e}"));
    env.add_filter("signed", |value: i64| format!("{value:+}"));
    env.add_filter("thousands", thousands);
    env.add_filter("money", money);
    env.add_template(name, source).map_err(fail)?;
    env.get_template(name)
        .and_then(|template| template.render(data))
        .map_err(fail)
}
