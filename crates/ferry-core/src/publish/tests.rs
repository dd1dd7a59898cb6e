use super::*;
use http::{HeaderName, HeaderValue};

const NOW: u64 = 1_700_000_000_000;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in pairs {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

fn ok(pairs: &[(&str, &str)]) -> PublishOptions {
    parse(&headers(pairs), &[], &Limits::default(), NOW).unwrap()
}

fn err(pairs: &[(&str, &str)]) -> String {
    parse(&headers(pairs), &[], &Limits::default(), NOW)
        .unwrap_err()
        .to_string()
}

#[test]
fn defaults_are_post_three_retries_now() {
    let o = ok(&[]);
    assert_eq!(o.method, "POST");
    assert_eq!(o.retries, 3);
    assert_eq!(o.not_before_ms, None);
    assert_eq!(o.dedup, Dedup::None);
    assert!(o.headers.is_empty());
}

#[test]
fn forwarded_headers_lose_their_prefix_and_keep_content_type() {
    let o = ok(&[
        ("content-type", "application/json"),
        ("upstash-forward-x-custom", "abc"),
        ("Upstash-Forward-My-Header", "v1"),
        ("upstash-forward-my-header", "v2"),
        ("authorization", "Bearer secret"),
        ("upstash-telemetry-sdk", "js"),
    ]);
    assert_eq!(
        o.headers,
        vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("X-Custom".to_owned(), "abc".to_owned()),
            ("My-Header".to_owned(), "v1, v2".to_owned()),
        ]
    );
}

#[test]
fn the_js_sdk_publish_parses() {
    let o = ok(&[
        ("upstash-callback", "http://127.0.0.1:9999/hook/cb"),
        ("upstash-deduplication-id", "dedup-1"),
        ("upstash-delay", "3s"),
        ("upstash-failure-callback", "http://127.0.0.1:9999/hook/fcb"),
        ("upstash-method", "POST"),
        ("upstash-retries", "2"),
        ("upstash-timeout", "10s"),
    ]);
    assert_eq!(o.not_before_ms, Some(NOW + 3000));
    assert_eq!(o.retries, 2);
    assert_eq!(o.timeout, Some(Duration::from_secs(10)));
    assert_eq!(o.dedup, Dedup::Id("dedup-1".into()));
    assert_eq!(o.callback.unwrap().url, "http://127.0.0.1:9999/hook/cb");
    assert_eq!(
        o.failure_callback.unwrap().url,
        "http://127.0.0.1:9999/hook/fcb"
    );
}

#[test]
fn not_before_overrides_delay() {
    let o = ok(&[
        ("upstash-delay", "1h"),
        ("upstash-not-before", "1700000100"),
    ]);
    assert_eq!(o.not_before_ms, Some(1_700_000_100_000));
}

#[test]
fn content_based_dedup_accepts_both_sdk_spellings() {
    assert_eq!(
        ok(&[(HEADER_CONTENT_DEDUP, "true")]).dedup,
        Dedup::ContentBased
    );
    assert_eq!(
        ok(&[(HEADER_CONTENT_DEDUP, "True")]).dedup,
        Dedup::ContentBased
    );
    assert_eq!(ok(&[(HEADER_CONTENT_DEDUP, "False")]).dedup, Dedup::None);
    assert!(err(&[(HEADER_CONTENT_DEDUP, "yes")]).contains("Content-Based"));
}

#[test]
fn callback_sub_headers_configure_the_callback() {
    let o = ok(&[
        ("upstash-callback", "https://cb.example.com/x"),
        ("upstash-callback-method", "put"),
        ("upstash-callback-retries", "0"),
        ("upstash-callback-forward-x-a", "1"),
        ("upstash-callback-x-b", "2"),
        ("upstash-callback-delay", "5s"),
    ]);
    let cb = o.callback.unwrap();
    assert_eq!(cb.method, "PUT");
    assert_eq!(cb.retries, Some(0));
    assert_eq!(cb.delay_ms, Some(5000));
    assert_eq!(
        cb.headers,
        vec![("X-A".into(), "1".into()), ("X-B".into(), "2".into())]
    );
}

#[test]
fn labels_split_on_commas() {
    assert_eq!(ok(&[(HEADER_LABEL, "a, b,,c")]).labels, ["a", "b", "c"]);
}

#[test]
fn webhook_query_parameters_configure_like_headers() {
    let o = parse(
        &HeaderMap::new(),
        &[("upstash-retries".into(), "5".into())],
        &Limits::default(),
        NOW,
    )
    .unwrap();
    assert_eq!(o.retries, 5);
}

