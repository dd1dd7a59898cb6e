//! Query strings with repeated keys (`dlqIds=a&dlqIds=b`), which serde's
//! urlencoded deserializer cannot express, and unknown-parameter checks.

use ferry_store::{Order, valid_cursor};

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

/// The paging parameters shared by list routes: `cursor`, `count` and `order`.
#[derive(Debug)]
pub(crate) struct Paging {
    pub(crate) cursor: Option<String>,
    pub(crate) count: usize,
    pub(crate) order: Order,
}

impl QueryPairs {
    /// `count` defaults to `default_count` and may not exceed `max_count`;
    /// `order` defaults to `default_order`; a cursor must be one Ferry made.
    pub(crate) fn paging(
        &self,
        default_count: usize,
        max_count: usize,
        default_order: Order,
    ) -> ApiResult<Paging> {
        let count = self.number::<usize>("count")?.unwrap_or(default_count);
        if count == 0 || count > max_count {
            return Err(ApiError::bad_request(format!(
                "count must be between 1 and {max_count}"
            )));
        }
        let order = match self.first("order") {
            None => default_order,
            Some("earliestFirst") => Order::EarliestFirst,
            Some("latestFirst") => Order::LatestFirst,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "order must be earliestFirst or latestFirst, got {other:?}"
                )));
            }
        };
        let cursor = self.first("cursor").map(str::to_owned);
        if let Some(c) = cursor.as_deref().filter(|c| !valid_cursor(c)) {
            return Err(ApiError::bad_request(format!("invalid cursor {c:?}")));
        }
        Ok(Paging {
            cursor,
            count,
            order,
        })
    }
}
