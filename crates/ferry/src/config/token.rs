//! API tokens as text: making new ones, and the hex form of their SHA-256
//! digests as the configuration writes them.
//!
//! The digest itself is `ferry_gateway::Tokens::digest`, so the value an
//! operator puts in `token_sha256` is by construction the one the gateway
//! compares against.

use uuid::Uuid;

const TOKEN_PREFIX: &str = "ferry_";

/// Random characters after the prefix: 40 × 6 bits = 240 bits.
const TOKEN_RANDOM_LEN: usize = 40;

/// The URL-safe base64 alphabet. It has exactly 64 characters, so the low
/// six bits of a random byte pick each one with equal probability.
const URL_SAFE_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Bytes 6 and 8 of a v4 UUID carry its version and variant bits, so only
/// the other 14 bytes are fully random.
const UUID_V4_FIXED_BYTES: [usize; 2] = [6, 8];

/// Length of a SHA-256 digest written in hex.
pub(super) const DIGEST_HEX_LEN: usize = 64;

/// `ferry_` followed by 40 random URL-safe characters.
///
/// The randomness comes from v4 UUIDs, which the `uuid` crate draws from the
/// operating system's CSPRNG.
pub(super) fn random_token() -> String {
    let random = std::iter::repeat_with(Uuid::new_v4)
        .flat_map(|uuid| {
            uuid.into_bytes()
                .into_iter()
                .enumerate()
                .filter(|(idx, _)| !UUID_V4_FIXED_BYTES.contains(idx))
                .map(|(_, byte)| char::from(URL_SAFE_ALPHABET[usize::from(byte % 64)]))
        })
        .take(TOKEN_RANDOM_LEN);
    TOKEN_PREFIX.chars().chain(random).collect()
}

/// Lowercase hex of `bytes`.
pub(super) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Reads 64 hex digits (either case) as a digest.
pub(super) fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != DIGEST_HEX_LEN {
        return None;
    }
    let mut digest = [0; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(digest)
}

/// The value of one hex digit. Written out rather than using
/// `u8::from_str_radix`, which also accepts a leading `+`.
fn hex_digit(character: u8) -> Option<u8> {
    let value = char::from(character).to_digit(16)?;
    u8::try_from(value).ok()
}
