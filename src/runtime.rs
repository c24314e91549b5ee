//! The I/O around the pure pipeline: polling a source into the store, draining the outbox into
//! the sinks, and the long-running loops of `earshot run`.
//!
//! Every step takes `now` explicitly, so tests drive hours of retries and back-offs by passing
//! later times, without sleeping. The loops in [`run`] are the only place that reads the clock.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use earshot_connectors::{Connector, FetchError, FetchOptions, HttpFetcher, SourceState};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, trace, warn};

use crate::alert::Alert;
use crate::config::{Config, DEFAULT_EVERY, SourceConfig, parse_cron};
use crate::metrics::Delivered;
use crate::pipeline::Pipeline;
use crate::sink::Followup;
use crate::sink::{Retry, Sink};
use crate::store::{
    CONVERSATION_TTL, CommitReport, Delivery, DeliveryKind, NewMention, PollCommit, SourceRow,
    Store, StoreError,
};
use crate::urgency::Level;

/// Why the runtime could not be built. Each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot set up HTTP: {0}")]
    Http(String),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    #[error("scheduler: {0}")]
    Scheduler(String),
    #[error("{0}")]
    Locked(String),
}

/// Held while a daemon or `earshot once` works on a state directory, so that two of them never
/// send the same delivery at once. Released when dropped (or when the process dies).
#[derive(Debug)]
pub struct StateLock {
    _file: std::fs::File,
}

