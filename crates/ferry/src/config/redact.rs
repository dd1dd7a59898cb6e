//! Keeps secrets out of the errors the configuration library reports.
//!
//! Our own conversions (`convert.rs`) never echo a secret. The library's
//! errors do, when a value has the wrong shape: a token written as a string
//! instead of a list, or a signing key pair written as one string, comes
//! back as `invalid type: found string "<the token>"`, and a TOML syntax
//! error quotes the offending line of the file. So every value under a key
//! that may hold a secret is replaced by its kind, and quoted source lines
//! are dropped from every error (the line and column numbers remain).

use figment::error::{Actual, Kind};

/// Keys whose values may be secrets, or contain them: every tenant setting
/// (tokens, digests, signing keys), the Redis URL (a password), the
/// console's session secret.
fn is_secret(path: &[String]) -> bool {
    match path {
        [section, ..] if section == "tenants" => true,
        [section, key, ..] => {
            (section == "redis" && key == "url")
                || (section == "console" && key == "session_secret")
        }
        _ => false,
    }
}

/// `error`, and every error chained to it, without secret values.
pub(super) fn figment_error(error: figment::Error) -> figment::Error {
    let mut redacted: Vec<figment::Error> = error.into_iter().map(redact_one).collect();
    // `into_iter` yields the newest error first; chaining rebuilds the
    // chain from the oldest.
    let mut chain = redacted.pop().expect("an error holds at least itself");
    while let Some(newer) = redacted.pop() {
        chain = chain.chain(newer);
    }
    chain
}

fn redact_one(mut error: figment::Error) -> figment::Error {
    let secret = is_secret(&error.path);
    error.kind = match error.kind {
        Kind::Message(message) => Kind::Message(without_source_lines(&message)),
        Kind::InvalidType(actual, expected) if secret => {
            Kind::InvalidType(hidden(actual), expected)
        }
        Kind::InvalidValue(actual, expected) if secret => {
            Kind::InvalidValue(hidden(actual), expected)
        }
        Kind::UnknownVariant(_, expected) if secret => {
            Kind::UnknownVariant("[redacted]".to_owned(), expected)
        }
        Kind::Unsupported(actual) if secret => Kind::Unsupported(hidden(actual)),
        other => other,
    };
    error
}

/// The kind of a value, without the value.
fn hidden(actual: Actual) -> Actual {
    let kind = match actual {
        Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Char(_) => "a character",
        Actual::Unsigned(_) | Actual::Signed(_) => "a number",
        Actual::Float(_) => "a float",
        Actual::Other(_) => "a value",
        structural => return structural,
    };
    Actual::Other(format!("{kind} (value not shown)"))
}

/// A parser's message without the quoted source: TOML syntax errors show
/// the offending line as `12 | tokens = ["...`, under a `|` gutter.
fn without_source_lines(message: &str) -> String {
    message
        .lines()
        .filter(|line| {
            !line
                .trim_start()
                .split_once('|')
                .is_some_and(|(gutter, _)| gutter.trim().chars().all(|c| c.is_ascii_digit()))
        })
        .collect::<Vec<_>>()
        .join("\n")
}
