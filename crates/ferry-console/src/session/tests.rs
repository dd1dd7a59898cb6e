use super::*;

const NOW: u64 = 1_700_000_000_000;

#[test]
fn a_cookie_opens_only_unaltered_unexpired_and_under_its_secret() {
    let secret = SessionSecret::random();
    let digest = ferry_gateway::Tokens::digest("token");
    let value = secret.issue(&digest, NOW + 1000);
    assert!(!value.contains("token"), "the token is never in the cookie");
    let (payload, opened) = secret.open(&value, NOW).expect("valid cookie");
    assert_eq!(opened, digest);
    assert!(value.starts_with(payload));

    assert!(secret.open(&value, NOW + 1000).is_none(), "expired");
    assert!(
        SessionSecret::random().open(&value, NOW).is_none(),
        "other secret"
    );
    let longer = value.replacen(&(NOW + 1000).to_string(), &(NOW + 9999).to_string(), 1);
    assert!(secret.open(&longer, NOW).is_none(), "altered expiry");
    assert!(secret.open("v1.garbage", NOW).is_none());
    assert!(secret.open("", NOW).is_none());
}

#[test]
fn each_session_has_its_own_csrf_token() {
    let secret = SessionSecret::random();
    let digest = ferry_gateway::Tokens::digest("token");
    let a = secret.issue(&digest, NOW + 1000);
    let b = secret.issue(&digest, NOW + 1000);
    let (pa, _) = secret.open(&a, NOW).unwrap();
    let (pb, _) = secret.open(&b, NOW).unwrap();
    assert_ne!(secret.csrf(pa), secret.csrf(pb));
    assert_eq!(secret.csrf(pa), secret.csrf(pa));
}

#[test]
fn configured_secrets_must_be_long_and_never_print() {
    assert!(SessionSecret::from_text("short").is_err());
    let secret = SessionSecret::from_text(&"s".repeat(32)).unwrap();
    assert_eq!(format!("{secret:?}"), "SessionSecret([redacted])");
}

#[test]
fn cookies_are_read_by_name_among_others() {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::COOKIE,
        HeaderValue::from_static("a=1; ferry_console=v; b=2"),
    );
    assert_eq!(cookie(&headers, COOKIE), Some("v"));
    assert_eq!(cookie(&headers, "c"), None);
}

#[test]
fn forms_from_other_origins_are_refused() {
    let with = |origin: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        foreign_origin(&headers)
    };
    assert!(!with("http://127.0.0.1:8080"));
    assert!(with("http://evil.example"));
    assert!(with("null"));
    assert!(
        !foreign_origin(&HeaderMap::new()),
        "no Origin: other checks decide"
    );
}

#[test]
fn the_cookie_is_secure_over_tls_or_when_forced() {
    let mut headers = HeaderMap::new();
    assert_eq!(
        cookie_attributes(&headers, false),
        "Path=/console; HttpOnly; SameSite=Strict"
    );
    assert!(cookie_attributes(&headers, true).ends_with("; Secure"));
    headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    assert!(cookie_attributes(&headers, false).ends_with("; Secure"));
}
