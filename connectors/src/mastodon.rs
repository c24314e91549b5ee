//! Mastodon: hashtag timelines on a list of instances, keyword search where a user token is given.
//!
//! TODO: this module is a stub; see PLATFORMS.md Part A.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::http::HttpFetcher;
use crate::secret::Secret;
use crate::{ConfigProblem, FetchError, FetchOutcome, SourceState, api_root, check_base_url};

/// The `[[source]]` keys of `kind = "mastodon"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MastodonConfig {
    /// Instances to read: host names (`mastodon.social`) or URLs (`https://fosstodon.org`).
    #[serde(default)]
    pub instances: Vec<String>,
    /// Hashtags to follow on every instance, without `#`.
    #[serde(default)]
    pub hashtags: Vec<String>,
    /// Keyword search (`/api/v2/search`), on the instances that have a token in `tokens`.
    #[serde(default)]
    pub query: Option<String>,
    /// User tokens (scope `read:search`) by instance host name, for keyword search.
    #[serde(default)]
    pub tokens: BTreeMap<String, Secret>,
    /// Replaces the API root (the instances): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

impl MastodonConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        self.tokens.values_mut().map(|s| ("tokens", s)).collect()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        api_root(
            self.base_url.as_deref(),
            self.instances.first().map_or("", String::as_str),
        )
    }
}

/// A `mastodon` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct Mastodon {
    config: MastodonConfig,
}

impl Mastodon {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &MastodonConfig) -> Result<Mastodon, FetchError> {
        Ok(Mastodon {
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
            "mastodon is not implemented yet".to_string(),
        ))
    }
}
