//! Per-tenant limits over HTTP: a tenant at its backlog quota gets the 429
//! the SDKs understand while other tenants go on publishing; a URL group is
//! capped per group, not per request; oversize endpoint names and cron
//! patterns are JSON 400s naming the limit.

use ferry_tests::ferry::{OTHER_TOKEN, TOKEN, TestFerry, TestOptions};
use serde_json::json;

use crate::bad_input::assert_error;

fn publish(ferry: &TestFerry, token: &str, destination: &str) -> reqwest::RequestBuilder {
    ferry
        .http()
        .post(ferry.url(&format!("/v2/publish/{destination}")))
        .bearer_auth(token)
        .body("hello")
}

fn add_endpoints(
    ferry: &TestFerry,
    group: &str,
    endpoints: &serde_json::Value,
) -> reqwest::RequestBuilder {
    ferry
        .http()
        .post(ferry.url(&format!("/v2/topics/{group}/endpoints")))
        .bearer_auth(TOKEN)
        .json(&json!({ "endpoints": endpoints }))
}

fn endpoints(range: std::ops::Range<u32>) -> serde_json::Value {
    range
        .map(|n| json!({"url": format!("https://e{n}.example.com/hook")}))
        .collect()
}

#[tokio::test]
async fn a_tenant_at_its_quota_gets_429_and_the_others_go_on() {
    let ferry = TestFerry::start_with(TestOptions {
        partitions: 1,
        max_tenant_backlog_per_partition: 2,
        run_deliverer: false,
        ..TestOptions::default()
    })
    .await;
    let url = "https://a.example.com/hook";
    for _ in 0..2 {
        let accepted = publish(&ferry, TOKEN, url).send().await.unwrap();
        assert_eq!(accepted.status().as_u16(), 201);
    }
    let refused = publish(&ferry, TOKEN, url).send().await.unwrap();
    let header = |name: &str| {
        refused
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("the 429 carries {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("retry-after"), "1");
    assert_eq!(header("burst-ratelimit-limit"), "2");
    assert_eq!(header("burst-ratelimit-remaining"), "0");
    assert!(header("burst-ratelimit-reset").parse::<u64>().is_ok());
    assert_error(refused, 429, "gateway.max_backlog_per_tenant").await;

    for _ in 0..2 {
        let other = publish(&ferry, OTHER_TOKEN, url).send().await.unwrap();
        assert_eq!(other.status().as_u16(), 201, "the other tenant publishes");
    }
}

#[tokio::test]
async fn a_url_group_is_capped_per_group_not_per_request() {
    let ferry = TestFerry::start().await;
    let first = add_endpoints(&ferry, "fans", &endpoints(0..600));
    assert_eq!(first.send().await.unwrap().status().as_u16(), 200);
    let second = add_endpoints(&ferry, "fans", &endpoints(600..1_200));
    assert_error(second.send().await.unwrap(), 400, "limit per group").await;
    // Up to the limit, in any number of requests.
    let third = add_endpoints(&ferry, "fans", &endpoints(600..1_000));
    assert_eq!(third.send().await.unwrap().status().as_u16(), 200);
    let one_more = add_endpoints(&ferry, "fans", &endpoints(1_000..1_001));
    assert_error(one_more.send().await.unwrap(), 400, "1000 endpoints").await;

    let group: serde_json::Value = ferry
        .http()
        .get(ferry.url("/v2/topics/fans"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(group["endpoints"].as_array().unwrap().len(), 1_000);
}

#[tokio::test]
async fn long_endpoint_names_and_cron_patterns_are_refused_naming_the_limit() {
    let ferry = TestFerry::start().await;
    let named = json!([{"url": "https://a.example.com/hook", "name": "n".repeat(129)}]);
    let refused = add_endpoints(&ferry, "named", &named).send().await.unwrap();
    assert_error(refused, 400, "the limit is 128").await;
    let fits = json!([{"url": "https://a.example.com/hook", "name": "n".repeat(128)}]);
    let added = add_endpoints(&ferry, "named", &fits).send().await.unwrap();
    assert_eq!(added.status().as_u16(), 200);

    let list =
        |range: std::ops::Range<u32>| range.map(|n| n.to_string()).collect::<Vec<_>>().join(",");
    let cron = format!("{} {} {} * *", list(0..60), list(0..24), list(1..32));
    let schedule = ferry
        .http()
        .post(ferry.url("/v2/schedules/https://a.example.com/hook"))
        .bearer_auth(TOKEN)
        .header("Upstash-Cron", &cron)
        .send()
        .await
        .unwrap();
    assert_error(schedule, 400, "the limit is 256").await;
}
