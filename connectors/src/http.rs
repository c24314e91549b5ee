//! The one HTTP helper every connector uses: timeouts, a body cap applied after decompression,
//! a redirect limit, per-host rate limits (governor), conditional GET, `Retry-After` and the
//! platforms' own rate-limit headers.
//!
//! Every reply, whatever its status, is read for rate-limit headers
//! ([`crate::ratelimit::parse_rate_limit`]). Once a host says the budget is spent, every source on
//! that host waits for the reset without sending a request, so no connector can go past a
//! platform's limit. A budget that is low but not spent is left alone: the per-host spacing
//! keeps us polite meanwhile, and the reply that spends the last unit is what holds the host.
//!
//! JSON APIs go through [`HttpFetcher::get_json`], which adds request headers (credentials),
//! and turns an HTML page (a block page, a login wall) into a clear, long-lived
//! [`FetchError::Unexpected`] rather than a parse error.
//!
//! A slow, endless or hostile server can cost one source one timeout, never stall the others
//! or grow memory past the cap.
//!
//! Local sources (`file://` URLs and plain paths) go through the same [`HttpFetcher::get`] so
//! that a connector never cares where its bytes come from; they get the same size cap but no
//! conditional logic and no rate limit.
//!
//! Error messages never carry the URL: a URL may hold a token (`?key=...`), and errors end up
//! in logs, the database and chat.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_TYPE, ETAG, HeaderMap, HeaderName, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED,
};
use tokio::io::AsyncReadExt;
use url::Url;

use crate::ratelimit::{parse_rate_limit, stack_exchange_backoff};
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
    /// Whether requests may reach loopback, private and link-local addresses (see
    /// [`crate::netguard`]); `false` by default.
    pub allow_private: bool,
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
            allow_private: false,
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

/// A JSON reply, or the news that nothing changed.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonReply {
    NotModified,
    Body {
        value: serde_json::Value,
        etag: Option<String>,
        last_modified: Option<String>,
        /// The URL after redirects (query string kept).
        final_url: String,
    },
}

/// The body of a request to a JSON API (see [`HttpFetcher::api`]).
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// A GET.
    None,
    /// A POST of `application/x-www-form-urlencoded` fields. Values are kept out of errors.
    Form(&'a [(&'a str, &'a str)]),
    /// A POST of a JSON document. Its string values are kept out of errors.
    Json(&'a serde_json::Value),
}

/// One request to a JSON API (see [`HttpFetcher::api`]).
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    pub url: &'a str,
    /// Extra headers, usually credentials: values are marked sensitive and kept out of errors.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Body<'a>,
    /// ETag / Last-Modified to make a GET conditional.
    pub state: Option<&'a SourceState>,
}

impl<'a> ApiRequest<'a> {
    /// A plain GET of `url`.
    pub fn get(url: &'a str) -> Self {
        ApiRequest {
            url,
            headers: &[],
            body: Body::None,
            state: None,
        }
    }

    /// The same request with these headers.
    pub fn headers(self, headers: &'a [(&'a str, &'a str)]) -> Self {
        ApiRequest { headers, ..self }
    }
}

/// A JSON API's reply, whatever its status: connectors read platform error bodies
/// (`quotaExceeded`, `rate_limit_error`, `backoff`) before deciding what a status means.
#[derive(Debug, Clone)]
pub struct ApiReply {
    pub status: u16,
    /// The parsed body: always present on a 2xx; on an error status only when it was JSON
    /// (its first 16 KiB are read).
    pub json: Option<serde_json::Value>,
    pub headers: HeaderMap,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The URL after redirects (query string kept: may hold a key, never show it).
    pub final_url: String,
    /// On an error status, what the server asked us to wait (`Retry-After`, rate-limit
    /// headers), if anything.
    pub retry_after: Option<Duration>,
}

impl ApiReply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The usual error for this reply's status (`HTTP 404`, `HTTP 429 (retry after 60s)`).
    pub fn status_error(&self) -> FetchError {
        FetchError::Status {
            status: self.status,
            retry_after: self.retry_after,
        }
    }

    /// The JSON of a success; [`FetchError::Status`] for anything else (a 304 included).
    pub fn into_json(self) -> Result<serde_json::Value, FetchError> {
        match self.json {
            Some(v) if self.is_success() => Ok(v),
            _ => Err(self.status_error()),
        }
    }

    /// A response header, trimmed, if present and readable.
    pub fn header(&self, name: &str) -> Option<String> {
        header(&self.headers, name)
    }
}

/// How much of an error page is read to tell an HTML page from a JSON error.
const SNIFF_BYTES: usize = 16 * 1024;

/// One rate-limit state per host name, so two feeds on one host are spaced while feeds on
/// different hosts do not wait for each other. Generic over the clock so that the spacing can
/// be tested on a fake clock.
type HostLimiter<C = DefaultClock> =
    RateLimiter<String, DefaultKeyedStateStore<String>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Shared by all sources; cheap to clone.
#[derive(Clone)]
pub struct HttpFetcher {
    /// The clients that reach public addresses only (see [`crate::netguard`]).
    guarded: Arc<Clients>,
    /// The same without the guard, for sources allowed a private target.
    open: Arc<Clients>,
    /// Whether this fetcher may reach non-public addresses ([`HttpFetcher::allowing_private`]).
    allow_private: bool,
    /// Kept for the limits the client cannot enforce itself (body cap) and for error messages.
    opts: Arc<FetchOptions>,
    /// Shared by clones, so that every task polling a host sees the same budget.
    limiter: Arc<HostLimiter>,
    /// Hosts that answered 429/503 with `Retry-After`, or whose rate-limit headers (or
    /// Stack Exchange `backoff`) said the budget is spent, and until when: every source on
    /// that host waits, not only the one that was told.
    blocked: Arc<std::sync::Mutex<std::collections::HashMap<String, tokio::time::Instant>>>,
    /// How often requests waited on a host's limits, for the daemon's metrics.
    waits: Arc<RateWaits>,
    /// Where connectors read the time (a search window, a token's expiry, a reset header).
    clock: crate::Clock,
}

