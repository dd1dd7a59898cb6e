//! `ferry bench --baseline`: the machine's ceiling for the same pipeline
//! with no Ferry logic, measured the same way as Ferry.
//!
//! A minimal relay takes each publish over HTTP/1 and appends the body to a
//! scratch Redis stream; two readers take up to 64 entries at a time with
//! `XREADGROUP`, POST each one to the sink concurrently, and acknowledge the
//! batch with one `XACK`. No authentication, validation, signing, retries,
//! per-message records or events. The load generator, sink and accounting
//! are the very ones used against Ferry, so the two reports differ only in
//! what sits between them.
//!
//! The relay runs on a runtime of its own with as many worker threads as
//! `ferry serve` would have, and its CPU time is the sum over those threads;
//! that keeps it comparable with a Ferry process although it lives inside
//! the benchmark.

use std::time::Duration;

use anyhow::Context as _;
use ferry_store::baseline::{Entry, Scratch};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::cpu::{CpuSource, ThreadSet};
use super::http;
use super::load::Target;

/// Readers of the scratch stream, as in the reference pipeline.
const READERS: usize = 2;
/// Entries per read, and so deliveries in flight per reader.
const BATCH: usize = 64;
/// How long a read waits for new entries; also bounds how quickly readers
/// notice the end of the run.
const READ_BLOCK: Duration = Duration::from_millis(100);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed read, so a broken Redis does not spin a core.
const ERROR_BACKOFF: Duration = Duration::from_millis(100);
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// A running baseline relay; dropping it stops it.
pub(super) struct BaselineRelay {
    publish_url: Url,
    threads: ThreadSet,
    shutdown: CancellationToken,
    readers: Vec<JoinHandle<()>>,
    redis_url: String,
    namespace: String,
    /// Declared last so it drops last, after everything that uses it.
    _runtime: OwnedRuntime,
}

impl BaselineRelay {
    /// Starts the relay against the Redis at `redis_url`, under keys in
    /// `namespace`, delivering to `sink_url`.
    pub(super) async fn start(
        redis_url: &str,
        namespace: &str,
        sink_url: &str,
    ) -> anyhow::Result<Self> {
        let sink_url = Url::parse(sink_url).context("parsing the sink's URL")?;
        let threads = ThreadSet::default();
        let runtime = OwnedRuntime::start(&threads)?;
        let scratch = {
            let (url, namespace) = (redis_url.to_owned(), namespace.to_owned());
            runtime
                .handle
                .spawn(async move { Scratch::create(&url, &namespace, COMMAND_TIMEOUT).await })
                .await
                .context("the baseline relay's runtime stopped")?
                .context("creating the baseline's scratch stream")?
        };
        let listener = runtime
            .handle
            .spawn(TcpListener::bind("127.0.0.1:0"))
            .await
            .context("the baseline relay's runtime stopped")?
            .context("binding the baseline relay to 127.0.0.1")?;
        let addr = listener
            .local_addr()
            .context("reading the baseline relay's address")?;
        let shutdown = CancellationToken::new();
        let endpoint = scratch.clone();
        runtime
            .handle
            .spawn(http::serve(listener, shutdown.clone(), move |request| {
                publish(endpoint.clone(), request)
            }));
        let client = reqwest::Client::builder()
            .http1_only()
            .no_proxy()
            .pool_max_idle_per_host(READERS * BATCH)
            .timeout(POST_TIMEOUT)
            .build()
            .context("building the baseline relay's HTTP client")?;
        let readers = (0..READERS)
            .map(|idx| {
                runtime.handle.spawn(read_loop(
                    scratch.clone(),
                    format!("reader-{idx}"),
                    client.clone(),
                    sink_url.clone(),
                    shutdown.clone(),
                ))
            })
            .collect();
        Ok(Self {
            publish_url: Url::parse(&format!("http://{addr}/publish"))
                .context("building the baseline's publish URL")?,
            threads,
            shutdown,
            readers,
            redis_url: redis_url.to_owned(),
            namespace: namespace.to_owned(),
            _runtime: runtime,
        })
    }