/// Takes the state directory's lock, or says who holds it.
pub fn lock_state_dir(dir: &std::path::Path) -> Result<StateLock, RuntimeError> {
    use std::io::{Read, Seek, Write};
    let fail = |m: String| RuntimeError::Locked(m);
    if dir.exists() && !dir.is_dir() {
        return Err(fail(format!(
            "{} is a file, not a directory: daemon.state_dir must name a directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        fail(format!(
            "cannot create {} ({e}): check daemon.state_dir and its permissions",
            dir.display()
        ))
    })?;
    let path = dir.join("earshot.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| fail(format!("cannot open {} ({e})", path.display())))?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.set_len(0);
            let _ = write!(file, "{}", std::process::id());
            Ok(StateLock { _file: file })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.rewind();
            let _ = file.read_to_string(&mut pid);
            Err(fail(format!(
                "another earshot (pid {}) is working on {}: stop it first, or use `earshot once --dry-run`, `status` or `mentions`, which only read",
                pid.trim(),
                dir.display()
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(fail(format!("cannot lock {} ({e})", path.display())))
        }
    }
}

/// The pid of the earshot working on `dir`, if one is: read from the lock file, and checked
/// against the running processes (Linux), without taking the lock: a reader that took it even
/// for an instant could stop a daemon starting at that moment.
pub fn state_dir_holder(dir: &std::path::Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dir.join("earshot.lock"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // The file keeps the last holder's pid after it exits: that pid must still be an earshot.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    comm.trim().starts_with("earshot").then_some(pid)
}

/// How long a sink's queue is held after the target refused the sink itself (401, 403, 404, 410).
pub const SINK_HOLD: Duration = Duration::from_secs(600);

/// Statuses that say the sink (its URL or token) is wrong, not the message.
fn sink_is_broken(status: u16) -> bool {
    matches!(status, 401 | 403 | 404 | 410)
}

/// A sink with its pacing.
struct SinkHandle {
    sink: Sink,
    /// May reach non-public addresses (`allow_private`, or `daemon.allow_private_networks`).
    allow_private: bool,
    /// `max_alerts_per_hour`, [`crate::config::DEFAULT_ALERTS_PER_HOUR`] when not set.
    budget: u32,
    /// Spaces messages to the target's documented pace; `None` for local targets (stdout).
    pace: Option<DefaultDirectRateLimiter>,
}

/// Everything the daemon holds while running one config.
pub struct Runtime {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub http: HttpFetcher,
    pub pipeline: Pipeline,
    sinks: HashMap<String, SinkHandle>,
    /// One connector per source, built once: tokens, sessions and caches live in them.
    connectors: HashMap<String, Arc<Connector>>,
    /// Client for chat targets: never follows redirects (a 3xx is a failure, not a new target).
    client: crate::sink::Outbound,
    /// The same pool without the guard against private networks, for sinks allowed them.
    client_open: crate::sink::Outbound,
    /// Woken when a poll enqueues deliveries, so they go out at once.
    wake: Arc<Notify>,
    /// The state directory's lock, for runtimes that own the real store (shared with the
    /// runtimes of later configs, which use the same store).
    _lock: Option<Arc<StateLock>>,
    /// Signs acknowledge links, when the HTTP listener is on.
    ack_links: Option<AckLinks>,
    clock: Clock,
    /// The process's counters, shared by every config a reload brings.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// systemd's notification socket (inert outside systemd).
    notifier: Arc<crate::notify::Notifier>,
}

/// `/healthz`, `/readyz` and `/metrics` backed by the runtime.
struct OpsOnRuntime(Arc<Runtime>);

impl crate::http::Ops for OpsOnRuntime {
    fn health(&self) -> (u16, String) {
        let h = self.0.health();
        // Plain data with string keys always serializes.
        let body = serde_json::to_string_pretty(&h)
            .unwrap_or_else(|_| r#"{"status":"failing"}"#.to_string());
        (h.http_status(), body)
    }

    fn ready(&self) -> bool {
        self.0.metrics.is_ready()
    }

    fn metrics(&self) -> String {
        self.0.prometheus()
    }
}

/// Acknowledge pages backed by the runtime's store.
struct AckOnStore(Arc<Runtime>);

impl crate::http::AckHandler for AckOnStore {
    fn describe(&self, ids: &[i64]) -> Vec<String> {
        self.0.store.mention_lines(ids).unwrap_or_else(|e| {
            warn!(error = %e, "Could not read mentions for an acknowledge page");
            Vec::new()
        })
    }

    fn ack(&self, ids: &[i64], by: &str) -> Result<usize, String> {
        self.0
            .ack(ids, by, self.0.now())
            .map(|v| v.len())
            .map_err(|e| e.to_string())
    }
}

/// What acknowledge links are made of.
struct AckLinks {
    key: Arc<crate::ack::AckKey>,
    /// `public_url`, or the listener's address.
    base: String,
    /// Seconds a link works.
    ttl: i64,
}

/// Where the runtime reads the time: the system clock in the daemon and the command line; in
/// tests tokio's paused clock from a chosen instant, so that a day of activity takes
/// milliseconds. The one type in earshot that reads the system clock (see
/// [`earshot_connectors::clock`]).
pub use earshot_connectors::Clock;

/// What one poll did, for logs and `earshot once`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PollReport {
    pub source_id: String,
    pub fetched: usize,
    pub not_modified: bool,
    pub commit: CommitReport,
    /// True when this poll only seeded history (first poll, `backfill = false`).
    pub seeding: bool,
    pub error: Option<String>,
}

/// A poll's fetch, judged, before anything is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// Every platform id fetched, matching or not.
    pub seen_ids: Vec<String>,
    /// How many of them this source never showed before.
    pub new_items: usize,
    /// The new ones that matched a watch, with their deliveries.
    pub mentions: Vec<NewMention>,
}

/// What one pass over the outbox did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DrainReport {
    pub sent: usize,
    pub retrying: usize,
    pub dead: usize,
}

impl std::ops::AddAssign for DrainReport {
    fn add_assign(&mut self, o: DrainReport) {
        self.sent += o.sent;
        self.retrying += o.retrying;
        self.dead += o.dead;
    }
}

impl Runtime {
    /// Opens the store, builds the HTTP client and every sink (resolving secrets). Everything
    /// this runtime does that reads the time, without being handed an explicit `now`, reads
    /// `clock`: the daemon's is [`Clock::System`], a test's its own.
    pub fn new(config: Config, clock: Clock) -> Result<Runtime, RuntimeError> {
        let lock = lock_state_dir(&config.daemon.state_dir)?;
        let store = Store::open(&config.db_path())?;
        let key = match config.http.listen_addr() {
            Some(_) => Some(
                crate::ack::AckKey::load_or_create(&config.daemon.state_dir)
                    .map_err(RuntimeError::Config)?,
            ),
            None => None,
        };
        let mut rt = Runtime::with_store(config, Arc::new(store), clock)?;
        rt._lock = Some(Arc::new(lock));
        if let Some(k) = key {
            rt.set_ack_key(k);
        }
        Ok(rt)
    }

    /// As [`Runtime::new`] with a store already open.
    pub fn with_store(
        config: Config,
        store: Arc<Store>,
        clock: Clock,
    ) -> Result<Runtime, RuntimeError> {
        let d = &config.daemon;
        // reqwest is built without a default TLS provider (ring builds faster and smaller than
        // aws-lc); install ring process-wide once. An error means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = HttpFetcher::new(FetchOptions {
            user_agent: d.user_agent.clone(),
            connect_timeout: d.connect_timeout.0,
            total_timeout: d.timeout.0,
            max_body: d.max_body,
            max_redirects: d.max_redirects,
            per_host_rps: d.per_host_rps,
            allow_private: d.allow_private_networks,
        })
        .map_err(|e| RuntimeError::Http(e.to_string()))?
        .with_clock(clock);
        let sink_client = |guard: bool| {
            let b = reqwest::Client::builder();
            let b = if guard {
                b.dns_resolver(Arc::new(earshot_connectors::netguard::PublicOnly))
                    .no_proxy()
            } else {
                b
            };
            b.user_agent(d.user_agent.clone())
                .connect_timeout(d.connect_timeout.0)
                .timeout(d.timeout.0)
                .redirect(reqwest::redirect::Policy::none())
                .referer(false)
                .build()
                .map_err(|e| RuntimeError::Http(e.without_url().to_string()))
        };
        let client = crate::sink::Outbound::guarded(sink_client(true)?, clock);
        let client_open = crate::sink::Outbound::new(sink_client(false)?, clock);
        let mut sinks = HashMap::new();
        for sc in &config.sinks {
            let allow_private = sc.allow_private || d.allow_private_networks;
            let sink = Sink::from_config(&crate::config::SinkConfig {
                allow_private,
                ..sc.clone()
            })?;
            let pace = sc
                .max_per_second
                .or(sink.default_pace())
                .and_then(per_second_quota)
                .map(RateLimiter::direct);
            sinks.insert(
                sc.id.clone(),
                SinkHandle {
                    sink,
                    allow_private,
                    pace,
                    budget: sc
                        .max_alerts_per_hour
                        .unwrap_or(crate::config::DEFAULT_ALERTS_PER_HOUR),
                },
            );
        }
        let mut connectors = HashMap::new();
        for s in &config.sources {
            let connector = Connector::new(&s.platform).map_err(|e| {
                RuntimeError::Config(format!("source {:?}: {}", s.id, source_error(&e)))
            })?;
            connectors.insert(s.id.clone(), Arc::new(connector));
        }
        let pipeline = Pipeline::new(&config).map_err(RuntimeError::Config)?;
        Ok(Runtime {
            connectors,
            config: Arc::new(config),
            store,
            http,
            pipeline,
            sinks,
            client,
            client_open,
            wake: Arc::new(Notify::new()),
            _lock: None,
            ack_links: None,
            clock,
            metrics: Arc::new(crate::metrics::Metrics::new(clock.now().timestamp())),
            notifier: Arc::new(crate::notify::Notifier::default()),
        })
    }

    /// A runtime for `config`, a changed config, on this one's store, lock, clock, counters
    /// and acknowledge key: what a reload switches to. Fails (and the old config keeps
    /// running) when a sink or source cannot be built, or the state directory moved.
    pub fn reloaded(&self, config: Config) -> Result<Runtime, RuntimeError> {
        if config.daemon.state_dir != self.config.daemon.state_dir {
            return Err(RuntimeError::Config(format!(
                "daemon.state_dir changed from {} to {}: the database cannot move while earshot runs; restart it instead",
                self.config.daemon.state_dir.display(),
                config.daemon.state_dir.display()
            )));
        }
        let key = match (config.http.listen_addr(), self.ack_key()) {
            (None, _) => None,
            (Some(_), Some(k)) => Some(k),
            (Some(_), None) => Some(Arc::new(
                crate::ack::AckKey::load_or_create(&config.daemon.state_dir)
                    .map_err(RuntimeError::Config)?,
            )),
        };
        let mut rt = Runtime::with_store(config, self.store.clone(), self.clock)?;
        rt._lock = self._lock.clone();
        rt.metrics = self.metrics.clone();
        rt.notifier = self.notifier.clone();
        // Rate-limit waits count on across reloads, as the other counters do.
        rt.http = rt.http.clone().with_rate_waits(self.http.rate_waits());
        if let Some(k) = key {
            rt.ack_links = rt.config.http.link_base().map(|base| AckLinks {
                key: k,
                base,
                ttl: rt.config.http.ack_link_ttl.0.as_secs() as i64,
            });
        }
        Ok(rt)
    }

    /// Tells systemd (when earshot runs under it) what happens: see [`crate::notify`].
    pub fn set_notifier(&mut self, notifier: crate::notify::Notifier) {
        self.notifier = Arc::new(notifier);
    }

    /// One line for `systemctl status`: the sources, the sinks and what waits to be sent.
    pub fn status_line(&self) -> String {
        let queued = self
            .store
            .sink_stats()
            .map(|v| v.iter().map(|s| s.pending).sum::<i64>())
            .unwrap_or(0);
        format!(
            "{} sources, {} watches, {} sinks; {queued} deliveries queued",
            self.config.sources.iter().filter(|s| s.enabled).count(),
            self.config.watches.len(),
            self.sinks.len()
        )
    }

    /// The time, as this runtime's clock reads it.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Signs acknowledge links with `key` (when the config's `[http]` listener is on).
    pub fn set_ack_key(&mut self, key: crate::ack::AckKey) {
        self.ack_links = self.config.http.link_base().map(|base| AckLinks {
            key: Arc::new(key),
            base,
            ttl: self.config.http.ack_link_ttl.0.as_secs() as i64,
        });
    }

    /// What earshot's HTTP listener serves with: this runtime's store, key and clock. `None`
    /// when the listener is off (or no key was loaded).
    pub fn http_state(self: &Arc<Self>) -> Option<crate::http::HttpState> {
        let key = self.ack_key()?;
        let clock = self.clock;
        Some(crate::http::HttpState {
            key,
            handler: Arc::new(AckOnStore(self.clone())),
            now: Arc::new(move || clock.now().timestamp()),
            web: Some(Arc::new(crate::web::WebState {
                store: self.store.clone(),
                watches: self.config.watches.iter().map(|w| w.name.clone()).collect(),
                sources: self.config.sources.iter().map(|s| s.id.clone()).collect(),
            })),
            ops: Some(Arc::new(OpsOnRuntime(self.clone()))),
        })
    }

    /// How this runtime's parts are doing (reads the store).
    pub fn health(&self) -> crate::health::Health {
        crate::health::Health::read(&self.config, &self.store, self.now().timestamp())
            .with_daemon(&self.metrics)
    }

    /// `/metrics`: the counters and the store's gauges in the Prometheus text format.
    pub fn prometheus(&self) -> String {
        let watches: Vec<String> = self.config.watches.iter().map(|w| w.name.clone()).collect();
        self.metrics
            .render(&self.health(), &watches, &self.http.rate_waits().snapshot())
    }

    /// The key acknowledge links are signed with, when the listener is on.
    pub fn ack_key(&self) -> Option<Arc<crate::ack::AckKey>> {
        self.ack_links.as_ref().map(|l| l.key.clone())
    }

    /// Puts `sink` in place of the configured sink with its id (a sink writing to a buffer,
    /// for tests); false when no sink has that id.
    pub fn replace_sink(&mut self, sink: Sink) -> bool {
        match self.sinks.get_mut(sink.id()) {
            Some(h) => {
                h.sink = sink;
                true
            }
            None => false,
        }
    }

    /// The configured sink with this id.
    pub fn sink(&self, id: &str) -> Option<&Sink> {
        self.sinks.get(id).map(|h| &h.sink)
    }

    /// The connector of a configured source.
    pub fn connector(&self, source_id: &str) -> Option<Arc<Connector>> {
        self.connectors.get(source_id).cloned()
    }

    /// What the sink `sink_id` sends with: the guarded pool, or the open one when the sink
    /// may reach private addresses.
    pub fn http_client(&self, sink_id: &str) -> &crate::sink::Outbound {
        self.outbound(self.sinks.get(sink_id).is_some_and(|h| h.allow_private))
    }

    fn outbound(&self, allow_private: bool) -> &crate::sink::Outbound {
        if allow_private {
            &self.client_open
        } else {
            &self.client
        }
    }

    /// The fetcher a source polls with: allowed private addresses when the source or the
    /// daemon says so.
    pub fn fetcher_for(&self, source: &SourceConfig) -> HttpFetcher {
        self.http
            .allowing_private(source.allow_private || self.config.daemon.allow_private_networks)
    }

    /// Polls one source and commits what it found (or the failure and its back-off).
    pub async fn poll(
        &self,
        source: &SourceConfig,
        now: DateTime<Utc>,
    ) -> Result<PollReport, StoreError> {
        let span = info_span!("poll", source = %source.id);
        self.poll_inner(source, now).instrument(span).await
    }

    /// What to poll a source with: its stored state, and whether its new items may alert
    /// (not on the first poll, unless `backfill`).
    pub fn poll_state(
        &self,
        source: &SourceConfig,
    ) -> Result<(Option<SourceRow>, SourceState, bool), StoreError> {
        let row = self.store.source(&source.id)?;
        let state = row.as_ref().map(|r| r.state.clone()).unwrap_or_default();
        let alert = row.as_ref().is_some_and(|r| r.seeded) || source.backfill;
        Ok((row, state, alert))
    }

    /// Judges what a poll fetched: the items this source never showed before, matched and
    /// scored, with their deliveries. Writes nothing (`once --dry-run` shows it as is).
    pub fn judge(
        &self,
        source: &SourceConfig,
        fetched: Vec<earshot_connectors::Mention>,
        alert: bool,
        now: DateTime<Utc>,
    ) -> Result<Judged, StoreError> {
        let seen_ids: Vec<String> = fetched.iter().map(|m| m.platform_id.clone()).collect();
        let unseen = blocking(|| self.store.unseen(&source.id, &seen_ids))?;
        let silences: Vec<crate::pipeline::SilenceMatcher> =
            blocking(|| self.store.silences(now.timestamp(), false))
                .unwrap_or_else(|e| {
                    // A read-only look at an older database (`once --dry-run`) has no silences.
                    warn!(error = %e, "Could not read silences; none applied");
                    Vec::new()
                })
                .iter()
                .filter_map(|s| match crate::pipeline::SilenceMatcher::new(s) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        warn!(error = %e, "Ignoring a silence whose query no longer parses");
                        None
                    }
                })
                .collect();
        let mentions = fetched
            .into_iter()
            .filter(|m| unseen.contains(&m.platform_id))
            .filter_map(|m| {
                self.pipeline
                    .evaluate_with(source, m, now, alert, &silences)
            })
            .collect();
        Ok(Judged {
            seen_ids,
            new_items: unseen.len(),
            mentions,
        })
    }

    async fn poll_inner(
        &self,
        source: &SourceConfig,
        now: DateTime<Utc>,
    ) -> Result<PollReport, StoreError> {
        let (row, state, alert) = self.poll_state(source)?;
        let mut report = PollReport {
            source_id: source.id.clone(),
            ..Default::default()
        };
        let Some(connector) = self.connector(&source.id) else {
            report.error = Some("not in the running config".to_string());
            return Ok(report);
        };
        let ts = now.timestamp();
        trace!(alert, "Fetching");
        match connector.fetch(&self.fetcher_for(source), &state).await {
            Ok(outcome) => {
                report.fetched = outcome.mentions.len();
                report.not_modified = outcome.not_modified;
                report.seeding = !alert;
                let judged = self.judge(source, outcome.mentions, alert, now)?;
                // Counted once the commit holds: the mentions move into it.
                let matched: Vec<String> = judged
                    .mentions
                    .iter()
                    .flat_map(|m| m.watches.iter().cloned())
                    .collect();
                let next_at = Schedule::of(source)
                    .next_after(now)
                    .map_or(ts + DEFAULT_EVERY.as_secs() as i64, |t| t.timestamp());
                trace!(fetched = report.fetched, "Committing the poll");
                let committed = blocking(|| {
                    self.store.commit_poll(&PollCommit {
                        source_id: &source.id,
                        source_kind: connector.kind(),
                        now: ts,
                        state: &outcome.state,
                        seen_ids: judged.seen_ids,
                        mentions: judged.mentions,
                        next_poll_at: next_at,
                        notice: outcome.notice.as_ref(),
                    })
                });
                report.commit = match committed {
                    Ok(c) => c,
                    Err(e) => {
                        self.metrics.polled(&source.id, Some("store"));
                        return Err(e);
                    }
                };
                self.metrics.polled(&source.id, None);
                for w in &matched {
                    self.metrics.matched(w, 1);
                }
                info!(
                    fetched = report.fetched,
                    not_modified = report.not_modified,
                    new_items = report.commit.new_items,
                    new_mentions = report.commit.new_mentions,
                    enqueued = report.commit.enqueued,
                    seeding = report.seeding,
                    notice = outcome.notice.as_ref().map_or("", |n| n.message.as_str()),
                    "Polled"
                );
                if report.commit.enqueued > 0 {
                    self.wake.notify_waiters();
                }
            }
            Err(e) => {
                let errors = row.as_ref().map_or(0, |r| r.error_count) + 1;
                let wait = source_backoff(
                    errors,
                    &e,
                    self.config.daemon.max_backoff.0,
                    fastrand::f64(),
                );
                // What the source's task will really do: not before the back-off ends, and
                // then at its next scheduled time (shown by `status`).
                let backoff_end = ts + wait.as_secs() as i64;
                let next = match Schedule::of(source) {
                    Schedule::Every(d) => backoff_end.max(ts + d.as_secs() as i64),
                    cron => DateTime::from_timestamp(backoff_end - 1, 0)
                        .and_then(|b| cron.next_after(b))
                        .map_or(backoff_end, |t| t.timestamp()),
                };
                let message = e.to_string();
                self.metrics
                    .polled(&source.id, Some(crate::metrics::fetch_reason(&e)));
                self.store
                    .record_failure(&source.id, connector.kind(), &message, ts, next)?;
                warn!(error = %message, consecutive_failures = errors, retry_in_s = wait.as_secs(), "Fetch failed");
                report.error = Some(message);
            }
        }
        Ok(report)
    }

    /// Sends every delivery of `sink_id` due at `now`, pacing to the target; stops early on `stop`.
    pub async fn deliver_due(
        &self,
        sink_id: &str,
        now: DateTime<Utc>,
        stop: &CancellationToken,
    ) -> Result<DrainReport, StoreError> {
        let mut report = DrainReport::default();
        let Some(handle) = self.sinks.get(sink_id) else {
            return Ok(report);
        };
        let ts = now.timestamp();
        // The time as this drain goes on: `now` plus what pacing and sending took since. Sends
        // are stamped with it, and back-offs counted from it.
        let started = tokio::time::Instant::now();
        let now_here = || now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        let give_up = self.config.daemon.delivery_give_up_after.0.as_secs() as i64;
        // A held sink (Retry-After, back-off, a refusing target) sends nothing before its hold
        // ends: not the rows it was told about, not the ones queued since.
        let mut held = blocking(|| self.store.sink_held_until(sink_id))?;
        if held.is_some_and(|until| until > ts) {
            return Ok(report);
        }
        loop {
            // The sink's budget: messages it accepted within the last hour.
            let b = handle.budget;
            let sends = blocking(|| self.store.sends_since(sink_id, ts - 3600))?;
            let room = (b as usize).saturating_sub(sends.len());
            if room == 0 {
                // Room again when the oldest of those leaves the hour.
                let until = sends.first().map_or(ts + 60, |t| t + 3600).max(ts + 1);
                let held = self.store.hold_for_budget(sink_id, ts, until)?;
                if held > 0 {
                    info!(
                        sink = %sink_id,
                        held,
                        budget = b,
                        "Alert budget spent for this hour; held for one summary"
                    );
                }
            }
            let mut due = blocking(|| self.store.due_deliveries(sink_id, ts, 50))?;
            if due.iter().any(|d| d.held != 0) {
                // A catch-up is one message however many it holds: all of them, not a page.
                let held = blocking(|| self.store.due_held(sink_id, ts))?;
                let mut seen: HashSet<i64> = due.iter().map(|d| d.id).collect();
                due.extend(held.into_iter().filter(|d| seen.insert(d.id)));
            }
            if due.is_empty() {
                return Ok(report);
            }
            let mut counted = 0;
            for d in batches(due, handle.budget) {
                if d.counts {
                    if counted >= room {
                        // Over budget: the next turn of the loop holds it.
                        continue;
                    }
                    counted += 1;
                }
                if stop.is_cancelled() {
                    return Ok(report);
                }
                if let Some(l) = &handle.pace
                    && l.check().is_err()
                {
                    self.metrics.paced(sink_id);
                    tokio::select! {
                        _ = stop.cancelled() => return Ok(report),
                        _ = l.until_ready() => {}
                    }
                }
                let span = info_span!("deliver", sink = %sink_id, delivery = d.ids[0], rows = d.ids.len(), attempt = d.attempts + 1);
                trace!(parent: &span, "Sending");
                let result = self
                    .send_batch(handle, sink_id, &d, ts, now_here())
                    .instrument(span.clone())
                    .await?;
                let _e = span.enter();
                match result {
                    Ok(sent) => {
                        let at = now_here().timestamp();
                        for id in &d.ids {
                            self.store.mark_sent(*id, at, sent.message_ref.as_deref())?;
                        }
                        if d.counts {
                            self.store.record_send(sink_id, ts)?;
                        }
                        if held.take().is_some() {
                            self.store.release_sink(sink_id)?;
                        }
                        trace!("Marked sent");
                        report.sent += d.ids.len();
                        self.metrics
                            .delivered(sink_id, Delivered::Sent, d.ids.len() as u64);
                        info!("Delivered");
                        if let Some(w) = sent.wait_before_next {
                            self.metrics.paced(sink_id);
                            debug!(wait_ms = w.as_millis() as u64, "Target asks to slow down");
                            tokio::select! {
                                _ = stop.cancelled() => return Ok(report),
                                _ = tokio::time::sleep(w) => {}
                            }
                        }
                    }
                    Err(e) => match e.retry {
                        Retry::Never => {
                            for id in &d.ids {
                                self.store.mark_dead(*id, &e.message)?;
                            }
                            report.dead += d.ids.len();
                            self.metrics
                                .delivered(sink_id, Delivered::Dead, d.ids.len() as u64);
                            warn!(error = %e.message, "Delivery failed for good; parked as dead (see `earshot status`)");
                            if e.status.is_some_and(sink_is_broken) {
                                // A deleted webhook or a revoked token fails every message the
                                // same way, and platforms ban senders that keep trying: hold the
                                // queue and probe again later with one message.
                                let until = ts + SINK_HOLD.as_secs() as i64;
                                self.store.hold_sink(sink_id, until)?;
                                let held = self.store.defer_sink(sink_id, until)?;
                                warn!(
                                    held,
                                    hold_s = SINK_HOLD.as_secs(),
                                    "The target refuses this sink; its queue is held (fix the sink, then `earshot retry-dead`)"
                                );
                                return Ok(report);
                            }
                        }
                        Retry::Later(after) => {
                            let wait = delivery_backoff(d.attempts + 1, after, fastrand::f64());
                            // Counted from when the failure was seen: after a 30 s timeout a
                            // 5 s back-off from the start would already be over.
                            let seen = now_here().timestamp();
                            let next = seen + wait.as_secs().max(1) as i64;
                            if ts - d.created_at > give_up {
                                let msg = format!(
                                    "gave up after {} attempts: {}",
                                    d.attempts + 1,
                                    e.message
                                );
                                for id in &d.ids {
                                    self.store.mark_dead(*id, &msg)?;
                                }
                                report.dead += d.ids.len();
                                self.metrics.delivered(
                                    sink_id,
                                    Delivered::Dead,
                                    d.ids.len() as u64,
                                );
                                warn!(error = %e.message, "Delivery kept failing; parked as dead");
                            } else {
                                for id in &d.ids {
                                    self.store.mark_retry(*id, next, &e.message)?;
                                }
                                report.retrying += d.ids.len();
                                self.metrics.delivered(
                                    sink_id,
                                    Delivered::Failed,
                                    d.ids.len() as u64,
                                );
                                warn!(error = %e.message, retry_in_s = wait.as_secs(), "Delivery failed; will retry");
                            }
                            // The target is down or asked us to slow down: the rest of its
                            // queue waits too, instead of hammering it once per row, and so does
                            // whatever is queued before the hold ends.
                            self.store.hold_sink(sink_id, next)?;
                            let deferred = self.store.defer_sink(sink_id, next)?;
                            debug!(deferred, "This sink's queue waits before retrying");
                            // Every row that has waited past the give-up time is parked now,
                            // not one per retry.
                            let msg = format!(
                                "gave up: not delivered within daemon.delivery_give_up_after; last error: {}",
                                e.message
                            );
                            let parked = self.store.park_expired(sink_id, ts - give_up, &msg)?;
                            if parked > 0 {
                                report.dead += parked;
                                self.metrics
                                    .delivered(sink_id, Delivered::Dead, parked as u64);
                                warn!(
                                    parked,
                                    "Deliveries waited past the give-up time; parked as dead"
                                );
                            }
                            return Ok(report);
                        }
                    },
                }
            }
            // Rows just retried are scheduled after `ts`, so the next query only finds fresh
            // ones; alerts over the budget are held by the next turn.
        }
    }

    /// Sends one batch the way its sink shows it: an update edits its message; rows of a
    /// conversation the sink already has follow its message (edited in, replied in thread,
    /// or one summary); anything else is a new message. Urgent alerts carry an acknowledge link.
    async fn send_batch(
        &self,
        h: &SinkHandle,
        sink_id: &str,
        b: &Batch,
        ts: i64,
        sending_at: DateTime<Utc>,
    ) -> Result<Result<crate::sink::Sent, crate::sink::SendError>, StoreError> {
        // The sink reads replies' times (`Retry-After` dates, resets) on the outbox's `now`.
        let client = &self
            .outbound(h.allow_private)
            .clone()
            .with_clock(Clock::tokio_from(sending_at));
        if let Some(target) = &b.update_of {
            let carried = blocking(|| self.store.message_alerts(sink_id, target))?;
            if carried.is_empty() {
                return Ok(Ok(crate::sink::Sent::default()));
            }
            let alerts: Vec<Alert> = carried.iter().map(|c| c.0.clone()).collect();
            let alert = Alert::one_or_group(&alerts);
            let mut by: Vec<&str> = carried.iter().filter_map(|c| c.2.as_deref()).collect();
            let acked = by.len();
            by.sort_unstable();
            by.dedup();
            let alert = if acked == carried.len() {
                alert.acknowledged(&by.join(", "))
            } else {
                let mut a = alert;
                a.reasons
                    .insert(0, format!("{acked} of {} acknowledged", carried.len()));
                let mentions: Vec<i64> = carried.iter().filter_map(|c| c.1).collect();
                self.with_ack(a, &mentions, ts)
            };
            return Ok(match h.sink.edit(client, target, &alert).await {
                // The message was deleted, or cannot be edited: there is nothing to update.
                Err(e) if e.retry == Retry::Never => {
                    info!(error = %e.message, "The message to update is gone; left as it is");
                    Ok(crate::sink::Sent::default())
                }
                other => other,
            });
        }
        if let Some((key, alerts)) = &b.group
            && let Some(conv) =
                blocking(|| self.store.conversation(sink_id, key, ts - CONVERSATION_TTL))?
        {
            let mode = h.sink.followup();
            if let (Followup::Edit, Some(root)) = (mode, &conv.root_ref) {
                let all: Vec<Alert> = conv.sent.iter().chain(alerts).cloned().collect();
                let mentions: Vec<i64> = conv.mentions.iter().chain(&b.mentions).copied().collect();
                let alert = self.with_ack(Alert::group(&all), &mentions, ts);
                match h.sink.edit(client, root, &alert).await {
                    Ok(sent) => {
                        return Ok(Ok(crate::sink::Sent {
                            message_ref: Some(root.clone()),
                            ..sent
                        }));
                    }
                    Err(e) if e.retry == Retry::Never => {
                        debug!(error = %e.message, "Could not edit the conversation's message; sending a new one");
                    }
                    Err(e) => return Ok(Err(e)),
                }
            }
            let alert = self.with_ack(Alert::followup(alerts, &conv.sent), &b.mentions, ts);
            let reply_to = match mode {
                Followup::Reply => conv.root_ref.as_deref(),
                _ => None,
            };
            return Ok(h.sink.send_reply(client, &alert, reply_to).await);
        }
        let alert = self.with_ack(b.alert.clone(), &b.mentions, ts);
        Ok(h.sink.send(client, &alert).await)
    }

    /// `alert` with an acknowledge link for `mentions` when it is urgent (high or critical)
    /// and the listener is on.
    fn with_ack(&self, mut alert: Alert, mentions: &[i64], ts: i64) -> Alert {
        if let Some(l) = &self.ack_links
            && alert.level >= Level::High
            && !mentions.is_empty()
        {
            alert.ack_url = Some(l.key.link(&l.base, mentions, ts + l.ttl));
        }
        alert
    }

    /// Acknowledges mentions: their escalations stop and the messages that carried them are
    /// edited to say so where the target allows. Returns the ids acknowledged now.
    pub fn ack(&self, ids: &[i64], by: &str, now: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
        let editable = self.config.editable_sinks();
        let done = blocking(|| self.store.ack(ids, by, now.timestamp(), &editable))?;
        if !done.is_empty() {
            info!(mentions = ?done, by, "Acknowledged");
            self.wake.notify_waiters();
        }
        Ok(done)
    }

    /// Sends the escalations due at `now`: each critical mention nobody acknowledged goes to its
    /// escalation route again, until acknowledged or sent `escalate_times` times. Returns how
    /// many deliveries were enqueued.
    pub fn escalate_due(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let ts = now.timestamp();
        let mut enqueued = 0;
        for e in blocking(|| self.store.due_escalations(ts, 100))? {
            let deliveries = match (&e.alert, e.acked) {
                (Some(alert), false) => self.pipeline.escalation_deliveries(
                    &e.route,
                    alert,
                    e.sent_times + 1,
                    e.max_times,
                    Duration::from_secs((e.every.max(0) as u64) * (e.sent_times as u64 + 1)),
                    now,
                ),
                _ => Vec::new(),
            };
            let n = blocking(|| self.store.record_escalation(&e, &deliveries, ts))?;
            if n > 0 {
                info!(mention = e.mention_id, route = %e.route, escalation = e.sent_times + 1, of = e.max_times, "Not acknowledged: escalated");
            }
            enqueued += n;
        }
        if enqueued > 0 {
            self.wake.notify_waiters();
        }
        Ok(enqueued)
    }

    /// Announces the silences that ran their course by `now` on their routes' sinks (once
    /// each, also across restarts). Returns how many ended.
    pub fn end_silences(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let ended = blocking(|| {
            self.store.end_silences(now.timestamp(), |s| {
                crate::pipeline::silence_announcement(
                    &self.config,
                    s,
                    crate::pipeline::SilenceChange::Ended,
                    now.timestamp(),
                )
            })
        })?;
        for s in &ended {
            info!(silence = s.id, matches = %s.matchers(), "Silence ended");
        }
        if !ended.is_empty() {
            self.wake.notify_waiters();
        }
        Ok(ended.len())
    }

    /// Enqueues the `[[digest]]` messages due by `now`: one per period, also across restarts.
    /// A digest first seen starts counting now; periods missed while the daemon was down are
    /// sent when it comes back, marked late (the latest [`LATE_DIGESTS`] of them; older ones
    /// are recorded as skipped). Returns how many were enqueued.
    pub fn send_due_digests(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let ts = now.timestamp();
        let mut sent = 0;
        for d in &self.config.digests {
            let Some(last) = blocking(|| self.store.digest_last(&d.name))? else {
                blocking(|| self.store.arm_digest(&d.name, ts))?;
                continue;
            };
            let mut due = Vec::new();
            let mut t = DateTime::from_timestamp(last, 0).unwrap_or(now);
            while let Some(next) = d.next_after(t).filter(|n| *n <= now) {
                due.push(next);
                t = next;
                if due.len() > 10_000 {
                    break;
                }
            }
            let keep = due.len().saturating_sub(LATE_DIGESTS);
            for skipped in &due[..keep] {
                blocking(|| self.store.skip_digest(&d.name, skipped.timestamp(), ts))?;
            }
            for end in &due[keep..] {
                let late = ts - end.timestamp() > DIGEST_GRACE.as_secs() as i64;
                let period =
                    chrono::Duration::from_std(d.period.0).unwrap_or(chrono::Duration::days(1));
                let digest = blocking(|| {
                    crate::digest::compute(
                        &self.store,
                        &crate::digest::Request {
                            from: *end - period,
                            to: *end,
                            watches: d.watches.clone(),
                        },
                    )
                })?;
                let message = crate::store::Announcement {
                    sink_ids: d.sinks.clone(),
                    watch: if d.watches.is_empty() {
                        "*".into()
                    } else {
                        d.watches.join(",")
                    },
                    alert: Alert::digest(&d.name, &digest, late),
                };
                if blocking(|| {
                    self.store
                        .record_digest(&d.name, end.timestamp(), late, &message, ts)
                })? {
                    info!(digest = %d.name, period_end = %end, late, "Digest enqueued");
                    sent += 1;
                }
            }
        }
        if sent > 0 {
            self.wake.notify_waiters();
        }
        Ok(sent)
    }

    /// Checks `[spikes]` at `now`: a watch whose volume or negative share jumped gets one
    /// alert on its routes' sinks; a spike that settled gets its end announced. Returns how
    /// many started and ended.
    pub fn check_spikes(&self, now: DateTime<Utc>) -> Result<crate::spike::Changes, StoreError> {
        let changes =
            blocking(|| crate::spike::check_all(&self.store, &self.config, &self.pipeline, now))?;
        for w in &changes.started {
            info!(watch = %w, "Spike: alert enqueued");
        }
        for w in &changes.ended {
            info!(watch = %w, "Spike over: notice enqueued");
        }
        if !changes.started.is_empty() || !changes.ended.is_empty() {
            self.wake.notify_waiters();
        }
        Ok(changes)
    }

    /// Applies `[retention]` at `now`: old mentions and aggregates are deleted.
    pub fn prune(&self, now: DateTime<Utc>) -> Result<(usize, usize), StoreError> {
        let ts = now.timestamp();
        let r = &self.config.retention;
        let before = r.mentions.map(|d| ts - d.0.as_secs() as i64);
        let aggs_before = ts - r.aggregates.0.as_secs() as i64;
        let (m, a) = blocking(|| self.store.prune(before, aggs_before))?;
        if m + a > 0 {
            info!(
                mentions = m,
                aggregates = a,
                "Pruned what [retention] no longer keeps"
            );
        }
        Ok((m, a))
    }

    /// When the next `[[digest]]` falls due after `now`, if any is configured.
    pub fn next_digest_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.config
            .digests
            .iter()
            .filter_map(|d| d.next_after(now))
            .min()
    }

    /// [`Runtime::deliver_due`] over every sink.
    pub async fn deliver_all_due(
        &self,
        now: DateTime<Utc>,
        stop: &CancellationToken,
    ) -> Result<DrainReport, StoreError> {
        let mut total = DrainReport::default();
        let mut ids: Vec<&String> = self.sinks.keys().collect();
        ids.sort();
        for id in ids {
            total += self.deliver_due(id, now, stop).await?;
        }
        Ok(total)
    }
}

