//! X: recent search with a bearer token, within a monthly read budget.
//!
//! TODO: this module is a stub; see PLATFORMS.md Part A.

use serde::Deserialize;

use crate::http::HttpFetcher;
use crate::secret::Secret;
use crate::{ConfigProblem, FetchError, FetchOutcome, SourceState, api_root, check_base_url};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://api.x.com/2";

/// The `[[source]]` keys of `kind = "x"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XConfig {
    /// Search query (X operators allowed; `-is:retweet` is added).
    pub query: String,
    /// App-only bearer token (developer console).
    pub bearer_token: Secret,
    /// Posts read per calendar month (UTC), never exceeded: X bills each post read.
    pub monthly_budget: u32,
    /// Replaces the API root (`https://api.x.com/2`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

impl XConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [Some(("bearer_token", &mut self.bearer_token))]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        api_root(self.base_url.as_deref(), DEFAULT_ROOT)
    }
}

/// A `x` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct X {
    config: XConfig,
}

impl X {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &XConfig) -> Result<X, FetchError> {
        Ok(X {
            config: config.clone(),
        })
    }

    pub async fn fetch(
        &self,
        _http: &HttpFetcher,
        _state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        let _ = &self.config;
        Err(FetchError::Config("x is not implemented yet".to_string()))
    }
}
