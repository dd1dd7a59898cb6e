//! Ferry's core: the message model, publish options parsed from `Upstash-*`
//! headers, flow-control settings, cron schedules, retry policy and delay expressions, destination validation,
//! address policy for outbound calls, and delivery signing and verification.
//!
//! **Invariant:** no I/O, no tokio, no Redis, no HTTP framework. Everything
//! here is a pure function of its inputs (time is always passed in), so the
//! gateway, the deliverer, the store and the SDK can share it and tests can
//! pin it with fixed clocks.

pub mod clock;
pub mod cron;
pub mod destination;
pub mod duration;
pub mod flow;
pub mod ids;
pub mod message;
pub mod publish;
pub mod retry;
pub mod signing;
pub mod ssrf;
pub mod wire;
pub mod workflow;
