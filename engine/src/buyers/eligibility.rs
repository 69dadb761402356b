//! Who gets pinged: vertical, state, ZIP, attribute rules, enabled flag.
//!
//! Vertical and state are resolved by precomputation: for every (vertical, state) pair the
//! index holds the list of enabled buyers that want it, so a lead only ever looks at buyers
//! that already match both. ZIP lists become a sorted array and prefix checks by integer
//! division; attribute rules are checked only for buyers that have them. Selecting among
//! 1,000 buyers is a hash lookup and a short scan of integers (see `benches/`).

use std::collections::HashMap;

use crate::config::{AttrRule, BuyerConfig, RuleValue, ZipFilter};
use crate::protocol::geo::State;
use crate::protocol::lead::{AttrValue, Attributes, Profile};

/// The eligibility index over a set of buyers.
#[derive(Debug, Default)]
pub struct Eligibility {
    /// Vertical name to its row in `lists`.
    verticals: HashMap<Box<str>, usize>,
    /// Row `v * State::COUNT + state`: buyers wanting vertical `v` in that state.
    lists: Vec<Vec<u32>>,
    /// Per buyer, the checks left after vertical and state (None: nothing left to check).
    filters: Vec<Option<Filter>>,
}

#[derive(Debug)]
struct Filter {
    /// Sorted exact ZIPs.
    zips: Vec<u32>,
    /// ZIP prefixes: (divisor, value): `zip / divisor == value`.
    prefixes: Vec<(u32, u32)>,
    /// Attribute rules by name.
    rules: Vec<(Box<str>, AttrRule)>,
}

impl Eligibility {
    /// Precomputes the index; buyer `i` of `buyers` is index `i`.
    pub fn build(buyers: &[BuyerConfig]) -> Eligibility {
        let mut index = Eligibility::default();
        for (i, buyer) in buyers.iter().enumerate() {
            index.filters.push(Filter::from_config(buyer));
            if !buyer.enabled {
                continue;
            }
            for vertical in &buyer.verticals {
                let next_row = index.verticals.len();
                let row = *index.verticals.entry(vertical.as_str().into()).or_insert(next_row);
                if row == next_row {
                    index.lists.resize_with((row + 1) * State::COUNT, Vec::new);
                }
                let wanted = |s: State| buyer.states.is_empty() || buyer.states.contains(&s);
                for state in State::all().filter(|s| wanted(*s)) {
                    index.lists[row * State::COUNT + state.index()].push(i as u32);
                }
            }
        }
        index
    }

    /// Enabled buyers whose filters all match `lead`, in config order, into `out`.
    pub fn select(&self, lead: Profile<'_>, out: &mut Vec<u32>) {
        out.clear();
        let Some(&row) = self.verticals.get(lead.vertical) else {
            return;
        };
        let candidates = &self.lists[row * State::COUNT + lead.attributes.state.index()];
        out.extend(candidates.iter().copied().filter(|&i| match &self.filters[i as usize] {
            None => true,
            Some(filter) => filter.matches(lead.attributes),
        }));
    }
}

impl Filter {
    fn from_config(buyer: &BuyerConfig) -> Option<Filter> {
        if buyer.zips.is_empty() && buyer.attributes.is_empty() {
            return None;
        }
        let mut zips = Vec::new();
        let mut prefixes = Vec::new();
        for zip in &buyer.zips {
            match *zip {
                ZipFilter::Exact(z) => zips.push(z),
                ZipFilter::Prefix { len, value } => prefixes.push((10u32.pow(5 - u32::from(len)), value)),
            }
        }
        zips.sort_unstable();
        let rules = buyer.attributes.iter().map(|(k, r)| (k.as_str().into(), r.clone())).collect();
        Some(Filter { zips, prefixes, rules })
    }

    fn matches(&self, attributes: &Attributes) -> bool {
        let zip = attributes.zip.zip5();
        let zip_ok = (self.zips.is_empty() && self.prefixes.is_empty())
            || self.zips.binary_search(&zip).is_ok()
            || self.prefixes.iter().any(|&(div, value)| zip / div == value);
        zip_ok
            && self.rules.iter().all(|(name, rule)| attributes.get(name).is_some_and(|value| rule_matches(rule, value)))
    }
}

fn rule_matches(rule: &AttrRule, value: &AttrValue) -> bool {
    match rule {
        AttrRule::Equals(expected) => value_equals(expected, value),
        AttrRule::OneOf(options) => options.iter().any(|o| value_equals(o, value)),
        AttrRule::Range { min, max } => {
            as_number(value).is_some_and(|n| min.is_none_or(|lo| n >= lo) && max.is_none_or(|hi| n <= hi))
        }
    }
}

fn value_equals(expected: &RuleValue, value: &AttrValue) -> bool {
    match (expected, value) {
        (RuleValue::Text(e), AttrValue::Text(v)) => e.eq_ignore_ascii_case(v),
        (RuleValue::Bool(e), AttrValue::Bool(v)) => e == v,
        (RuleValue::Number(e), _) => as_number(value) == Some(*e),
        // A rule written as text ("42") still matches the number 42.
        (RuleValue::Text(e), AttrValue::Number(_)) => {
            e.trim().parse::<f64>().ok().is_some_and(|e| as_number(value) == Some(e))
        }
        _ => false,
    }
}

/// A number, or text that is one (`"42"`), as publishers send both.
fn as_number(value: &AttrValue) -> Option<f64> {
    match value {
        AttrValue::Number(n) => n.as_f64(),
        AttrValue::Text(t) => t.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        AttrValue::Bool(_) => None,
    }
}

#[cfg(test)]
mod tests;
