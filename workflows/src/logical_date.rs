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

/// A calendar day written exactly as `YYYY-MM-DD`. chrono alone takes `26-12-04` as the year 26
/// and `2026-1-4` as January 4th; a date that does not print back as it was written is refused.
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, DAY_FORMAT)
        .ok()
        .filter(|day| day.format(DAY_FORMAT).to_string() == text)
}

impl FromStr for LogicalDate {
    type Err = InvalidLogicalDate;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(day) = parse_day(text) {
            return Ok(LogicalDate::Day(day));
        }
        NaiveDateTime::parse_from_str(text, INSTANT_FORMAT)
            .ok()
            .filter(|instant| instant.format(INSTANT_FORMAT).to_string() == text)
            .map(LogicalDate::Instant)
            .ok_or_else(|| InvalidLogicalDate(text.to_string()))
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
    fn dates_are_parsed_strictly() {
        for text in [
            "26-12-04",
            "2026-1-4",
            "2026-12-4",
            "02026-12-04",
            "2026-02-30",
        ] {
            assert!(parse_day(text).is_none(), "{text}");
            assert!(text.parse::<LogicalDate>().is_err(), "{text}");
        }
        assert!("2026-11-24T1:30:00Z".parse::<LogicalDate>().is_err());
        assert_eq!(
            parse_day("2026-12-04"),
            NaiveDate::from_ymd_opt(2026, 12, 4)
        );
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