/// Runs a store call that may wait on SQLite (a busy lock, a slow disk) without stalling the
/// other tasks of a multi-threaded runtime (the daemon's, `once`'s); inline on a
/// single-threaded one (most tests).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// What one send carries: one delivery, every held delivery due on the sink as one catch-up
/// message, the rows of one conversation, or an edit of a message sent earlier.
struct Batch {
    ids: Vec<i64>,
    alert: Alert,
    attempts: i64,
    created_at: i64,
    /// The mentions it alerts about, for its acknowledge link.
    mentions: Vec<i64>,
    /// Rows of one conversation: its key and their alerts. When the sink already has the
    /// conversation's message, they follow it (an edit, a reply or a summary).
    group: Option<(String, Vec<Alert>)>,
    /// An update: the message to edit (its alert is rebuilt from what that message carries).
    update_of: Option<String>,
    /// It is an alert (or a catch-up of them), so it counts against the sink's budget and the
    /// budget can hold it. Escalations, edits and notices do neither.
    counts: bool,
}

impl Batch {
    fn of(rows: &[Delivery], alert: Alert) -> Batch {
        Batch {
            ids: rows.iter().map(|d| d.id).collect(),
            alert,
            attempts: rows.iter().map(|d| d.attempts).max().unwrap_or(0),
            created_at: rows.iter().map(|d| d.created_at).min().unwrap_or(0),
            mentions: rows
                .iter()
                .filter(|d| matches!(d.kind, DeliveryKind::Alert | DeliveryKind::Escalation))
                .filter_map(|d| d.mention_id)
                .collect(),
            group: None,
            update_of: None,
            counts: rows.iter().any(|d| d.kind == DeliveryKind::Alert),
        }
    }
}

