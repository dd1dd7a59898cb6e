//! The dead-letter queue over HTTP (spec §3.1, §3.5, §9.2): listing with
//! filters and cursors, reading, deleting and retrying dead letters one at a
//! time and in bulk, and keeping each tenant's dead letters to itself.
//!
//! Dead letters are made the way production makes them: a sink answers 500
//! to messages published with `retries: 0`, so each dies after one attempt.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_core::wire::{DlqList, DlqMessage};
use ferry_sdk::{DlqOrder, DlqQuery, PublishOptions};
use ferry_tests::ferry::{OTHER_TOKEN, TOKEN, TestFerry};
use ferry_tests::sink::{Reply, TestSink};
use serde_json::{Value, json};

use crate::bad_input::assert_error;

/// How long a test waits for Ferry to reach an expected state.
pub(crate) const WAIT: Duration = Duration::from_secs(15);
/// Pause between two looks at the dead-letter queue while waiting.
const POLL: Duration = Duration::from_millis(25);
const FAILURE_STATUS: u16 = 500;
const FAILURE_BODY: &str = "sink says no: disk full";
const FAILURE_HEADER: &str = "X-Sink-Reason";
const FAILURE_HEADER_VALUE: &str = "disk-full";

/// Waits until message `message_id` is a dead letter of tenant A and returns
/// it. Panics after [`WAIT`].
pub(crate) async fn wait_for_dead_letter(ferry: &TestFerry, message_id: &str) -> DlqMessage {
    let query = DlqQuery {
        filters: vec![("messageId".into(), message_id.into())],
        ..DlqQuery::default()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let page = ferry.sdk().dlq_list(&query).await.unwrap();
        if let Some(dead) = page.messages.into_iter().next() {
            return dead;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{message_id} was not dead-lettered within {WAIT:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Every dead letter of the tenant holding `token`, in one page of the
/// maximum size (the tests never make more than that).
pub(crate) async fn dead_letters(ferry: &TestFerry, token: &str) -> Vec<DlqMessage> {
    let page = ferry
        .sdk_for(token)
        .dlq_list(&DlqQuery::default())
        .await
        .unwrap();
    assert_eq!(page.cursor, None, "a single page holds every dead letter");
    page.messages
}

/// A Ferry whose sink fails every delivery, with dead letters made one
/// after another.
struct Graveyard {
    ferry: TestFerry,
    sink: TestSink,
    /// The dead letters in the order they died, which is publish order.
    dead: Vec<DlqMessage>,
    /// Unix ms just before the first publish.
    started_ms: u64,
}

impl Graveyard {
    /// Publishes `n` messages (path, body and label depend on the index)
    /// and waits for each to die before publishing the next.
    async fn dig(n: usize) -> Graveyard {
        let ferry = TestFerry::start().await;
        let sink = TestSink::start().await;
        sink.respond(failing_reply());
        let started_ms = now_ms();
        let mut dead = Vec::with_capacity(n);
        for i in 0..n {
            let opts = PublishOptions {
                retries: Some(0),
                labels: vec![label_of(i).to_owned()],
                ..PublishOptions::default()
            };
            let published = ferry
                .sdk()
                .publish(&sink.url(&path_of(i)), body_of(i), &opts)
                .await
                .unwrap();
            dead.push(wait_for_dead_letter(&ferry, &published.message_id).await);
            // Dead letters are ordered by the millisecond they died in, ties
            // broken by partition. Letting that millisecond pass makes the
            // order of death equal the publish order whatever the partition.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Graveyard {
            ferry,
            sink,
            dead,
            started_ms,
        }
    }

    fn message_ids(&self) -> Vec<String> {
        self.dead
            .iter()
            .map(|dead| dead.message.message_id.clone())
            .collect()
    }

    fn dlq_ids(&self) -> Vec<String> {
        self.dead.iter().map(|dead| dead.dlq_id.clone()).collect()
    }

    /// A raw API request as tenant `token`, for statuses and body forms the
    /// SDK hides.
    fn api(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.ferry
            .http()
            .request(method, self.ferry.url(path))
            .bearer_auth(token)
    }
}

fn failing_reply() -> Reply {
    Reply::status(FAILURE_STATUS)
        .header(FAILURE_HEADER, FAILURE_HEADER_VALUE)
        .body(FAILURE_BODY)
}

fn path_of(i: usize) -> String {
    format!("/dead/{i}")
}

fn body_of(i: usize) -> String {
    format!("body of dead letter {i}")
}

fn label_of(i: usize) -> &'static str {
    if i.is_multiple_of(2) { "even" } else { "odd" }
}

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since_epoch.as_millis()).unwrap()
}

fn ids_of(messages: &[DlqMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|dead| dead.message.message_id.clone())
        .collect()
}

/// The status and JSON body of a response.
async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("status {status}: {text:?} is not JSON: {error}"));
    (status, body)
}

