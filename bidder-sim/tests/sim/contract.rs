//! What the simulator checks in what it receives: pings against contract v1, PII in pings,
//! and posts against the bids this buyer gave.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn planted_pii_is_counted_and_clean_pings_are_not() {
    let sim = Sim::start(&buyer("b0", "")).await;
    let client = http1();
    for n in 0..20 {
        let answer = post_json(&client, &sim.url("/b0/ping"), &ping(&format!("pg_{n}"), 100)).await.unwrap();
        assert_eq!(answer.status, 200);
    }
    assert_eq!(sim.stats("b0").pii_violations, 0, "clean pings");

    let email_value = ping_with("pg_a", 100, json!({"zip": "98004", "state": "WA", "note": "jane.smith@example.com"}));
    post_json(&client, &sim.url("/b0/ping"), &email_value).await.unwrap();
    assert_eq!(sim.stats("b0").pii_violations, 1, "an email in an attribute value");

    let phone_field = ping_with("pg_b", 100, json!({"zip": "98004", "state": "WA", "phone": "unknown"}));
    post_json(&client, &sim.url("/b0/ping"), &phone_field).await.unwrap();
    assert_eq!(sim.stats("b0").pii_violations, 2, "a `phone` field");

    let contact =
        ping("pg_c", 100).replace(r#""test":false"#, r#""test":false,"contact":{"email":"jane@example.com"}"#);
    let answer = post_json(&client, &sim.url("/b0/ping"), &contact).await.unwrap();
    assert_eq!(answer.status, 400, "a contact object is also outside the ping shape");
    let stats = sim.stats("b0");
    assert_eq!((stats.pii_violations, stats.violations["bad_shape"]), (3, 1));
}

#[tokio::test]
async fn pings_that_break_the_contract_are_refused_and_counted() {
    let sim =
        Sim::start("[[buyers]]\nid = \"b0\"\nverticals = [\"auto_insurance\"]\nstates = [\"WA\", \"OR\"]\n").await;
    let client = http1();
    let good = ping("pg_1", 100);
    let cases = [
        (good.replace(r#""test":false"#, r#""test":false,"score":1"#), "bad_shape"),
        (good.replace(r#","tmax_ms":100"#, ""), "bad_shape"),
        ("{not json".to_owned(), "not_json"),
        (good.replace(r#""tmax_ms":100"#, r#""tmax_ms":0"#), "zero_tmax"),
        (good.replace("98004", "9800"), "bad_zip"),
        (good.replace(r#""state":"WA""#, r#""state":"Washington""#), "bad_state"),
        (good.replace("auto_insurance", "mortgage"), "unwanted_vertical"),
        (good.replace(r#""state":"WA""#, r#""state":"TX""#), "unwanted_state"),
    ];
    for (body, reason) in &cases {
        let answer = post_json(&client, &sim.url("/b0/ping"), body).await.unwrap();
        assert_eq!(answer.status, 400, "{reason}: {body}");
        assert_eq!(answer.json()["error"]["code"], *reason, "{body}");
    }
    let answer = post_with_type(&client, &sim.url("/b0/ping"), &good, "text/plain").await.unwrap();
    assert_eq!(answer.status, 200, "a wrong content type is counted, and the ping still answered");
    let stats = sim.stats("b0");
    assert_eq!(stats.violations["bad_shape"], 2, "an unknown field and a missing tmax_ms");
    for reason in
        ["not_json", "zero_tmax", "bad_zip", "bad_state", "unwanted_vertical", "unwanted_state", "content_type"]
    {
        assert_eq!(stats.violations[reason], 1, "{reason}");
    }
    assert_eq!(stats.contract_violations, cases.len() as u64 + 1);
    assert_eq!((stats.pings, stats.bids), (cases.len() as u64 + 1, 1));
}

#[tokio::test]
async fn posts_must_follow_this_buyers_bid_for_that_ping() {
    let sim = Sim::start(&format!(
        "{}{}",
        buyer("a", "[buyers.ping]\nprice = { dist = \"constant\", value = \"9.00\" }"),
        buyer("never", "[buyers.ping]\nbid_probability = 0.0")
    ))
    .await;
    let client = http1();
    let bid_id = |answer: Answer| answer.json()["bid_id"].as_str().unwrap().to_owned();
    let send = |path: &'static str, body: String| {
        let client = client.clone();
        let url = sim.url(path);
        async move { post_json(&client, &url, &body).await.unwrap() }
    };

    let first = bid_id(send("/a/ping", ping("pg_1", 100)).await);
    let second = bid_id(send("/a/ping", ping("pg_2", 100)).await);
    assert_eq!(send("/a/post", post("pg_1", &second, "9.00")).await.status, 400, "another ping's bid id");
    assert_eq!(send("/a/post", post("pg_2", &second, "9.00")).await.json()["accepted"], true);
    assert_eq!(send("/a/post", post("pg_2", &second, "9.00")).await.status, 400, "posted twice");
    assert_eq!(send("/a/post", post("pg_9", &first, "9.00")).await.status, 400, "a ping it never saw");
    let third = bid_id(send("/a/ping", ping("pg_3", 100)).await);
    assert_eq!(send("/a/post", post("pg_3", &third, "19.00")).await.status, 400, "not the price bid");

    // A buyer that did not bid gets a post, with ids another buyer gave.
    send("/never/ping", ping("pg_4", 100)).await;
    let fourth = bid_id(send("/a/ping", ping("pg_4", 100)).await);
    assert_eq!(send("/never/post", post("pg_4", &fourth, "9.00")).await.status, 400);

    let a = sim.stats("a");
    assert_eq!(
        (
            a.violations["wrong_bid_id"],
            a.violations["duplicate_post"],
            a.violations["post_without_bid"],
            a.violations["wrong_price"]
        ),
        (1, 1, 1, 1)
    );
    assert_eq!((a.posts, a.accepted), (5, 1));
    assert_eq!(sim.stats("never").violations["post_without_bid"], 1);
}
