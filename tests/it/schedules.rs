//! Schedules through the API: managing them, and every tick delivered
//! exactly once while several deliverers run and one of them restarts.

use std::time::Duration;

use ferry_gateway::GatewayConfig;
use ferry_store::RedisStore;
use ferry_tests::ferry::{OTHER_TOKEN, TOKEN, TestFerry, TestOptions, test_deliver_config};
use ferry_tests::sink::{Reply, TestSink};
use prometheus_client::registry::Registry;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Sends `method path` as `token` with optional headers and body; returns
/// the status and the body text.
async fn call(
    ferry: &TestFerry,
    token: &str,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut request = ferry
        .http()
        .request(method, ferry.url(path))
        .bearer_auth(token)
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The status of `method /v2/schedules/{rest}` without headers or body,
/// whose answer is not read.
async fn schedule_status(
    ferry: &TestFerry,
    token: &str,
    method: reqwest::Method,
    rest: &str,
) -> u16 {
    let path = format!("/v2/schedules/{rest}");
    call(ferry, token, method, &path, &[], "").await.0
}

/// Creates a schedule to `destination` as `TOKEN`, checks the 201 and
/// returns the answer's body.
async fn create_schedule(
    ferry: &TestFerry,
    destination: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let path = format!("/v2/schedules/{destination}");
    let (status, text) = call(ferry, TOKEN, reqwest::Method::POST, &path, headers, body).await;
    assert_eq!(status, 201, "{text}");
    text
}

async fn get_json(ferry: &TestFerry, token: &str, path: &str) -> Value {
    let (status, text) = call(ferry, token, reqwest::Method::GET, path, &[], "").await;
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn schedules_are_created_read_paused_resumed_and_deleted() {
    let ferry = TestFerry::start().await;
    let destination = "https://example.com/nightly";
    let text = create_schedule(
        &ferry,
        destination,
        &[
            ("Upstash-Cron", "0 3 * * * "),
            ("Upstash-Retries", "2"),
            ("Upstash-Delay", "30s"),
            ("Upstash-Forward-X-Kind", "nightly"),
            ("Content-Type", "text/plain"),
        ],
        "run the report",
    )
    .await;
    let created: Value = serde_json::from_str(&text).unwrap();
    let id = created["scheduleId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("scd_") && id.len() == 36, "{id}");

    let shown = get_json(&ferry, TOKEN, &format!("/v2/schedules/{id}")).await;
    assert_eq!(shown["scheduleId"], id.as_str());
    assert_eq!(shown["cron"], "0 3 * * *");
    assert_eq!(shown["destination"], destination);
    assert_eq!(shown["method"], "POST");
    assert_eq!(shown["retries"], 2);
    assert_eq!(shown["delay"], 30);
    assert_eq!(shown["body"], "run the report");
    assert_eq!(shown["header"]["X-Kind"][0], "nightly");
    assert_eq!(shown["isPaused"], false);
    assert!(shown["nextScheduleTime"].as_u64().unwrap() > shown["createdAt"].as_u64().unwrap());

    // A given id is kept, and creating it again replaces the schedule.
    for cron in ["*/5 * * * *", "*/10 * * * *"] {
        let text = create_schedule(
            &ferry,
            destination,
            &[
                ("Upstash-Cron", cron),
                ("Upstash-Schedule-Id", "my-schedule"),
            ],
            "",
        )
        .await;
        assert_eq!(text, r#"{"scheduleId":"my-schedule"}"#);
    }
    let listed = get_json(&ferry, TOKEN, "/v2/schedules").await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scheduleId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str(), "my-schedule"]);
    assert_eq!(listed[1]["cron"], "*/10 * * * *");
    // The other tenant sees none of them.
    assert_eq!(
        get_json(&ferry, OTHER_TOKEN, "/v2/schedules").await,
        Value::Array(vec![])
    );
    let status = schedule_status(&ferry, OTHER_TOKEN, reqwest::Method::GET, &id).await;
    assert_eq!(status, 404);
    let status = schedule_status(&ferry, OTHER_TOKEN, reqwest::Method::DELETE, &id).await;
    assert_eq!(status, 404);

    // Both SDKs send PATCH; the OpenAPI document says POST.
    for method in [reqwest::Method::PATCH, reqwest::Method::POST] {
        let status = schedule_status(&ferry, TOKEN, method.clone(), &format!("{id}/pause")).await;
        assert_eq!(status, 200);
        let paused = get_json(&ferry, TOKEN, &format!("/v2/schedules/{id}")).await;
        assert_eq!(paused["isPaused"], true);
        assert!(paused.get("nextScheduleTime").is_none(), "{paused}");
        let status = schedule_status(&ferry, TOKEN, method, &format!("{id}/resume")).await;
        assert_eq!(status, 200);
        let resumed = get_json(&ferry, TOKEN, &format!("/v2/schedules/{id}")).await;
        assert_eq!(resumed["isPaused"], false);
        assert!(resumed["nextScheduleTime"].is_u64());
    }

    let status = schedule_status(&ferry, TOKEN, reqwest::Method::DELETE, &id).await;
    assert_eq!(status, 200);
    let status = schedule_status(&ferry, TOKEN, reqwest::Method::DELETE, &id).await;
    assert_eq!(status, 404);
    let status = schedule_status(&ferry, TOKEN, reqwest::Method::GET, &id).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_schedule_shows_its_callbacks_with_their_headers_and_its_caller() {
    let ferry = TestFerry::start().await;
    create_schedule(
        &ferry,
        "https://example.com/nightly",
        &[
            ("Upstash-Cron", "0 3 * * *"),
            ("Upstash-Schedule-Id", "with-callbacks"),
            ("Upstash-Callback", "https://example.com/done"),
            ("Upstash-Callback-Forward-x-trace-id", "t-1"),
            ("Upstash-Callback-Forward-x-trace-id", "t-2"),
            ("Upstash-Failure-Callback", "https://example.com/failed"),
            ("Upstash-Failure-Callback-Forward-X-Alert", "page"),
        ],
        "",
    )
    .await;

    let shown = get_json(&ferry, TOKEN, "/v2/schedules/with-callbacks").await;
    assert_eq!(shown["callback"], "https://example.com/done");
    assert_eq!(
        shown["callbackHeader"],
        serde_json::json!({"X-Trace-Id": ["t-1, t-2"]})
    );
    assert_eq!(shown["failureCallback"], "https://example.com/failed");
    assert_eq!(
        shown["failureCallbackHeader"],
        serde_json::json!({"X-Alert": ["page"]})
    );
    assert_eq!(shown["callerIP"], "127.0.0.1");
    assert_eq!(shown["callerIp"], "127.0.0.1");

    // The SDK reads the same fields back.
    let parsed = ferry.sdk().schedule("with-callbacks").await.unwrap();
    let headers = parsed.callback_header.unwrap();
    assert_eq!(headers["X-Trace-Id"], ["t-1, t-2"]);
    assert_eq!(parsed.failure_callback_header.unwrap()["X-Alert"], ["page"]);
    assert_eq!(parsed.caller_ip.as_deref(), Some("127.0.0.1"));

    // Without callbacks, neither they nor their headers are shown.
    create_schedule(
        &ferry,
        "https://example.com/plain",
        &[
            ("Upstash-Cron", "0 3 * * *"),
            ("Upstash-Schedule-Id", "plain"),
        ],
        "",
    )
    .await;
    let plain = get_json(&ferry, TOKEN, "/v2/schedules/plain").await;
    for key in [
        "callback",
        "callbackHeader",
        "failureCallback",
        "failureCallbackHeader",
    ] {
        assert!(plain.get(key).is_none(), "{key} in {plain}");
    }
}

#[tokio::test]
async fn bad_schedules_are_refused_with_a_reason() {
    let ferry = TestFerry::start().await;
    let create = "/v2/schedules/https://example.com/x";
    let check = |headers: Vec<(&'static str, &'static str)>,
                 status: u16,
                 fragment: &'static str| {
        let ferry = &ferry;
        async move {
            let (got, text) = call(ferry, TOKEN, reqwest::Method::POST, create, &headers, "").await;
            assert_eq!(got, status, "{headers:?}: {text}");
            assert!(
                text.contains(fragment),
                "{headers:?}: {text} lacks {fragment:?}"
            );
        }
    };
    check(vec![], 400, "Invalid cron expression empty spec string").await;
    check(
        vec![("Upstash-Cron", " ")],
        400,
        "Invalid cron expression empty spec string",
    )
    .await;
    // Seconds are a testing aid, off by default.
    check(
        vec![("Upstash-Cron", "* * * * * *")],
        400,
        "Invalid cron expression",
    )
    .await;
    check(vec![("Upstash-Cron", "0 0 31 2 *")], 400, "never fires").await;
    check(
        vec![
            ("Upstash-Cron", "* * * * *"),
            ("Upstash-Schedule-Id", "a b"),
        ],
        400,
        "invalid name",
    )
    .await;
    check(
        vec![("Upstash-Cron", "* * * * *"), ("Upstash-Queue-Name", "a b")],
        400,
        "invalid queue name",
    )
    .await;
    check(
        vec![
            ("Upstash-Cron", "* * * * *"),
            ("Upstash-Queue-Name", "q"),
            ("Upstash-Delay", "10s"),
        ],
        400,
        "not supported on messages to a queue",
    )
    .await;
    // On a plain publish, Upstash-Cron is still refused.
    let (status, text) = call(
        &ferry,
        TOKEN,
        reqwest::Method::POST,
        "/v2/publish/https://example.com/x",
        &[("Upstash-Cron", "* * * * *")],
        "",
    )
    .await;
    assert_eq!(status, 501, "{text}");
    assert!(text.contains("upstash-cron"), "{text}");
}

/// A Ferry that takes six-field cron expressions, so ticks come every
/// second; with `run_deliverer` false, the test starts its own deliverers.
async fn start_with_second_cron(run_deliverer: bool) -> TestFerry {
    TestFerry::start_with(TestOptions {
        run_deliverer,
        gateway: GatewayConfig {
            allow_second_cron: true,
            ..GatewayConfig::default()
        },
        ..TestOptions::default()
    })
    .await
}

/// A deliverer of its own on `store`, stopped through the returned token.
fn start_deliverer(store: &RedisStore) -> (CancellationToken, JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let metrics = ferry_deliver::Metrics::register(&mut Registry::default());
    let task = tokio::spawn({
        let store = store.clone();
        let shutdown = shutdown.clone();
        async move {
            ferry_deliver::run(store, test_deliver_config(), metrics, shutdown)
                .await
                .expect("deliverer runs");
        }
    });
    (shutdown, task)
}

#[tokio::test]
async fn each_tick_is_delivered_once_across_deliverers_and_a_restart() {
    let ferry = start_with_second_cron(false).await;
    let sink = TestSink::start().await;
    // Every tick's message dies on its one attempt, so each stays in the
    // DLQ with the tick it was made for as its creation time.
    sink.respond(Reply::status(500));
    let (first_stop, first) = start_deliverer(&ferry.store);
    let (second_stop, second) = start_deliverer(&ferry.store);

    create_schedule(
        &ferry,
        &sink.url("/tick"),
        &[
            ("Upstash-Cron", "* * * * * *"),
            ("Upstash-Schedule-Id", "every-second"),
            ("Upstash-Retries", "0"),
        ],
        "tick",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    first_stop.cancel();
    first.await.unwrap();
    let (third_stop, third) = start_deliverer(&ferry.store);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = schedule_status(&ferry, TOKEN, reqwest::Method::DELETE, "every-second").await;
    assert_eq!(status, 200);
    // Messages already created may still be on their way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (stop, task) in [(second_stop, second), (third_stop, third)] {
        stop.cancel();
        task.await.unwrap();
    }

    let deliveries = sink.requests();
    assert!(
        deliveries.len() >= 4,
        "only {} deliveries",
        deliveries.len()
    );
    for delivery in &deliveries {
        assert_eq!(delivery.header("upstash-schedule-id"), Some("every-second"));
        assert_eq!(delivery.body.as_ref(), b"tick");
    }
    let dead = ferry
        .sdk()
        .dlq_list(&ferry_sdk::DlqQuery::default())
        .await
        .unwrap()
        .messages;
    assert_eq!(dead.len(), deliveries.len(), "one attempt per message");
    let mut ticks: Vec<u64> = dead.iter().map(|d| d.message.created_at).collect();
    ticks.sort_unstable();
    for pair in ticks.windows(2) {
        assert!(
            pair[1] > pair[0],
            "two messages for the tick at {}: a tick fired twice",
            pair[0]
        );
    }
    assert!(
        ticks.iter().all(|t| t % 1000 == 0),
        "messages are stamped with their whole-second tick: {ticks:?}"
    );
}

#[tokio::test]
async fn ticks_go_through_the_schedules_queue_or_flow_control_key() {
    let ferry = start_with_second_cron(true).await;
    let sink = TestSink::start().await;
    let create =
        |id: &'static str, extra: (&'static str, &'static str), value: Option<&'static str>| {
            let ferry = &ferry;
            let destination = sink.url(&format!("/{id}"));
            async move {
                let mut headers = vec![
                    ("Upstash-Cron", "* * * * * *"),
                    ("Upstash-Schedule-Id", id),
                    extra,
                ];
                headers.extend(value.map(|v| ("Upstash-Flow-Control-Value", v)));
                create_schedule(ferry, &destination, &headers, id).await;
            }
        };
    create("queued", ("Upstash-Queue-Name", "ticks"), None).await;
    create(
        "limited",
        ("Upstash-Flow-Control-Key", "tick-key"),
        Some("parallelism=1, rate=5"),
    )
    .await;
    let queued = get_json(&ferry, TOKEN, "/v2/schedules/queued").await;
    assert_eq!(queued["queueName"], "ticks");
    let limited = get_json(&ferry, TOKEN, "/v2/schedules/limited").await;
    assert_eq!(
        (
            &limited["flowControlKey"],
            &limited["parallelism"],
            &limited["rate"]
        ),
        (&Value::from("tick-key"), &Value::from(1), &Value::from(5))
    );

    let requests = sink.wait_for_requests(4, Duration::from_secs(10)).await;
    for id in ["queued", "limited"] {
        assert!(
            requests
                .iter()
                .any(|r| r.header("upstash-schedule-id") == Some(id)),
            "no tick of {id} arrived"
        );
        let status = schedule_status(&ferry, TOKEN, reqwest::Method::DELETE, id).await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        get_json(&ferry, TOKEN, "/v2/queues/ticks").await["name"],
        "ticks"
    );
    let key = get_json(&ferry, TOKEN, "/v2/flowControl/tick-key").await;
    assert_eq!(key["parallelismMax"], 1);
    let lines = get_json(
        &ferry,
        TOKEN,
        "/v2/events?queueName=ticks&scheduleId=queued",
    )
    .await;
    assert!(
        !lines["events"].as_array().unwrap().is_empty(),
        "the queue's log lines name the schedule"
    );
}

#[tokio::test]
async fn a_schedule_to_a_url_group_fans_each_tick_out_to_its_endpoints() {
    let ferry = start_with_second_cron(true).await;
    let sink = TestSink::start().await;
    let cron = [
        ("Upstash-Cron", "* * * * * *"),
        ("Upstash-Schedule-Id", "fanned"),
    ];
    let path = "/v2/schedules/fans";
    let (status, text) = call(&ferry, TOKEN, reqwest::Method::POST, path, &cron, "").await;
    assert_eq!(status, 404, "the group must exist: {text}");

    let endpoint = |name: Option<&str>, url: String| ferry_core::wire::Endpoint {
        name: name.map(str::to_owned),
        url: Some(url),
    };
    let endpoints = [
        endpoint(Some("one"), sink.url("/one")),
        endpoint(None, sink.url("/two")),
    ];
    ferry.sdk().add_endpoints("fans", &endpoints).await.unwrap();
    create_schedule(&ferry, "fans", &cron, "tick").await;
    assert_eq!(
        get_json(&ferry, TOKEN, "/v2/schedules/fanned").await["destination"],
        "fans"
    );

    let requests = sink.wait_for_requests(2, Duration::from_secs(10)).await;
    let status = schedule_status(&ferry, TOKEN, reqwest::Method::DELETE, "fanned").await;
    assert_eq!(status, 200);
    let mut paths: Vec<&str> = requests[..2].iter().map(|r| r.uri.path()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/one", "/two"], "one tick reaches both endpoints");
    for request in &requests[..2] {
        assert_eq!(request.header("upstash-topic-name"), Some("fans"));
        assert_eq!(request.header("upstash-schedule-id"), Some("fanned"));
        assert_eq!(request.body.as_ref(), b"tick");
    }
}