/// Due deliveries as sends: the held ones (quiet hours, the sink's budget) together, first, as
/// one catch-up message; updates of one message together; the rows of one conversation
/// together, where the first of them stood; the others one by one, in order.
fn batches(due: Vec<Delivery>, budget: u32) -> Vec<Batch> {
    let (held, rest): (Vec<_>, Vec<_>) = due.into_iter().partition(|d| d.held != 0);
    let mut out = Vec::with_capacity(rest.len() + 1);
    if let [one] = held.as_slice() {
        out.push(Batch::of(&held, one.alert.clone()));
    } else if !held.is_empty() {
        let alerts: Vec<Alert> = held.iter().map(|d| d.alert.clone()).collect();
        let why = if held.iter().any(|d| d.held == 1) {
            "during quiet hours".to_string()
        } else {
            format!(
                "back by this channel's budget of {budget} alert{} an hour",
                if budget == 1 { "" } else { "s" }
            )
        };
        out.push(Batch::of(&held, Alert::catch_up(&alerts, &why)));
    }
    // Rows that go together share a key: a conversation, or the message an update edits.
    let mut groups: Vec<(Option<String>, Vec<Delivery>)> = Vec::new();
    for d in rest {
        let key = match (&d.target_ref, &d.group_key) {
            (Some(t), _) if d.kind == DeliveryKind::Update => Some(format!("update:{t}")),
            (_, Some(g)) if d.kind == DeliveryKind::Alert => Some(format!("group:{g}")),
            _ => None,
        };
        match key
            .as_ref()
            .and_then(|k| groups.iter().position(|(g, _)| g.as_ref() == Some(k)))
        {
            Some(i) => groups[i].1.push(d),
            None => groups.push((key, vec![d])),
        }
    }
    for (key, rows) in groups {
        let alerts: Vec<Alert> = rows.iter().map(|d| d.alert.clone()).collect();
        let mut b = Batch::of(&rows, Alert::one_or_group(&alerts));
        match key.as_deref() {
            Some(k) if k.starts_with("update:") => b.update_of = rows[0].target_ref.clone(),
            Some(_) => b.group = rows[0].group_key.clone().map(|g| (g, alerts)),
            None => {}
        }
        out.push(b);
    }
    out
}

