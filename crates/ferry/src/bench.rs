//! `ferry bench`: a benchmark anyone can run against Ferry, as
//! redis-benchmark is for Redis.
//!
//! It publishes numbered messages to a running Ferry (or to a private one it
//! starts with `--spawn`), addressed to a sink on loopback inside this
//! process that verifies each delivery's signature and records it. It
//! reports publish throughput and latency, end-to-end throughput and
//! latency, the CPU time of the Ferry processes, and, counted per message as
//! sets after a bounded drain, what was lost or duplicated. With
//! `--baseline` it first measures the same pipeline on raw Redis streams
//! with no Ferry logic, and states Ferry's figures as a fraction of that
//! ceiling. With `--hosts N` the sink poses as N destination hosts
//! (127.0.0.1 to 127.0.0.N) and messages take turns among them, so Ferry's
//! per-host scheduling is measured with more than the one host of the usual
//! workload. The resident memory of the Ferry processes is sampled as the
//! run goes, to show whether it stays flat under sustained load.
//!
//! Exit status: 0 when nothing was lost; 1 when a message was lost, a
//! delivery was forged or unexpected, nothing was accepted, or the run could
//! not be carried out; 64 for flags that contradict each other.

mod baseline;
mod body;
mod cpu;
mod http;
mod load;
mod redis_cost;
mod report;
mod rss;
mod sink;
mod spawn;
mod stats;

#[cfg(test)]
mod tests;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use ferry_core::duration::parse_duration;
use ferry_sdk::Receiver;
use ferry_sdk::wire::SigningKeys;
use url::Url;

use self::baseline::BaselineRelay;
use self::cpu::{CpuMeter, CpuSource};
use self::load::{Clock, Counters, LoadSpec, Schedule, Sequencer, Target};
use self::redis_cost::RedisMeter;
use self::report::{Observed, Report, RunReport, Settings};
use self::rss::{RssMeter, RssSamples};
use self::sink::Sink;
use self::spawn::{Roles, SpawnRedis, SpawnedFerry};
use crate::cli::EXIT_BAD_CONFIG;
use crate::ops::OpsArgs;

/// Publishers of a closed-loop run when neither mode is chosen.
const DEFAULT_CONCURRENCY: usize = 64;
/// How often the progress line is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// Exit status after Ctrl-C (128 + SIGINT), as shells report it.
const EXIT_INTERRUPTED: u8 = 130;

/// Arguments of `ferry bench`. The gateway is the global `--url` with
/// `--token`, unless `--spawn` starts one; `--json` prints the report as
/// JSON.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ferry bench --spawn --redis redis://127.0.0.1:6379 --baseline\n  \
    ferry bench --url http://127.0.0.1:8080 --token $TOKEN --rate 5000 --duration 30s\n\n\
    Against a running Ferry, the sink listens on 127.0.0.1 of this machine: run the \
    benchmark on the deliverer's host and allow 127.0.0.1/32 in deliver.allow_networks; \
    with --hosts above 1 the sink also listens on 127.0.0.2 and up, so allow 127.0.0.0/8 \
    (`ferry dev` allows it, and so does the ferry started by --spawn).")]
pub struct BenchArgs {
    /// Start a private Ferry (`ferry serve`, a child of this program) on the
    /// Redis given with --redis, instead of using the one at --url; it is
    /// stopped and its keys deleted at the end
    #[arg(long)]
    spawn: bool,

    /// Redis for --spawn and --baseline, e.g. redis://127.0.0.1:6379
    #[arg(long, value_name = "URL")]
    redis: Option<String>,