#[tokio::test]
async fn a_dead_letter_carries_the_message_and_the_last_response() {
    let yard = Graveyard::dig(3).await;
    let listed = dead_letters(&yard.ferry, TOKEN).await;
    assert_eq!(ids_of(&listed), yard.message_ids());
    for (i, dead) in listed.iter().enumerate() {
        assert!(dead.dlq_id.starts_with("dlq_"), "{}", dead.dlq_id);
        assert!(dead.message.message_id.starts_with("msg_"));
        assert_eq!(dead.message.url, yard.sink.url(&path_of(i)));
        assert_eq!(dead.message.body.as_deref(), Some(body_of(i).as_str()));
        assert_eq!(dead.message.labels, [label_of(i)]);
        assert_eq!(dead.message.max_retries, 0);
        assert!(
            (yard.started_ms..=now_ms()).contains(&dead.message.created_at),
            "createdAt {} is not between the test's start and now",
            dead.message.created_at
        );
        assert_eq!(dead.response_status, FAILURE_STATUS);
        assert_eq!(dead.response_body.as_deref(), Some(FAILURE_BODY));
        let headers = dead.response_header.as_ref().expect("responseHeader");
        assert_eq!(headers[FAILURE_HEADER], [FAILURE_HEADER_VALUE]);
    }
    assert_eq!(yard.sink.n_requests(), 3, "one attempt per message");

    // The keys the SDKs read must be on the wire, not just parse as defaults.
    let response = yard
        .api(reqwest::Method::GET, "/v2/dlq", TOKEN)
        .send()
        .await
        .unwrap();
    let (status, raw) = json_of(response).await;
    assert_eq!(status, 200);
    let keys = [
        "dlqId",
        "messageId",
        "url",
        "responseStatus",
        "responseBody",
        "responseHeader",
        "maxRetries",
        "createdAt",
    ];
    for message in raw["messages"].as_array().expect("a messages array") {
        for key in keys {
            assert!(message.get(key).is_some(), "{key} missing from {message}");
        }
    }
}

/// Lists every page of size `count` in `order`, following cursors.
async fn page_through(ferry: &TestFerry, order: DlqOrder, count: u32) -> Vec<DlqList> {
    const MAX_PAGES: usize = 20;
    let mut pages: Vec<DlqList> = Vec::new();
    let mut cursor = None;
    loop {
        let query = DlqQuery {
            cursor,
            count: Some(count),
            order: Some(order),
            filters: Vec::new(),
        };
        let page = ferry.sdk().dlq_list(&query).await.unwrap();
        cursor = page.cursor.clone();
        pages.push(page);
        if cursor.is_none() {
            return pages;
        }
        assert!(pages.len() < MAX_PAGES, "the cursor never ends: {pages:?}");
    }
}

#[tokio::test]
async fn pages_of_two_visit_every_dead_letter_once_in_either_order() {
    let yard = Graveyard::dig(5).await;
    let earliest_first = yard.message_ids();
    let latest_first: Vec<String> = earliest_first.iter().rev().cloned().collect();
    for (order, expected) in [
        (DlqOrder::EarliestFirst, earliest_first),
        (DlqOrder::LatestFirst, latest_first),
    ] {
        let pages = page_through(&yard.ferry, order, 2).await;
        let sizes: Vec<usize> = pages.iter().map(|page| page.messages.len()).collect();
        assert_eq!(sizes, [2, 2, 1], "{order:?}");
        let seen: Vec<String> = pages
            .iter()
            .flat_map(|page| ids_of(&page.messages))
            .collect();
        assert_eq!(seen, expected, "{order:?}");
    }
}

