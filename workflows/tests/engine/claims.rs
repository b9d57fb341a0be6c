//! Several schedulers on one run store: each fire time becomes exactly one run, whoever wakes
//! first, and fire times a killed daemon claimed are resumed by another's sweep.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tokio_util::sync::CancellationToken;
use workflows::clock::{Clock, ManualClock};
use workflows::scheduler::{LogObserver, Scheduler};
use workflows::state::RunState;
use workflows::store::FireClaim;

use crate::support::{Backend, Harness, on_both_backends};

const PER_SECOND: &str = r#"
    [dags.ticker]
    schedule = "* * * * * *"
    timezone = "Europe/Berlin"
    catchup = "all"
    max_active_runs = 200
    [dags.ticker.tasks.t]
    kind = "noop"
"#;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()
}

fn daemon(h: &Harness, clock: &ManualClock) -> Arc<Scheduler> {
    let dags = h.dags(PER_SECOND);
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    Arc::new(Scheduler::new(
        dags.dags.into_values(),
        Arc::new(h.executor_with(4, clock.clone())),
        clock,
        Arc::new(LogObserver),
        CancellationToken::new(),
    ))
}

/// Runs per logical date of `ticker`.
async fn runs_by_date(h: &Harness) -> BTreeMap<String, RunState> {
    let runs = h.store.list_runs(Some("ticker"), 10_000).await.unwrap();
    let mut by_date = BTreeMap::new();
    for run in runs {
        let date = run.logical_date.to_string();
        assert!(
            by_date.insert(date.clone(), run.state).is_none(),
            "two runs for {date}"
        );
    }
    by_date
}

/// `daemons` schedulers wake together at each of 120 per-second fire times and race to claim it.
async fn race(h: &Harness, daemons: usize) {
    let clock = ManualClock::new(start());
    let schedulers: Vec<Arc<Scheduler>> = (0..daemons).map(|_| daemon(h, &clock)).collect();
    let dag = schedulers[0].dags()[0].clone();
    for scheduler in &schedulers {
        assert!(scheduler.fire_due(&dag).await.unwrap().is_empty());
    }
    let mut claimed_by = vec![0usize; daemons];
    let mut fired = Vec::new();
    for step in 1..=120 {
        clock.set(start() + Duration::seconds(step));
        let mut wakes = tokio::task::JoinSet::new();
        for (i, scheduler) in schedulers.iter().enumerate() {
            let (scheduler, dag) = (scheduler.clone(), dag.clone());
            wakes.spawn(async move { (i, scheduler.fire_due(&dag).await.unwrap()) });
        }
        while let Some(joined) = wakes.join_next().await {
            let (i, fires) = joined.unwrap();
            claimed_by[i] += fires.len();
            fired.extend(fires.into_iter().map(|fire| fire.at));
        }
    }
    for scheduler in &schedulers {
        scheduler.wait_for_runs().await;
    }
    fired.sort();
    let expected: Vec<DateTime<Utc>> = (1..=120).map(|s| start() + Duration::seconds(s)).collect();
    assert_eq!(fired, expected, "every fire handed out exactly once");
    let runs = runs_by_date(h).await;
    assert_eq!(runs.len(), 120);
    assert!(runs.values().all(|state| *state == RunState::Success));
    assert_eq!(claimed_by.iter().sum::<usize>(), 120, "{claimed_by:?}");
}

on_both_backends!(
    two_daemons_turn_every_fire_into_one_run,
    async |h: &Harness| {
        race(h, 2).await;
    }
);

on_both_backends!(
    three_daemons_turn_every_fire_into_one_run,
    async |h: &Harness| {
        race(h, 3).await;
    }
);

on_both_backends!(
    fires_claimed_by_a_daemon_that_died_are_run_by_another,
    async |h: &Harness| {
        {
            let clock = ManualClock::new(start());
            let survivor = daemon(h, &clock);
            let dag = survivor.dags()[0].clone();
            assert!(survivor.fire_due(&dag).await.unwrap().is_empty());
            // Another daemon claims the next two fires and dies before it runs them.
            let dates = [
                dag.schedule
                    .as_ref()
                    .unwrap()
                    .logical_date_at(start() + Duration::seconds(1)),
                dag.schedule
                    .as_ref()
                    .unwrap()
                    .logical_date_at(start() + Duration::seconds(2)),
            ];
            clock.set(start() + Duration::seconds(2));
            let claimed = h
                .store
                .claim_fires(&FireClaim {
                    dag: "ticker",
                    seen: start(),
                    through: start() + Duration::seconds(2),
                    runs: &dates,
                    tasks: &dag.retry_budgets(),
                    trigger: "scheduled",
                    now: clock.now(),
                })
                .await
                .unwrap();
            assert!(claimed);
            // The survivor finds nothing more to fire: those fires are taken.
            assert!(survivor.fire_due(&dag).await.unwrap().is_empty());
            // Within a lease the runs might still be starting elsewhere: left alone.
            assert!(survivor.resume_abandoned(&dag).await.unwrap().is_empty());
            // Once a lease has passed with nothing happening, the survivor runs them.
            clock.set(clock.now() + Duration::seconds(2));
            let resumed = survivor.resume_abandoned(&dag).await.unwrap();
            assert_eq!(resumed, dates);
            survivor.wait_for_runs().await;
            let runs = runs_by_date(h).await;
            assert_eq!(runs.len(), 2);
            assert!(runs.values().all(|state| *state == RunState::Success));
            // A finished run is never swept again.
            clock.set(clock.now() + Duration::seconds(10));
            assert!(survivor.resume_abandoned(&dag).await.unwrap().is_empty());
        }
    }
);

on_both_backends!(
    the_sweep_counts_runs_other_daemons_drive_against_max_active_runs,
    async |h: &Harness| {
        let toml = PER_SECOND.replace("max_active_runs = 200", "max_active_runs = 1");
        let dags = h.dags(&toml);
        let clock = ManualClock::new(start());
        let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let sweeper = Scheduler::new(
            dags.dags.into_values(),
            Arc::new(h.executor_with(4, shared_clock.clone())),
            shared_clock,
            Arc::new(LogObserver),
            CancellationToken::new(),
        );
        let dag = sweeper.dags()[0].clone();
        let schedule = dag.schedule.as_ref().unwrap();
        let budgets = dag.retry_budgets();
        let now = clock.now();
        // Another daemon drives one run (its task holds a live lease) and has a second queued
        // behind its only slot.
        let driven = schedule.logical_date_at(start() + Duration::seconds(1));
        let waiting = schedule.logical_date_at(start() + Duration::seconds(2));
        let run = h
            .store
            .ensure_run("ticker", &driven, "scheduled", &budgets, now)
            .await
            .unwrap();
        h.store
            .reopen_run(run.id, &[RunState::Queued], &[], now)
            .await
            .unwrap();
        let lease_end = now + Duration::seconds(60);
        let claimed = h.store.claim(run.id, "t", "other", now, lease_end);
        assert!(claimed.await.unwrap().is_some());
        h.store
            .ensure_run("ticker", &waiting, "scheduled", &budgets, now)
            .await
            .unwrap();
        clock.set(now + Duration::seconds(5));
        let stalled =
            h.store
                .abandoned_runs("ticker", clock.now(), std::time::Duration::from_millis(900));
        assert_eq!(
            stalled.await.unwrap().len(),
            1,
            "the queued run looks abandoned"
        );
        // The one slot is taken by the run the other daemon drives: nothing is started.
        assert!(sweeper.resume_abandoned(&dag).await.unwrap().is_empty());
    }
);
