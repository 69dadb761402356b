//! Which disposition may follow which: a plain function of the current status and the one
//! reported.
//!
//! The pipeline `contacted -> qualified -> converted -> closed_won` only moves forward (steps
//! may be skipped); `closed_lost` may follow any status that is not final; `invalid` may
//! follow no status or `contacted` only (a lead found bad after it qualified was not invalid);
//! `closed_won`, `closed_lost` and `invalid` are final. The same status again is no change.

use crate::protocol::feedback::Disposition;

/// What a reported status does to a lead's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The lead already has it: nothing to record (a retry).
    Unchanged,
    /// A move the rules allow.
    Allowed,
    /// A move the rules refuse, with the rule (a sentence fragment for the error message).
    Refused(&'static str),
}

/// What reporting `to` does to a lead whose status is `from` (`None`: none reported yet).
pub fn transition(from: Option<Disposition>, to: Disposition) -> Transition {
    use Disposition::*;
    let Some(from) = from else { return Transition::Allowed };
    if from == to {
        return Transition::Unchanged;
    }
    if is_final(from) {
        return Transition::Refused("closed_won, closed_lost and invalid are final");
    }
    match (pipeline_step(from), to) {
        (_, ClosedLost) => Transition::Allowed,
        (_, Invalid) => {
            if from == Contacted {
                Transition::Allowed
            } else {
                Transition::Refused("invalid may only follow no status or contacted")
            }
        }
        (Some(at), _) if pipeline_step(to).is_some_and(|next| next > at) => Transition::Allowed,
        _ => Transition::Refused("statuses only move forward along contacted -> qualified -> converted -> closed_won"),
    }
}

/// No status may follow these.
fn is_final(status: Disposition) -> bool {
    matches!(status, Disposition::ClosedWon | Disposition::ClosedLost | Disposition::Invalid)
}

/// The position of `status` on the pipeline, if it is on it.
fn pipeline_step(status: Disposition) -> Option<u8> {
    match status {
        Disposition::Contacted => Some(1),
        Disposition::Qualified => Some(2),
        Disposition::Converted => Some(3),
        Disposition::ClosedWon => Some(4),
        Disposition::ClosedLost | Disposition::Invalid => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (from, to) pair: `=` unchanged, `+` allowed, `x` refused. Rows are the current
    /// status (none first), columns the reported one, both in [`Disposition::ALL`] order:
    /// contacted, qualified, converted, closed_won, closed_lost, invalid.
    const MATRIX: [(Option<Disposition>, &str); 7] = [
        (None, "+ + + + + +"),
        (Some(Disposition::Contacted), "= + + + + +"),
        (Some(Disposition::Qualified), "x = + + + x"),
        (Some(Disposition::Converted), "x x = + + x"),
        (Some(Disposition::ClosedWon), "x x x = x x"),
        (Some(Disposition::ClosedLost), "x x x x = x"),
        (Some(Disposition::Invalid), "x x x x x ="),
    ];

    #[test]
    fn every_transition_follows_the_table() {
        for (from, row) in MATRIX {
            let cells: Vec<&str> = row.split(' ').collect();
            assert_eq!(cells.len(), Disposition::ALL.len());
            for (to, cell) in Disposition::ALL.into_iter().zip(cells) {
                let got = transition(from, to);
                let expected = match cell {
                    "=" => matches!(got, Transition::Unchanged),
                    "+" => matches!(got, Transition::Allowed),
                    _ => matches!(got, Transition::Refused(_)),
                };
                assert!(expected, "{from:?} -> {to:?}: expected `{cell}`, got {got:?}");
            }
        }
    }

    #[test]
    fn a_refusal_names_the_rule_that_refused_it() {
        let rule = |from, to| match transition(Some(from), to) {
            Transition::Refused(rule) => rule,
            other => panic!("{from:?} -> {to:?} should be refused, got {other:?}"),
        };
        assert!(rule(Disposition::Qualified, Disposition::Contacted).contains("only move forward"));
        assert!(rule(Disposition::Converted, Disposition::Invalid).contains("invalid may only follow"));
        assert!(rule(Disposition::ClosedWon, Disposition::ClosedLost).contains("final"));
    }
}
