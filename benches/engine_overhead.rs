//! Engine overhead: how long the engine itself takes per task, measured on DAGs of 200 `noop`
//! tasks (which do nothing), as a chain (each after the previous) and as a fan-out (one root, 200
//! independent tasks below it), on SQLite and on PostgreSQL.
//!
//! Run: `cargo bench --bench engine_overhead`. PostgreSQL is the server at `CHURNFLOW_TEST_PG`
//! (default postgres://postgres@127.0.0.1:5432/postgres); without one, its rows are skipped.
//! Prints wall time per run (median of 3) and wall time per task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use workflows::clock::SystemClock;
use workflows::executor::{AttemptEnv, InProcessLauncher, RunStatus};
use workflows::state::RunState;
use workflows::testing::TestDatabase;
use workflows::{Executor, ExecutorSettings, LogicalDate, RunOptions, RunStore, TaskRegistry};

const TASKS: usize = 200;
const REPEATS: usize = 3;

fn chain_toml() -> String {
    let mut toml = String::from("[dags.chain.tasks.t0]\nkind = \"noop\"\n");
    for i in 1..TASKS {
        toml.push_str(&format!(
            "[dags.chain.tasks.t{i}]\nkind = \"noop\"\nafter = [\"t{}\"]\n",
            i - 1
        ));
    }
    toml
}

fn fan_out_toml() -> String {
    let mut toml = String::from("[dags.fan_out.tasks.root]\nkind = \"noop\"\n");
    for i in 1..TASKS {
        toml.push_str(&format!(
            "[dags.fan_out.tasks.t{i}]\nkind = \"noop\"\nafter = [\"root\"]\n"
        ));
    }
    toml
}

fn executor(
    store: &RunStore,
    registry: &Arc<TaskRegistry>,
    artifacts: &std::path::Path,
) -> Executor {
    let settings = ExecutorSettings {
        pool_size: 4,
        lease: Duration::from_secs(30),
        poll: Duration::from_millis(200),
        artifacts_root: artifacts.to_path_buf(),
    };
    let env = AttemptEnv {
        store: store.clone(),
        registry: registry.clone(),
        clock: Arc::new(SystemClock),
        settings: settings.clone(),
        owner: String::new(),
    };
    Executor::new(
        store.clone(),
        Arc::new(InProcessLauncher { env }),
        Arc::new(SystemClock),
        settings,
    )
}

/// Median wall time of one run of `dag` over a few logical dates.
async fn measure(
    store: &RunStore,
    toml: &str,
    dag_name: &str,
    artifacts: &std::path::Path,
) -> Duration {
    let registry = Arc::new(TaskRegistry::with_generic_kinds());
    let dags = workflows::config::parse_dags(toml, "bench", &registry).expect("valid bench DAG");
    let dag = Arc::new(dags.get(dag_name).expect("bench DAG").clone());
    let executor = executor(store, &registry, artifacts);
    let mut times = Vec::new();
    for day in 1..=REPEATS {
        let date: LogicalDate = format!("2026-01-{day:02}").parse().expect("date");
        let start = Instant::now();
        let summary = executor
            .run(
                dag.clone(),
                date,
                &RunOptions::default(),
                &CancellationToken::new(),
            )
            .await
            .expect("bench run");
        times.push(start.elapsed());
        assert_eq!(summary.status, RunStatus::Finished(RunState::Success));
    }
    times.sort();
    times[times.len() / 2]
}

async fn bench_backend(name: &str, store: RunStore, artifacts: &std::path::Path) {
    for (shape, toml, dag) in [
        ("chain", chain_toml(), "chain"),
        ("fan-out", fan_out_toml(), "fan_out"),
    ] {
        let wall = measure(&store, &toml, dag, artifacts).await;
        println!(
            "{name:<10} {shape:<8} {TASKS} tasks  wall {:>8.1} ms  per task {:>6.2} ms",
            wall.as_secs_f64() * 1e3,
            wall.as_secs_f64() * 1e3 / TASKS as f64
        );
    }
    store.close().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        println!("engine overhead, {TASKS} noop tasks, pool 4, median of {REPEATS} runs");
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = TestDatabase::sqlite(dir.path());
        bench_backend("sqlite", sqlite.connect().await, dir.path()).await;
        match TestDatabase::postgres().await {
            Some(pg) => {
                bench_backend("postgres", pg.connect().await, dir.path()).await;
                pg.drop_database().await;
            }
            None => println!("postgres   skipped: no server"),
        }
    });
}
