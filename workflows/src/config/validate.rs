//! Turns a [`RawFile`] into a [`DagSet`]: resolves settings, checks kinds, parameters, dependencies,
//! cycles, cron expressions, time zones and durations, and orders each DAG's tasks topologically.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::ConfigIssue;
use super::raw::{RawDag, RawDagEntry, RawFile, RawRetrySettings, RawTask};
use crate::dag::{Dag, DagSet, TaskSpec};
use crate::retry::RetryPolicy;
use crate::schedule::{Catchup, Schedule};
use crate::task::TaskRegistry;

/// Collects the issues of one DAG, each tagged with the DAG and, where it has one, the task.
struct IssueSink<'a> {
    dag: &'a str,
    issues: Vec<ConfigIssue>,
}

impl IssueSink<'_> {
    fn dag(&mut self, message: impl Into<String>) {
        self.push(None, message);
    }

    fn task(&mut self, task: &str, message: impl Into<String>) {
        self.push(Some(task), message);
    }

    fn push(&mut self, task: Option<&str>, message: impl Into<String>) {
        self.issues.push(ConfigIssue {
            dag: Some(self.dag.to_string()),
            task: task.map(str::to_string),
            message: message.into(),
        });
    }
}

/// Validates what [`super::raw::read`] could read; `issues` holds what it could not, so that the
/// caller hears of every mistake at once.
pub fn validate(
    file: RawFile,
    mut issues: Vec<ConfigIssue>,
    registry: &TaskRegistry,
) -> Result<DagSet, Vec<ConfigIssue>> {
    let mut set = DagSet::default();
    let defaults = checked_settings(&file.defaults, |message| {
        issues.push(ConfigIssue {
            dag: None,
            task: None,
            message: format!("[defaults]: {message}"),
        })
    });
    for RawDagEntry {
        name,
        dag: raw_dag,
        tasks: raw_tasks,
    } in file.dags
    {
        let mut sink = IssueSink {
            dag: &name,
            issues: Vec::new(),
        };
        let dag = validate_dag(&name, raw_dag, raw_tasks, &defaults, registry, &mut sink);
        if sink.issues.is_empty() {
            set.dags.insert(name.clone(), dag);
        } else {
            issues.extend(sink.issues);
        }
    }
    if issues.is_empty() {
        Ok(set)
    } else {
        Err(issues)
    }
}

fn validate_dag(
    name: &str,
    raw: RawDag,
    raw_tasks: Vec<(String, RawTask)>,
    defaults: &RawRetrySettings,
    registry: &TaskRegistry,
    sink: &mut IssueSink,
) -> Dag {
    if !is_valid_name(name) {
        sink.dag(format!(
            "a DAG name must be 1 to {MAX_NAME_LENGTH} letters, digits, `_` or `-`"
        ));
    }
    let schedule = match (&raw.schedule, &raw.timezone) {
        (Some(expression), timezone) => {
            // Checked one at a time, so that a bad cron does not hide a bad zone.
            let timezone = timezone.as_deref().unwrap_or("UTC");
            let cron_ok = Schedule::new(expression, "UTC")
                .map_err(|err| sink.dag(format!("key `schedule`: {err}")))
                .is_ok();
            let zone_ok = Schedule::new("0 0 0 * * *", timezone)
                .map_err(|err| sink.dag(format!("key `timezone`: {err}")))
                .is_ok();
            let schedule = if cron_ok && zone_ok {
                Schedule::new(expression, timezone).ok()
            } else {
                None
            };
            if let Some(schedule) = &schedule
                && schedule.next_after(chrono::Utc::now()).is_none()
            {
                sink.dag(format!(
                    "key `schedule`: `{expression}` never fires (no matching time from now on)"
                ));
            }
            schedule
        }
        (None, Some(_)) => {
            sink.dag("key `timezone` is set but `schedule` is not");
            None
        }
        (None, None) => None,
    };
    let catchup = match raw.catchup.as_deref() {
        None => Catchup::default(),
        Some("all") => Catchup::All,
        Some("latest") => Catchup::Latest,
        Some("none") => Catchup::None,
        Some(other) => {
            sink.dag(format!(
                "key `catchup`: `{other}` is not one of `all`, `latest`, `none`"
            ));
            Catchup::default()
        }
    };
    let max_active_runs = raw.max_active_runs.unwrap_or(1);
    if max_active_runs == 0 {
        sink.dag("key `max_active_runs` must be at least 1");
    }
    for address in &raw.on_failure_email {
        if !address.contains('@') {
            sink.dag(format!(
                "key `on_failure_email`: `{address}` is not an email address"
            ));
        }
    }
    let dag_settings = checked_settings(&raw.retry, |message| sink.dag(message)).or(defaults);

    let names: BTreeSet<&str> = raw_tasks.iter().map(|(name, _)| name.as_str()).collect();
    let mut specs = Vec::new();
    for (task_name, task) in &raw_tasks {
        if !is_valid_name(task_name) {
            sink.task(
                task_name,
                format!("a task name must be 1 to {MAX_NAME_LENGTH} letters, digits, `_` or `-`"),
            );
        }
        if let Some(spec) = validate_task(task_name, task, &names, &dag_settings, registry, sink) {
            specs.push(spec);
        }
    }
    let tasks = match topological_order(specs) {
        Ok(tasks) => tasks,
        Err(cycle) => {
            sink.dag(format!("dependency cycle: {}", cycle.join(" -> ")));
            Vec::new()
        }
    };
    Dag {
        name: name.to_string(),
        description: raw.description,
        schedule,
        catchup,
        max_active_runs,
        on_failure_email: raw.on_failure_email,
        tasks,
    }
}

