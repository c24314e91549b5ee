//! What the daemon counts of itself, for systemd, `/readyz` and `/metrics`: whether it is
//! ready, how its config reloads went, and counters of polls, matches and deliveries. One
//! [`Metrics`] per process: it outlives the runtimes that reloads replace, so counters never
//! go back to zero while the process runs (what Prometheus expects of a counter).
//!
//! [`Metrics::render`] writes the Prometheus text format (version 0.0.4), with the gauges that
//! live in the store (outbox depth, last success per source) read through [`Health`] at scrape
//! time. Every configured source, watch and sink appears from the start with zeros, so a rate
//! over a new series works and a missing series means a missing part. Labels carry ids and
//! names from the config and host names of sources, never a URL, a token or a message.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use earshot_connectors::HostWaits;

use crate::health::{Health, SinkHealth, SourceHealth, State};

/// The last config reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reload {
    /// Unix seconds.
    pub at: i64,
    /// The error that refused it; `None` when it took effect.
    pub error: Option<String>,
}

/// What became of a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// The target took it.
    Sent,
    /// It failed and will be tried again.
    Failed,
    /// It failed for good, or for too long: parked as dead.
    Dead,
}

/// Counters of one sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SinkCounts {
    sent: u64,
    failed: u64,
    dead: u64,
    /// Sends that waited for the target's pace, or because it asked to slow down.
    paced: u64,
}

#[derive(Debug, Default)]
struct Counts {
    /// Poll attempts per source.
    polls: BTreeMap<String, u64>,
    /// Failed polls per source and reason ([`fetch_reason`]).
    fetch_errors: BTreeMap<(String, &'static str), u64>,
    /// Mentions matched per watch.
    matched: BTreeMap<String, u64>,
    sinks: BTreeMap<String, SinkCounts>,
}

/// The process's state. Cheap to update from any task.
#[derive(Debug)]
pub struct Metrics {
    started_at: i64,
    ready: AtomicBool,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    last_reload: Mutex<Option<Reload>>,
    counts: Mutex<Counts>,
}

impl Metrics {
    /// The counters of a process that started at `started_at` (Unix seconds, from the
    /// runtime's clock).
    pub fn new(started_at: i64) -> Metrics {
        Metrics {
            started_at,
            ready: AtomicBool::new(false),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            last_reload: Mutex::new(None),
            counts: Mutex::new(Counts::default()),
        }
    }

    /// Unix seconds the process started at.
    pub fn started_at(&self) -> i64 {
        self.started_at
    }

    /// A config reload at `at` took effect, or was refused with `error` (the running config
    /// carried on).
    pub fn reload(&self, ok: bool, at: i64, error: Option<&str>) {
        let n = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        n.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_reload.lock() {
            *last = Some(Reload {
                at,
                error: error.map(str::to_string),
            });
        }
    }

    /// Reloads that took effect and that were refused, since start.
    pub fn reloads(&self) -> (u64, u64) {
        (
            self.reloads_ok.load(Ordering::Relaxed),
            self.reloads_failed.load(Ordering::Relaxed),
        )
    }

    /// The last reload, if any.
    pub fn last_reload(&self) -> Option<Reload> {
        self.last_reload.lock().ok().and_then(|l| l.clone())
    }

    /// Ready: the store is open and the sources are scheduled (false while stopping).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Counters stay usable after a panic elsewhere: they are plain numbers.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A poll of `source` ran; `error` is its failure's reason when it failed.
    pub fn polled(&self, source: &str, error: Option<&'static str>) {
        let mut c = self.counts();
        *c.polls.entry(source.to_string()).or_default() += 1;
        if let Some(reason) = error {
            *c.fetch_errors
                .entry((source.to_string(), reason))
                .or_default() += 1;
        }
    }

    /// `n` new mentions matched `watch`.
    pub fn matched(&self, watch: &str, n: u64) {
        *self.counts().matched.entry(watch.to_string()).or_default() += n;
    }

    /// `n` deliveries of `sink` were sent, failed or parked as dead.
    pub fn delivered(&self, sink: &str, outcome: Delivered, n: u64) {
        let mut c = self.counts();
        let s = c.sinks.entry(sink.to_string()).or_default();
        match outcome {
            Delivered::Sent => s.sent += n,
            Delivered::Failed => s.failed += n,
            Delivered::Dead => s.dead += n,
        }
    }

    /// A send to `sink` waited for the target's pace.
    pub fn paced(&self, sink: &str) {
        self.counts()
            .sinks
            .entry(sink.to_string())
            .or_default()
            .paced += 1;
    }