/// One set of connection pools.
struct Clients {
    /// Follows redirects anywhere (up to the limit): for requests that carry no credential.
    anonymous: reqwest::Client,
    /// For API requests, which may carry a credential (a header, a body, a key in the query):
    /// follows a redirect only to the same scheme, host and port, so no credential, body or
    /// key is ever sent to another server.
    credentialed: reqwest::Client,
}

/// How often requests to each host waited on its limits: kept by the fetcher, read for
/// `/metrics`. Shared across fetchers with [`HttpFetcher::with_rate_waits`], so a reload's new
/// fetcher keeps counting where the old one stopped.
#[derive(Debug, Default)]
pub struct RateWaits {
    hosts: std::sync::Mutex<std::collections::BTreeMap<String, HostWaits>>,
}

/// One host's waits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HostWaits {
    /// Requests that waited for their turn under `per_host_rps`.
    pub spaced: u64,
    /// Requests not sent because the host asked us to wait (`Retry-After`, a spent budget).
    pub held: u64,
}

impl RateWaits {
    fn count(&self, host: &str, f: impl FnOnce(&mut HostWaits)) {
        // Counting is best effort: a poisoned lock only means a panic elsewhere.
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        f(hosts.entry(host.to_string()).or_default());
    }

    /// Every host that waited at least once, by name.
    pub fn snapshot(&self) -> Vec<(String, HostWaits)> {
        let hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts.iter().map(|(h, w)| (h.clone(), *w)).collect()
    }
}

impl std::fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// Where a source's bytes come from.
#[derive(Debug, PartialEq)]
enum Target {
    Http(Url),
    File(PathBuf),
}

impl HttpFetcher {
    pub fn new(opts: FetchOptions) -> Result<HttpFetcher, FetchError> {
        let quota = quota(opts.per_host_rps)?;
        let tls = tls_config()?;
        let build = |policy: reqwest::redirect::Policy,
                     guard: bool|
         -> Result<reqwest::Client, FetchError> {
            let builder = reqwest::Client::builder();
            // Guarded: every address is checked, which a proxy from the environment
            // (HTTPS_PROXY) would hide, so guarded clients never use one.
            let builder = if guard {
                builder
                    .dns_resolver(Arc::new(crate::netguard::PublicOnly))
                    .no_proxy()
            } else {
                builder
            };
            builder
                .tls_backend_preconfigured(tls.clone())
                .user_agent(opts.user_agent.clone())
                .connect_timeout(opts.connect_timeout)
                .timeout(opts.total_timeout)
                .redirect(policy)
                // A Referer would carry the query string (an API key) to the next host.
                .referer(false)
                .gzip(true)
                .deflate(true)
                .build()
                .map_err(|e| {
                    FetchError::Config(format!("cannot build the HTTP client: {}", chain(&e)))
                })
        };
        let clients = |guard: bool| -> Result<Arc<Clients>, FetchError> {
            Ok(Arc::new(Clients {
                anonymous: build(redirects(opts.max_redirects, guard, false), guard)?,
                credentialed: build(redirects(opts.max_redirects, guard, true), guard)?,
            }))
        };
        Ok(HttpFetcher {
            guarded: clients(true)?,
            open: clients(false)?,
            allow_private: opts.allow_private,
            opts: Arc::new(opts),
            limiter: Arc::new(RateLimiter::keyed(quota)),
            blocked: Arc::default(),
            waits: Arc::default(),
            clock: crate::Clock::System,
        })
    }

    /// This fetcher counting its waits into `waits` (another fetcher's [`HttpFetcher::rate_waits`]).
    pub fn with_rate_waits(mut self, waits: Arc<RateWaits>) -> HttpFetcher {
        self.waits = waits;
        self
    }

    /// This fetcher reading the time from `clock` (the runtime's) instead of the system's.
    pub fn with_clock(mut self, clock: crate::Clock) -> HttpFetcher {
        self.clock = clock;
        self
    }

    /// The time now, as this fetcher's clock reads it: what every connector calls "now".
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The waits counted so far, per host.
    pub fn rate_waits(&self) -> Arc<RateWaits> {
        self.waits.clone()
    }

    /// The underlying client (timeouts, User-Agent, TLS already set), for sinks that want to
    /// share the connection pool. Requests made through it bypass the body cap and rate limit.
    pub fn client(&self) -> &reqwest::Client {
        &self.clients().anonymous
    }

    /// This fetcher, allowed (or not) to reach non-public addresses: for a source with
    /// `allow_private = true`. Shares the limits, holds and counters.
    pub fn allowing_private(&self, allow: bool) -> HttpFetcher {
        HttpFetcher {
            allow_private: allow,
            ..self.clone()
        }
    }

    fn clients(&self) -> &Clients {
        if self.allow_private {
            &self.open
        } else {
            &self.guarded
        }
    }

    /// Refuses a URL that names a non-public address, unless this fetcher may reach one.
    fn check_target(&self, url: &Url) -> Result<(), FetchError> {
        if self.allow_private {
            return Ok(());
        }
        crate::netguard::check_url(url).map_err(FetchError::Config)
    }

    /// The limits this fetcher was built with.
    pub fn options(&self) -> &FetchOptions {
        &self.opts
    }

    /// GET `url`, conditional on `state`'s ETag / Last-Modified, within every limit.
    ///
    /// Waits first for the host's rate limit; that wait is not part of `total_timeout`, which
    /// starts with the request. `file://` URLs and plain paths are read from disk instead.
    ///
    /// A host that is being held (a `Retry-After`, or a spent rate-limit budget) gives
    /// `FetchError::Status { status: 429, retry_after }` without a request. The reply that
    /// spent the budget is itself returned as usual.
    pub async fn get(&self, url: &str, state: &SourceState) -> Result<Fetched, FetchError> {
        match classify(url)? {
            Target::File(path) => self.read_file(&path).await,
            Target::Http(url) => self.fetch_http(url, state).await,
        }
    }

