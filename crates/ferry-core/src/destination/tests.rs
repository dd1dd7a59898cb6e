use super::*;

const BAD_SCHEME: &str =
    "invalid destination url: endpoint has invalid scheme, add http:// or https://";

/// Parses `raw` and compares the destination string, or the error message.
#[track_caller]
fn check(raw: &str, expect: Result<&str, &str>) {
    let got = parse(raw).map(|destination| destination.to_string());
    let got = got
        .as_ref()
        .map(String::as_str)
        .map_err(ToString::to_string);
    assert_eq!(got, expect.map_err(str::to_owned), "destination {raw:?}");
}

#[test]
fn numeric_host_spellings_become_dotted_ipv4() {
    for raw in [
        "http://0x7f.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://127.0.0.1./",
        "http://%31%32%37.0.0.1/",
        "http://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}/",
    ] {
        check(raw, Ok("http://127.0.0.1/"));
        assert_eq!(
            parse(raw).unwrap().url().host(),
            Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST)),
            "host of {raw:?}",
        );
    }
    check("http://0/", Ok("http://0.0.0.0/"));
}

#[test]
fn ipv6_hosts_are_serialised_compressed() {
    check("http://[0:0:0:0:0:0:0:1]/", Ok("http://[::1]/"));
    check("http://[::ffff:127.0.0.1]/", Ok("http://[::ffff:7f00:1]/"));
    check("http://[::1]:8080/a:b", Ok("http://[::1]:8080/a:b"));
}

#[test]
fn host_names_are_kept_for_the_resolver_to_judge() {
    check("http://localhost./", Ok("http://localhost./"));
    check(
        "HTTP://EXAMPLE.com:80/a/../b/./c",
        Ok("http://example.com/b/c"),
    );
    check(
        "http://example.com\\@evil.com/",
        Ok("http://example.com/@evil.com/"),
    );
}

#[test]
fn merged_slashes_are_repaired() {
    check("https:/x.com/a", Ok("https://x.com/a"));
    check("http:/example.com/a", Ok("http://example.com/a"));
    check("http:example.com/a", Ok("http://example.com/a"));
    check("https:///example.com/", Ok("https://example.com/"));
}

#[test]
fn wholly_percent_encoded_destination_is_decoded_once() {
    check("https%3A%2F%2Fx.com%2Fa%3Fq%3D1", Ok("https://x.com/a?q=1"));
    check("HTTP%3a%2f%2fx.com%2fa", Ok("http://x.com/a"));
    check("https%3A%2F%2Fx.com%2Fa%252Fb", Ok("https://x.com/a%2Fb"));
    check("https%3A%2F%2Fx.com%2F100%", Ok("https://x.com/100%"));
    check(
        "https%3A%2F%2Fx.com%2F%FF",
        Err("invalid destination url: percent-encoded destination is not valid UTF-8"),
    );
}

#[test]
fn path_and_query_are_kept_as_given() {
    for raw in [
        "https://x.com//a?q=1&r=%2F&s=a+b",
        "https://x.com/a%20b/c%2F..%2Fd",
        "https://x.com/hook?",
        "https://x.com:8443/a;b=c/d?e=f=g&&h",
    ] {
        check(raw, Ok(raw));
    }
    check("https://x.com/ü?v=ü", Ok("https://x.com/%C3%BC?v=%C3%BC"));
    check("https://x.com/a b", Ok("https://x.com/a%20b"));
}

#[test]
fn dot_segments_are_resolved_even_when_escaped() {
    check(
        "https://x.com//a/../b/./c?q=1",
        Ok("https://x.com//b/c?q=1"),
    );
    check("https://x.com/a%20b/%2e%2e/c", Ok("https://x.com/c"));
    check("https://x.com/a/..?q=/../", Ok("https://x.com/?q=/../"));
}

#[test]
fn fragment_is_dropped_because_it_never_goes_on_the_wire() {
    check("https://x.com/a?q=1#frag", Ok("https://x.com/a?q=1"));
}

