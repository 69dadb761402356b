//! A buyer's hours of operation, as plain functions of the schedule and `now`.
//!
//! [`CompiledSchedule`] is the config's [`Schedule`] compiled once: the time zone, each
//! weekday's open ranges in minutes of the day, a bitmask of the days with any, and the sorted
//! dates off. Hours are wall-clock time in the buyer's zone, so DST is the zone's: on a
//! spring-forward day a range starting in the skipped hour opens when the clocks reach it
//! (`02:30-...` opens at 03:00), and on a fall-back day the repeated hour is open (or closed)
//! both times it comes round.
//!
//! [`ScheduleGate`] is what eligibility asks, per lead and per buyer: the answer can only
//! change at a minute boundary (hours are whole minutes, and every IANA offset in use is a
//! whole number of minutes), so it converts to local time once per UTC minute and answers from
//! an atomic cache otherwise.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Datelike, NaiveDate, Timelike};
use chrono_tz::Tz;

use crate::config::{MINUTES_PER_DAY, Schedule, TimeRange};
use crate::store::UnixMs;

/// Milliseconds in a minute: the resolution of schedules.
const MINUTE_MS: i64 = 60_000;

/// A schedule ready to answer: see the module doc.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledSchedule {
    tz: Tz,
    /// Per weekday from Monday: the ranges starting that day, by start.
    week: [Vec<TimeRange>; 7],
    /// Bit `i`: `week[i]` has a range.
    open_days: u8,
    /// Local dates closed all day, sorted, no duplicates.
    dates_off: Vec<NaiveDate>,
}

impl CompiledSchedule {
    /// Compiles a schedule (already checked when the config loaded). A day's ranges are
    /// `by_day`'s if it has an entry, else `hours` (all day when left out) if the day is in
    /// `days` (every day when empty).
    pub fn new(schedule: &Schedule) -> CompiledSchedule {
        let all_day = [TimeRange { start: 0, end: MINUTES_PER_DAY }];
        let hours = schedule.hours.as_ref().map_or(&all_day[..], |h| &h.0[..]);
        let week: [Vec<TimeRange>; 7] = std::array::from_fn(|i| {
            let day = weekday(i);
            let mut ranges = match schedule.by_day.iter().find(|(d, _)| *d == day) {
                Some((_, own)) => own.0.clone(),
                None if schedule.days.is_empty() || schedule.days.contains(&day) => hours.to_vec(),
                None => Vec::new(),
            };
            ranges.sort_by_key(|r| (r.start, r.end));
            ranges
        });
        let open_days = week.iter().enumerate().filter(|(_, r)| !r.is_empty()).fold(0, |bits, (i, _)| bits | 1 << i);
        let mut dates_off = schedule.dates_off.clone();
        dates_off.sort_unstable();
        dates_off.dedup();
        CompiledSchedule { tz: schedule.timezone, week, open_days, dates_off }
    }

    /// The buyer's time zone.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Whether the buyer is open at `now_ms` (Unix milliseconds). An instant chrono cannot
    /// represent (hundreds of thousands of years away) is closed.
    pub fn is_open(&self, now_ms: UnixMs) -> bool {
        let Some(utc) = DateTime::from_timestamp_millis(now_ms) else { return false };
        let local = utc.with_timezone(&self.tz);
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let today = local.date_naive();
        let day = local.weekday().num_days_from_monday() as usize;
        if self.is_off(today) {
            return false;
        }
        let open_today = self.open_days & (1 << day) != 0
            && self.week[day].iter().any(|r| minute >= r.start && (r.crosses_midnight() || minute < r.end));
        if open_today {
            return true;
        }
        // A range of yesterday's that crosses midnight, unless yesterday was a date off.
        let yesterday = (day + 6) % 7;
        self.open_days & (1 << yesterday) != 0
            && self.week[yesterday].iter().any(|r| r.crosses_midnight() && minute < r.end)
            && today.pred_opt().is_none_or(|d| !self.is_off(d))
    }

    fn is_off(&self, date: NaiveDate) -> bool {
        self.dates_off.binary_search(&date).is_ok()
    }
}

/// Monday for 0 .. Sunday for 6.
fn weekday(i: usize) -> chrono::Weekday {
    const WEEK: [chrono::Weekday; 7] = [
        chrono::Weekday::Mon,
        chrono::Weekday::Tue,
        chrono::Weekday::Wed,
        chrono::Weekday::Thu,
        chrono::Weekday::Fri,
        chrono::Weekday::Sat,
        chrono::Weekday::Sun,
    ];
    WEEK[i % 7]
}

/// No minute cached yet: minute 2^62 is millions of years past any `UnixMs` (whose minutes,
/// masked to 63 bits, are below 2^48 or above 2^63 - 2^48).
const NOTHING_CACHED: u64 = 1 << 63;

/// A [`CompiledSchedule`] with the last answer cached for its UTC minute, for the hot path.
///
/// The cache is one `AtomicU64` packing the minute (Unix milliseconds divided by 60,000, in
/// the high 63 bits) with the answer (the low bit), so a reader never sees a minute with
/// another minute's answer. Two threads that find it stale both compute and store: a harmless
/// race, since the answer for a minute is a pure function of the minute and the same for
/// both (and an older minute stored last only costs the next reader a recomputation).
#[derive(Debug)]
pub struct ScheduleGate {
    schedule: CompiledSchedule,
    cache: AtomicU64,
}

impl ScheduleGate {
    /// Wraps a compiled schedule, with nothing cached.
    pub fn new(schedule: CompiledSchedule) -> ScheduleGate {
        ScheduleGate { schedule, cache: AtomicU64::new(NOTHING_CACHED) }
    }

    /// The schedule it answers for.
    pub fn schedule(&self) -> &CompiledSchedule {
        &self.schedule
    }

    /// Whether the buyer is open at `now_ms`: [`CompiledSchedule::is_open`], computed once
    /// per UTC minute (whatever order instants come in).
    pub fn is_open(&self, now_ms: UnixMs) -> bool {
        let minute = (now_ms.div_euclid(MINUTE_MS) as u64) << 1;
        let cached = self.cache.load(Ordering::Relaxed);
        if cached & !1 == minute {
            return cached & 1 == 1;
        }
        let open = self.schedule.is_open(now_ms);
        self.cache.store(minute | u64::from(open), Ordering::Relaxed);
        open
    }
}

#[cfg(test)]
mod tests;