#[tokio::test]
async fn filters_select_by_status_label_and_url() {
    let yard = Graveyard::dig(4).await;
    // One more dead letter with another status, so the status filter has
    // something to tell apart.
    yard.sink.respond_next(1, Reply::status(503));
    let opts = PublishOptions {
        retries: Some(0),
        ..PublishOptions::default()
    };
    let other_status = yard
        .ferry
        .sdk()
        .publish(&yard.sink.url("/unavailable"), "503", &opts)
        .await
        .unwrap()
        .message_id;
    wait_for_dead_letter(&yard.ferry, &other_status).await;

    let ids = yard.message_ids();
    let url_of_1 = yard.sink.url(&path_of(1));
    let check = async |filters: &[(&str, &str)], expected: Vec<&String>| {
        let query = DlqQuery {
            filters: filters
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            ..DlqQuery::default()
        };
        let page = yard.ferry.sdk().dlq_list(&query).await.unwrap();
        let found = ids_of(&page.messages);
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(found, expected, "filters {filters:?}");
    };
    check(&[("responseStatus", "500")], ids.iter().collect()).await;
    check(&[("responseStatus", "503")], vec![&other_status]).await;
    check(&[("responseStatus", "404")], vec![]).await;
    check(&[("label", "even")], vec![&ids[0], &ids[2]]).await;
    check(&[("label", "odd")], vec![&ids[1], &ids[3]]).await;
    check(&[("label", "none-such")], vec![]).await;
    check(&[("url", url_of_1.as_str())], vec![&ids[1]]).await;
    check(&[("url", yard.sink.url("/elsewhere").as_str())], vec![]).await;
    // Values of one key are alternatives; different keys must all match.
    check(&[("label", "even"), ("label", "odd")], ids.iter().collect()).await;
    check(
        &[("label", "odd"), ("url", url_of_1.as_str())],
        vec![&ids[1]],
    )
    .await;
    check(&[("label", "even"), ("url", url_of_1.as_str())], vec![]).await;
}

#[tokio::test]
async fn an_unknown_filter_is_a_400_naming_it_and_deletes_nothing() {
    let yard = Graveyard::dig(2).await;
    let list = yard.api(reqwest::Method::GET, "/v2/dlq?labeel=x", TOKEN);
    assert_error(list.send().await.unwrap(), 400, "labeel").await;
    // A typo in a bulk delete must not widen it to "everything".
    let delete = yard.api(reqwest::Method::DELETE, "/v2/dlq?labeel=x", TOKEN);
    assert_error(delete.send().await.unwrap(), 400, "labeel").await;
    assert_eq!(
        ids_of(&dead_letters(&yard.ferry, TOKEN).await),
        yard.message_ids()
    );
}