fn validate_task(
    name: &str,
    raw: &RawTask,
    names: &BTreeSet<&str>,
    dag_settings: &RawRetrySettings,
    registry: &TaskRegistry,
    sink: &mut IssueSink,
) -> Option<TaskSpec> {
    let issues_before = sink.issues.len();
    let params = raw
        .params
        .clone()
        .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
    match registry.check_params(&raw.kind, &params) {
        Ok(()) => {}
        Err(crate::task::ParamsError::UnknownKind) => sink.task(
            name,
            format!(
                "unknown task kind `{}`; known kinds: {}",
                raw.kind,
                registry.kinds().join(", ")
            ),
        ),
        Err(crate::task::ParamsError::Invalid(reasons)) => {
            for reason in reasons {
                sink.task(
                    name,
                    format!("key `params` for kind `{}`: {reason}", raw.kind),
                );
            }
        }
    }
    let mut seen = BTreeSet::new();
    for upstream in &raw.after {
        if upstream == name {
            sink.task(name, "key `after`: a task cannot run after itself");
        } else if !names.contains(upstream.as_str()) {
            sink.task(
                name,
                format!(
                    "key `after`: unknown dependency `{upstream}`, no task of that name in this DAG"
                ),
            );
        } else if !seen.insert(upstream) {
            sink.task(name, format!("key `after`: `{upstream}` is listed twice"));
        }
    }
    let settings =
        checked_settings(&raw.retry, |message| sink.task(name, message)).or(dag_settings);
    let retry = retry_policy(&settings, |message| sink.task(name, message));
    let timeout = settings
        .timeout
        .as_deref()
        .and_then(|text| duration(text, "timeout", |message| sink.task(name, message)));
    if sink.issues.len() > issues_before {
        return None;
    }
    Some(TaskSpec {
        name: name.to_string(),
        kind: raw.kind.clone(),
        params,
        upstream: raw.after.clone(),
        retry: retry?,
        timeout,
    })
}

/// The settings written at one level with each bad value reported there and dropped, so that the
/// levels below inherit only good values and a mistake is reported once, where it is written.
fn checked_settings(
    settings: &RawRetrySettings,
    mut report: impl FnMut(String),
) -> RawRetrySettings {
    let mut checked = settings.clone();
    let mut keep_duration = |value: &mut Option<String>, key: &str| {
        if let Some(text) = value.as_deref()
            && duration(text, key, &mut report).is_none()
        {
            *value = None;
        }
    };
    keep_duration(&mut checked.retry_delay, "retry_delay");
    keep_duration(&mut checked.retry_max_delay, "retry_max_delay");
    keep_duration(&mut checked.timeout, "timeout");
    if let Some(jitter) = checked.retry_jitter
        && !(0.0..=1.0).contains(&jitter)
    {
        report(format!(
            "key `retry_jitter`: {jitter} is not a fraction in [0, 1]"
        ));
        checked.retry_jitter = None;
    }
    checked
}

