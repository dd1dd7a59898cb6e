//! The per-partition loops (read, promote, fire schedules, reclaim) and the life of one
//! attempt from a claimed entry to its recorded outcome.

use std::sync::Arc;
use std::time::Duration;

use ferry_core::cron::CronSchedule;
use ferry_core::ids::Partition;
use ferry_store::{
    Claimed, DeliveredEntry, EventDetail, FlowSlot, KeyPair, Outcome, OutcomeRecord, Reader,
    Recorded, Store, StoredMessage,
};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::attempt::{self, AttemptResult, Verdict};
use crate::callbacks::{self, Kind};
use crate::recorder::{self, Ack};
use crate::{Shared, now_ms};

/// Longest pause after a store error before a loop tries again.
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(5);
/// Most due delayed messages moved per promote call.
const PROMOTE_BATCH: usize = 500;
/// Most due schedules fired per partition per check.
const SCHEDULE_BATCH: usize = 100;
/// Most flow-control keys woken per partition per check.
const WAKE_BATCH: usize = 100;

/// One partition's view of the deliverer.
struct Lane<S> {
    shared: Arc<Shared<S>>,
    partition: Partition,
    acks: mpsc::Sender<Ack>,
}

pub(crate) async fn run_partitions<S: Store>(shared: Arc<Shared<S>>, shutdown: CancellationToken) {
    let mut loops = JoinSet::new();
    let mut recorders = JoinSet::new();
    for p in 0..shared.store.partitions() {
        let partition = Partition(p);
        let (acks, rx) = mpsc::channel(shared.cfg.max_in_flight);
        recorders.spawn(recorder::run(shared.store.clone(), partition, rx));
        let lane = Arc::new(Lane {
            shared: shared.clone(),
            partition,
            acks,
        });
        loops.spawn(read_loop(lane.clone(), shutdown.clone()));
        loops.spawn(promote_loop(lane.clone(), shutdown.clone()));
        loops.spawn(schedule_loop(lane.clone(), shutdown.clone()));
        loops.spawn(reclaim_loop(lane, shutdown.clone()));
    }
    while loops.join_next().await.is_some() {}

    shared.tracker.close();
    let grace = shared.cfg.shutdown_grace;
    if tokio::time::timeout(grace, shared.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            in_flight = shared.tracker.len(),
            "shutdown grace elapsed with attempts in flight; their entries stay pending and will be reclaimed"
        );
        recorders.abort_all();
    }
    // Every lane is gone once the attempts finished, so the recorders see
    // their channels close after recording what was sent.
    drop(shared);
    while recorders.join_next().await.is_some() {}
    tracing::info!("deliverer stopped");
}

/// Waits `pause`, or less if shutdown fires; true when shutting down.
async fn pause_or_shutdown(pause: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(pause) => false,
    }
}

fn next_backoff(current: Duration) -> Duration {
    (current * 2).clamp(Duration::from_millis(100), MAX_ERROR_BACKOFF)
}

