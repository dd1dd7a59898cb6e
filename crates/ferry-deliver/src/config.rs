//! The deliverer's settings and the cross-field rules they must satisfy.

use std::time::Duration;

use ipnet::IpNet;

/// The shortest lease a deliverer may hold: its heartbeat runs three times
/// per lease, and each renewal is a Redis round trip that must fit.
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct DeliverConfig {
    /// Entries this process holds at once, all partitions together: attempts
    /// running plus entries waiting in a host's lane. Reading pauses at the
    /// bound, so memory stays flat whatever the backlog.
    pub max_in_flight: usize,
    /// Attempts running at once to one destination (scheme, host and port);
    /// more wait in the destination's lane.
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
    /// How long this deliverer's lease lives without a heartbeat. After it
    /// expires (a crash, a pause, Redis out of reach that long) other
    /// deliverers take over its entries; the heartbeat renews it every third
    /// of this.
    pub lease_ttl: Duration,
    /// How often each deliverer looks for entries of deliverers whose lease
    /// expired, and for entries it lost track of itself.
    pub reclaim_interval: Duration,
    /// How long an entry may expect to wait in its destination's lane for a
    /// free slot. An entry that would wait longer (the destination is at its
    /// limit and slow) goes back to Redis, due when a slot should be free.
    pub lane_max_wait: Duration,
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
    /// Seconds the signature's `iat` is back-dated, for receivers whose
    /// clock runs slightly behind ours.
    pub signature_backdate: Duration,
    /// How long shutdown waits for attempts in flight; then the lease is
    /// given up and other deliverers take over what is left.
    pub shutdown_grace: Duration,
    /// Networks deliveries may reach although they are private, loopback or
    /// link-local (empty: only public addresses).
    pub allow_networks: Vec<IpNet>,
}

impl Default for DeliverConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 1024,
            max_in_flight_per_host: 256,
            batch_size: 128,
            read_block: Duration::from_secs(1),
            default_timeout: Duration::from_secs(15 * 60),
            max_timeout: Duration::from_secs(2 * 3600),
            connect_timeout: Duration::from_secs(5),
            lease_ttl: Duration::from_secs(10),
            reclaim_interval: Duration::from_secs(3),
            lane_max_wait: Duration::from_secs(1),
            promote_interval: Duration::from_millis(200),
            schedule_interval: Duration::from_secs(1),
            response_excerpt: 16 * 1024,
            callback_response_max: 10 * 1024 * 1024,
            retry_after_cap: Duration::from_secs(86_400),
            signature_backdate: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(30),
            allow_networks: Vec::new(),
        }
    }
}

impl DeliverConfig {
    /// How often the lease is renewed: three chances per lifetime.
    pub fn heartbeat_interval(&self) -> Duration {
        self.lease_ttl / 3
    }
}

/// A setting that cannot work, found before anything starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("default_timeout ({default:?}) exceeds max_timeout ({max:?})")]
    DefaultTimeoutTooLong { default: Duration, max: Duration },
    #[error("lease_ttl ({ttl:?}) must be at least {min:?}")]
    LeaseTooShort { ttl: Duration, min: Duration },
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
        if self.lease_ttl < MIN_LEASE_TTL {
            return Err(ConfigError::LeaseTooShort {
                ttl: self.lease_ttl,
                min: MIN_LEASE_TTL,
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
    fn attempts_may_outlast_the_lease_many_times() {
        // Attempts and leases are independent: a two-hour attempt under a
        // ten-second lease is the shipped configuration.
        let cfg = DeliverConfig::default();
        assert!(cfg.max_timeout > cfg.lease_ttl * 100);
        cfg.validate().unwrap();
    }

    #[test]
    fn a_lease_too_short_to_renew_is_rejected() {
        let cfg = DeliverConfig {
            lease_ttl: Duration::from_millis(500),
            ..DeliverConfig::default()
        };
        assert!(matches!(
            cfg.validate(),
            Err(ConfigError::LeaseTooShort { .. })
        ));
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
