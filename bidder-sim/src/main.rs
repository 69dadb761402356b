//! The `bidder-sim` command.

fn main() {}
