//! App Store customer reviews, from the public per-country reviews feed.
//!
//! TODO: this module is a stub; see PLATFORMS.md Part A.

use serde::Deserialize;

use crate::http::HttpFetcher;
use crate::secret::Secret;
use crate::{ConfigProblem, FetchError, FetchOutcome, SourceState, api_root, check_base_url};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://itunes.apple.com";

/// The `[[source]]` keys of `kind = "appstore"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppStoreConfig {
    /// The app's numeric id (the `id123456789` in its App Store link).
    pub app_id: u64,
    /// Storefront countries, two letters (`us`, `gb`, `de`).
    #[serde(default = "default_countries")]
    pub countries: Vec<String>,
    /// Pages of 50 reviews read per country and poll, 1 to 10 (Apple serves no more).
    #[serde(default = "one")]
    pub pages: u8,
    /// Replaces the API root (`https://itunes.apple.com`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

fn default_countries() -> Vec<String> {
    vec!["us".to_string()]
}

fn one() -> u8 {
    1
}

impl AppStoreConfig {
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

/// A `appstore` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct AppStore {
    config: AppStoreConfig,
}

impl AppStore {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &AppStoreConfig) -> Result<AppStore, FetchError> {
        Ok(AppStore {
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
            "appstore is not implemented yet".to_string(),
        ))
    }
}
