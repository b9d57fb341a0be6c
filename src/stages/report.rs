//! `report`: gathers the run's results from the warehouse and the run store, renders the HTML
//! report from `reports/`, stores it under `reports/<dag>/<date>/report.html` and emails it. A
//! rejected candidate or high drift also sends an alert email naming the DAG, date, task and
//! severity (once per cause and date). Both go through the outbox: a mail server that is down
//! leaves them queued for the next delivery, and the task still succeeds.

use std::path::PathBuf;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::Utc;
use lettre::Message;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType};
use serde::Deserialize;
use tasks::artifacts;
use tasks::bounded_text::{VALUE_CHARS, bounded};
use tasks::charts::Chart;
use tasks::drift::Severity;
use tasks::economics::RetentionAction;
use tasks::glance;
use tasks::identity::Role;
use tasks::metrics::Metrics;
use tasks::model::Family;
use tasks::model_card::Evaluation;
use tasks::model_card::ModelCard;
use tasks::report::{
    ActionLine, ArmLine, CanaryLine, DEFAULT_TEMPLATE, GateSummary, ImageSource, MetricLine,
    OutcomeLine, ReportData, SliceLine, TaskLine, TierLine, ValidationSummary, chart_images,
    content_id, render,
};
use tasks::storage::DataStore;
use tasks::warehouse::Warehouse;
use workflows::{RunStore, Task, TaskContext, TaskError, TaskOutcome};

use super::outcomes::OutcomesSummary;
use super::report_charts::{ChartInputs, REPORT_FILE, SUMMARY_FILE, report_prefix};
use super::score::export_prefix;
use super::{ModelParams, StageEnv};
use crate::outbox;

pub struct Report {
    pub env: StageEnv,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    #[serde(flatten)]
    pub model: ModelParams,
    /// Who receives the report.
    #[serde(default)]
    pub to: Vec<String>,
    /// Who receives alerts (gate rejection, high drift); the report's recipients when empty.
    #[serde(default)]
    pub alert_to: Vec<String>,
    /// How many of the highest-risk customers the report lists.
    #[serde(default = "default_top")]
    pub top: i64,
    /// A template of one's own; `reports/nightly_report.html` (built in) when absent.
    pub template: Option<PathBuf>,
}

fn default_top() -> i64 {
    10
}

