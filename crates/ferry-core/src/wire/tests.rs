//! Round trips of the wire types, and the keys the official SDKs rely on.

use serde_json::{Value, json};

use super::*;

fn sample_message() -> Message {
    Message {
        message_id: "msg_1".to_owned(),
        url: "https://example.com/hook".to_owned(),
        topic_name: None,
        endpoint_name: None,
        api: None,
        queue_name: Some("orders".to_owned()),
        method: "POST".to_owned(),
        header: Some(HeaderMap::from([(
            "Content-Type".to_owned(),
            vec!["application/json".to_owned()],
        )])),
        body: Some("{\"a\":1}".to_owned()),
        body_base64: None,
        max_retries: 3,
        retry_delay_expression: None,
        not_before: 1_700_000_000_000,
        created_at: 1_700_000_000_000,
        callback: None,
        failure_callback: None,
        callback_header: None,
        failure_callback_header: None,
        schedule_id: None,
        caller_ip: Some("203.0.113.7".to_owned()),
        flow_control_key: None,
        parallelism: None,
        rate: None,
        period: None,
        labels: vec!["billing".to_owned(), "eu".to_owned()],
    }
}

fn sample_dlq_message() -> DlqMessage {
    DlqMessage {
        message: sample_message(),
        dlq_id: "1725323658779-0".to_owned(),
        response_status: 500,
        response_header: None,
        response_body: Some("boom".to_owned()),
        response_body_base64: None,
    }
}

/// Serialises `value`, checks the JSON equals `expected`, and checks that
/// parsing it back gives `value` again.
fn check_round_trip<T>(value: &T, expected: Value)
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_value(value).unwrap();
    assert_eq!(json, expected);
    let parsed: T = serde_json::from_value(json).unwrap();
    assert_eq!(&parsed, value);
}

fn object_keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn publish_response_omits_unset_fields() {
    check_round_trip(
        &PublishResponse {
            message_id: "msg_1".to_owned(),
            url: None,
            deduplicated: None,
        },
        json!({"messageId": "msg_1"}),
    );
    check_round_trip(
        &PublishResponse {
            message_id: "msg_2".to_owned(),
            url: Some("https://a.example/".to_owned()),
            deduplicated: Some(true),
        },
        json!({"messageId": "msg_2", "url": "https://a.example/", "deduplicated": true}),
    );
}

#[test]
fn message_round_trips_with_both_caller_ip_spellings_and_label_forms() {
    check_round_trip(
        &sample_message(),
        json!({
            "messageId": "msg_1",
            "url": "https://example.com/hook",
            "queueName": "orders",
            "method": "POST",
            "header": {"Content-Type": ["application/json"]},
            "body": "{\"a\":1}",
            "maxRetries": 3,
            "notBefore": 1_700_000_000_000_u64,
            "createdAt": 1_700_000_000_000_u64,
            "callerIP": "203.0.113.7",
            "callerIp": "203.0.113.7",
            "label": "billing",
            "labels": ["billing", "eu"],
        }),
    );
}

#[test]
fn message_without_optional_fields_keeps_only_the_required_keys() {
    let message = Message {
        queue_name: None,
        header: None,
        body: None,
        caller_ip: None,
        labels: Vec::new(),
        ..sample_message()
    };
    let json = serde_json::to_value(&message).unwrap();
    assert_eq!(
        object_keys(&json),
        [
            "createdAt",
            "maxRetries",
            "messageId",
            "method",
            "notBefore",
            "url"
        ]
    );
}

