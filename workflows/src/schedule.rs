//! A DAG's cron schedule in its IANA time zone: fire times, catch-up, and the logical date of a fire.
//!
//! Fire times are computed by croner in the DAG's zone (not at a fixed UTC offset, which is what
//! tokio-cron-scheduler does, its issue 107). Across daylight-saving transitions:
//! - a local time that does not exist (02:30 on a spring-forward day in Europe/Berlin) fires at the
//!   first instant after the gap (03:00 local), so the day still gets its run;
//! - a local time that occurs twice (02:30 on a fall-back day) fires once, at its first occurrence.
//!
//! Schedules that fire more often than daily (a wildcard or step in the second, minute or hour field)
//! fire at every real instant that matches, in both passes of a repeated hour.

use std::str::FromStr;

use chrono::{DateTime, Offset as _, TimeZone as _, Timelike as _, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::{Cron, JobType};
use serde::{Deserialize, Serialize};

use crate::logical_date::LogicalDate;

/// What the scheduler does with fire times that passed while it was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Catchup {
    /// Run every missed fire time, oldest first.
    All,
    /// Run only the most recent missed fire time.
    #[default]
    Latest,
    /// Run nothing missed; wait for the next fire time.
    None,
}

/// One moment at which a DAG is due, with the logical date of the run it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fire {
    pub at: DateTime<Utc>,
    pub logical_date: LogicalDate,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    cron: Cron,
    timezone: Tz,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("bad cron expression `{expression}`: {reason}")]
    Cron { expression: String, reason: String },
    #[error("unknown time zone `{0}`: expected an IANA name such as Europe/Berlin")]
    TimeZone(String),
}

/// Longer than any clock change (they are at most an hour, two in a few historical zones).
const FOLD_LOOKBACK: chrono::Duration = chrono::Duration::hours(3);

/// A bound on one query, so that a per-second schedule over a long outage cannot exhaust memory.
const MAX_FIRES_PER_QUERY: usize = 100_000;

impl Schedule {
    pub fn new(expression: &str, timezone: &str) -> Result<Self, ScheduleError> {
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expression)
            .map_err(|err| ScheduleError::Cron {
                expression: expression.to_string(),
                reason: err.to_string(),
            })?;
        let timezone =
            Tz::from_str(timezone).map_err(|_| ScheduleError::TimeZone(timezone.to_string()))?;
        Ok(Self {
            expression: expression.to_string(),
            cron,
            timezone,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// True when the schedule fires at most once per local day, so a run is keyed by its day.
    pub fn is_at_most_daily(&self) -> bool {
        matches!(self.cron.determine_job_type(), JobType::FixedTime)
    }

    /// The first fire time strictly after `instant`, or None when the pattern never fires again.
    pub fn next_after(&self, instant: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = |at: DateTime<Utc>| at.with_timezone(&self.timezone);
        let next = self
            .cron
            .find_next_occurrence(&local(instant), false)
            .ok()?
            .with_timezone(&Utc);
        // croner's plain search skips the second pass of a repeated (fall-back) hour; its iterator
        // yields both passes when it starts before the first. So where the offset falls between a
        // little before `instant` and `next`, search again with the iterator from before the fold.
        let before = instant - FOLD_LOOKBACK;
        if self.utc_offset(before) <= self.utc_offset(next) {
            return Some(next);
        }
        let earlier = self
            .cron
            .iter_after(local(before))
            .map(|at| at.with_timezone(&Utc))
            .take_while(|at| *at <= next)
            .find(|at| *at > instant);
        Some(earlier.unwrap_or(next))
    }

    fn utc_offset(&self, at: DateTime<Utc>) -> i32 {
        self.timezone
            .offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc()
    }

    /// Every fire time in `(after, until]`, oldest first.
    pub fn fires_between(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Fire> {
        let mut fires = Vec::new();
        let mut cursor = after;
        while let Some(next) = self.next_after(cursor) {
            if next > until || fires.len() >= MAX_FIRES_PER_QUERY {
                break;
            }
            fires.push(self.fire_at(next));
            cursor = next;
        }
        fires
    }

    /// The fire at an instant the schedule produced.
    pub fn fire_at(&self, at: DateTime<Utc>) -> Fire {
        Fire {
            at,
            logical_date: self.logical_date_at(at),
        }
    }

    /// The logical date of a run at `at`: its local day for a daily schedule, else the UTC second.
    pub fn logical_date_at(&self, at: DateTime<Utc>) -> LogicalDate {
        if self.is_at_most_daily() {
            LogicalDate::Day(at.with_timezone(&self.timezone).date_naive())
        } else {
            LogicalDate::Instant(at.naive_utc().with_nanosecond(0).unwrap_or(at.naive_utc()))
        }
    }
}

/// Of the fire times `fires` (oldest first, none after `now`; every fire after the watermark),
/// those to start: the ones at most `grace` old are on time and all start; older ones were missed
/// (the scheduler was down or suspended) and start as the catch-up policy says.
pub fn due_among(
    fires: Vec<Fire>,
    now: DateTime<Utc>,
    catchup: Catchup,
    grace: chrono::Duration,
) -> Vec<Fire> {
    let (mut missed, on_time): (Vec<Fire>, Vec<Fire>) =
        fires.into_iter().partition(|fire| fire.at < now - grace);
    let mut due = match catchup {
        Catchup::All => missed,
        Catchup::Latest => missed.pop().into_iter().collect(),
        Catchup::None => Vec::new(),
    };
    due.extend(on_time);
    due
}
