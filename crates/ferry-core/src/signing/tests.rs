//! Pins delivery signatures to the QStash test vector and checks that every
//! kind of bad token is rejected with the error a handler would match on.

use serde_json::{Value, json};

use super::*;

const CURRENT: &str = "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r";
const NEXT: &str = "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs";
const BODY: &[u8] = br#"{"hello":"world"}"#;
const BODY_HASH: &str = "k6I5cakU5erL8KjSUVTNownDwccvu5kU1Hxg88toFYg=";
const URL: &str = "https://example.com/api/webhook";
const IAT: u64 = 1_700_000_000;
const EXP: u64 = IAT + 300;

/// The worked example of the QStash spec, section 6.3.
const SPEC_CLAIMS_JSON: &str = r#"{"iss":"Upstash","sub":"https://example.com/api/webhook","exp":1700000300,"nbf":1700000000,"iat":1700000000,"jti":"jwt_0000000000000000000000000001","body":"k6I5cakU5erL8KjSUVTNownDwccvu5kU1Hxg88toFYg="}"#;
const SPEC_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJVcHN0YXNoIiwic3ViIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9hcGkvd2ViaG9vayIsImV4cCI6MTcwMDAwMDMwMCwibmJmIjoxNzAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDAsImp0aSI6Imp3dF8wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAxIiwiYm9keSI6Ims2STVjYWtVNWVyTDhLalNVVlROb3duRHdjY3Z1NWtVMUh4Zzg4dG9GWWc9In0.VNWprYii56Hwcj9UIkz7BOYz17wRxRtcCP9EaDYA3YA";
const HS256_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn key(key: &str) -> SigningKey {
    SigningKey::new(key).unwrap()
}

fn spec_claims() -> Claims {
    Claims {
        iss: "Upstash".into(),
        sub: URL.into(),
        exp: EXP,
        nbf: IAT,
        iat: IAT,
        jti: "jwt_0000000000000000000000000001".into(),
        body: BODY_HASH.into(),
    }
}

/// The spec claims as JSON after `edit`, for tokens that `sign` never makes.
fn spec_claims_edited(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut claims = serde_json::to_value(spec_claims()).unwrap();
    edit(claims.as_object_mut().unwrap());
    claims.to_string()
}

/// Signs arbitrary header and claims JSON with `key`.
fn forge(key: &SigningKey, header_json: &str, claims_json: &str) -> String {
    let mut token = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(claims_json)
    );
    append_signature(key, &mut token);
    token
}

/// Replaces the signature part of `token`.
fn with_signature(token: &str, signature: &str) -> String {
    let (signed, _) = token.rsplit_once('.').unwrap();
    format!("{signed}.{signature}")
}

/// Verifies with the current and next dev keys, the spec body and no clock
/// tolerance.
fn check(token: &str, url: Option<&str>, now: u64, expected: Result<(), VerifyError>) {
    check_with(token, BODY, url, now, 0, expected);
}

fn check_with(
    token: &str,
    body: &[u8],
    url: Option<&str>,
    now: u64,
    tolerance: u64,
    expected: Result<(), VerifyError>,
) {
    let (current, next) = (key(CURRENT), key(NEXT));
    let actual = verify(token, body, &[&current, &next], url, now, tolerance).map(|_| ());
    assert_eq!(
        actual, expected,
        "token {token:?} at {now} (tolerance {tolerance})"
    );
}

#[test]
fn encoded_header_is_the_fixed_hs256_header() {
    assert_eq!(URL_SAFE_NO_PAD.encode(HS256_HEADER), ENCODED_HEADER);
}

#[test]
fn body_hash_is_padded_base64url_sha256() {
    let check = |body: &[u8], expected: &str| assert_eq!(body_hash(body), expected);
    check(BODY, BODY_HASH);
    check(b"", "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=");
    // A hash with `-` and `_` shows the alphabet is the URL-safe one.
    check(b"\x02", "28G0yQD_5I1XW12lxjgEASX2XbD-PiRJS3bqmGRX2YY=");
}

#[test]
fn claims_serialize_in_qstash_field_order() {
    assert_eq!(
        serde_json::to_string(&spec_claims()).unwrap(),
        SPEC_CLAIMS_JSON
    );
}

#[test]
fn signing_the_spec_claims_reproduces_the_spec_token() {
    assert_eq!(
        encode_token(&key(CURRENT), &spec_claims().view()),
        SPEC_TOKEN
    );
}

