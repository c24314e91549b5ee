//! Lemmy: search (API v3, or v4 on Lemmy 1.0).
//!
//! TODO: this module is a stub; see PLATFORMS.md Part A.

use serde::Deserialize;

use crate::http::HttpFetcher;
use crate::secret::Secret;
use crate::{ConfigProblem, FetchError, FetchOutcome, SourceState, check_base_url};

/// The `[[source]]` keys of `kind = "lemmy"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LemmyConfig {
    /// Search query.
    pub query: String,
    /// Only this community (`rust@programming.dev`, or a local name).
    #[serde(default)]
    pub community: Option<String>,
    /// What to search: `all`, `posts` or `comments`.
    #[serde(default)]
    pub search: LemmyType,
    /// Which API: `auto` (ask the instance), `v3` or `v4`.
    #[serde(default)]
    pub api: LemmyApi,
    /// A login JWT, for instances that require one.
    #[serde(default)]
    pub token: Option<Secret>,
    /// The instance or forum (`https://lemmy.world`).
    pub base_url: String,
}

/// What a Lemmy source searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LemmyType {
    #[default]
    All,
    Posts,
    Comments,
}

/// Which Lemmy API an instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LemmyApi {
    #[default]
    Auto,
    V3,
    V4,
}

impl LemmyConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(Some(&self.base_url), &mut p);
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [self.token.as_mut().map(|s| ("token", s))]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        self.base_url.trim_end_matches('/').to_string()
    }
}

/// A `lemmy` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct Lemmy {
    config: LemmyConfig,
}

impl Lemmy {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &LemmyConfig) -> Result<Lemmy, FetchError> {
        Ok(Lemmy {
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
            "lemmy is not implemented yet".to_string(),
        ))
    }
}
