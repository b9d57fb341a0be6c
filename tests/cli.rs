//! The `churnflow` binary driven as a process, the way cron, CI and people use it.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Workspace, code, stderr};
use workflows::testing::TestDatabase;

fn wait_for_file(path: &Path, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < limit, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_with_limit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the process did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: i32, name: &str) {
    let status = Command::new("kill")
        .args([name, "--", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {name} {pid}");
}

/// Each task appends its name to `effects`, so a test can count how often each ran.
const SIDE_EFFECTS: &str = r#"
[dags.effects]
on_failure_email = ["ops@example.com"]
[dags.effects.tasks.a]
kind = "shell"
params = { command = "sleep 0.3; echo a >> $WORK/effects" }
[dags.effects.tasks.b]
kind = "shell"
after = ["a"]
params = { command = "sleep 0.3; echo b >> $WORK/effects" }
[dags.effects.tasks.c]
kind = "shell"
after = ["a"]
params = { command = "sleep 0.3; echo c >> $WORK/effects" }
[dags.effects.tasks.d]
kind = "shell"
after = ["b", "c"]
params = { command = "echo d >> $WORK/effects" }
"#;

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

#[test]
fn dags_check_lists_every_mistake_and_exits_2() {
    let ws = Workspace::new(
        r#"
        [dags.nightly]
        schedule = "0 30 2 * *"
        timezone = "Mars/Olympus"
        [dags.nightly.tasks.train]
        kind = "pyhton"
        [dags.nightly.tasks.score]
        kind = "noop"
        after = ["trian"]
        "#,
    );
    let output = ws.run(&["dags", "check"]);
    assert_eq!(code(&output), 2);
    insta::assert_snapshot!(
        stderr(&output).replace(&ws.path("dags.toml").display().to_string(), "dags.toml")
    );
    // Nothing runs from a file that fails its checks.
    let run = ws.run(&["run", "nightly", "--date", "2026-11-23"]);
    assert_eq!(code(&run), 2);
    assert!(!ws.path("state").join("churnflow.db").exists());
}

/// Every value of the churn stages' params that `dags check` can know is checked there, each
/// problem naming its key, not at 02:30.
#[test]
fn dags_check_catches_bad_stage_values() {
    let ws = Workspace::new(
        r#"
        [dags.nightly.tasks.train]
        kind = "train"
        params = { holdout_fraction = 1.5, alpha = -1, max_iterations = 0 }
        [dags.nightly.tasks.evaluate]
        kind = "evaluate"
        params = { threshold = 2 }
        [dags.nightly.tasks.gate]
        kind = "gate"
        params = { policy = { min_roc_auc = 1.7, max_brier = -1 } }
        [dags.nightly.tasks.score]
        kind = "score"
        params = { model = "a/../b", tiers = [{ name = "high", min_probability = 0.6, action = "call" }] }
        [dags.nightly.tasks.drift]
        kind = "drift"
        [dags.nightly.tasks.drift.params.thresholds]
        psi = { low = 0.3, medium = 0.2, high = 0.25 }
        wasserstein = { low = 0.1, medium = 0.2, high = 0.3 }
        jensen_shannon = { low = 0.05, medium = 0.1, high = 0.2 }
        [dags.nightly.tasks.report]
        kind = "report"
        params = { to = ["retention team"], top = 0, contract = "missing.toml" }
        "#,
    );
    let output = ws.run(&["dags", "check"]);
    assert_eq!(code(&output), 2);
    insta::assert_snapshot!(
        stderr(&output).replace(&ws.path("dags.toml").display().to_string(), "dags.toml")
    );
}

/// A DAG that scores but never publishes passes the check with a warning: its days would
/// never reach the CRM's view.
#[test]
fn dags_check_warns_of_a_dag_that_scores_but_never_publishes() {
    let ws = Workspace::new(
        r#"
        [dags.old.tasks.score]
        kind = "score"
        "#,
    );
    let output = ws.run(&["dags", "check"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("warning: dag `old` scores but has no `publish` task"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn run_succeeds_once_and_reports_as_tables_and_json() {
    let ws = Workspace::new(SIDE_EFFECTS);
    let output = ws.run(&["run", "effects", "--date", "2026-11-23"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let log = stderr(&output);
    assert!(
        log.contains("task started") && log.contains("task finished"),
        "{log}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("effects 2026-11-23: run success"));
    assert_eq!(sorted(ws.lines("effects")), ["a", "b", "c", "d"]);

    let again = ws.run(&["run", "effects", "--date", "2026-11-23"]);
    assert_eq!(code(&again), 0);
    assert_eq!(
        ws.lines("effects").len(),
        4,
        "a finished run is not run again"
    );

    let tasks = ws.json(&["tasks", "effects", "--date", "2026-11-23", "--json"]);
    assert_eq!(tasks["run"]["state"], "success");
    let states: Vec<&str> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["success"; 4]);
    assert_eq!(tasks["attempts"].as_array().unwrap().len(), 4);
    let runs = ws.json(&["runs", "--json"]);
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["logical_date"], "2026-11-23");

    let logs = ws.run(&["logs", "effects", "--date", "2026-11-23", "--task", "a"]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("=== attempt 1 · success"));
}

#[test]
fn failed_run_exits_1_and_emails_an_alert_to_the_outbox() {
    let ws = Workspace::new(
        r#"
        [dags.fragile]
        on_failure_email = ["ops@example.com", "lead@example.com"]
        [dags.fragile.tasks.load]
        kind = "shell"
        params = { command = "echo 'cannot read customers.parquet' >&2; exit 4" }
        [dags.fragile.tasks.report]
        kind = "noop"
        after = ["load"]
        "#,
    );
    let output = ws.run(&["run", "fragile", "--date", "2026-11-23", "--json"]);
    assert_eq!(code(&output), 1);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["status"], "failed");
    let outbox: Vec<_> = std::fs::read_dir(ws.path("state").join("outbox"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    assert_eq!(outbox.len(), 1);
    let raw = std::fs::read(&outbox[0]).unwrap();
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        message.subject(),
        Some("[churnflow] FAILED fragile 2026-11-23: load")
    );
    let to: Vec<&str> = message
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["ops@example.com", "lead@example.com"]);
    let body = message.body_text(0).unwrap();
    assert!(
        body.contains("- load (after 1 attempt(s)): command"),
        "{body}"
    );
    assert!(body.contains("cannot read customers.parquet"), "{body}");
    assert!(body.contains("1 task(s) did not run"), "{body}");
}

#[test]
fn run_killed_mid_task_resumes_to_success() {
    let ws = Workspace::new(
        r#"
        [dags.killable.tasks.first]
        kind = "shell"
        params = { command = "echo first >> $WORK/effects" }
        [dags.killable.tasks.long]
        kind = "shell"
        after = ["first"]
        params = { command = "touch $WORK/long-started; sleep 3; echo long >> $WORK/effects" }
        [dags.killable.tasks.last]
        kind = "shell"
        after = ["long"]
        params = { command = "echo last >> $WORK/effects" }
        "#,
    );
    let mut command = ws.command(&["run", "killable", "--date", "2026-11-23"]);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&ws.path("long-started"), Duration::from_secs(20));
    // SIGKILL the whole process group, as when a machine or container dies: no cleanup runs.
    signal(-(child.id() as i32), "-KILL");
    child.wait().unwrap();
    let tasks = ws.json(&["tasks", "killable", "--date", "2026-11-23", "--json"]);
    let long = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == "long")
        .unwrap()
        .clone();
    assert_eq!(
        long["state"], "running",
        "the killed process left its claim behind"
    );

    let resumed = ws.run(&["run", "killable", "--date", "2026-11-23"]);
    assert_eq!(code(&resumed), 0, "{}", stderr(&resumed));
    assert_eq!(ws.lines("effects"), ["first", "long", "last"]);
    let tasks = ws.json(&["tasks", "killable", "--date", "2026-11-23", "--json"]);
    let attempts: Vec<(String, String)> = tasks["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["task"] == "long")
        .map(|a| {
            (
                a["attempt"].to_string(),
                a["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [("1".into(), "lost".into()), ("2".into(), "success".into())]
    );
}

/// SIGKILL of `churnflow run` alone (not its process group): its shell task's child dies with it
/// instead of finishing a side effect the next run repeats.
#[test]
fn a_killed_run_leaves_no_orphan_to_repeat_a_side_effect() {
    let ws = Workspace::new(
        r#"
        [dags.orphan.tasks.long]
        kind = "shell"
        params = { command = "touch $WORK/long-started; sleep 2; echo long >> $WORK/effects" }
        "#,
    );
    let mut child = ws
        .command(&["run", "orphan", "--date", "2026-11-23"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&ws.path("long-started"), Duration::from_secs(20));
    signal(child.id() as i32, "-KILL");
    child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        ws.lines("effects").is_empty(),
        "the orphan finished its side effect"
    );
    let resumed = ws.run(&["run", "orphan", "--date", "2026-11-23"]);
    assert_eq!(code(&resumed), 0, "{}", stderr(&resumed));
    assert_eq!(ws.lines("effects"), ["long"]);
}

#[test]
fn two_runs_started_together_execute_each_task_once() {
    let ws = Workspace::new(SIDE_EFFECTS);
    let start = |_| {
        ws.command(&["run", "effects", "--date", "2026-11-23"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children: Vec<Child> = (0..2).map(start).collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(code(&output), 0, "{}", stderr(&output));
    }
    assert_eq!(sorted(ws.lines("effects")), ["a", "b", "c", "d"]);
}

#[test]
fn process_executor_runs_each_attempt_in_its_own_process() {
    let ws = Workspace::new(SIDE_EFFECTS);
    let output = ws
        .command(&["run", "effects", "--date", "2026-11-23"])
        .env("CHURNFLOW_EXECUTOR", "process")
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(sorted(ws.lines("effects")), ["a", "b", "c", "d"]);
}

/// `--from-task` runs that task and those after it again, with or without `--force` (which used
/// to win silently and run every task again).
#[test]
fn from_task_reruns_only_what_follows_even_with_force() {
    let ws = Workspace::new(SIDE_EFFECTS);
    let date = "2026-11-23";
    let output = ws.run(&["run", "effects", "--date", date]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(sorted(ws.lines("effects")), ["a", "b", "c", "d"]);
    let output = ws.run(&["run", "effects", "--date", date, "--from-task", "b"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(sorted(ws.lines("effects")), ["a", "b", "b", "c", "d", "d"]);
    let output = ws.run(&[
        "run",
        "effects",
        "--date",
        date,
        "--force",
        "--from-task",
        "c",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        sorted(ws.lines("effects")),
        ["a", "b", "b", "c", "c", "d", "d", "d"]
    );
    let output = ws.run(&["run", "effects", "--date", date, "--force"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        ws.lines("effects").len(),
        12,
        "--force alone runs all four again"
    );
}

/// A task that fails and one after it.
const FRAGILE: &str = r#"
[dags.fragile]
[dags.fragile.tasks.load]
kind = "shell"
params = { command = "exit 4" }
[dags.fragile.tasks.after]
kind = "noop"
after = ["load"]
"#;

/// `churnflow task run` exits 1 when its attempt fails (it used to exit 0), and the process
/// executor, which runs every attempt that way, still reads the failure from its reply.
#[test]
fn a_failed_task_attempt_exits_1_and_the_process_executor_reads_it() {
    let ws = Workspace::new(FRAGILE);
    let output = ws.run(&["task", "run", "fragile", "load", "--date", "2026-11-23"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "finished failed"
    );
    let output = ws.run(&["task", "run", "fragile", "after", "--date", "2026-11-23"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));

    let ws = Workspace::new(FRAGILE);
    let output = ws
        .command(&["run", "fragile", "--date", "2026-11-23", "--json"])
        .env("CHURNFLOW_EXECUTOR", "process")
        .output()
        .unwrap();
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["status"], "failed", "{summary:#}");
    let load = summary["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == "load")
        .unwrap();
    assert_eq!(load["state"], "failed", "{summary:#}");
    assert_eq!(
        load["attempts"], 1,
        "one attempt, not a launch error: {summary:#}"
    );
}

#[test]
fn scheduler_fires_a_per_second_cron_and_stops_cleanly_on_sigterm() {
    let ws = Workspace::new(
        r#"
        [dags.ticker]
        schedule = "* * * * * *"
        catchup = "none"
        max_active_runs = 3
        [dags.ticker.tasks.tick]
        kind = "shell"
        params = { command = "echo $CHURNFLOW_LOGICAL_DATE >> $WORK/ticks" }
        "#,
    );
    let mut child = ws
        .command(&["schedule"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(4500));
    signal(child.id() as i32, "-TERM");
    let status = wait_with_limit(&mut child, Duration::from_secs(10));
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(status.success(), "exit {status}: {log}");
    assert!(
        log.contains("SIGTERM received") && log.contains("scheduler stopped"),
        "{log}"
    );

    let runs = ws.json(&["runs", "ticker", "--json"]);
    let runs = runs.as_array().unwrap();
    assert!(runs.len() >= 3, "fired {} runs in 4.5 s", runs.len());
    for run in runs {
        assert_eq!(run["trigger"], "scheduled");
        assert_ne!(
            run["state"], "running",
            "a clean stop leaves no run running"
        );
        let date = run["logical_date"].as_str().unwrap();
        let tasks = ws.json(&["tasks", "ticker", "--date", date, "--json"]);
        assert_ne!(tasks["tasks"][0]["state"], "running");
    }
    let ticks = ws.lines("ticks");
    let distinct: std::collections::BTreeSet<&String> = ticks.iter().collect();
    assert_eq!(distinct.len(), ticks.len(), "each fire ran once: {ticks:?}");
}

/// Output into a pipe whose reader has gone (`... | head -1`): the command ends quietly with its
/// own exit code, never a panic (exit 101).
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let ws = Workspace::new(&format!(
        "{SIDE_EFFECTS}\n{}",
        include_str!("../dags.toml")
            .split("[dags.demo]")
            .nth(1)
            .map(|rest| format!("[dags.demo]{rest}"))
            .unwrap()
    ));
    let with_closed_stdout = |args: &[&str]| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = ws
            .command(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        (code(&output), stderr(&output))
    };
    assert_eq!(
        code(&ws.run(&["run", "effects", "--date", "2026-11-23"])),
        0
    );
    for args in [
        &["dags", "list"][..],
        &["dags", "show", "demo"],
        &["dags", "graph", "demo"],
        &["dags", "graph", "demo", "--format", "dot"],
        &["runs"],
        &["tasks", "effects", "--date", "2026-11-23"],
        &["tasks", "effects", "--date", "2026-11-23", "--json"],
        &["config"],
        &["run", "effects", "--date", "2026-11-24"],
    ] {
        let (status, err) = with_closed_stdout(args);
        assert_eq!(status, 0, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // The run behind the closed pipe still ran every task.
    assert_eq!(ws.lines("effects").len(), 8);
}

/// Shell tasks do not inherit secret-bearing variables unless the DAG passes them, and whatever
/// they print has every known secret masked before it is stored.
#[test]
fn shell_tasks_get_no_secrets_unless_asked_and_their_logs_are_masked() {
    let ws = Workspace::new(
        r#"
        [dags.secrets.tasks.plain]
        kind = "shell"
        params = { command = "echo \"smtp=[$CHURNFLOW_SMTP_URL]\"; echo 'the password is hunter2'" }
        [dags.secrets.tasks.asked]
        kind = "shell"
        params = { command = "echo \"smtp=[$CHURNFLOW_SMTP_URL]\"", pass_env = ["CHURNFLOW_SMTP_URL"] }
        "#,
    );
    let output = ws
        .command(&["run", "secrets", "--date", "2026-11-23"])
        .env("CHURNFLOW_SMTP_URL", "smtp://mailer:hunter2@127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let log = |task: &str| {
        let output = ws.run(&["logs", "secrets", "--date", "2026-11-23", "--task", task]);
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    let plain = log("plain");
    assert!(plain.contains("smtp=[]"), "{plain}");
    assert!(plain.contains("the password is ***"), "{plain}");
    let asked = log("asked");
    assert!(
        asked.contains("smtp=[smtp://mailer:***@127.0.0.1:1]"),
        "{asked}"
    );
    assert!(!plain.contains("hunter2") && !asked.contains("hunter2"));
}

#[test]
fn config_hides_passwords_in_userinfo_and_query_parameters() {
    let ws = Workspace::new(SIDE_EFFECTS);
    let output = ws
        .command(&["config"])
        .env(
            "DATABASE_URL",
            "postgres://churn@db.example/churn?password=hunter2&sslmode=require",
        )
        .env(
            "CHURNFLOW_SMTP_URL",
            "smtps://mailer:s3cret@mail.example:465",
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("postgres://churn@db.example/churn?password=***&sslmode=require"),
        "{text}"
    );
    assert!(
        text.contains("smtps://mailer:***@mail.example:465"),
        "{text}"
    );
    assert!(
        !text.contains("hunter2") && !text.contains("s3cret"),
        "{text}"
    );
}

/// Three daemons on one PostgreSQL run store, started 0.7 s apart, with a per-second cron; the
/// second is killed (SIGKILL) half-way. Every fire of the window is exactly one run, and the runs
/// the killed daemon had claimed are finished by the others.
#[test]
fn three_daemons_on_one_database_turn_every_fire_into_one_run() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(database) = runtime.block_on(TestDatabase::postgres()) else {
        return;
    };
    let mut ws = Workspace::new(
        r#"
        [dags.ticker]
        schedule = "* * * * * *"
        timezone = "Europe/Berlin"
        catchup = "all"
        max_active_runs = 8
        [dags.ticker.tasks.tick]
        kind = "shell"
        params = { command = "echo $CHURNFLOW_LOGICAL_DATE >> $WORK/ticks" }
        "#,
    );
    ws.database_url = Some(database.url.clone());
    let mut daemons: Vec<Child> = (0..3)
        .map(|_| {
            let child = ws
                .command(&["schedule"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(700));
            child
        })
        .collect();
    let started = chrono::Utc::now();
    std::thread::sleep(Duration::from_secs(6));
    let killed_at = chrono::Utc::now();
    daemons[1].kill().unwrap();
    let _ = daemons[1].wait();
    std::thread::sleep(Duration::from_secs(6));
    let stopped = chrono::Utc::now();
    for (i, daemon) in daemons.iter_mut().enumerate() {
        if i != 1 {
            signal(daemon.id() as i32, "-TERM");
            wait_with_limit(daemon, Duration::from_secs(20));
        }
    }
    let runs = ws.json(&["runs", "ticker", "--limit", "1000", "--json"]);
    let runs: std::collections::BTreeMap<String, String> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|run| {
            (
                run["logical_date"].as_str().unwrap().to_string(),
                run["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let second = |at: chrono::DateTime<chrono::Utc>| at.timestamp();
    let window = (second(started) + 1)..(second(stopped) - 1);
    let fires = window.clone().count();
    let mut missing = Vec::new();
    for fire in window {
        let date = chrono::DateTime::from_timestamp(fire, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        match runs.get(&date) {
            None => missing.push(date),
            // Runs up to two seconds after the kill have had the others' sweep (lease 1 s).
            Some(state) if fire <= second(killed_at) + 2 => {
                assert_eq!(state, "success", "{date}: {runs:?}")
            }
            Some(_) => {}
        }
    }
    assert!(
        missing.is_empty(),
        "of {fires} fires, no run for {missing:?}"
    );
    // A task runs twice only if the killed daemon died between its side effect and recording
    // it (a lost attempt is retried): at most the fires around the kill.
    let mut seen = std::collections::BTreeSet::new();
    for tick in ws.lines("ticks") {
        if !seen.insert(tick.clone()) {
            let at = chrono::DateTime::parse_from_rfc3339(&tick)
                .unwrap()
                .timestamp();
            assert!(
                (at - second(killed_at)).abs() <= 2,
                "{tick} ran twice, away from the kill"
            );
        }
    }
    runtime.block_on(database.drop_database());
}

/// GET `path` from a server on loopback; the response body, or None while it does not answer.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

/// The daemon serves Prometheus metrics over loopback while it runs a schedule: runs and task
/// attempts by DAG and state, durations as histograms, the time of the last success, the outbox
/// backlog.
#[test]
fn the_scheduler_serves_metrics_during_scheduled_runs() {
    let ws = Workspace::new(
        r#"
        [dags.ticker]
        schedule = "* * * * * *"
        catchup = "none"
        [dags.ticker.tasks.tick]
        kind = "shell"
        params = { command = "true" }
        "#,
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = ws
        .command(&["schedule", "--metrics-addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut body = String::new();
    while started.elapsed() < Duration::from_secs(20) {
        body = http_get(port, "/metrics").unwrap_or_default();
        if body.contains("churnflow_last_success_timestamp_seconds{dag=\"ticker\"}")
            && body.contains("churnflow_outbox_unsent")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    signal(child.id() as i32, "-TERM");
    wait_with_limit(&mut child, Duration::from_secs(10));
    for expected in [
        "churnflow_runs_total{dag=\"ticker\",state=\"success\"}",
        "churnflow_task_attempts_total{dag=\"ticker\",task=\"tick\",outcome=\"success\"}",
        "churnflow_task_duration_seconds_bucket{dag=\"ticker\",task=\"tick\",le=\"0.5\"}",
        "churnflow_run_duration_seconds_count{dag=\"ticker\",state=\"success\"}",
        "churnflow_last_success_timestamp_seconds{dag=\"ticker\"}",
        "churnflow_outbox_unsent 0",
        "# TYPE churnflow_runs_total counter",
    ] {
        assert!(body.contains(expected), "`{expected}` not in:\n{body}");
    }
}

/// `CHURNFLOW_LOG_FORMAT=json`: one JSON object per line, with the run's and the attempt's span
/// fields, for log collectors.
#[test]
fn json_logs_carry_dag_date_task_and_attempt() {
    let ws = Workspace::new(SIDE_EFFECTS);
    let output = ws
        .command(&["run", "effects", "--date", "2026-11-23"])
        .env("CHURNFLOW_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let lines: Vec<Value> = stderr(&output)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: not JSON: {line}"))
        })
        .collect();
    let finished = lines
        .iter()
        .find(|line| line["message"] == "task finished")
        .expect("a task finished line");
    assert_eq!(finished["level"], "INFO");
    let spans = finished["spans"].as_array().unwrap();
    let task_span = spans.iter().find(|s| s["name"] == "task").unwrap();
    assert_eq!(task_span["dag"], "effects");
    assert_eq!(task_span["logical_date"], "2026-11-23");
    assert_eq!(task_span["attempt"], 1);
    assert!(task_span["task"].is_string());
    assert!(
        !stderr(&output).contains("already exists, skipping"),
        "sqlx's notices are below the default level"
    );
}

/// A run for a date after today would put its scores ahead of every later night's: it needs
/// --allow-future (run and backfill).
#[test]
fn a_run_for_a_future_date_needs_a_flag() {
    let ws = Workspace::new(SIDE_EFFECTS);
    let future = (chrono::Utc::now().date_naive() + chrono::Days::new(40)).to_string();
    let output = ws.run(&["run", "effects", "--date", &future]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("pass --allow-future"),
        "{}",
        stderr(&output)
    );
    assert!(ws.lines("effects").is_empty(), "nothing ran");
    let output = ws.run(&[
        "backfill",
        "effects",
        "--from",
        "2026-11-01",
        "--to",
        &future,
    ]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("--allow-future"),
        "{}",
        stderr(&output)
    );
    let output = ws.run(&["run", "effects", "--date", &future, "--allow-future"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
}

/// The binary alone: without a dags.toml it uses the built-in one (quickstart runs), and
/// `churnflow init` writes dags.toml and the contract template, never over existing files.
#[test]
fn the_binary_alone_runs_quickstart_and_init_writes_its_files() {
    let ws = Workspace::new("");
    std::fs::remove_file(ws.path("dags.toml")).unwrap();
    let list = ws.json(&["dags", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|dag| dag["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"nightly_churn"), "{names:?}");
    let output = ws.run(&["quickstart", "--customers", "2000"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));

    let output = ws.run(&["init"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let dags = std::fs::read_to_string(ws.path("dags.toml")).unwrap();
    assert_eq!(dags, include_str!("../dags.toml"));
    let contract = std::fs::read_to_string(ws.path("contract.toml")).unwrap();
    assert!(contract.contains("label_horizon_days = 90"));
    std::fs::write(ws.path("dags.toml"), "# edited\n").unwrap();
    let again = ws.run(&["init"]);
    assert_eq!(code(&again), 2);
    assert!(
        stderr(&again).contains("pass --force"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read_to_string(ws.path("dags.toml")).unwrap(),
        "# edited\n"
    );
    assert_eq!(code(&ws.run(&["init", "--force"])), 0);
    // The template checks as a contract: the written DAGs pointed at it pass `dags check`.
    let pointed = dags.replace(
        "[dags.nightly_churn.tasks.validate]\nkind = \"validate\"\n",
        "[dags.nightly_churn.tasks.validate]\nkind = \"validate\"\nparams = { contract = \"contract.toml\" }\n",
    );
    assert_ne!(pointed, dags);
    std::fs::write(ws.path("dags.toml"), pointed).unwrap();
    let check = ws.run(&["dags", "check"]);
    assert_eq!(code(&check), 0, "{}", stderr(&check));
}

/// The README's first command on a later day: the demo data made yesterday gets today's
/// snapshot and the nightly DAG runs, instead of stopping for lack of a snapshot.
#[test]
fn quickstart_on_a_later_day_adds_the_days_demo_snapshot() {
    let ws = Workspace::new(include_str!("../dags.toml"));
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Days::new(1)).to_string();
    let output = ws.run(&["demo-data", "--customers", "2000", "--date", &yesterday]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let output = ws.run(&["quickstart"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("adding it (2000 customers)"), "{text}");
    // A store without the demo marker (someone's own data) is not filled with demo data.
    std::fs::remove_file(ws.path("state/store/demo-data.json")).unwrap();
    // The newest snapshot is the one quickstart just added for today (in the DAG's zone).
    let mut days: Vec<_> = std::fs::read_dir(ws.path("state/store/features"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    days.sort();
    std::fs::remove_dir_all(days.last().unwrap()).unwrap();
    let output = ws.run(&["quickstart"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("holds snapshots, but none for"),
        "{}",
        stderr(&output)
    );
}

/// `run --no-email`: a failed run queues and sends no alert.
#[test]
fn a_run_without_email_sends_none() {
    let ws = Workspace::new(
        r#"
        [dags.fragile]
        on_failure_email = ["ops@example.com"]
        [dags.fragile.tasks.load]
        kind = "shell"
        retries = 0
        params = { command = "exit 4" }
        "#,
    );
    let output = ws.run(&["run", "fragile", "--date", "2026-11-23", "--no-email"]);
    assert_eq!(code(&output), 1);
    let queued = ws.json(&["outbox", "--json"]);
    assert!(queued.as_array().unwrap().is_empty(), "{queued:#}");
    assert!(!ws.path("state/outbox").exists());
    // Without the flag the same failure alerts.
    let output = ws.run(&["run", "fragile", "--date", "2026-11-24"]);
    assert_eq!(code(&output), 1);
    assert_eq!(ws.json(&["outbox", "--json"]).as_array().unwrap().len(), 1);
}

#[test]
fn run_store_on_postgres() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(database) = runtime.block_on(TestDatabase::postgres()) else {
        return;
    };
    let mut ws = Workspace::new(SIDE_EFFECTS);
    ws.database_url = Some(database.url.clone());
    let output = ws.run(&["run", "effects", "--date", "2026-11-23"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        !ws.path("state").join("churnflow.db").exists(),
        "nothing was written to SQLite"
    );
    let tasks = ws.json(&["tasks", "effects", "--date", "2026-11-23", "--json"]);
    assert_eq!(tasks["run"]["state"], "success");
    runtime.block_on(database.drop_database());
}

#[test]
fn unreachable_database_is_a_clear_error_without_the_password() {
    let mut ws = Workspace::new(SIDE_EFFECTS);
    ws.database_url = Some("postgres://churn:hunter2@127.0.0.1:1/churn".to_string());
    let started = Instant::now();
    let output = ws.run(&["run", "effects", "--date", "2026-11-23"]);
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(code(&output), 2);
    let text = stderr(&output);
    assert!(
        text.contains("run store at postgres://churn:***@127.0.0.1:1/churn: cannot connect"),
        "{text}"
    );
    // The cause, at once: not "pool timed out" after 30 s.
    assert!(text.contains("Connection refused"), "{text}");
    assert!(seconds < 10.0, "took {seconds:.1}s");
    assert!(!text.contains("hunter2"));
}

const VALIDATING: &str = r#"
[dags.checked.tasks.validate]
kind = "validate"
[dags.checked.tasks.after]
kind = "shell"
after = ["validate"]
params = { command = "echo ran >> $WORK/effects" }
"#;

#[test]
fn validate_stage_passes_demo_data_and_stops_on_bad_input() {
    let ws = Workspace::new(VALIDATING);
    let generated = ws.run(&[
        "demo-data",
        "--customers",
        "300",
        "--date",
        "2026-11-24",
        "--history-days",
        "60",
    ]);
    assert_eq!(code(&generated), 0, "{}", stderr(&generated));
    assert!(
        String::from_utf8_lossy(&generated.stdout)
            .starts_with("wrote 3 snapshots (0 labelled), 900 rows")
    );

    let good = ws.run(&["run", "checked", "--date", "2026-11-24"]);
    assert_eq!(code(&good), 0, "{}", stderr(&good));
    assert_eq!(ws.lines("effects"), ["ran"]);

    // No snapshot for the date: a clear message, the run fails, nothing downstream runs.
    let missing = ws.run(&["run", "checked", "--date", "2026-11-20", "--json"]);
    assert_eq!(code(&missing), 1);
    let summary: Value = serde_json::from_slice(&missing.stdout).unwrap();
    let error = summary["tasks"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("no snapshot for 2026-11-20: `features/snapshot_date=2026-11-20/part-0.parquet` is missing"), "{error}");
    assert_eq!(summary["tasks"][1]["state"], "upstream_failed");

    // A corrupt Parquet file names the object.
    let corrupt = ws.path("state/store/features/snapshot_date=2026-11-24/part-0.parquet");
    std::fs::write(&corrupt, b"PAR1 this is not parquet").unwrap();
    let broken = ws.run(&[
        "run",
        "checked",
        "--date",
        "2026-11-24",
        "--force",
        "--json",
    ]);
    assert_eq!(code(&broken), 1);
    let summary: Value = serde_json::from_slice(&broken.stdout).unwrap();
    let error = summary["tasks"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("decoding Parquet `features/snapshot_date=2026-11-24/part-0.parquet`"),
        "{error}"
    );
    assert_eq!(
        ws.lines("effects"),
        ["ran"],
        "nothing downstream ran on bad input"
    );
}

/// Model families' parameters are checked by `dags check`, naming the key: an unknown family, a
/// bad learning rate or depth, and the old top-level settings beside `families`.
#[test]
fn dags_check_refuses_bad_family_parameters() {
    let dags = include_str!("../dags.toml");
    let bad = dags
        .replace("learning_rate = 0.1", "learning_rate = 1.5")
        .replace("max_depth = 8", "max_depth = 0");
    assert_ne!(bad, dags);
    let ws = Workspace::new(&bad);
    let output = ws.run(&["dags", "check"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("families.gradient_boosting.learning_rate = 1.5 is not in (0, 1]"),
        "{text}"
    );
    assert!(
        text.contains("families.gradient_boosting.max_depth = 0 is not in 1..=12"),
        "{text}"
    );

    let unknown = dags.replace(
        "[dags.nightly_churn.tasks.train.params.families.gradient_boosting]",
        "[dags.nightly_churn.tasks.train.params.families.xgboost]",
    );
    assert_ne!(unknown, dags);
    let ws = Workspace::new(&unknown);
    let output = ws.run(&["dags", "check"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("unknown field `xgboost`"),
        "{}",
        stderr(&output)
    );

    let mixed = dags.replace("window_days = 365\n", "window_days = 365\nalpha = 2.0\n");
    assert_ne!(mixed, dags);
    let ws = Workspace::new(&mixed);
    let output = ws.run(&["dags", "check"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("belong under families.logistic_regression"),
        "{}",
        stderr(&output)
    );
}

/// The actions' economics are checked before any night runs: a save rate that is not a share, a
/// negative cost and a tier named twice, each named; an unknown threshold source too.
#[test]
fn dags_check_refuses_bad_action_economics() {
    let dags = include_str!("../dags.toml");
    let bad = dags
        .replace("save_rate = 0.35", "save_rate = 1.5")
        .replace("contact_cost = 0.2 ", "contact_cost = -1.0")
        .replace("tier = \"medium\"", "tier = \"high\"");
    assert_ne!(bad, dags);
    let ws = Workspace::new(&bad);
    let output = ws.run(&["dags", "check"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let text = stderr(&output);
    for expected in [
        "actions[0] (tier `high`): save_rate = 1.5 is not in (0, 1)",
        "actions[1] (tier `high`): contact_cost = -1 is not a finite amount >= 0",
        "two actions are set for tier `high`",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }

    let unknown = dags.replace("thresholds = \"costs\"", "thresholds = \"profit\"");
    assert_ne!(unknown, dags);
    let ws = Workspace::new(&unknown);
    let output = ws.run(&["dags", "check"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("unknown variant `profit`"),
        "{}",
        stderr(&output)
    );
}
