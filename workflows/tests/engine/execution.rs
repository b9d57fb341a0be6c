//! Running DAGs: order, parallelism, the pool bound, retries with backoff, timeouts, upstream
//! failure, idempotent re-runs and resume. Each test runs on SQLite and on PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use workflows::RunOptions;
use workflows::executor::RunStatus;
use workflows::state::{RunState, TaskState};

use crate::support::{Backend, DIAMOND, Harness, date, on_both_backends, run, states};

on_both_backends!(
    dependency_order_and_parallel_branches,
    async |h: &Harness| {
        let summary = run(h, DIAMOND, "diamond", RunOptions::default()).await;
        assert_eq!(summary.status, RunStatus::Finished(RunState::Success));
        let (a, b, c, d) = (
            h.recorder.span("a"),
            h.recorder.span("b"),
            h.recorder.span("c"),
            h.recorder.span("d"),
        );
        assert!(b.0 >= a.1 && c.0 >= a.1, "b and c start after a ends");
        assert!(d.0 >= b.1 && d.0 >= c.1, "d starts after b and c end");
        // The two 400 ms branches overlap: each starts before the other ends.
        assert!(b.0 < c.1 && c.0 < b.1, "b and c ran at the same time");
        // d received the outputs of its direct upstream tasks.
        let d_output = summary
            .tasks
            .iter()
            .find(|t| t.task == "d")
            .unwrap()
            .output
            .clone()
            .unwrap();
        assert_eq!(d_output["upstream"], serde_json::json!(["b", "c"]));
    }
);

on_both_backends!(pool_bounds_parallelism, async |h: &Harness| {
    let toml = r#"
        [dags.wide.tasks.t1]
        kind = "sleep"
        params = { ms = 200 }
        [dags.wide.tasks.t2]
        kind = "sleep"
        params = { ms = 200 }
        [dags.wide.tasks.t3]
        kind = "sleep"
        params = { ms = 200 }
        [dags.wide.tasks.t4]
        kind = "sleep"
        params = { ms = 200 }
    "#;
    let dag = Arc::new(h.dags(toml).get("wide").unwrap().clone());
    let summary = h
        .executor(2)
        .run(
            dag,
            date(),
            &RunOptions::default(),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Finished(RunState::Success));
    assert_eq!(h.recorder.max_overlap(), 2);
});

on_both_backends!(retries_with_exponential_backoff, async |h: &Harness| {
    let toml = r#"
        [dags.flaky.tasks.t]
        kind = "sleep"
        retries = 3
        retry_delay = "200ms"
        retry_jitter = 0.0
        params = { fail_first = 2 }
    "#;
    let summary = run(h, toml, "flaky", RunOptions::default()).await;
    assert_eq!(summary.status, RunStatus::Finished(RunState::Success));
    let attempts = h.store.attempts(summary.run.id, Some("t")).await.unwrap();
    let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["failed", "failed", "success"]);
    assert_eq!(
        attempts[0].error.as_deref(),
        Some("planned failure of attempt 1")
    );
    let gap = |i: usize| attempts[i + 1].started_at - attempts[i].ended_at.unwrap();
    assert!(
        gap(0).num_milliseconds() >= 200,
        "first retry waits 200ms, waited {}",
        gap(0)
    );
    assert!(
        gap(1).num_milliseconds() >= 400,
        "second retry waits 400ms, waited {}",
        gap(1)
    );
});

on_both_backends!(retries_run_out, async |h: &Harness| {
    let toml = r#"
        [dags.broken.tasks.t]
        kind = "sleep"
        retries = 1
        retry_delay = "50ms"
        params = { fail_first = 99 }
    "#;
    let summary = run(h, toml, "broken", RunOptions::default()).await;
    assert_eq!(summary.status, RunStatus::Finished(RunState::Failed));
    let task = &summary.tasks[0];
    assert_eq!((task.state, task.try_number), (TaskState::Failed, 2));
    assert_eq!(task.error.as_deref(), Some("planned failure of attempt 2"));
});

