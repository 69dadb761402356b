//! A buyer's `schedule`: when it takes pings, in its own wall-clock time. Every value is parsed
//! here (the time zone, day names, `HH:MM-HH:MM` ranges, dates), so a schedule that loads is one
//! [`crate::buyers::schedule::CompiledSchedule`] can compile without failing, and a bad value is
//! refused at start-up with its key (`buyers[0].schedule.hours[1]: ...`).

use std::fmt;

use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use serde::de::{Deserializer, Error, SeqAccess, Visitor};

/// Minutes in a day: the end of `"00:00-24:00"`.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// `schedule = { timezone, days, hours, by_day, dates_off }`.
///
/// A day's hours are `by_day`'s entry for it if there is one, else `hours` if the day is in
/// `days`, else none (closed). A range that ends at or before its start crosses midnight
/// (`"22:00-06:00"`): it belongs to the day it starts on. A date in `dates_off` is closed all
/// day, and its ranges do not spill past its midnight either.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// IANA time zone, e.g. `America/Chicago`: hours are wall-clock time there, DST included.
    #[serde(deserialize_with = "timezone")]
    pub timezone: Tz,
    /// Days open (`mon` .. `sun`, or full names); empty or left out: every day.
    #[serde(default, deserialize_with = "days")]
    pub days: Vec<Weekday>,
    /// Open hours on those days: one `"HH:MM-HH:MM"` or a list of them; left out: all day.
    #[serde(default, deserialize_with = "some_hours")]
    pub hours: Option<Hours>,
    /// Per-day hours that replace `days` and `hours` for that day (`sun = []`: closed).
    #[serde(default, deserialize_with = "by_day")]
    pub by_day: Vec<(Weekday, Hours)>,
    /// Local dates closed all day (`"2026-12-25"`).
    #[serde(default, deserialize_with = "dates")]
    pub dates_off: Vec<NaiveDate>,
}

/// One day's open ranges (possibly none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hours(pub Vec<TimeRange>);

/// `"HH:MM-HH:MM"` as minutes of the day. `end <= start`: the range crosses midnight and ends
/// at `end` the next day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// First open minute, 0 to 1439.
    pub start: u16,
    /// First closed minute, 0 to 1440 (`24:00`); never equal to `start`.
    pub end: u16,
}

impl TimeRange {
    /// Parses `"HH:MM-HH:MM"`; `24:00` is allowed as an end only.
    pub fn parse(text: &str) -> Result<TimeRange, String> {
        let bad = || format!("\"{text}\" is not a range of times: use \"HH:MM-HH:MM\", e.g. \"08:00-18:00\"");
        let (start, end) = text.split_once('-').ok_or_else(bad)?;
        let (start, end) = (minute_of_day(start.trim()).ok_or_else(bad)?, minute_of_day(end.trim()).ok_or_else(bad)?);
        if start == MINUTES_PER_DAY {
            return Err(format!("\"{text}\": a range cannot start at 24:00"));
        }
        if start == end {
            return Err(format!("\"{text}\" is an empty range (for all day, use \"00:00-24:00\")"));
        }
        Ok(TimeRange { start, end })
    }

    /// Whether it ends the next day.
    pub fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }
}

/// `HH:MM` (two digits each) to minutes, `24:00` included.
fn minute_of_day(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    let two_digits =
        |s: &str| (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u16>().ok()).flatten();
    let (h, m) = (two_digits(h)?, two_digits(m)?);
    match (h, m) {
        (24, 0) => Some(MINUTES_PER_DAY),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn timezone<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.trim().parse::<Tz>().map_err(|_| {
        D::Error::custom(format_args!(
            "unknown time zone \"{text}\": it must be an IANA time zone name, e.g. \"America/Chicago\""
        ))
    })
}

fn day(text: &str) -> Result<Weekday, String> {
    text.trim()
        .parse::<Weekday>()
        .map_err(|_| format!("\"{text}\" is not a day: use mon, tue, wed, thu, fri, sat, sun"))
}

/// A list of days, each entry parsed on its own so the error path points at it (`days[2]`).
fn days<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Weekday>, D::Error> {
    struct Entry(Weekday);
    impl<'de> Deserialize<'de> for Entry {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            day(&String::deserialize(deserializer)?).map(Entry).map_err(D::Error::custom)
        }
    }
    let days: Vec<Weekday> = Vec::<Entry>::deserialize(deserializer)?.into_iter().map(|e| e.0).collect();
    if let Some((i, d)) = days.iter().enumerate().find(|(i, d)| days[..*i].contains(d)) {
        return Err(D::Error::custom(format_args!("{d} is listed twice (again at position {i})")));
    }
    Ok(days)
}

