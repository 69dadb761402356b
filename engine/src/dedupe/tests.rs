//! Dedupe verdicts on validated leads: modes, per-vertical settings, test leads, undoing a claim.

use std::sync::Arc;

use super::*;
use crate::config::Config;

const DAY: i64 = 24 * 3600 * 1000;

fn dedupe(toml: &str) -> Arc<Dedupe> {
    let config = Config::from_toml(toml).expect("config");
    Arc::new(Dedupe::new(config.dedupe.expect("[dedupe]")))
}

fn lead(vertical: &str, phone: &str, email: &str, test: bool) -> Lead {
    let body = serde_json::json!({
        "vertical": vertical,
        "attributes": {"zip": "98004", "state": "WA"},
        "contact": {"first_name": "Jane", "last_name": "Smith", "email": email, "phone": phone},
        "test": test,
    });
    crate::api::validate::lead(body.to_string().as_bytes()).expect("valid lead")
}

fn admitted(verdict: Verdict) -> Admitted {
    match verdict {
        Verdict::Admit(admitted) => admitted,
        Verdict::Duplicate => panic!("admitted, not a duplicate"),
    }
}

#[test]
fn reject_mode_matches_phone_or_email_in_the_same_vertical_only() {
    let d = dedupe("[dedupe]\n");
    let first = admitted(d.check(&lead("auto", "+12065550100", "jane@example.com", false), 0));
    assert_eq!(first.contacts.len(), 2, "phone and email");
    drop(first.stored());
    let same_phone = lead("auto", "+12065550100", "other@example.com", false);
    assert!(matches!(d.check(&same_phone, DAY), Verdict::Duplicate));
    let same_email = lead("auto", "+12065550199", "JANE@example.com", false);
    assert!(matches!(d.check(&same_email, DAY), Verdict::Duplicate), "the email compares lowercased");
    let other_vertical = lead("home", "+12065550100", "jane@example.com", false);
    assert!(matches!(d.check(&other_vertical, DAY), Verdict::Admit(_)));
    assert!(matches!(d.check(&same_phone, 30 * DAY), Verdict::Admit(_)), "the window ended");
}

#[test]
fn test_leads_are_neither_checked_nor_registered() {
    let d = dedupe("[dedupe]\n");
    let test = admitted(d.check(&lead("auto", "+12065550100", "jane@example.com", true), 0));
    assert!(test.contacts.is_empty());
    drop(test.stored());
    drop(admitted(d.check(&lead("auto", "+12065550100", "jane@example.com", false), 1)).stored());
    assert!(matches!(d.check(&lead("auto", "+12065550100", "jane@example.com", true), 2), Verdict::Admit(_)));
}

#[test]
fn a_lead_never_stored_does_not_count_as_seen() {
    let d = dedupe("[dedupe]\n");
    let jane = lead("auto", "+12065550100", "jane@example.com", false);
    drop(admitted(d.check(&jane, 0)));
    assert!(matches!(d.check(&jane, 1), Verdict::Admit(_)), "the dropped claim was undone");
}

#[test]
fn exclude_buyers_mode_leaves_out_who_bought_the_person() {
    let d = dedupe("[dedupe]\nmode = \"exclude_buyers\"\nmatch_on = [\"phone\"]\n");
    let first = admitted(d.check(&lead("auto", "+12065550100", "jane@example.com", false), 0));
    assert_eq!(first.contacts.len(), 1, "phone only");
    first.stored().bought(&Arc::from("acme"), 1);
    let second = admitted(d.check(&lead("auto", "+12065550100", "other@example.com", false), DAY));
    assert_eq!(second.exclude, vec![Arc::<str>::from("acme")]);
    // Stored under the first lead's window start, so the rebuild finds its sale in that window.
    assert_eq!(second.contacts[0].seen_at, 0);
    second.stored().bought(&Arc::from("bolt"), DAY);
    let third = admitted(d.check(&lead("auto", "+12065550100", "x@example.com", false), 2 * DAY));
    assert_eq!(third.exclude, vec![Arc::<str>::from("acme"), Arc::from("bolt")]);
}

#[test]
fn verticals_override_window_and_mode() {
    let d = dedupe(
        "[dedupe]\nwindow_days = 30\n[dedupe.verticals.mortgage]\nwindow_days = 90\nmode = \"exclude_buyers\"\n",
    );
    for vertical in ["auto", "mortgage"] {
        drop(admitted(d.check(&lead(vertical, "+12065550100", "jane@example.com", false), 0)).stored());
    }
    let at = 31 * DAY;
    assert!(matches!(d.check(&lead("auto", "+12065550100", "jane@example.com", false), at), Verdict::Admit(_)));
    let mortgage = admitted(d.check(&lead("mortgage", "+12065550100", "jane@example.com", false), at));
    assert_eq!(mortgage.contacts.len(), 2, "a repeat within the 90 days, auctioned (exclude_buyers)");
    assert_eq!(d.longest_window_ms(), 90 * DAY);
}

#[test]
fn restore_rebuilds_from_stored_rows() {
    let d = dedupe("[dedupe]\n");
    let jane = lead("auto", "+12065550100", "jane@example.com", false);
    let keys = key::keys(&jane, &d.config.rule("auto"));
    let rows = vec![StoredContact { key: keys[0], seen_at: 0, vertical: "auto".into(), buyer_id: Some("acme".into()) }];
    d.restore(rows, DAY);
    assert!(matches!(d.check(&jane, DAY), Verdict::Duplicate));
}
