//! `[dedupe]`: when a lead counts as a repeat of a person seen recently, and what happens to
//! it. Absent means off. Settings apply to every vertical; `[dedupe.verticals.<name>]`
//! overrides any of them for one vertical. See docs/dedupe.md.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Longest window accepted: ten years is already far past any lead's useful life.
const MAX_WINDOW_DAYS: u32 = 3650;

/// Milliseconds in a day.
const DAY_MS: i64 = 24 * 3600 * 1000;

/// `[dedupe]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    /// How long after a person's first lead another lead with their phone or email is a
    /// duplicate, in days.
    #[serde(default = "defaults::window_days")]
    pub window_days: u32,
    /// What happens to a duplicate.
    #[serde(default)]
    pub mode: DedupeMode,
    /// Which contact fields identify a person; a match on any one of them is a duplicate.
    #[serde(default = "defaults::match_on")]
    pub match_on: Vec<MatchOn>,
    /// Most people remembered at once (bounded memory, about 100 bytes each); when full, the
    /// oldest are forgotten first and `engine_dedupe_evictions_total` counts them.
    #[serde(default = "defaults::max_entries")]
    pub max_entries: usize,
    /// Per-vertical overrides, by vertical name.
    #[serde(default)]
    pub verticals: BTreeMap<String, VerticalDedupe>,
}

/// `[dedupe.verticals.<name>]`: any key left out takes the `[dedupe]` value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerticalDedupe {
    /// The window for this vertical, in days.
    #[serde(default)]
    pub window_days: Option<u32>,
    /// The mode for this vertical.
    #[serde(default)]
    pub mode: Option<DedupeMode>,
    /// The contact fields for this vertical.
    #[serde(default)]
    pub match_on: Option<Vec<MatchOn>>,
}

/// What happens to a duplicate lead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupeMode {
    /// Answered `duplicate` at once; no buyer hears of it.
    #[default]
    Reject,
    /// Auctioned among the buyers that have not bought this person within the window.
    ExcludeBuyers,
}

/// A contact field that identifies a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOn {
    /// The phone, E.164.
    Phone,
    /// The email, lowercased.
    Email,
}

/// The settings of one vertical, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupeRule {
    /// The window, milliseconds.
    pub window_ms: i64,
    /// What happens to a duplicate.
    pub mode: DedupeMode,
    /// Match on the phone.
    pub phone: bool,
    /// Match on the email.
    pub email: bool,
}

impl DedupeConfig {
    /// The settings that apply to `vertical`.
    pub fn rule(&self, vertical: &str) -> DedupeRule {
        let over = self.verticals.get(vertical);
        let window_days = over.and_then(|v| v.window_days).unwrap_or(self.window_days);
        let match_on = over.and_then(|v| v.match_on.as_deref()).unwrap_or(&self.match_on);
        DedupeRule {
            window_ms: i64::from(window_days) * DAY_MS,
            mode: over.and_then(|v| v.mode).unwrap_or(self.mode),
            phone: match_on.contains(&MatchOn::Phone),
            email: match_on.contains(&MatchOn::Email),
        }
    }

    /// The longest window of any vertical, milliseconds: how far back the start-up rebuild reads.
    pub fn longest_window_ms(&self) -> i64 {
        let longest = self.verticals.values().filter_map(|v| v.window_days).fold(self.window_days, u32::max);
        i64::from(longest) * DAY_MS
    }

    /// Checks values serde cannot; the error names the key below `dedupe.`.
    pub(super) fn validate(&self) -> Result<(), (String, String)> {
        let window = |key: String, days: u32| {
            if days == 0 || days > MAX_WINDOW_DAYS {
                return Err((key, format!("must be between 1 and {MAX_WINDOW_DAYS} days")));
            }
            Ok(())
        };
        let match_on = |key: String, fields: &[MatchOn]| {
            if fields.is_empty() {
                return Err((key, "list at least one of \"phone\", \"email\"".to_owned()));
            }
            Ok(())
        };
        window("window_days".into(), self.window_days)?;
        match_on("match_on".into(), &self.match_on)?;
        if self.max_entries == 0 {
            return Err(("max_entries".into(), "must be at least 1".into()));
        }
        for (name, v) in &self.verticals {
            let vertical =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !vertical {
                return Err((
                    format!("verticals.{name}"),
                    "verticals are lowercase letters, digits and `_`".to_owned(),
                ));
            }
            if let Some(days) = v.window_days {
                window(format!("verticals.{name}.window_days"), days)?;
            }
            if let Some(fields) = &v.match_on {
                match_on(format!("verticals.{name}.match_on"), fields)?;
            }
        }
        Ok(())
    }
}

mod defaults {
    use super::MatchOn;

    /// 30 days: the usual exclusivity period a buyer pays for.
    pub fn window_days() -> u32 {
        30
    }
    pub fn match_on() -> Vec<MatchOn> {
        vec![MatchOn::Phone, MatchOn::Email]
    }
    /// Two million people, about 200 MB: a month of leads at close to one a second per
    /// vertical for several verticals, or one busy one.
    pub fn max_entries() -> usize {
        2_000_000
    }
}
