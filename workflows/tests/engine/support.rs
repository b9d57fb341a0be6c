//! Test task kinds, a recorder of when tasks ran, and builders for stores and executors.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use tempfile::TempDir;
use workflows::clock::{Clock, SystemClock};
use workflows::executor::{AttemptEnv, InProcessLauncher};
use workflows::kinds::NoParams;
use workflows::testing::TestDatabase;
use workflows::{
    DagSet, Executor, ExecutorSettings, RunStore, Task, TaskContext, TaskError, TaskOutcome,
    TaskRegistry,
};

/// When each task attempt started and ended, as the test kinds saw it.
#[derive(Clone, Default)]
pub struct Recorder {
    spans: Arc<Mutex<Vec<(String, Instant, Instant)>>>,
}

impl Recorder {
    fn record(&self, task: &str, start: Instant, end: Instant) {
        self.spans
            .lock()
            .unwrap()
            .push((task.to_string(), start, end));
    }

    pub fn span(&self, task: &str) -> (Instant, Instant) {
        let spans = self.spans.lock().unwrap();
        let found: Vec<_> = spans.iter().filter(|(name, _, _)| name == task).collect();
        assert_eq!(
            found.len(),
            1,
            "task {task} should have run once, ran {}",
            found.len()
        );
        (found[0].1, found[0].2)
    }

    pub fn count(&self, task: &str) -> usize {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(name, _, _)| name == task)
            .count()
    }

    /// The most tasks that were running at the same moment.
    pub fn max_overlap(&self) -> usize {
        let spans = self.spans.lock().unwrap();
        spans
            .iter()
            .map(|(_, start, _)| {
                spans
                    .iter()
                    .filter(|(_, s, e)| s <= start && start < e)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }
}

/// `sleep`: waits `ms`, fails its first `fail_first` attempts, and records its span.
pub struct Sleep(pub Recorder);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepParams {
    #[serde(default)]
    pub ms: u64,
    #[serde(default)]
    pub fail_first: i64,
    /// Fail as a retry cannot help.
    #[serde(default)]
    pub permanent: bool,
}

#[async_trait]
impl Task for Sleep {
    type Params = SleepParams;

    fn kind(&self) -> &'static str {
        "sleep"
    }

    async fn run(&self, ctx: &TaskContext, params: SleepParams) -> Result<TaskOutcome, TaskError> {
        let start = Instant::now();
        ctx.log.line(format!("sleeping {} ms", params.ms));
        tokio::time::sleep(Duration::from_millis(params.ms)).await;
        self.0.record(&ctx.task, start, Instant::now());
        if ctx.attempt <= params.fail_first {
            let message = format!("planned failure of attempt {}", ctx.attempt);
            return Err(if params.permanent {
                TaskError::permanent(message)
            } else {
                TaskError::new(message)
            });
        }
        Ok(TaskOutcome::Success(serde_json::json!({
            "task": ctx.task,
            "upstream": ctx.upstream.keys().collect::<Vec<_>>(),
        })))
    }
}

/// `toggle`: fails while the shared switch is on; for resume tests.
pub struct Toggle(pub Arc<Mutex<bool>>);

#[async_trait]
impl Task for Toggle {
    type Params = NoParams;

    fn kind(&self) -> &'static str {
        "toggle"
    }

    async fn run(&self, _ctx: &TaskContext, _params: NoParams) -> Result<TaskOutcome, TaskError> {
        if *self.0.lock().unwrap() {
            Err(TaskError::new("the switch is on"))
        } else {
            Ok(TaskOutcome::Success(serde_json::Value::Null))
        }
    }
}

pub struct Harness {
    pub recorder: Recorder,
    pub switch: Arc<Mutex<bool>>,
    pub registry: Arc<TaskRegistry>,
    pub store: RunStore,
    pub dir: TempDir,
    database: TestDatabase,
}

pub enum Backend {
    Sqlite,
    Postgres,
}

