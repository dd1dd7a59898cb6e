//! The outbound address policy: which IP addresses Ferry may call.
//!
//! Ferry calls URLs that publishers choose, so without a policy anyone who can
//! publish could make the relay reach the cloud metadata service, the Redis
//! next to it, or any other internal host (server-side request forgery). The
//! policy denies every loopback, private, link-local, shared, reserved,
//! documentation, multicast and translation range, and lets the operator admit
//! chosen networks back with an explicit allowlist (`deliver.allow_networks`),
//! which is empty by default.
//!
//! The policy is applied at two points, because neither covers everything:
//!
//! * [`AddressPolicy::check_url`] judges URLs whose host is an IP literal.
//!   HTTP clients connect to literals without any name lookup, so a resolver
//!   filter never sees them. The `url` crate has already turned every numeric
//!   spelling (`0x7f.1`, `2130706433`, `0177.0.0.1`, `127.1`, …) into a real
//!   address by the time this runs, so no string matching is involved.
//! * [`AddressPolicy::check_ip`] judges each address a host name resolves to.
//!   The delivery client's resolver calls it and connects only to addresses
//!   that passed, so a name cannot be re-pointed between check and connect.
//!
//! Every address is first canonicalised with [`IpAddr::to_canonical`], so an
//! IPv4-mapped IPv6 address (`::ffff:0:0/96`, such as `::ffff:127.0.0.1`) is
//! judged by the IPv4 rules for the address it carries. That is how the
//! `::ffff:0:0/96` range is covered: no mapped address survives
//! canonicalisation, so the table below has no row for it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use url::{Host, Url};

#[cfg(test)]
mod tests;

/// The configuration key that admits networks; named in refusal messages so
/// an operator who hits one knows where the switch is.
const ALLOW_KEY: &str = "deliver.allow_networks";

/// Why an outbound call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The address lies in a denied range and not on the allowlist.
    #[error("refused {ip}: {reason} (add it to {ALLOW_KEY} to permit it)")]
    Address {
        /// The canonical address that was refused.
        ip: IpAddr,
        /// What the denied range is, e.g. `loopback address`.
        reason: &'static str,
    },
    /// The URL's scheme is not `http` or `https`. Other schemes are refused
    /// outright: the `url` crate keeps their hosts opaque, so an IP literal
    /// in them would not even be recognised as one.
    #[error("refused scheme {scheme:?}: only http and https destinations are called")]
    Scheme {
        /// The scheme the URL had.
        scheme: String,
    },
}

impl Refused {
    /// The refusal as told about a host name: the range, without the
    /// address the name resolved to. Publishers see this reason (in dead
    /// letters and the log), and the addresses behind names are the
    /// operator's business: naming them would let a publisher map internal
    /// names to internal addresses.
    pub fn without_address(&self) -> String {
        match self {
            Self::Address { reason, .. } => {
                format!("{reason} (add its network to {ALLOW_KEY} to permit it)")
            }
            Self::Scheme { .. } => self.to_string(),
        }
    }
}

/// Decides which addresses outbound calls may reach.
///
/// Build it once from configuration and share it (it is immutable).
#[derive(Debug, Clone)]
pub struct AddressPolicy {
    /// Networks admitted even though a denied range contains them; stored in
    /// canonical form so they compare with canonical addresses.
    allow: Vec<IpNet>,
}

impl AddressPolicy {
    /// A policy that denies every range in the deny table except the networks
    /// in `allow`.
    ///
    /// IPv4-mapped IPv6 entries (`::ffff:10.0.0.0/104`) are rewritten to the
    /// IPv4 network they describe, because addresses are canonicalised before
    /// they are compared; left as written they would never match.
    pub fn new(allow: Vec<IpNet>) -> Self {
        let allow = allow.into_iter().map(canonical_net).collect();
        Self { allow }
    }

    /// A policy with an empty allowlist: only public addresses are reachable.
    /// This is the production default.
    pub fn deny_private() -> Self {
        Self::new(Vec::new())
    }

    /// Admits `ip` if it is on the allowlist or outside every denied range.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        let ip = ip.to_canonical();
        if self.allow.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match denied_range(ip) {
            Some(reason) => Err(Refused::Address { ip, reason }),
            None => Ok(()),
        }
    }

    /// Admits `url` if its scheme is `http` or `https` and, when its host is an
    /// IP literal, that address passes [`check_ip`](Self::check_ip).
    ///
    /// Host names pass here: they are judged address by address after they
    /// are resolved, which is the only point where the real target is known.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme {
                scheme: url.scheme().to_owned(),
            });
        }
        match url.host() {
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(Host::Domain(_)) | None => Ok(()),
        }
    }
}