#[test]
fn missing_or_unsupported_scheme_is_refused() {
    for raw in [
        "",
        "x.com/a",
        "my-url-group",
        "localhost:3000/hook",
        "ftp://x.com/a",
        "gopher://127.0.0.1:6379/_",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ws://x.com/socket",
    ] {
        check(raw, Err(BAD_SCHEME));
    }
}

#[test]
fn unsafe_or_broken_urls_are_refused() {
    check(
        "http://user:pass@example.com/",
        Err("invalid destination url: credentials in the url are not allowed"),
    );
    check(
        "http://user@example.com/",
        Err("invalid destination url: credentials in the url are not allowed"),
    );
    check(
        "http://example.com:0/",
        Err("invalid destination url: port 0 is not allowed"),
    );
    check("http://", Err("invalid destination url: host is missing"));
    check(
        "https://?x=1",
        Err("invalid destination url: host is missing"),
    );
    check(
        "https://x.com:99999/",
        Err("invalid destination url: invalid port number"),
    );
    for raw in [
        "http://1.2.3.4.5/",
        "http://256.0.0.1/",
        "http://0x100000000/",
        "http://a.b.c.d.e.f.2130706433/",
    ] {
        check(raw, Err("invalid destination url: invalid IPv4 address"));
    }
    check(
        "http://[fe80::1%25eth0]/",
        Err("invalid destination url: invalid IPv6 address"),
    );
}

#[test]
fn length_is_capped() {
    let prefix = "https://x.com/";
    let at_limit = format!("{prefix}{}", "a".repeat(MAX_DESTINATION_LEN - prefix.len()));
    check(&at_limit, Ok(&at_limit));
    let over = format!("{at_limit}a");
    check(
        &over,
        Err("invalid destination url: 8193 bytes is longer than the limit of 8192 bytes"),
    );
}

#[test]
fn looks_like_url_accepts_everything_parse_repairs() {
    for (raw, expect) in [
        ("https://x.com/a", true),
        ("HTTP://x.com/a", true),
        ("https:/x.com/a", true),
        ("http:x.com", true),
        ("https%3A%2F%2Fx.com", true),
        ("http%3a%2f%2fx.com", true),
        ("my-group", false),
        ("api/llm", false),
        ("httpbin", false),
        ("http", false),
        ("", false),
    ] {
        assert_eq!(looks_like_url(raw), expect, "{raw:?}");
    }
}

/// Strips `query` and compares the kept query and the config pairs.
#[track_caller]
fn check_strip(query: &str, expect_query: &str, expect_config: &[(&str, &str)]) {
    let (kept, config) = strip_config_query(query);
    let config: Vec<(&str, &str)> = config
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        (kept.as_str(), config.as_slice()),
        (expect_query, expect_config),
        "{query:?}"
    );
}

#[test]
fn strip_keeps_a_query_without_config_byte_for_byte() {
    for query in [
        "",
        "a=1&b=2",
        "q=1&r=%2F&s=a+b",
        "a&&b=&=c&",
        "upstashfoo=1&x-upstash-retries=2",
    ] {
        check_strip(query, query, &[]);
    }
}

#[test]
fn strip_removes_the_token_and_returns_config_decoded() {
    check_strip("q=1&qstash_token=abc&r=%2F", "q=1&r=%2F", &[]);
    check_strip("QStash_Token=abc", "", &[]);
    check_strip("qstash_token", "", &[]);
    check_strip(
        "Upstash-Retries=3&x=a+b&upstash-delay=100s",
        "x=a+b",
        &[("upstash-retries", "3"), ("upstash-delay", "100s")],
    );
    check_strip(
        "upstash-forward-x=a%20b+c&z=%26",
        "z=%26",
        &[("upstash-forward-x", "a b c")],
    );
    check_strip(
        "%75pstash-retries=2&keep=1",
        "keep=1",
        &[("upstash-retries", "2")],
    );
    check_strip(
        "a&&upstash-method=PUT&&b",
        "a&&&b",
        &[("upstash-method", "PUT")],
    );
}