/// A connector error as the user should read it: a bad credential says which key.
pub fn source_error(e: &FetchError) -> String {
    match e {
        FetchError::Config(m) => m.clone(),
        other => other.to_string(),
    }
}

fn per_second_quota(rate: f64) -> Option<Quota> {
    if !(rate > 0.0 && rate.is_finite()) {
        return None;
    }
    if rate >= 1.0 {
        NonZeroU32::new(rate.round() as u32)
            .map(|n| Quota::per_second(n).allow_burst(NonZeroU32::MIN))
    } else {
        Duration::try_from_secs_f64(1.0 / rate)
            .ok()
            .and_then(Quota::with_period)
    }
}

/// How long a failing source waits before the next try: exponential from one minute (fifteen
/// for errors that will not clear by themselves), ±20% jitter, capped, never shorter than what
/// the server asked for. It never gives up: the cap is the slowest it gets.
pub fn source_backoff(errors: i64, error: &FetchError, max: Duration, jitter01: f64) -> Duration {
    let base = if error.is_long_lived() {
        Duration::from_secs(900)
    } else {
        Duration::from_secs(60)
    };
    let exp = 2u32.saturating_pow((errors.clamp(1, 30) - 1) as u32);
    let raw = base.saturating_mul(exp).min(max);
    let jittered = raw.mul_f64(0.8 + 0.4 * jitter01.clamp(0.0, 1.0)).min(max);
    jittered.max(error.retry_after().unwrap_or_default())
}

