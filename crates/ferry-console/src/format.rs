//! How values are written on pages: times, bodies, header maps. Every
//! function returns plain text; the templates escape it.

use base64::Engine as _;
use ferry_core::wire::HeaderMap;

/// Bodies longer than this are shown cut, with a link to download them.
pub(crate) const BODY_PREVIEW_BYTES: usize = 4096;

/// A Unix-ms time as `2026-01-31 23:59:59 UTC`; 0 is "never".
pub(crate) fn time(ms: u64) -> String {
    if ms == 0 {
        return "never".to_owned();
    }
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(
            || ms.to_string(),
            |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
}

/// How far `ms` is from `now_ms`, in the largest whole unit: "in 5 min",
/// "3 h ago".
pub(crate) fn relative(ms: u64, now_ms: u64) -> String {
    let (distance, future) = if ms >= now_ms {
        (ms - now_ms, true)
    } else {
        (now_ms - ms, false)
    };
    let secs = distance / 1000;
    let amount = match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86_400),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A body as the page shows it.
pub(crate) struct BodyView {
    /// The text shown: the body, or its first bytes.
    pub(crate) text: String,
    /// The whole body's size in bytes.
    pub(crate) size: usize,
    pub(crate) truncated: bool,
    /// Not UTF-8: `text` is base64.
    pub(crate) binary: bool,
}

impl BodyView {
    /// From the API's `body` / `bodyBase64` pair.
    pub(crate) fn of(text: Option<&str>, base64: Option<&str>) -> Self {
        match (text, base64) {
            (_, Some(encoded)) => {
                let size = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_or(0, |b| b.len());
                let (text, truncated) = cut(encoded);
                Self {
                    text,
                    size,
                    truncated,
                    binary: true,
                }
            }
            (text, None) => {
                let text = text.unwrap_or_default();
                let (shown, truncated) = cut(text);
                Self {
                    text: shown,
                    size: text.len(),
                    truncated,
                    binary: false,
                }
            }
        }
    }
}

/// The first [`BODY_PREVIEW_BYTES`] of `text`, cut at a character boundary.
fn cut(text: &str) -> (String, bool) {
    if text.len() <= BODY_PREVIEW_BYTES {
        return (text.to_owned(), false);
    }
    let mut end = BODY_PREVIEW_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_owned(), true)
}

/// The raw bytes of the API's `body` / `bodyBase64` pair, for download.
pub(crate) fn body_bytes(text: Option<&str>, base64: Option<&str>) -> Vec<u8> {
    match (text, base64) {
        (_, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_default(),
        (text, None) => text.unwrap_or_default().as_bytes().to_vec(),
    }
}

/// A header map as (name, value) rows, one per value.
pub(crate) fn headers(map: Option<&HeaderMap>) -> Vec<(String, String)> {
    map.into_iter()
        .flatten()
        .flat_map(|(name, values)| values.iter().map(move |v| (name.clone(), v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_at_a_character_boundary() {
        let long = "é".repeat(BODY_PREVIEW_BYTES);
        let view = BodyView::of(Some(&long), None);
        assert!(view.truncated);
        assert_eq!(view.size, long.len());
        assert!(view.text.len() <= BODY_PREVIEW_BYTES);
        assert!(long.starts_with(&view.text));
        let short = BodyView::of(Some("<script>"), None);
        assert_eq!((short.text.as_str(), short.truncated), ("<script>", false));
    }

    #[test]
    fn times_read_in_utc_and_relative_to_now() {
        assert_eq!(time(0), "never");
        assert_eq!(time(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(relative(10_000, 70_000), "1 min ago");
        assert_eq!(relative(3_700_000, 0), "in 1 h");
    }
}