#[test]
fn spec_token_verifies_inside_its_window() {
    let claims = verify(SPEC_TOKEN, BODY, &[&key(CURRENT)], Some(URL), IAT, 0);
    assert_eq!(claims, Ok(spec_claims()));
}

#[test]
fn sign_then_verify_round_trips() {
    let now = 1_790_000_000;
    let token = sign(&key(CURRENT), URL, &body_hash(BODY), now, 5);
    let claims = verify(&token, BODY, &[&key(CURRENT)], Some(URL), now, 0).unwrap();
    assert_eq!(claims.iss, "Upstash");
    assert_eq!(claims.sub, URL);
    assert_eq!(claims.iat, now - 5);
    assert_eq!(claims.exp, now - 5 + 300);
    assert_eq!(claims.nbf, 0);
    assert_eq!(claims.body, BODY_HASH);
    let random_part = claims.jti.strip_prefix("jwt_").unwrap();
    assert_eq!(random_part.len(), 28);
    assert!(random_part.bytes().all(|b| b.is_ascii_alphanumeric()));
}

#[test]
fn sign_uses_a_fresh_token_id_for_each_attempt() {
    let jti = |token: String| {
        verify(&token, BODY, &[&key(CURRENT)], None, IAT, 0)
            .unwrap()
            .jti
    };
    let sign_once = || sign(&key(CURRENT), URL, BODY_HASH, IAT, 0);
    assert_ne!(jti(sign_once()), jti(sign_once()));
}

#[test]
fn sign_back_dating_saturates_at_zero() {
    let token = sign(&key(CURRENT), URL, BODY_HASH, 3, 10);
    let claims = verify(&token, BODY, &[&key(CURRENT)], None, 0, 0).unwrap();
    assert_eq!((claims.iat, claims.exp), (0, 300));
}

#[test]
fn expiry_is_exclusive_and_widened_by_the_tolerance() {
    let expired = Err(VerifyError::Expired { exp: EXP, now: EXP });
    check_with(SPEC_TOKEN, BODY, None, EXP - 1, 0, Ok(()));
    check_with(SPEC_TOKEN, BODY, None, EXP, 0, expired);
    check_with(SPEC_TOKEN, BODY, None, EXP, 1, Ok(()));
    let late = EXP + 60;
    check_with(
        SPEC_TOKEN,
        BODY,
        None,
        late,
        60,
        Err(VerifyError::Expired {
            exp: EXP,
            now: late,
        }),
    );
}

#[test]
fn not_before_is_widened_by_the_tolerance() {
    let early = IAT - 30;
    let immature = Err(VerifyError::NotYetValid {
        nbf: IAT,
        now: early,
    });
    check_with(SPEC_TOKEN, BODY, None, early, 0, immature.clone());
    check_with(SPEC_TOKEN, BODY, None, early, 29, immature);
    check_with(SPEC_TOKEN, BODY, None, early, 30, Ok(()));
    check_with(SPEC_TOKEN, BODY, None, IAT, 0, Ok(()));
}

#[test]
fn missing_optional_claims_are_accepted() {
    let claims = spec_claims_edited(|claims| {
        for optional in ["nbf", "iat", "jti"] {
            claims.remove(optional);
        }
    });
    check(
        &forge(&key(CURRENT), HS256_HEADER, &claims),
        Some(URL),
        IAT,
        Ok(()),
    );
}

#[test]
fn malformed_tokens_are_rejected() {
    let malformed = |reason| Err(VerifyError::Malformed(reason));
    let three_parts = malformed("expected three dot-separated parts");
    check("", None, IAT, three_parts.clone());
    check("abc", None, IAT, three_parts.clone());
    check("a.b", None, IAT, three_parts.clone());
    check(&format!("{SPEC_TOKEN}.x"), None, IAT, three_parts);
    let not_base64 = malformed("signature is not base64url");
    check(
        &with_signature(SPEC_TOKEN, "!!!"),
        None,
        IAT,
        not_base64.clone(),
    );
    // Padding is not part of a JWS encoding.
    check(
        &with_signature(SPEC_TOKEN, "VNWprYii56Hwcj9UIkz7BOYz17wRxRtcCP9EaDYA3YA="),
        None,
        IAT,
        not_base64,
    );
}

