//! Stack Exchange: `search/advanced` with `fromdate`, bodies included, `backoff` obeyed.
//!
//! TODO: this module is a stub; see PLATFORMS.md Part A.

use serde::Deserialize;

use crate::http::HttpFetcher;
use crate::secret::Secret;
use crate::{ConfigProblem, FetchError, FetchOutcome, SourceState, api_root, check_base_url};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://api.stackexchange.com/2.3";

/// The `[[source]]` keys of `kind = "stackexchange"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackExchangeConfig {
    /// Free-text query (`q`).
    pub query: String,
    /// The site (`stackoverflow`, `superuser`, `serverfault`, ...).
    #[serde(default = "default_site")]
    pub site: String,
    /// Only questions with all these tags.
    #[serde(default)]
    pub tagged: Vec<String>,
    /// An app key from stackapps.com: 10,000 requests a day instead of 300.
    #[serde(default)]
    pub key: Option<Secret>,
    /// The filter that includes bodies (`withbody`, or one you created).
    #[serde(default = "default_filter")]
    pub filter: String,
    /// Replaces the API root (`https://api.stackexchange.com/2.3`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

fn default_site() -> String {
    "stackoverflow".to_string()
}

fn default_filter() -> String {
    "withbody".to_string()
}

impl StackExchangeConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [self.key.as_mut().map(|s| ("key", s))]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        api_root(self.base_url.as_deref(), DEFAULT_ROOT)
    }
}

/// A `stackexchange` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct StackExchange {
    config: StackExchangeConfig,
}

impl StackExchange {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &StackExchangeConfig) -> Result<StackExchange, FetchError> {
        Ok(StackExchange {
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
            "stackexchange is not implemented yet".to_string(),
        ))
    }
}
