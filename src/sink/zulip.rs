//! Zulip: a message to a channel, one topic per watch.
//!
//! TODO: stub.

use serde_json::{Value, json};

use super::{SendError, Sent, SinkError};
use crate::alert::Alert;
use crate::config::SinkConfig;

/// Messages per second when `max_per_second` is not set: the platform's documented pace.
pub const DEFAULT_PACE: f64 = 3.0;

/// A configured zulip sink.
#[derive(Debug, Clone)]
pub struct Zulip {
    pub(crate) id: String,
    pub(crate) pace: Option<f64>,
}

impl Zulip {
    /// Builds the sink, reading its secrets now; errors name the key, never a secret's value.
    pub fn from_config(cfg: &SinkConfig) -> Result<Zulip, SinkError> {
        Ok(Zulip {
            id: cfg.id.clone(),
            pace: cfg.max_per_second,
        })
    }

    pub(crate) async fn send(
        &self,
        _client: &reqwest::Client,
        _alert: &Alert,
    ) -> Result<Sent, SendError> {
        Err(SendError {
            retry: super::Retry::Never,
            status: None,
            message: "not implemented".into(),
        })
    }

    /// Exactly the body [`Zulip::send`] posts (a form is shown as a JSON object of its fields).
    pub fn render(&self, alert: &Alert) -> Value {
        json!({ "todo": alert.id })
    }
}
