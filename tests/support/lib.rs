//! Test support for Ferry's integration tests: a real `redis-server` per test,
//! a scriptable HTTP sink, and a Ferry (gateway + deliverer) started on
//! loopback with a private key prefix.

pub mod browser;
pub mod console;
pub mod ferry;
pub mod redis;
pub mod sink;