impl Harness {
    /// None when the backend is PostgreSQL and no server is reachable outside CI.
    pub async fn new(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let database = match backend {
            Backend::Sqlite => TestDatabase::sqlite(dir.path()),
            Backend::Postgres => TestDatabase::postgres().await?,
        };
        let store = database.connect().await;
        let recorder = Recorder::default();
        let switch = Arc::new(Mutex::new(false));
        let mut registry = TaskRegistry::with_generic_kinds();
        registry.register(Sleep(recorder.clone()));
        registry.register(Toggle(switch.clone()));
        Some(Self {
            recorder,
            switch,
            registry: Arc::new(registry),
            store,
            dir,
            database,
        })
    }

    pub fn dags(&self, toml: &str) -> DagSet {
        workflows::config::parse_dags(toml, "test dags.toml", &self.registry)
            .unwrap_or_else(|err| panic!("{err}"))
    }

    pub fn settings(&self, pool_size: usize) -> ExecutorSettings {
        ExecutorSettings {
            pool_size,
            lease: Duration::from_millis(900),
            poll: Duration::from_millis(50),
            artifacts_root: self.dir.path().join("artifacts"),
        }
    }

    pub fn executor_with(&self, pool_size: usize, clock: Arc<dyn Clock>) -> Executor {
        let env = AttemptEnv {
            store: self.store.clone(),
            registry: self.registry.clone(),
            clock: clock.clone(),
            settings: self.settings(pool_size),
            owner: String::new(),
        };
        Executor::new(
            self.store.clone(),
            Arc::new(InProcessLauncher { env }),
            clock,
            self.settings(pool_size),
        )
    }

    pub fn executor(&self, pool_size: usize) -> Executor {
        self.executor_with(pool_size, Arc::new(SystemClock))
    }

    pub async fn finish(self) {
        self.store.close().await;
        self.database.drop_database().await;
    }
}

/// The logical date most tests run.
pub fn date() -> workflows::LogicalDate {
    "2026-11-23".parse().unwrap()
}

/// A diamond of `sleep` tasks: a, then b and c at once, then d.
pub const DIAMOND: &str = r#"
    [dags.diamond.tasks.a]
    kind = "sleep"
    params = { ms = 100 }
    [dags.diamond.tasks.b]
    kind = "sleep"
    after = ["a"]
    params = { ms = 400 }
    [dags.diamond.tasks.c]
    kind = "sleep"
    after = ["a"]
    params = { ms = 400 }
    [dags.diamond.tasks.d]
    kind = "sleep"
    after = ["b", "c"]
"#;

/// Runs `dag` of `toml` for [`date`] with a pool of 4, to its end.
pub async fn run(
    harness: &Harness,
    toml: &str,
    dag: &str,
    options: workflows::RunOptions,
) -> workflows::RunSummary {
    let dags = harness.dags(toml);
    let dag = Arc::new(dags.get(dag).unwrap().clone());
    harness
        .executor(4)
        .run(
            dag,
            date(),
            &options,
            &tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap()
}

/// Task states of a run by task name, as text.
pub fn states(summary: &workflows::RunSummary) -> BTreeMap<String, String> {
    summary
        .tasks
        .iter()
        .map(|ti| (ti.task.clone(), ti.state.to_string()))
        .collect()
}

/// A runtime like the binary's: multi-threaded, so that blocking and parallel work behave as in
/// production.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Declares a test that runs once on SQLite and once on PostgreSQL. The body is an async closure
/// taking `&Harness`.
macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn sqlite() {
                crate::support::runtime().block_on(async {
                    let harness = Harness::new(Backend::Sqlite)
                        .await
                        .expect("SQLite is embedded");
                    ($body)(&harness).await;
                    harness.finish().await;
                });
            }

            #[test]
            fn postgres() {
                crate::support::runtime().block_on(async {
                    let Some(harness) = Harness::new(Backend::Postgres).await else {
                        return;
                    };
                    ($body)(&harness).await;
                    harness.finish().await;
                });
            }
        }
    };
}
pub(crate) use on_both_backends;
