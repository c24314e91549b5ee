//! Bluesky: `app.bsky.feed.searchPosts` with an app-password session.
//!
//! TODO: this module is a stub; see PLATFORMS.md Part A.

use serde::Deserialize;

use crate::http::HttpFetcher;
use crate::secret::Secret;
use crate::{ConfigProblem, FetchError, FetchOutcome, SourceState, api_root, check_base_url};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://bsky.social";

/// The `[[source]]` keys of `kind = "bluesky"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueskyConfig {
    /// Search query (Lucene-like; `"exact phrase"`).
    pub query: String,
    /// The account's handle or DID (`acme.bsky.social`).
    pub identifier: String,
    /// An app password (Settings → Privacy and security → App passwords), never the account password.
    pub app_password: Secret,
    /// Only posts in this language (`en`).
    #[serde(default)]
    pub lang: Option<String>,
    /// Replaces the API root (`https://bsky.social`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

impl BlueskyConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [Some(("app_password", &mut self.app_password))]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        api_root(self.base_url.as_deref(), DEFAULT_ROOT)
    }
}

/// A `bluesky` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct Bluesky {
    config: BlueskyConfig,
}

impl Bluesky {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &BlueskyConfig) -> Result<Bluesky, FetchError> {
        Ok(Bluesky {
            config: config.clone(),
        })
    }

    pub async fn fetch(
        &self,
        _http: &HttpFetcher,
        _state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        let _ = &self.config;
        Err(FetchError::Config(
            "bluesky is not implemented yet".to_string(),
        ))
    }
}
