//! Ferry's integration tests, one binary (see `tests/support` for the
//! harness). Every test starts its own `redis-server`; nothing is mocked.

mod bad_input;
mod batch;
mod bench;
mod cancel;
mod cli;
mod cluster_failover;
mod conformance;
mod connections;
mod console;
mod crash;
mod deliverers;
mod delivery;
mod dlq;
mod events;
mod flow_control;
mod gateway_process;
mod lanes;
mod partition_metrics;
mod queues;
mod quotas;
mod readme;
mod readme_workflow;
mod redis_backed;
mod retries;
mod schedules;
mod sdk_js;
mod sdk_parity;
mod sdk_py;
mod ssrf;
mod timeouts;
mod topics;
mod workflow_events_js;
mod workflow_js;
mod workflow_py;
mod workflow_runs_js;
