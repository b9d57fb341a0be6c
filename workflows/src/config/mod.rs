//! dags.toml: parsed into plain serde structs ([`raw`]), then validated into [`crate::dag::DagSet`]
//! ([`validate`]). Every mistake in the file is collected before anything is reported, each named by
//! where it sits: the DAG, the task and the key.

pub mod raw;
pub mod validate;

use std::fmt;
use std::path::Path;

use crate::dag::DagSet;
use crate::task::TaskRegistry;

/// One mistake in a dags.toml, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub dag: Option<String>,
    pub task: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.dag, &self.task) {
            (Some(dag), Some(task)) => write!(f, "dag `{dag}`, task `{task}`: {}", self.message),
            (Some(dag), None) => write!(f, "dag `{dag}`: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// Every mistake found in one dags.toml.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub source_name: String,
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.issues.len();
        let noun = if count == 1 { "error" } else { "errors" };
        write!(f, "{}: {count} {noun}", self.source_name)?;
        for issue in &self.issues {
            write!(f, "\n  - {issue}")?;
        }
        Ok(())
    }
}

/// Parses and validates the text of a dags.toml. `source_name` names it in errors.
pub fn parse_dags(
    text: &str,
    source_name: &str,
    registry: &TaskRegistry,
) -> Result<DagSet, ConfigError> {
    let fail = |mut issues: Vec<ConfigIssue>| {
        // Grouped by DAG and task, file-wide issues first; stable, so file order holds within.
        issues.sort_by(|a, b| (&a.dag, &a.task).cmp(&(&b.dag, &b.task)));
        ConfigError {
            source_name: source_name.to_string(),
            issues,
        }
    };
    let (file, issues) = raw::read(text).map_err(fail)?;
    validate::validate(file, issues, registry).map_err(fail)
}

/// Reads, parses and validates a dags.toml file.
pub fn load_dags(path: &Path, registry: &TaskRegistry) -> Result<DagSet, ConfigError> {
    let source_name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
        source_name: source_name.clone(),
        issues: vec![ConfigIssue {
            dag: None,
            task: None,
            message: format!("cannot read the file: {err}"),
        }],
    })?;
    parse_dags(&text, &source_name, registry)
}
