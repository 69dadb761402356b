//! What follows a delivery attempt, as a plain function of the attempt's outcome, the retry
//! schedule, `now` and a jitter value: delivered, retry at a time, or dead (with the reason, and
//! whether the subscription must be disabled). No clock, no I/O: the dispatcher supplies both.
//!
//! The schedule lists the delay before each attempt (the Standard Webhooks default: at once,
//! 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h). The first attempt is made as soon as the event is
//! committed; after attempt `n` the next one is due `schedule[n]` later (±10% jitter, so
//! deliveries that failed together do not retry together), and after the last one the delivery
//! is dead. A `Retry-After` from the endpoint (429, 503, ...) pushes the next attempt back to
//! the later of the two, capped at [`MAX_RETRY_AFTER_MS`].

use std::time::Duration;

use crate::store::{NextStep, UnixMs};

/// Jitter: each delay is spread over ±10% of itself.
const JITTER_FRACTION: f64 = 0.10;

/// The longest `Retry-After` honoured: a day, the longest step of the default schedule. An
/// endpoint asking for a week would otherwise park its deliveries out of sight.
pub const MAX_RETRY_AFTER_MS: u64 = 24 * 3600 * 1000;

/// Reason given when a 410 Gone disables a subscription.
pub const GONE_REASON: &str = "410 Gone";

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The endpoint answered with this status.
    Status(u16),
    /// No complete answer within the attempt's timeout.
    Timeout,
    /// No connection (refused, DNS, TLS, SSRF guard) or it broke before an answer.
    Connection,
}

impl Outcome {
    /// Whether the endpoint looks unhealthy (what the circuit breaker counts): timeouts,
    /// connection failures and the statuses that are retried. A 2xx or a 4xx proves the
    /// endpoint is up, even if it refused this event.
    pub fn is_endpoint_failure(self) -> bool {
        match self {
            Outcome::Status(status) => !is_success(status) && is_retryable(status),
            Outcome::Timeout | Outcome::Connection => true,
        }
    }
}

/// What the dispatcher records after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Delivered, retry, or dead.
    pub next: NextStep,
    /// Set on a 410 Gone: the subscription is disabled with this reason.
    pub disable_subscription: Option<String>,
}

/// Decides what follows an attempt. `attempts_before` is the number of attempts made before
/// this one; `retry_after_ms` is the endpoint's `Retry-After` as a delay (see
/// [`parse_retry_after`]); `jitter` is any value in `[0, 1]` (random in production, fixed in
/// tests; out-of-range values are clamped, NaN counts as 0.5: no jitter).
pub fn decide(
    schedule: &[u64],
    attempts_before: u32,
    outcome: Outcome,
    retry_after_ms: Option<u64>,
    now: UnixMs,
    jitter: f64,
) -> Decision {
    let dead = |reason: String| Decision { next: NextStep::Dead { reason }, disable_subscription: None };
    match outcome {
        Outcome::Status(status) if is_success(status) => {
            return Decision { next: NextStep::Delivered, disable_subscription: None };
        }
        Outcome::Status(410) => {
            return Decision {
                next: NextStep::Dead { reason: GONE_REASON.to_owned() },
                disable_subscription: Some(format!("{GONE_REASON} from the endpoint")),
            };
        }
        Outcome::Status(status) if !is_retryable(status) => return dead(format!("status {status}")),
        _ => {}
    }
    let made = u64::from(attempts_before).saturating_add(1);
    let Some(&delay) = usize::try_from(made).ok().and_then(|n| schedule.get(n)) else {
        return dead(format!("retries exhausted after {made} attempts"));
    };
    let scheduled = jittered(delay, jitter);
    let delay = retry_after_ms.map_or(scheduled, |asked| scheduled.max(asked.min(MAX_RETRY_AFTER_MS)));
    let at = now.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
    Decision { next: NextStep::Retry { at }, disable_subscription: None }
}

