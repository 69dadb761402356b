//! `caps`: how many leads a buyer takes, and how much it spends, per hour, day, week and month,
//! in the buyer's own time zone; the same limits per publisher; when to warn.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::protocol::money::Micros;

/// `caps = { hourly, daily, weekly, monthly, budget_daily, budget_monthly, ... }`. The same
/// table, with limits only, gives a buyer's caps for one publisher (`publishers.<id>`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    /// Leads per hour.
    #[serde(default)]
    pub hourly: Option<u32>,
    /// Leads per day.
    #[serde(default)]
    pub daily: Option<u32>,
    /// Leads per week (weeks start on Monday).
    #[serde(default)]
    pub weekly: Option<u32>,
    /// Leads per calendar month.
    #[serde(default)]
    pub monthly: Option<u32>,
    /// Spend per day.
    #[serde(default)]
    pub budget_daily: Option<Micros>,
    /// Spend per calendar month.
    #[serde(default)]
    pub budget_monthly: Option<Micros>,
    /// `buyer.cap_threshold_reached` fires when a cap's use reaches this share of it (percent,
    /// default 80). Buyer level only.
    #[serde(default)]
    pub threshold_percent: Option<u8>,
    /// Time zone of the windows (IANA name); default: the schedule's, else UTC. Buyer level
    /// only.
    #[serde(default)]
    pub timezone: Option<String>,
    /// The same limits per publisher: `publishers = { pub1 = { daily = 10 } }`. Buyer level
    /// only.
    #[serde(default)]
    pub publishers: BTreeMap<String, Caps>,
}

fn default_threshold() -> u8 {
    80
}

/// A window caps are counted over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// A clock hour.
    Hour,
    /// A local day.
    Day,
    /// A local week, Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
}

impl Period {
    /// `hourly`, `daily`, ...: the config key's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Hour => "hourly",
            Period::Day => "daily",
            Period::Week => "weekly",
            Period::Month => "monthly",
        }
    }
}

/// One limit: a count of leads or a spend, over a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The window.
    pub period: Period,
    /// Leads (`false`) or micro-units of spend (`true`).
    pub spend: bool,
    /// The most allowed in one window.
    pub max: i64,
}

impl Limit {
    /// The config key it came from (`daily`, `budget_monthly`).
    pub fn key(&self) -> &'static str {
        match (self.spend, self.period) {
            (false, period) => period.as_str(),
            (true, Period::Day) => "budget_daily",
            (true, Period::Month) => "budget_monthly",
            (true, Period::Hour) => "budget_hourly",
            (true, Period::Week) => "budget_weekly",
        }
    }
}

impl Caps {
    /// The limits set (not those per publisher), in a fixed order.
    pub fn limits(&self) -> Vec<Limit> {
        let counts = [
            (Period::Hour, self.hourly),
            (Period::Day, self.daily),
            (Period::Week, self.weekly),
            (Period::Month, self.monthly),
        ];
        let spends = [(Period::Day, self.budget_daily), (Period::Month, self.budget_monthly)];
        counts
            .into_iter()
            .filter_map(|(period, max)| max.map(|max| Limit { period, spend: false, max: max.into() }))
            .chain(
                spends.into_iter().filter_map(|(period, max)| max.map(|max| Limit { period, spend: true, max: max.0 })),
            )
            .collect()
    }
}

impl Caps {
    /// The threshold for `buyer.cap_threshold_reached`, percent.
    pub fn threshold(&self) -> u8 {
        self.threshold_percent.unwrap_or_else(default_threshold)
    }

    /// Checks the values; `Err((key under caps, message))`.
    pub(super) fn validate(&self) -> Result<(), (String, String)> {
        if !(1..=100).contains(&self.threshold()) {
            return Err(("threshold_percent".into(), "must be between 1 and 100".into()));
        }
        if let Some(tz) = &self.timezone
            && tz.parse::<chrono_tz::Tz>().is_err()
        {
            return Err(("timezone".into(), format!("\"{tz}\" is not an IANA time zone (e.g. America/Chicago)")));
        }
        let check = |prefix: String, caps: &Caps| {
            for limit in caps.limits() {
                if limit.spend && !Micros(limit.max).is_positive() {
                    return Err((format!("{prefix}{}", limit.key()), "a budget must be above zero".to_owned()));
                }
            }
            Ok(())
        };
        check(String::new(), self)?;
        for (publisher, caps) in &self.publishers {
            let key = format!("publishers.{publisher}");
            super::de::check_id(publisher).map_err(|m| (key.clone(), m.to_owned()))?;
            if caps.limits().is_empty() {
                return Err((key, "set at least one limit".into()));
            }
            if caps.threshold_percent.is_some() || caps.timezone.is_some() || !caps.publishers.is_empty() {
                return Err((key, "takes limits only; threshold_percent and timezone are set for the buyer".into()));
            }
            check(format!("publishers.{publisher}."), caps)?;
        }
        Ok(())
    }
}
