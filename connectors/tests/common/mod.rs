//! Helpers shared by the connector integration tests.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use earshot_connectors::{Clock, FetchOptions, HttpFetcher};

/// Options for tests: short timeouts so a hostile server costs milliseconds, and a rate limit
/// high enough that tests making several requests to 127.0.0.1 are never held up by it.
pub fn test_options() -> FetchOptions {
    FetchOptions {
        user_agent: "earshot-test/1.0 (+https://example.com/earshot)".to_string(),
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(5),
        max_body: 1024 * 1024,
        max_redirects: 3,
        per_host_rps: 10_000.0,
        // Every test server listens on loopback.
        allow_private: true,
    }
}

/// The instant every connector test starts at (2027-01-15 08:00 UTC): search windows, reset
/// headers and daily quotas are reckoned from it, never from the system clock, so the tests
/// pass on any date.
pub const NOW: i64 = 1_800_000_000;

/// [`NOW`] as a time.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).unwrap()
}

/// A fetcher whose clock reads [`NOW`] when it is made (and runs on with tokio's clock).
pub fn fetcher() -> HttpFetcher {
    fetcher_with(|_| {})
}

pub fn fetcher_with(tweak: impl FnOnce(&mut FetchOptions)) -> HttpFetcher {
    let mut opts = test_options();
    tweak(&mut opts);
    HttpFetcher::new(opts)
        .expect("test fetcher builds")
        .with_clock(Clock::tokio_from(now()))
}

/// A file under `connectors/tests/data/`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A small valid RSS 2.0 document with `n` items.
pub fn rss(n: usize) -> String {
    let items: String = (1..=n)
        .map(|i| {
            format!(
                "<item><guid>item-{i}</guid><title>Item {i} about &lt;b&gt;Acme&lt;/b&gt;</title>\
                 <link>/posts/{i}</link><description>Text {i}</description>\
                 <pubDate>Fri, 01 May 2026 12:00:0{i} GMT</pubDate></item>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Blog</title>\
         <link>https://blog.example/</link>{items}</channel></rss>"
    )
}

/// Exact header match: wiremock's `header()` splits values at commas, and HTTP dates have one.
pub fn header_is(
    name: &'static str,
    value: &'static str,
) -> impl Fn(&wiremock::Request) -> bool + Send + Sync + 'static {
    move |req| req.headers.get(name).and_then(|v| v.to_str().ok()) == Some(value)
}
