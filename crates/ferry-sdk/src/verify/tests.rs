//! Checks that `Receiver` wires its keys, clock and tolerance into the core
//! verifier; the token format itself is tested in `ferry_core::signing`.

use ferry_core::signing::{body_hash, sign};

use super::*;

const CURRENT: &str = "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r";
const NEXT: &str = "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs";
const URL: &str = "http://127.0.0.1:9999/hook";
const BODY: &[u8] = br#"{"hello":"world"}"#;
const NOW: u64 = 1_790_000_000;

fn receiver() -> Receiver {
    Receiver::new(CURRENT, NEXT).unwrap()
}

fn token_signed_with(key: &str, now: u64) -> String {
    sign(
        &SigningKey::new(key).unwrap(),
        URL,
        &body_hash(BODY),
        now,
        0,
    )
}

#[test]
fn both_keys_must_be_valid() {
    let check = |current: &str, next: &str, expected: Result<(), KeyError>| {
        assert_eq!(Receiver::new(current, next).map(|_| ()), expected);
    };
    check(CURRENT, NEXT, Ok(()));
    check("sig_short", NEXT, Err(KeyError::TooShort { len: 9 }));
    check(CURRENT, "", Err(KeyError::TooShort { len: 0 }));
}

#[test]
fn debug_does_not_show_the_keys() {
    let debug = format!("{:?}", receiver());
    assert!(debug.contains("[redacted]"), "{debug}");
    assert!(!debug.contains(&CURRENT[4..]), "{debug}");
    assert!(!debug.contains(&NEXT[4..]), "{debug}");
}

#[test]
fn accepts_signatures_from_the_current_and_the_next_key() {
    for key in [CURRENT, NEXT] {
        let claims = receiver().verify_at(&token_signed_with(key, NOW), BODY, Some(URL), NOW);
        assert_eq!(claims.map(|claims| claims.sub), Ok(URL.to_owned()), "{key}");
    }
}

#[test]
fn rejects_signatures_from_any_other_key() {
    let other = SigningKey::generate();
    let token = sign(&other, URL, &body_hash(BODY), NOW, 0);
    let verdict = receiver().verify_at(&token, BODY, Some(URL), NOW);
    assert_eq!(verdict, Err(VerifyError::BadSignature));
}

#[test]
fn clock_tolerance_extends_the_validity_window() {
    let token = token_signed_with(CURRENT, NOW);
    let just_expired = NOW + 300;
    let strict = receiver().verify_at(&token, BODY, None, just_expired);
    assert_eq!(
        strict,
        Err(VerifyError::Expired {
            exp: just_expired,
            now: just_expired
        })
    );
    let lenient = receiver().clock_tolerance(Duration::from_millis(1_900));
    assert!(lenient.verify_at(&token, BODY, None, just_expired).is_ok());
    assert!(
        lenient
            .verify_at(&token, BODY, None, just_expired + 1)
            .is_err()
    );
}

#[test]
fn verify_uses_the_system_clock() {
    let now = unix_now_s();
    // Between 2020 and 2096: the clock was read, not defaulted.
    assert!(
        (1_600_000_000..4_000_000_000).contains(&now),
        "system clock reads {now}"
    );
    let fresh = token_signed_with(NEXT, now);
    assert!(receiver().verify(&fresh, BODY, Some(URL)).is_ok());
    let stale = token_signed_with(CURRENT, now - 3_600);
    assert!(matches!(
        receiver().verify(&stale, BODY, Some(URL)),
        Err(VerifyError::Expired { .. })
    ));
}
