//! Ferry's Rust SDK: what an application needs to use a Ferry relay.
//!
//! - [`Client`] publishes messages (to a URL or a URL group) and manages
//!   them (messages, dead letters, URL groups, queues, schedules, flow
//!   control, logs, workflow runs, signing keys) over the QStash v2 REST API.
//! - [`Receiver`] checks the `Upstash-Signature` of a delivery in the
//!   destination handler.
//!
//! The JSON shapes of the API are re-exported as [`wire`], so callers use the
//! exact types the relay serialises.
//!
//! **Invariant:** depends on `ferry-core` only, never on the store, the
//! gateway or the deliverer.

mod client;
pub mod verify;

pub use client::{
    CancelQuery, Client, DlqOrder, DlqQuery, Error, FlowControl, FlowPin, LogOrder, LogQuery,
    PublishOptions, Result, ScheduleOptions, WorkflowCancel, WorkflowRunQuery,
};
pub use ferry_core::wire;
pub use http::Method;
pub use verify::Receiver;