/// How long a failed delivery waits: 5 s doubling to an hour, ±20% jitter, at least what the
/// target asked for (`Retry-After`).
pub fn delivery_backoff(attempts: i64, retry_after: Option<Duration>, jitter01: f64) -> Duration {
    let max = Duration::from_secs(3600);
    let exp = 2u32.saturating_pow((attempts.clamp(1, 30) - 1) as u32);
    let raw = Duration::from_secs(5).saturating_mul(exp).min(max);
    raw.mul_f64(0.8 + 0.4 * jitter01.clamp(0.0, 1.0))
        .max(retry_after.unwrap_or_default())
}

/// How a source is scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Every(Duration),
    Cron(String),
}

impl Schedule {
    pub fn of(source: &SourceConfig) -> Schedule {
        match (&source.cron, source.every) {
            (Some(c), _) => Schedule::Cron(c.clone()),
            (None, Some(e)) => Schedule::Every(e.0),
            (None, None) => Schedule::Every(source.platform.default_every()),
        }
    }

    /// When the source is planned to poll after `now` (for `status`), back-off aside.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(d) => chrono::Duration::from_std(*d)
                .ok()
                .and_then(|d| now.checked_add_signed(d)),
            Schedule::Cron(expr) => parse_cron(expr)
                .ok()?
                .find_next_occurrence(&now, false)
                .ok(),
        }
    }
}

/// The cron expression that fires every `every`, shifted by `offset` (the source's jitter), when
/// the interval divides a minute, an hour or a day evenly (`10m` → `"17 */10 * * * *"`). Such
/// intervals are scheduled by tokio-cron-scheduler's cron jobs, which DEPENDENCIES.md found
/// reliable (its fixed-interval jobs can stop after drifting); other intervals sleep instead.
pub fn every_as_cron(every: Duration, offset: Duration) -> Option<String> {
    let d = every.as_secs();
    if d == 0 || every.subsec_nanos() != 0 {
        return None;
    }
    let o = offset.as_secs() % d;
    let (s, m, h) = (o % 60, (o / 60) % 60, (o / 3600) % 24);
    match d {
        1..=59 if 60 % d == 0 => Some(format!("{s}/{d} * * * * *")),
        60..=3599 if d.is_multiple_of(60) && 3600 % d == 0 => {
            Some(format!("{s} {m}/{} * * * *", d / 60))
        }
        3600..=86_399 if d.is_multiple_of(3600) && 86_400 % d == 0 => {
            Some(format!("{s} {m} {h}/{} * * *", d / 3600))
        }
        86_400 => Some(format!("{s} {m} {h} * * *")),
        _ => None,
    }
}

/// When an interval source polls next: its interval after the last poll plus jitter, but never
/// before its back-off ends. Pure, so that the schedule is tested without a clock.
pub fn next_poll(
    now: DateTime<Utc>,
    every: Duration,
    backoff_until: Option<DateTime<Utc>>,
    jitter: Duration,
    jitter01: f64,
) -> DateTime<Utc> {
    let spread = jitter.mul_f64(jitter01.clamp(0.0, 1.0));
    let planned = chrono::Duration::from_std(every.saturating_add(spread))
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    match backoff_until {
        Some(b) if b > planned => b,
        _ => planned,
    }
}

/// Runs the daemon until `shutdown` fires: one task per enabled source (interval sources sleep,
/// cron sources are woken by tokio-cron-scheduler), one delivery task per sink, the timers and
/// the HTTP listener. On shutdown, deliveries in flight finish within `daemon.shutdown_timeout`.
pub async fn run(rt: Arc<Runtime>, shutdown: CancellationToken) -> Result<(), RuntimeError> {
    let (_never, reloads) = tokio::sync::mpsc::unbounded_channel();
    run_reloading(rt, shutdown, reloads, || Err("no reload".to_string())).await
}

