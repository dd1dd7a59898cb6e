//! The console in a real browser (headless Chromium through WebDriver, see
//! `support::browser`): what an operator does at night, end to end against
//! a Ferry with its own Redis and a scriptable sink. Each test saves
//! screenshots of the pages it visits under `target/console-screenshots`.
//! A few checks that need no browser (CSRF, origin, cookies) use plain HTTP.

use ferry_sdk::PublishOptions;
use ferry_tests::browser::Browser;
use ferry_tests::ferry::{OTHER_TOKEN, TOKEN, TestFerry, TestOptions};
use ferry_tests::sink::{Reply, TestSink};
use http::StatusCode;

const FORM: &str = "application/x-www-form-urlencoded";

async fn ferry_with_console() -> TestFerry {
    TestFerry::start_with(TestOptions {
        console: true,
        ..TestOptions::default()
    })
    .await
}

/// Publishes `body` to `sink`'s `path` with no retries: one failed attempt
/// makes it a dead letter. Returns the message id.
async fn publish_once(
    ferry: &TestFerry,
    token: &str,
    sink: &TestSink,
    path: &str,
    body: &str,
) -> String {
    let options = PublishOptions {
        retries: Some(0),
        ..PublishOptions::default()
    };
    ferry
        .sdk_for(token)
        .publish(&sink.url(path), body.to_owned(), &options)
        .await
        .expect("publish")
        .message_id
}