#[test]
fn dlq_message_carries_message_keys_and_response_status() {
    let json = serde_json::to_value(sample_dlq_message()).unwrap();
    for key in [
        "messageId",
        "url",
        "method",
        "maxRetries",
        "notBefore",
        "createdAt",
        "dlqId",
        "responseStatus",
        "responseBody",
        "callerIP",
        "labels",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    let parsed: DlqMessage = serde_json::from_value(json).unwrap();
    assert_eq!(parsed, sample_dlq_message());
}

#[test]
fn parsing_fails_when_a_key_the_python_sdk_needs_is_missing() {
    let full = serde_json::to_value(sample_dlq_message()).unwrap();
    for key in [
        "messageId",
        "url",
        "method",
        "maxRetries",
        "notBefore",
        "createdAt",
        "dlqId",
        "responseStatus",
    ] {
        let mut json = full.clone();
        json.as_object_mut().unwrap().remove(key);
        let parsed = serde_json::from_value::<DlqMessage>(json);
        assert!(parsed.is_err(), "parsed without {key}");
    }
}

#[test]
fn message_accepts_either_caller_ip_spelling_and_a_lone_label() {
    let check = |extra: Value, caller_ip: Option<&str>, labels: &[&str]| {
        let mut json = json!({
            "messageId": "m", "url": "https://x.example/", "method": "GET",
            "maxRetries": 0, "notBefore": 1, "createdAt": 1,
            "someFutureField": {"ignored": true},
        });
        json.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let message: Message = serde_json::from_value(json).unwrap();
        assert_eq!(message.caller_ip.as_deref(), caller_ip);
        assert_eq!(message.labels, labels);
    };
    check(json!({}), None, &[]);
    check(json!({"callerIp": "10.0.0.1"}), Some("10.0.0.1"), &[]);
    check(json!({"callerIP": "10.0.0.2"}), Some("10.0.0.2"), &[]);
    check(json!({"label": "a"}), None, &["a"]);
    check(
        json!({"label": "a", "labels": ["a", "b"]}),
        None,
        &["a", "b"],
    );
    check(json!({"label": null, "labels": null}), None, &[]);
}

#[test]
fn lists_always_carry_their_collection_key_and_omit_the_final_cursor() {
    check_round_trip(
        &DlqList {
            messages: Vec::new(),
            cursor: None,
        },
        json!({"messages": []}),
    );
    check_round_trip(
        &Deleted {
            deleted: 2,
            cursor: Some("17-0".to_owned()),
        },
        json!({"deleted": 2, "cursor": "17-0"}),
    );
    check_round_trip(&Cancelled { cancelled: 1 }, json!({"cancelled": 1}));
    check_round_trip(
        &DlqRetryResponse {
            responses: vec![PublishResponse {
                message_id: "msg_9".to_owned(),
                url: None,
                deduplicated: None,
            }],
            cursor: None,
        },
        json!({"responses": [{"messageId": "msg_9"}]}),
    );
}

#[test]
fn an_empty_cursor_means_the_end() {
    let retry: DlqRetryResponse =
        serde_json::from_value(json!({"responses": [], "cursor": ""})).unwrap();
    assert_eq!(retry.cursor, None);
    let list: DlqList = serde_json::from_value(json!({"messages": [], "cursor": ""})).unwrap();
    assert_eq!(list.cursor, None);
    let deleted: Deleted = serde_json::from_value(json!({"deleted": 0, "cursor": null})).unwrap();
    assert_eq!(deleted.cursor, None);
}

#[test]
fn small_bodies_use_their_documented_keys() {
    check_round_trip(
        &SigningKeys {
            current: "sig_a".to_owned(),
            next: "sig_b".to_owned(),
        },
        json!({"current": "sig_a", "next": "sig_b"}),
    );
    check_round_trip(
        &ErrorBody {
            error: "not found".to_owned(),
        },
        json!({"error": "not found"}),
    );
    check_round_trip(
        &DlqIds {
            dlq_ids: vec!["1-0".to_owned(), "2-0".to_owned()],
        },
        json!({"dlqIds": ["1-0", "2-0"]}),
    );
    let empty: DlqIds = serde_json::from_value(json!({})).unwrap();
    assert!(empty.dlq_ids.is_empty());
}

#[test]
fn signing_keys_debug_hides_the_keys() {
    let keys = SigningKeys {
        current: "sig_secret_current".to_owned(),
        next: "sig_secret_next".to_owned(),
    };
    let debug = format!("{keys:?}");
    assert!(!debug.contains("secret"), "{debug}");
}

#[test]
fn body_fields_splits_utf8_from_binary() {
    let check = |bytes: &[u8], body: Option<&str>, body_base64: Option<&str>| {
        let (actual_body, actual_base64) = body_fields(bytes);
        assert_eq!(actual_body.as_deref(), body, "body of {bytes:?}");
        assert_eq!(actual_base64.as_deref(), body_base64, "base64 of {bytes:?}");
    };
    check(b"hello", Some("hello"), None);
    check(b"", Some(""), None);
    check("grüße".as_bytes(), Some("grüße"), None);
    check(&[0xff, 0xfe, 0x00], None, Some("//4A"));
    check(&[0xfb, 0xff], None, Some("+/8="));
}
