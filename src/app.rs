//! What every command starts from: the settings, the validated DAGs, the task registry, and how to
//! reach the run store and build an executor from them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use workflows::clock::{Clock, SystemClock};
use workflows::executor::{AttemptEnv, InProcessLauncher, Launcher};
use workflows::{Dag, DagSet, Executor, ExecutorSettings, LogicalDate, RunStore, TaskRegistry};

use crate::cli::Cli;
use crate::process_launcher::ProcessLauncher;
use crate::settings::{ExecutorKind, Settings};

/// How often an executor looks at progress made by other processes on the same run.
const POLL: Duration = Duration::from_millis(200);

pub struct App {
    pub settings: Settings,
    pub dags: DagSet,
    pub registry: Arc<TaskRegistry>,
    pub clock: Arc<dyn Clock>,
}

/// Every task kind this binary knows: the engine's generic kinds and the churn stages.
pub fn task_registry(settings: &Settings) -> TaskRegistry {
    let mut registry = TaskRegistry::with_generic_kinds();
    crate::stages::register(
        &mut registry,
        &crate::stages::StageEnv::from_settings(settings),
    );
    registry
}

/// The settings of this invocation: file and environment, then `--dags` from the command line.
pub fn settings_for(cli: &Cli) -> Result<Settings> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(dags) = &cli.dags {
        settings.dags_path = dags.clone();
    }
    let no_email = match &cli.command {
        crate::cli::Command::Run(args) => args.no_email,
        crate::cli::Command::Backfill(args) => args.no_email,
        _ => false,
    };
    if no_email {
        settings.email.enabled = false;
    }
    Ok(settings)
}

impl App {
    pub fn load(cli: &Cli) -> Result<Self> {
        let settings = settings_for(cli)?;
        let registry = Arc::new(task_registry(&settings));
        let dags = crate::starter::load_dags(&settings.dags_path, &registry)?;
        for warning in crate::stages::pipeline_warnings(&dags) {
            tracing::warn!("{warning}");
        }
        Ok(Self {
            settings,
            dags,
            registry,
            clock: Arc::new(SystemClock),
        })
    }

    pub fn dag(&self, name: &str) -> Result<Arc<Dag>> {
        self.dags.get(name).cloned().map(Arc::new).ok_or_else(|| {
            let known: Vec<&str> = self.dags.dags.keys().map(String::as_str).collect();
            anyhow!(
                "{}: no DAG named `{name}`; known DAGs: {}",
                self.settings.dags_path.display(),
                known.join(", ")
            )
        })
    }

    pub async fn store(&self) -> Result<RunStore> {
        if self.settings.database_url.starts_with("sqlite:") {
            std::fs::create_dir_all(&self.settings.state_dir).with_context(|| {
                format!(
                    "creating the state directory {}",
                    self.settings.state_dir.display()
                )
            })?;
        }
        Ok(RunStore::connect(&self.settings.database_url).await?)
    }

    pub fn executor_settings(&self) -> ExecutorSettings {
        ExecutorSettings {
            pool_size: self.settings.pool_size,
            lease: self.settings.lease,
            poll: POLL,
            artifacts_root: self.settings.artifacts_root(),
        }
    }

    pub fn attempt_env(&self, store: RunStore, owner: String) -> AttemptEnv {
        AttemptEnv {
            store,
            registry: self.registry.clone(),
            clock: self.clock.clone(),
            settings: self.executor_settings(),
            owner,
        }
    }

    pub fn executor(&self, store: RunStore) -> Result<Executor> {
        let launcher: Arc<dyn Launcher> = match self.settings.executor {
            ExecutorKind::InProcess => Arc::new(InProcessLauncher {
                env: self.attempt_env(store.clone(), String::new()),
            }),
            ExecutorKind::Process => Arc::new(ProcessLauncher::for_this_binary(&self.settings)?),
        };
        let alerts = Arc::new(crate::outbox::FailureAlerts {
            email: Arc::new(self.settings.email.clone()),
        });
        Ok(Executor::new(
            store,
            launcher,
            self.clock.clone(),
            self.executor_settings(),
        )
        .with_messages(alerts))
    }

    /// The logical date of a run asked for without `--date`: today in the DAG's time zone (or
    /// this second in UTC, for a DAG that fires more often than daily).
    pub fn default_date(&self, dag: &Dag) -> LogicalDate {
        let now = self.clock.now();
        match &dag.schedule {
            Some(schedule) => schedule.logical_date_at(now),
            None => LogicalDate::Day(now.date_naive()),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The run store's and the warehouse's migrations share sqlx's migration table (one
    /// database), so a version number used by both would make one set refuse the other as
    /// "previously applied but modified".
    #[test]
    fn migration_versions_are_unique_across_the_run_store_and_the_warehouse() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        for backend in ["sqlite", "postgres"] {
            let mut seen = std::collections::BTreeMap::new();
            for set in ["migrations", "warehouse"] {
                for entry in std::fs::read_dir(root.join(set).join(backend)).unwrap() {
                    let name = entry.unwrap().file_name().to_string_lossy().to_string();
                    let version = name.split('_').next().unwrap().to_string();
                    if let Some(other) = seen.insert(version.clone(), format!("{set}/{name}")) {
                        panic!("{backend}: version {version} in {other} and {set}/{name}");
                    }
                }
            }
        }
    }
}