/// [`run`], re-reading the config with `load` whenever `reloads` receives (SIGHUP). A config
/// that does not load, or whose sinks or sources cannot be built, is refused: the running one
/// carries on, and the error is logged and counted. A good one replaces the running tasks:
/// the old ones finish what they are doing (a poll commits, a send is recorded) before the
/// new ones start, so queued deliveries stay queued and nothing is sent twice.
pub async fn run_reloading(
    mut rt: Arc<Runtime>,
    shutdown: CancellationToken,
    mut reloads: tokio::sync::mpsc::UnboundedReceiver<()>,
    mut load: impl FnMut() -> Result<Config, String>,
) -> Result<(), RuntimeError> {
    let mut stop = shutdown.child_token();
    let mut tasks = start(&rt, stop.clone()).await?;
    let mut listening = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            got = reloads.recv(), if listening => {
                if got.is_none() {
                    listening = false;
                    continue;
                }
                rt.notifier.reloading();
                let next = load().and_then(|c| rt.reloaded(c).map_err(|e| e.to_string()));
                let now = rt.now().timestamp();
                match next {
                    Err(e) => {
                        error!(error = %e, "Config reload refused; the running config carries on");
                        rt.metrics.reload(false, now, Some(&e));
                        rt.notifier.ready(&format!("reload refused: {e}"));
                    }
                    Ok(next) => {
                        info!("Config reloading: finishing the work in flight");
                        stop.cancel();
                        tasks.finish(None).await;
                        stop = shutdown.child_token();
                        rt = Arc::new(next);
                        tasks = start(&rt, stop.clone()).await?;
                        rt.metrics.reload(true, now, None);
                        info!("Config reloaded");
                    }
                }
            }
        }
    }
    rt.notifier.stopping();
    rt.metrics.set_ready(false);
    info!("Shutting down: finishing deliveries in flight");
    if !tasks
        .finish(Some(rt.config.daemon.shutdown_timeout.0))
        .await
    {
        warn!(
            "Some work did not finish within daemon.shutdown_timeout; it will be retried at next start"
        );
    }
    Ok(())
}

/// The tasks of one config.
struct Tasks {
    tracker: tokio_util::task::TaskTracker,
    sched: tokio_cron_scheduler::JobScheduler,
}

impl Tasks {
    /// Waits for the tasks (told to stop already) to end, at most `deadline`; false when some
    /// did not.
    async fn finish(mut self, deadline: Option<Duration>) -> bool {
        let _ = self.sched.shutdown().await;
        match deadline {
            Some(d) => tokio::time::timeout(d, self.tracker.wait()).await.is_ok(),
            None => {
                self.tracker.wait().await;
                true
            }
        }
    }
}

/// Starts the tasks of `rt`'s config, which end when `stop` fires; then tells systemd and
/// `/readyz` earshot is ready.
async fn start(rt: &Arc<Runtime>, stop: CancellationToken) -> Result<Tasks, RuntimeError> {
    let sched = tokio_cron_scheduler::JobScheduler::new()
        .await
        .map_err(|e| RuntimeError::Scheduler(e.to_string()))?;
    let tracker = tokio_util::task::TaskTracker::new();
    let sources: Vec<SourceConfig> = rt
        .config
        .sources
        .iter()
        .filter(|s| s.enabled)
        .cloned()
        .collect();
    let jitter = rt.config.daemon.jitter.0;
    for source in sources {
        let tick = Arc::new(Notify::new());
        let schedule = Schedule::of(&source);
        // On tokio's clock (tests) every source sleeps: the cron scheduler reads the system's.
        let cron = match &schedule {
            _ if !matches!(rt.clock, Clock::System) => None,
            Schedule::Cron(expr) => Some(expr.clone()),
            Schedule::Every(d) => every_as_cron(*d, jitter.min(*d).mul_f64(fastrand::f64())),
        };
        if let Some(expr) = &cron {
            let t = tick.clone();
            let job = tokio_cron_scheduler::Job::new_async(expr.as_str(), move |_, _| {
                let t = t.clone();
                Box::pin(async move { t.notify_one() })
            })
            .map_err(|e| RuntimeError::Scheduler(format!("source {}: {e}", source.id)))?;
            sched
                .add(job)
                .await
                .map_err(|e| RuntimeError::Scheduler(e.to_string()))?;
        }
        let driver = match (&schedule, cron) {
            // Interval sources poll once at start, then on their ticks.
            (Schedule::Every(_), Some(_)) => Driver::Ticks {
                poll_at_start: true,
            },
            (Schedule::Cron(_), Some(_)) => Driver::Ticks {
                poll_at_start: false,
            },
            (_, None) => Driver::Sleep(schedule.clone()),
        };
        tracker.spawn(source_loop(rt.clone(), source, driver, tick, stop.clone()));
    }
    let mut sink_ids: Vec<String> = rt.sinks.keys().cloned().collect();
    sink_ids.sort();
    for id in sink_ids {
        tracker.spawn(sink_loop(rt.clone(), id, stop.clone()));
    }
    tracker.spawn(timers_loop(rt.clone(), stop.clone()));
    if let (Some(addr), Some(state)) = (rt.config.http.listen_addr(), rt.http_state()) {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                info!(%addr, "Serving acknowledge links");
                let stop = stop.clone();
                tracker.spawn(async move {
                    if let Err(e) = crate::http::serve(listener, state, stop).await {
                        warn!(error = %e, "The HTTP listener stopped; acknowledge with `earshot ack ID`");
                    }
                });
            }
            // Alerts matter more than links: keep running, and say how to acknowledge.
            Err(e) => warn!(
                %addr,
                error = %e,
                "Cannot listen for acknowledge links (set [http] listen to a free address, or \"off\"); use `earshot ack ID` meanwhile"
            ),
        }
    }
    tracker.close();
    sched
        .start()
        .await
        .map_err(|e| RuntimeError::Scheduler(e.to_string()))?;
    info!(
        sources = rt.config.sources.len(),
        sinks = rt.sinks.len(),
        "earshot is running"
    );
    rt.metrics.set_ready(true);
    rt.notifier.ready(&rt.status_line());
    Ok(Tasks { tracker, sched })
}

/// How a source's task decides when to poll.
#[derive(Debug, Clone)]
enum Driver {
    /// Woken by tokio-cron-scheduler.
    Ticks { poll_at_start: bool },
    /// Sleep between polls: an interval no cron expression can express, or any schedule on
    /// tokio's clock.
    Sleep(Schedule),
}

async fn source_loop(
    rt: Arc<Runtime>,
    source: SourceConfig,
    driver: Driver,
    tick: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let jitter = rt.config.daemon.jitter.0;
    // Resume a back-off across restarts; otherwise start soon, spread by jitter.
    let stored_backoff = rt
        .store
        .source(&source.id)
        .ok()
        .flatten()
        .and_then(|r| r.next_poll_at.filter(|_| r.error_count > 0))
        .and_then(|t| DateTime::from_timestamp(t, 0));
    let start =
        rt.now() + chrono::Duration::from_std(jitter.mul_f64(fastrand::f64())).unwrap_or_default();
    let mut next = match driver {
        // A cron source waits for its first tick; only a back-off holds it further.
        Driver::Ticks {
            poll_at_start: false,
        } => stored_backoff.unwrap_or_else(|| rt.now()),
        Driver::Sleep(Schedule::Cron(_)) => {
            let planned = Schedule::of(&source).next_after(rt.now()).unwrap_or(start);
            stored_backoff.map_or(planned, |b| b.max(planned))
        }
        _ => stored_backoff.map_or(start, |b| b.max(start)),
    };
    let mut first = true;
    loop {
        match &driver {
            Driver::Ticks { poll_at_start } if first && *poll_at_start => {
                let wait = (next - rt.now()).to_std().unwrap_or_default();
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Driver::Ticks { .. } => {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.notified() => {}
                }
                if rt.now() < next {
                    continue; // still backing off
                }
                if let Driver::Ticks {
                    poll_at_start: false,
                } = driver
                {
                    // A user's cron expression: spread sources that share it.
                    let spread = jitter.mul_f64(fastrand::f64());
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(spread) => {}
                    }
                }
            }
            Driver::Sleep(_) => {
                let wait = (next - rt.now()).to_std().unwrap_or_default();
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
        first = false;
        let now = rt.now();
        let backoff_until = match rt.poll(&source, now).await {
            Ok(r) if r.error.is_some() => rt
                .store
                .source(&source.id)
                .ok()
                .flatten()
                .and_then(|r| r.next_poll_at)
                .and_then(|t| DateTime::from_timestamp(t, 0)),
            Ok(_) => None,
            Err(e) => {
                warn!(source = %source.id, error = %e, "Could not record the poll; will try again");
                Some(now + chrono::Duration::seconds(60))
            }
        };
        next = match &driver {
            Driver::Sleep(Schedule::Every(every)) => {
                next_poll(rt.now(), *every, backoff_until, jitter, fastrand::f64())
            }
            Driver::Sleep(cron) => {
                let planned = cron
                    .next_after(rt.now())
                    .unwrap_or(now + chrono::Duration::seconds(DEFAULT_EVERY.as_secs() as i64));
                backoff_until.map_or(planned, |b| b.max(planned))
            }
            Driver::Ticks { .. } => backoff_until.unwrap_or(now),
        };
    }
}

async fn sink_loop(rt: Arc<Runtime>, sink_id: String, shutdown: CancellationToken) {
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        // Register interest before looking, so a poll that enqueues meanwhile still wakes us.
        let woken = rt.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if let Err(e) = rt.deliver_due(&sink_id, rt.now(), &shutdown).await {
            warn!(sink = %sink_id, error = %e, "Outbox error; retrying in a minute");
        }
        let next_due = rt.store.next_due_at(&sink_id).ok().flatten();
        let wait = next_due
            .map(|t| Duration::from_secs((t - rt.now().timestamp()).clamp(0, 60) as u64))
            .unwrap_or(Duration::from_secs(60));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = &mut woken => {}
            _ = tokio::time::sleep(wait.max(Duration::from_millis(200))) => {}
        }
    }
}

