//! Discourse: the latest posts of a forum (or its search, at the rate the forum allows).
//!
//! TODO: this module is a stub; see PLATFORMS.md Part A.

use serde::Deserialize;

use crate::http::HttpFetcher;
use crate::secret::Secret;
use crate::{ConfigProblem, FetchError, FetchOutcome, SourceState, check_base_url};

/// The `[[source]]` keys of `kind = "discourse"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscourseConfig {
    /// With `mode = "search"`, the search query; with `latest`, optional: the watches match locally.
    #[serde(default)]
    pub query: Option<String>,
    /// `latest` (`/posts.json`: every new post, cheap) or `search` (`/search.json`, rate-limited).
    #[serde(default)]
    pub mode: DiscourseMode,
    /// API key for a private forum (sent as `Api-Key`).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// The user the key acts as (sent as `Api-Username`).
    #[serde(default)]
    pub api_username: Option<String>,
    /// The instance or forum (`https://lemmy.world`).
    pub base_url: String,
}

/// How a Discourse source reads the forum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscourseMode {
    #[default]
    Latest,
    Search,
}

impl DiscourseConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(Some(&self.base_url), &mut p);
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [self.api_key.as_mut().map(|s| ("api_key", s))]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        self.base_url.trim_end_matches('/').to_string()
    }
}

/// A `discourse` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct Discourse {
    config: DiscourseConfig,
}

impl Discourse {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &DiscourseConfig) -> Result<Discourse, FetchError> {
        Ok(Discourse {
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
            "discourse is not implemented yet".to_string(),
        ))
    }
}