    /// GET a JSON API: like [`HttpFetcher::get`], plus request `headers` (name, value), and
    /// the body parsed.
    ///
    /// Header values may be secrets (`Authorization: Bearer ...`): they are marked sensitive,
    /// and never appear in an error or a log line. A name or value that HTTP cannot carry is
    /// a [`FetchError::Config`] that names neither.
    ///
    /// * An HTML page on a success, 401 or 403 (a block page, a login wall, a Cloudflare
    ///   challenge) is [`FetchError::Unexpected`], which backs off long. Other error statuses
    ///   stay [`FetchError::Status`] whatever their body: a 502 page from a proxy is transient.
    /// * A body that is not JSON, or stops early, is [`FetchError::Parse`] (no body, no URL).
    /// * A top-level `backoff` (Stack Exchange) holds the host for that long; the body is
    ///   returned as usual. Stack Exchange asks it per method; holding the whole host is the
    ///   cautious reading.
    pub async fn get_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        state: &SourceState,
    ) -> Result<JsonReply, FetchError> {
        let reply = self
            .api(ApiRequest {
                url,
                headers,
                body: Body::None,
                state: Some(state),
            })
            .await?;
        match reply.status {
            304 => Ok(JsonReply::NotModified),
            _ if reply.is_success() => Ok(JsonReply::Body {
                etag: reply.etag.clone(),
                last_modified: reply.last_modified.clone(),
                final_url: reply.final_url.clone(),
                value: reply.into_json()?,
            }),
            _ => Err(reply.status_error()),
        }
    }

    /// One request to a JSON API, within every limit [`HttpFetcher::get`] keeps (the host's
    /// hold and spacing, timeouts, the body cap), returning the reply whatever its status so
    /// that the connector can read the platform's own error body.
    ///
    /// Errors are only what leaves no reply to read:
    /// * the host is held (`Status { 429, retry_after }` without a request);
    /// * network, timeout and size errors;
    /// * an HTML page on a success, 401 or 403 (a block page, a login wall): the long-lived
    ///   [`FetchError::Unexpected`];
    /// * a success whose body is not JSON, or stops early: [`FetchError::Parse`].
    ///
    /// A 429 or 503 with `Retry-After`, a spent rate-limit budget, and a Stack Exchange
    /// `backoff` in any JSON body hold the host, as for `get`. Header values, form values and
    /// the JSON body's strings never appear in an error. `file://` URLs and paths are read
    /// (GET only) as a 200.
    pub async fn api(&self, req: ApiRequest<'_>) -> Result<ApiReply, FetchError> {
        let mut secrets: Vec<&str> = req.headers.iter().map(|(_, v)| *v).collect();
        match req.body {
            Body::None => {}
            Body::Form(fields) => secrets.extend(fields.iter().map(|(_, v)| *v)),
            Body::Json(v) => json_strings(v, &mut secrets),
        }
        self.api_inner(req).await.map_err(|e| redact(e, &secrets))
    }

    async fn api_inner(&self, req: ApiRequest<'_>) -> Result<ApiReply, FetchError> {
        let extra = request_headers(req.headers)?;
        let url = match classify(req.url)? {
            Target::Http(url) => url,
            Target::File(path) => {
                if !matches!(req.body, Body::None) {
                    return Err(FetchError::Config(
                        "a local file can only be read, not posted to: use an http(s) URL"
                            .to_string(),
                    ));
                }
                let Fetched::Body {
                    bytes,
                    content_type,
                    final_url,
                    ..
                } = self.read_file(&path).await?
                else {
                    unreachable!("a file read is never Not Modified")
                };
                return Ok(ApiReply {
                    status: 200,
                    json: Some(parse_json(&bytes, content_type.as_deref())?),
                    headers: HeaderMap::new(),
                    etag: None,
                    last_modified: None,
                    final_url,
                    retry_after: None,
                });
            }
        };
        self.check_target(&url)?;
        let host = host_key(&url);
        self.check_blocked(&host)?;
        self.wait_turn(&host).await;
        self.check_blocked(&host)?;
        let total = self.opts.total_timeout;
        let request = self.send_api(url, &host, &extra, req);
        let reply = match tokio::time::timeout(total, request).await {
            Ok(result) => result?,
            Err(_) => return Err(FetchError::Timeout(total)),
        };
        if matches!(reply.status, 403 | 429 | 503)
            && let Some(wait) = reply.retry_after
        {
            self.block(&host, wait);
        }
        if let Some(wait) = reply.json.as_ref().and_then(stack_exchange_backoff) {
            tracing::debug!(
                host,
                wait_secs = wait.as_secs(),
                "server asked for a backoff, holding the host"
            );
            self.block(&host, wait);
        }
        Ok(reply)
    }

    async fn send_api(
        &self,
        url: Url,
        host: &str,
        extra: &HeaderMap,
        req: ApiRequest<'_>,
    ) -> Result<ApiReply, FetchError> {
        let clients = self.clients();
        let client = if req.headers.is_empty() && url.query().is_none() {
            &clients.anonymous
        } else {
            &clients.credentialed
        };
        let mut builder = match req.body {
            Body::None => client.get(url),
            Body::Form(fields) => {
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields.iter())
                    .finish();
                clients
                    .credentialed
                    .post(url)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            }
            Body::Json(v) => clients.credentialed.post(url).json(v),
        }
        .headers(extra.clone());
        if let Some(state) = req.state {
            if let Some(etag) = state.etag.as_deref() {
                builder = builder.header(IF_NONE_MATCH, etag);
            }
            if let Some(lm) = state.last_modified.as_deref() {
                builder = builder.header(IF_MODIFIED_SINCE, lm);
            }
        }
        if !req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("accept"))
        {
            builder = builder.header(reqwest::header::ACCEPT, "application/json");
        }
        let mut resp = builder.send().await.map_err(|e| self.map_err(e))?;
        let limit_wait = self.note_rate_limit(host, resp.headers());
        let status = resp.status();
        let headers = resp.headers().clone();
        let final_url = resp.url().to_string();
        let content_type = header(&headers, CONTENT_TYPE.as_str());
        let mut reply = ApiReply {
            status: status.as_u16(),
            json: None,
            etag: header(&headers, ETAG.as_str()),
            last_modified: header(&headers, LAST_MODIFIED.as_str()),
            headers,
            final_url,
            retry_after: None,
        };
        if status == StatusCode::NOT_MODIFIED {
            return Ok(reply);
        }
        if !status.is_success() {
            reply.retry_after = match status {
                // GitHub's secondary rate limits answer 403 with `Retry-After`.
                StatusCode::TOO_MANY_REQUESTS
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::FORBIDDEN => {
                    crate::ratelimit::retry_after(&reply.headers, self.now()).max(limit_wait)
                }
                _ => limit_wait,
            };
            let head = read_head(&mut resp, SNIFF_BYTES).await;
            if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                && looks_like_html(content_type.as_deref(), &head)
            {
                return Err(html_page_error(Some(status.as_u16()), &head));
            }
            reply.json = serde_json::from_slice(body_start(&head)).ok();
            return Ok(reply);
        }
        let bytes = self.read_body(&mut resp).await?;
        reply.json = Some(parse_json(&bytes, content_type.as_deref())?);
        Ok(reply)
    }

    /// The whole body, within the cap (counted after decompression).
    async fn read_body(&self, resp: &mut reqwest::Response) -> Result<Vec<u8>, FetchError> {
        let limit = self.opts.max_body;
        // An honest Content-Length over the cap saves downloading anything. It is absent
        // when the body is decompressed, so the loop below remains the real check.
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.map_err(e))? {
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err(FetchError::TooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// An HTTP GET within every limit: the host's block, its spacing, the total timeout.
    async fn fetch_http(&self, url: Url, state: &SourceState) -> Result<Fetched, FetchError> {
        self.check_target(&url)?;
        let host = host_key(&url);
        self.check_blocked(&host)?;
        self.wait_turn(&host).await;
        // Another task's reply may have spent the budget while this one queued.
        self.check_blocked(&host)?;
        // The client's own timeout covers the body too; this outer one is the
        // guarantee, whatever the client does with a server that trickles bytes.
        let total = self.opts.total_timeout;
        let request = self.get_http(url, &host, state);
        let result = match tokio::time::timeout(total, request).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(total)),
        };
        if let Err(FetchError::Status {
            status: 403 | 429 | 503,
            retry_after: Some(wait),
        }) = &result
        {
            self.block(&host, *wait);
        }
        result
    }

    /// Not even one request while the host asked all of us to wait.
    fn check_blocked(&self, host: &str) -> Result<(), FetchError> {
        match self.blocked_for(host) {
            Some(wait) => {
                self.waits.count(host, |w| w.held += 1);
                Err(FetchError::Status {
                    status: 429,
                    retry_after: Some(wait),
                })
            }
            None => Ok(()),
        }
    }

    /// Waits for `host`'s turn under `per_host_rps`, counting the requests that had to.
    async fn wait_turn(&self, host: &String) {
        if self.limiter.check_key(host).is_err() {
            self.waits.count(host, |w| w.spaced += 1);
            self.limiter.until_key_ready(host).await;
        }
    }

    /// Holds `host` when a reply's rate-limit headers say the budget is spent, until the
    /// reset they give; returns that wait. A low but non-zero budget holds nothing (see the
    /// module documentation).
    fn note_rate_limit(&self, host: &str, headers: &HeaderMap) -> Option<Duration> {
        let wait = parse_rate_limit(headers, self.now())?
            .wait()
            .filter(|w| !w.is_zero())?;
        tracing::debug!(
            host,
            wait_secs = wait.as_secs(),
            "rate-limit budget spent, holding the host"
        );
        self.block(host, wait);
        Some(wait)
    }

    /// How much longer `host` asked to be left alone, if it did.
    fn blocked_for(&self, host: &str) -> Option<Duration> {
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let now = tokio::time::Instant::now();
        match blocked.get(host) {
            Some(until) if *until > now => Some(*until - now),
            Some(_) => {
                blocked.remove(host);
                None
            }
            None => None,
        }
    }

    fn block(&self, host: &str, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let entry = blocked.entry(host.to_string()).or_insert(until);
        *entry = (*entry).max(until);
    }

    async fn get_http(
        &self,
        url: Url,
        host: &str,
        state: &SourceState,
    ) -> Result<Fetched, FetchError> {
        let mut req = self.clients().anonymous.get(url);
        if let Some(etag) = state.etag.as_deref() {
            req = req.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = state.last_modified.as_deref() {
            req = req.header(IF_MODIFIED_SINCE, lm);
        }
        let mut resp = req.send().await.map_err(|e| self.map_err(e))?;
        // Every reply, 304s and errors included: a spent budget is news whatever the status.
        let limit_wait = self.note_rate_limit(host, resp.headers());

        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            // Dropping the response without reading it: a 304 has no body worth reading.
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            let retry_after = match status {
                // GitHub's secondary rate limits answer 403 with `Retry-After`.
                StatusCode::TOO_MANY_REQUESTS
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::FORBIDDEN => {
                    crate::ratelimit::retry_after(resp.headers(), self.now()).max(limit_wait)
                }
                _ => limit_wait,
            };
            return Err(FetchError::Status {
                status: status.as_u16(),
                retry_after,
            });
        }

        let headers = resp.headers().clone();
        let final_url = resp.url().to_string();
        let bytes = self.read_body(&mut resp).await?;
        Ok(Fetched::Body {
            bytes,
            content_type: header(&headers, CONTENT_TYPE.as_str()),
            etag: header(&headers, ETAG.as_str()),
            last_modified: header(&headers, LAST_MODIFIED.as_str()),
            final_url,
        })
    }

    /// Reads a local feed with the same size cap as a download.
    async fn read_file(&self, path: &Path) -> Result<Fetched, FetchError> {
        let io_err = |e: std::io::Error| {
            FetchError::Io(format!(
                "{}: {e}: check that the path exists and that the daemon may read it",
                path.display()
            ))
        };
        let limit = self.opts.max_body;
        let file = tokio::fs::File::open(path).await.map_err(io_err)?;
        let mut bytes = Vec::new();
        // One byte more than the cap tells "exactly at the cap" from "over it" without
        // trusting the file's metadata (it may be a pipe or grow while we read).
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .await
            .map_err(io_err)?;
        if bytes.len() as u64 > limit {
            return Err(FetchError::TooLarge { limit });
        }
        let final_url = std::path::absolute(path)
            .ok()
            .and_then(|p| Url::from_file_path(p).ok())
            .map(String::from)
            .unwrap_or_else(|| path.display().to_string());
        Ok(Fetched::Body {
            bytes,
            content_type: None,
            etag: None,
            last_modified: None,
            final_url,
        })
    }

    /// Turns a reqwest error into ours, without the URL it carries.
    fn map_err(&self, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            let limit = if e.is_connect() {
                self.opts.connect_timeout
            } else {
                self.opts.total_timeout
            };
            return FetchError::Timeout(limit);
        }
        if e.is_redirect() {
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                if let Some(cross) = cause.downcast_ref::<CrossOriginRedirect>() {
                    return FetchError::Network(cross.to_string());
                }
                if let Some(private) = cause.downcast_ref::<PrivateRedirect>() {
                    return FetchError::Network(private.to_string());
                }
                source = cause.source();
            }
            return FetchError::Network(format!(
                "too many redirects (more than {}) or a redirect loop: open the URL in a browser \
                 and configure the final address",
                self.opts.max_redirects
            ));
        }
        FetchError::Network(chain(&e.without_url()))
    }
}