async fn read_loop<S: Store>(lane: Arc<Lane<S>>, shutdown: CancellationToken) {
    let shared = &lane.shared;
    let mut backoff = Duration::ZERO;
    let mut reader = loop {
        match shared.store.reader(lane.partition, &shared.consumer).await {
            Ok(reader) => break reader,
            Err(e) => {
                tracing::error!(error = %e, partition = %lane.partition, "cannot open a reader");
                backoff = next_backoff(backoff);
                if pause_or_shutdown(backoff, &shutdown).await {
                    return;
                }
            }
        }
    };
    backoff = Duration::ZERO;
    // How many entries to ask for next: doubles while reads come back full,
    // drops to what the last read found otherwise. An idle reader then
    // waits holding a single permit instead of a whole batch's worth, which
    // the reclaimer and busier partitions need.
    let mut want = 1;
    loop {
        // Permits come before the read, so at most `max_in_flight` entries
        // are ever taken from the stream and not yet finished.
        let Some(permits) = take_permits(shared, want, &shutdown).await else {
            return;
        };
        // The read is not raced against shutdown: a read cut short could
        // leave entries pending that nobody works on until reclaim. It ends
        // within `read_block` anyway.
        match reader.read(permits.len(), shared.cfg.read_block).await {
            Ok(claimed) => {
                backoff = Duration::ZERO;
                want = if claimed.len() == permits.len() {
                    (want * 2).min(shared.cfg.batch_size)
                } else {
                    claimed.len().max(1)
                };
                for (entry, permit) in claimed.into_iter().zip(permits) {
                    spawn_attempt(&lane, entry, permit);
                }
            }
            Err(e) => {
                drop(permits);
                tracing::error!(error = %e, partition = %lane.partition, "reading ready messages failed");
                backoff = next_backoff(backoff);
                if pause_or_shutdown(backoff, &shutdown).await {
                    return;
                }
            }
        }
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// Waits for one in-flight permit, then takes up to `want` without waiting;
/// `None` on shutdown.
async fn take_permits<S>(
    shared: &Shared<S>,
    want: usize,
    shutdown: &CancellationToken,
) -> Option<Vec<OwnedSemaphorePermit>> {
    let first = tokio::select! {
        () = shutdown.cancelled() => return None,
        // The semaphore is never closed, so an error cannot happen.
        permit = shared.permits.clone().acquire_owned() => permit.ok()?,
    };
    let mut permits = vec![first];
    while permits.len() < want {
        match shared.permits.clone().try_acquire_owned() {
            Ok(permit) => permits.push(permit),
            Err(_) => break,
        }
    }
    Some(permits)
}

/// Moves due delayed messages to the ready stream, and admits the waiting
/// messages of flow-control keys whose rate window reopened.
async fn promote_loop<S: Store>(lane: Arc<Lane<S>>, shutdown: CancellationToken) {
    let shared = &lane.shared;
    let interval = shared.cfg.promote_interval;
    let mut backoff = Duration::ZERO;
    loop {
        let now = now_ms();
        let pause = match promote_and_wake(&lane, now).await {
            Ok((full, next_due)) => {
                backoff = Duration::ZERO;
                if full {
                    Duration::ZERO
                } else {
                    let until_next = next_due.map_or(interval, |due| {
                        Duration::from_millis(due.saturating_sub(now))
                    });
                    until_next.min(interval)
                }
            }
            Err(e) => {
                tracing::error!(error = %e, partition = %lane.partition, "promoting delayed messages failed");
                backoff = next_backoff(backoff);
                backoff
            }
        };
        if pause_or_shutdown(pause, &shutdown).await {
            return;
        }
    }
}

/// One round of [`promote_loop`]: whether a batch was full (so another
/// round should follow at once) and when the next delayed message or rate
/// window is due.
async fn promote_and_wake<S: Store>(
    lane: &Lane<S>,
    now: u64,
) -> ferry_store::Result<(bool, Option<u64>)> {
    let store = &lane.shared.store;
    let (moved, next_due) = store
        .promote_due(lane.partition, now, PROMOTE_BATCH)
        .await?;
    lane.shared.metrics.promoted.inc_by(moved as u64);
    let (woken, next_wake) = store.wake_flows(lane.partition, now, WAKE_BATCH).await?;
    let next = match (next_due, next_wake) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok((moved == PROMOTE_BATCH || woken == WAKE_BATCH, next))
}

/// Fires the partition's due schedule ticks every `schedule_interval`.
async fn schedule_loop<S: Store>(lane: Arc<Lane<S>>, shutdown: CancellationToken) {
    let shared = &lane.shared;
    let mut backoff = Duration::ZERO;
    loop {
        let pause = match fire_due_schedules(&lane).await {
            Ok(()) => {
                backoff = Duration::ZERO;
                shared.cfg.schedule_interval
            }
            Err(e) => {
                tracing::error!(error = %e, partition = %lane.partition, "firing due schedules failed");
                backoff = next_backoff(backoff);
                backoff
            }
        };
        if pause_or_shutdown(pause, &shutdown).await {
            return;
        }
    }
}

async fn fire_due_schedules<S: Store>(lane: &Lane<S>) -> ferry_store::Result<()> {
    let store = &lane.shared.store;
    let now = now_ms();
    for due in store
        .due_schedules(lane.partition, now, SCHEDULE_BATCH)
        .await?
    {
        // Seconds are optional here: whatever the gateway accepted is run.
        let next = match CronSchedule::parse(&due.def.cron, true) {
            // A tick missed while nothing ran fires once, then the
            // schedule resumes from now.
            Ok(cron) => cron.next_after(due.due_ms.max(now.saturating_sub(1))),
            Err(e) => {
                tracing::error!(error = %e, schedule = %due.member, "stored schedule has an invalid cron; stopping it");
                None
            }
        };
        let group = match &due.def.url_group {
            Some(name) => {
                let group = store.url_group(&due.def.tenant, name).await?;
                if group.is_none() {
                    tracing::warn!(schedule = %due.member, url_group = %name, "the schedule's URL group does not exist; the tick produces no message");
                }
                group
            }
            None => None,
        };
        let messages = due
            .def
            .tick_messages(due.due_ms, now, group.as_ref(), lane.partition);
        let fired = store
            .fire_schedule(lane.partition, &due.member, due.due_ms, next, &messages)
            .await?;
        if fired {
            tracing::debug!(schedule = %due.member, n_messages = messages.len(), "schedule fired");
        }
    }
    Ok(())
}

async fn reclaim_loop<S: Store>(lane: Arc<Lane<S>>, shutdown: CancellationToken) {
    let shared = &lane.shared;
    loop {
        if pause_or_shutdown(shared.cfg.reclaim_interval, &shutdown).await {
            return;
        }
        // Idle readers hold permits while they wait for new entries, so a
        // non-blocking attempt could starve reclaim forever. The semaphore is
        // fair: waiting here gets the next permit any reader releases.
        let Some(permits) = take_permits(shared, shared.cfg.batch_size, &shutdown).await else {
            return;
        };
        let claimed = shared
            .store
            .reclaim(
                lane.partition,
                &shared.consumer,
                shared.cfg.reclaim_min_idle,
                permits.len(),
            )
            .await;
        match claimed {
            Ok(claimed) => {
                if !claimed.is_empty() {
                    tracing::info!(n_claimed = claimed.len(), partition = %lane.partition, "reclaimed entries left pending by another deliverer");
                    shared.metrics.reclaimed.inc_by(claimed.len() as u64);
                }
                for (entry, permit) in claimed.into_iter().zip(permits) {
                    spawn_attempt(&lane, entry, permit);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, partition = %lane.partition, "reclaiming pending entries failed")
            }
        }
    }
}

fn spawn_attempt<S: Store>(lane: &Arc<Lane<S>>, claimed: Claimed, permit: OwnedSemaphorePermit) {
    let span = tracing::info_span!(
        "deliver",
        msg.id = %claimed.message_id,
        stream.entry = %claimed.entry,
        attempt = tracing::field::Empty,
        dest.host = tracing::field::Empty,
        http.status = tracing::field::Empty,
    );
    let lane = lane.clone();
    lane.shared
        .tracker
        .clone()
        .spawn(deliver_one(lane, claimed, permit).instrument(span));
}

/// Decrements the in-flight gauge however the attempt ends.
struct InFlight<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A claimed ready entry: its id, and the flow-control slot it holds.
struct Entry {
    id: String,
    flow_slot: Option<FlowSlot>,
}

async fn deliver_one<S: Store>(
    lane: Arc<Lane<S>>,
    claimed: Claimed,
    _permit: OwnedSemaphorePermit,
) {
    let shared = &lane.shared;
    shared.metrics.in_flight.inc();
    let _in_flight = InFlight(&shared.metrics.in_flight);
    let entry = Entry {
        id: claimed.entry,
        flow_slot: claimed.flow_slot,
    };
    let Some(msg) = claimed.message else {
        // Cancelled after its entry was written: acknowledge and forget it.
        let discarded = shared
            .store
            .discard(
                lane.partition,
                &entry.id,
                entry.flow_slot.as_ref(),
                now_ms(),
            )
            .await;
        if let Err(e) = discarded {
            tracing::warn!(error = %e, "could not discard the entry of a cancelled message");
        }
        shared.metrics.count("gone");
        return;
    };
    if msg.spec.flow_control.is_some() && entry.flow_slot.is_none() {
        wait_for_flow_slot(&lane, &entry, &msg).await;
        return;
    }
    let span = tracing::Span::current();
    span.record("attempt", msg.retried);
    let url = match url::Url::parse(&msg.spec.url) {
        Ok(url) => url,
        Err(e) => {
            // Destinations are validated at publish; a stored one that no
            // longer parses can never be delivered.
            let result = attempt::final_error(format!("invalid destination url: {e}"));
            finish_attempt(&lane, &entry, &msg, result).await;
            return;
        }
    };
    let host = url.host_str().unwrap_or_default();
    span.record("dest.host", host);

    let now = now_ms();
    if msg.spec.not_before > now {
        // Reclaimed or re-read before its time: never deliver early.
        defer(&lane, &entry, &msg, msg.spec.not_before).await;
        return;
    }
    let Some(_host_permit) = shared.hosts.try_acquire(host) else {
        tracing::debug!("destination host at its in-flight limit; deferring");
        defer(&lane, &entry, &msg, now + jittered(shared.cfg.defer_delay)).await;
        return;
    };
    let keys = match shared.keys.get(&shared.store, &msg.spec.tenant).await {
        Ok(Some(keys)) => keys,
        Ok(None) => {
            if shared.keys.should_report_missing(&msg.spec.tenant) {
                tracing::error!(tenant = %msg.spec.tenant, "tenant has no signing keys; deferring its messages (restart Ferry to store its configured keys)");
            }
            defer(
                &lane,
                &entry,
                &msg,
                now + Duration::from_secs(30).as_millis() as u64,
            )
            .await;
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read signing keys; the entry stays pending for reclaim");
            return;
        }
    };
    run_attempt(&lane, &entry, &msg, &url, &keys).await;
}

/// Puts a flow-controlled message that became due without a slot (after a
/// delay, a retry's backoff or a deferral) on its key's waiting list.
async fn wait_for_flow_slot<S: Store>(lane: &Lane<S>, entry: &Entry, msg: &StoredMessage) {
    let waited = lane
        .shared
        .store
        .flow_wait(
            lane.partition,
            &lane.shared.consumer,
            &entry.id,
            msg,
            now_ms(),
        )
        .await;
    match waited {
        Ok(Recorded::Done) => {
            tracing::debug!("waiting for room under its flow-control key");
            lane.shared.metrics.count("flow_waiting");
        }
        Ok(Recorded::Gone) => lane.shared.metrics.count("gone"),
        Ok(Recorded::NotOwner) => {
            tracing::warn!("entry was reclaimed by another deliverer; leaving it to that one");
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not put the message on its flow-control waiting list; the entry stays pending for reclaim");
        }
    }
}

async fn run_attempt<S: Store>(
    lane: &Lane<S>,
    entry: &Entry,
    msg: &StoredMessage,
    url: &url::Url,
    keys: &KeyPair,
) {
    let shared = &lane.shared;
    let started = std::time::Instant::now();
    let result = attempt::attempt(shared, msg, url, keys).await;
    shared
        .metrics
        .attempt_seconds
        .observe(started.elapsed().as_secs_f64());
    if let Some(status) = result.response.status {
        tracing::Span::current().record("http.status", status);
    }
    finish_attempt(lane, entry, msg, result).await;
}

/// Applies the retry policy to an attempt's result and records the outcome
/// with the callbacks it triggers.
async fn finish_attempt<S: Store>(
    lane: &Lane<S>,
    entry: &Entry,
    msg: &StoredMessage,
    result: AttemptResult,
) {
    let shared = &lane.shared;
    let now = now_ms();
    let outcome = decide(msg, &result, now);
    let mut new_messages: Vec<_> =
        callbacks::build(msg, Kind::Callback, &result.response, msg.retried, now)
            .into_iter()
            .collect();
    if matches!(outcome, Outcome::Dead { .. }) {
        new_messages.extend(callbacks::build(
            msg,
            Kind::Failure,
            &result.response,
            msg.retried,
            now,
        ));
    }
    if matches!(outcome, Outcome::Delivered | Outcome::Dead { .. }) {
        // A queue message's slot passes to the callbacks of its final
        // outcome (the store hands it over), so the queue's next message
        // waits for them; their outcomes free it.
        for callback in &mut new_messages {
            callback.spec.queue.clone_from(&msg.spec.queue);
        }
    }
    log_outcome(&outcome, &result);
    let detail = event_detail(msg, &outcome, &result);
    shared.metrics.count(outcome_name(&outcome));
    // The batched path records plain deliveries; one that holds a
    // flow-control slot is recorded with the step that frees the slot.
    if matches!(outcome, Outcome::Delivered) && new_messages.is_empty() && entry.flow_slot.is_none()
    {
        ack_delivered(lane, &entry.id, msg, detail).await;
        return;
    }
    let record = OutcomeRecord {
        entry: entry.id.clone(),
        message_id: msg.id.clone(),
        tenant: msg.spec.tenant.clone(),
        outcome,
        detail,
        new_messages,
        now_ms: now,
        queue: msg.spec.queue.clone(),
        flow_slot: entry.flow_slot.clone(),
    };
    record_outcome(lane, &record).await;
}

/// Applies the retry policy to an attempt's verdict.
fn decide(msg: &StoredMessage, result: &AttemptResult, now: u64) -> Outcome {
    let response = result.response.clone();
    match result.verdict {
        Verdict::Success => Outcome::Delivered,
        Verdict::Final => Outcome::Dead {
            retried: msg.retried,
            response,
        },
        Verdict::Failed { retry_after } if msg.retried < msg.spec.retries => {
            let delay = retry_after.unwrap_or_else(|| msg.spec.retry_delay_after(msg.retried));
            Outcome::Retry {
                due_ms: now.saturating_add(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
                retried: msg.retried + 1,
                response,
            }
        }
        Verdict::Failed { .. } => Outcome::Dead {
            retried: msg.retried,
            response,
        },
    }
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Delivered => "delivered",
        Outcome::Retry { .. } => "retry",
        Outcome::Dead { .. } => "dead",
        Outcome::Defer { .. } => "deferred",
    }
}

fn log_outcome(outcome: &Outcome, result: &AttemptResult) {
    let error = result.response.error.as_deref().unwrap_or("");
    match outcome {
        Outcome::Delivered => tracing::debug!("delivered"),
        Outcome::Retry { due_ms, .. } => {
            tracing::info!(
                error,
                next_delivery_ms = due_ms,
                "delivery failed; retry scheduled"
            );
        }
        Outcome::Dead { .. } => {
            tracing::warn!(error, "delivery failed; moved to the dead-letter queue")
        }
        Outcome::Defer { .. } => {}
    }
}

fn event_detail(msg: &StoredMessage, outcome: &Outcome, result: &AttemptResult) -> EventDetail {
    let next_delivery_time = match outcome {
        Outcome::Retry { due_ms, .. } => Some(*due_ms),
        _ => None,
    };
    EventDetail {
        next_delivery_time,
        ..EventDetail::of(&msg.spec).with_response(&result.response)
    }
}

fn jittered(base: Duration) -> u64 {
    // Spread deferred retries so a saturated host is not hit in waves.
    let spread = u64::from(uuid::Uuid::new_v4().as_u128() as u16) % 500;
    u64::try_from(base.as_millis()).unwrap_or(u64::MAX) + spread
}

async fn defer<S: Store>(lane: &Lane<S>, entry: &Entry, msg: &StoredMessage, due_ms: u64) {
    lane.shared.metrics.count("deferred");
    let record = OutcomeRecord {
        entry: entry.id.clone(),
        message_id: msg.id.clone(),
        tenant: msg.spec.tenant.clone(),
        outcome: Outcome::Defer { due_ms },
        detail: EventDetail::of(&msg.spec),
        new_messages: Vec::new(),
        now_ms: now_ms(),
        queue: msg.spec.queue.clone(),
        flow_slot: entry.flow_slot.clone(),
    };
    record_outcome(lane, &record).await;
}

async fn ack_delivered<S: Store>(
    lane: &Lane<S>,
    entry: &str,
    msg: &StoredMessage,
    detail: EventDetail,
) {
    let (done, recorded) = oneshot::channel();
    let delivered = DeliveredEntry {
        entry: entry.to_owned(),
        message_id: msg.id.clone(),
        tenant: msg.spec.tenant.clone(),
        detail,
        queue: msg.spec.queue.clone(),
    };
    if lane.acks.send((delivered, done)).await.is_err() {
        tracing::warn!("recorder stopped before the delivery was recorded; it will be reclaimed");
        return;
    }
    let _ = recorded.await;
}

async fn record_outcome<S: Store>(lane: &Lane<S>, record: &OutcomeRecord) {
    let store = &lane.shared.store;
    let mut backoff = Duration::ZERO;
    for _ in 0..4 {
        match store
            .record(lane.partition, &lane.shared.consumer, record)
            .await
        {
            Ok(Recorded::Done) => return,
            Ok(Recorded::Gone) => {
                tracing::debug!("entry already handled elsewhere (cancelled or finished)");
                return;
            }
            Ok(Recorded::NotOwner) => {
                tracing::warn!(
                    "entry was reclaimed by another deliverer while this attempt ran; outcome dropped"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "recording the outcome failed; retrying");
                backoff = next_backoff(backoff);
                tokio::time::sleep(backoff).await;
            }
        }
    }
    tracing::error!("could not record the outcome; the entry stays pending and will be reclaimed");
}