/// Most missed digest periods sent late when the daemon comes back; older ones are skipped.
pub const LATE_DIGESTS: usize = 7;
/// A digest sent this long after its time is still on time (the timers loop ticks).
pub const DIGEST_GRACE: Duration = Duration::from_secs(300);

/// Escalations, silence ends, digests, spikes, retention and WAL checkpoints: each runs when
/// it is due, and at least every minute. This is the daemon's main loop: each round pings
/// systemd's watchdog and updates the status line, so a daemon stuck on its store (or anywhere
/// this loop waits) stops pinging and is restarted.
async fn timers_loop(rt: Arc<Runtime>, shutdown: CancellationToken) {
    let mut pruned_at: Option<DateTime<Utc>> = None;
    let mut checkpoint_at = rt.now();
    loop {
        rt.notifier.watchdog();
        if rt.notifier.enabled() {
            // Reads the outbox: only worth it when systemd listens.
            rt.notifier.status(&rt.status_line());
        }
        // Retention once a day, first at start.
        if pruned_at.is_none_or(|t| rt.now() - t >= chrono::Duration::days(1)) {
            match rt.prune(rt.now()) {
                Ok(_) => pruned_at = Some(rt.now()),
                Err(e) => warn!(error = %e, "Could not prune old mentions; retrying in a minute"),
            }
        }
        // The WAL grows while readers keep old snapshots: fold it back in hourly.
        if rt.now() - checkpoint_at >= chrono::Duration::hours(1) {
            match blocking(|| rt.store.checkpoint()) {
                Ok(()) => checkpoint_at = rt.now(),
                Err(e) => {
                    warn!(error = %e, "Could not checkpoint the database's log; retrying in a minute")
                }
            }
        }
        if let Err(e) = rt.escalate_due(rt.now()) {
            warn!(error = %e, "Could not check escalations; retrying in a minute");
        }
        if let Err(e) = rt.end_silences(rt.now()) {
            warn!(error = %e, "Could not check silences; retrying in a minute");
        }
        if let Err(e) = rt.send_due_digests(rt.now()) {
            warn!(error = %e, "Could not make the digests due; retrying in a minute");
        }
        if let Err(e) = rt.check_spikes(rt.now()) {
            warn!(error = %e, "Could not check for spikes; retrying in a minute");
        }
        let escalation = rt.store.next_escalation_at().ok().flatten();
        let silence = rt.store.next_silence_end().ok().flatten();
        let digest = rt.next_digest_at(rt.now()).map(|t| t.timestamp());
        let next = [escalation, silence, digest].into_iter().flatten().min();
        let most = rt
            .notifier
            .watchdog_every()
            .map_or(Duration::from_secs(60), |w| w.min(Duration::from_secs(60)));
        let wait = next
            .map(|t| Duration::from_secs((t - rt.now().timestamp()).clamp(1, 60) as u64))
            .unwrap_or(most)
            .min(most);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_backoff_grows_caps_and_honours_retry_after() {
        let max = Duration::from_secs(6 * 3600);
        let net = FetchError::Network("reset".into());
        let secs: Vec<u64> = (1..=12)
            .map(|n| source_backoff(n, &net, max, 0.5).as_secs())
            .collect();
        assert_eq!(&secs[..4], &[60, 120, 240, 480]);
        assert!(secs.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*secs.last().unwrap(), max.as_secs());
        // Jitter stays within ±20% and under the cap.
        assert_eq!(source_backoff(1, &net, max, 0.0).as_secs(), 48);
        assert_eq!(source_backoff(1, &net, max, 1.0).as_secs(), 72);
        assert_eq!(source_backoff(30, &net, max, 1.0), max);
        let limited = FetchError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(source_backoff(1, &limited, max, 0.5).as_secs(), 3600);
        let blocked = FetchError::Status {
            status: 403,
            retry_after: None,
        };
        assert_eq!(source_backoff(1, &blocked, max, 0.5).as_secs(), 900);
    }

    #[test]
    fn delivery_backoff_table() {
        assert_eq!(delivery_backoff(1, None, 0.5).as_secs(), 5);
        assert_eq!(delivery_backoff(2, None, 0.5).as_secs(), 10);
        assert_eq!(delivery_backoff(20, None, 0.5).as_secs(), 3600);
        assert_eq!(
            delivery_backoff(1, Some(Duration::from_secs(30)), 0.5).as_secs(),
            30
        );
    }

    #[test]
    fn next_poll_respects_backoff_and_jitter() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let every = Duration::from_secs(600);
        let j = Duration::from_secs(30);
        assert_eq!(next_poll(now, every, None, j, 0.0).timestamp(), 1_000_600);
        assert_eq!(next_poll(now, every, None, j, 1.0).timestamp(), 1_000_630);
        let b = DateTime::from_timestamp(1_005_000, 0);
        assert_eq!(next_poll(now, every, b, j, 0.5), b.unwrap());
    }

    #[test]
    fn intervals_that_fit_cron_are_scheduled_by_it() {
        let s = Duration::from_secs;
        let cases: &[(u64, u64, Option<&str>)] = &[
            (600, 17, Some("17 0/10 * * * *")),
            (600, 617, Some("17 0/10 * * * *")),
            (60, 5, Some("5 0/1 * * * *")),
            (10, 3, Some("3/10 * * * * *")),
            (3600, 90, Some("30 1 0/1 * * *")),
            (6 * 3600, 0, Some("0 0 0/6 * * *")),
            (86_400, 3_725, Some("5 2 1 * * *")),
            (420, 0, None),
            (90, 0, None),
            (7 * 3600, 0, None),
            (2 * 86_400, 0, None),
        ];
        for (every, offset, want) in cases {
            let got = every_as_cron(s(*every), s(*offset));
            assert_eq!(got.as_deref(), *want, "every {every}s offset {offset}s");
            if let Some(expr) = got {
                let cron = parse_cron(&expr).unwrap();
                let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
                let a = cron.find_next_occurrence(&t0, false).unwrap();
                let b = cron.find_next_occurrence(&a, false).unwrap();
                assert_eq!((b - a).num_seconds() as u64, *every, "{expr}");
            }
        }
    }

    #[test]
    fn next_after_follows_the_schedule() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap(); // 2027-01-15 08:00:00 UTC
        assert_eq!(
            Schedule::Every(Duration::from_secs(600))
                .next_after(t0)
                .unwrap()
                .timestamp(),
            1_800_000_600
        );
        let c = Schedule::Cron("0 5 * * * *".into()).next_after(t0).unwrap();
        assert_eq!(c.timestamp(), 1_800_000_300);
    }

    #[test]
    fn quotas() {
        assert!(per_second_quota(0.0).is_none());
        assert_eq!(
            per_second_quota(0.5).unwrap().replenish_interval(),
            Duration::from_secs(2)
        );
        assert_eq!(
            per_second_quota(1.0).unwrap().replenish_interval(),
            Duration::from_secs(1)
        );
    }
}
