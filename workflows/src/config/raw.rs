//! The plain serde shape of dags.toml. Unknown keys are errors (`deny_unknown_fields`), so a misspelt
//! key is reported instead of silently taking a default.
//!
//! The file is read table by table, so that a mistake in one DAG or task does not hide the others.

use serde::Deserialize;

use super::ConfigIssue;

/// Retry and timeout settings; at the top (`[defaults]`), per DAG, or per task. The nearest wins.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetrySettings {
    pub retries: Option<u32>,
    pub retry_delay: Option<String>,
    pub retry_max_delay: Option<String>,
    pub retry_jitter: Option<f64>,
    pub timeout: Option<String>,
}

impl RawRetrySettings {
    /// These settings, with `fallback` filling what they leave unset.
    pub fn or(&self, fallback: &RawRetrySettings) -> RawRetrySettings {
        RawRetrySettings {
            retries: self.retries.or(fallback.retries),
            retry_delay: self.retry_delay.clone().or(fallback.retry_delay.clone()),
            retry_max_delay: self
                .retry_max_delay
                .clone()
                .or(fallback.retry_max_delay.clone()),
            retry_jitter: self.retry_jitter.or(fallback.retry_jitter),
            timeout: self.timeout.clone().or(fallback.timeout.clone()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDag {
    pub description: Option<String>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub catchup: Option<String>,
    pub max_active_runs: Option<usize>,
    #[serde(default)]
    pub on_failure_email: Vec<String>,
    #[serde(flatten)]
    pub retry: RawRetrySettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    pub kind: String,
    #[serde(default)]
    pub after: Vec<String>,
    #[serde(default)]
    pub params: Option<toml::Value>,
    #[serde(flatten)]
    pub retry: RawRetrySettings,
}

/// One DAG as read, with its tasks in file order.
#[derive(Debug)]
pub struct RawDagEntry {
    pub name: String,
    pub dag: RawDag,
    pub tasks: Vec<(String, RawTask)>,
}

/// A dags.toml read into raw structs.
#[derive(Debug, Default)]
pub struct RawFile {
    pub defaults: RawRetrySettings,
    pub dags: Vec<RawDagEntry>,
}

fn issue(dag: Option<&str>, task: Option<&str>, message: impl Into<String>) -> ConfigIssue {
    ConfigIssue {
        dag: dag.map(str::to_string),
        task: task.map(str::to_string),
        message: message.into(),
    }
}

fn clean(err: toml::de::Error) -> String {
    err.message().trim().to_string()
}

/// `table` as a `T`, with the key at fault named in the error. serde loses the key of a field in a
/// flattened struct (`retries = -1` said only "expected u32"), so after a failure each key is tried
/// alone, beside the keys `required` names, to find the one that fails.
fn parse_naming_key<T: serde::de::DeserializeOwned>(
    table: toml::Table,
    required: &[&str],
) -> Result<T, String> {
    let err = match toml::Value::Table(table.clone()).try_into::<T>() {
        Ok(parsed) => return Ok(parsed),
        Err(err) => clean(err),
    };
    if err.starts_with("unknown field") || err.starts_with("missing field") {
        return Err(err);
    }
    for (key, value) in &table {
        let mut alone: toml::Table = required
            .iter()
            .filter_map(|name| table.get(*name).map(|v| (name.to_string(), v.clone())))
            .collect();
        alone.insert(key.clone(), value.clone());
        if let Err(single) = toml::Value::Table(alone).try_into::<T>() {
            return Err(format!("key `{key}`: {}", clean(single)));
        }
    }
    Err(err)
}

/// Reads the text into raw structs as far as it can, with every mistake of shape it found. Only
/// text that is not TOML at all is refused outright.
pub fn read(text: &str) -> Result<(RawFile, Vec<ConfigIssue>), Vec<ConfigIssue>> {
    let mut top: toml::Table = toml::from_str(text).map_err(|err| {
        vec![issue(
            None,
            None,
            format!("not valid TOML: {}", err.to_string().trim()),
        )]
    })?;
    let mut issues = Vec::new();
    let mut file = RawFile::default();

    if let Some(defaults) = top.remove("defaults") {
        match defaults.try_into::<RawRetrySettings>() {
            Ok(parsed) => file.defaults = parsed,
            Err(err) => issues.push(issue(None, None, format!("[defaults]: {}", clean(err)))),
        }
    }
    let dags = match top.remove("dags") {
        Some(toml::Value::Table(dags)) => dags,
        Some(_) => {
            issues.push(issue(None, None, "`dags` must be a table of DAGs"));
            toml::Table::new()
        }
        None => {
            issues.push(issue(
                None,
                None,
                "no [dags.<name>] table: the file declares no DAG",
            ));
            toml::Table::new()
        }
    };
    for key in top.keys() {
        issues.push(issue(
            None,
            None,
            format!("unknown top-level key `{key}`, expected `defaults` or `dags`"),
        ));
    }

    for (dag_name, dag_value) in dags {
        let toml::Value::Table(mut dag_table) = dag_value else {
            issues.push(issue(Some(&dag_name), None, "must be a table"));
            continue;
        };
        let tasks_value = dag_table.remove("tasks");
        let raw_dag = match parse_naming_key::<RawDag>(dag_table, &[]) {
            Ok(raw_dag) => Some(raw_dag),
            Err(err) => {
                issues.push(issue(Some(&dag_name), None, err));
                None
            }
        };
        let mut tasks = Vec::new();
        match tasks_value {
            Some(toml::Value::Table(task_tables)) => {
                for (task_name, task_value) in task_tables {
                    let parsed = match task_value {
                        toml::Value::Table(table) => parse_naming_key::<RawTask>(table, &["kind"]),
                        _ => Err("must be a table".to_string()),
                    };
                    match parsed {
                        Ok(task) => tasks.push((task_name, task)),
                        Err(err) => issues.push(issue(Some(&dag_name), Some(&task_name), err)),
                    }
                }
            }
            Some(_) => issues.push(issue(
                Some(&dag_name),
                None,
                "`tasks` must be a table of tasks",
            )),
            None => issues.push(issue(Some(&dag_name), None, "declares no task")),
        }
        if let Some(raw_dag) = raw_dag {
            file.dags.push(RawDagEntry {
                name: dag_name,
                dag: raw_dag,
                tasks,
            });
        }
    }
    Ok((file, issues))
}
