//! Queues: a tenant's named FIFO lines of messages, each delivered with at
//! most `parallelism` messages in flight.
//!
//! A queue lives in one partition, its tenant's home (see
//! [`crate::placement`]), and its messages are created in that partition, so
//! admitting a waiting message to the ready stream, and freeing a slot when
//! one finishes, are single-slot steps.

/// A queue as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub name: String,
    /// At most this many of its messages are in flight (at least 1).
    pub parallelism: u32,
    pub paused: bool,
    /// Unix ms.
    pub created_at: u64,
    /// Unix ms.
    pub updated_at: u64,
    /// Messages waiting to be admitted.
    pub lag: u64,
    /// Messages admitted and not yet delivered or dead-lettered.
    pub active: u32,
}

/// What an upsert sets on a queue, creating it when needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    pub parallelism: u32,
    pub paused: bool,
}