/// The metric rows shown, in this order: (stored name, what a person reads, what it means).
const SHOWN_METRICS: [(&str, &str, &str); 12] = [
    (
        "roc_auc",
        "ROC AUC",
        "how well churners rank above the others (0.5 is chance, 1 perfect)",
    ),
    (
        "pr_auc",
        "PR AUC",
        "precision across every contact list size",
    ),
    (
        "log_loss",
        "log loss",
        "the probabilities' error (lower is better)",
    ),
    (
        "brier",
        "Brier score",
        "mean squared error of the probabilities (lower is better)",
    ),
    (
        "expected_calibration_error",
        "calibration error",
        "how far scores are from observed churn rates (0 is exact)",
    ),
    ("mean_score", "mean score", "the average churn probability"),
    ("observed_rate", "churn rate", "the share that churned"),
    (
        "precision",
        "precision",
        "of those flagged at the threshold, the share that churned",
    ),
    (
        "recall",
        "recall",
        "of those who churned, the share flagged",
    ),
    ("f1", "F1", "precision and recall in one number"),
    (
        "positive_rate",
        "flagged share",
        "the share flagged at the threshold",
    ),
    (
        "top_decile_lift",
        "top-decile lift",
        "churn in the riskiest 10% against the average",
    ),
];
async fn gather(
    ctx: &TaskContext,
    store: &DataStore,
    warehouse: &Warehouse,
    runs: &RunStore,
    p: &ReportParams,
) -> anyhow::Result<(ReportData, ChartInputs)> {
    let date = ctx.logical_date.to_string();
    let model = &p.model.model;
    let tasks = runs
        .task_instances(ctx.run_id)
        .await?
        .into_iter()
        .map(|ti| TaskLine {
            seconds: match (ti.started_at, ti.ended_at) {
                (Some(start), Some(end)) => Some((end - start).num_milliseconds() as f64 / 1000.0),
                _ => None,
            },
            task: ti.task,
            state: ti.state.to_string(),
            attempts: ti.try_number,
        })
        .collect();
    let validation = warehouse
        .validation(&ctx.dag, &date)
        .await?
        .map(|v| ValidationSummary {
            rows: v.row_count,
            passed: v.passed,
            violations: v.report["violations"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        });
    let metrics = warehouse.metrics(&ctx.dag, &date).await?;
    let mut families: Vec<Family> = metrics
        .iter()
        .filter(|m| m.role == Role::Candidate && &m.model == model)
        .map(|m| m.family)
        .collect();
    families.sort_by_key(|f| f.complexity());
    families.dedup();
    let value = |role: Role, family: Option<Family>, metric: &str| {
        metrics
            .iter()
            .find(|m| m.role == role && &m.model == model && family.is_none_or(|f| m.family == f))
            .and_then(|m| m.metrics.get(metric).copied())
    };
    let metric_lines = SHOWN_METRICS
        .iter()
        .map(|(metric, label, meaning)| MetricLine {
            metric: label.to_string(),
            meaning: meaning.to_string(),
            candidates: families
                .iter()
                .map(|f| value(Role::Candidate, Some(*f), metric))
                .collect(),
            champion: value(Role::Champion, None, metric),
        })
        .filter(|line| line.candidates.iter().any(Option::is_some) || line.champion.is_some())
        .collect();
    let decision = warehouse.gate_decision(&ctx.dag, &date, model).await?;
    let judged_family = decision.as_ref().filter(|g| g.passed).map(|g| g.family);
    let gate = decision.map(|g| GateSummary {
        passed: g.passed,
        family: g.family.display_name().to_string(),
        reasons: g.reasons,
    });
    let candidate_version = warehouse
        .version_of_run(model, &ctx.dag, &date)
        .await?
        .map(|v| v.version);
    let score_date = ctx.logical_date.day().to_string();
    let counts = warehouse.tier_counts(&score_date).await?;
    let previous_date = warehouse.previous_publication(&score_date).await?;
    let previous_counts = match &previous_date {
        Some(day) => warehouse.tier_counts(day).await?,
        None => Vec::new(),
    };
    let scored: i64 = counts.iter().map(|c| c.customers).sum();
    let tiers = counts
        .into_iter()
        .map(|c| TierLine {
            share: if scored > 0 {
                c.customers as f64 / scored as f64
            } else {
                0.0
            },
            previous: previous_date.as_ref().map(|_| {
                previous_counts
                    .iter()
                    .find(|p| p.tier == c.tier)
                    .map_or(0, |p| p.customers)
            }),
            tier: c.tier,
            customers: c.customers,
            action: c.action,
        })
        .collect();
    let mut top = warehouse.top_risk(&score_date, p.top).await?;
    for row in &mut top {
        row.customer_id = bounded(&row.customer_id, VALUE_CHARS);
    }
    // Tonight's evaluation of the model that scored, or what it was registered with when
    // nothing was evaluated tonight.
    // The champion's row: on a canary's night the riskiest customer may hold the canary's.
    let scoring_row = top
        .iter()
        .find(|r| r.role == Role::Champion.as_str())
        .or(top.first());
    let lines = match scoring_row {
        Some(row) => {
            let tonight = scoring_model_lines(
                store,
                model,
                ctx.logical_date.day(),
                row.model_version,
                judged_family,
            )
            .await;
            match tonight.validation {
                Some(_) => tonight,
                None => registered_lines(store, warehouse, model, row.model_version)
                    .await
                    .unwrap_or(tonight),
            }
        }
        None => ScoringModelLines::default(),
    };
    let ScoringModelLines {
        actions,
        economics,
        slices,
        validation: scoring_validation,
    } = lines;
    let shadow = warehouse.shadow_agreement(&score_date, model).await?;
    let requests = warehouse.model_requests(model, false).await?;
    let (requests_met, requests_open): (Vec<_>, Vec<_>) = requests
        .into_iter()
        .filter(|r| r.met_on.is_none() || r.met_on.as_deref() == Some(score_date.as_str()))
        .partition(|r| r.met_on.is_some());
    let canary = warehouse
        .canary_served(&score_date, model)
        .await?
        .map(|(version, customers)| CanaryLine {
            version,
            customers: customers as usize,
            share: customers as f64 / scored.max(1) as f64,
        });
    let outcomes_summary = ctx.upstream.values().find_map(|output| {
        serde_json::from_value::<OutcomesSummary>(output.get("outcomes")?.clone()).ok()
    });
    let floor = outcomes_summary.as_ref().and_then(|o| o.min_roc_auc);
    let outcomes = outcomes_summary.map(outcome_line);
    let drift = warehouse.drift(&ctx.dag, &date).await?;
    let max_drift = drift
        .iter()
        .map(|d| d.drift.severity)
        .max()
        .unwrap_or(Severity::None);
    let mut data = ReportData {
        dag: ctx.dag.clone(),
        logical_date: date,
        run_id: ctx.run_id,
        generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        tasks,
        validation,
        model: model.clone(),
        candidate_version,
        champion_version: top
            .iter()
            .find(|r| r.role == Role::Champion.as_str())
            .or(top.first())
            .map(|r| r.model_version),
        candidate_families: families
            .iter()
            .map(|f| f.display_name().to_string())
            .collect(),
        metrics: metric_lines,
        gate,
        scored,
        tiers,
        previous_date,
        top,
        drift,
        max_drift,
        risk_export: (scored > 0)
            .then(|| format!("{}/risk_scores.csv", export_prefix(&score_date))),
        // The publish stage's decision, from its output (stages find each other by their
        // output, not by task name).
        publication: ctx
            .upstream
            .values()
            .find_map(|output| serde_json::from_value(output.get("publication")?.clone()).ok()),
        actions,
        slices,
        shadow,
        outcomes,
        canary,
        requests_open,
        requests_met,
        charts: Default::default(),
        glance: None,
    };
    let moves = warehouse.tier_moves(&score_date).await?;
    let tiers_before: Vec<String> = previous_counts.iter().map(|c| c.tier.clone()).collect();
    // An action's capacity bounds who is acted on: its tier's riskiest, up to it.
    let mut capped = Vec::new();
    for action in &economics {
        let Some(capacity) = action.capacity.and_then(|c| i64::try_from(c).ok()) else {
            continue;
        };
        let in_tier: i64 = moves
            .iter()
            .filter(|m| m.tier == action.tier)
            .map(|m| m.customers)
            .sum();
        if in_tier > capacity {
            capped.push(glance::CappedTier {
                tier: action.tier.clone(),
                capacity,
                probability_sum: warehouse
                    .top_probability_sum(&score_date, &action.tier, capacity)
                    .await?,
            });
        }
    }
    data.glance = Some(glance::glance(
        &data,
        glance::GlanceInputs {
            moves: &moves,
            actions: &economics,
            tiers_before: &tiers_before,
            capped: &capped,
        },
    ));
    // The charts are a view of figures the report also gives in words and tables: without
    // their inputs, it goes out without them.
    let inputs = ChartInputs::gather(store, warehouse, &data, scoring_validation, floor)
        .await
        .unwrap_or_else(|e| {
            ctx.log.line(format!(
                "the charts' figures could not be read ({}); the report goes out without charts",
                crate::describe(&e)
            ));
            ChartInputs::default()
        });
    Ok((data, inputs))
}

/// The outcomes stage's summary as the report shows it: ROC AUC, the churn rate, then each tier's
/// precision and recall, realised beside the estimate.
fn outcome_line(summary: OutcomesSummary) -> OutcomeLine {
    let readable = |metric: &str| match metric {
        "roc_auc" => "ROC AUC".to_string(),
        "churn_rate" => "churn rate".to_string(),
        "expected_calibration_error" => "calibration error".to_string(),
        other => match other.split_once('_') {
            Some(("precision", tier)) => format!("{tier} tier: share that churned"),
            Some(("recall", tier)) => format!("{tier} tier: share of all churners"),
            _ => other.to_string(),
        },
    };
    let order = |metric: &str| match metric {
        "roc_auc" => 0,
        "churn_rate" => 1,
        "expected_calibration_error" => 3,
        _ => 2,
    };
    let mut metrics: Vec<(&String, &f64)> = summary.realised.iter().collect();
    metrics.sort_by_key(|(metric, _)| order(metric));
    OutcomeLine {
        metrics: metrics
            .into_iter()
            .map(|(metric, realised)| {
                (
                    readable(metric),
                    *realised,
                    summary.estimated.get(metric).copied(),
                )
            })
            .collect(),
        score_date: summary.score_date,
        model_version: summary.model_version,
        rows: summary.rows,
        below_policy: summary.below_policy,
        canary: summary.canary.map(|arm| ArmLine {
            model_version: arm.model_version,
            rows: arm.rows,
            roc_auc: arm.realised.get("roc_auc").copied(),
        }),
    }
}

/// The action plans and slice reports evaluate made tonight for the model that scored (version
/// `version`: the champion evaluated beside the candidates, or the candidate of `promoted` the
/// gate passed). Empty when the evaluation cannot be read: the report goes out without them.
async fn scoring_model_lines(
    store: &DataStore,
    model: &str,
    day: chrono::NaiveDate,
    version: i64,
    promoted: Option<Family>,
) -> ScoringModelLines {
    let key = artifacts::key(
        &artifacts::candidate_prefix(model, day),
        artifacts::EVALUATION_FILE,
    );
    let Ok(evaluation) = artifacts::get_json::<Evaluation>(store, &key).await else {
        return ScoringModelLines::default();
    };
    ScoringModelLines::of(&evaluation, version, promoted)
}

impl ScoringModelLines {
    fn of(evaluation: &Evaluation, version: i64, promoted: Option<Family>) -> Self {
        let Some((plans, slices)) = evaluation.scoring_model(version, promoted) else {
            return Self::default();
        };
        Self {
            actions: plans.iter().map(ActionLine::from_plan).collect(),
            economics: plans.iter().map(|plan| plan.action.clone()).collect(),
            slices: slices.iter().map(SliceLine::from_report).collect(),
            validation: evaluation.scoring_metrics(version, promoted).cloned(),
        }
    }
}

/// What tonight's evaluation says of the model that scored.
#[derive(Default)]
struct ScoringModelLines {
    actions: Vec<ActionLine>,
    /// The actions' economics (the glance's expected value of today's actions).
    economics: Vec<RetentionAction>,
    slices: Vec<SliceLine>,
    /// Its metrics on the validation rows (the reliability and gains charts).
    validation: Option<Metrics>,
}

/// What `version` was registered with (its model card's evaluation), for a night that evaluated
/// nothing: training waits for a request, or failed.
async fn registered_lines(
    store: &DataStore,
    warehouse: &Warehouse,
    model: &str,
    version: i64,
) -> Option<ScoringModelLines> {
    let champion = warehouse.champion(model).await.ok()??;
    if champion.version != version {
        return None;
    }
    let key = artifacts::key(&champion.artifact_prefix, artifacts::CARD_FILE);
    let card = artifacts::get_json::<ModelCard>(store, &key).await.ok()?;
    Some(ScoringModelLines::of(
        &card.evaluation,
        version,
        Some(card.gate.family),
    ))
}

fn mailboxes(addresses: &[String], what: &str) -> anyhow::Result<Vec<Mailbox>> {
    addresses
        .iter()
        .map(|a| {
            a.parse()
                .with_context(|| format!("report params: {what} address `{a}`"))
        })
        .collect()
}

fn message(
    from: &str,
    to: &[Mailbox],
    subject: String,
    text: String,
    html: Option<(String, &[Chart])>,
) -> anyhow::Result<Message> {
    let from: Mailbox = from
        .parse()
        .with_context(|| format!("sender address `{from}`"))?;
    // A Message-ID of our own (lettre adds the Date): mail clients thread and de-duplicate by it.
    let mut builder = Message::builder()
        .from(from)
        .subject(subject)
        .message_id(None);
    for mailbox in to {
        builder = builder.to(mailbox.clone());
    }
    let message = match html {
        Some((html, charts)) => {
            // Only the charts the template shows: a template of one's own may leave some out,
            // and an unreferenced inline part shows as an attachment.
            let shown: Vec<&Chart> = charts
                .iter()
                .filter(|c| html.contains(&format!("cid:{}", content_id(c))))
                .collect();
            if shown.is_empty() {
                builder.multipart(MultiPart::alternative_plain_html(text, html))
            } else {
                // text/plain beside multipart/related (the HTML and its images by Content-ID).
                let mut related = MultiPart::related().singlepart(SinglePart::html(html));
                for chart in shown {
                    related = related.singlepart(
                        Attachment::new_inline(content_id(chart))
                            .body(chart.png.clone(), ContentType::parse("image/png")?),
                    );
                }
                builder.multipart(
                    MultiPart::alternative()
                        .singlepart(SinglePart::plain(text))
                        .multipart(related),
                )
            }
        }
        None => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text),
        ),
    };
    message.context("building the email")
}