/// Rewrites an IPv4-mapped IPv6 network to the IPv4 network it describes, so
/// allowlist entries live in the same form as canonicalised addresses.
fn canonical_net(net: IpNet) -> IpNet {
    const MAPPED_PREFIX_LEN: u8 = 96;
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= MAPPED_PREFIX_LEN => {
            match v6.network().to_ipv4_mapped() {
                Some(v4) => IpNet::new_assert(
                    IpAddr::V4(v4),
                    // At least 96 by the guard and at most 128 for any IPv6
                    // network, so the IPv4 length is within 0..=32.
                    v6.prefix_len() - MAPPED_PREFIX_LEN,
                ),
                None => net,
            }
        }
        _ => net,
    }
}

/// The first denied range that contains the canonical address `ip`, as its
/// human description.
fn denied_range(ip: IpAddr) -> Option<&'static str> {
    DENIED
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, reason)| *reason)
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix_len: u8) -> IpNet {
    IpNet::new_assert(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), prefix_len)
}

const fn v6(segments: [u16; 8], prefix_len: u8) -> IpNet {
    let [a, b, c, d, e, f, g, h] = segments;
    IpNet::new_assert(
        IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
        prefix_len,
    )
}

const LOOPBACK: &str = "loopback address";
const PRIVATE: &str = "private network address";
const DOCUMENTATION: &str = "documentation address";
const MULTICAST: &str = "multicast address";

/// The ranges outbound calls may not reach, with the reason given to the
/// operator. More specific ranges come before the ranges that contain them
/// (`::` and `::1` before `::/96`), so the reason is the most precise one.
///
/// `Ipv4Addr::is_global` and its relatives are still unstable, so the list is
/// spelled out; it follows the IANA special-purpose registries.
const DENIED: &[(IpNet, &str)] = &[
    (v4(0, 0, 0, 0, 8), "\"this network\" address"),
    (v4(10, 0, 0, 0, 8), PRIVATE),
    (v4(100, 64, 0, 0, 10), "shared (carrier-grade NAT) address"),
    (v4(127, 0, 0, 0, 8), LOOPBACK),
    (
        v4(169, 254, 0, 0, 16),
        "link-local address (this includes cloud metadata services)",
    ),
    (v4(172, 16, 0, 0, 12), PRIVATE),
    (v4(192, 0, 0, 0, 24), "IETF protocol assignment address"),
    (v4(192, 0, 2, 0, 24), DOCUMENTATION),
    (v4(192, 88, 99, 0, 24), "6to4 relay anycast address"),
    (v4(192, 168, 0, 0, 16), PRIVATE),
    (v4(198, 18, 0, 0, 15), "benchmarking address"),
    (v4(198, 51, 100, 0, 24), DOCUMENTATION),
    (v4(203, 0, 113, 0, 24), DOCUMENTATION),
    (v4(224, 0, 0, 0, 4), MULTICAST),
    (v4(240, 0, 0, 0, 4), "reserved or broadcast address"),
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified address"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), LOOPBACK),
    // Deprecated IPv4-compatible addresses (`::a.b.c.d`): not in the usual
    // lists, but some stacks still tunnel them to the embedded IPv4 address.
    (
        v6([0, 0, 0, 0, 0, 0, 0, 0], 96),
        "IPv4-compatible address (deprecated)",
    ),
    (
        v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),
        "NAT64 address (embeds an IPv4 address)",
    ),
    (
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "local-use NAT64 address (embeds an IPv4 address)",
    ),
    // IPv4-translated addresses (`::ffff:0:a.b.c.d`, SIIT): unlike mapped
    // ones, canonicalisation leaves them IPv6.
    (
        v6([0, 0, 0, 0, 0xffff, 0, 0, 0], 96),
        "IPv4-translated address (embeds an IPv4 address)",
    ),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only address"),
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),
        "Teredo address (embeds an IPv4 address)",
    ),
    (
        v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48),
        "benchmarking address",
    ),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), DOCUMENTATION),
    (
        v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16),
        "6to4 address (embeds an IPv4 address)",
    ),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), DOCUMENTATION),
    (
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "unique local address (this includes cloud metadata services)",
    ),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local address"),
    (
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "site-local address (deprecated)",
    ),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), MULTICAST),
];