#[tokio::test]
async fn one_dead_letter_can_be_read_and_deleted() {
    let yard = Graveyard::dig(2).await;
    let target = &yard.dead[0];
    let path = format!("/v2/dlq/{}", target.dlq_id);

    assert_eq!(
        &yard.ferry.sdk().dlq_get(&target.dlq_id).await.unwrap(),
        target
    );

    let deleted = yard
        .api(reqwest::Method::DELETE, &path, TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    let read_again = yard.api(reqwest::Method::GET, &path, TOKEN);
    assert_error(read_again.send().await.unwrap(), 404, &target.dlq_id).await;
    let delete_again = yard.api(reqwest::Method::DELETE, &path, TOKEN);
    assert_error(delete_again.send().await.unwrap(), 404, &target.dlq_id).await;
    let malformed = yard.api(reqwest::Method::GET, "/v2/dlq/not-an-id", TOKEN);
    assert_error(malformed.send().await.unwrap(), 404, "not-an-id").await;

    assert_eq!(
        dead_letters(&yard.ferry, TOKEN).await,
        [yard.dead[1].clone()]
    );
}

#[tokio::test]
async fn bulk_delete_takes_ids_from_the_query_or_a_json_body() {
    let yard = Graveyard::dig(5).await;
    let ids = yard.dlq_ids();
    let delete_with = async |query: &str, body: Option<Value>| {
        let mut request = yard.api(reqwest::Method::DELETE, &format!("/v2/dlq{query}"), TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, answer) = json_of(request.send().await.unwrap()).await;
        assert_eq!(status, 200, "{answer}");
        answer["deleted"].as_u64().expect("a deleted count")
    };

    let query = format!("?dlqIds={}&dlqIds={}", ids[0], ids[1]);
    assert_eq!(delete_with(&query, None).await, 2);
    assert_eq!(delete_with(&query, None).await, 0, "already gone");
    assert_eq!(
        delete_with("", Some(json!({"dlqIds": [ids[2], ids[3]]}))).await,
        2
    );
    assert_eq!(delete_with("", Some(json!({"dlqIds": []}))).await, 0);
    // Naming nothing at all is an error, never "delete everything".
    let unnamed = yard.api(reqwest::Method::DELETE, "/v2/dlq", TOKEN);
    assert_error(unnamed.send().await.unwrap(), 400, "dlqIds").await;

    assert_eq!(
        dead_letters(&yard.ferry, TOKEN).await,
        [yard.dead[4].clone()]
    );
}

#[tokio::test]
async fn bulk_retry_redelivers_the_original_bodies_under_new_ids() {
    let yard = Graveyard::dig(4).await;
    yard.sink.respond(Reply::default());
    let ids = yard.dlq_ids();

    let empty = yard
        .api(reqwest::Method::POST, "/v2/dlq/retry", TOKEN)
        .json(&json!({"dlqIds": []}))
        .send()
        .await
        .unwrap();
    let (status, empty) = json_of(empty).await;
    assert_eq!((status, &empty["responses"]), (201, &json!([])), "{empty}");
    assert_eq!(
        dead_letters(&yard.ferry, TOKEN).await,
        yard.dead,
        "an empty list retries nothing"
    );

    let by_query = yard.ferry.sdk().dlq_retry(&ids[..2]).await.unwrap();
    let by_body = yard
        .api(reqwest::Method::POST, "/v2/dlq/retry", TOKEN)
        .json(&json!({"dlqIds": ids[2..]}))
        .send()
        .await
        .unwrap();
    let (status, by_body) = json_of(by_body).await;
    assert_eq!(status, 201, "{by_body}");
    let mut new_ids: Vec<String> = by_query
        .responses
        .iter()
        .map(|response| response.message_id.clone())
        .collect();
    for response in by_body["responses"].as_array().expect("a responses array") {
        new_ids.push(
            response["messageId"]
                .as_str()
                .expect("a messageId")
                .to_owned(),
        );
    }
    assert_eq!(new_ids.len(), 4, "{new_ids:?}");
    let originals: HashSet<String> = yard.message_ids().into_iter().collect();
    assert!(
        new_ids
            .iter()
            .all(|id| id.starts_with("msg_") && !originals.contains(id)),
        "{new_ids:?}"
    );
    assert!(
        dead_letters(&yard.ferry, TOKEN).await.is_empty(),
        "retried dead letters leave the DLQ"
    );

    // Each retry carries its dead letter's body to its dead letter's path.
    let first_attempts = yard.dead.len();
    let requests = yard.sink.wait_for_requests(first_attempts + 4, WAIT).await;
    let delivered: HashMap<&str, (String, String)> = requests[first_attempts..]
        .iter()
        .map(|request| {
            let body = String::from_utf8(request.body.to_vec()).unwrap();
            (request.message_id(), (request.uri.path().to_owned(), body))
        })
        .collect();
    for (i, new_id) in new_ids.iter().enumerate() {
        assert_eq!(
            delivered.get(new_id.as_str()),
            Some(&(path_of(i), body_of(i))),
            "retry of dead letter {i}"
        );
    }
    assert!(dead_letters(&yard.ferry, TOKEN).await.is_empty());
}

#[tokio::test]
async fn a_single_retry_takes_publish_headers_as_overrides() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    // A non-retryable failure dead-letters at once despite the retry budget.
    sink.respond(Reply::status(489).header("Upstash-NonRetryable-Error", "true"));
    let opts = PublishOptions {
        retries: Some(5),
        ..PublishOptions::default()
    };
    let url = sink.url("/once");
    let id = ferry
        .sdk()
        .publish(&url, "retry me", &opts)
        .await
        .unwrap()
        .message_id;
    let dead = wait_for_dead_letter(&ferry, &id).await;
    assert_eq!(dead.message.max_retries, 5);

    let retry_path = format!("/v2/dlq/retry/{}", dead.dlq_id);
    let retry = || {
        ferry
            .http()
            .post(ferry.url(&retry_path))
            .bearer_auth(TOKEN)
            .header("Upstash-Retries", "0")
            .header("Upstash-Delay", "1h")
    };
    let another_key = retry()
        .header("Upstash-Flow-Control-Key", "another")
        .header("Upstash-Flow-Control-Value", "rate=1");
    assert_error(
        another_key.send().await.unwrap(),
        400,
        "keeps its flow-control key",
    )
    .await;
    let (status, answer) = json_of(retry().send().await.unwrap()).await;
    assert_eq!(status, 201, "{answer}");
    let new_id = answer["messageId"].as_str().expect("a messageId");
    assert_ne!(new_id, id);

    let pending = ferry.sdk().message(new_id).await.unwrap();
    assert_eq!(
        pending.max_retries, 0,
        "Upstash-Retries overrides the original 5"
    );
    assert_eq!(pending.url, url);
    assert_eq!(pending.body.as_deref(), Some("retry me"));
    assert!(
        pending.not_before >= pending.created_at + 3_590_000,
        "Upstash-Delay: 1h holds the retry back: {pending:?}"
    );
    assert!(dead_letters(&ferry, TOKEN).await.is_empty());
    assert_error(retry().send().await.unwrap(), 404, &dead.dlq_id).await;
    assert_eq!(
        sink.n_requests(),
        1,
        "the delayed retry is not delivered yet"
    );
}

