use super::*;

#[test]
fn message_id_round_trips_its_partition() {
    for p in [0u16, 1, 7, 255] {
        let id = MessageId::generate(Partition(p));
        assert_eq!(id.partition(), Partition(p));
        assert_eq!(MessageId::parse(id.as_str()).unwrap(), id);
    }
}

#[test]
fn message_ids_sort_by_creation() {
    let a = MessageId::generate(Partition(3));
    let b = MessageId::generate(Partition(3));
    assert!(a < b, "{a} should sort before {b}");
}

#[test]
fn dlq_id_maps_back_to_the_message() {
    let id = MessageId::generate(Partition(9));
    let dlq = id.dlq_id();
    assert!(dlq.as_str().starts_with("dlq_"));
    assert_eq!(dlq.message_id(), id);
    assert_eq!(DlqId::parse(dlq.as_str()).unwrap(), dlq);
}

#[test]
fn malformed_ids_are_rejected() {
    for bad in [
        "",
        "msg_",
        "msg_xyz",
        "dlq_0190f1a2b3c4d5e6f708192a3b4c5d6e00",
        "msg_0190F1A2B3C4D5E6F708192A3B4C5D6E00",
        "msg_0190f1a2b3c4d5e6f708192a3b4c5d6e0",
        "msg_0190f1a2b3c4d5e6f708192a3b4c5d6e000",
    ] {
        assert!(MessageId::parse(bad).is_err(), "{bad:?} should be rejected");
    }
    assert!(DlqId::parse("msg_0190f1a2b3c4d5e6f708192a3b4c5d6e00").is_err());
}

#[test]
fn names_follow_the_qstash_character_set() {
    for good in ["a", "tenant-1", "my_queue.v2", &"x".repeat(64)] {
        assert!(validate_name(good).is_ok(), "{good:?}");
    }
    for bad in ["", "a b", "a/b", "ü", &"x".repeat(65), "a:b"] {
        assert!(validate_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn message_ids_tell_when_they_were_made() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let id = MessageId::generate(Partition(1));
    let made = id.created_ms();
    assert!(
        made >= before && made < before + 60_000,
        "{made} vs {before}"
    );
}
