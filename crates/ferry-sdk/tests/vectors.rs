//! Replays recorded QStash delivery requests (`tests/vectors/*.txt`, raw
//! HTTP/1.1 with CRLF line ends) through `Receiver`, so the SDK is held to
//! the same verdicts as the official JS and Python receivers that
//! cross-checked those requests. `tests/vectors/vectors.json` names each
//! request with its URL, signature, signing time and expected verdict, and
//! holds the public QStash development keys that signed them.

use std::path::PathBuf;

use ferry_sdk::verify::{Receiver, VerifyError};
use serde::Deserialize;

/// `vectors.json`: the dev-server keys and one entry per request file.
#[derive(Deserialize)]
struct VectorSet {
    dev_server: DevServer,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct DevServer {
    current_signing_key: String,
    next_signing_key: String,
}

#[derive(Deserialize)]
struct Vector {
    file: String,
    url: String,
    jwt: String,
    claims: VectorClaims,
    expect_valid: bool,
}

/// The vectors are verified at their own `iat`, inside their 5-minute window.
#[derive(Deserialize)]
struct VectorClaims {
    iat: u64,
}

/// A raw HTTP/1.1 request as stored in a vector file.
struct Request {
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn parse(raw: &[u8], file: &str) -> Self {
        let blank_line = raw
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("{file}: no blank line after the headers"));
        let head = std::str::from_utf8(&raw[..blank_line])
            .unwrap_or_else(|error| panic!("{file}: headers are not UTF-8: {error}"));
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let target = match request_line.split(' ').collect::<Vec<_>>()[..] {
            [_method, target, "HTTP/1.1"] => target.to_owned(),
            _ => panic!("{file}: bad request line {request_line:?}"),
        };
        let headers = lines
            .map(|line| {
                let (name, value) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{file}: bad header line {line:?}"));
                (name.to_owned(), value.trim().to_owned())
            })
            .collect();
        let request = Self {
            target,
            headers,
            body: raw[blank_line + 4..].to_vec(),
        };
        let content_length = request.header("Content-Length", file);
        assert_eq!(
            content_length,
            request.body.len().to_string(),
            "{file}: body length disagrees with Content-Length"
        );
        request
    }

    fn header(&self, name: &str, file: &str) -> &str {
        self.headers
            .iter()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .unwrap_or_else(|| panic!("{file}: no {name} header"))
    }

    /// The URL the relay called; the vectors were recorded over plain HTTP.
    fn url(&self, file: &str) -> String {
        format!("http://{}{}", self.header("Host", file), self.target)
    }
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn load() -> (VectorSet, PathBuf) {
    let dir = vectors_dir();
    let index = dir.join("vectors.json");
    let json = std::fs::read(&index)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", index.display()));
    let set: VectorSet = serde_json::from_slice(&json)
        .unwrap_or_else(|error| panic!("{} is not a vector set: {error}", index.display()));
    assert!(
        !set.vectors.is_empty(),
        "{} lists no vectors",
        index.display()
    );
    (set, dir)
}

fn dev_receiver(set: &VectorSet) -> Receiver {
    let keys = &set.dev_server;
    Receiver::new(&keys.current_signing_key, &keys.next_signing_key).unwrap()
}

fn read_request(dir: &std::path::Path, vector: &Vector) -> Request {
    let path = dir.join(&vector.file);
    let raw = std::fs::read(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let request = Request::parse(&raw, &vector.file);
    assert_eq!(request.url(&vector.file), vector.url, "{}", vector.file);
    assert_eq!(
        request.header("Upstash-Signature", &vector.file),
        vector.jwt,
        "{}",
        vector.file
    );
    request
}

#[test]
fn each_vector_verifies_exactly_when_expected() {
    let (set, dir) = load();
    let receiver = dev_receiver(&set);
    for vector in &set.vectors {
        let request = read_request(&dir, vector);
        let url = request.url(&vector.file);
        let verdict = receiver.verify_at(
            request.header("Upstash-Signature", &vector.file),
            &request.body,
            Some(&url),
            vector.claims.iat,
        );
        assert_eq!(
            verdict.is_ok(),
            vector.expect_valid,
            "{}: got {verdict:?}",
            vector.file
        );
    }
}

#[test]
fn a_vector_is_rejected_for_another_path() {
    let (set, dir) = load();
    let vector = set
        .vectors
        .iter()
        .find(|vector| vector.expect_valid)
        .expect("at least one valid vector");
    let request = read_request(&dir, vector);
    let other_url = format!("http://{}/other", request.header("Host", &vector.file));
    let verdict = dev_receiver(&set).verify_at(
        request.header("Upstash-Signature", &vector.file),
        &request.body,
        Some(&other_url),
        vector.claims.iat,
    );
    assert_eq!(
        verdict,
        Err(VerifyError::WrongUrl {
            expected: other_url,
            actual: vector.url.clone(),
        })
    );
}