#[test]
fn bad_values_name_the_header() {
    for (pairs, needle) in [
        (vec![(HEADER_METHOD, "FETCH")], "Upstash-Method"),
        (vec![(HEADER_RETRIES, "-1")], "Upstash-Retries"),
        (vec![(HEADER_RETRIES, "21")], "maximum of 20"),
        (vec![(HEADER_DELAY, "10x")], "Upstash-Delay"),
        (vec![(HEADER_DELAY, "400d")], "maximum"),
        (vec![(HEADER_NOT_BEFORE, "soon")], "Upstash-Not-Before"),
        (vec![(HEADER_TIMEOUT, "0s")], "greater than zero"),
        (vec![(HEADER_TIMEOUT, "2h1s")], "maximum of 7200s"),
        (vec![(HEADER_RETRY_DELAY, "foo(1)")], "Upstash-Retry-Delay"),
        (vec![(HEADER_CALLBACK, "ftp://x")], "Upstash-Callback"),
        (vec![(HEADER_DEDUP_ID, "")], "Deduplication-Id"),
    ] {
        let message = err(&pairs);
        assert!(message.contains(needle), "{pairs:?}: {message}");
    }
}

/// What the Workflow SDKs send when they pass a request's headers on.
#[test]
fn headers_that_must_not_be_forwarded_are_dropped_and_named() {
    let o = ok(&[
        ("upstash-forward-host", "app.example"),
        ("upstash-forward-connection", "keep-alive"),
        ("upstash-forward-content-length", "17"),
        ("upstash-forward-transfer-encoding", "chunked"),
        ("upstash-forward-user-agent", "node"),
        ("upstash-forward-accept-encoding", "gzip"),
        ("upstash-forward-proxy-authorization", "Basic x"),
        ("upstash-forward-upstash-signature", "eyJ.forged"),
        ("upstash-forward-upstash-message-id", "msg_other"),
        ("upstash-forward-upstash-retried", "2"),
        ("upstash-forward-upstash-topic-name", "forged-group"),
        ("upstash-forward-upstash-caller-ip", "10.0.0.1"),
        ("upstash-forward-upstash-schedule-id", "scd_forged"),
        ("upstash-callback-forward-host", "app.example"),
        ("upstash-forward-x-kept", "yes"),
        ("upstash-forward-upstash-workflow-sdk-version", "1"),
        ("upstash-callback", "https://cb.example/"),
        ("upstash-callback-forward-x-kept", "too"),
        // Sent back by an application that passes a scheduled delivery's
        // headers on; ignored, not refused.
        ("upstash-schedule-id", "scd_1"),
    ]);
    assert_eq!(
        o.headers,
        vec![
            ("X-Kept".to_owned(), "yes".to_owned()),
            ("Upstash-Workflow-Sdk-Version".to_owned(), "1".to_owned()),
        ]
    );
    assert_eq!(
        o.callback.unwrap().headers,
        vec![("X-Kept".to_owned(), "too".to_owned())]
    );
    assert_eq!(
        o.dropped_headers,
        [
            "Host",
            "Connection",
            "Content-Length",
            "Transfer-Encoding",
            "User-Agent",
            "Accept-Encoding",
            "Proxy-Authorization",
            "Upstash-Signature",
            "Upstash-Message-Id",
            "Upstash-Retried",
            "Upstash-Topic-Name",
            "Upstash-Caller-Ip",
            "Upstash-Schedule-Id",
            "Host",
        ]
    );
}

#[test]
fn utf8_values_are_forwarded_as_sent_and_others_dropped() {
    let mut map = headers(&[("upstash-forward-x-utf8", "grüße ✓")]);
    map.append(
        HeaderName::from_static("upstash-forward-x-latin1"),
        HeaderValue::from_bytes(b"gr\xfc\xdfe").unwrap(),
    );
    map.append(
        HeaderName::from_static("x-unrelated"),
        HeaderValue::from_bytes(b"\xff").unwrap(),
    );
    let o = parse(&map, &[], &Limits::default(), NOW).unwrap();
    assert_eq!(o.headers, vec![("X-Utf8".to_owned(), "grüße ✓".to_owned())]);
    assert_eq!(o.dropped_headers, ["Upstash-Forward-X-Latin1"]);

    let mut config = HeaderMap::new();
    config.append(
        HeaderName::from_static("upstash-callback-retries"),
        HeaderValue::from_bytes(b"\xff").unwrap(),
    );
    let e = parse(&config, &[], &Limits::default(), NOW).unwrap_err();
    assert!(e.to_string().contains("upstash-callback-retries"), "{e}");
}

#[test]
fn too_many_forwarded_headers_are_rejected() {
    let names: Vec<String> = (0..65).map(|i| format!("upstash-forward-h{i}")).collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    assert!(err(&pairs).contains("too many forwarded headers"));
}

#[test]
fn features_not_built_yet_are_refused_not_ignored() {
    for header in ["Upstash-Queue-Name", "upstash-cron"] {
        let e = parse(&headers(&[(header, "x")]), &[], &Limits::default(), NOW).unwrap_err();
        assert!(matches!(e, PublishError::Unsupported(_)), "{header}: {e:?}");
        assert!(e.to_string().contains("not supported"), "{e}");
    }
}

