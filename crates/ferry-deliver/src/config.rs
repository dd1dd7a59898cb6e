//! The deliverer's settings and the cross-field rules they must satisfy.

use std::time::Duration;

use ipnet::IpNet;

/// Extra time, beyond the longest attempt, before an idle pending entry may
/// be reclaimed: signing, recording the outcome and clock jitter.
pub const RECLAIM_MARGIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct DeliverConfig {
    /// Attempts in flight at once in this process, all partitions together.
    pub max_in_flight: usize,
    /// Attempts in flight at once to one destination host; more are deferred
    /// so one slow host cannot take every slot.
    pub max_in_flight_per_host: usize,
    /// Most entries read from a partition in one `XREADGROUP`.
    pub batch_size: usize,
    /// How long one read waits for new entries (also bounds shutdown latency).
    pub read_block: Duration,
    /// Per-attempt timeout of messages that set none.
    pub default_timeout: Duration,
    /// Upper bound of any attempt's timeout (`Upstash-Timeout` included).
    pub max_timeout: Duration,
    pub connect_timeout: Duration,
    /// Pending entries idle this long belong to a crashed deliverer and are
    /// taken over; must exceed `max_timeout` plus [`RECLAIM_MARGIN`].
    pub reclaim_min_idle: Duration,
    pub reclaim_interval: Duration,
    /// Longest pause between checks for due delayed messages.
    pub promote_interval: Duration,
    /// How often each partition's due schedules are checked.
    pub schedule_interval: Duration,
    /// Bytes of each failed response kept for the dead-letter queue.
    pub response_excerpt: usize,
    /// Bytes of a response read for the callbacks of a message that has
    /// them: the whole response up to the size of a message (the gateway's
    /// `max_body_bytes`), so a callback carries what the destination
    /// answered. Such a message's dead letter keeps as much.
    pub callback_response_max: usize,
    /// A `Retry-After` longer than this is ignored (normal backoff applies).
    pub retry_after_cap: Duration,
    /// Delay before a deferred message (saturated host) is tried again.
    pub defer_delay: Duration,
    /// Seconds the signature's `iat` is back-dated, for receivers whose
    /// clock runs slightly behind ours.
    pub signature_backdate: Duration,
    /// How long shutdown waits for attempts in flight.
    pub shutdown_grace: Duration,
    /// Networks deliveries may reach although they are private, loopback or
    /// link-local (empty: only public addresses).
    pub allow_networks: Vec<IpNet>,
    /// How long a tenant's signing keys are cached before re-reading them.
    pub key_cache_ttl: Duration,
}

impl Default for DeliverConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 512,
            max_in_flight_per_host: 64,
            batch_size: 128,
            read_block: Duration::from_secs(1),
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            reclaim_min_idle: Duration::from_secs(180),
            reclaim_interval: Duration::from_secs(15),
            promote_interval: Duration::from_millis(200),
            schedule_interval: Duration::from_secs(1),
            response_excerpt: 16 * 1024,
            callback_response_max: 10 * 1024 * 1024,
            retry_after_cap: Duration::from_secs(86_400),
            defer_delay: Duration::from_secs(1),
            signature_backdate: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(30),
            allow_networks: Vec::new(),
            key_cache_ttl: Duration::from_secs(5),
        }
    }
}

/// A setting that cannot work, found before anything starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "reclaim_min_idle ({min_idle:?}) must exceed max_timeout ({max_timeout:?}) plus {margin:?}: \
         otherwise a slow but live attempt is reclaimed and delivered twice"
    )]
    ReclaimTooEager {
        min_idle: Duration,
        max_timeout: Duration,
        margin: Duration,
    },
    #[error("default_timeout ({default:?}) exceeds max_timeout ({max:?})")]
    DefaultTimeoutTooLong { default: Duration, max: Duration },
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

impl DeliverConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("max_in_flight", self.max_in_flight),
            ("max_in_flight_per_host", self.max_in_flight_per_host),
            ("batch_size", self.batch_size),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if self.default_timeout > self.max_timeout {
            return Err(ConfigError::DefaultTimeoutTooLong {
                default: self.default_timeout,
                max: self.max_timeout,
            });
        }
        if self.reclaim_min_idle <= self.max_timeout + RECLAIM_MARGIN {
            return Err(ConfigError::ReclaimTooEager {
                min_idle: self.reclaim_min_idle,
                max_timeout: self.max_timeout,
                margin: RECLAIM_MARGIN,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        DeliverConfig::default().validate().unwrap();
    }

    #[test]
    fn reclaim_must_outlast_the_longest_attempt() {
        let cfg = DeliverConfig {
            max_timeout: Duration::from_secs(60),
            reclaim_min_idle: Duration::from_secs(64),
            ..DeliverConfig::default()
        };
        assert!(matches!(
            cfg.validate(),
            Err(ConfigError::ReclaimTooEager { .. })
        ));
        let cfg = DeliverConfig {
            reclaim_min_idle: Duration::from_secs(66),
            ..cfg
        };
        cfg.validate().unwrap();
    }

    #[test]
    fn zero_limits_are_rejected() {
        let cfg = DeliverConfig {
            max_in_flight: 0,
            ..DeliverConfig::default()
        };
        assert_eq!(cfg.validate(), Err(ConfigError::Zero("max_in_flight")));
    }
}
