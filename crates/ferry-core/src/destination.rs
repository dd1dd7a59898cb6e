//! Destination URLs: turning what a publisher sent into the exact URL Ferry
//! will call and sign.
//!
//! QStash clients append the destination to `/v2/publish/` without encoding
//! it, and the destination's own query string arrives as the request's query
//! string. The gateway glues the two back together, removes Ferry's own
//! parameters with [`strip_config_query`], and calls [`parse`].
//!
//! Parsing is lenient where proxies and clients are known to mangle URLs and
//! strict where a URL could smuggle something:
//!
//! * A slash merged away by a proxy (`https:/x.com/a`) is repaired, and so is
//!   a destination that was percent-encoded as a whole
//!   (`https%3A%2F%2Fx.com%2Fa%3Fq%3D1`).
//! * Only `http` and `https` are accepted; credentials in the URL and port 0
//!   are refused, as is anything longer than [`MAX_DESTINATION_LEN`].
//! * The URL is parsed with the WHATWG rules of the `url` crate, so what is
//!   kept is that crate's serialisation: the scheme and host are lowercased,
//!   numeric hosts become dotted IPv4 (`0x7f.1` → `127.0.0.1`), a default port
//!   is dropped, characters that may not appear raw are percent-encoded, and
//!   dot segments in the path are resolved (`/a/../b` → `/b`, and also the
//!   escaped spelling `/a/%2e%2e/b` → `/b`). Everything else in the path and
//!   query, including `//` and existing escapes, is kept as given. Resolving
//!   dot segments is accepted on purpose: HTTP clients, ours included, do the
//!   same before sending, so the serialised form is exactly what goes on the
//!   wire, and that same string is what the signature's `sub` claim carries.
//! * A fragment is dropped, because it never goes on the wire; keeping it
//!   would make `sub` disagree with the URL the receiver sees.
//!
//! Whether the address is one Ferry may call is a separate question, answered
//! by [`crate::ssrf`].

use std::fmt;

use url::Url;
use url::form_urlencoded;

#[cfg(test)]
mod tests;

/// The longest destination accepted, in bytes of the raw input. Far above
/// any real webhook URL, and low enough that a destination stays a small part
/// of a stored message.
pub const MAX_DESTINATION_LEN: usize = 8 * 1024;

/// The name of the query parameter that carries an API token in webhook mode.
const TOKEN_PARAM: &str = "qstash_token";

/// The prefix of query parameters that carry publish options in webhook mode.
const CONFIG_PARAM_PREFIX: &str = "upstash-";

/// How a destination URL starts, compared without regard to ASCII case.
const SCHEME_PREFIXES: [&str; 2] = ["http:", "https:"];

/// How a wholly percent-encoded destination URL starts: no valid URL has
/// `%3A` right after `http`, so these cannot be mistaken for anything else.
const ENCODED_SCHEME_PREFIXES: [&str; 2] = ["http%3a", "https%3a"];

/// A validated destination URL, in the exact form that is called and signed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination(Url);

impl Destination {
    /// The URL as it will be requested and as it appears in `sub`.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL, for the HTTP client and for the address policy.
    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a destination was refused. The messages are the ones publishers see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// No scheme, or one other than `http`/`https`.
    #[error("invalid destination url: endpoint has invalid scheme, add http:// or https://")]
    InvalidScheme,
    /// The URL has an empty host, such as `http://` or `https://?x=1`.
    #[error("invalid destination url: host is missing")]
    MissingHost,
    /// The URL carries a user name or password.
    #[error("invalid destination url: credentials in the url are not allowed")]
    UserInfo,
    /// The URL names port 0, which cannot be connected to.
    #[error("invalid destination url: port 0 is not allowed")]
    PortZero,
    /// The raw destination is longer than [`MAX_DESTINATION_LEN`].
    #[error("invalid destination url: {len} bytes is longer than the limit of {max} bytes")]
    TooLong {
        /// Length of the raw destination in bytes.
        len: usize,
        /// The limit it exceeded.
        max: usize,
    },
    /// A wholly percent-encoded destination did not decode to UTF-8.
    #[error("invalid destination url: percent-encoded destination is not valid UTF-8")]
    BadPercentEncoding,
    /// The URL could not be parsed at all, e.g. an invalid IP address or port.
    #[error("invalid destination url: {0}")]
    Malformed(url::ParseError),
}

