//! Environment variables as the last configuration layer.
//!
//! `FERRY_<SECTION>__<KEY>` sets `<section>.<key>`: the name after the
//! prefix is lowercased and split at each `__`, so single underscores stay
//! inside key names (`FERRY_DELIVER__MAX_IN_FLIGHT` is
//! `deliver.max_in_flight`). Only variables that name one of the sections
//! are read; other `FERRY_*` variables (the command line's `FERRY_CONFIG`,
//! `FERRY_URL` and `FERRY_TOKEN`, or a test harness's
//! `FERRY_TEST_REDIS_URL`) are not configuration keys and would otherwise
//! fail loading as unknown ones.
//!
//! Values stay strings, so a token made of digits stays a token; numeric
//! settings accept them because loading is lossy in that direction. A value
//! starting with `[` or `{` is read as a list or table in figment's syntax,
//! e.g. `FERRY_DELIVER__ALLOW_NETWORKS='["10.0.0.0/8", "fd00::/8"]'` or
//! `FERRY_TENANTS='[{name = "default", token_sha256 = ["<hex>"]}]'`.
//!
//! The pairs are passed in rather than read from the process, which keeps
//! loading a pure function and lets tests run in parallel.

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

/// The prefix that marks a variable as Ferry configuration.
const PREFIX: &str = "FERRY_";

/// Separates nesting levels in a variable name.
const SEPARATOR: &str = "__";

/// The top-level keys of the configuration, in the file's order.
pub(super) const SECTIONS: [&str; 7] = [
    "redis",
    "gateway",
    "deliver",
    "retention",
    "log",
    "console",
    "tenants",
];

/// A figment provider holding the configuration found in environment pairs.
pub(super) struct EnvLayer {
    dict: Dict,
}

impl EnvLayer {
    pub(super) fn new(pairs: &[(String, String)]) -> Self {
        let mut dict = Dict::new();
        for (name, value) in pairs {
            if let Some(path) = key_path(name) {
                insert(&mut dict, &path, parse_value(value));
            }
        }
        Self { dict }
    }
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        // Errors then name the variable to fix, not the dotted key.
        Metadata::named("environment").interpolater(|_profile, keys| variable_name(keys))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// `FERRY_REDIS__URL` → `["redis", "url"]`; `None` if the variable is not
/// configuration.
fn key_path(name: &str) -> Option<Vec<String>> {
    let path: Vec<String> = name
        .strip_prefix(PREFIX)?
        .to_ascii_lowercase()
        .split(SEPARATOR)
        .map(str::to_owned)
        .collect();
    let section = path.first()?;
    SECTIONS.contains(&section.as_str()).then_some(path)
}

/// The variable that sets the key at `keys`, for error messages.
fn variable_name(keys: &[&str]) -> String {
    format!("{PREFIX}{}", keys.join(SEPARATOR).to_ascii_uppercase())
}

fn parse_value(raw: &str) -> Value {
    let is_structured = raw.trim_start().starts_with(['[', '{']);
    if is_structured {
        // Parsing is infallible: text that is not a well-formed list or
        // table comes back as a string, and the field's type then rejects it
        // with the key's name.
        raw.parse().unwrap_or_else(|never| match never {})
    } else {
        Value::from(raw.to_owned())
    }
}

/// Sets `path` in `dict`, creating tables on the way. A later variable wins
/// over an earlier one that set the same key or a table above it.
fn insert(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let mut child = match dict.remove(first) {
                Some(Value::Dict(_, child)) => child,
                _ => Dict::new(),
            };
            insert(&mut child, rest, value);
            dict.insert(first.clone(), Value::from(child));
        }
    }
}
