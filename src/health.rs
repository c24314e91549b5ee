//! How earshot is doing, part by part: what `/healthz` answers, what `earshot status` shows and
//! where `/metrics` reads its gauges.
//!
//! [`Health::read`] reads the config and the store only, so `earshot status` (another process,
//! beside the daemon) sees what the daemon sees. The daemon adds what only it knows, with
//! [`Health::with_daemon`]: whether it is ready, since when it runs, how its reloads went.
//! Nothing here carries a secret: the store holds none, and the errors in it were redacted
//! before they were stored.

use chrono::DateTime;
use serde::{Serialize, Serializer};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::{SinkStats, SourceRow, Store};

/// A part's state, and the whole's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Ok,
    /// Working, but not fully: a source in a reduced mode, a sink whose deliveries are retrying.
    Degraded,
    /// Not working: a source whose last poll failed, a sink that refused its last alert, a
    /// store that cannot be read.
    Failing,
    /// A source turned off in the config.
    Disabled,
    /// A source not polled yet.
    Waiting,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Degraded => "degraded",
            State::Failing => "failing",
            State::Disabled => "disabled",
            State::Waiting => "waiting",
        }
    }
}

/// Everything at once. Times are Unix seconds, written as RFC 3339 in JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// `failing` when the store cannot be read; `degraded` when a source or sink is failing
    /// or retrying; else `ok`.
    pub status: State,
    pub version: &'static str,
    #[serde(serialize_with = "rfc3339")]
    pub checked_at: i64,
    pub store: StoreHealth,
    pub sources: Vec<SourceHealth>,
    pub sinks: Vec<SinkHealth>,
    /// What the running daemon knows of itself; absent when read from another process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daemon: Option<DaemonHealth>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreHealth {
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceHealth {
    pub id: String,
    pub kind: String,
    pub state: State,
    /// Failed polls since the last success.
    pub consecutive_failures: i64,
    pub polls: i64,
    #[serde(serialize_with = "rfc3339_opt")]
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub last_error_at: Option<i64>,
    /// When it is polled next (after its back-off when failing); `None` for a cron source
    /// that was never polled, or a disabled one.
    #[serde(serialize_with = "rfc3339_opt")]
    pub next_poll_at: Option<i64>,
    /// What the connector said of the last good poll (a reduced mode, a budget left).
    pub notice: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinkHealth {
    pub id: String,
    /// `None` for a sink no longer in the config whose deliveries wait in the outbox.
    pub kind: Option<String>,
    pub state: State,
    pub pending: i64,
    /// Pending deliveries that failed at least once.
    pub retrying: i64,
    pub sent: i64,
    pub dead: i64,
    #[serde(serialize_with = "rfc3339_opt")]
    pub last_sent_at: Option<i64>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub oldest_pending_at: Option<i64>,
    /// The newest error among the deliveries retrying or dead.
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaemonHealth {
    /// The store is open and the sources are scheduled (false while starting or stopping).
    pub ready: bool,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: i64,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reload: Option<ReloadHealth>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReloadHealth {
    #[serde(serialize_with = "rfc3339")]
    pub at: i64,
    pub ok: bool,
    /// Why it was refused (the running config carried on).
    pub error: Option<String>,
}

impl Health {
    /// The config's sources and sinks as the store has them at `now`. A store that cannot be
    /// read makes the whole `failing`, with the error, and every part `waiting`.
    pub fn read(cfg: &Config, store: &Store, now: i64) -> Health {
        let read = store
            .sources()
            .and_then(|sources| Ok((sources, store.sink_stats()?)));
        let (sources, sinks, store) = match read {
            Ok((sources, sinks)) => (
                sources,
                sinks,
                StoreHealth {
                    state: State::Ok,
                    error: None,
                },
            ),
            Err(e) => (
                Vec::new(),
                Vec::new(),
                StoreHealth {
                    state: State::Failing,
                    error: Some(e.to_string()),
                },
            ),
        };
        let mut sink_health: Vec<SinkHealth> = cfg
            .sinks
            .iter()
            .map(|s| {
                let st = sinks.iter().find(|x| x.sink_id == s.id);
                sink(&s.id, Some(s.kind.as_str()), st)
            })
            .collect();
        // Deliveries of a sink that left the config wait for it to come back: still shown.
        sink_health.extend(
            sinks
                .iter()
                .filter(|st| cfg.sink(&st.sink_id).is_none() && st.pending + st.dead > 0)
                .map(|st| sink(&st.sink_id, None, Some(st))),
        );
        let sources: Vec<SourceHealth> = cfg
            .sources
            .iter()
            .map(|s| {
                let row = sources.iter().find(|r| r.source_id == s.id);
                source(&s.id, s.kind(), s.enabled, row)
            })
            .collect();
        let status = if store.state == State::Failing {
            State::Failing
        } else if sources.iter().any(|s| s.state == State::Failing)
            || sink_health
                .iter()
                .any(|s| matches!(s.state, State::Failing | State::Degraded))
        {
            State::Degraded
        } else {
            State::Ok
        };
        Health {
            status,
            version: env!("CARGO_PKG_VERSION"),
            checked_at: now,
            store,
            sources,
            sinks: sink_health,
            daemon: None,
        }
    }

    /// Adds what the running daemon knows of itself.
    pub fn with_daemon(mut self, m: &Metrics) -> Health {
        let (reloads_ok, reloads_failed) = m.reloads();
        self.daemon = Some(DaemonHealth {
            ready: m.is_ready(),
            started_at: m.started_at(),
            reloads_ok,
            reloads_failed,
            last_reload: m.last_reload().map(|r| ReloadHealth {
                at: r.at,
                ok: r.error.is_none(),
                error: r.error,
            }),
        });
        self
    }

    /// The HTTP status `/healthz` answers with: 503 only when the store cannot be read, since
    /// a failing source or sink is reported, not cured by a restart.
    pub fn http_status(&self) -> u16 {
        if self.status == State::Failing {
            503
        } else {
            200
        }
    }
}

fn source(id: &str, kind: &str, enabled: bool, row: Option<&SourceRow>) -> SourceHealth {
    let state = match row {
        _ if !enabled => State::Disabled,
        None => State::Waiting,
        Some(r) if r.error_count > 0 => State::Failing,
        Some(r) if r.degraded => State::Degraded,
        Some(_) => State::Ok,
    };
    SourceHealth {
        id: id.to_string(),
        kind: kind.to_string(),
        state,
        consecutive_failures: row.map_or(0, |r| r.error_count),
        polls: row.map_or(0, |r| r.polls),
        last_success_at: row.and_then(|r| r.last_success_at),
        last_error: row.and_then(|r| r.last_error.clone()),
        last_error_at: row.and_then(|r| r.last_error_at),
        next_poll_at: row.filter(|_| enabled).and_then(|r| r.next_poll_at),
        notice: row.and_then(|r| r.notice.clone()),
    }
}

fn sink(id: &str, kind: Option<&str>, st: Option<&SinkStats>) -> SinkHealth {
    let st = st.cloned().unwrap_or_default();
    let state = if st.dead_since_sent {
        State::Failing
    } else if st.retrying > 0 {
        State::Degraded
    } else {
        State::Ok
    };
    SinkHealth {
        id: id.to_string(),
        kind: kind.map(str::to_string),
        state,
        pending: st.pending,
        retrying: st.retrying,
        sent: st.sent,
        dead: st.dead,
        last_sent_at: st.last_sent_at,
        oldest_pending_at: st.oldest_pending_at,
        last_error: st.last_error,
    }
}

fn rfc3339<S: Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
    match DateTime::from_timestamp(*t, 0) {
        Some(t) => s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => s.serialize_i64(*t),
    }
}

fn rfc3339_opt<S: Serializer>(t: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}
