//! Rendering of tables, key-value blocks and timestamps.

use super::*;

#[test]
fn table_columns_are_aligned_and_lines_not_padded_at_the_end() {
    let mut table = Table::new(&["ID", "URL", "STATUS"]);
    table.push(vec![
        "1-0".to_owned(),
        "https://a.example/long".to_owned(),
        "500".to_owned(),
    ]);
    table.push(vec![
        "12-3".to_owned(),
        "https://b/".to_owned(),
        String::new(),
    ]);
    assert_eq!(
        table.render(),
        "ID    URL                     STATUS\n\
         1-0   https://a.example/long  500\n\
         12-3  https://b/"
    );
}

#[test]
fn table_widths_count_characters_not_bytes() {
    let mut table = Table::new(&["A", "B"]);
    table.push(vec!["äé".to_owned(), "x".to_owned()]);
    assert_eq!(table.render(), "A   B\näé  x");
}

#[test]
fn fields_align_values_and_indent_continuation_lines() {
    let mut fields = Fields::default();
    fields.add("id", "m1");
    fields.add_opt("absent", None::<&str>);
    fields.add("headers", "A: 1\nB: 2");
    assert_eq!(fields.render(), "id       m1\nheaders  A: 1\n         B: 2");
}

#[test]
fn header_lines_list_every_value() {
    let headers = HeaderMap::from([
        ("Accept".to_owned(), vec!["a".to_owned(), "b".to_owned()]),
        ("X-Id".to_owned(), vec!["7".to_owned()]),
    ]);
    assert_eq!(header_lines(&headers), "Accept: a\nAccept: b\nX-Id: 7");
}

#[test]
fn bodies_show_text_or_base64() {
    let check = |text: Option<&str>, base64: Option<&str>, expected: Option<&str>| {
        assert_eq!(body_text(text, base64).as_deref(), expected);
    };
    check(Some("hi"), None, Some("hi"));
    check(Some(""), None, Some("(empty)"));
    check(None, Some("//4A"), Some("(binary, base64) //4A"));
    check(None, None, None);
}

#[test]
fn timestamps_are_utc_rfc3339() {
    let check = |unix_ms: u64, expected: &str| assert_eq!(timestamp(unix_ms), expected);
    check(0, "1970-01-01T00:00:00.000Z");
    check(951_782_400_000, "2000-02-29T00:00:00.000Z");
    check(951_868_799_999, "2000-02-29T23:59:59.999Z");
    check(1_700_000_000_123, "2023-11-14T22:13:20.123Z");
    check(1_709_164_800_000, "2024-02-29T00:00:00.000Z");
    check(4_107_542_400_000, "2100-03-01T00:00:00.000Z");
    check(253_402_300_799_000, "9999-12-31T23:59:59.000Z");
}