#[test]
fn undecodable_parts_under_a_valid_signature_are_malformed() {
    let current = key(CURRENT);
    let bad_header = malformed_header();
    let bad_claims = malformed_claims();
    check(
        &forge(&current, "not json", SPEC_CLAIMS_JSON),
        None,
        IAT,
        bad_header.clone(),
    );
    check(
        &forge(&current, r#"{"typ":"JWT"}"#, SPEC_CLAIMS_JSON),
        None,
        IAT,
        bad_header,
    );
    check(
        &forge(&current, HS256_HEADER, "[]"),
        None,
        IAT,
        bad_claims.clone(),
    );
    let no_body = spec_claims_edited(|claims| {
        claims.remove("body");
    });
    check(
        &forge(&current, HS256_HEADER, &no_body),
        None,
        IAT,
        bad_claims.clone(),
    );
    let string_exp = spec_claims_edited(|claims| {
        claims.insert("exp".into(), json!("1700000300"));
    });
    check(
        &forge(&current, HS256_HEADER, &string_exp),
        None,
        IAT,
        bad_claims,
    );
}

fn malformed_header() -> Result<(), VerifyError> {
    Err(VerifyError::Malformed(
        "header is not base64url JSON with \"alg\"",
    ))
}

fn malformed_claims() -> Result<(), VerifyError> {
    Err(VerifyError::Malformed(
        "claims are not base64url JSON with iss, sub, exp and body",
    ))
}

/// A verifier that compares only as many bytes as the received tag has
/// accepts an empty or shortened tag; every such prefix must fail here.
#[test]
fn empty_and_truncated_tags_never_verify() {
    let (signed, encoded_tag) = SPEC_TOKEN.rsplit_once('.').unwrap();
    let tag = URL_SAFE_NO_PAD.decode(encoded_tag).unwrap();
    check(
        &format!("{signed}."),
        None,
        IAT,
        Err(VerifyError::Malformed("signature is empty")),
    );
    for len in 1..tag.len() {
        let truncated = URL_SAFE_NO_PAD.encode(&tag[..len]);
        check(
            &with_signature(SPEC_TOKEN, &truncated),
            None,
            IAT,
            Err(VerifyError::BadSignature),
        );
    }
    let extended = URL_SAFE_NO_PAD.encode([tag.as_slice(), &[0]].concat());
    check(
        &with_signature(SPEC_TOKEN, &extended),
        None,
        IAT,
        Err(VerifyError::BadSignature),
    );
    check(SPEC_TOKEN, None, IAT, Ok(()));
}

#[test]
fn tampered_tokens_and_unknown_keys_are_rejected() {
    let other_key = SigningKey::generate();
    check(
        &forge(&other_key, HS256_HEADER, SPEC_CLAIMS_JSON),
        None,
        IAT,
        Err(VerifyError::BadSignature),
    );
    let (_, spec_tag) = SPEC_TOKEN.rsplit_once('.').unwrap();
    let other_url = spec_claims_edited(|claims| {
        claims.insert("sub".into(), json!("https://attacker.example/"));
    });
    let resigned = forge(&key(CURRENT), HS256_HEADER, &other_url);
    check(
        &with_signature(&resigned, spec_tag),
        None,
        IAT,
        Err(VerifyError::BadSignature),
    );
    let no_keys = verify(SPEC_TOKEN, BODY, &[], None, IAT, 0);
    assert_eq!(no_keys, Err(VerifyError::BadSignature));
}

#[test]
fn only_hs256_is_accepted() {
    let hs512 = forge(
        &key(CURRENT),
        r#"{"alg":"HS512","typ":"JWT"}"#,
        SPEC_CLAIMS_JSON,
    );
    check(
        &hs512,
        None,
        IAT,
        Err(VerifyError::UnsupportedAlgorithm {
            alg: "HS512".into(),
        }),
    );
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(SPEC_CLAIMS_JSON)
    );
    check(
        &unsigned,
        None,
        IAT,
        Err(VerifyError::Malformed("signature is empty")),
    );
}

