use super::*;
use crate::ids::Partition;
use crate::publish::Limits;

fn spec() -> MessageSpec {
    MessageSpec {
        tenant: TenantId::new("t").unwrap(),
        url: "https://example.com/a".into(),
        method: "POST".into(),
        headers: vec![("Content-Type".into(), "text/plain".into())],
        retries: 2,
        retry_delay: None,
        timeout_ms: None,
        callback: None,
        failure_callback: None,
        labels: vec!["l".into()],
        caller_ip: None,
        dedup_id: None,
        created_at: 1,
        not_before: 1,
        body_hash: "h".into(),
        source_message_id: None,
        schedule_id: None,
        queue: None,
        flow_control: None,
        workflow: None,
        topic: None,
        redact: None,
    }
}

#[test]
fn canonical_names_follow_go() {
    for (input, want) in [
        ("x-custom-id", "X-Custom-Id"),
        ("CONTENT-TYPE", "Content-Type"),
        ("a", "A"),
        ("x--y", "X--Y"),
    ] {
        assert_eq!(canonical_header_name(input), want);
    }
}

#[test]
fn retry_delay_uses_the_expression_or_the_default() {
    let mut s = spec();
    assert_eq!(s.retry_delay_after(0), default_backoff(0));
    s.retry_delay = Some(RetryDelayExpr::parse("1000 * (1 + retried)").unwrap());
    assert_eq!(s.retry_delay_after(0), Duration::from_millis(1000));
    assert_eq!(s.retry_delay_after(2), Duration::from_millis(3000));
}

#[test]
fn a_huge_retry_delay_is_capped_like_upstash_delay() {
    let mut s = spec();
    s.retry_delay = Some(RetryDelayExpr::parse("pow(10, 300)").unwrap());
    assert_eq!(s.retry_delay_after(0), MAX_RETRY_DELAY);
    assert_eq!(MAX_RETRY_DELAY, Limits::default().max_delay);
}

#[test]
fn callback_messages_inherit_retries_and_default_to_json() {
    let s = spec();
    let source = MessageId::generate(Partition(0));
    let cb = CallbackSpec {
        url: "https://example.com/cb".into(),
        method: "POST".into(),
        headers: vec![],
        retries: None,
        retry_delay: None,
        timeout_ms: None,
        delay_ms: Some(500),
        workflow: None,
    };
    let m = s.for_callback(&cb, &source, "x".into(), 1000);
    assert_eq!(m.retries, 2);
    assert_eq!(m.url, "https://example.com/cb");
    assert_eq!(m.header("content-type"), Some("application/json"));
    assert_eq!(m.not_before, 1500);
    assert_eq!(m.source_message_id.as_ref(), Some(&source));
}

#[test]
fn spec_round_trips_through_json() {
    let s = spec();
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<MessageSpec>(&json).unwrap(), s);
}
