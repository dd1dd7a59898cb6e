//! The HTTP client that calls destinations, built so a publisher-chosen URL
//! cannot reach anything the address policy refuses.
//!
//! A default `reqwest` client would undo the policy in three ways, so each is
//! closed here:
//!
//! * It resolves names with the system resolver and connects to whatever
//!   comes back. Ours resolves through `PolicyResolver`, which drops every
//!   refused address, so the connection can only go to an address that was
//!   checked; a name cannot be re-pointed between the check and the connect.
//! * It honours `HTTP_PROXY`/`ALL_PROXY` from the environment, and then the
//!   proxy resolves the target instead of us. Proxies are switched off.
//! * It follows redirects, each one a fresh, unchecked destination (an IP
//!   literal would not even pass through the resolver). Redirects are not
//!   followed: a 3xx is handed back as the attempt's status.
//!
//! IP-literal hosts never reach a resolver, so callers must run
//! `AddressPolicy::check_url` on every destination before sending to it.
//!
//! Response bodies come from untrusted servers, so they are read with
//! [`read_capped`], never collected whole.

use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_core::ssrf::{AddressPolicy, Refused};
use http::HeaderValue;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::Policy;

#[cfg(test)]
mod tests;

/// Settings of the delivery client, converted from configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Limit on opening a connection; also bounds each name lookup, since a
    /// hung resolver would otherwise hold an attempt until its total timeout.
    pub connect_timeout: Duration,
    /// Default limit on a whole attempt, from connect to the last body byte.
    /// Callers override it per request when a message has its own timeout.
    pub attempt_timeout: Duration,
    /// How long an unused pooled connection is kept open.
    pub pool_idle_timeout: Duration,
    /// How many unused connections are kept per host.
    pub pool_max_idle_per_host: usize,
    /// The `User-Agent` sent with every delivery.
    pub user_agent: String,
}

/// Why the delivery client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The configured user agent is not a valid header value.
    #[error("invalid user agent {user_agent:?}")]
    InvalidUserAgent {
        /// The rejected value.
        user_agent: String,
        /// Why it was rejected.
        #[source]
        source: http::header::InvalidHeaderValue,
    },
    /// reqwest refused the configuration, e.g. because TLS could not start.
    #[error("building the delivery http client")]
    Build(#[source] reqwest::Error),
}

/// Builds the client used for every delivery attempt.
pub fn build(
    cfg: &ClientConfig,
    policy: Arc<AddressPolicy>,
) -> Result<reqwest::Client, ClientError> {
    let user_agent =
        HeaderValue::from_str(&cfg.user_agent).map_err(|source| ClientError::InvalidUserAgent {
            user_agent: cfg.user_agent.clone(),
            source,
        })?;
    let resolver = PolicyResolver {
        policy,
        lookup_timeout: cfg.connect_timeout,
    };
    reqwest::Client::builder()
        .no_proxy()
        .redirect(Policy::none())
        // Every request is one attempt in Ferry's own accounting; a transparent
        // retry inside the client would make attempt counts and logs lie.
        .retry(reqwest::retry::never())
        .dns_resolver(resolver)
        .connect_timeout(cfg.connect_timeout)
        .timeout(cfg.attempt_timeout)
        .pool_idle_timeout(cfg.pool_idle_timeout)
        .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
        .user_agent(user_agent)
        .build()
        .map_err(ClientError::Build)
}

/// Reads at most `cap` bytes of a response body.
///
/// Returns the bytes kept and whether the body was longer. Reading stops as
/// soon as the cap is reached and the rest of the body is never read; dropping
/// the response then closes the connection. At most `cap` bytes plus one
/// chunk are held in memory, whatever the server sends.
pub async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<(Bytes, bool), reqwest::Error> {
    let mut kept = BytesMut::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = cap - kept.len();
        if chunk.len() > room {
            kept.extend_from_slice(&chunk[..room]);
            return Ok((kept.freeze(), true));
        }
        kept.extend_from_slice(&chunk);
    }
    Ok((kept.freeze(), false))
}

/// The refusal message if `err` happened because the address policy refused
/// every address the destination's name resolved to.
///
/// Such an attempt will fail the same way every time, so the caller can
/// dead-letter the message at once and show this reason.
pub fn refused_by_policy(err: &reqwest::Error) -> Option<String> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = cause {
        if let Some(refusal @ ResolveError::Refused { .. }) = current.downcast_ref::<ResolveError>()
        {
            return Some(refusal.to_string());
        }
        cause = current.source();
    }
    None
}

/// Why a name could not be resolved to an address the client may use.
#[derive(Debug, thiserror::Error)]
enum ResolveError {
    #[error("looking up {host}")]
    Lookup {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("looking up {host} took longer than {timeout:?}")]
    TimedOut { host: String, timeout: Duration },
    #[error("{host} has no addresses")]
    NoAddresses { host: String },
    /// Every address was refused; the first refusal's range is named
    /// because operators fix these one network at a time, but not the
    /// address (see [`Refused::without_address`]); it is logged instead.
    #[error("{host} resolves only to refused addresses: {}", .first.without_address())]
    Refused { host: String, first: Refused },
}

/// A resolver that hands the connector only addresses the policy admits.
///
/// It uses the system resolver (`getaddrinfo`, through tokio), so hosts-file
/// names like `localhost` go through the same filter as DNS answers.
struct PolicyResolver {
    policy: Arc<AddressPolicy>,
    lookup_timeout: Duration,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let lookup_timeout = self.lookup_timeout;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved = lookup(&host, lookup_timeout).await?;
            let admitted = admit(&policy, &host, resolved)?;
            let addrs: Addrs = Box::new(admitted.into_iter());
            Ok(addrs)
        })
    }
}

/// Resolves `host` with the system resolver, bounded by `timeout`.
async fn lookup(host: &str, timeout: Duration) -> Result<Vec<SocketAddr>, ResolveError> {
    // Port 0 stands for "the URL's port": the connector fills it in.
    let lookup = tokio::net::lookup_host((host, 0));
    match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(addrs)) => Ok(addrs.collect()),
        Ok(Err(source)) => Err(ResolveError::Lookup {
            host: host.to_owned(),
            source,
        }),
        Err(_elapsed) => Err(ResolveError::TimedOut {
            host: host.to_owned(),
            timeout,
        }),
    }
}

/// Keeps the canonical form of every address the policy admits, or explains
/// why none is left.
fn admit(
    policy: &AddressPolicy,
    host: &str,
    resolved: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let mut admitted = Vec::with_capacity(resolved.len());
    let mut first_refusal = None;
    for addr in resolved {
        // Canonical form, so a mapped `::ffff:a.b.c.d` answer is dialled as
        // the IPv4 address that was checked.
        let ip = addr.ip().to_canonical();
        match policy.check_ip(ip) {
            Ok(()) => admitted.push(SocketAddr::new(ip, addr.port())),
            Err(refused) => {
                first_refusal.get_or_insert(refused);
            }
        }
    }
    if !admitted.is_empty() {
        return Ok(admitted);
    }
    let host = host.to_owned();
    Err(match first_refusal {
        Some(first) => {
            tracing::warn!(dest.host = %host, refusal = %first, "destination refused by the address policy");
            ResolveError::Refused { host, first }
        }
        None => ResolveError::NoAddresses { host },
    })
}
