//! The query string of `GET /v1/leads` read into a store query for the caller's role: whose
//! leads, the page, and the filters, each checked with the field named on a 400.

use super::super::auth::{Caller, Role};
use super::super::error::ApiError;
use super::super::query::Query;
use crate::protocol::lead::is_valid_vertical;
use crate::store::pull::{LeadQuery, LeadScope};

/// The parameters `GET /v1/leads` takes; any other is a 400.
const PARAMS: [&str; 7] = ["cursor", "limit", "since", "until", "status", "vertical", "outcome"];

/// Auction outcomes a filter may name.
const OUTCOMES: [&str; 5] = ["sold", "unsold", "duplicate", "in_doubt", "running"];

/// Dispositions a filter may name, with `new` (none yet, not returned) and `returned`.
const STATUSES: [&str; 8] =
    ["contacted", "qualified", "converted", "closed_won", "closed_lost", "invalid", "new", "returned"];

/// The store query of `query` for `caller`.
pub(super) fn lead_query(caller: &Caller, query: Option<&str>) -> Result<LeadQuery, ApiError> {
    let query = Query::parse(query, &PARAMS)?;
    let scope = match caller.role {
        Role::Buyer => LeadScope::Buyer(caller.id.to_string()),
        Role::Publisher => LeadScope::Publisher(caller.id.to_string()),
        Role::Admin => LeadScope::All,
    };
    let (since, until) = (query.time("since")?, query.time("until")?);
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        return Err(ApiError::field("invalid_range", "since", "must be before until"));
    }
    let vertical = query.get("vertical").map(str::to_owned);
    if vertical.as_deref().is_some_and(|v| !is_valid_vertical(v)) {
        return Err(ApiError::field(
            "invalid_vertical",
            "vertical",
            "not a vertical name (lowercase letters, digits, `_`)",
        ));
    }
    Ok(LeadQuery {
        since,
        until,
        vertical,
        outcome: outcome(&query, &scope)?,
        status: status(&query, &scope)?,
        scope,
        page: query.page()?,
    })
}

/// The outcome filter. Every lead a buyer sees is one it bought, so `sold` filters nothing
/// and any other outcome is refused rather than answered with an empty walk.
fn outcome(query: &Query, scope: &LeadScope) -> Result<Option<String>, ApiError> {
    let Some(outcome) = query.get("outcome") else { return Ok(None) };
    if !OUTCOMES.contains(&outcome) {
        return Err(ApiError::field(
            "invalid_outcome",
            "outcome",
            "must be sold, unsold, duplicate, in_doubt or running",
        ));
    }
    match scope {
        LeadScope::Buyer(_) if outcome == "sold" => Ok(None),
        LeadScope::Buyer(_) => Err(ApiError::field(
            "invalid_outcome",
            "outcome",
            "a buyer's leads are all sold: leave out outcome, or filter on status",
        )),
        LeadScope::Publisher(_) | LeadScope::All => Ok(Some(outcome.to_owned())),
    }
}

/// The disposition filter. Dispositions are the buyer's: a publisher may not filter on them
/// (the answer would tell which of its leads converted).
fn status(query: &Query, scope: &LeadScope) -> Result<Option<String>, ApiError> {
    let Some(status) = query.get("status") else { return Ok(None) };
    if !STATUSES.contains(&status) {
        return Err(ApiError::field(
            "invalid_status",
            "status",
            "must be contacted, qualified, converted, closed_won, closed_lost, invalid, new or returned",
        ));
    }
    if matches!(scope, LeadScope::Publisher(_)) {
        return Err(ApiError::field(
            "invalid_status",
            "status",
            "dispositions are the buyer's: a publisher key cannot filter on them",
        ));
    }
    Ok(Some(status.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::auth::Scopes;

    fn caller(role: Role) -> Caller {
        Caller {
            role,
            id: Arc::from("me"),
            publisher_index: 0,
            key_id: Arc::from("config:test:me"),
            scopes: Scopes::ALL,
        }
    }

    fn field(role: Role, query: &str) -> Option<String> {
        lead_query(&caller(role), Some(query)).expect_err("refused").field.map(|f| f.into_owned())
    }

    #[test]
    fn each_role_walks_only_its_own_leads() {
        let scope = |role| lead_query(&caller(role), None).expect("valid").scope;
        assert_eq!(scope(Role::Buyer), LeadScope::Buyer("me".into()));
        assert_eq!(scope(Role::Publisher), LeadScope::Publisher("me".into()));
        assert_eq!(scope(Role::Admin), LeadScope::All);
    }

    #[test]
    fn filters_are_read_and_bad_values_name_their_field() {
        let q = lead_query(
            &caller(Role::Admin),
            Some("vertical=auto_insurance&outcome=duplicate&status=new&since=2026-01-01T00:00:00Z&limit=5"),
        )
        .expect("valid");
        assert_eq!(
            (q.vertical.as_deref(), q.outcome.as_deref(), q.status.as_deref(), q.page.limit),
            (Some("auto_insurance"), Some("duplicate"), Some("new"), 5)
        );
        assert!(q.since.is_some() && q.until.is_none());
        for (query, at_fault) in [
            ("outcome=won", "outcome"),
            ("status=sold", "status"),
            ("vertical=Auto%20Insurance", "vertical"),
            ("since=yesterday", "since"),
            ("since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
            ("limit=0", "limit"),
            ("buyer_id=acme", "buyer_id"),
        ] {
            assert_eq!(field(Role::Admin, query).as_deref(), Some(at_fault), "{query}");
        }
    }

    #[test]
    fn a_buyer_may_name_only_the_sold_outcome_and_a_publisher_no_disposition() {
        assert_eq!(lead_query(&caller(Role::Buyer), Some("outcome=sold")).expect("no-op").outcome, None);
        assert_eq!(field(Role::Buyer, "outcome=unsold").as_deref(), Some("outcome"));
        assert_eq!(
            lead_query(&caller(Role::Buyer), Some("status=returned")).expect("ok").status.as_deref(),
            Some("returned")
        );
        assert_eq!(field(Role::Publisher, "status=converted").as_deref(), Some("status"));
        assert_eq!(
            lead_query(&caller(Role::Publisher), Some("outcome=running")).expect("ok").outcome.as_deref(),
            Some("running")
        );
    }
}