/// Whether `raw` should be treated as a URL rather than a URL-group name.
///
/// This is true for everything [`parse`] would try to repair, not only for
/// `http://` and `https://` prefixes, so a repairable destination is never
/// looked up as a group. Group names cannot contain `:` or `%`, so nothing a
/// group could be called is taken for a URL.
pub fn looks_like_url(raw: &str) -> bool {
    starts_with_any(raw, &SCHEME_PREFIXES) || starts_with_any(raw, &ENCODED_SCHEME_PREFIXES)
}

/// Validates and normalises a raw destination (path tail plus query, already
/// stripped of Ferry's own parameters).
pub fn parse(raw: &str) -> Result<Destination, DestinationError> {
    if raw.len() > MAX_DESTINATION_LEN {
        return Err(DestinationError::TooLong {
            len: raw.len(),
            max: MAX_DESTINATION_LEN,
        });
    }
    let decoded;
    let raw = if starts_with_any(raw, &ENCODED_SCHEME_PREFIXES) {
        decoded = percent_decode(raw)?;
        decoded.as_str()
    } else {
        raw
    };
    let mut url = Url::parse(raw).map_err(classify_parse_error)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(DestinationError::InvalidScheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DestinationError::UserInfo);
    }
    if url.port() == Some(0) {
        return Err(DestinationError::PortZero);
    }
    url.set_fragment(None);
    Ok(Destination(url))
}

/// Splits Ferry's own parameters out of a raw query string (without the `?`).
///
/// `qstash_token` (an API token in webhook mode) is removed and discarded.
/// `upstash-*` parameters are removed and returned decoded, with lowercased
/// names, so the gateway can treat them like the matching `Upstash-*`
/// headers. Names are matched case-insensitively after decoding.
///
/// Every other parameter is kept byte for byte and in order, so the
/// destination receives its query exactly as the publisher wrote it. If the
/// returned query is empty, the destination gets no `?` at all.
pub fn strip_config_query(query: &str) -> (String, Vec<(String, String)>) {
    let mut kept = Vec::new();
    let mut config = Vec::new();
    for param in query.split('&') {
        match classify_param(param) {
            Param::Destination => kept.push(param),
            Param::Token => {}
            Param::Config(name, value) => config.push((name, value)),
        }
    }
    (kept.join("&"), config)
}

/// Who a query parameter is meant for.
enum Param {
    /// Belongs to the destination's own query.
    Destination,
    /// An API token given in the query.
    Token,
    /// A publish option, decoded, with its name lowercased.
    Config(String, String),
}

fn classify_param(param: &str) -> Param {
    let Some((name, value)) = form_urlencoded::parse(param.as_bytes()).next() else {
        // An empty segment, as in `a=1&&b=2`: part of the destination's bytes.
        return Param::Destination;
    };
    let name = name.to_ascii_lowercase();
    if name == TOKEN_PARAM {
        Param::Token
    } else if name.starts_with(CONFIG_PARAM_PREFIX) {
        Param::Config(name, value.into_owned())
    } else {
        Param::Destination
    }
}

fn classify_parse_error(error: url::ParseError) -> DestinationError {
    match error {
        // A string with no `scheme:` at all, such as `example.com/hook`.
        url::ParseError::RelativeUrlWithoutBase => DestinationError::InvalidScheme,
        url::ParseError::EmptyHost => DestinationError::MissingHost,
        other => DestinationError::Malformed(other),
    }
}

/// Whether `text` starts with one of `prefixes`, ignoring ASCII case.
fn starts_with_any(text: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|prefix| {
        text.as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    })
}

/// Decodes every `%XX` escape once. A `%` not followed by two hex digits is
/// kept as it is, as WHATWG percent-decoding does.
fn percent_decode(raw: &str) -> Result<String, DestinationError> {
    let mut decoded = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = match tail {
            [high, low, after @ ..] if byte == b'%' => hex_value(*high)
                .zip(hex_value(*low))
                .map(|digits| (digits, after)),
            _ => None,
        };
        match escaped {
            Some(((high, low), after)) => {
                decoded.push(high << 4 | low);
                rest = after;
            }
            None => {
                decoded.push(byte);
                rest = tail;
            }
        }
    }
    String::from_utf8(decoded).map_err(|_| DestinationError::BadPercentEncoding)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}
