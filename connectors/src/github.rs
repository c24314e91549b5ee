//! GitHub: issue and pull-request search, and new comments per repository.
//!
//! TODO: this module is a stub; see PLATFORMS.md Part A.

use serde::Deserialize;

use crate::http::HttpFetcher;
use crate::secret::Secret;
use crate::{ConfigProblem, FetchError, FetchOutcome, SourceState, api_root, check_base_url};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://api.github.com";

/// The `[[source]]` keys of `kind = "github"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubConfig {
    /// Issue search query, GitHub qualifiers allowed (`acme in:title,body org:acme`).
    pub query: String,
    /// Repositories (`owner/name`) whose new issue comments are read too (`/issues/comments?since=`).
    #[serde(default)]
    pub repos: Vec<String>,
    /// A personal access token (no scopes needed for public data): 30 searches a minute instead of 10.
    #[serde(default)]
    pub token: Option<Secret>,
    /// Replaces the API root (`https://api.github.com`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

impl GitHubConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
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
        api_root(self.base_url.as_deref(), DEFAULT_ROOT)
    }
}

/// A `github` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct GitHub {
    config: GitHubConfig,
}

impl GitHub {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &GitHubConfig) -> Result<GitHub, FetchError> {
        Ok(GitHub {
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
            "github is not implemented yet".to_string(),
        ))
    }
}
