//! dags.toml errors: each mistake is reported with the DAG, task and key it sits in, all at once.

use workflows::TaskRegistry;
use workflows::config::parse_dags;

fn errors_of(toml: &str) -> String {
    let registry = TaskRegistry::with_generic_kinds();
    match parse_dags(toml, "dags.toml", &registry) {
        Ok(_) => panic!("the file should have been refused"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn unknown_task_kind() {
    let text = errors_of(
        r#"
        [dags.nightly.tasks.train]
        kind = "pyhton"
        "#,
    );
    insta::assert_snapshot!(text, @r"
    dags.toml: 1 error
      - dag `nightly`, task `train`: unknown task kind `pyhton`; known kinds: noop, shell
    ");
}

#[test]
fn unknown_dependency() {
    let text = errors_of(
        r#"
        [dags.nightly.tasks.score]
        kind = "noop"
        after = ["trian"]
        "#,
    );
    insta::assert_snapshot!(text, @r"
    dags.toml: 1 error
      - dag `nightly`, task `score`: key `after`: unknown dependency `trian`, no task of that name in this DAG
    ");
}

#[test]
fn cycle_names_its_tasks_in_order() {
    let text = errors_of(
        r#"
        [dags.nightly.tasks.start]
        kind = "noop"
        [dags.nightly.tasks.a]
        kind = "noop"
        after = ["start", "c"]
        [dags.nightly.tasks.b]
        kind = "noop"
        after = ["a"]
        [dags.nightly.tasks.c]
        kind = "noop"
        after = ["b"]
        "#,
    );
    insta::assert_snapshot!(text, @r"
    dags.toml: 1 error
      - dag `nightly`: dependency cycle: a -> b -> c -> a
    ");
}

#[test]
fn bad_cron_and_time_zone() {
    let text = errors_of(
        r#"
        [dags.cron_typo]
        schedule = "0 30 25 * * *"
        [dags.cron_typo.tasks.t]
        kind = "noop"

        [dags.zone_typo]
        schedule = "0 30 2 * * *"
        timezone = "Europe/Berln"
        [dags.zone_typo.tasks.t]
        kind = "noop"
        "#,
    );
    insta::assert_snapshot!(text);
}

#[test]
fn bad_durations() {
    let text = errors_of(
        r#"
        [dags.nightly.tasks.train]
        kind = "noop"
        timeout = "ten minutes"
        retry_delay = "0s"
        "#,
    );
    insta::assert_snapshot!(text);
}

#[test]
fn parameter_of_the_wrong_type() {
    let text = errors_of(
        r#"
        [dags.nightly.tasks.extract]
        kind = "shell"
        params = { command = 42 }

        [dags.nightly.tasks.load]
        kind = "shell"
        params = { comand = "echo hi" }
        "#,
    );
    insta::assert_snapshot!(text);
}

/// A task whose own params are wrong is left out of the DAG; the tasks after it are still checked
/// (this once panicked while ordering them).
#[test]
fn tasks_after_a_task_with_bad_params_are_reported_not_a_crash() {
    let text = errors_of(
        r#"
        [dags.nightly.tasks.extract]
        kind = "shell"
        params = { comand = "echo hi" }

        [dags.nightly.tasks.load]
        kind = "noop"
        after = ["extract"]

        [dags.nightly.tasks.report]
        kind = "noop"
        after = ["load"]
        "#,
    );
    assert_eq!(
        text,
        "dags.toml: 1 error\n  - dag `nightly`, task `extract`: key `params` for kind `shell`: unknown field `comand`, expected one of `command`, `env`, `working_dir`, `pass_env`"
    );
}

#[test]
fn misspelt_keys_are_errors_not_defaults() {
    let text = errors_of(
        r#"
        [dags.nightly]
        schedul = "0 30 2 * * *"
        [dags.nightly.tasks.train]
        kind = "noop"
        retires = 3
        "#,
    );
    insta::assert_snapshot!(text);
}

#[test]
fn every_mistake_of_every_dag_is_collected() {
    let text = errors_of(
        r#"
        [defaults]
        retry_jitter = 1.5

        [dags.first]
        catchup = "sometimes"
        [dags.first.tasks.a]
        kind = "noop"

        [dags.loop]
        [dags.loop.tasks.a]
        kind = "noop"
        after = ["a"]

        [dags.second]
        max_active_runs = 0
        on_failure_email = ["not-an-address"]
        [dags.second.tasks.x]
        kind = "nope"
        [dags.second.tasks.y]
        kind = "noop"
        after = ["x", "x"]
        "#,
    );
    insta::assert_snapshot!(text);
}

#[test]
fn toml_syntax_error_names_the_line() {
    let text = errors_of("[dags.nightly\nkind = 1\n");
    assert!(text.starts_with("dags.toml: 1 error"), "{text}");
    assert!(text.contains("line 1"), "{text}");
}

#[test]
fn valid_file_orders_tasks_and_fills_defaults() {
    let registry = TaskRegistry::with_generic_kinds();
    let set = parse_dags(
        r#"
        [defaults]
        retries = 2
        retry_delay = "1s"
        timeout = "10m"

        [dags.nightly]
        schedule = "0 30 2 * * *"
        timezone = "Europe/Berlin"
        catchup = "all"

        [dags.nightly.tasks.report]
        kind = "noop"
        after = ["score", "drift"]
        retries = 0
        [dags.nightly.tasks.drift]
        kind = "noop"
        after = ["validate"]
        [dags.nightly.tasks.score]
        kind = "shell"
        after = ["validate"]
        params = { command = "true", env = { A = "1" } }
        [dags.nightly.tasks.validate]
        kind = "noop"
        "#,
        "dags.toml",
        &registry,
    )
    .unwrap();
    let dag = set.get("nightly").unwrap();
    let order: Vec<&str> = dag.tasks.iter().map(|t| t.name.as_str()).collect();
    let position = |name: &str| order.iter().position(|n| *n == name).unwrap();
    assert!(position("validate") < position("score"));
    assert!(position("validate") < position("drift"));
    assert!(position("score") < position("report") && position("drift") < position("report"));
    let report = dag.task("report").unwrap();
    assert_eq!(report.retry.retries, 0);
    assert_eq!(dag.task("score").unwrap().retry.retries, 2);
    assert_eq!(report.timeout, Some(std::time::Duration::from_secs(600)));
    assert_eq!(
        dag.schedule.as_ref().unwrap().timezone().name(),
        "Europe/Berlin"
    );
}

#[test]
fn a_bad_default_is_reported_once_and_not_inherited() {
    let text = errors_of(
        r#"
        [defaults]
        retry_jitter = 1.5
        timeout = "forever"
        [dags.nightly.tasks.a]
        kind = "noop"
        [dags.nightly.tasks.b]
        kind = "noop"
        "#,
    );
    insta::assert_snapshot!(text, @r"
    dags.toml: 2 errors
      - [defaults]: key `timeout`: `forever` is not a duration (expected number at 0); write it like `90s`, `5m` or `1h 30m`
      - [defaults]: key `retry_jitter`: 1.5 is not a fraction in [0, 1]
    ");
}

#[test]
fn wrong_types_name_their_key_and_values_dags_check_can_know_are_checked() {
    let long = "n".repeat(101);
    let text = errors_of(&format!(
        r#"
        [dags.typed]
        max_active_runs = -2
        [dags.typed.tasks.a]
        kind = "noop"
        retries = -1
        [dags.typed.tasks.b]
        kind = "noop"
        after = "a"
        [dags.feb30]
        schedule = "0 0 0 30 2 *"
        [dags.feb30.tasks.{long}]
        kind = "noop"
        "#
    ));
    insta::assert_snapshot!(text);
}