    /// A Redis Cluster for --spawn instead of --redis: some of its nodes,
    /// comma-separated (the other primaries are found through them)
    #[arg(
        long,
        value_name = "URL[,URL...]",
        value_delimiter = ',',
        conflicts_with = "redis"
    )]
    redis_cluster: Vec<String>,

    /// With --spawn, run `ferry gateway` only: measures publishing alone,
    /// nothing is delivered and no loss is checked
    #[arg(long)]
    no_deliver: bool,

    /// Size of each message body in bytes (never less than the sequence
    /// number and timestamp it carries)
    #[arg(long, default_value_t = 256, value_name = "BYTES")]
    body_size: usize,

    /// Closed loop: this many publishers, each sending its next message as
    /// soon as the previous one is answered [default: 64]
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,

    /// Open loop: this many messages per second on a fixed schedule,
    /// latency measured from each message's scheduled time
    #[arg(long, value_name = "MSG_PER_S")]
    rate: Option<u32>,

    /// Open loop: the most publishes awaiting an answer; a send due beyond
    /// it is skipped and counted
    #[arg(long, default_value_t = 1000, value_name = "N")]
    max_outstanding: usize,

    /// Destination hosts, 1 to 254: the sink listens on 127.0.0.1 to
    /// 127.0.0.N (one port) and message number `seq` goes to
    /// 127.0.0.<1 + seq % N>, so Ferry's per-host delivery lanes are
    /// measured with several hosts. The baseline has no per-destination
    /// logic and delivers everything to 127.0.0.1
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u8).range(1..=254))]
    hosts: u8,

    /// How long to publish, e.g. 10s or 1m
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    duration: Duration,

    /// After publishing stops, how long to wait for the remaining
    /// deliveries; what has not arrived by then is lost
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    drain: Duration,

    /// First measure the machine's ceiling: the same pipeline on raw Redis
    /// streams (XADD, XREADGROUP, POST, XACK) without Ferry, on --redis; the
    /// report then gives Ferry's figures as a fraction of it
    #[arg(long)]
    baseline: bool,

    /// Also count the CPU time and resident memory of this running Ferry
    /// process (repeat for several)
    #[arg(long = "pid", value_name = "PID")]
    pids: Vec<u32>,

    /// Testing aid: the sink answers every delivery this many milliseconds
    /// late, so a backlog builds up
    #[arg(long, hide = true, default_value_t = 0, value_name = "MS")]
    sink_delay: u64,
}

/// Flags that cannot work together, found before anything starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum FlagError {
    #[error(
        "--spawn needs --redis <URL> or --redis-cluster <URL,...>, the Redis the spawned ferry uses"
    )]
    SpawnWithoutRedis,
    #[error("--baseline needs --redis <URL>, the Redis the baseline runs on")]
    BaselineWithoutRedis,
    #[error("--redis is used only by --spawn and --baseline")]
    UnusedRedis,
    #[error("--redis-cluster is used only by --spawn")]
    UnusedCluster,
    #[error("--no-deliver applies only to a ferry started with --spawn")]
    NoDeliverWithoutSpawn,
    #[error("--baseline compares whole pipelines; it cannot be combined with --no-deliver")]
    BaselineWithoutDelivery,
    #[error("--token (or FERRY_TOKEN) is needed to publish to the ferry at {0}; or use --spawn")]
    MissingToken(String),
    #[error("--concurrency (closed loop) and --rate (open loop) choose different modes; give one")]
    BothModes,
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    #[error("--pid {0}: no such process")]
    NoSuchProcess(u32),
}

/// Which Ferry is measured.
enum Relay {
    Spawn { redis: SpawnRedis, roles: Roles },
    Running { url: Url, token: String },
}

/// The validated flags.
struct Plan {
    relay: Relay,
    load: LoadSpec,
    drain: Duration,
    /// The Redis of the baseline, when one runs.
    baseline: Option<String>,
    /// Destination hosts Ferry delivers to.
    hosts: u8,
    pids: Vec<u32>,
    sink_delay: Duration,
    json: bool,
}