#[tokio::test]
async fn another_tenant_can_neither_see_nor_touch_dead_letters() {
    let yard = Graveyard::dig(2).await;
    let ids = yard.dlq_ids();
    let other = yard.ferry.sdk_for(OTHER_TOKEN);

    assert!(dead_letters(&yard.ferry, OTHER_TOKEN).await.is_empty());
    let by_message = DlqQuery {
        filters: vec![("messageId".into(), yard.dead[0].message.message_id.clone())],
        ..DlqQuery::default()
    };
    assert!(
        other
            .dlq_list(&by_message)
            .await
            .unwrap()
            .messages
            .is_empty()
    );
    let by_id = yard.api(
        reqwest::Method::GET,
        &format!("/v2/dlq?dlqIds={}", ids[0]),
        OTHER_TOKEN,
    );
    let (status, listed) = json_of(by_id.send().await.unwrap()).await;
    assert_eq!((status, &listed["messages"]), (200, &json!([])));

    for (method, path) in [
        (reqwest::Method::GET, format!("/v2/dlq/{}", ids[0])),
        (reqwest::Method::DELETE, format!("/v2/dlq/{}", ids[0])),
        (reqwest::Method::POST, format!("/v2/dlq/retry/{}", ids[0])),
    ] {
        let response = yard.api(method, &path, OTHER_TOKEN).send().await.unwrap();
        assert_error(response, 404, &ids[0]).await;
    }
    assert_eq!(other.dlq_delete_many(&ids).await.unwrap().deleted, 0);
    assert!(other.dlq_retry(&ids).await.unwrap().responses.is_empty());

    assert_eq!(dead_letters(&yard.ferry, TOKEN).await, yard.dead);
    assert_eq!(yard.sink.n_requests(), 2, "nothing was retried");
}

#[tokio::test]
async fn the_queue_name_filter_selects_the_dead_letters_of_that_queue() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    sink.respond(failing_reply());
    let opts = PublishOptions {
        retries: Some(0),
        ..PublishOptions::default()
    };
    let (queued, published) = ferry.enqueue_and_publish(&sink, "nightly", &opts).await;
    let sdk = ferry.sdk();
    let dead = wait_for_dead_letter(&ferry, &queued).await;
    assert_eq!(dead.message.queue_name.as_deref(), Some("nightly"));
    let plain = wait_for_dead_letter(&ferry, &published).await;

    let listed = async |queue: &str| {
        let query = DlqQuery {
            filters: vec![("queueName".into(), queue.into())],
            ..DlqQuery::default()
        };
        ids_of(&sdk.dlq_list(&query).await.unwrap().messages)
    };
    assert_eq!(listed("nightly").await, [queued]);
    assert!(listed("weekly").await.is_empty());

    // Retried, it goes back into its queue, where a delay has no place; a
    // bulk retry that includes it is refused as a whole.
    let delayed_retry = |path: String| {
        ferry
            .http()
            .post(ferry.url(&path))
            .bearer_auth(TOKEN)
            .header("Upstash-Delay", "10s")
            .send()
    };
    let single = delayed_retry(format!("/v2/dlq/retry/{}", dead.dlq_id))
        .await
        .unwrap();
    assert_error(single, 400, "not supported on messages to a queue").await;
    let both = format!(
        "/v2/dlq/retry?dlqIds={}&dlqIds={}",
        plain.dlq_id, dead.dlq_id
    );
    let bulk = delayed_retry(both).await.unwrap();
    assert_error(bulk, 400, "not supported on messages to a queue").await;
    assert_eq!(
        dead_letters(&ferry, TOKEN).await.len(),
        2,
        "nothing was retried"
    );
}
