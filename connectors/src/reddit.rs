//! Reddit: OAuth app-only search and listings, or the `.rss` listings without credentials (degraded).
//!
//! TODO: this module is a stub; see PLATFORMS.md Part A.

use serde::Deserialize;

use crate::http::HttpFetcher;
use crate::secret::Secret;
use crate::{ConfigProblem, FetchError, FetchOutcome, SourceState, api_root, check_base_url};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://oauth.reddit.com";

/// The `[[source]]` keys of `kind = "reddit"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedditConfig {
    /// Search query (`/search?sort=new`, or within `subreddits` when given).
    #[serde(default)]
    pub query: Option<String>,
    /// Subreddits to read (`rust`, or a multi `rust+programming`): their newest posts, or the
    /// search restricted to them when `query` is set.
    #[serde(default)]
    pub subreddits: Vec<String>,
    /// Also read the newest comments of each subreddit (`/r/{sub}/comments`).
    #[serde(default)]
    pub comments: bool,
    /// OAuth client id of a Reddit app (reddit.com/prefs/apps). Without it: `.rss`, degraded.
    #[serde(default)]
    pub client_id: Option<Secret>,
    /// OAuth client secret of that app.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Replaces the API root (`https://oauth.reddit.com`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

impl RedditConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [
            self.client_id.as_mut().map(|s| ("client_id", s)),
            self.client_secret.as_mut().map(|s| ("client_secret", s)),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        api_root(self.base_url.as_deref(), DEFAULT_ROOT)
    }
}

/// A `reddit` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct Reddit {
    config: RedditConfig,
}

impl Reddit {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &RedditConfig) -> Result<Reddit, FetchError> {
        Ok(Reddit {
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
            "reddit is not implemented yet".to_string(),
        ))
    }
}