/// A 2xx.
fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Everything but a 4xx is worth another try (3xx included: redirects are never followed, and
/// a redirecting endpoint is usually mid-migration); of the 4xx only 408 (the endpoint timed
/// out reading) and 429 (too many requests) are.
fn is_retryable(status: u16) -> bool {
    !(400..500).contains(&status) || status == 408 || status == 429
}

/// `delay` spread by ±[`JITTER_FRACTION`]: `jitter` 0 gives -10%, 0.5 the delay itself, 1 +10%.
fn jittered(delay: u64, jitter: f64) -> u64 {
    if delay == 0 {
        return 0;
    }
    let jitter = if jitter.is_nan() { 0.5 } else { jitter.clamp(0.0, 1.0) };
    let factor = 1.0 + JITTER_FRACTION * (2.0 * jitter - 1.0);
    // Delays are config values of at most days in ms: far inside f64's exact integer range.
    (delay as f64 * factor).round() as u64
}

/// A `Retry-After` header value as a delay in milliseconds from `now`: either delay-seconds
/// (`120`) or an HTTP-date (`Wed, 21 Oct 2026 07:28:00 GMT`; a date in the past is no delay).
/// `None` when it is neither.
pub fn parse_retry_after(value: &str, now: UnixMs) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits to fit is still "very long": it is capped by the caller.
        return Some(value.parse::<u64>().map_or(u64::MAX, |s| s.saturating_mul(1000)));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = date.timestamp_millis();
    Some(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
}

/// A delay until `at` from `now`, zero if it has passed.
pub fn until(at: UnixMs, now: UnixMs) -> Duration {
    Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULE: [u64; 4] = [0, 5_000, 300_000, 1_800_000];
    const NOW: UnixMs = 1_000_000;
    const NO_JITTER: f64 = 0.5;

    fn next(attempts_before: u32, outcome: Outcome) -> NextStep {
        decide(&SCHEDULE, attempts_before, outcome, None, NOW, NO_JITTER).next
    }

    fn dead(reason: &str) -> NextStep {
        NextStep::Dead { reason: reason.to_owned() }
    }

    #[test]
    fn any_2xx_is_delivered() {
        for status in [200, 201, 202, 204, 299] {
            let decision = decide(&SCHEDULE, 3, Outcome::Status(status), Some(10_000), NOW, 0.0);
            assert_eq!(decision, Decision { next: NextStep::Delivered, disable_subscription: None });
        }
    }

    #[test]
    fn failures_worth_retrying_follow_the_schedule() {
        for outcome in [
            Outcome::Timeout,
            Outcome::Connection,
            Outcome::Status(500),
            Outcome::Status(502),
            Outcome::Status(503),
            Outcome::Status(408),
            Outcome::Status(429),
            Outcome::Status(301),
        ] {
            assert_eq!(next(0, outcome), NextStep::Retry { at: NOW + 5_000 }, "{outcome:?}");
            assert_eq!(next(1, outcome), NextStep::Retry { at: NOW + 300_000 }, "{outcome:?}");
            assert_eq!(next(2, outcome), NextStep::Retry { at: NOW + 1_800_000 }, "{outcome:?}");
        }
    }

    #[test]
    fn after_the_last_scheduled_attempt_the_delivery_is_dead() {
        assert_eq!(next(3, Outcome::Status(500)), dead("retries exhausted after 4 attempts"));
        assert_eq!(next(10, Outcome::Timeout), dead("retries exhausted after 11 attempts"));
        assert_eq!(
            next(u32::MAX, Outcome::Connection),
            dead(&format!("retries exhausted after {} attempts", 1u64 << 32))
        );
        // A one-step schedule: the first failure is final.
        assert_eq!(
            decide(&[0], 0, Outcome::Timeout, None, NOW, NO_JITTER).next,
            dead("retries exhausted after 1 attempts")
        );
    }

    #[test]
    fn other_4xx_are_dead_at_once_whatever_the_schedule() {
        for status in [400, 401, 403, 404, 405, 413, 422, 499] {
            assert_eq!(next(0, Outcome::Status(status)), dead(&format!("status {status}")));
        }
    }

    #[test]
    fn gone_disables_the_subscription() {
        let decision = decide(&SCHEDULE, 0, Outcome::Status(410), None, NOW, NO_JITTER);
        assert_eq!(decision.next, dead("410 Gone"));
        assert_eq!(decision.disable_subscription.as_deref(), Some("410 Gone from the endpoint"));
    }

    #[test]
    fn retry_after_takes_the_later_of_it_and_the_schedule_capped() {
        let with = |retry_after| decide(&SCHEDULE, 0, Outcome::Status(429), Some(retry_after), NOW, NO_JITTER).next;
        assert_eq!(with(60_000), NextStep::Retry { at: NOW + 60_000 });
        assert_eq!(with(1_000), NextStep::Retry { at: NOW + 5_000 }, "earlier than the schedule: the schedule wins");
        assert_eq!(with(u64::MAX), NextStep::Retry { at: NOW + MAX_RETRY_AFTER_MS as i64 });
        // Exhausted is exhausted, whatever the endpoint asks.
        assert_eq!(
            decide(&SCHEDULE, 3, Outcome::Status(503), Some(1_000), NOW, NO_JITTER).next,
            dead("retries exhausted after 4 attempts")
        );
    }

    #[test]
    fn jitter_spreads_by_ten_percent_deterministically_and_never_a_zero_delay() {
        let at = |jitter| decide(&SCHEDULE, 0, Outcome::Timeout, None, NOW, jitter).next;
        assert_eq!(at(0.0), NextStep::Retry { at: NOW + 4_500 });
        assert_eq!(at(1.0), NextStep::Retry { at: NOW + 5_500 });
        assert_eq!(at(0.25), NextStep::Retry { at: NOW + 4_750 });
        assert_eq!(at(0.25), at(0.25));
        assert_eq!(at(-3.0), at(0.0), "clamped");
        assert_eq!(at(7.0), at(1.0), "clamped");
        assert_eq!(at(f64::NAN), NextStep::Retry { at: NOW + 5_000 });
        let zero = decide(&[0, 0], 0, Outcome::Timeout, None, NOW, 1.0).next;
        assert_eq!(zero, NextStep::Retry { at: NOW });
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("120", NOW), Some(120_000));
        assert_eq!(parse_retry_after(" 0 ", NOW), Some(0));
        assert_eq!(parse_retry_after("99999999999999999999999", NOW), Some(u64::MAX));
        // 1994-11-06T08:49:37Z is 784111777 s.
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(parse_retry_after(date, 784_111_777_000 - 30_000), Some(30_000));
        assert_eq!(parse_retry_after(date, 784_111_777_000 + 30_000), Some(0), "a past date is no delay");
        for bad in ["", "soon", "-5", "1.5", "Sun, 06 Nov 1994"] {
            assert_eq!(parse_retry_after(bad, NOW), None, "{bad:?}");
        }
    }

    #[test]
    fn endpoint_failures_are_what_the_breaker_counts() {
        for failing in [Outcome::Timeout, Outcome::Connection, Outcome::Status(500), Outcome::Status(429)] {
            assert!(failing.is_endpoint_failure(), "{failing:?}");
        }
        for alive in [Outcome::Status(200), Outcome::Status(400), Outcome::Status(410), Outcome::Status(404)] {
            assert!(!alive.is_endpoint_failure(), "{alive:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_outcome_gives_a_decision_and_retries_never_go_back_in_time(
            schedule in proptest::collection::vec(0u64..100_000_000, 1..20),
            attempts in proptest::prelude::any::<u32>(),
            status in 100u16..1000,
            retry_after in proptest::option::of(proptest::prelude::any::<u64>()),
            now in 0i64..4_000_000_000_000,
            jitter in proptest::prelude::any::<f64>(),
            header in "\\PC{0,40}",
        ) {
            for outcome in [Outcome::Status(status), Outcome::Timeout, Outcome::Connection] {
                if let NextStep::Retry { at } = decide(&schedule, attempts, outcome, retry_after, now, jitter).next {
                    proptest::prop_assert!(at >= now);
                    proptest::prop_assert!(at - now <= (100_000_000f64 * 1.1) as i64 + MAX_RETRY_AFTER_MS as i64);
                }
            }
            let _ = parse_retry_after(&header, now);
        }
    }
}