/// Runs the benchmark and prints its report; the process exit status.
pub async fn run(ops: &OpsArgs, args: BenchArgs) -> ExitCode {
    let plan = match Plan::new(ops, args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    // On Ctrl-C the measurement is dropped, which kills a spawned ferry and
    // stops the baseline relay.
    let outcome = tokio::select! {
        outcome = execute(&plan) => outcome,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted");
            return ExitCode::from(EXIT_INTERRUPTED);
        }
    };
    let report = match outcome.and_then(|report| report.print(plan.json).map(|()| report)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if report.problems.is_empty() {
        return ExitCode::SUCCESS;
    }
    for problem in &report.problems {
        eprintln!("error: {problem}");
    }
    ExitCode::FAILURE
}

impl Plan {
    fn new(ops: &OpsArgs, args: BenchArgs) -> Result<Self, FlagError> {
        let relay = relay(ops, &args)?;
        let baseline = baseline_redis(&args)?;
        let schedule = schedule(&args)?;
        if args.duration.is_zero() {
            return Err(FlagError::Zero("--duration"));
        }
        if let Some(&pid) = args.pids.iter().find(|&&pid| !cpu::process_exists(pid)) {
            return Err(FlagError::NoSuchProcess(pid));
        }
        Ok(Self {
            relay,
            load: LoadSpec {
                schedule,
                body_size: args.body_size,
                duration: args.duration,
            },
            drain: args.drain,
            baseline,
            hosts: args.hosts,
            pids: args.pids,
            sink_delay: Duration::from_millis(args.sink_delay),
            json: ops.json,
        })
    }

    fn settings(&self) -> Settings {
        let relay = match &self.relay {
            Relay::Spawn { roles, .. } => format!("spawned `ferry {}`", roles.subcommand()),
            Relay::Running { url, .. } => format!("ferry at {url}"),
        };
        let (mode, concurrency, rate, max_outstanding) = match self.load.schedule {
            Schedule::Closed { concurrency } => ("closed-loop", Some(concurrency), None, None),
            Schedule::Open {
                rate,
                max_outstanding,
            } => ("open-loop", None, Some(rate), Some(max_outstanding)),
        };
        Settings {
            relay,
            mode,
            concurrency,
            rate,
            max_outstanding,
            body_size: self.load.body_size,
            hosts: self.hosts,
            duration_s: self.load.duration.as_secs_f64(),
            drain_limit_s: self.drain.as_secs_f64(),
        }
    }

    fn checks_deliveries(&self) -> bool {
        !matches!(
            self.relay,
            Relay::Spawn {
                roles: Roles::GatewayOnly,
                ..
            }
        )
    }
}

/// The Ferry to measure: a spawned one, or the one at `--url`.
fn relay(ops: &OpsArgs, args: &BenchArgs) -> Result<Relay, FlagError> {
    let roles = if args.no_deliver {
        Roles::GatewayOnly
    } else {
        Roles::Serve
    };
    let cluster = (!args.redis_cluster.is_empty()).then(|| args.redis_cluster.clone());
    match (args.spawn, &args.redis) {
        (true, Some(redis)) => Ok(Relay::Spawn {
            redis: SpawnRedis::Standalone(redis.clone()),
            roles,
        }),
        (true, None) => Ok(Relay::Spawn {
            redis: SpawnRedis::Cluster(cluster.ok_or(FlagError::SpawnWithoutRedis)?),
            roles,
        }),
        (false, _) if cluster.is_some() => Err(FlagError::UnusedCluster),
        (false, _) if args.no_deliver => Err(FlagError::NoDeliverWithoutSpawn),
        (false, Some(_)) if !args.baseline => Err(FlagError::UnusedRedis),
        (false, _) => Ok(Relay::Running {
            url: ops.url.clone(),
            token: ops
                .token
                .clone()
                .ok_or_else(|| FlagError::MissingToken(ops.url.to_string()))?,
        }),
    }
}

/// The Redis of the baseline, when one runs.
fn baseline_redis(args: &BenchArgs) -> Result<Option<String>, FlagError> {
    match (args.baseline, &args.redis) {
        (false, _) => Ok(None),
        (true, _) if args.no_deliver => Err(FlagError::BaselineWithoutDelivery),
        (true, Some(redis)) => Ok(Some(redis.clone())),
        (true, None) => Err(FlagError::BaselineWithoutRedis),
    }
}

fn schedule(args: &BenchArgs) -> Result<Schedule, FlagError> {
    match (args.concurrency, args.rate) {
        (Some(_), Some(_)) => Err(FlagError::BothModes),
        (concurrency, None) => Ok(Schedule::Closed {
            concurrency: positive("--concurrency", concurrency.unwrap_or(DEFAULT_CONCURRENCY))?,
        }),
        (None, Some(rate)) => Ok(Schedule::Open {
            rate: f64::from(positive("--rate", rate)?),
            max_outstanding: positive("--max-outstanding", args.max_outstanding)?,
        }),
    }
}

fn positive<T: Default + PartialEq>(flag: &'static str, value: T) -> Result<T, FlagError> {
    if value == T::default() {
        Err(FlagError::Zero(flag))
    } else {
        Ok(value)
    }
}

/// The baseline (when asked for), then Ferry.
async fn execute(plan: &Plan) -> anyhow::Result<Report> {
    let baseline = match &plan.baseline {
        Some(redis) => Some(measure_baseline(plan, redis).await?),
        None => None,
    };
    let ferry = measure_ferry(plan).await?;
    Ok(Report::new(plan.settings(), ferry, baseline))
}

async fn measure_baseline(plan: &Plan, redis: &str) -> anyhow::Result<RunReport> {
    let run = Run::new();
    // The baseline has no per-destination logic: one host is all it uses.
    let sink = Sink::start(run.clock, run.seqs.clone(), None, plan.sink_delay, 1).await?;
    let relay = BaselineRelay::start(redis, &namespace(), sink.first_url()).await?;
    let meters = Meters {
        cpu: CpuMeter::new(relay.cpu_source()),
        // Its memory is this program's, which the sink and the load
        // generator share: there is no figure of its own to read.
        rss: RssMeter::new(Vec::new()),
        redis: None,
    };
    let report = run
        .measure(plan, "baseline", &relay.target(), &sink, &meters, true)
        .await;
    relay.stop().await?;
    report
}

async fn measure_ferry(plan: &Plan) -> anyhow::Result<RunReport> {
    let run = Run::new();
    let (spawned, redis_meter, base_url, token, keys) = match &plan.relay {
        Relay::Spawn { redis, roles } => {
            let namespace = namespace();
            let redis_meter = RedisMeter::new(redis, &namespace).await?;
            let spawned = SpawnedFerry::start(redis, *roles, &namespace).await?;
            let (base_url, token) = (spawned.base_url().to_owned(), spawned.token().to_owned());
            let keys = spawned.keys().clone();
            (Some(spawned), Some(redis_meter), base_url, token, keys)
        }
        Relay::Running { url, token } => {
            let keys = signing_keys(url, token).await?;
            (None, None, url.to_string(), token.clone(), keys)
        }
    };
    let receiver = Receiver::new(keys.current, keys.next)
        .context("the relay's signing keys cannot verify signatures")?;
    let sink = Sink::start(
        run.clock,
        run.seqs.clone(),
        Some(receiver),
        plan.sink_delay,
        plan.hosts,
    )
    .await?;
    let publish_urls = sink
        .urls()
        .iter()
        .map(|sink_url| publish_url(&base_url, sink_url))
        .collect::<anyhow::Result<_>>()?;
    let target = Target::spread(publish_urls, Some(token))?;
    let mut pids = plan.pids.clone();
    pids.extend(spawned.as_ref().and_then(SpawnedFerry::pid));
    let meters = Meters {
        cpu: CpuMeter::new(CpuSource::Processes(pids.clone())),
        rss: RssMeter::new(pids),
        redis: redis_meter,
    };
    let report = run
        .measure(
            plan,
            "ferry",
            &target,
            &sink,
            &meters,
            plan.checks_deliveries(),
        )
        .await;
    if let Some(spawned) = spawned {
        let primaries = meters.redis.as_ref().map(RedisMeter::primaries);
        spawned.stop(primaries.unwrap_or_default()).await?;
    }
    report
}

/// Reads the tenant's signing keys, which also proves the URL and token.
async fn signing_keys(url: &Url, token: &str) -> anyhow::Result<SigningKeys> {
    let client = ferry_sdk::Client::new(url.as_str(), token)?;
    client
        .keys()
        .await
        .with_context(|| format!("reading the signing keys from {url} (check --url and --token)"))
}

/// `<base>/v2/publish/<sink>`, the form the gateway parses.
fn publish_url(base_url: &str, sink_url: &str) -> anyhow::Result<Url> {
    let raw = format!("{}/v2/publish/{sink_url}", base_url.trim_end_matches('/'));
    Url::parse(&raw).with_context(|| format!("building the publish URL {raw:?}"))
}

/// A key namespace no other run uses.
fn namespace() -> String {
    format!("ferry-bench-{}", uuid::Uuid::new_v4().simple())
}

/// What is read of the measured relay's processes (or threads), and of
/// its Redis when the benchmark knows it (a spawned Ferry's).
struct Meters {
    cpu: CpuMeter,
    rss: RssMeter,
    redis: Option<RedisMeter>,
}

/// The clock and sequence numbers one measured relay shares with its sink.
struct Run {
    clock: Clock,
    seqs: Sequencer,
}

impl Run {
    fn new() -> Self {
        Self {
            clock: Clock::start(),
            seqs: Sequencer::default(),
        }
    }

    /// Publishes for the planned duration, drains, and reports.
    async fn measure(
        &self,
        plan: &Plan,
        label: &str,
        target: &Target,
        sink: &Sink,
        meters: &Meters,
        check_deliveries: bool,
    ) -> anyhow::Result<RunReport> {
        let counters = Arc::new(Counters::default());
        let redis_start = match &meters.redis {
            Some(redis) => Some(redis.sample().await?),
            None => None,
        };
        let cpu_start = meters.cpu.ticks();
        let mut watch = Watch::new(label, self.clock, &counters, sink, &meters.rss);
        let published = watch
            .during(load::run(
                &plan.load,
                target,
                self.clock,
                self.seqs.clone(),
                counters.clone(),
            ))
            .await?;
        watch.end_of_publishing();
        let redis_keys = match &meters.redis {
            Some(redis) => redis.keys().await?,
            None => Vec::new(),
        };
        let observed = if check_deliveries {
            let drain = watch
                .during(sink.drain(&published.accepted, plan.drain))
                .await;
            Some(Observed {
                arrivals: sink.take_arrivals(),
                drain,
                signature_failures: sink.n_signature_failures(),
            })
        } else {
            None
        };
        let cpu_s = meters.cpu.seconds_between(cpu_start, meters.cpu.ticks());
        let mut report = RunReport::new(published, observed, cpu_s, watch.rss.summary());
        if let (Some(redis), Some(start)) = (&meters.redis, redis_start) {
            let end = redis.sample().await?;
            report.redis = Some(redis.report(&start, &end, &redis_keys, report.processed()));
        }
        Ok(report)
    }
}

/// What happens beside the load and the drain, once per tick: the progress
/// line, and a sample of the relay's memory.
struct Watch<'a> {
    label: &'a str,
    clock: Clock,
    started_us: u64,
    ticks: tokio::time::Interval,
    counters: &'a Counters,
    sink: &'a Sink,
    rss_meter: &'a RssMeter,
    rss: RssSamples,
}