/// The redirect policy: at most `max` hops; with `guard`, never to an address written in the
/// URL that is not public (names are checked by the resolver); with `same_origin` (requests
/// that carry a credential), never to another scheme, host or port, so the credential, the
/// body and the query stay with the server they were meant for.
fn redirects(max: usize, guard: bool, same_origin: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max {
            return attempt.error(TooManyRedirects);
        }
        if guard && let Err(e) = crate::netguard::check_url(attempt.url()) {
            return attempt.error(PrivateRedirect(e));
        }
        if same_origin
            && let Some(first) = attempt.previous().first()
            && first.origin() != attempt.url().origin()
        {
            let to = attempt.url().origin().ascii_serialization();
            return attempt.error(CrossOriginRedirect { to });
        }
        attempt.follow()
    })
}

/// A redirect to a non-public address, not followed.
#[derive(Debug)]
struct PrivateRedirect(String);

impl std::fmt::Display for PrivateRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redirected to {}", self.0)
    }
}

impl std::error::Error for PrivateRedirect {}

/// A credentialed request was redirected to another origin, and not followed.
#[derive(Debug)]
struct CrossOriginRedirect {
    /// Scheme, host and port of the target: never its path or query.
    to: String,
}

impl std::fmt::Display for CrossOriginRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server redirected to another address ({}), which was not followed: earshot \
             never sends a credential to another host, scheme or port; set the source to the \
             final address",
            self.to
        )
    }
}

