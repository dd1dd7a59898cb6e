//! Query strings with repeated keys (`dlqIds=a&dlqIds=b`), which serde's
//! urlencoded deserializer cannot express, and unknown-parameter checks.

use crate::error::{ApiError, ApiResult};

/// The query as ordered pairs; comma-separated values are split, so both
/// `label=a&label=b` and `label=a,b` give two values.
pub(crate) struct QueryPairs(Vec<(String, String)>);

impl QueryPairs {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        let pairs = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .flat_map(|(k, v)| {
                let k = k.into_owned();
                v.split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| (k.clone(), v.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect();
        Self(pairs)
    }

    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub(crate) fn first(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// Rejects parameters outside `known`, so a typo is an error rather than
    /// a filter silently ignored (which could delete more than intended).
    pub(crate) fn reject_unknown(&self, known: &[&str]) -> ApiResult<()> {
        match self
            .0
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()) && k != "qstash_token")
        {
            Some((k, _)) => Err(ApiError::bad_request(format!(
                "unknown query parameter {k:?}; known: {}",
                known.join(", ")
            ))),
            None => Ok(()),
        }
    }

    pub(crate) fn number<T: std::str::FromStr>(&self, key: &str) -> ApiResult<Option<T>> {
        self.first(key)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "query parameter {key} must be a number, got {v:?}"
                    ))
                })
            })
            .transpose()
    }
}
