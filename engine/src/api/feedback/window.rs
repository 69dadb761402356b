//! The return window: a plain function of when the lead sold, the buyer's window and now.
//! The window is closed at both ends: a return at exactly `sold_at + window` is in time, one
//! millisecond later is not; a window of 0 hours means the buyer may not return leads at all.

use crate::store::UnixMs;

/// Milliseconds in an hour.
const HOUR_MS: i64 = 3_600_000;

/// Whether a lead may be returned now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// In time.
    Open,
    /// Too late: the window closed at this time.
    Closed {
        /// `sold_at` plus the window.
        closed_at: UnixMs,
    },
    /// The buyer's window is 0 hours: it may not return leads.
    NoReturns,
}

/// The window of a lead sold at `sold_at` to a buyer with a window of `hours`, at `now`.
pub fn return_window(sold_at: UnixMs, hours: u32, now: UnixMs) -> Window {
    if hours == 0 {
        return Window::NoReturns;
    }
    let closed_at = sold_at.saturating_add(i64::from(hours).saturating_mul(HOUR_MS));
    if now <= closed_at { Window::Open } else { Window::Closed { closed_at } }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23T12:00:00Z.
    const SOLD: UnixMs = 1_795_435_200_000;

    #[test]
    fn a_return_at_the_last_millisecond_is_in_time_and_one_later_is_not() {
        let end = SOLD + 72 * HOUR_MS;
        assert_eq!(return_window(SOLD, 72, end), Window::Open);
        assert_eq!(return_window(SOLD, 72, end + 1), Window::Closed { closed_at: end });
        assert_eq!(return_window(SOLD, 1, SOLD + HOUR_MS), Window::Open);
        assert_eq!(return_window(SOLD, 1, SOLD + HOUR_MS + 1), Window::Closed { closed_at: SOLD + HOUR_MS });
    }

    #[test]
    fn the_window_opens_at_the_sale() {
        assert_eq!(return_window(SOLD, 72, SOLD), Window::Open);
        // A clock that stepped back since the sale does not close the window.
        assert_eq!(return_window(SOLD, 72, SOLD - 5), Window::Open);
    }

    #[test]
    fn a_zero_hour_window_refuses_every_return_even_at_the_sale() {
        assert_eq!(return_window(SOLD, 0, SOLD), Window::NoReturns);
        assert_eq!(return_window(SOLD, 0, SOLD - 1), Window::NoReturns);
    }

    #[test]
    fn the_largest_window_does_not_overflow() {
        assert_eq!(return_window(SOLD, u32::MAX, SOLD + 100_000 * 24 * HOUR_MS), Window::Open);
        // The sum saturates at the end of time instead of wrapping into the past.
        assert_eq!(return_window(i64::MAX - 10, u32::MAX, i64::MAX), Window::Open);
    }
}
