//! Google Chat incoming webhooks: a cardsV2 message, one thread per conversation (`threadKey`).
//!
//! TODO: stub.

use serde_json::{Value, json};

use super::{SendError, Sent, SinkError};
use crate::alert::Alert;
use crate::config::SinkConfig;

/// Messages per second when `max_per_second` is not set: the platform's documented pace.
pub const DEFAULT_PACE: f64 = 1.0;

/// A configured googlechat sink.
#[derive(Debug, Clone)]
pub struct GoogleChat {
    pub(crate) id: String,
    pub(crate) pace: Option<f64>,
}

impl GoogleChat {
    /// Builds the sink, reading its secrets now; errors name the key, never a secret's value.
    pub fn from_config(cfg: &SinkConfig) -> Result<GoogleChat, SinkError> {
        Ok(GoogleChat {
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

    /// Exactly the body [`GoogleChat::send`] posts (a form is shown as a JSON object of its fields).
    pub fn render(&self, alert: &Alert) -> Value {
        json!({ "todo": alert.id })
    }
}