impl<'a> Watch<'a> {
    fn new(
        label: &'a str,
        clock: Clock,
        counters: &'a Counters,
        sink: &'a Sink,
        rss_meter: &'a RssMeter,
    ) -> Self {
        Self {
            label,
            clock,
            started_us: clock.now_us(),
            ticks: tokio::time::interval_at(
                tokio::time::Instant::now() + PROGRESS_EVERY,
                PROGRESS_EVERY,
            ),
            counters,
            sink,
            rss_meter,
            rss: RssSamples::default(),
        }
    }

    /// Awaits `work`, ticking meanwhile.
    async fn during<T>(&mut self, work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                output = &mut work => return output,
                _ = self.ticks.tick() => self.tick(),
            }
        }
    }

    fn tick(&mut self) {
        let rss_bytes = self.rss_meter.bytes();
        self.rss.record(rss_bytes);
        self.print_progress(rss_bytes);
    }

    /// Takes the memory sample of the moment the last publish was answered.
    fn end_of_publishing(&mut self) {
        self.rss.record_end_of_publishing(self.rss_meter.bytes());
    }

    /// The progress line on stderr: what was sent, accepted and delivered
    /// so far, how many accepted messages are still on their way, and the
    /// relay's memory when it is measured.
    fn print_progress(&self, rss_bytes: Option<u64>) {
        let accepted = self.counters.accepted.load(Ordering::Relaxed);
        let delivered = self.sink.n_unique();
        let rss = rss_bytes
            .map(|bytes| format!("  rss {:.0} MiB", rss::mib(bytes)))
            .unwrap_or_default();
        eprintln!(
            "[{} {:>4.0}s] sent {}  accepted {accepted}  failed {}  delivered {delivered}  in flight {}{rss}",
            self.label,
            (self.clock.now_us() - self.started_us) as f64 / 1e6,
            self.counters.sent.load(Ordering::Relaxed),
            self.counters.failed.load(Ordering::Relaxed),
            accepted.saturating_sub(delivered),
        );
    }
}
