//! Schedules on explicit instants (no clock is read): opening and closing to the millisecond,
//! weekends, ranges crossing midnight, per-day hours, dates off, both DST changes, and the
//! cached gate agreeing with the uncached answer.

use chrono::{TimeZone, Utc};

use super::*;

/// Compiles the body of a `schedule = { ... }` table, given as TOML lines.
fn schedule(toml_text: &str) -> CompiledSchedule {
    let parsed: Schedule = match toml::from_str(toml_text) {
        Ok(parsed) => parsed,
        Err(e) => panic!("test schedule should parse: {e}\n{toml_text}"),
    };
    CompiledSchedule::new(&parsed)
}

/// Unix milliseconds of a UTC instant.
fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> UnixMs {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().expect("valid UTC instant").timestamp_millis()
}

#[test]
fn los_angeles_weekdays_open_and_close_to_the_millisecond_in_winter() {
    let la = schedule(
        r#"timezone = "America/Los_Angeles"
days = ["mon", "tue", "wed", "thu", "fri"]
hours = "08:00-18:00""#,
    );
    // Wednesday 2026-01-14, PST (UTC-8): 08:00 local is 16:00Z, 18:00 local is 02:00Z on the 15th.
    let opens = utc(2026, 1, 14, 16, 0, 0);
    let closes = utc(2026, 1, 15, 2, 0, 0);
    assert!(!la.is_open(opens - 1), "07:59:59.999 local");
    assert!(la.is_open(opens), "08:00:00.000 local");
    assert!(la.is_open(utc(2026, 1, 14, 20, 0, 0)), "noon local");
    assert!(la.is_open(closes - 1), "17:59:59.999 local");
    assert!(!la.is_open(closes), "18:00:00.000 local");
    // Friday 2026-01-16 evening is open until 02:00Z Saturday; the weekend is closed.
    assert!(la.is_open(utc(2026, 1, 17, 1, 59, 59)), "Friday 17:59:59 local");
    assert!(!la.is_open(utc(2026, 1, 17, 2, 0, 0)), "Friday 18:00 local");
    for hour in 0..24 {
        assert!(!la.is_open(utc(2026, 1, 17, hour, 30, 0) + 8 * 3_600_000), "Saturday {hour}:30 local");
        assert!(!la.is_open(utc(2026, 1, 18, hour, 30, 0) + 8 * 3_600_000), "Sunday {hour}:30 local");
    }
    assert!(la.is_open(utc(2026, 1, 19, 16, 0, 0)), "Monday 08:00 local");
}

#[test]
fn the_design_example_is_chicago_business_hours() {
    let chicago = schedule(
        r#"timezone = "America/Chicago"
days = ["mon", "tue", "wed", "thu", "fri"]
hours = "08:00-18:00""#,
    );
    // Wednesday 2026-01-14, CST (UTC-6).
    assert!(!chicago.is_open(utc(2026, 1, 14, 13, 59, 59)));
    assert!(chicago.is_open(utc(2026, 1, 14, 14, 0, 0)));
    assert!(!chicago.is_open(utc(2026, 1, 15, 0, 0, 0)));
}