impl std::error::Error for CrossOriginRedirect {}

#[derive(Debug)]
struct TooManyRedirects;

impl std::fmt::Display for TooManyRedirects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("too many redirects")
    }
}

impl std::error::Error for TooManyRedirects {}

/// The host a block and the spacing are keyed on.
fn host_key(url: &Url) -> String {
    url.host_str().unwrap_or_default().to_ascii_lowercase()
}

/// A caller's request headers, values marked sensitive (kept out of `Debug` and of HTTP/2
/// header compression tables). Errors name neither the header nor its value: a confused
/// caller might have put the secret in the name.
fn request_headers(headers: &[(&str, &str)]) -> Result<HeaderMap, FetchError> {
    let mut map = HeaderMap::new();
    for (i, (name, value)) in headers.iter().enumerate() {
        let n = i + 1;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            FetchError::Config(format!(
                "request header #{n} has an invalid name: use letters, digits and '-' only"
            ))
        })?;
        let mut value = HeaderValue::from_str(value.trim()).map_err(|_| {
            FetchError::Config(format!(
                "request header #{n} has a value HTTP cannot carry (a line break or a \
                 non-ASCII character?): check the credential for stray characters"
            ))
        })?;
        value.set_sensitive(true);
        map.append(name, value);
    }
    Ok(map)
}

/// Shortest header value (or word of one) taken for a secret by [`redact`]: shorter ones
/// (`1`, `json`) would blank out ordinary words.
const MIN_SECRET_LEN: usize = 8;