    /// The Prometheus text exposition: these counters, the gauges of `health` (read from the
    /// store at scrape time), the rate-limit waits per host, for the configured `watches`.
    pub fn render(
        &self,
        health: &Health,
        watches: &[String],
        hosts: &[(String, HostWaits)],
    ) -> String {
        let c = self.counts();
        let mut out = Out::default();
        out.family(
            "earshot_build_info",
            GAUGE,
            "The running version; always 1.",
        );
        out.sample(&[("version", health.version)], 1);
        out.family(
            "earshot_start_time_seconds",
            GAUGE,
            "When the process started, in Unix seconds.",
        );
        out.sample(&[], self.started_at());
        out.family(
            "earshot_ready",
            GAUGE,
            "1 once the store is open and the sources are scheduled; 0 while starting or stopping.",
        );
        out.sample(&[], u8::from(self.is_ready()));
        out.family(
            "earshot_store_up",
            GAUGE,
            "1 when the store could be read for this scrape.",
        );
        out.sample(&[], u8::from(health.store.state == State::Ok));

        type SourceValue = fn(&SourceHealth, &Counts) -> i64;
        let per_source: [(&str, &str, &str, SourceValue); 3] = [
            (
                "earshot_polls_total",
                COUNTER,
                "Polls of each source, successful or not.",
                |s, c| c.polls.get(&s.id).map_or(0, |n| *n as i64),
            ),
            (
                "earshot_source_last_success_timestamp_seconds",
                GAUGE,
                "When each source last polled successfully, in Unix seconds; 0 if never.",
                |s, _| s.last_success_at.unwrap_or(0),
            ),
            (
                "earshot_source_consecutive_failures",
                GAUGE,
                "Failed polls of each source since its last success.",
                |s, _| s.consecutive_failures,
            ),
        ];
        for (name, kind, help, value) in per_source {
            out.family(name, kind, help);
            for s in &health.sources {
                out.sample(&[("source", &s.id)], value(s, &c));
            }
        }
        out.family(
            "earshot_fetch_errors_total",
            COUNTER,
            "Failed polls of each source, by reason.",
        );
        for s in &health.sources {
            let mut reasons = c
                .fetch_errors
                .iter()
                .filter(|((id, _), _)| *id == s.id)
                .peekable();
            if reasons.peek().is_none() {
                out.sample(&[("source", &s.id), ("reason", "none")], 0);
            }
            for ((_, reason), n) in reasons {
                out.sample(&[("source", &s.id), ("reason", reason)], *n);
            }
        }
        out.family("earshot_rate_limit_waits_total", COUNTER, "Requests to a source host that waited for its rate limit (wait=\"spaced\": per_host_rps; wait=\"held\": the host asked to wait, so the poll was put off).");
        for (host, w) in hosts {
            out.sample(&[("host", host), ("wait", "spaced")], w.spaced);
            out.sample(&[("host", host), ("wait", "held")], w.held);
        }
        out.family(
            "earshot_mentions_matched_total",
            COUNTER,
            "New mentions matched by each watch.",
        );
        for w in watches {
            out.sample(&[("watch", w)], c.matched.get(w).copied().unwrap_or(0));
        }

        type SinkValue = fn(&SinkHealth, &SinkCounts, i64) -> i64;
        let per_sink: [(&str, &str, &str, SinkValue); 7] = [
            (
                "earshot_alerts_sent_total",
                COUNTER,
                "Deliveries each sink's target took.",
                |_, n, _| n.sent as i64,
            ),
            (
                "earshot_alerts_failed_total",
                COUNTER,
                "Delivery attempts that failed and will be retried.",
                |_, n, _| n.failed as i64,
            ),
            (
                "earshot_alerts_dead_total",
                COUNTER,
                "Deliveries given up on (parked as dead; `earshot retry-dead` sends them again).",
                |_, n, _| n.dead as i64,
            ),
            (
                "earshot_sink_rate_limit_waits_total",
                COUNTER,
                "Sends that waited for the target's pace or because it asked to slow down.",
                |_, n, _| n.paced as i64,
            ),
            (
                "earshot_outbox_pending",
                GAUGE,
                "Deliveries waiting to be sent, per sink.",
                |s, _, _| s.pending,
            ),
            (
                "earshot_outbox_dead",
                GAUGE,
                "Dead deliveries kept in the outbox, per sink.",
                |s, _, _| s.dead,
            ),
            (
                "earshot_outbox_oldest_pending_age_seconds",
                GAUGE,
                "Age of the oldest delivery waiting, per sink; 0 when none waits.",
                |s, _, now| s.oldest_pending_at.map_or(0, |t| (now - t).max(0)),
            ),
        ];
        for (name, kind, help, value) in per_sink {
            out.family(name, kind, help);
            for s in &health.sinks {
                let n = c.sinks.get(&s.id).copied().unwrap_or_default();
                out.sample(&[("sink", &s.id)], value(s, &n, health.checked_at));
            }
        }

        let (ok, failed) = self.reloads();
        out.family(
            "earshot_config_reloads_total",
            COUNTER,
            "Config reloads (SIGHUP), by result.",
        );
        out.sample(&[("result", "ok")], ok);
        out.sample(&[("result", "failed")], failed);
        let last = self.last_reload();
        out.family(
            "earshot_config_last_reload_successful",
            GAUGE,
            "1 when the last reload took effect (or none was asked for); 0 when it was refused.",
        );
        out.sample(
            &[],
            u8::from(last.as_ref().is_none_or(|r| r.error.is_none())),
        );
        out.family(
            "earshot_config_last_reload_timestamp_seconds",
            GAUGE,
            "When the config was last reloaded, in Unix seconds; 0 if never.",
        );
        out.sample(&[], last.map_or(0, |r| r.at));
        out.text
    }
}

const GAUGE: &str = "gauge";
const COUNTER: &str = "counter";

/// The reason label of a failed poll: the kind of failure, never its text (which may be long,
/// and changes with every server).
pub fn fetch_reason(e: &earshot_connectors::FetchError) -> &'static str {
    use earshot_connectors::FetchError::*;
    match e {
        Status { status: 429, .. } => "rate_limited",
        Status {
            status: 401 | 403, ..
        } => "unauthorized",
        Status { status, .. } if *status >= 500 => "server_error",
        Status { .. } => "client_error",
        Timeout(_) => "timeout",
        TooLarge { .. } => "too_large",
        Network(_) => "network",
        Unexpected(_) => "unexpected",
        Parse(_) => "parse",
        Io(_) => "io",
        Config(_) => "config",
    }
}

