//! Hacker News, through the Algolia search API (`search_by_date`).
//!
//! TODO: this module is a stub; see PLATFORMS.md Part A.

use serde::Deserialize;

use crate::http::HttpFetcher;
use crate::secret::Secret;
use crate::{ConfigProblem, FetchError, FetchOutcome, SourceState, api_root, check_base_url};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://hn.algolia.com/api/v1";

/// The `[[source]]` keys of `kind = "hackernews"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HackerNewsConfig {
    /// Algolia query: words and "quoted phrases". Hits are re-checked locally: Algolia also
    /// matches prefixes and typos.
    pub query: String,
    /// Algolia tags to search, OR-ed: `story`, `comment`, `ask_hn`, `show_hn`, `poll`.
    #[serde(default = "default_tags")]
    pub tags: Vec<String>,
    /// Replaces the API root (`https://hn.algolia.com/api/v1`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

fn default_tags() -> Vec<String> {
    vec!["story".to_string(), "comment".to_string()]
}

impl HackerNewsConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        Vec::new()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        api_root(self.base_url.as_deref(), DEFAULT_ROOT)
    }
}

/// A `hackernews` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct HackerNews {
    config: HackerNewsConfig,
}

impl HackerNews {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &HackerNewsConfig) -> Result<HackerNews, FetchError> {
        Ok(HackerNews {
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
            "hackernews is not implemented yet".to_string(),
        ))
    }
}