/// What an alert is about, as a key: the same cause on the same day alerts once.
fn alert_cause(data: &ReportData) -> String {
    let mut cause = Vec::new();
    if data.publication.as_ref().is_some_and(|p| !p.published) {
        cause.push("not_published".to_string());
    }
    if data.gate.as_ref().is_some_and(|g| !g.passed) {
        cause.push("gate_rejected".to_string());
    }
    if let Some(o) = data.outcomes.as_ref().filter(|o| o.below_policy.is_some()) {
        cause.push(format!("outcome_below_policy={}", o.score_date));
    }
    let mut drifted: Vec<&str> = data
        .drift
        .iter()
        .filter(|r| r.drift.severity == Severity::High)
        .map(|r| r.drift.feature.as_str())
        .collect();
    drifted.sort_unstable();
    if !drifted.is_empty() {
        cause.push(format!("high_drift={}", drifted.join(",")));
    }
    cause.join(";")
}

/// The alert lines of a run: a rejected candidate and every feature with high drift.
fn alert_lines(data: &ReportData) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(gate) = data.gate.as_ref().filter(|g| !g.passed) {
        lines.push(format!(
            "task gate: the candidate of model `{}` was rejected (severity: warning); the \
             champion stays in place. Reasons:\n  {}",
            data.model,
            gate.reasons.join("\n  ")
        ));
    }
    if let Some(reason) = data.outcomes.as_ref().and_then(|o| o.below_policy.as_ref()) {
        lines.push(format!("task outcomes: {reason} (severity: warning)"));
    }
    if let Some(publication) = data.publication.as_ref().filter(|p| !p.published) {
        lines.push(format!(
            "task publish: the scores of {} were not sent to the CRM (severity: warning): {}",
            publication.score_date, publication.reason
        ));
    }
    for row in data
        .drift
        .iter()
        .filter(|r| r.drift.severity == Severity::High)
    {
        lines.push(format!(
            "task drift: `{}` drifted (severity: high): PSI {:.3}, {} {:.3}",
            row.drift.feature, row.drift.psi, row.drift.effect_measure, row.drift.effect_size
        ));
    }
    lines
}