on_both_backends!(
    timeout_cancels_and_fails_the_attempt,
    async |h: &Harness| {
        let toml = r#"
        [dags.slow.tasks.t]
        kind = "shell"
        timeout = "300ms"
        params = { command = "echo started; sleep 5; echo never" }
    "#;
        let started = Instant::now();
        let summary = run(h, toml, "slow", RunOptions::default()).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the command was not cancelled"
        );
        assert_eq!(summary.status, RunStatus::Finished(RunState::Failed));
        let attempts = h.store.attempts(summary.run.id, Some("t")).await.unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].outcome, "timed_out");
        assert_eq!(
            attempts[0].error.as_deref(),
            Some("timed out after 300ms and was cancelled")
        );
        assert!(attempts[0].log.contains("started") && !attempts[0].log.contains("never"));
    }
);

on_both_backends!(
    failure_blocks_downstream_not_independent_branches,
    async |h: &Harness| {
        let toml = r#"
        [dags.branches.tasks.bad]
        kind = "shell"
        params = { command = "echo 'bad input' >&2; exit 3" }
        [dags.branches.tasks.below]
        kind = "noop"
        after = ["bad"]
        [dags.branches.tasks.further_below]
        kind = "noop"
        after = ["below"]
        [dags.branches.tasks.independent]
        kind = "sleep"
        params = { ms = 300 }
        [dags.branches.tasks.after_independent]
        kind = "noop"
        after = ["independent"]
    "#;
        let summary = run(h, toml, "branches", RunOptions::default()).await;
        assert_eq!(summary.status, RunStatus::Finished(RunState::Failed));
        let states = states(&summary);
        assert_eq!(states["bad"], "failed");
        assert_eq!(states["below"], "upstream_failed");
        assert_eq!(states["further_below"], "upstream_failed");
        assert_eq!(states["independent"], "success");
        assert_eq!(states["after_independent"], "success");
        let bad = summary.tasks.iter().find(|t| t.task == "bad").unwrap();
        assert_eq!(
            bad.error.as_deref(),
            Some(
                "command `echo 'bad input' >&2; exit 3` ended with exit code 3; last output:\nbad input"
            )
        );
    }
);

on_both_backends!(skipped_task_lets_downstream_run, async |h: &Harness| {
    let toml = r#"
        [dags.skip.tasks.maybe]
        kind = "shell"
        params = { command = "exit 99" }
        [dags.skip.tasks.next]
        kind = "noop"
        after = ["maybe"]
    "#;
    let summary = run(h, toml, "skip", RunOptions::default()).await;
    assert_eq!(summary.status, RunStatus::Finished(RunState::Success));
    let states = states(&summary);
    assert_eq!(
        (states["maybe"].as_str(), states["next"].as_str()),
        ("skipped", "success")
    );
});

on_both_backends!(
    finished_run_is_not_run_again_unless_forced,
    async |h: &Harness| {
        let first = run(h, DIAMOND, "diamond", RunOptions::default()).await;
        assert_eq!(first.status, RunStatus::Finished(RunState::Success));
        let again = run(h, DIAMOND, "diamond", RunOptions::default()).await;
        assert_eq!(again.status, RunStatus::AlreadySucceeded);
        assert_eq!(h.recorder.count("a"), 1, "nothing ran the second time");
        assert_eq!(
            again.run.id, first.run.id,
            "one run per DAG and logical date"
        );
        let forced = run(
            h,
            DIAMOND,
            "diamond",
            RunOptions {
                force: true,
                ..RunOptions::default()
            },
        )
        .await;
        assert_eq!(forced.status, RunStatus::Finished(RunState::Success));
        for task in ["a", "b", "c", "d"] {
            assert_eq!(h.recorder.count(task), 2, "{task} ran again when forced");
        }
        let attempts = h.store.attempts(forced.run.id, Some("a")).await.unwrap();
        assert_eq!(
            attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
            [1, 2]
        );
    }
);

const RESUMABLE: &str = r#"
    [dags.resumable.tasks.first]
    kind = "sleep"
    [dags.resumable.tasks.fragile]
    kind = "toggle"
    after = ["first"]
    [dags.resumable.tasks.last]
    kind = "sleep"
    after = ["fragile"]
