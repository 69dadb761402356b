//! The conformance checker (`bidder-sim check`). Being written.
