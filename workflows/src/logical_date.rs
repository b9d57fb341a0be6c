//! The logical date that, with the DAG name, identifies a run.
//!
//! A DAG that fires at most once a day (a fixed second, minute and hour) is keyed by the local date of
//! its fire time in the DAG's zone, `2026-11-24`. A DAG that fires more often is keyed by the UTC
//! instant of the fire, `2026-10-25T00:00:00Z`: local times repeat in a fall-back night, UTC
//! instants never do. Both forms sort correctly as text, which is how the run store keeps them.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime};

const DAY_FORMAT: &str = "%Y-%m-%d";
const INSTANT_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogicalDate {
    /// A calendar day in the DAG's time zone.
    Day(NaiveDate),
    /// An instant in UTC, to the second.
    Instant(NaiveDateTime),
}

impl LogicalDate {
    /// The calendar day of this logical date.
    pub fn day(&self) -> NaiveDate {
        match self {
            LogicalDate::Day(day) => *day,
            LogicalDate::Instant(instant) => instant.date(),
        }
    }
}

impl fmt::Display for LogicalDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogicalDate::Day(day) => write!(f, "{}", day.format(DAY_FORMAT)),
            LogicalDate::Instant(instant) => write!(f, "{}", instant.format(INSTANT_FORMAT)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a logical date: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)")]
pub struct InvalidLogicalDate(pub String);

impl FromStr for LogicalDate {
    type Err = InvalidLogicalDate;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Ok(day) = NaiveDate::parse_from_str(text, DAY_FORMAT) {
            return Ok(LogicalDate::Day(day));
        }
        NaiveDateTime::parse_from_str(text, INSTANT_FORMAT)
            .map(LogicalDate::Instant)
            .map_err(|_| InvalidLogicalDate(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_forms() {
        for text in ["2026-11-24", "2026-03-29T02:30:00Z"] {
            let parsed: LogicalDate = text.parse().expect("valid logical date");
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn rejects_other_text() {
        let err = "24/11/2026".parse::<LogicalDate>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`24/11/2026` is not a logical date: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)"
        );
    }
}