/// Removes request header values, and their long words (the token of `Bearer <token>`), from
/// an error's text: a page that echoes our credentials must not carry them into logs or chat.
/// Connectors use it too, for a credential they put in a URL (a YouTube key).
pub fn redact(e: FetchError, secrets: &[&str]) -> FetchError {
    let scrub = |mut msg: String| {
        for secret in secrets {
            let words = std::iter::once(secret.trim()).chain(secret.split_whitespace());
            for word in words.filter(|w| w.len() >= MIN_SECRET_LEN) {
                msg = msg.replace(word, "[redacted]");
            }
        }
        msg
    };
    match e {
        FetchError::Network(m) => FetchError::Network(scrub(m)),
        FetchError::Unexpected(m) => FetchError::Unexpected(scrub(m)),
        FetchError::Parse(m) => FetchError::Parse(scrub(m)),
        FetchError::Io(m) => FetchError::Io(scrub(m)),
        FetchError::Config(m) => FetchError::Config(scrub(m)),
        other @ (FetchError::Status { .. }
        | FetchError::Timeout(_)
        | FetchError::TooLarge { .. }) => other,
    }
}

/// Every string inside a JSON document (a login body's password), for [`redact`].
fn json_strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|i| json_strings(i, out)),
        serde_json::Value::Object(map) => map.values().for_each(|i| json_strings(i, out)),
        _ => {}
    }
}

/// Up to `limit` bytes of the body, whatever can be read: used to recognise an error page.
async fn read_head(resp: &mut reqwest::Response, limit: usize) -> Vec<u8> {
    let mut head = Vec::new();
    while head.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                head.extend_from_slice(&chunk[..chunk.len().min(limit - head.len())])
            }
            Ok(None) | Err(_) => break,
        }
    }
    head
}

/// The body without a UTF-8 byte-order mark and leading whitespace.
fn body_start(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(body)
        .trim_ascii_start()
}

/// An HTML document where something else was expected: it opens like one, or it is declared
/// `text/html` and does not open like JSON.
fn looks_like_html(content_type: Option<&str>, body: &[u8]) -> bool {
    let start = body_start(body);
    let opens_with = |p: &[u8]| {
        start
            .get(..p.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(p))
    };
    let declared = content_type.is_some_and(|c| {
        c.trim_start()
            .get(..9)
            .is_some_and(|t| t.eq_ignore_ascii_case("text/html"))
    });
    opens_with(b"<!doctype html")
        || opens_with(b"<html")
        || (declared && !matches!(start.first(), Some(b'{' | b'[')))
}

/// The error for an HTML page in place of JSON, with the page's title when it helps and
/// cannot carry a URL (some error pages echo the request line, query string included).
fn html_page_error(status: Option<u16>, body: &[u8]) -> FetchError {
    let mut what: Vec<String> = status.map(|s| format!("HTTP {s}")).into_iter().collect();
    what.extend(page_title(body).map(|t| format!("page title \"{t}\"")));
    let what = if what.is_empty() {
        String::new()
    } else {
        format!(": {}", what.join(", "))
    };
    FetchError::Unexpected(format!(
        "got an HTML page where JSON was expected (blocked or a login wall?){what}; open the \
         API URL in a browser from this machine to see the page"
    ))
}

/// The `<title>` of an HTML page, whitespace folded, at most 60 characters, and only if it
/// holds nothing URL-like.
fn page_title(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&body[..body.len().min(SNIFF_BYTES)]);
    // ASCII lowercasing keeps byte offsets, so positions found in `lower` index `text`.
    let lower = text.to_ascii_lowercase();
    let tag = lower.find("<title")?;
    let open = tag + lower[tag..].find('>')? + 1;
    let close = open + lower[open..].find("</")?;
    let decoded = html_escape::decode_html_entities(&text[open..close]);
    let title: String = decoded
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(60)
        .collect();
    let url_like = title.contains(['/', '?', '=', '&', '@']);
    (!title.is_empty() && !url_like).then_some(title)
}

