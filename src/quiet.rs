//! Time intervals for quiet hours: named windows of the week, in a named time zone, that routes
//! use to mute themselves (`mute_time_intervals`) or to be active only then
//! (`active_time_intervals`), as in Alertmanager.
//!
//! An interval holds a moment when the moment's local weekday is one of `weekdays` (every day
//! when left out) and its local time of day is in one of `times` (all day when left out). A range
//! whose end is not after its start wraps past midnight (`22:00`-`07:00`); its morning part
//! belongs to the day it falls on, so `weekdays = ["saturday"]` with `22:00`-`07:00` holds
//! Saturday before 07:00 and from 22:00.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

/// One `[[time_interval]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalConfig {
    /// Name used by routes.
    pub name: String,
    /// Times of day, `{ start = "22:00", end = "07:00" }`; all day when left out.
    #[serde(default)]
    pub times: Vec<TimeRange>,
    /// Days of the week (`monday` ... `sunday`); every day when left out.
    #[serde(default)]
    pub weekdays: Vec<Weekday>,
    /// IANA time zone the times and days are read in (`Europe/Berlin`); UTC when left out.
    #[serde(default = "utc")]
    pub location: String,
}

pub(crate) fn utc() -> String {
    "UTC".to_string()
}

/// A time-of-day range, `HH:MM` on a 24-hour clock.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    pub start: String,
    pub end: String,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    fn index(self) -> u32 {
        self as u32
    }
}

/// An interval ready to test moments against.
#[derive(Debug, Clone)]
pub struct TimeInterval {
    /// (start, end) minutes of the day; `end <= start` wraps past midnight.
    ranges: Vec<(u32, u32)>,
    /// Allowed weekdays, Monday = 0; `None` for every day.
    days: Option<Vec<u32>>,
    tz: Tz,
}

/// `"07:30"` as minutes of the day; `"24:00"` is the end of the day.
pub fn parse_hhmm(s: &str) -> Result<u32, String> {
    let bad = || {
        format!("{s:?} is not a time of day: write \"HH:MM\" on a 24-hour clock, e.g. \"07:30\"")
    };
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl TimeInterval {
    /// Compiles a table; the error names the key and says what to write.
    pub fn new(cfg: &TimeIntervalConfig) -> Result<TimeInterval, (&'static str, String)> {
        let tz: Tz = cfg.location.parse().map_err(|_| {
            (
                "location",
                format!(
                    "{:?} is not a time zone: write an IANA name such as \"Europe/Berlin\" or \"UTC\"",
                    cfg.location
                ),
            )
        })?;
        let mut ranges = Vec::new();
        for r in &cfg.times {
            let start = parse_hhmm(&r.start).map_err(|e| ("times", e))?;
            let end = parse_hhmm(&r.end).map_err(|e| ("times", e))?;
            if start == end {
                return Err((
                    "times",
                    format!(
                        "{}-{} is empty: leave `times` out for the whole day",
                        r.start, r.end
                    ),
                ));
            }
            ranges.push((start, end % (24 * 60)));
        }
        let days =
            (!cfg.weekdays.is_empty()).then(|| cfg.weekdays.iter().map(|d| d.index()).collect());
        Ok(TimeInterval { ranges, days, tz })
    }

    /// True when the interval holds at `t`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.tz);
        let day = local.weekday().num_days_from_monday();
        if self.days.as_ref().is_some_and(|d| !d.contains(&day)) {
            return false;
        }
        let m = local.hour() * 60 + local.minute();
        self.ranges.is_empty()
            || self.ranges.iter().any(|&(s, e)| {
                if s < e {
                    (s..e).contains(&m)
                } else {
                    m >= s || m < e
                }
            })
    }
}