    /// Where the load generator publishes.
    pub(super) fn target(&self) -> Target {
        Target::single(self.publish_url.clone(), None)
    }

    /// The relay's threads, for its CPU time.
    pub(super) fn cpu_source(&self) -> CpuSource {
        CpuSource::Threads(self.threads.clone())
    }

    /// Stops the readers after their current batch, then deletes the
    /// scratch keys.
    pub(super) async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        for reader in std::mem::take(&mut self.readers) {
            // A reader that panicked has nothing left to stop.
            let _ = reader.await;
        }
        ferry_store::baseline::remove_namespace(&self.redis_url, &self.namespace, COMMAND_TIMEOUT)
            .await
            .with_context(|| format!("deleting the baseline's keys {}:*", self.namespace))?;
        Ok(())
    }
}

/// The relay's own runtime, with as many workers as `ferry serve` gets by
/// default (one per core), each registered for CPU accounting.
struct OwnedRuntime {
    handle: tokio::runtime::Handle,
    /// Taken only by `Drop`.
    runtime: Option<Runtime>,
}

impl OwnedRuntime {
    fn start(threads: &ThreadSet) -> anyhow::Result<Self> {
        let registered = threads.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("ferry-baseline")
            .on_thread_start(move || registered.register_current())
            .build()
            .context("starting the baseline relay's runtime")?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks stop, which is not
        // allowed on the benchmark's own runtime; this does not wait.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The publish endpoint: append the body, answer 201.
async fn publish(
    scratch: Scratch,
    request: Request<Incoming>,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let Ok(body) = request.into_body().collect().await else {
        return http::respond(StatusCode::BAD_REQUEST, "unreadable body");
    };
    match scratch.append(&body.to_bytes()).await {
        Ok(()) => http::respond(StatusCode::CREATED, bytes::Bytes::new()),
        Err(e) => http::respond(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// One reader: read a batch, deliver it concurrently, acknowledge what
/// the sink accepted in one call. What it did not accept stays pending,
/// which the benchmark reports as lost.
async fn read_loop(
    scratch: Scratch,
    consumer: String,
    client: reqwest::Client,
    sink_url: Url,
    shutdown: CancellationToken,
) {
    let mut reader = match scratch.reader(&consumer, READ_BLOCK).await {
        Ok(reader) => reader,
        Err(e) => {
            eprintln!("baseline {consumer}: cannot connect to redis: {e}");
            return;
        }
    };
    while !shutdown.is_cancelled() {
        let entries = match reader.read(BATCH).await {
            Ok(entries) => entries,
            Err(e) => {
                eprintln!("baseline {consumer}: reading the stream failed: {e}");
                tokio::time::sleep(ERROR_BACKOFF).await;
                continue;
            }
        };
        let delivered = deliver_all(&client, &sink_url, entries).await;
        if let Err(e) = scratch.ack(&delivered).await {
            eprintln!("baseline {consumer}: acknowledging failed: {e}");
        }
    }
}

/// POSTs every entry to the sink at once; the ids of those answered 2xx.
async fn deliver_all(client: &reqwest::Client, sink_url: &Url, entries: Vec<Entry>) -> Vec<String> {
    let mut posts = JoinSet::new();
    for entry in entries {
        let request = client.post(sink_url.clone()).body(entry.body);
        posts.spawn(async move {
            let response = request.send().await.ok()?;
            let success = response.status().is_success();
            // Reading the (empty) answer hands the connection back to the pool.
            response.bytes().await.ok()?;
            success.then_some(entry.id)
        });
    }
    let mut delivered = Vec::with_capacity(posts.len());
    while let Some(joined) = posts.join_next().await {
        if let Ok(Some(id)) = joined {
            delivered.push(id);
        }
    }
    delivered
}
