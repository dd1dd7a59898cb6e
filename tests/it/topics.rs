//! URL groups: managing endpoints, and publishing to a group's name fans
//! out to one independent message per endpoint.

use std::time::Duration;

use ferry_tests::ferry::{OTHER_TOKEN, TOKEN, TestFerry};
use ferry_tests::sink::{Reply, TestSink};
use serde_json::{Value, json};

async fn call(
    ferry: &TestFerry,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut request = ferry
        .http()
        .request(method, ferry.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_group_publish_fans_out_and_only_the_failing_copy_retries() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    sink.respond_to_paths_containing("/fail", Reply::status(500));
    let endpoints = json!({"endpoints": [
        {"url": sink.url("/one"), "name": "first"},
        {"url": sink.url("/two")},
        {"url": sink.url("/fail"), "name": "broken"}
    ]});
    let (status, _) = call(
        &ferry,
        TOKEN,
        reqwest::Method::POST,
        "/v2/topics/orders/endpoints",
        Some(endpoints),
    )
    .await;
    assert_eq!(status, 200);

    let response = ferry
        .http()
        .post(ferry.url("/v2/publish/orders"))
        .bearer_auth(TOKEN)
        .header("Upstash-Retries", "1")
        .header("Upstash-Retry-Delay", "100")
        .body("fan me out")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let published: Vec<Value> = response.json().await.unwrap();
    assert_eq!(published.len(), 3);
    let urls: Vec<&str> = published
        .iter()
        .map(|p| p["url"].as_str().unwrap())
        .collect();
    assert!(
        urls.contains(&sink.url("/one").as_str()) && urls.contains(&sink.url("/fail").as_str())
    );

    let requests = sink.wait_for_requests(4, Duration::from_secs(10)).await;
    sink.assert_quiet(Duration::from_millis(500)).await;
    assert_eq!(sink.n_requests_to("/one"), 1);
    assert_eq!(sink.n_requests_to("/two"), 1);
    assert_eq!(
        sink.n_requests_to("/fail"),
        2,
        "only the failing endpoint's copy is retried"
    );
    for request in &requests {
        assert_eq!(request.header("upstash-topic-name"), Some("orders"));
        assert_eq!(request.body.as_ref(), b"fan me out");
    }
    let one = published
        .iter()
        .find(|p| p["url"] == sink.url("/one"))
        .unwrap();
    let one_id = one["messageId"].as_str().unwrap();
    assert_eq!(
        requests
            .iter()
            .find(|r| r.uri.path() == "/one")
            .unwrap()
            .message_id(),
        one_id
    );

    let dead_id = published
        .iter()
        .find(|p| p["url"] == sink.url("/fail"))
        .unwrap()["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let dead = loop {
        let list = ferry
            .sdk()
            .dlq_list(&ferry_sdk::DlqQuery::default())
            .await
            .unwrap();
        if let Some(m) = list
            .messages
            .into_iter()
            .find(|m| m.message.message_id == dead_id)
        {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failing copy never dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(dead.message.topic_name.as_deref(), Some("orders"));
    assert_eq!(dead.message.endpoint_name.as_deref(), Some("broken"));
}

#[tokio::test]
async fn groups_are_listed_changed_and_deleted_per_tenant() {
    let ferry = TestFerry::start().await;
    let post = reqwest::Method::POST;
    let del = reqwest::Method::DELETE;
    let get = reqwest::Method::GET;
    let two = json!({"endpoints": [{"url": "https://a.example.com/x", "name": "a"}, {"url": "https://b.example.com/y"}]});
    assert_eq!(
        call(
            &ferry,
            TOKEN,
            post.clone(),
            "/v2/topics/g1/endpoints",
            Some(two)
        )
        .await
        .0,
        200
    );

    let (status, body) = call(&ferry, TOKEN, get.clone(), "/v2/topics", None).await;
    assert_eq!(status, 200);
    let groups: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(groups[0]["name"], "g1");
    assert_eq!(groups[0]["endpoints"].as_array().unwrap().len(), 2);
    assert!(groups[0]["createdAt"].as_u64().unwrap() > 0);

    let (status, body) = call(&ferry, OTHER_TOKEN, get.clone(), "/v2/topics/g1", None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        call(&ferry, OTHER_TOKEN, get.clone(), "/v2/topics", None)
            .await
            .1,
        "[]"
    );

    let by_name = json!({"endpoints": [{"name": "a"}]});
    assert_eq!(
        call(
            &ferry,
            TOKEN,
            del.clone(),
            "/v2/topics/g1/endpoints",
            Some(by_name)
        )
        .await
        .0,
        200
    );
    let (_, body) = call(&ferry, TOKEN, get.clone(), "/v2/topics/g1", None).await;
    let group: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        group["endpoints"],
        json!([{"url": "https://b.example.com/y"}])
    );

    for (body, needle) in [
        (json!({"endpoints": []}), "endpoints"),
        (json!({"endpoints": [{"name": "no-url"}]}), "url"),
        (json!({"endpoints": [{"url": "ftp://x"}]}), "scheme"),
    ] {
        let (status, text) = call(
            &ferry,
            TOKEN,
            post.clone(),
            "/v2/topics/g1/endpoints",
            Some(body),
        )
        .await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains(needle), "{text}");
    }
    assert_eq!(
        call(
            &ferry,
            TOKEN,
            post.clone(),
            "/v2/topics/bad%20name/endpoints",
            Some(json!({"endpoints": [{"url": "https://a.example.com"}]}))
        )
        .await
        .0,
        400
    );

    assert_eq!(
        call(&ferry, TOKEN, del.clone(), "/v2/topics/g1", None)
            .await
            .0,
        200
    );
    assert_eq!(call(&ferry, TOKEN, del, "/v2/topics/g1", None).await.0, 404);
    let (status, body) = call(&ferry, TOKEN, post, "/v2/publish/g1", None).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn a_batch_item_can_name_a_group() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    let endpoints = json!({"endpoints": [{"url": sink.url("/x")}, {"url": sink.url("/y")}]});
    call(
        &ferry,
        TOKEN,
        reqwest::Method::POST,
        "/v2/topics/both/endpoints",
        Some(endpoints),
    )
    .await;
    let items = json!([
        {"destination": "both", "body": "to the group"},
        {"destination": sink.url("/z"), "body": "alone"}
    ]);
    let (status, body) = call(
        &ferry,
        TOKEN,
        reqwest::Method::POST,
        "/v2/batch",
        Some(items),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let results: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        results[0].as_array().unwrap().len(),
        2,
        "a group item answers with an array"
    );
    assert!(
        results[1]["messageId"]
            .as_str()
            .unwrap()
            .starts_with("msg_")
    );
    sink.wait_for_requests(3, Duration::from_secs(10)).await;
}
