//! Fire times across daylight-saving transitions, and the scheduler's catch-up policies, against a
//! clock the test sets: nothing here waits for real time to pass.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tokio_util::sync::CancellationToken;
use workflows::clock::{Clock, ManualClock};
use workflows::schedule::{Catchup, Schedule};
use workflows::scheduler::{LogObserver, Scheduler};
use workflows::state::RunState;

use crate::support::{Backend, Harness, runtime};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// Fire times of `schedule` over a span, as UTC RFC 3339 text with their logical dates.
fn fires(schedule: &Schedule, from: &str, to: &str) -> Vec<(String, String)> {
    schedule
        .fires_between(utc(from), utc(to))
        .into_iter()
        .map(|fire| (fire.at.to_rfc3339(), fire.logical_date.to_string()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(at, date)| (at.to_string(), date.to_string()))
        .collect()
}

#[test]
fn berlin_0230_runs_once_on_each_day_around_spring_forward() {
    // 2026-03-29 02:00 CET jumps to 03:00 CEST: 02:30 does not exist and fires at 03:00 CEST.
    let schedule = Schedule::new("0 30 2 * * *", "Europe/Berlin").unwrap();
    assert_eq!(
        fires(&schedule, "2026-03-27T12:00:00Z", "2026-03-30T12:00:00Z"),
        pairs(&[
            ("2026-03-28T01:30:00+00:00", "2026-03-28"),
            ("2026-03-29T01:00:00+00:00", "2026-03-29"),
            ("2026-03-30T00:30:00+00:00", "2026-03-30"),
        ])
    );
}

#[test]
fn berlin_0230_runs_once_on_each_day_around_fall_back() {
    // 2026-10-25 03:00 CEST goes back to 02:00 CET: 02:30 happens twice and fires at the first.
    let schedule = Schedule::new("0 30 2 * * *", "Europe/Berlin").unwrap();
    assert_eq!(
        fires(&schedule, "2026-10-23T12:00:00Z", "2026-10-26T12:00:00Z"),
        pairs(&[
            ("2026-10-24T00:30:00+00:00", "2026-10-24"),
            ("2026-10-25T00:30:00+00:00", "2026-10-25"),
            ("2026-10-26T01:30:00+00:00", "2026-10-26"),
        ])
    );
}

#[test]
fn new_york_transitions() {
    // 2026-03-08 02:00 EST jumps to 03:00 EDT; 2026-11-01 02:00 EDT goes back to 01:00 EST.
    let spring = Schedule::new("0 30 2 * * *", "America/New_York").unwrap();
    assert_eq!(
        fires(&spring, "2026-03-07T00:00:00Z", "2026-03-09T23:00:00Z"),
        pairs(&[
            ("2026-03-07T07:30:00+00:00", "2026-03-07"),
            ("2026-03-08T07:00:00+00:00", "2026-03-08"),
            ("2026-03-09T06:30:00+00:00", "2026-03-09"),
        ])
    );
    let fall = Schedule::new("0 30 1 * * *", "America/New_York").unwrap();
    assert_eq!(
        fires(&fall, "2026-10-31T00:00:00Z", "2026-11-02T23:00:00Z"),
        pairs(&[
            ("2026-10-31T05:30:00+00:00", "2026-10-31"),
            ("2026-11-01T05:30:00+00:00", "2026-11-01"),
            ("2026-11-02T06:30:00+00:00", "2026-11-02"),
        ])
    );
}

#[test]
fn hourly_schedule_fires_in_both_passes_of_the_repeated_hour() {
    let schedule = Schedule::new("0 0 * * * *", "Europe/Berlin").unwrap();
    let day = fires(&schedule, "2026-10-24T21:59:59Z", "2026-10-25T22:59:59Z");
    assert_eq!(day.len(), 25, "a fall-back day has 25 hours");
    let instants: Vec<DateTime<Utc>> = day.iter().map(|(at, _)| utc(at)).collect();
    assert!(
        instants
            .windows(2)
            .all(|w| w[1] - w[0] == Duration::hours(1))
    );
    let keys: std::collections::BTreeSet<&String> = day.iter().map(|(_, date)| date).collect();
    assert_eq!(keys.len(), 25, "each fire has its own logical date");
    assert_eq!(day[2].1, "2026-10-25T00:00:00Z");
    assert_eq!(day[3].1, "2026-10-25T01:00:00Z");
}

const DAILY_NOOP: &str = r#"
    [dags.nightly]
    schedule = "0 30 2 * * *"
    timezone = "Europe/Berlin"
    catchup = "CATCHUP"
    max_active_runs = 2
    [dags.nightly.tasks.t]
    kind = "noop"
"#;

fn scheduler(h: &Harness, catchup: &str, clock: &ManualClock) -> Scheduler {
    let dags = h.dags(&DAILY_NOOP.replace("CATCHUP", catchup));
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    Scheduler::new(
        dags.dags.into_values(),
        Arc::new(h.executor_with(2, clock.clone())),
        clock,
        Arc::new(LogObserver),
        CancellationToken::new(),
    )
}

async fn run_states(h: &Harness) -> BTreeMap<String, RunState> {
    let runs = h.store.list_runs(Some("nightly"), 100).await.unwrap();
    runs.into_iter()
        .map(|run| (run.logical_date.to_string(), run.state))
        .collect()
}

/// Steps the clock every 10 minutes across both Berlin transitions of 2026 and fires what is due
/// at each step: every local day gets exactly one run, at the right instant.
#[test]
fn scheduler_fires_once_per_local_day_across_transitions() {
    runtime().block_on(async {
        let h = Harness::new(Backend::Sqlite).await.unwrap();
        for (start, days) in [("2026-03-27T12:00:00Z", 3), ("2026-10-23T12:00:00Z", 3)] {
            let clock = ManualClock::new(utc(start));
            let scheduler = scheduler(&h, "none", &clock);
            let dag = scheduler.dags()[0].clone();
            assert!(
                scheduler.fire_due(&dag).await.unwrap().is_empty(),
                "first start fires nothing"
            );
            let mut fired = Vec::new();
            for step in 1..=(days * 24 * 6) {
                clock.set(utc(start) + Duration::minutes(10 * step));
                for fire in scheduler.fire_due(&dag).await.unwrap() {
                    assert!(
                        fire.at <= clock.now() && clock.now() - fire.at < Duration::minutes(10)
                    );
                    fired.push(fire.logical_date.to_string());
                }
            }
            scheduler.wait_for_runs().await;
            let first_day = utc(start).date_naive();
            let expected: Vec<String> = (1..=days)
                .map(|d| (first_day + chrono::Days::new(d as u64)).to_string())
                .collect();
            assert_eq!(fired, expected);
        }
        let states = run_states(&h).await;
        assert_eq!(states.len(), 6);
        assert!(states.values().all(|state| *state == RunState::Success));
        h.finish().await;
    });
}

/// The scheduler last fired on Monday and comes back on Thursday morning.
fn outage(catchup: &str) -> Vec<String> {
    runtime().block_on(async {
        let h = Harness::new(Backend::Sqlite).await.unwrap();
        let monday_fire = Utc.with_ymd_and_hms(2026, 11, 16, 1, 30, 0).unwrap();
        h.store
            .advance_watermark("nightly", monday_fire)
            .await
            .unwrap();
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 19, 9, 0, 0).unwrap());
        let scheduler = scheduler(&h, catchup, &clock);
        let dag = scheduler.dags()[0].clone();
        let fired: Vec<String> = scheduler
            .fire_due(&dag)
            .await
            .unwrap()
            .iter()
            .map(|fire| fire.logical_date.to_string())
            .collect();
        scheduler.wait_for_runs().await;
        let states = run_states(&h).await;
        assert_eq!(states.keys().cloned().collect::<Vec<_>>(), fired);
        assert!(states.values().all(|state| *state == RunState::Success));
        // The missed fires are handled once: looking again a minute later fires nothing.
        clock.set(clock.now() + Duration::minutes(1));
        assert!(scheduler.fire_due(&dag).await.unwrap().is_empty());
        h.finish().await;
        fired
    })
}

#[test]
fn catchup_all_runs_every_missed_day() {
    assert_eq!(outage("all"), ["2026-11-17", "2026-11-18", "2026-11-19"]);
}

#[test]
fn catchup_latest_runs_only_the_newest_missed_day() {
    assert_eq!(outage("latest"), ["2026-11-19"]);
}

#[test]
fn catchup_none_runs_nothing_missed() {
    assert!(outage("none").is_empty());
}

#[test]
fn catchup_policy_names() {
    assert_eq!(
        [Catchup::All, Catchup::Latest, Catchup::None].map(|c| format!("{c:?}")),
        ["All", "Latest", "None"]
    );
}
