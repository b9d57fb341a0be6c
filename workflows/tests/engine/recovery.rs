//! What happens when processes die, race or are stopped: a lapsed lease is recovered, two
//! executors on one run execute each task once, and a shutdown leaves nothing running.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use workflows::RunOptions;
use workflows::executor::RunStatus;
use workflows::state::{RunState, TaskState};

use crate::support::{Backend, DIAMOND, Harness, date, on_both_backends, run, states};

on_both_backends!(
    task_left_running_by_a_dead_process_is_retried,
    async |h: &Harness| {
        let dag = Arc::new(h.dags(DIAMOND).get("diamond").unwrap().clone());
        let retries: Vec<(String, u32)> = dag.tasks.iter().map(|t| (t.name.clone(), 0)).collect();
        let now = Utc::now();
        let run_record = h
            .store
            .ensure_run("diamond", &date(), "manual", &retries, now)
            .await
            .unwrap();
        // A process claims `a` and dies: its lease is never extended.
        let claimed = h
            .store
            .claim(
                run_record.id,
                "a",
                "dead-host:1:gone",
                now,
                now + Duration::from_millis(300),
            )
            .await
            .unwrap();
        assert_eq!(claimed, Some((1, 1)));
        let summary = run(h, DIAMOND, "diamond", RunOptions::default()).await;
        assert_eq!(summary.status, RunStatus::Finished(RunState::Success));
        let attempts = h.store.attempts(run_record.id, Some("a")).await.unwrap();
        let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(
            outcomes,
            ["lost", "success"],
            "the lost attempt does not use up the retry budget"
        );
        assert!(
            attempts[0]
                .error
                .as_deref()
                .unwrap()
                .contains("stopped sending heartbeats")
        );
        assert_eq!(h.recorder.count("a"), 1);
    }
);

on_both_backends!(
    two_executors_on_one_run_execute_each_task_once,
    async |h: &Harness| {
        let dag = Arc::new(h.dags(DIAMOND).get("diamond").unwrap().clone());
        let (first, second) = (h.executor(4), h.executor(4));
        let cancel = CancellationToken::new();
        let options = RunOptions::default();
        let (one, two) = tokio::join!(
            first.run(dag.clone(), date(), &options, &cancel),
            second.run(dag.clone(), date(), &options, &cancel),
        );
        let (one, two) = (one.unwrap(), two.unwrap());
        assert_eq!(one.run.id, two.run.id);
        assert_eq!(one.status, RunStatus::Finished(RunState::Success));
        assert_eq!(two.status, RunStatus::Finished(RunState::Success));
        for task in ["a", "b", "c", "d"] {
            assert_eq!(h.recorder.count(task), 1, "{task} ran exactly once");
        }
    }
);

on_both_backends!(
    shutdown_leaves_nothing_running_and_resumes,
    async |h: &Harness| {
        let toml = r#"
        [dags.long.tasks.quick]
        kind = "sleep"
        [dags.long.tasks.slow]
        kind = "shell"
        after = ["quick"]
        params = { command = "sleep 10" }
    "#;
        let dag = Arc::new(h.dags(toml).get("long").unwrap().clone());
        let cancel = CancellationToken::new();
        let stopper = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            stopper.cancel();
        });
        let started = std::time::Instant::now();
        let summary = h
            .executor(4)
            .run(dag.clone(), date(), &RunOptions::default(), &cancel)
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the stop waited for the task"
        );
        assert_eq!(summary.status, RunStatus::Interrupted);
        assert_eq!(summary.run.state, RunState::Queued);
        assert_eq!(
            h.store
                .count_tasks_in(summary.run.id, TaskState::Running)
                .await
                .unwrap(),
            0
        );
        assert_eq!(states(&summary)["slow"], "queued");
        let attempts = h
            .store
            .attempts(summary.run.id, Some("slow"))
            .await
            .unwrap();
        assert_eq!(attempts[0].outcome, "interrupted");
        // The interrupted attempt gave its try back: with retries = 0 the task may still run.
        let slow = summary.tasks.iter().find(|t| t.task == "slow").unwrap();
        assert!(slow.try_number < slow.max_tries);
        assert_eq!(h.recorder.count("quick"), 1);
    }
);