/// `hours`: one range or a non-empty list of them.
fn some_hours<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Hours>, D::Error> {
    let hours = Hours::deserialize(deserializer)?;
    if hours.0.is_empty() {
        return Err(D::Error::custom("list at least one range, or leave `hours` out to be open all day"));
    }
    Ok(Some(hours))
}

/// `by_day`: a table of day names to hours; a day given twice (`sat` and `saturday`) is refused.
fn by_day<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<(Weekday, Hours)>, D::Error> {
    let table = std::collections::BTreeMap::<String, Hours>::deserialize(deserializer)?;
    let mut out: Vec<(Weekday, Hours)> = Vec::with_capacity(table.len());
    for (name, hours) in table {
        let d = day(&name).map_err(D::Error::custom)?;
        if out.iter().any(|(other, _)| *other == d) {
            return Err(D::Error::custom(format_args!("{d} is given twice (\"{name}\")")));
        }
        out.push((d, hours));
    }
    Ok(out)
}

/// `dates_off`: `YYYY-MM-DD` local dates, each parsed on its own (`dates_off[1]`).
fn dates<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<NaiveDate>, D::Error> {
    struct Entry(NaiveDate);
    impl<'de> Deserialize<'de> for Entry {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let text = String::deserialize(deserializer)?;
            NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map(Entry).map_err(|_| {
                D::Error::custom(format_args!("\"{text}\" is not a date: use YYYY-MM-DD, e.g. 2026-12-25"))
            })
        }
    }
    Ok(Vec::<Entry>::deserialize(deserializer)?.into_iter().map(|e| e.0).collect())
}

impl<'de> Deserialize<'de> for Hours {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// One range, parsed on its own so the error path points at it (`hours[1]`).
        struct Entry(TimeRange);
        impl<'de> Deserialize<'de> for Entry {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                TimeRange::parse(&String::deserialize(deserializer)?).map(Entry).map_err(D::Error::custom)
            }
        }
        struct HoursVisitor;
        impl<'de> Visitor<'de> for HoursVisitor {
            type Value = Hours;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"HH:MM-HH:MM\" or a list of them")
            }
            fn visit_str<E: Error>(self, text: &str) -> Result<Hours, E> {
                TimeRange::parse(text).map(|r| Hours(vec![r])).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Hours, A::Error> {
                let mut ranges = Vec::new();
                while let Some(Entry(range)) = seq.next_element()? {
                    ranges.push(range);
                }
                Ok(Hours(ranges))
            }
        }
        deserializer.deserialize_any(HoursVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        assert_eq!(TimeRange::parse("08:00-18:00"), Ok(TimeRange { start: 480, end: 1080 }));
        assert_eq!(TimeRange::parse(" 00:00 - 24:00 "), Ok(TimeRange { start: 0, end: 1440 }));
        let night = TimeRange::parse("22:00-06:00").expect("crosses midnight");
        assert!(night.crosses_midnight());
        assert!(!TimeRange::parse("08:00-18:00").expect("day").crosses_midnight());
        for bad in ["", "08:00", "8:00-18:00", "08:00-18:0", "24:00-06:00", "08:60-09:00", "25:00-26:00", "ab:cd-ef:gh"]
        {
            assert!(TimeRange::parse(bad).is_err(), "{bad}");
        }
        for empty in ["08:00-08:00", "00:00-00:00", "00:00-24:00x"] {
            assert!(TimeRange::parse(empty).is_err(), "{empty}");
        }
    }
}
