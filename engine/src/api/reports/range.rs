//! The time range of a report: `since` and `until` (RFC 3339), by default the 24 hours up to
//! now (or up to `until`, or from `since` to now), `since` before `until`, at most 366 days.

use super::super::error::ApiError;
use super::super::query::Query;
use crate::store::UnixMs;

/// The range when none is given: a day.
const DEFAULT_RANGE_MS: UnixMs = 24 * 3600 * 1000;

/// The longest range: a leap year. Bounds what one report reads.
const MAX_RANGE_MS: UnixMs = 366 * 24 * 3600 * 1000;

/// `[since, until)` of `query`, as of `now`.
pub(super) fn of(query: &Query, now: UnixMs) -> Result<(UnixMs, UnixMs), ApiError> {
    let (since, until) = match (query.time("since")?, query.time("until")?) {
        (Some(since), Some(until)) => (since, until),
        (Some(since), None) => (since, now),
        (None, Some(until)) => (until.saturating_sub(DEFAULT_RANGE_MS), until),
        (None, None) => (now.saturating_sub(DEFAULT_RANGE_MS), now),
    };
    if since >= until {
        return Err(ApiError::field("invalid_range", "since", "must be before until (which defaults to now)"));
    }
    if until.saturating_sub(since) > MAX_RANGE_MS {
        return Err(ApiError::field("invalid_range", "until", "a report covers at most 366 days"));
    }
    Ok((since, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23T12:00:00Z.
    const NOW: UnixMs = 1_795_435_200_000;

    fn range(query: &str) -> Result<(UnixMs, UnixMs), ApiError> {
        of(&Query::parse(Some(query), &["since", "until"]).expect("parses"), NOW)
    }

    #[test]
    fn the_default_is_the_last_24_hours_and_a_lone_bound_keeps_a_day_or_now() {
        assert_eq!(range("").expect("default"), (NOW - DEFAULT_RANGE_MS, NOW));
        assert_eq!(range("until=2026-11-23T12:00:00Z").expect("until"), (NOW - DEFAULT_RANGE_MS, NOW));
        assert_eq!(range("since=2026-11-01T00:00:00Z").expect("since").1, NOW);
    }

    #[test]
    fn an_empty_backward_or_over_long_range_is_refused_with_its_field() {
        let field = |q: &str| range(q).expect_err(q).field.map(|f| f.into_owned());
        assert_eq!(field("since=2026-11-23T12:00:00Z&until=2026-11-23T12:00:00Z").as_deref(), Some("since"));
        assert_eq!(field("since=2026-11-24T00:00:00Z").as_deref(), Some("since"), "since in the future");
        assert_eq!(field("since=2024-01-01T00:00:00Z&until=2025-01-02T00:00:01Z").as_deref(), Some("until"));
        assert_eq!(field("since=noon").as_deref(), Some("since"));
        assert!(range("since=2024-01-01T00:00:00Z&until=2025-01-01T00:00:00Z").is_ok(), "366 days fit");
    }
}
