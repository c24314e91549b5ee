//! RSS 0.9x/1.0/2.0, Atom and JSON Feed, through feed-rs, over HTTP(S) or from local files.

use crate::{FetchError, FetchOutcome, HttpFetcher, SourceState};

/// One configured feed.
#[derive(Debug, Clone)]
pub struct FeedConnector {
    /// `http(s)://...`, `file://...` or a plain path.
    pub url: String,
}

impl FeedConnector {
    pub async fn fetch(
        &self,
        _http: &HttpFetcher,
        _state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        todo!()
    }
}
