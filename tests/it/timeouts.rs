//! Attempt timeouts as QStash has them: `Upstash-Timeout` up to the
//! configured maximum (two hours by default), refused above it.

use ferry_core::wire::ErrorBody;
use ferry_tests::ferry::{TOKEN, TestFerry};
use ferry_tests::sink::TestSink;

async fn publish_with_timeout(ferry: &TestFerry, url: &str, timeout: &str) -> reqwest::Response {
    ferry
        .http()
        .post(ferry.url(&format!("/v2/publish/{url}")))
        .bearer_auth(TOKEN)
        .header("Upstash-Timeout", timeout)
        .body("report")
        .send()
        .await
        .expect("publish request")
}

#[tokio::test]
async fn upstash_timeout_is_accepted_up_to_two_hours_and_refused_above() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    let url = sink.url("/report");

    for accepted in ["2h", "7200s", "1h59m"] {
        let response = publish_with_timeout(&ferry, &url, accepted).await;
        assert_eq!(
            response.status().as_u16(),
            201,
            "Upstash-Timeout: {accepted}"
        );
    }
    let response = publish_with_timeout(&ferry, &url, "2h1s").await;
    assert_eq!(response.status().as_u16(), 400);
    let body: ErrorBody = response.json().await.expect("JSON error");
    assert!(
        body.error.contains("Upstash-Timeout") && body.error.contains("maximum of 7200s"),
        "{:?} names the header and the maximum",
        body.error
    );
}