/// A text exposition being written: a family's HELP and TYPE, then its samples.
#[derive(Default)]
struct Out {
    text: String,
    /// The family the next samples belong to.
    name: &'static str,
}

impl Out {
    fn family(&mut self, name: &'static str, kind: &str, help: &str) {
        // HELP text escapes only backslash and newline.
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self.name = name;
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(self.name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// A label value as the text format wants it: backslash, double quote and newline escaped.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let cases = [
            ("acme", "acme"),
            (r#"a"b"#, r#"a\"b"#),
            ("a\\b", "a\\\\b"),
            ("a\nb", "a\\nb"),
            ("é ü", "é ü"),
        ];
        for (input, want) in cases {
            assert_eq!(escape_label(input), want, "{input:?}");
        }
    }

    #[test]
    fn counters_add_up_per_name() {
        let m = Metrics::new(1_800_000_000);
        m.polled("blog", None);
        m.polled("blog", Some("timeout"));
        m.polled("blog", Some("timeout"));
        m.polled("hn", Some("parse"));
        m.matched("acme", 3);
        m.matched("acme", 2);
        m.delivered("slack", Delivered::Sent, 4);
        m.delivered("slack", Delivered::Failed, 1);
        m.delivered("slack", Delivered::Dead, 2);
        m.paced("slack");
        let c = m.counts();
        assert_eq!(c.polls.get("blog"), Some(&3));
        assert_eq!(
            c.fetch_errors.get(&("blog".to_string(), "timeout")),
            Some(&2)
        );
        assert_eq!(c.fetch_errors.get(&("hn".to_string(), "parse")), Some(&1));
        assert_eq!(c.matched.get("acme"), Some(&5));
        assert_eq!(
            c.sinks.get("slack"),
            Some(&SinkCounts {
                sent: 4,
                failed: 1,
                dead: 2,
                paced: 1
            })
        );
    }

    #[test]
    fn fetch_reasons() {
        use earshot_connectors::FetchError;
        use std::time::Duration;
        let cases = [
            (
                FetchError::Status {
                    status: 429,
                    retry_after: None,
                },
                "rate_limited",
            ),
            (
                FetchError::Status {
                    status: 403,
                    retry_after: None,
                },
                "unauthorized",
            ),
            (
                FetchError::Status {
                    status: 503,
                    retry_after: None,
                },
                "server_error",
            ),
            (
                FetchError::Status {
                    status: 404,
                    retry_after: None,
                },
                "client_error",
            ),
            (FetchError::Timeout(Duration::from_secs(1)), "timeout"),
            (FetchError::Network("reset".into()), "network"),
            (FetchError::Parse("eof".into()), "parse"),
        ];
        for (e, want) in cases {
            assert_eq!(fetch_reason(&e), want, "{e:?}");
        }
    }
}
