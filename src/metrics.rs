//! What the daemon knows of its own state, for systemd, `/readyz` and (next) `/metrics`: whether
//! it is ready, and how the last config reload went. One [`Metrics`] per process: it outlives
//! the runtimes that reloads replace.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The last config reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reload {
    /// Unix seconds.
    pub at: i64,
    /// The error that refused it; `None` when it took effect.
    pub error: Option<String>,
}

/// The process's state. Cheap to update from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    ready: AtomicBool,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    last_reload: Mutex<Option<Reload>>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
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
}
