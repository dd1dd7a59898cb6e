//! The per-partition loops (read, promote, fire schedules, reclaim) and the
//! life of one entry, from the moment it is read to its recorded outcome.
//!
//! An entry read from a partition becomes a [`Job`], which holds one unit of
//! the deliverer's budget until it is dropped. [`dispatch`] settles what
//! needs no attempt (a cancelled message, a flow-controlled one without a
//! slot, one not due yet) and offers the rest to its destination's lane
//! (see [`crate::lanes`]); lane runners attempt them one after another.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_core::cron::CronSchedule;
use ferry_core::ids::{MessageId, Partition};
use ferry_store::{
    Claimed, DeliveredEntry, EventDetail, FlowSlot, Outcome, OutcomeRecord, Reader, Recorded,
    RunEnd, Store, StoredMessage,
};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::attempt::{self, AttemptResult, Verdict};
use crate::callbacks::{self, Kind};
use crate::lanes::{Admission, Destined, Slot};
use crate::lease::Identity;
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
/// How long a message is put back when its tenant has no signing keys.
const NO_KEYS_DEFER: Duration = Duration::from_secs(30);
/// Tries of recording an outcome before the entry is left pending, to be
/// found again among this deliverer's lost entries.
const RECORD_TRIES: usize = 4;

/// One partition's share of the deliverer.
pub(crate) struct PartitionWork<S> {
    shared: Arc<Shared<S>>,
    partition: Partition,
    acks: mpsc::Sender<Ack>,
    /// Entries this process holds (waiting in a lane or attempted), so that
    /// looking for lost entries of its own skips them.
    held: Mutex<HashSet<String>>,
}