#[async_trait]
impl Task for Report {
    type Params = ReportParams;

    fn kind(&self) -> &'static str {
        "report"
    }

    fn check(&self, p: &ReportParams) -> Vec<String> {
        let mut problems = super::checks::Problems::default();
        problems.model(&p.model);
        problems.emails("to", &p.to);
        problems.emails("alert_to", &p.alert_to);
        if p.top < 1 {
            problems.push(format!("top = {} must be at least 1", p.top));
        }
        problems.into_vec()
    }

    async fn run(&self, ctx: &TaskContext, p: ReportParams) -> Result<TaskOutcome, TaskError> {
        let err = |e: anyhow::Error| TaskError::new(crate::describe(&e));
        let recipients = mailboxes(&p.to, "to").map_err(err)?;
        let alert_recipients = if p.alert_to.is_empty() {
            recipients.clone()
        } else {
            mailboxes(&p.alert_to, "alert_to").map_err(err)?
        };
        let store = self.env.store()?;
        let warehouse = self.env.warehouse().await?;
        let runs = RunStore::connect(&self.env.database_url)
            .await
            .map_err(TaskError::new)?;
        let (mut data, inputs) = gather(ctx, &store, &warehouse, &runs, &p)
            .await
            .map_err(err)?;
        let (name, source) = match &p.template {
            Some(path) => (
                path.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_else(|| "report.html".to_string()),
                std::fs::read_to_string(path).map_err(|e| {
                    TaskError::new(format!("report template {}: {e}", path.display()))
                })?,
            ),
            None => (
                "nightly_report.html".to_string(),
                DEFAULT_TEMPLATE.to_string(),
            ),
        };
        let started = std::time::Instant::now();
        let (charts, undrawn) = tokio::task::spawn_blocking(move || inputs.draw())
            .await
            .unwrap_or_else(|e| (Vec::new(), vec![format!("drawing the charts failed: {e}")]));
        for problem in &undrawn {
            ctx.log
                .line(format!("{problem}; the report goes out without it"));
        }
        ctx.log.line(format!(
            "{} charts drawn in {:.2} s ({} bytes of PNG)",
            charts.len(),
            started.elapsed().as_secs_f64(),
            charts.iter().map(|c| c.png.len()).sum::<usize>()
        ));
        data.charts = chart_images(&charts, ImageSource::Embedded);
        let html = render(&name, &source, &data).map_err(TaskError::new)?;
        let prefix = report_prefix(&ctx.dag, &data.logical_date);
        let key = format!("{prefix}/{REPORT_FILE}");
        let stored_bytes = html.len();
        store
            .put_bytes(&key, html.into_bytes())
            .await
            .map_err(TaskError::new)?;
        // Only later reports' tier chart reads the summary: a failed write costs it one point.
        let summary_key = format!("{prefix}/{SUMMARY_FILE}");
        let summary_json = serde_json::to_vec(&data.summary()).map_err(TaskError::new)?;
        if let Err(e) = store.put_bytes(&summary_key, summary_json).await {
            ctx.log.line(format!(
                "`{summary_key}` not stored ({e}); later reports' tier chart will miss this day"
            ));
        }
        ctx.log.line(format!(
            "report stored as `{key}` ({stored_bytes} bytes, {} charts inside)",
            charts.len()
        ));
        // The email's copy points at its inline parts instead of carrying the images twice.
        data.charts = chart_images(&charts, ImageSource::ContentId);
        let html = render(&name, &source, &data).map_err(TaskError::new)?;
        let summary = data.plain_text();
        let date = data.logical_date.to_string();
        if !self.env.email.enabled {
            ctx.log
                .line("email is off for this run (--no-email): nothing sent");
            return Ok(TaskOutcome::Success(serde_json::json!({
                "report": key,
                "emails": [],
                "queued": 0,
                "scored": data.scored,
                "max_drift": data.max_drift,
            })));
        }
        // The report and its alert are queued in one transaction: a retry of this task never
        // finds one queued without the other.
        let mut outgoing = Vec::new();
        if !recipients.is_empty() {
            // A report of this date went out before (a rerun): this one corrects it, and says so.
            let corrected = runs
                .has_message(&ctx.dag, &date, "report")
                .await
                .map_err(TaskError::new)?;
            let subject = format!(
                "[churnflow] {}{} ({}), drift {}",
                if corrected { "Corrected report: " } else { "" },
                data.headline(),
                data.dag,
                data.max_drift.as_str()
            );
            let summary = if corrected {
                format!("This corrects the report sent earlier for this date.\n\n{summary}")
            } else {
                summary
            };
            let mail = message(
                &self.env.email.from,
                &recipients,
                subject.clone(),
                summary,
                Some((html, &charts)),
            )
            .map_err(err)?;
            // A new report for every attempt (a rerun sends a corrected one).
            let dedup = format!("report:{}:{date}:{}:{}", ctx.dag, ctx.run_id, ctx.attempt);
            outgoing.push(outbox::queued(
                &mail, &dedup, &ctx.dag, &date, "report", &subject,
            ));
        }
        let alerts_text = alert_lines(&data);
        if !alerts_text.is_empty() && !alert_recipients.is_empty() {
            let body = format!(
                "DAG `{}`, date {} (run {}):\n\n{}\n\nReport: {key}\n",
                data.dag,
                data.logical_date,
                data.run_id,
                alerts_text.join("\n\n")
            );
            let severity = if data.max_drift == Severity::High {
                "high"
            } else {
                "warning"
            };
            let subject = format!(
                "[churnflow] ALERT {} {}: {} issue(s), severity {severity}",
                data.dag,
                data.logical_date,
                alerts_text.len()
            );
            let mail = message(
                &self.env.email.from,
                &alert_recipients,
                subject.clone(),
                body,
                None,
            )
            .map_err(err)?;
            // The same alert for the same DAG, date and cause goes out once.
            let dedup = format!("alert:{}:{date}:{}", ctx.dag, alert_cause(&data));
            outgoing.push(outbox::queued(
                &mail, &dedup, &ctx.dag, &date, "alert", &subject,
            ));
        }
        let queued = runs
            .enqueue_messages(&outgoing, Utc::now())
            .await
            .map_err(TaskError::new)?;
        if queued < outgoing.len() {
            ctx.log.line(format!(
                "{} message(s) were queued before (an alert for the same cause goes out once)",
                outgoing.len() - queued
            ));
        }
        let delivery = outbox::deliver_quietly(&runs, &self.env.email).await;
        let sent: Vec<String> = delivery
            .sent
            .iter()
            .map(|(_, _, route)| route.clone())
            .collect();
        for (_, subject, route) in &delivery.sent {
            ctx.log.line(format!("sent \"{subject}\" via {route}"));
        }
        for (id, subject, error) in &delivery.failed {
            ctx.log.line(format!(
                "email {id} \"{subject}\" not delivered yet ({error}); it stays in the outbox \
                 and is retried"
            ));
        }
        Ok(TaskOutcome::Success(serde_json::json!({
            "report": key,
            "emails": sent,
            "queued": queued,
            "undelivered": delivery.failed.len(),
            "alerts": alerts_text.len(),
            "scored": data.scored,
            "max_drift": data.max_drift,
        })))
    }
}
