use super::*;

fn check_round_trip(seq: u64, send_us: u64, size: usize, expected_len: usize) {
    let body = encode(seq, send_us, size);
    assert_eq!(body.len(), expected_len, "length of {body:?}");
    assert_eq!(decode(&body), Some((seq, send_us)), "decoding {body:?}");
}

#[test]
fn a_body_has_the_requested_size_and_decodes_to_what_was_encoded() {
    check_round_trip(0, 0, 256, 256);
    check_round_trip(123_456, 9_876_543_210, 64, 64);
    check_round_trip(u64::MAX, u64::MAX, 4096, 4096);
}

#[test]
fn a_size_below_the_header_gives_just_the_header() {
    check_round_trip(42, 7, 0, "42:7:".len());
    check_round_trip(42, 7, 3, "42:7:".len());
}

fn check_rejected(body: &[u8]) {
    assert_eq!(decode(body), None, "{:?}", String::from_utf8_lossy(body));
}

#[test]
fn bodies_not_written_by_the_benchmark_are_rejected() {
    check_rejected(b"");
    check_rejected(b"12");
    check_rejected(b"12:34");
    check_rejected(b"a:34:xx");
    check_rejected(b"12:-3:xx");
    check_rejected(b"12:34:xxy");
    check_rejected(b"99999999999999999999999:1:");
}
