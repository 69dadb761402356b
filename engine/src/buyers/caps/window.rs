//! Cap windows: the hour, day, week (Monday first) or calendar month around an instant, in a
//! time zone, as Unix milliseconds `[start, end)`. Days, weeks and months start at local
//! midnight, so a day is 23 or 25 hours long across a DST change; an hour is the local clock
//! hour. A plain function of its inputs.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;

use crate::config::Period;
use crate::store::UnixMs;

const HOUR_MS: i64 = 3_600_000;

/// The window of `period` holding `now`, in zone `tz`.
pub fn window(period: Period, tz: Tz, now: UnixMs) -> (UnixMs, UnixMs) {
    let Some(utc) = DateTime::from_timestamp_millis(now) else {
        return (now, now.saturating_add(HOUR_MS));
    };
    let local = utc.with_timezone(&tz);
    if period == Period::Hour {
        // The local clock hour, by truncating the local minutes and seconds. Around a DST shift
        // of 30 minutes (Australia/Lord_Howe) two consecutive local hours overlap by half an
        // hour; a sale then counts in the hour it was made, so the running ledger and a
        // rebuild may disagree about that half hour (both err towards fewer leads).
        let into = i64::from(local.minute()) * 60_000
            + i64::from(local.second()) * 1000
            + i64::from(utc.timestamp_subsec_millis());
        let start = now - into;
        return (start, start + HOUR_MS);
    }
    let today = local.date_naive();
    let (first, next) = match period {
        Period::Day => (today, today.checked_add_days(Days::new(1))),
        Period::Week => {
            let monday = today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()));
            (monday, monday.checked_add_days(Days::new(7)))
        }
        Period::Month | Period::Hour => {
            let first = today.with_day(1).unwrap_or(today);
            (first, first.checked_add_months(Months::new(1)))
        }
    };
    let start = midnight(tz, first);
    let end = next.map_or(start.saturating_add(31 * 24 * HOUR_MS), |d| midnight(tz, d));
    (start, end.max(start + 1))
}

/// The first instant of local date `date` (the first valid one, if midnight falls in a DST gap).
fn midnight(tz: Tz, date: NaiveDate) -> UnixMs {
    let naive = NaiveDateTime::from(date);
    (0..4)
        .find_map(|h| tz.from_local_datetime(&(naive + chrono::Duration::hours(h))).earliest())
        .map_or_else(|| naive.and_utc().timestamp_millis(), |t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> UnixMs {
        DateTime::parse_from_rfc3339(rfc3339).expect("test instant").timestamp_millis()
    }

    #[test]
    fn a_day_is_the_local_day() {
        let chicago: Tz = "America/Chicago".parse().expect("zone");
        // 2026-11-24 03:00Z is 2026-11-23 21:00 in Chicago (UTC-6).
        let (start, end) = window(Period::Day, chicago, ms("2026-11-24T03:00:00Z"));
        assert_eq!((start, end), (ms("2026-11-23T06:00:00Z"), ms("2026-11-24T06:00:00Z")));
    }

    #[test]
    fn days_across_dst_are_23_and_25_hours() {
        let chicago: Tz = "America/Chicago".parse().expect("zone");
        let (start, end) = window(Period::Day, chicago, ms("2026-03-08T12:00:00Z"));
        assert_eq!((start, end), (ms("2026-03-08T06:00:00Z"), ms("2026-03-09T05:00:00Z")));
        let (start, end) = window(Period::Day, chicago, ms("2026-11-01T12:00:00Z"));
        assert_eq!((start, end), (ms("2026-11-01T05:00:00Z"), ms("2026-11-02T06:00:00Z")));
    }

    #[test]
    fn hours_weeks_and_months() {
        let kolkata: Tz = "Asia/Kolkata".parse().expect("zone");
        // 10:45Z is 16:15 in Kolkata (UTC+5:30): the hour began at 10:30Z.
        assert_eq!(
            window(Period::Hour, kolkata, ms("2026-11-24T10:45:12.5Z")),
            (ms("2026-11-24T10:30:00Z"), ms("2026-11-24T11:30:00Z"))
        );
        let utc: Tz = "UTC".parse().expect("zone");
        // 2026-11-26 is a Thursday: its week began Monday the 23rd.
        assert_eq!(
            window(Period::Week, utc, ms("2026-11-26T08:00:00Z")),
            (ms("2026-11-23T00:00:00Z"), ms("2026-11-30T00:00:00Z"))
        );
        assert_eq!(
            window(Period::Month, utc, ms("2026-12-31T23:59:59Z")),
            (ms("2026-12-01T00:00:00Z"), ms("2027-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn every_instant_is_inside_its_window() {
        let zones: [Tz; 3] =
            ["America/New_York", "Australia/Lord_Howe", "Pacific/Chatham"].map(|z| z.parse().expect("zone"));
        let mut now = ms("2026-01-01T00:00:00Z");
        while now < ms("2027-01-01T00:00:00Z") {
            for tz in zones {
                for period in [Period::Hour, Period::Day, Period::Week, Period::Month] {
                    let (start, end) = window(period, tz, now);
                    assert!(start <= now && now < end, "{period:?} {tz} {now}");
                }
            }
            now += 7 * 3_600_000 + 17 * 60_000;
        }
    }
}