"#;

on_both_backends!(
    failed_run_resumes_only_what_did_not_succeed,
    async |h: &Harness| {
        *h.switch.lock().unwrap() = true;
        let failed = run(h, RESUMABLE, "resumable", RunOptions::default()).await;
        assert_eq!(failed.status, RunStatus::Finished(RunState::Failed));
        assert_eq!(states(&failed)["last"], "upstream_failed");
        *h.switch.lock().unwrap() = false;
        let resumed = run(h, RESUMABLE, "resumable", RunOptions::default()).await;
        assert_eq!(resumed.status, RunStatus::Finished(RunState::Success));
        assert_eq!(
            h.recorder.count("first"),
            1,
            "the task that succeeded did not run again"
        );
        assert_eq!(h.recorder.count("last"), 1);
        let fragile = h
            .store
            .attempts(resumed.run.id, Some("fragile"))
            .await
            .unwrap();
        let outcomes: Vec<&str> = fragile.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["failed", "success"]);
    }
);

on_both_backends!(
    from_task_reruns_it_and_everything_downstream,
    async |h: &Harness| {
        let done = run(h, DIAMOND, "diamond", RunOptions::default()).await;
        assert_eq!(done.status, RunStatus::Finished(RunState::Success));
        let options = RunOptions {
            from_task: Some("b".to_string()),
            ..RunOptions::default()
        };
        let rerun = run(h, DIAMOND, "diamond", options).await;
        assert_eq!(rerun.status, RunStatus::Finished(RunState::Success));
        assert_eq!(h.recorder.count("a"), 1);
        assert_eq!(h.recorder.count("c"), 1);
        assert_eq!(h.recorder.count("b"), 2);
        assert_eq!(h.recorder.count("d"), 2);
    }
);

on_both_backends!(unknown_from_task_is_an_error, async |h: &Harness| {
    let dag = Arc::new(h.dags(DIAMOND).get("diamond").unwrap().clone());
    let options = RunOptions {
        from_task: Some("e".to_string()),
        ..RunOptions::default()
    };
    let err = h
        .executor(4)
        .run(dag, date(), &options, &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "dag `diamond` has no task `e`");
});

on_both_backends!(
    a_failure_no_retry_can_help_is_not_retried,
    async |h: &Harness| {
        let toml = r#"
            [dags.strict.tasks.check]
            kind = "sleep"
            retries = 3
            retry_delay = "1s"
            params = { fail_first = 10, permanent = true }
            [dags.strict.tasks.after]
            kind = "sleep"
            after = ["check"]
        "#;
        let started = std::time::Instant::now();
        let summary = run(h, toml, "strict", RunOptions::default()).await;
        assert_eq!(summary.status, RunStatus::Finished(RunState::Failed));
        let check = summary.tasks.iter().find(|t| t.task == "check").unwrap();
        assert_eq!(check.try_number, 1, "one attempt, no retry");
        assert_eq!(check.state.to_string(), "failed");
        assert!(
            check
                .error
                .as_deref()
                .unwrap()
                .ends_with("(not retried: a retry cannot help)"),
            "{:?}",
            check.error
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(states(&summary)["after"], "upstream_failed");
    }
);

on_both_backends!(a_huge_error_is_stored_cut, async |h: &Harness| {
    let toml = r#"
        [dags.loud.tasks.shout]
        kind = "shell"
        retries = 0
        params = { command = "head -c 1000000 /dev/zero | tr '\\0' x; echo; exit 1" }
    "#;
    let summary = run(h, toml, "loud", RunOptions::default()).await;
    let error = summary.tasks[0].error.as_deref().unwrap();
    assert!(error.len() < 9_000, "{} bytes stored", error.len());
    assert!(
        error.ends_with("more bytes)"),
        "{}",
        &error[error.len() - 40..]
    );
    let attempts = h.store.attempts(summary.run.id, None).await.unwrap();
    assert!(
        attempts[0].log.len() < 9_000,
        "{} bytes of log",
        attempts[0].log.len()
    );
});
