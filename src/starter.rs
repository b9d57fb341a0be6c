//! The files a deployment starts from, shipped inside the binary: the default `dags.toml` (the
//! repository's) and the data contract template (the demo data's contract, every rule shown).
//! `churnflow init` writes them; without a `dags.toml` in the working directory the built-in one
//! is used, so the binary alone runs `churnflow quickstart`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use workflows::config::ConfigError;
use workflows::{DagSet, TaskRegistry};

use crate::Outcome;

/// The repository's dags.toml.
pub const DEFAULT_DAGS: &str = include_str!("../dags.toml");
/// Where `init` writes the contract template, and the name the README uses.
pub const CONTRACT_FILE: &str = "contract.toml";
/// The default DAG file name: the built-in DAGs stand in when it does not exist.
pub const DAGS_FILE: &str = "dags.toml";

/// The DAGs of `path`; the built-in ones when `path` is the default name and no such file exists.
pub fn load_dags(path: &Path, registry: &TaskRegistry) -> Result<DagSet, ConfigError> {
    if path == Path::new(DAGS_FILE) && !path.exists() {
        tracing::info!(
            "no {DAGS_FILE} in the working directory: using the built-in one \
             (`churnflow init` writes it here to edit)"
        );
        return workflows::config::parse_dags(DEFAULT_DAGS, "built-in dags.toml", registry);
    }
    workflows::config::load_dags(path, registry)
}

/// `churnflow init`: writes dags.toml and contract.toml into `dir`, never over an existing file
/// unless `force`.
pub fn init(dir: &Path, force: bool) -> Result<Outcome> {
    let files = [
        (DAGS_FILE, DEFAULT_DAGS),
        (CONTRACT_FILE, tasks::contract::DEMO_CONTRACT),
    ];
    let existing: Vec<&str> = files
        .iter()
        .filter(|(name, _)| dir.join(name).exists())
        .map(|(name, _)| *name)
        .collect();
    if !existing.is_empty() && !force {
        bail!(
            "{} already exist(s) in {}; pass --force to overwrite",
            existing.join(" and "),
            dir.display()
        );
    }
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        outln!("wrote {}", path.display());
    }
    outln!(
        "next: `churnflow quickstart` runs the nightly DAG on demo data; to run your own table, \
         edit {CONTRACT_FILE} (README: \"The data contract\") and set `contract = \"{CONTRACT_FILE}\"` \
         in the churn tasks' params of {DAGS_FILE}, then `churnflow dags check`"
    );
    Ok(Outcome::Success)
}
