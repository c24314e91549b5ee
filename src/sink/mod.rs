//! Chat targets. Each sink renders one [`Alert`] for one platform, within its limits, with the
//! mention's text escaped so that it can never ping anyone, inject markup or links; sends it;
//! and classifies a failure as "retry later" or "permanent". The outbox does the retrying.
//!
//! Adding a target: one module here, one variant of [`Sink`], one arm in each match, one row in
//! the conformance tests (`tests/sinks.rs`).

use std::time::Duration;

use crate::alert::Alert;
use crate::config::SinkConfig;

/// A configured sink with its secrets resolved.
#[derive(Debug, Clone)]
pub enum Sink {}

/// A delivery the target accepted (2xx).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sent {
    /// How long to wait before the next message to this target, when its headers say so.
    pub wait_before_next: Option<Duration>,
}

/// Whether a failed delivery is worth trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again later; at least after the given wait when the target said so.
    Later(Option<Duration>),
    /// Will not succeed as it is (400, 401, 403, 404, 410): park it as dead.
    Never,
}

/// A failed delivery. `message` never holds the webhook URL or a token.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub retry: Retry,
    pub status: Option<u16>,
    pub message: String,
}

/// A sink that could not be built from its config.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("sink {id}: {message}")]
pub struct SinkError {
    pub id: String,
    pub message: String,
}

impl Sink {
    pub fn from_config(_cfg: &SinkConfig) -> Result<Sink, SinkError> {
        todo!()
    }

    pub fn preview(&self, _alert: &Alert) -> String {
        todo!()
    }

    pub fn default_pace(&self) -> Option<f64> {
        todo!()
    }

    pub async fn send(&self, _client: &reqwest::Client, _alert: &Alert) -> Result<Sent, SendError> {
        todo!()
    }
}
