use http::HeaderValue;
use sha2::{Digest, Sha256};

use super::*;
use crate::config::Config;

fn config() -> Config {
    let digest = |key: &str| hex::encode(Sha256::digest(key));
    Config::from_toml(&format!(
        r#"
[[publishers]]
id = "pub1"
key_sha256 = "{}"
[[publishers]]
id = "pub2"
key_sha256 = "{}"
enabled = false
[[admins]]
id = "ops"
key_sha256 = "{}"
[[buyers]]
id = "acme"
ping_url = "http://127.0.0.1:9/ping"
post_url = "http://127.0.0.1:9/post"
verticals = ["auto_insurance"]
"#,
        digest("pk1"),
        digest("pk2"),
        digest("ak1")
    ))
    .expect("config")
}

fn bearer(key: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {key}")).expect("header"));
    headers
}

#[test]
fn config_keys_resolve_to_their_role_and_holder() {
    let keys = Keys::new(&config());
    let publisher = keys.authenticate(&bearer("pk1"), 1).expect("publisher").caller;
    assert_eq!((publisher.role, &*publisher.id, publisher.scopes), (Role::Publisher, "pub1", Scopes::ALL));
    let admin = keys.authenticate(&bearer("ak1"), 1).expect("admin").caller;
    assert_eq!((admin.role, &*admin.id), (Role::Admin, "ops"));
    assert_eq!(keys.authenticate(&bearer("pk2"), 1).expect_err("disabled").status, StatusCode::FORBIDDEN);
    assert_eq!(keys.authenticate(&bearer("nope"), 1).expect_err("unknown").status, StatusCode::UNAUTHORIZED);
    assert_eq!(keys.authenticate(&HeaderMap::new(), 1).expect_err("none").status, StatusCode::UNAUTHORIZED);
    assert_eq!(keys.usage("config.publisher.pub1"), Some((1, 1)));
}

#[test]
fn a_revoked_issued_key_fails_on_the_next_request() {
    let keys = Keys::new(&config());
    let issued = IssuedKey {
        id: "key_1".into(),
        role: Role::Buyer,
        owner_id: "acme".into(),
        scopes: Scopes { read: true, write: false },
        digest: Sha256::digest("bk1").into(),
        revoked: false,
        limit: None,
        uses: 0,
        last_used_at: 0,
    };
    keys.set_issued(vec![issued.clone()]);
    let buyer = keys.authenticate(&bearer("bk1"), 1).expect("buyer").caller;
    assert_eq!((buyer.role, &*buyer.id, &*buyer.key_id), (Role::Buyer, "acme", "key_1"));
    assert!(buyer.require(Role::Buyer, Scope::Read).is_ok());
    assert_eq!(buyer.require(Role::Buyer, Scope::Write).expect_err("read only").status, StatusCode::FORBIDDEN);
    assert_eq!(buyer.require(Role::Admin, Scope::Read).expect_err("not admin").status, StatusCode::FORBIDDEN);
    keys.set_issued(vec![IssuedKey { revoked: true, ..issued.clone() }]);
    assert_eq!(keys.authenticate(&bearer("bk1"), 2).expect_err("revoked").status, StatusCode::UNAUTHORIZED);

    // A deleted buyer takes its issued keys along.
    keys.set_issued(vec![issued]);
    assert!(keys.authenticate(&bearer("bk1"), 3).is_ok());
    let mut without_acme = config();
    without_acme.buyers.clear();
    keys.set_config(&without_acme);
    assert_eq!(keys.authenticate(&bearer("bk1"), 4).expect_err("deleted").status, StatusCode::UNAUTHORIZED);
}

#[test]
fn publisher_indices_are_stable_across_rebuilds() {
    let keys = Keys::new(&config());
    let before = keys.authenticate(&bearer("pk1"), 1).expect("publisher").caller.publisher_index;
    keys.set_issued(Vec::new());
    keys.set_config(&config());
    assert_eq!(keys.authenticate(&bearer("pk1"), 1).expect("publisher").caller.publisher_index, before);
    assert_eq!(keys.publisher_index("pub1"), before);
}

#[test]
fn scopes_parse() {
    assert_eq!(Scopes::parse("read"), Some(Scopes { read: true, write: false }));
    assert_eq!(Scopes::parse("read,write"), Some(Scopes::ALL));
    assert_eq!(Scopes::parse("admin"), None);
    assert_eq!(Scopes::parse(""), None);
}

#[test]
fn a_digest_held_by_two_holders_acts_as_neither() {
    let keys = Keys::new(&config());
    // An issued buyer key with the same digest as the admin's config key.
    keys.set_issued(vec![IssuedKey {
        id: "key_dup".into(),
        role: Role::Buyer,
        owner_id: "acme".into(),
        scopes: Scopes::ALL,
        digest: Sha256::digest("ak1").into(),
        revoked: false,
        limit: None,
        uses: 0,
        last_used_at: 0,
    }]);
    assert_eq!(keys.authenticate(&bearer("ak1"), 1).expect_err("shared").status, StatusCode::UNAUTHORIZED);
    assert!(keys.authenticate(&bearer("pk1"), 1).is_ok(), "other keys are unaffected");
}

#[test]
fn a_config_refuses_one_key_for_two_holders_of_any_roles() {
    let digest = hex::encode(Sha256::digest("shared"));
    let text = format!(
        "[[publishers]]\nid = \"p\"\nkey_sha256 = \"{digest}\"\n[[admins]]\nid = \"ops\"\nkey_sha256 = \"{digest}\"\n"
    );
    let error = Config::from_toml(&text).expect_err("shared key").to_string();
    assert!(error.contains("admins[0].key_sha256") && error.contains("publishers[0] has the same key"), "{error}");
}