/// Parses a JSON body; the errors carry neither the body nor the URL.
fn parse_json(bytes: &[u8], content_type: Option<&str>) -> Result<serde_json::Value, FetchError> {
    let body = body_start(bytes);
    if body.is_empty() {
        return Err(FetchError::Parse(
            "the reply is empty where JSON was expected".to_string(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        if looks_like_html(content_type, body) {
            html_page_error(None, body)
        } else if e.is_eof() {
            FetchError::Parse(format!(
                "the JSON reply stops early ({e}): the server or a proxy cut it short"
            ))
        } else {
            FetchError::Parse(format!("the reply is not valid JSON ({e})"))
        }
    })
}

/// The error and its causes, `a: b: c`, so "connection refused" is not hidden behind
/// "error sending request".
fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_msg = s.to_string();
        if !msg.contains(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        source = s.source();
    }
    msg
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// `per_host_rps` as a governor quota: one request per `1/rps`, with a burst of `rps`
/// (at least one) so that a slow rate such as 0.1 still lets the first request through.
fn quota(rps: f64) -> Result<Quota, FetchError> {
    if !rps.is_finite() || rps <= 0.0 {
        return Err(FetchError::Config(format!(
            "per_host_rps must be a positive number, got {rps}"
        )));
    }
    let period = Duration::try_from_secs_f64(1.0 / rps)
        .map_err(|_| FetchError::Config(format!("per_host_rps {rps} is too low")))?;
    let burst =
        NonZeroU32::new(rps.ceil().min(f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .map(|q| q.allow_burst(burst))
        .ok_or_else(|| FetchError::Config(format!("per_host_rps {rps} is too high")))
}

/// TLS with the `ring` provider chosen explicitly, so that building a client never depends on
/// a process-wide default having been installed by someone else.
fn tls_config() -> Result<rustls::ClientConfig, FetchError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map_err(|e| FetchError::Config(format!("cannot set up TLS: {e}")))?
        .with_no_client_auth();
    Ok(config)
}

/// Checks a source URL as the fetcher will read it (for `earshot check`); no I/O.
pub fn check_source_url(url: &str) -> Result<(), FetchError> {
    classify(url).map(|_| ())
}

/// Decides whether a source is fetched over HTTP or read from disk.
fn classify(url: &str) -> Result<Target, FetchError> {
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(FetchError::Config("the source URL is empty".to_string()));
    }
    match Url::parse(trimmed) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {
            if u.host_str().is_none_or(str::is_empty) {
                return Err(FetchError::Config(
                    "the URL has no host: write it as https://host/path".to_string(),
                ));
            }
            Ok(Target::Http(u))
        }
        Ok(u) if u.scheme() == "file" => u.to_file_path().map(Target::File).map_err(|()| {
            FetchError::Config(
                "a file:// URL must hold an absolute local path (file:///path/to/feed.xml)"
                    .to_string(),
            )
        }),
        // `C:\feeds\a.xml` parses as scheme `c`: a one-letter scheme is a Windows drive.
        Ok(u) if u.scheme().len() > 1 => Err(FetchError::Config(format!(
            "unsupported URL scheme `{}`: use http://, https://, file:// or a path",
            u.scheme()
        ))),
        Err(e) if trimmed.contains("://") => Err(FetchError::Config(format!(
            "the source URL is not valid ({e}): write it as https://host/path"
        ))),
        _ => Ok(Target::File(PathBuf::from(trimmed))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A redirect into a private address is not followed, whichever client: the measured case
    /// was a public feed's 302 to an admin page on loopback with `?confirm=1`. Both servers are
    /// on loopback here, so the first hop is let through by building the client with the guarded
    /// redirect policy but without the resolver (the fetcher refuses the first URL itself).
    #[tokio::test]
    async fn a_redirect_into_a_private_address_is_not_followed() {
        use wiremock::matchers::any;
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let admin = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200).set_body_string("deleted"))
            .mount(&admin)
            .await;
        let feed = MockServer::start().await;
        let target = format!("{}/admin/delete?confirm=1", admin.uri());
        Mock::given(any())
            .respond_with(ResponseTemplate::new(302).insert_header("location", target.as_str()))
            .mount(&feed)
            .await;
        for policy in [redirects(5, true, false), redirects(5, true, true)] {
            let client = reqwest::Client::builder().redirect(policy).build().unwrap();
            let e = client.get(feed.uri()).send().await.unwrap_err();
            assert!(e.is_redirect(), "{e:?}");
            let text = format!("{:?}", e);
            assert!(text.contains("127.0.0.1 is not a public address"), "{text}");
        }
        assert!(admin.received_requests().await.unwrap().is_empty());
        // Without the guard, the same redirect is followed: the test measures the guard.
        let open = reqwest::Client::builder()
            .redirect(redirects(5, false, false))
            .build()
            .unwrap();
        assert_eq!(open.get(feed.uri()).send().await.unwrap().status(), 200);
        assert_eq!(admin.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_block_lasts_as_long_as_asked() {
        let f = HttpFetcher::new(FetchOptions::default()).unwrap();
        assert_eq!(f.blocked_for("a.example"), None);
        f.block("a.example", Duration::from_secs(60));
        f.block("a.example", Duration::from_secs(30)); // a shorter ask does not shorten it
        assert_eq!(f.blocked_for("a.example"), Some(Duration::from_secs(60)));
        assert_eq!(f.blocked_for("b.example"), None);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(f.blocked_for("a.example"), Some(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(f.blocked_for("a.example"), None);
    }

    #[test]
    fn html_pages_are_told_from_json() {
        let cases: &[(Option<&str>, &str, bool)] = &[
            (
                None,
                "<!DOCTYPE html><html><body>blocked</body></html>",
                true,
            ),
            (None, "\n  <!doctype HTML>", true),
            (None, "\u{feff}<html lang=en>", true),
            (Some("application/json"), "<HTML><head>", true),
            (Some("text/html; charset=utf-8"), "Access denied", true),
            (Some("Text/HTML"), "", true),
            (Some("text/html"), " {\"error\": \"forbidden\"}", false),
            (Some("text/html"), "[1]", false),
            (Some("application/json"), "{\"a\": 1}", false),
            (None, "<?xml version=\"1.0\"?><rss/>", false),
            (Some("text/plain"), "Too Many Requests", false),
            (None, "", false),
        ];
        for (content_type, body, want) in cases {
            assert_eq!(
                looks_like_html(*content_type, body.as_bytes()),
                *want,
                "{content_type:?} {body:?}"
            );
        }
    }

    #[test]
    fn page_titles_help_unless_they_look_like_urls() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "<html><head><title>whoa there,\n  pardner!</title>",
                Some("whoa there, pardner!"),
            ),
            (
                "<TITLE lang=en>Just a moment...</TITLE>",
                Some("Just a moment..."),
            ),
            ("<title>Tom &amp; Jerry</title>", None), // `&` once decoded
            ("<title>Ben &lt;3 API</title>", Some("Ben <3 API")),
            ("<title>404 /api?token=abc</title>", None),
            ("<title></title>", None),
            ("<title>never closed", None),
            ("<html><body>no title</body></html>", None),
        ];
        for (body, want) in cases {
            assert_eq!(page_title(body.as_bytes()).as_deref(), *want, "{body:?}");
        }
        let long = format!("<title>{}</title>", "a".repeat(500));
        assert_eq!(page_title(long.as_bytes()).map(|t| t.len()), Some(60));
    }

    #[test]
    fn json_bodies_and_their_errors() {
        let ok = parse_json(b"\xEF\xBB\xBF {\"data\": [1]}", Some("application/json"));
        assert_eq!(ok, Ok(serde_json::json!({"data": [1]})));
        assert_eq!(
            parse_json(b"{\"a\": 1}", Some("text/html")),
            Ok(serde_json::json!({"a": 1})),
            "a JSON body under the wrong type is still JSON"
        );
        let cases: &[(&[u8], Option<&str>, &str)] = &[
            (b"{\"data\": {\"children\": [", None, "stops early"),
            (b"{\"a\": 1} trailing", None, "not valid JSON"),
            (b"   ", None, "empty"),
            (
                b"<!doctype html><title>Log in</title>",
                None,
                "page title \"Log in\"",
            ),
            (b"Forbidden", Some("text/html"), "HTML page"),
        ];
        for (body, content_type, want) in cases {
            let err = parse_json(body, *content_type).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(want), "{body:?}: {msg}");
            assert!(msg.len() < 300, "short: {msg}");
            let long_lived = msg.contains("HTML");
            assert_eq!(err.is_long_lived(), long_lived, "{msg}");
        }
    }

    #[test]
    fn request_headers_are_sensitive_and_errors_name_nothing() {
        let canary = "Bearer CANARY-7f3a";
        let map = request_headers(&[("Authorization", canary), ("X-Api-Key", "k")]).unwrap();
        assert!(map["authorization"].is_sensitive());
        assert!(!format!("{map:?}").contains("CANARY"));
        for bad in [
            [("Authorization", "Bearer CANARY-7f3a\r\nX-Evil: 1")],
            [("Authorization: Bearer CANARY-7f3a", "")],
        ] {
            let err = request_headers(&bad).unwrap_err();
            assert!(matches!(err, FetchError::Config(_)), "{err:?}");
            assert!(!format!("{err} {err:?}").contains("CANARY"), "{err:?}");
        }
    }

    #[test]
    fn redact_removes_header_values_and_their_tokens() {
        let secrets = ["Bearer CANARY-7f3a9c", "json"];
        let e = FetchError::Unexpected(
            "title \"Denied: CANARY-7f3a9c\" and Bearer CANARY-7f3a9c, json".to_string(),
        );
        assert_eq!(
            redact(e, &secrets),
            FetchError::Unexpected("title \"Denied: [redacted]\" and [redacted], json".to_string())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_holds_the_host_until_the_reset() {
        let f = HttpFetcher::new(FetchOptions::default()).unwrap();
        let reddit = |remaining: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-ratelimit-remaining", remaining.parse().unwrap());
            h.insert("x-ratelimit-used", "97".parse().unwrap());
            h.insert("x-ratelimit-reset", "120".parse().unwrap());
            h
        };
        assert_eq!(f.note_rate_limit("a.example", &reddit("3.0")), None);
        assert_eq!(f.check_blocked("a.example"), Ok(()), "low is not spent");
        assert_eq!(
            f.note_rate_limit("a.example", &reddit("0.0")),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            f.check_blocked("a.example"),
            Err(FetchError::Status {
                status: 429,
                retry_after: Some(Duration::from_secs(120))
            })
        );
        assert_eq!(f.check_blocked("b.example"), Ok(()));
        tokio::time::advance(Duration::from_secs(119)).await;
        assert!(f.check_blocked("a.example").is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(f.check_blocked("a.example"), Ok(()));
    }

    use governor::clock::FakeRelativeClock;

    #[test]
    fn classify_sources() {
        let cases: &[(&str, Result<Target, ()>)] = &[
            (
                "https://example.com/feed",
                Ok(Target::Http(
                    Url::parse("https://example.com/feed").unwrap(),
                )),
            ),
            (
                "  http://example.com/a?b=c ",
                Ok(Target::Http(
                    Url::parse("http://example.com/a?b=c").unwrap(),
                )),
            ),
            (
                "file:///tmp/a.xml",
                Ok(Target::File(PathBuf::from("/tmp/a.xml"))),
            ),
            ("/tmp/a.xml", Ok(Target::File(PathBuf::from("/tmp/a.xml")))),
            (
                "feeds/a.xml",
                Ok(Target::File(PathBuf::from("feeds/a.xml"))),
            ),
            (
                "C:\\feeds\\a.xml",
                Ok(Target::File(PathBuf::from("C:\\feeds\\a.xml"))),
            ),
            ("ftp://example.com/feed", Err(())),
            ("", Err(())),
            ("http://", Err(())),
            ("https://exa mple.com/", Err(())),
        ];
        for (input, want) in cases {
            let got = classify(input);
            match want {
                Ok(t) => assert_eq!(got.as_ref().ok(), Some(t), "{input:?}: {got:?}"),
                Err(()) => assert!(
                    matches!(got, Err(FetchError::Config(ref m)) if !m.is_empty()),
                    "{input:?}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn quota_from_rps() {
        let cases: &[(f64, Option<(Duration, u32)>)] = &[
            (1.0, Some((Duration::from_secs(1), 1))),
            (4.0, Some((Duration::from_millis(250), 4))),
            (0.1, Some((Duration::from_secs(10), 1))),
            (2.5, Some((Duration::from_millis(400), 3))),
            (0.0, None),
            (-1.0, None),
            (f64::NAN, None),
            (f64::INFINITY, None),
        ];
        for (rps, want) in cases {
            let got = quota(*rps)
                .ok()
                .map(|q| (q.replenish_interval(), q.burst_size().get()));
            assert_eq!(got, *want, "rps {rps}");
        }
    }

    /// The limiter spaces requests to one host and leaves other hosts alone, on a fake clock.
    #[test]
    fn host_limiter_spaces_one_host_only() {
        let clock = FakeRelativeClock::default();
        let limiter: HostLimiter<FakeRelativeClock> = RateLimiter::new(
            quota(1.0).unwrap(),
            DefaultKeyedStateStore::default(),
            clock.clone(),
        );
        let a = "a.example".to_string();
        let b = "b.example".to_string();
        assert!(limiter.check_key(&a).is_ok());
        let wait = limiter
            .check_key(&a)
            .expect_err("second request to the same host must wait")
            .wait_time_from(clock.now());
        assert_eq!(wait, Duration::from_secs(1));
        assert!(limiter.check_key(&b).is_ok(), "another host is not held up");
        clock.advance(Duration::from_millis(999));
        assert!(limiter.check_key(&a).is_err());
        clock.advance(Duration::from_millis(1));
        assert!(limiter.check_key(&a).is_ok());
    }
}
