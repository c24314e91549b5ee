//! The TOML configuration: types, defaults, and one pure validation pass.

use serde::Deserialize;

use crate::secret::Secret;

/// Chat targets earshot can send to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    Slack,
    Discord,
    Webhook,
    Stdout,
}

/// How the stdout sink prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StdoutFormat {
    #[default]
    Text,
    Json,
}

/// One `[[sink]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Name used by routes and `earshot test-sink`.
    pub id: String,
    pub kind: SinkKind,
    /// Webhook URL (slack, discord, webhook). A secret: `{ env = "..." }` or `{ file = "..." }`.
    #[serde(default)]
    pub url: Option<Secret>,
    /// Standard Webhooks signing key (`whsec_...`), for `kind = "webhook"`.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Name shown as the poster (Discord).
    #[serde(default)]
    pub username: Option<String>,
    /// `text` or `json` (stdout).
    #[serde(default)]
    pub format: StdoutFormat,
    /// Most messages per second to this target; defaults to the platform's documented pace.
    #[serde(default)]
    pub max_per_second: Option<f64>,
}