#[test]
fn without_days_or_hours_it_is_always_open() {
    let always = schedule(r#"timezone = "UTC""#);
    let start = utc(2026, 1, 1, 0, 0, 0);
    for minute in (0..7 * 24 * 60).step_by(13) {
        assert!(always.is_open(start + minute * MINUTE_MS));
    }
    let all_day = schedule(
        r#"timezone = "Europe/Paris"
days = ["sun"]
hours = "00:00-24:00""#,
    );
    // Sunday 2026-01-18 in Paris (UTC+1) is 23:00Z Saturday to 23:00Z Sunday.
    assert!(!all_day.is_open(utc(2026, 1, 17, 22, 59, 59)));
    assert!(all_day.is_open(utc(2026, 1, 17, 23, 0, 0)));
    assert!(all_day.is_open(utc(2026, 1, 18, 22, 59, 59)));
    assert!(!all_day.is_open(utc(2026, 1, 18, 23, 0, 0)));
}

#[test]
fn a_range_crossing_midnight_belongs_to_the_day_it_starts() {
    let nights = schedule(
        r#"timezone = "UTC"
days = ["fri"]
hours = "22:00-06:00""#,
    );
    // Friday 2026-01-16 22:00 to Saturday 06:00.
    assert!(!nights.is_open(utc(2026, 1, 16, 21, 59, 59)));
    assert!(nights.is_open(utc(2026, 1, 16, 22, 0, 0)));
    assert!(nights.is_open(utc(2026, 1, 16, 23, 59, 59)));
    assert!(nights.is_open(utc(2026, 1, 17, 0, 0, 0)), "Saturday is not in `days`, but Friday's range runs on");
    assert!(nights.is_open(utc(2026, 1, 17, 5, 59, 59)));
    assert!(!nights.is_open(utc(2026, 1, 17, 6, 0, 0)));
    assert!(!nights.is_open(utc(2026, 1, 17, 22, 0, 0)), "Saturday's own night is closed");
    assert!(!nights.is_open(utc(2026, 1, 16, 3, 0, 0)), "Friday early morning is Thursday's night");
}

#[test]
fn a_list_of_ranges_and_per_day_hours() {
    let split = schedule(
        r#"timezone = "UTC"
days = ["mon", "tue", "wed", "thu", "fri"]
hours = ["08:00-12:00", "13:00-18:00"]
by_day = { sat = "10:00-14:00", sun = [], wed = ["09:00-10:00"] }"#,
    );
    // Monday 2026-01-12.
    assert!(split.is_open(utc(2026, 1, 12, 11, 59, 0)));
    assert!(!split.is_open(utc(2026, 1, 12, 12, 0, 0)), "lunch");
    assert!(!split.is_open(utc(2026, 1, 12, 12, 59, 59)), "lunch");
    assert!(split.is_open(utc(2026, 1, 12, 13, 0, 0)));
    // Wednesday has its own hours.
    assert!(split.is_open(utc(2026, 1, 14, 9, 30, 0)));
    assert!(!split.is_open(utc(2026, 1, 14, 11, 0, 0)));
    // Saturday is open by `by_day` though not in `days`; Sunday's empty list is closed.
    assert!(!split.is_open(utc(2026, 1, 17, 9, 59, 59)));
    assert!(split.is_open(utc(2026, 1, 17, 10, 0, 0)));
    assert!(!split.is_open(utc(2026, 1, 17, 14, 0, 0)));
    assert!(!split.is_open(utc(2026, 1, 18, 12, 0, 0)));
}

#[test]
fn dates_off_are_closed_all_day_and_do_not_spill() {
    let days = schedule(
        r#"timezone = "America/Chicago"
hours = "08:00-18:00"
dates_off = ["2026-12-25", "2026-11-26"]"#,
    );
    // Noon in Chicago (CST) is 18:00Z.
    assert!(days.is_open(utc(2026, 12, 24, 18, 0, 0)));
    assert!(!days.is_open(utc(2026, 12, 25, 18, 0, 0)), "Christmas");
    assert!(days.is_open(utc(2026, 12, 26, 18, 0, 0)));
    assert!(!days.is_open(utc(2026, 11, 26, 18, 0, 0)), "Thanksgiving");
    assert!(days.is_open(utc(2026, 11, 27, 18, 0, 0)));

    let nights = schedule(
        r#"timezone = "UTC"
hours = "22:00-06:00"
dates_off = ["2026-12-25"]"#,
    );
    assert!(nights.is_open(utc(2026, 12, 24, 23, 0, 0)));
    assert!(!nights.is_open(utc(2026, 12, 25, 3, 0, 0)), "the 24th's night stops at the date off");
    assert!(!nights.is_open(utc(2026, 12, 25, 23, 0, 0)), "the date off has no night");
    assert!(!nights.is_open(utc(2026, 12, 26, 3, 0, 0)), "nor its spill past midnight");
    assert!(nights.is_open(utc(2026, 12, 26, 23, 0, 0)));
}

#[test]
fn spring_forward_in_chicago() {
    let days = schedule(
        r#"timezone = "America/Chicago"
hours = "08:00-18:00""#,
    );
    // Saturday 2026-03-07, CST (UTC-6): 14:00Z; Sunday 03-08 after the change, CDT (UTC-5): 13:00Z.
    assert!(!days.is_open(utc(2026, 3, 7, 13, 59, 59)));
    assert!(days.is_open(utc(2026, 3, 7, 14, 0, 0)));
    assert!(!days.is_open(utc(2026, 3, 8, 12, 59, 59)));
    assert!(days.is_open(utc(2026, 3, 8, 13, 0, 0)));
    assert!(days.is_open(utc(2026, 3, 8, 22, 59, 59)));
    assert!(!days.is_open(utc(2026, 3, 8, 23, 0, 0)));

    // 02:00-03:00 does not exist on 03-08: a range starting in it opens at 03:00 CDT (08:00Z).
    let gap = schedule(
        r#"timezone = "America/Chicago"
hours = "02:30-04:00""#,
    );
    assert!(!gap.is_open(utc(2026, 3, 8, 7, 59, 59)), "01:59:59 CST");
    assert!(gap.is_open(utc(2026, 3, 8, 8, 0, 0)), "03:00 CDT");
    assert!(gap.is_open(utc(2026, 3, 8, 8, 59, 59)), "03:59:59 CDT");
    assert!(!gap.is_open(utc(2026, 3, 8, 9, 0, 0)), "04:00 CDT");

    // A night across the change: Saturday 22:00 CST (04:00Z) to Sunday 06:00 CDT (11:00Z).
    let night = schedule(
        r#"timezone = "America/Chicago"
days = ["sat"]
hours = "22:00-06:00""#,
    );
    assert!(!night.is_open(utc(2026, 3, 8, 3, 59, 59)));
    assert!(night.is_open(utc(2026, 3, 8, 4, 0, 0)));
    assert!(night.is_open(utc(2026, 3, 8, 10, 59, 59)));
    assert!(!night.is_open(utc(2026, 3, 8, 11, 0, 0)));
}

#[test]
fn fall_back_in_chicago() {
    let days = schedule(
        r#"timezone = "America/Chicago"
hours = "08:00-18:00""#,
    );
    // Saturday 2026-10-31, CDT (UTC-5): 13:00Z; Sunday 11-01 after the change, CST (UTC-6): 14:00Z.
    assert!(days.is_open(utc(2026, 10, 31, 13, 0, 0)));
    assert!(!days.is_open(utc(2026, 11, 1, 13, 59, 59)));
    assert!(days.is_open(utc(2026, 11, 1, 14, 0, 0)));
    assert!(days.is_open(utc(2026, 11, 1, 23, 59, 59)));
    assert!(!days.is_open(utc(2026, 11, 2, 0, 0, 0)));

    // 01:00-02:00 happens twice on 11-01 (06:00Z CDT, then 07:00Z CST): open both times.
    let repeated = schedule(
        r#"timezone = "America/Chicago"
hours = "01:00-01:30""#,
    );
    assert!(!repeated.is_open(utc(2026, 11, 1, 5, 59, 59)));
    assert!(repeated.is_open(utc(2026, 11, 1, 6, 0, 0)), "01:00 CDT");
    assert!(repeated.is_open(utc(2026, 11, 1, 6, 29, 59)));
    assert!(!repeated.is_open(utc(2026, 11, 1, 6, 30, 0)), "01:30 CDT");
    assert!(repeated.is_open(utc(2026, 11, 1, 7, 0, 0)), "01:00 CST, again");
    assert!(!repeated.is_open(utc(2026, 11, 1, 7, 30, 0)), "01:30 CST");
    let open_minutes = (0..24 * 60).filter(|m| repeated.is_open(utc(2026, 11, 1, 0, 0, 0) + m * MINUTE_MS)).count();
    assert_eq!(open_minutes, 60, "two half-hours of wall-clock 01:00-01:30");
}

#[test]
fn out_of_range_instants_are_closed() {
    let always = schedule(r#"timezone = "UTC""#);
    assert!(!always.is_open(i64::MAX));
    assert!(!always.is_open(i64::MIN));
    let gate = ScheduleGate::new(always);
    assert!(!gate.is_open(i64::MAX));
    assert!(!gate.is_open(i64::MIN));
    assert!(gate.is_open(0));
}

/// A schedule with minute-level edges, midnight crossings and a date off, in a DST zone.
fn busy_schedule() -> CompiledSchedule {
    schedule(
        r#"timezone = "America/New_York"
days = ["mon", "wed", "fri", "sat"]
hours = ["00:00-00:01", "07:13-09:47", "22:59-01:01"]
by_day = { sun = "12:00-12:02" }
dates_off = ["2026-03-09"]"#,
    )
}

#[test]
fn the_gate_agrees_with_the_uncached_answer_over_a_sweep() {
    let uncached = busy_schedule();
    let gate = ScheduleGate::new(busy_schedule());
    // Around the spring-forward change (2026-03-08 in New York), every 7.919 s forwards ...
    let start = utc(2026, 3, 5, 0, 0, 0);
    let end = utc(2026, 3, 12, 0, 0, 0);
    let mut checked = 0;
    for now in (start..end).step_by(7_919) {
        assert_eq!(gate.is_open(now), uncached.is_open(now), "at {now}");
        checked += 1;
    }
    // ... and in a scrambled order, with the last millisecond of a minute next to the first
    // of the next one, so a stale cache would be caught.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..50_000 {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let minute = start / MINUTE_MS + (state >> 33) as i64 % ((end - start) / MINUTE_MS);
        for now in [minute * MINUTE_MS - 1, minute * MINUTE_MS, minute * MINUTE_MS + MINUTE_MS - 1] {
            assert_eq!(gate.is_open(now), uncached.is_open(now), "at {now}");
            checked += 1;
        }
    }
    // The sweep saw both answers.
    let open = (start..end).step_by(60_000).filter(|now| uncached.is_open(*now)).count();
    assert!(open > 100 && open < 10_000 && checked > 100_000, "open minutes {open}");
}

#[test]
fn the_gate_is_consistent_across_threads() {
    let uncached = busy_schedule();
    let gate = ScheduleGate::new(busy_schedule());
    let start = utc(2026, 10, 30, 0, 0, 0);
    std::thread::scope(|scope| {
        for offset in 0..4_i64 {
            let (gate, uncached) = (&gate, &uncached);
            scope.spawn(move || {
                for i in 0..20_000_i64 {
                    // Threads walk the same minutes at different phases, racing on the cache.
                    let now = start + ((i * 4 + offset) % 20_000) * 29_999;
                    assert_eq!(gate.is_open(now), uncached.is_open(now), "at {now}");
                }
            });
        }
    });
}
