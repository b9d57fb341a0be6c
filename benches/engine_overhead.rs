//! Engine overhead: how long the engine itself takes per task, measured on DAGs of 200 and of
//! 10,000 `noop` tasks (which do nothing), as a chain (each after the previous) and as a fan-out
//! (one root, every other task below it), on SQLite and on PostgreSQL.
//!
//! Run: `cargo bench --bench engine_overhead`. PostgreSQL is the server at `CHURNFLOW_TEST_PG`
//! (default postgres://postgres@127.0.0.1:5432/postgres); without one, its rows are skipped.
//! Prints wall time per run (median of 3 runs at 200 tasks, one run at 10,000) and wall time per
//! task, and the ratio of the per-task times (target: at most 2x). `ENGINE_BENCH_SIZES=200,2000`
//! picks other sizes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use workflows::clock::SystemClock;
use workflows::executor::{AttemptEnv, InProcessLauncher, RunStatus};
use workflows::state::RunState;
use workflows::testing::TestDatabase;
use workflows::{Executor, ExecutorSettings, LogicalDate, RunOptions, RunStore, TaskRegistry};

const SIZES: [usize; 2] = [200, 10_000];
const REPEATS: usize = 3;

fn sizes() -> Vec<usize> {
    std::env::var("ENGINE_BENCH_SIZES")
        .ok()
        .map(|text| {
            text.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .filter(|sizes: &Vec<usize>| !sizes.is_empty())
        .unwrap_or_else(|| SIZES.to_vec())
}

fn chain_toml(dag: &str, tasks: usize) -> String {
    let mut toml = format!("[dags.{dag}.tasks.t0]\nkind = \"noop\"\n");
    for i in 1..tasks {
        toml.push_str(&format!(
            "[dags.{dag}.tasks.t{i}]\nkind = \"noop\"\nafter = [\"t{}\"]\n",
            i - 1
        ));
    }
    toml
}

fn fan_out_toml(dag: &str, tasks: usize) -> String {
    let mut toml = format!("[dags.{dag}.tasks.root]\nkind = \"noop\"\n");
    for i in 1..tasks {
        toml.push_str(&format!(
            "[dags.{dag}.tasks.t{i}]\nkind = \"noop\"\nafter = [\"root\"]\n"
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

/// Median wall time of one run of `dag` over `repeats` logical dates.
async fn measure(
    store: &RunStore,
    toml: &str,
    dag_name: &str,
    artifacts: &std::path::Path,
    repeats: usize,
) -> Duration {
    let registry = Arc::new(TaskRegistry::with_generic_kinds());
    let dags = workflows::config::parse_dags(toml, "bench", &registry).expect("valid bench DAG");
    let dag = Arc::new(dags.get(dag_name).expect("bench DAG").clone());
    let executor = executor(store, &registry, artifacts);
    let mut times = Vec::new();
    for day in 1..=repeats {
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
    for shape in ["chain", "fan-out"] {
        let mut per_task = Vec::new();
        for tasks in sizes() {
            // A DAG name per size: runs are unique per DAG and date.
            let dag = format!("{}_{tasks}", shape.replace('-', "_"));
            let toml = if shape == "chain" {
                chain_toml(&dag, tasks)
            } else {
                fan_out_toml(&dag, tasks)
            };
            let repeats = if tasks > 1_000 { 1 } else { REPEATS };
            let wall = measure(&store, &toml, &dag, artifacts, repeats).await;
            let ms_per_task = wall.as_secs_f64() * 1e3 / tasks as f64;
            per_task.push(ms_per_task);
            println!(
                "{name:<10} {shape:<8} {tasks:>6} tasks  wall {:>9.1} ms  per task {ms_per_task:>6.2} ms",
                wall.as_secs_f64() * 1e3,
            );
        }
        if let (Some(first), Some(last)) = (per_task.first(), per_task.last())
            && per_task.len() > 1
        {
            println!(
                "{name:<10} {shape:<8} per-task time, largest against smallest DAG: {:.2}x",
                last / first
            );
        }
    }
    store.close().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        println!(
            "engine overhead, noop tasks, pool 4, sizes {:?} (median of {REPEATS} runs up to 1,000 tasks)",
            sizes()
        );
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
