//! `ferry dlq` query building and rendering.

use clap::Parser;
use ferry_sdk::wire::{Message, PublishResponse};

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: ListArgs,
}

fn query(line: &[&str]) -> DlqQuery {
    let cli = Cli::try_parse_from(std::iter::once("list").chain(line.iter().copied())).unwrap();
    dlq_query(&cli.args)
}

fn pairs(filters: &[(&str, &str)]) -> Vec<(String, String)> {
    filters
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

#[test]
fn list_flags_become_a_dlq_query() {
    assert_eq!(query(&[]), DlqQuery::default());
    assert_eq!(
        query(&[
            "--count",
            "20",
            "--cursor",
            "17-0",
            "--order",
            "latestFirst",
            "--status",
            "500",
            "--destination",
            "https://a.example/",
            "--status",
            "502",
            "--label",
            "eu",
        ]),
        DlqQuery {
            cursor: Some("17-0".to_owned()),
            count: Some(20),
            order: Some(DlqOrder::LatestFirst),
            filters: pairs(&[
                ("url", "https://a.example/"),
                ("responseStatus", "500"),
                ("responseStatus", "502"),
                ("label", "eu"),
            ]),
        }
    );
}

fn dead_letter(dlq_id: &str, max_retries: u32) -> DlqMessage {
    DlqMessage {
        message: Message {
            message_id: format!("msg_{dlq_id}"),
            url: "https://a.example/hook".to_owned(),
            topic_name: None,
            endpoint_name: None,
            api: None,
            queue_name: None,
            method: "POST".to_owned(),
            header: None,
            body: Some("{}".to_owned()),
            body_base64: None,
            max_retries,
            retry_delay_expression: None,
            not_before: 1_700_000_000_123,
            created_at: 1_700_000_000_123,
            callback: None,
            failure_callback: None,
            callback_header: None,
            failure_callback_header: None,
            schedule_id: None,
            caller_ip: None,
            flow_control_key: None,
            parallelism: None,
            rate: None,
            period: None,
            labels: Vec::new(),
        },
        dlq_id: dlq_id.to_owned(),
        response_status: 503,
        response_header: None,
        response_body: Some("down\nfor maintenance".to_owned()),
        response_body_base64: None,
    }
}

#[test]
fn the_list_table_counts_attempts_as_retries_plus_one() {
    let page = DlqList {
        messages: vec![dead_letter("1-0", 3), dead_letter("22-1", 0)],
        cursor: None,
    };
    assert_eq!(
        render_list(&page),
        "DLQ ID  MESSAGE ID  URL                     STATUS  ATTEMPTS  CREATED\n\
         1-0     msg_1-0     https://a.example/hook  503     4         2023-11-14T22:13:20.123Z\n\
         22-1    msg_22-1    https://a.example/hook  503     1         2023-11-14T22:13:20.123Z"
    );
    let empty = DlqList {
        messages: Vec::new(),
        cursor: None,
    };
    assert_eq!(render_list(&empty), "no dead letters");
}

#[test]
fn show_puts_the_failure_first_and_the_message_after() {
    let rendered = render_dead_letter(&dead_letter("1-0", 3));
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(lines[0], "dlq id           1-0");
    assert_eq!(lines[1], "response status  503");
    assert_eq!(lines[2], "response body    down");
    assert_eq!(lines[3], "                 for maintenance");
    assert_eq!(lines[4], "message id       msg_1-0");
    assert!(lines.contains(&"max retries      3"), "{rendered}");
    assert!(lines.contains(&"body             {}"), "{rendered}");
}

#[test]
fn retry_output_lists_the_new_message_ids() {
    let retried = DlqRetryResponse {
        responses: vec![PublishResponse {
            message_id: "msg_new".to_owned(),
            url: None,
            deduplicated: None,
        }],
        cursor: None,
    };
    assert_eq!(
        render_retried(&retried),
        "retried 1 dead letter(s)\nNEW MESSAGE ID\nmsg_new"
    );
}