#[test]
fn header_without_typ_is_accepted() {
    let token = forge(&key(CURRENT), r#"{"alg":"HS256"}"#, SPEC_CLAIMS_JSON);
    check(&token, Some(URL), IAT, Ok(()));
}

#[test]
fn issuer_must_match_exactly() {
    let lowercase = spec_claims_edited(|claims| {
        claims.insert("iss".into(), json!("upstash"));
    });
    let token = forge(&key(CURRENT), HS256_HEADER, &lowercase);
    check(
        &token,
        None,
        IAT,
        Err(VerifyError::WrongIssuer {
            actual: "upstash".into(),
        }),
    );
}

#[test]
fn url_is_checked_only_when_given() {
    let other = "https://example.com/api/other";
    let wrong_url = Err(VerifyError::WrongUrl {
        expected: other.into(),
        actual: URL.into(),
    });
    check(SPEC_TOKEN, Some(other), IAT, wrong_url);
    check(SPEC_TOKEN, Some(URL), IAT, Ok(()));
    check(SPEC_TOKEN, None, IAT, Ok(()));
}

#[test]
fn body_must_be_the_signed_one() {
    let with_space = br#"{"hello": "world"}"#;
    let mismatch = Err(VerifyError::BodyMismatch {
        claimed: BODY_HASH.into(),
        computed: body_hash(with_space),
    });
    check_with(SPEC_TOKEN, with_space, None, IAT, 0, mismatch);
    check_with(
        SPEC_TOKEN,
        b"",
        None,
        IAT,
        0,
        Err(VerifyError::BodyMismatch {
            claimed: BODY_HASH.into(),
            computed: body_hash(b""),
        }),
    );
}

#[test]
fn body_claim_padding_is_ignored() {
    let unpadded = spec_claims_edited(|claims| {
        claims.insert("body".into(), json!(BODY_HASH.trim_end_matches('=')));
    });
    check(
        &forge(&key(CURRENT), HS256_HEADER, &unpadded),
        None,
        IAT,
        Ok(()),
    );
    let over_padded = spec_claims_edited(|claims| {
        claims.insert("body".into(), json!(format!("{BODY_HASH}==")));
    });
    check(
        &forge(&key(CURRENT), HS256_HEADER, &over_padded),
        None,
        IAT,
        Ok(()),
    );
}

#[test]
fn next_key_is_tried_after_current() {
    let token = sign(&key(NEXT), URL, BODY_HASH, IAT, 0);
    check(&token, Some(URL), IAT, Ok(()));
    let current_only = verify(&token, BODY, &[&key(CURRENT)], Some(URL), IAT, 0);
    assert_eq!(current_only, Err(VerifyError::BadSignature));
}

#[test]
fn keys_shorter_than_32_bytes_are_rejected() {
    let check = |key: &str, expected: Result<(), KeyError>| {
        assert_eq!(SigningKey::new(key).map(|_| ()), expected, "{key:?}");
    };
    check("", Err(KeyError::TooShort { len: 0 }));
    check(&CURRENT[..31], Err(KeyError::TooShort { len: 31 }));
    check(CURRENT, Ok(()));
    check(&format!("{CURRENT}extra"), Ok(()));
}

#[test]
fn key_debug_is_redacted() {
    assert_eq!(format!("{:?}", key(CURRENT)), "SigningKey([redacted])");
}

#[test]
fn generated_keys_have_the_qstash_shape() {
    let generated = SigningKey::generate();
    let random_part = generated.expose().strip_prefix("sig_").unwrap();
    assert_eq!(random_part.len(), 28);
    assert!(random_part.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(SigningKey::new(generated.expose()), Ok(generated.clone()));
    assert_ne!(generated, SigningKey::generate());
}

#[test]
fn keys_are_equal_only_when_their_strings_are() {
    assert_eq!(key(CURRENT), key(CURRENT));
    assert_ne!(key(CURRENT), key(NEXT));
    assert_ne!(key(CURRENT), key(&format!("{CURRENT}x")));
}

#[test]
fn byte_to_alphanumeric_mapping_is_unbiased() {
    let mut counts = [0_u32; 256];
    for byte in 0..=u8::MAX {
        match alphanumeric_from_byte(byte) {
            Some(character) => counts[usize::from(character)] += 1,
            None => assert!(byte >= UNBIASED_BYTE_LIMIT, "byte {byte} was discarded"),
        }
    }
    for &character in ALPHANUMERICS {
        assert_eq!(
            counts[usize::from(character)],
            4,
            "{:?}",
            char::from(character)
        );
    }
    assert_eq!(counts.iter().sum::<u32>(), 248);
}