/// When a route muted at `now` opens again: the first whole minute after `now` at which `muted`
/// is false, looking at most eight days ahead (a week of intervals, and a day to spare).
/// `None` when it never opens in that time: the caller holds for the whole horizon.
pub fn next_open(
    now: DateTime<Utc>,
    muted: impl Fn(DateTime<Utc>) -> bool,
) -> Option<DateTime<Utc>> {
    let start = now
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now)
        + Duration::minutes(1);
    (0..8 * 24 * 60)
        .map(|i| start + Duration::minutes(i))
        .find(|t| !muted(*t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn interval(times: &[(&str, &str)], weekdays: &[Weekday], location: &str) -> TimeInterval {
        TimeInterval::new(&TimeIntervalConfig {
            name: "x".into(),
            times: times
                .iter()
                .map(|(s, e)| TimeRange {
                    start: s.to_string(),
                    end: e.to_string(),
                })
                .collect(),
            weekdays: weekdays.to_vec(),
            location: location.into(),
        })
        .unwrap()
    }

    #[test]
    fn night_in_berlin_wraps_midnight_and_follows_daylight_saving() {
        let night = interval(&[("22:00", "07:00")], &[], "Europe/Berlin");
        // 2026-11-22 is winter time, UTC+1.
        assert!(night.contains(at("2026-11-22T21:00:00Z"))); // 22:00 local
        assert!(!night.contains(at("2026-11-22T20:59:00Z"))); // 21:59 local
        assert!(night.contains(at("2026-11-23T05:59:00Z"))); // 06:59 local
        assert!(!night.contains(at("2026-11-23T06:00:00Z"))); // 07:00 local
        // 2026-07-01 is summer time, UTC+2.
        assert!(night.contains(at("2026-07-01T20:00:00Z"))); // 22:00 local
        assert!(!night.contains(at("2026-07-01T05:00:00Z"))); // 07:00 local
    }

    #[test]
    fn weekdays_are_local_days() {
        // Office hours, Monday to Friday, in New York (UTC-5 in November).
        let office = interval(
            &[("09:00", "17:00")],
            &[
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
            ],
            "America/New_York",
        );
        assert!(office.contains(at("2026-11-23T14:00:00Z"))); // Monday 09:00
        assert!(!office.contains(at("2026-11-22T15:00:00Z"))); // Sunday 10:00
        // Saturday 03:00 UTC is still Friday 22:00 in New York: a day, but not office hours.
        assert!(!office.contains(at("2026-11-28T03:00:00Z")));
        let weekend = interval(&[], &[Weekday::Saturday, Weekday::Sunday], "UTC");
        assert!(weekend.contains(at("2026-11-22T12:00:00Z")));
        assert!(!weekend.contains(at("2026-11-23T12:00:00Z")));
    }

    #[test]
    fn bad_tables_name_the_key() {
        let bad = |times: &[(&str, &str)], location: &str| {
            TimeInterval::new(&TimeIntervalConfig {
                name: "x".into(),
                times: times
                    .iter()
                    .map(|(s, e)| TimeRange {
                        start: s.to_string(),
                        end: e.to_string(),
                    })
                    .collect(),
                weekdays: vec![],
                location: location.into(),
            })
            .unwrap_err()
        };
        assert_eq!(bad(&[], "Mars/Olympus").0, "location");
        assert_eq!(bad(&[("25:00", "07:00")], "UTC").0, "times");
        assert_eq!(bad(&[("7", "08:00")], "UTC").0, "times");
        assert_eq!(bad(&[("08:00", "08:00")], "UTC").0, "times");
        assert_eq!(parse_hhmm("24:00"), Ok(1440));
    }

    #[test]
    fn next_open_is_the_first_minute_out_of_the_window() {
        let night = interval(&[("22:00", "07:00")], &[], "UTC");
        let open = next_open(at("2026-11-22T23:30:20Z"), |t| night.contains(t)).unwrap();
        assert_eq!(open, at("2026-11-23T07:00:00Z"));
        assert_eq!(next_open(at("2026-11-22T23:30:20Z"), |_| true), None);
    }
}
