//! The body of every benchmark message: `<seq>:<send µs>:` padded with `x`
//! to the requested size. The sink reads the sequence number back to count
//! each message as a member of a set (lost, duplicated), and the send time to
//! measure end-to-end latency without any table shared with the publishers.

use std::io::Write as _;

use bytes::Bytes;

#[cfg(test)]
mod tests;

/// What pads a body up to the requested size.
const PAD: u8 = b'x';
/// Longest possible header: two `u64` in decimal and two colons.
const MAX_HEADER_LEN: usize = 2 * 20 + 2;

/// A body of `size` bytes, or just the header when `size` is smaller than it.
pub(super) fn encode(seq: u64, send_us: u64, size: usize) -> Bytes {
    let mut body = Vec::with_capacity(size.max(MAX_HEADER_LEN));
    // Writing into a `Vec` cannot fail.
    let _ = write!(body, "{seq}:{send_us}:");
    if body.len() < size {
        body.resize(size, PAD);
    }
    Bytes::from(body)
}

/// The sequence number and send time in `body`; `None` when it was not
/// written by [`encode`].
pub(super) fn decode(body: &[u8]) -> Option<(u64, u64)> {
    let mut fields = body.splitn(3, |&b| b == b':');
    let seq = parse_u64(fields.next()?)?;
    let send_us = parse_u64(fields.next()?)?;
    let padding = fields.next()?;
    padding.iter().all(|&b| b == PAD).then_some((seq, send_us))
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}