/// The policy of settings already passed through [`checked_settings`].
fn retry_policy(
    settings: &RawRetrySettings,
    mut report: impl FnMut(String),
) -> Option<RetryPolicy> {
    let defaults = RetryPolicy::default();
    let initial_delay = match &settings.retry_delay {
        Some(text) => duration(text, "retry_delay", &mut report)?,
        None => defaults.initial_delay,
    };
    let max_delay = match &settings.retry_max_delay {
        Some(text) => duration(text, "retry_max_delay", &mut report)?,
        None => defaults.max_delay.max(initial_delay),
    };
    let jitter = settings.retry_jitter.unwrap_or(defaults.jitter);
    if max_delay < initial_delay {
        report("key `retry_max_delay` is shorter than `retry_delay`".to_string());
        return None;
    }
    Some(RetryPolicy {
        retries: settings.retries.unwrap_or(defaults.retries),
        initial_delay,
        max_delay,
        jitter,
    })
}

fn duration(text: &str, key: &str, mut report: impl FnMut(String)) -> Option<Duration> {
    match humantime::parse_duration(text) {
        Ok(duration) if duration.is_zero() => {
            report(format!(
                "key `{key}`: the duration must be longer than zero"
            ));
            None
        }
        Ok(duration) => Some(duration),
        Err(err) => {
            report(format!(
                "key `{key}`: `{text}` is not a duration ({err}); write it like `90s`, `5m` or `1h 30m`"
            ));
            None
        }
    }
}

/// The longest DAG or task name: names become parts of file names and object keys, which a
/// 5,000-character name overflowed at run time (`File name too long`).
pub const MAX_NAME_LENGTH: usize = 100;

/// Whether `name` may name a DAG, a task or anything else that becomes part of a file name or an
/// object key: 1 to [`MAX_NAME_LENGTH`] ASCII letters, digits, `_` or `-`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LENGTH
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Orders tasks so each comes after its upstream tasks, keeping file order among independent ones.
/// On a cycle, returns the tasks around it, first task repeated at the end.
fn topological_order(specs: Vec<TaskSpec>) -> Result<Vec<TaskSpec>, Vec<String>> {
    // A dependency on a task that is not here (unknown, or left out for errors of its own, which
    // are reported elsewhere) does not hold its dependents back: ordering only has to find cycles.
    let present: BTreeSet<String> = specs.iter().map(|spec| spec.name.clone()).collect();
    let mut remaining: Vec<TaskSpec> = specs;
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut ordered = Vec::with_capacity(remaining.len());
    loop {
        let before = remaining.len();
        let mut still = Vec::new();
        for spec in remaining {
            if spec
                .upstream
                .iter()
                .all(|up| placed.contains(up) || !present.contains(up))
            {
                placed.insert(spec.name.clone());
                ordered.push(spec);
            } else {
                still.push(spec);
            }
        }
        remaining = still;
        if remaining.is_empty() {
            return Ok(ordered);
        }
        if remaining.len() == before {
            return Err(find_cycle(&remaining));
        }
    }
}

/// Every task left here waits on another task left here, so walking upstream must loop.
fn find_cycle(stuck: &[TaskSpec]) -> Vec<String> {
    let by_name: BTreeMap<&str, &TaskSpec> = stuck
        .iter()
        .map(|spec| (spec.name.as_str(), spec))
        .collect();
    let mut path: Vec<&str> = Vec::new();
    let mut current = stuck[0].name.as_str();
    loop {
        if let Some(start) = path.iter().position(|name| *name == current) {
            // Walking upstream gives the cycle backwards; reverse it to read in run order, and
            // start it at the task that comes first in the file.
            let mut cycle: Vec<String> =
                path[start..].iter().rev().map(|s| s.to_string()).collect();
            let file_position = |name: &String| stuck.iter().position(|spec| &spec.name == name);
            if let Some(first) = (0..cycle.len()).min_by_key(|&i| file_position(&cycle[i])) {
                cycle.rotate_left(first);
            }
            cycle.push(cycle[0].clone());
            return cycle;
        }
        path.push(current);
        let spec = by_name[current];
        current = spec
            .upstream
            .iter()
            .map(String::as_str)
            .find(|up| by_name.contains_key(up))
            .expect("a task left unordered waits on another unordered task");
    }
}