#[tokio::test]
async fn a_dead_letter_is_inspected_retried_and_delivered() {
    let ferry = ferry_with_console().await;
    let sink = TestSink::start().await;
    sink.respond(
        Reply::status(503)
            .header("X-Upstream", "down")
            .body("upstream is down for maintenance"),
    );
    let message_id = publish_once(&ferry, TOKEN, &sink, "/orders", r#"{"order":42}"#).await;
    let browser = Browser::start().await;

    browser.goto(&ferry.url("/console")).await;
    browser.fill("#token", "not-a-token").await;
    browser.click("#login").await;
    browser.wait_for_text("#login-error", "not accepted").await;
    browser.log_in(&ferry.base_url, TOKEN).await;
    browser.wait_for_text("#tenant", "tenant-a").await;

    let list = ferry.url("/console/dlq");
    browser.reload_until_text(&list, "#dlq", "/orders").await;
    browser.wait_for_text("#dlq", "503").await;
    browser.screenshot("dlq").await;
    browser.click("#dlq tbody a").await;
    browser.wait_for_text("#response-status", "503").await;
    browser
        .wait_for_text("#response-body", "upstream is down for maintenance")
        .await;
    browser
        .wait_for_text("#response-headers", "X-Upstream")
        .await;
    browser.wait_for_text("#body", r#"{"order":42}"#).await;
    browser.wait_for_text("#history", "FAILED").await;
    browser.screenshot("dlq-detail").await;

    sink.respond(Reply::status(200));
    browser.fill("#override", "Upstash-Retries: 2").await;
    browser.click("#retry").await;
    browser
        .wait_for_text("#notice", "retried as a new message")
        .await;
    let logs = browser.path().await;
    assert!(
        logs.starts_with("/console/logs?"),
        "the retry leads to its log: {logs}"
    );
    browser
        .reload_until_text(&ferry.url(&logs), "#logs", "DELIVERED")
        .await;
    browser.screenshot("logs").await;
    let delivered = sink
        .wait_for_requests(2, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(delivered[1].body, r#"{"order":42}"#.as_bytes());
    assert!(
        ferry
            .sdk()
            .dlq_list(&Default::default())
            .await
            .expect("dlq")
            .messages
            .is_empty(),
        "the dead letter {message_id} left the queue"
    );
    browser.goto(&list).await;
    browser.wait_for("#dlq-empty").await;
    browser.close().await;
}

#[tokio::test]
async fn a_queue_is_paused_and_resumed() {
    let ferry = ferry_with_console().await;
    let sink = TestSink::start().await;
    ferry
        .sdk()
        .enqueue("nightly", &sink.url("/q"), "x", &PublishOptions::default())
        .await
        .expect("enqueue");
    let browser = Browser::start().await;
    browser.log_in(&ferry.base_url, TOKEN).await;
    browser.goto(&ferry.url("/console/queues")).await;
    browser.wait_for_text("#queue-nightly", "running").await;
    browser
        .click("#queue-nightly button[data-testid=pause]")
        .await;
    browser.wait_for_text("#notice", "Paused").await;
    browser.wait_for_text("#queue-nightly", "paused").await;
    let queue = ferry.sdk().queue("nightly").await.expect("queue");
    assert!(queue.paused, "the API sees the queue paused");
    browser.screenshot("queues").await;
    browser
        .click("#queue-nightly button[data-testid=resume]")
        .await;
    browser.wait_for_text("#notice", "Resumed").await;
    browser.wait_for_text("#queue-nightly", "running").await;
    assert!(!ferry.sdk().queue("nightly").await.expect("queue").paused);
    browser.close().await;
}

#[tokio::test]
async fn keys_rotate_only_after_confirming() {
    let ferry = ferry_with_console().await;
    let before = ferry.sdk().keys().await.expect("keys");
    let browser = Browser::start().await;
    browser.log_in(&ferry.base_url, TOKEN).await;
    browser.goto(&ferry.url("/console/keys")).await;
    browser.wait_for_text("#current-key", &before.current).await;
    browser.screenshot("keys").await;
    browser.click("#rotate").await;
    browser.wait_for_text("h1", "Rotate signing keys").await;
    let unchanged = ferry.sdk().keys().await.expect("keys");
    assert_eq!(unchanged, before, "asking to rotate changes nothing yet");
    browser.screenshot("keys-rotate").await;
    browser.click("#confirm").await;
    browser.wait_for_text("#notice", "rotated").await;
    let after = ferry.sdk().keys().await.expect("keys");
    assert_eq!(after.current, before.next, "the next key became current");
    assert_ne!(after.next, before.next);
    browser.wait_for_text("#current-key", &after.current).await;
    browser.wait_for_text("#next-key", &after.next).await;
    browser.close().await;
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_dead_letters() {
    let ferry = ferry_with_console().await;
    let sink = TestSink::start().await;
    sink.respond(Reply::status(500));
    publish_once(&ferry, TOKEN, &sink, "/tenant-a-only", "a").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let dlq_id = loop {
        if let Some(id) = first_dead_letter(&ferry).await {
            break id;
        }
        assert!(tokio::time::Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let browser = Browser::start().await;
    browser.log_in(&ferry.base_url, OTHER_TOKEN).await;
    browser.wait_for_text("#tenant", "tenant-b").await;
    browser.goto(&ferry.url("/console/dlq")).await;
    browser.wait_for("#dlq-empty").await;
    browser
        .goto(&ferry.url(&format!("/console/dlq/{dlq_id}")))
        .await;
    browser.wait_for_text("#failure", "not found").await;
    browser.goto(&ferry.url("/console/logs")).await;
    browser.wait_for("#log-empty").await;
    browser.close().await;
}

/// The first dead letter of tenant A, if there is one yet.
async fn first_dead_letter(ferry: &TestFerry) -> Option<String> {
    let list = ferry
        .sdk()
        .dlq_list(&Default::default())
        .await
        .expect("dlq");
    list.messages.first().map(|m| m.dlq_id.clone())
}

#[tokio::test]
async fn message_values_are_shown_as_text_and_every_page_renders() {
    let ferry = ferry_with_console().await;
    let sink = TestSink::start().await;
    sink.respond(Reply::status(500).body("<b>bold</b>"));
    let hostile = "<script>document.title='pwned'</script><img src=x>";
    let labelled = PublishOptions {
        retries: Some(0),
        labels: vec!["<i>label</i>".into()],
        ..PublishOptions::default()
    };
    ferry
        .sdk()
        .publish(&sink.url("/x"), hostile, &labelled)
        .await
        .expect("publish");
    let delayed = PublishOptions {
        delay: Some("1h".into()),
        ..PublishOptions::default()
    };
    ferry
        .sdk()
        .publish(&sink.url("/later"), "later", &delayed)
        .await
        .expect("publish delayed");
    let browser = Browser::start().await;
    browser.log_in(&ferry.base_url, TOKEN).await;

    browser
        .reload_until_text(&ferry.url("/console/dlq"), "#dlq", "/x")
        .await;
    browser.wait_for_text("#dlq", "<i>label</i>").await;
    browser.click("#dlq tbody a").await;
    browser.wait_for_text("#body", hostile).await;
    browser.wait_for_text("#response-body", "<b>bold</b>").await;
    let title = browser.client.title().await.expect("title");
    assert!(title.contains("Dead letter"), "no script ran: {title}");
    let injected = browser
        .client
        .find_all(fantoccini::Locator::Css(
            "main script, main img, #response-body b",
        ))
        .await
        .expect("query");
    assert!(injected.is_empty(), "message values became markup");

    for (path, name, heading) in [
        ("/console", "overview", "Overview"),
        ("/console/messages", "messages", "Pending messages"),
        ("/console/schedules", "schedules", "Schedules"),
        ("/console/groups", "groups", "URL groups"),
        ("/console/flows", "flows", "Flow-control keys"),
    ] {
        browser.goto(&ferry.url(path)).await;
        browser.wait_for_text("h1", heading).await;
        browser.screenshot(name).await;
    }
    browser.goto(&ferry.url("/console/messages")).await;
    browser.wait_for_text("#messages", "/later").await;
    browser.goto(&ferry.url("/console/logs")).await;
    browser.wait_for_text("#logs", "FAILED").await;
    browser.close().await;
}

/// The console's own checks, over plain HTTP: no session, no CSRF token
/// and a foreign origin are each refused, and the cookie never holds the
/// token.
#[tokio::test]
async fn forms_need_a_session_its_token_and_our_origin() {
    let ferry = ferry_with_console().await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    let page = http
        .get(ferry.url("/console/dlq"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        page.status(),
        StatusCode::SEE_OTHER,
        "no session: to the login page"
    );

    let login = http
        .post(ferry.url("/console/login"))
        .header("content-type", FORM)
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .expect("log in");
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let set_cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        !set_cookie.contains(TOKEN),
        "the token is not in the cookie"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(
            set_cookie.contains(attribute),
            "{set_cookie} lacks {attribute}"
        );
    }
    let cookie = set_cookie
        .split(';')
        .next()
        .expect("cookie pair")
        .to_owned();

    let rotate = |csrf: String, origin: Option<&'static str>| {
        let mut request = http
            .post(ferry.url("/console/keys/rotate"))
            .header("cookie", &cookie)
            .header("content-type", FORM)
            .body(format!("csrf={csrf}"));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let before = ferry.sdk().keys().await.expect("keys");
    let forged = rotate("forged".into(), None).await.expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let keys_page = http
        .get(ferry.url("/console/keys"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("keys page");
    let csp = keys_page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let html = keys_page.text().await.expect("html");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has a CSRF token")
        .to_owned();
    let foreign = rotate(csrf.clone(), Some("http://evil.example"))
        .await
        .expect("post");
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        ferry.sdk().keys().await.expect("keys"),
        before,
        "nothing rotated"
    );
    let ours = rotate(csrf, None).await.expect("post");
    assert_eq!(ours.status(), StatusCode::SEE_OTHER);
    assert_ne!(ferry.sdk().keys().await.expect("keys"), before);
}

#[tokio::test]
async fn dead_letters_matching_a_filter_are_deleted_after_a_count() {
    let ferry = ferry_with_console().await;
    let sink = TestSink::start().await;
    sink.respond(Reply::status(500));
    for path in ["/batch/1", "/batch/2", "/keep"] {
        publish_once(&ferry, TOKEN, &sink, path, "x").await;
    }
    let browser = Browser::start().await;
    browser.log_in(&ferry.base_url, TOKEN).await;
    let list = ferry.url("/console/dlq");
    browser.reload_until_text(&list, "#dlq", "/keep").await;
    browser.reload_until_text(&list, "#dlq", "/batch/2").await;
    browser.fill("#dlq-filters input[name=status]", "500").await;
    browser
        .fill("#dlq-filters input[name=url]", &sink.url("/batch/1"))
        .await;
    browser.click("#dlq-filters button").await;
    browser.wait_for_text("#dlq", "/batch/1").await;
    browser.click("#bulk-delete").await;
    browser
        .wait_for_text("#bulk-count", "1 dead letter matches")
        .await;
    browser.screenshot("dlq-bulk").await;
    browser.click("#confirm").await;
    browser.wait_for_text("#notice", "deleted").await;
    browser.wait_for_text("#dlq", "/keep").await;
    let left = ferry
        .sdk()
        .dlq_list(&Default::default())
        .await
        .expect("dlq");
    let urls: Vec<&str> = left
        .messages
        .iter()
        .map(|m| m.message.url.as_str())
        .collect();
    assert_eq!(
        urls.len(),
        2,
        "only the matching dead letter went: {urls:?}"
    );
    assert!(urls.iter().all(|u| !u.ends_with("/batch/1")));
    browser.close().await;
}