impl<S> PartitionWork<S> {
    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An entry this deliverer holds, from its read to its recorded outcome.
/// Dropping it gives its budget permit back and forgets the entry from the
/// partition's held set; an entry dropped without a recorded outcome stays
/// pending and is found again (see [`reclaim_loop`]).
pub(crate) struct Job<S> {
    work: Arc<PartitionWork<S>>,
    /// The name it was read under, whose lease its outcome needs.
    identity: Arc<Identity>,
    entry: String,
    message_id: MessageId,
    flow_slot: Option<FlowSlot>,
    _permit: OwnedSemaphorePermit,
}

impl<S> Drop for Job<S> {
    fn drop(&mut self) {
        self.work.held().remove(&self.entry);
    }
}

/// A job ready for its HTTP attempt: the message and its parsed destination.
pub(crate) struct Attempt<S> {
    job: Job<S>,
    msg: StoredMessage,
    url: url::Url,
    span: tracing::Span,
}

impl<S> Destined for Attempt<S> {
    fn destination(&self) -> &str {
        &self.url[..url::Position::AfterPort]
    }
}

pub(crate) async fn run_partitions<S: Store>(shared: Arc<Shared<S>>, shutdown: CancellationToken) {
    let mut loops = JoinSet::new();
    let mut recorders = JoinSet::new();
    loops.spawn(sweep_lanes(shared.clone(), shutdown.clone()));
    for p in 0..shared.store.partitions() {
        let partition = Partition(p);
        let (acks, rx) = mpsc::channel(shared.cfg.max_in_flight);
        recorders.spawn(recorder::run(shared.store.clone(), partition, rx));
        let work = Arc::new(PartitionWork {
            shared: shared.clone(),
            partition,
            acks,
            held: Mutex::new(HashSet::new()),
        });
        loops.spawn(read_loop(work.clone(), shutdown.clone()));
        loops.spawn(promote_loop(work.clone(), shutdown.clone()));
        loops.spawn(schedule_loop(work.clone(), shutdown.clone()));
        loops.spawn(reclaim_loop(work, shutdown.clone()));
    }
    while loops.join_next().await.is_some() {}

    // Entries still waiting in a lane are not started any more; they stay
    // pending and are taken over once the lease is given up.
    let waiting = shared.lanes.drain_waiting();
    shared.metrics.lane_waiting.dec_by(waiting.len() as i64);
    drop(waiting);
    shared.tracker.close();
    let grace = shared.cfg.shutdown_grace;
    if tokio::time::timeout(grace, shared.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            in_flight = shared.tracker.len(),
            "shutdown grace elapsed with attempts in flight; giving the lease up so other deliverers take them over"
        );
        recorders.abort_all();
    }
    // Every partition's work is gone once the attempts finished, so the
    // recorders see their channels close after recording what was sent.
    drop(shared);
    while recorders.join_next().await.is_some() {}
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

/// The partition's reader, opened again whenever the deliverer's name
/// changes (its lease was lost) or a read failed.
struct PartitionReader<S: Store> {
    reader: Option<(Arc<Identity>, S::Reader)>,
}

impl<S: Store> PartitionReader<S> {
    async fn for_identity(
        &mut self,
        work: &PartitionWork<S>,
        identity: &Arc<Identity>,
    ) -> ferry_store::Result<&mut S::Reader> {
        let stale = self
            .reader
            .as_ref()
            .is_none_or(|(of, _)| !Arc::ptr_eq(of, identity));
        if stale {
            let reader = work
                .shared
                .store
                .reader(work.partition, &identity.name)
                .await?;
            self.reader = Some((identity.clone(), reader));
        }
        Ok(&mut self.reader.as_mut().expect("opened above").1)
    }
}

async fn read_loop<S: Store>(work: Arc<PartitionWork<S>>, shutdown: CancellationToken) {
    let shared = &work.shared;
    let mut reader = PartitionReader::<S> { reader: None };
    let mut backoff = Duration::ZERO;
    // How many entries to ask for next: doubles while reads come back full,
    // drops to what the last read found otherwise. An idle reader then
    // waits holding a single permit instead of a whole batch's worth, which
    // the reclaimer and busier partitions need.
    let mut want = 1;
    loop {
        // Permits come before the read, so at most `max_in_flight` entries
        // are ever held by this deliverer.
        let Some(permits) = take_permits(shared, want, &shutdown).await else {
            return;
        };
        let identity = shared.lease.current();
        if identity.is_lost() {
            // Entries read under a dead name would only wait to be taken
            // over; read again once the heartbeat has a new one.
            drop(permits);
            if pause_or_shutdown(Duration::from_millis(100), &shutdown).await {
                return;
            }
            continue;
        }
        // The read is not raced against shutdown: a read cut short could
        // leave entries pending that nobody works on until this deliverer's
        // lease is given up. It ends within `read_block` anyway.
        let read = match reader.for_identity(&work, &identity).await {
            Ok(r) => r.read(permits.len(), shared.cfg.read_block).await,
            Err(e) => Err(e),
        };
        match read {
            Ok(claimed) => {
                backoff = Duration::ZERO;
                want = if claimed.len() == permits.len() {
                    (want * 2).min(shared.cfg.batch_size)
                } else {
                    claimed.len().max(1)
                };
                hold_all(&work, &identity, claimed, permits);
            }
            Err(e) => {
                drop(permits);
                reader.reader = None;
                tracing::error!(error = %e, partition = %work.partition, "reading ready messages failed");
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

/// Turns claimed entries into jobs, one permit each, and dispatches them.
fn hold_all<S: Store>(
    work: &Arc<PartitionWork<S>>,
    identity: &Arc<Identity>,
    claimed: Vec<Claimed>,
    permits: Vec<OwnedSemaphorePermit>,
) {
    {
        let mut held = work.held();
        held.extend(claimed.iter().map(|c| c.entry.clone()));
    }
    for (claimed, permit) in claimed.into_iter().zip(permits) {
        let job = Job {
            work: work.clone(),
            identity: identity.clone(),
            entry: claimed.entry,
            message_id: claimed.message_id,
            flow_slot: claimed.flow_slot,
            _permit: permit,
        };
        dispatch(job, claimed.message);
    }
}

/// Waits for one budget permit, then takes up to `want` without waiting;
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

/// Sends a job where it goes: settled without an attempt, or into its
/// destination's lane.
fn dispatch<S: Store>(job: Job<S>, message: Option<StoredMessage>) {
    let tracker = job.work.shared.tracker.clone();
    let span = tracing::info_span!(
        "deliver",
        msg.id = %job.message_id,
        stream.entry = %job.entry,
        attempt = tracing::field::Empty,
        dest.host = tracing::field::Empty,
        http.status = tracing::field::Empty,
    );
    let Some(msg) = message else {
        // Cancelled after its entry was written: acknowledge and forget it.
        tracker.spawn(discard(job).instrument(span));
        return;
    };
    if msg.spec.flow_control.is_some() && job.flow_slot.is_none() {
        tracker.spawn(wait_for_flow_slot(job, msg).instrument(span));
        return;
    }
    span.record("attempt", msg.retried);
    let url = match url::Url::parse(&msg.spec.url) {
        Ok(url) => url,
        Err(e) => {
            // Destinations are validated at publish; a stored one that no
            // longer parses can never be delivered.
            let result = attempt::final_error(format!("invalid destination url: {e}"));
            tracker.spawn(async move { finish_attempt(&job, &msg, result).await }.instrument(span));
            return;
        }
    };
    span.record("dest.host", url.host_str().unwrap_or_default());
    if msg.spec.not_before > now_ms() {
        // Reclaimed or re-read before its time: never deliver early.
        let due = msg.spec.not_before;
        tracker.spawn(async move { defer(&job, &msg, due).await }.instrument(span));
        return;
    }
    let attempt = Attempt {
        job,
        msg,
        url,
        span,
    };
    let shared = attempt.job.work.shared.clone();
    match shared.lanes.admit(attempt) {
        Admission::Start(attempt, slot) => {
            tracker.spawn(run_lane(attempt, slot));
        }
        Admission::Queued => {
            shared.metrics.lane_waiting.inc();
        }
        Admission::HandBack(attempt, wait) => hand_back(attempt, wait),
    }
}

/// Sends an attempt whose lane is full and slow back to Redis, due after
/// about `wait`.
fn hand_back<S: Store>(attempt: Attempt<S>, wait: Duration) {
    let shared = &attempt.job.work.shared;
    shared.metrics.count("handed_back");
    let tracker = shared.tracker.clone();
    let due = now_ms().saturating_add(jittered_ms(wait));
    let Attempt { job, msg, span, .. } = attempt;
    tracker.spawn(async move { defer(&job, &msg, due).await }.instrument(span));
}

/// Hands back the entries that waited in a lane longer than
/// `lane_max_wait`, checking twice per that time.
async fn sweep_lanes<S: Store>(shared: Arc<Shared<S>>, shutdown: CancellationToken) {
    let every = (shared.cfg.lane_max_wait / 2).max(Duration::from_millis(50));
    while !pause_or_shutdown(every, &shutdown).await {
        for (attempt, wait) in shared.lanes.overdue() {
            shared.metrics.lane_waiting.dec();
            hand_back(attempt, wait);
        }
    }
}

/// Runs attempts to one destination back to back while its lane has work.
async fn run_lane<S: Store>(mut attempt: Attempt<S>, mut slot: Slot) {
    let shared = attempt.job.work.shared.clone();
    loop {
        let span = attempt.span.clone();
        run_attempt(attempt).instrument(span).await;
        match shared.lanes.finish(slot) {
            Some((next, next_slot)) => {
                shared.metrics.lane_waiting.dec();
                attempt = next;
                slot = next_slot;
            }
            None => return,
        }
    }
}

/// Decrements the in-flight gauge however the attempt ends.
struct InFlight<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn run_attempt<S: Store>(attempt: Attempt<S>) {
    let Attempt { job, msg, url, .. } = attempt;
    let shared = &job.work.shared;
    if job.identity.is_lost() {
        // Its outcome would be refused; whoever takes the entry over runs it.
        tracing::debug!(
            "lease lost before the attempt; leaving it to the deliverer that takes it over"
        );
        return;
    }
    let keys = match shared.keys.get(&shared.store, &msg.spec.tenant).await {
        Ok(Some(keys)) => keys,
        Ok(None) => {
            if shared.keys.should_report_missing(&msg.spec.tenant) {
                tracing::error!(tenant = %msg.spec.tenant, "tenant has no signing keys; deferring its messages (restart Ferry to store its configured keys)");
            }
            let due = now_ms().saturating_add(NO_KEYS_DEFER.as_millis() as u64);
            defer(&job, &msg, due).await;
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read signing keys; the entry stays pending and is tried again later");
            return;
        }
    };
    shared.metrics.in_flight.inc();
    let _in_flight = InFlight(&shared.metrics.in_flight);
    let started = std::time::Instant::now();
    let result = attempt::attempt(shared, &msg, &url, &keys).await;
    shared
        .metrics
        .attempt_seconds
        .observe(started.elapsed().as_secs_f64());
    if let Some(status) = result.response.status {
        tracing::Span::current().record("http.status", status);
    }
    finish_attempt(&job, &msg, result).await;
}

/// Acknowledges the entry of a message cancelled after the entry was
/// written, freeing the flow-control slot it held.
async fn discard<S: Store>(job: Job<S>) {
    let work = &job.work;
    let discarded = work
        .shared
        .store
        .discard(work.partition, &job.entry, job.flow_slot.as_ref(), now_ms())
        .await;
    if let Err(e) = discarded {
        tracing::warn!(error = %e, "could not discard the entry of a cancelled message; it is tried again later");
    }
    work.shared.metrics.count("gone");
}

/// Puts a flow-controlled message that became due without a slot (after a
/// delay, a retry's backoff or a deferral) on its key's waiting list.
async fn wait_for_flow_slot<S: Store>(job: Job<S>, msg: StoredMessage) {
    let work = &job.work;
    let waited = work
        .shared
        .store
        .flow_wait(
            work.partition,
            &job.identity.name,
            &job.entry,
            &msg,
            now_ms(),
        )
        .await;
    match waited {
        Ok(Recorded::Done) => {
            tracing::debug!("waiting for room under its flow-control key");
            work.shared.metrics.count("flow_waiting");
        }
        Ok(Recorded::Gone) => work.shared.metrics.count("gone"),
        Ok(Recorded::NotOwner) => not_owner(),
        Err(e) => {
            tracing::warn!(error = %e, "could not put the message on its flow-control waiting list; it is tried again later");
        }
    }
}

fn not_owner() {
    tracing::warn!(
        "this deliverer's lease was lost and the entry taken over; the outcome is left to the new holder"
    );
}

/// Applies the retry policy to an attempt's result and records the outcome
/// with the callbacks it triggers.
async fn finish_attempt<S: Store>(job: &Job<S>, msg: &StoredMessage, result: AttemptResult) {
    let shared = &job.work.shared;
    let now = now_ms();
    let outcome = decide(msg, &result, now);
    let is_final = matches!(outcome, Outcome::Delivered | Outcome::Dead { .. });
    let mut new_messages: Vec<_> = if is_final || !callbacks::final_only(msg) {
        callbacks::build(msg, Kind::Callback, &result.response, msg.retried, now)
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };
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
    if matches!(outcome, Outcome::Delivered) && new_messages.is_empty() && job.flow_slot.is_none() {
        ack_delivered(job, msg, detail).await;
        return;
    }
    let record = OutcomeRecord {
        entry: job.entry.clone(),
        message_id: msg.id.clone(),
        tenant: msg.spec.tenant.clone(),
        outcome,
        detail,
        new_messages,
        now_ms: now,
        queue: msg.spec.queue.clone(),
        flow_slot: job.flow_slot.clone(),
    };
    let dead = matches!(record.outcome, Outcome::Dead { .. });
    if record_outcome(job, &record).await && dead {
        fail_run(job, msg, now).await;
    }
}

/// Marks the run of a message that failed for good as failed (telling the
/// run that invoked it, if any); its failure callback was created with the
/// dead letter. A `context.call` request
/// that fails does not fail its run: its callback tells the app.
async fn fail_run<S: Store>(job: &Job<S>, msg: &StoredMessage, now: u64) {
    let Some(workflow) = &msg.spec.workflow else {
        return;
    };
    if workflow.call_type == ferry_core::workflow::CallType::ToCallback {
        return;
    }
    let ended = ferry_store::end_workflow_run(
        &job.work.shared.store,
        &msg.spec.tenant,
        &workflow.run_id,
        &RunEnd::Failed,
        now,
    )
    .await;
    match ended {
        Ok(_) => tracing::info!(workflow.run = %workflow.run_id, "workflow run failed"),
        Err(e) => {
            tracing::error!(error = %e, workflow.run = %workflow.run_id, "could not mark the workflow run failed");
        }
    }
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

/// `wait` in milliseconds, spread by up to a fifth either way so that
/// entries handed back together do not all return at once.
fn jittered_ms(wait: Duration) -> u64 {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    let spread = ms / 5;
    if spread == 0 {
        return ms;
    }
    let offset = u64::from(uuid::Uuid::new_v4().as_u128() as u32) % (2 * spread);
    ms - spread + offset
}

/// Puts the message back unchanged, due at `due_ms`.
async fn defer<S: Store>(job: &Job<S>, msg: &StoredMessage, due_ms: u64) {
    job.work.shared.metrics.count("deferred");
    let record = OutcomeRecord {
        entry: job.entry.clone(),
        message_id: msg.id.clone(),
        tenant: msg.spec.tenant.clone(),
        outcome: Outcome::Defer { due_ms },
        detail: EventDetail::of(&msg.spec),
        new_messages: Vec::new(),
        now_ms: now_ms(),
        queue: msg.spec.queue.clone(),
        flow_slot: job.flow_slot.clone(),
    };
    record_outcome(job, &record).await;
}

async fn ack_delivered<S: Store>(job: &Job<S>, msg: &StoredMessage, detail: EventDetail) {
    let (done, recorded) = oneshot::channel();
    let ack = Ack {
        delivered: DeliveredEntry {
            entry: job.entry.clone(),
            message_id: msg.id.clone(),
            tenant: msg.spec.tenant.clone(),
            detail,
            queue: msg.spec.queue.clone(),
        },
        consumer: job.identity.name.clone(),
        done,
    };
    if job.work.acks.send(ack).await.is_err() {
        tracing::warn!(
            "recorder stopped before the delivery was recorded; it will be delivered again"
        );
        return;
    }
    let _ = recorded.await;
}

/// Records `record`; true when this call recorded it.
async fn record_outcome<S: Store>(job: &Job<S>, record: &OutcomeRecord) -> bool {
    let work = &job.work;
    let mut backoff = Duration::ZERO;
    for _ in 0..RECORD_TRIES {
        match work
            .shared
            .store
            .record(work.partition, &job.identity.name, record)
            .await
        {
            Ok(Recorded::Done) => return true,
            Ok(Recorded::Gone) => {
                tracing::debug!("entry already handled elsewhere (cancelled or finished)");
                return false;
            }
            Ok(Recorded::NotOwner) => {
                not_owner();
                return false;
            }
            Err(e) => {
                tracing::warn!(error = %e, "recording the outcome failed; retrying");
                backoff = next_backoff(backoff);
                tokio::time::sleep(backoff).await;
            }
        }
    }
    tracing::error!(
        "could not record the outcome; the entry stays pending and is attempted again later"
    );
    false
}

/// Moves due delayed messages to the ready stream, and admits the waiting
/// messages of flow-control keys whose rate window reopened.
async fn promote_loop<S: Store>(work: Arc<PartitionWork<S>>, shutdown: CancellationToken) {
    let shared = &work.shared;
    let interval = shared.cfg.promote_interval;
    let mut backoff = Duration::ZERO;
    loop {
        let now = now_ms();
        let pause = match promote_and_wake(&work, now).await {
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
                tracing::error!(error = %e, partition = %work.partition, "promoting delayed messages failed");
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
    work: &PartitionWork<S>,
    now: u64,
) -> ferry_store::Result<(bool, Option<u64>)> {
    let store = &work.shared.store;
    let (moved, next_due) = store
        .promote_due(work.partition, now, PROMOTE_BATCH)
        .await?;
    work.shared.metrics.promoted.inc_by(moved as u64);
    let (woken, next_wake) = store.wake_flows(work.partition, now, WAKE_BATCH).await?;
    let next = match (next_due, next_wake) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok((moved == PROMOTE_BATCH || woken == WAKE_BATCH, next))
}

/// Fires the partition's due schedule ticks every `schedule_interval`.
async fn schedule_loop<S: Store>(work: Arc<PartitionWork<S>>, shutdown: CancellationToken) {
    let shared = &work.shared;
    let mut backoff = Duration::ZERO;
    loop {
        let pause = match fire_due_schedules(&work).await {
            Ok(()) => {
                backoff = Duration::ZERO;
                shared.cfg.schedule_interval
            }
            Err(e) => {
                tracing::error!(error = %e, partition = %work.partition, "firing due schedules failed");
                backoff = next_backoff(backoff);
                backoff
            }
        };
        if pause_or_shutdown(pause, &shutdown).await {
            return;
        }
    }
}

async fn fire_due_schedules<S: Store>(work: &PartitionWork<S>) -> ferry_store::Result<()> {
    let store = &work.shared.store;
    let now = now_ms();
    for due in store
        .due_schedules(work.partition, now, SCHEDULE_BATCH)
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
            .tick_messages(due.due_ms, now, group.as_ref(), work.partition);
        let fired = store
            .fire_schedule(work.partition, &due.member, due.due_ms, next, &messages)
            .await?;
        if fired {
            tracing::debug!(schedule = %due.member, n_messages = messages.len(), "schedule fired");
        }
    }
    Ok(())
}

/// Every `reclaim_interval`, takes over the entries of deliverers whose
/// lease expired, and finds again the entries this deliverer read but lost
/// track of (pending for a whole lease lifetime and held by no job).
async fn reclaim_loop<S: Store>(work: Arc<PartitionWork<S>>, shutdown: CancellationToken) {
    let shared = &work.shared;
    loop {
        if pause_or_shutdown(shared.cfg.reclaim_interval, &shutdown).await {
            return;
        }
        for recover_own in [false, true] {
            // Idle readers hold permits while they wait for new entries, so
            // a non-blocking attempt could starve reclaim forever. The
            // semaphore is fair: waiting here gets the next permit released.
            let Some(permits) = take_permits(shared, shared.cfg.batch_size, &shutdown).await else {
                return;
            };
            let identity = shared.lease.current();
            let claimed = if recover_own {
                let held = |entry: &str| work.held().contains(entry);
                shared
                    .store
                    .recover_own(
                        work.partition,
                        &identity.name,
                        shared.cfg.lease_ttl,
                        permits.len(),
                        &held,
                    )
                    .await
            } else {
                shared
                    .store
                    .reclaim(work.partition, &identity.name, permits.len())
                    .await
            };
            match claimed {
                Ok(claimed) => {
                    if !claimed.is_empty() {
                        let what = if recover_own {
                            "found entries this deliverer had lost track of"
                        } else {
                            "took over entries of deliverers whose lease expired"
                        };
                        tracing::info!(n_claimed = claimed.len(), partition = %work.partition, "{what}");
                        shared.metrics.reclaimed.inc_by(claimed.len() as u64);
                    }
                    hold_all(&work, &identity, claimed, permits);
                }
                Err(e) => {
                    tracing::error!(error = %e, partition = %work.partition, "reclaiming pending entries failed");
                }
            }
        }
    }
}