#[test]
fn flow_control_headers_are_parsed_together() {
    let o = ok(&[
        (HEADER_FLOW_KEY, "api.example.com"),
        (HEADER_FLOW_VALUE, "parallelism=2, rate=5, period=10s"),
    ]);
    let flow = o.flow_control.unwrap();
    assert_eq!(flow.key, "api.example.com");
    assert_eq!(
        (flow.parallelism, flow.rate, flow.period_ms),
        (Some(2), Some(5), 10_000)
    );
    assert!(err(&[(HEADER_FLOW_KEY, "k")]).contains("needs Upstash-Flow-Control-Value"));
    assert_eq!(ok(&[]).flow_control, None);
}

#[test]
fn redact_fields_name_the_body_all_headers_or_one() {
    let o = ok(&[(HEADER_REDACT, "body, header[x-secret]")]);
    let redact = o.redact.unwrap();
    assert!(redact.body);
    assert!(redact.hides_header("X-Secret"));
    assert!(!redact.hides_header("X-Other"));
    assert!(
        ok(&[(HEADER_REDACT, "headers")])
            .redact
            .unwrap()
            .hides_header("Anything")
    );
    assert!(err(&[(HEADER_REDACT, "footer")]).contains("Upstash-Redact-Fields"));
    assert!(err(&[(HEADER_REDACT, "header[]")]).contains("Upstash-Redact-Fields"));
    assert!(ok(&[]).redact.is_none());
}

#[test]
fn webhook_mode_forwards_every_header_but_credentials_and_framing() {
    let o = ok(&[
        (HEADER_FORWARD_ALL, "True"),
        ("x-webhook-signature", "abc"),
        ("authorization", "Bearer ferry-token"),
        ("host", "relay.example.com"),
        ("user-agent", "Stripe/1.0"),
        ("content-type", "application/json"),
    ]);
    assert_eq!(
        o.headers,
        vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("X-Webhook-Signature".to_owned(), "abc".to_owned()),
        ]
    );
    let plain = ok(&[("x-webhook-signature", "abc")]);
    assert!(
        plain.headers.is_empty(),
        "without the switch nothing extra is forwarded"
    );
    assert!(err(&[(HEADER_FORWARD_ALL, "maybe")]).contains("Upstash-Header-Forward"));
}

#[test]
fn workflow_invoke_marks_an_envelope() {
    let invoke = |value: &str| {
        ok(&[
            ("upstash-workflow-runid", "wfr_child"),
            ("upstash-workflow-init", "true"),
            ("upstash-workflow-invoke", value),
        ])
        .workflow
        .map(|w| w.invoke)
    };
    assert_eq!(invoke("true"), Some(true));
    assert_eq!(invoke("false"), Some(false));
    assert!(
        err(&[
            ("upstash-workflow-runid", "wfr_child"),
            ("upstash-workflow-invoke", "yes"),
        ])
        .contains("Upstash-Workflow-Invoke")
    );
}

#[test]
fn workflow_headers_configure_the_run_and_its_callbacks() {
    let o = ok(&[
        ("upstash-workflow-runid", "wfr_abc"),
        ("upstash-workflow-init", "false"),
        ("upstash-workflow-url", "https://app.example.com/wf"),
        ("upstash-workflow-calltype", "toCallback"),
        ("upstash-workflow-sdk-version", "1"),
        ("upstash-feature-set", "WF_NoDelete,InitialBody"),
        ("upstash-retries", "0"),
        ("upstash-callback", "https://app.example.com/wf"),
        ("upstash-callback-workflow-runid", "wfr_abc"),
        ("upstash-callback-workflow-calltype", "fromCallback"),
        ("upstash-callback-workflow-init", "false"),
        ("upstash-callback-feature-set", "LazyFetch"),
        ("upstash-callback-forward-upstash-workflow-callback", "true"),
        ("upstash-failure-callback", "https://app.example.com/wf"),
        ("upstash-failure-callback-workflow-runid", "wfr_abc"),
        ("upstash-failure-callback-workflow-calltype", "failureCall"),
        (
            "upstash-failure-callback-forward-upstash-workflow-is-failure",
            "true",
        ),
    ]);
    assert_eq!(
        o.workflow,
        Some(WorkflowHeaders {
            run_id: "wfr_abc".into(),
            init: false,
            url: Some("https://app.example.com/wf".into()),
            call_type: CallType::ToCallback,
            retries_set: true,
            invoke: false,
        })
    );
    assert!(
        o.headers.is_empty(),
        "nothing of it is forwarded: {:?}",
        o.headers
    );
    let callback = o.callback.unwrap();
    assert_eq!(
        callback.workflow.map(|w| (w.run_id, w.call_type)),
        Some(("wfr_abc".into(), CallType::FromCallback))
    );
    assert_eq!(
        callback.headers,
        [("Upstash-Workflow-Callback".to_owned(), "true".to_owned())]
    );
    let failure = o.failure_callback.unwrap();
    assert_eq!(
        failure.workflow.map(|w| w.call_type),
        Some(CallType::FailureCall)
    );
    assert!(
        err(&[("upstash-workflow-runid", "a/b")]).contains("Upstash-Workflow-RunId"),
        "run ids go into URL paths unencoded"
    );
    assert!(ok(&[]).workflow.is_none());
}
