//! The one HTTP helper every connector uses: timeouts, a body cap applied after decompression,
//! a redirect limit, per-host rate limits (governor), conditional GET and `Retry-After`.
//!
//! A slow, endless or hostile server can cost one source one timeout, never stall the others
//! or grow memory past the cap.

use std::time::Duration;

use crate::{FetchError, SourceState};

/// Limits applied to every request. Defaults suit a polite poller.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Sent on every request; platforms ask for a descriptive one with a contact.
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Whole request, body included.
    pub total_timeout: Duration,
    /// Largest body accepted, counted after decompression.
    pub max_body: u64,
    pub max_redirects: usize,
    /// Requests per second allowed to one host (burst of the same size).
    pub per_host_rps: f64,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            user_agent: concat!("earshot/", env!("CARGO_PKG_VERSION")).to_string(),
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_body: 15 * 1024 * 1024,
            max_redirects: 5,
            per_host_rps: 1.0,
        }
    }
}

/// A full reply, or the news that nothing changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    NotModified,
    Body {
        bytes: Vec<u8>,
        content_type: Option<String>,
        etag: Option<String>,
        last_modified: Option<String>,
        /// The URL after redirects (query string kept: used to resolve relative links).
        final_url: String,
    },
}

/// Shared by all sources; cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    // filled in by the implementation
}

impl HttpFetcher {
    pub fn new(_opts: FetchOptions) -> Result<HttpFetcher, FetchError> {
        todo!()
    }

    /// GET `url`, conditional on `state`'s ETag / Last-Modified, within every limit.
    pub async fn get(&self, _url: &str, _state: &SourceState) -> Result<Fetched, FetchError> {
        todo!()
    }
}
