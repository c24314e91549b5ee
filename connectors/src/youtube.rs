//! YouTube: `search.list` by date, with a daily search budget it never exceeds.
//!
//! TODO: this module is a stub; see PLATFORMS.md Part A.

use serde::Deserialize;

use crate::http::HttpFetcher;
use crate::secret::Secret;
use crate::{ConfigProblem, FetchError, FetchOutcome, SourceState, api_root, check_base_url};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://www.googleapis.com/youtube/v3";

/// The `[[source]]` keys of `kind = "youtube"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YouTubeConfig {
    /// Search query.
    pub query: String,
    /// A YouTube Data API v3 key (Google Cloud console → Credentials).
    pub api_key: Secret,
    /// `search.list` calls allowed per day (Pacific time), the API's own bucket: 100 by default.
    #[serde(default = "default_daily_searches")]
    pub daily_searches: u32,
    /// Fetch view, like and comment counts (`videos.list`, 1 unit per poll).
    #[serde(default = "yes")]
    pub statistics: bool,
    /// Replaces the API root (`https://www.googleapis.com/youtube/v3`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

fn default_daily_searches() -> u32 {
    100
}

fn yes() -> bool {
    true
}

impl YouTubeConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [Some(("api_key", &mut self.api_key))]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        api_root(self.base_url.as_deref(), DEFAULT_ROOT)
    }
}

/// A `youtube` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct YouTube {
    config: YouTubeConfig,
}

impl YouTube {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &YouTubeConfig) -> Result<YouTube, FetchError> {
        Ok(YouTube {
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
            "youtube is not implemented yet".to_string(),
        ))
    }
}
