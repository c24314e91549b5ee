//! earshot's own HTTP listener: the page behind an alert's "Acknowledge" link, the digest
//! page, and the health and metrics endpoints.
//!
//! Routes:
//! - `GET /ack?m=..&exp=..&sig=..` shows what the link acknowledges and a button. It changes
//!   nothing: chat apps fetch every link they see for a preview, and a preview must not
//!   acknowledge an alert nobody read.
//! - `POST /ack?…` (the button) checks the same signed query and acknowledges. The body is
//!   ignored: everything that matters is signed in the query ([`crate::ack`]).
//! - `GET /healthz` answers 200 while the process lives, with each part's state as JSON
//!   ([`crate::health`]); 503 when the store cannot be read. `GET /readyz` answers 200 once
//!   the sources are scheduled, 503 while stopping. `GET /metrics` is the Prometheus text
//!   ([`crate::metrics`]). All three need an [`Ops`]; without one `/healthz` is a bare `ok`.
//! - `GET /digest?since=24h&watch=acme` (or `from=..&to=..`, RFC 3339; `watch` repeats, all
//!   watches when left out) is the digest as a web page with server-drawn charts
//!   ([`crate::web`]); `GET /digest.json` the same digest as [`crate::digest::render_json`].
//! - `GET /mentions.csv` lists mentions as CSV with the filters of `earshot mentions`: `watch`,
//!   `source`, `since` or `from`/`to`, `min_urgency`, `sentiment`, `limit`.
//!
//! The digest routes answer only when the state carries a [`WebState`]; a query they cannot
//! use gets a 400 (404 for a watch or source that is not configured) whose plain-text body says
//! what to write instead. They read the store on a blocking thread, as the ack page does.
//!
//! Everything else is 404, and a known path with another method 405. Every reply forbids
//! caching, framing, sniffing and referrers (a `Referer` would carry the signed link to
//! whatever the page linked to); HTML replies carry a CSP that allows no script at all.
//!
//! The shape follows mini-redis' `server::run`: the caller passes the listener and the shutdown
//! signal, so tests bind port 0 and production binds `[http] listen`. Limits keep a hostile
//! client cheap: a header-read timeout, a cap on connections in flight, a 16 KiB body cap.
//! Logs carry method, path and status, never the query: the query is the credential.
//!
//! To add a route: one arm in `route`, its handler returning a finished reply, and a row in
//! `tests/http.rs`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ack::{AckKey, AckLinkError};
pub use crate::web::WebState;

/// What the listener needs from the store, kept this small so tests can fake it.
pub trait AckHandler: Send + Sync + 'static {
    /// One line per known mention for the confirmation page (e.g. "critical · acme · reddit:
    /// 'charged twice…'"); unknown ids are left out.
    fn describe(&self, ids: &[i64]) -> Vec<String>;
    /// Acknowledges them; returns how many were not acknowledged before. `by` names who did it
    /// ("link").
    fn ack(&self, ids: &[i64], by: &str) -> Result<usize, String>;
}

/// What `/healthz`, `/readyz` and `/metrics` read; the runtime implements it ([`crate::health`],
/// [`crate::metrics`]). Called on a blocking thread, since the health reads the store.
pub trait Ops: Send + Sync + 'static {
    /// The status code and the JSON body of `/healthz`.
    fn health(&self) -> (u16, String);
    /// Whether `/readyz` answers 200.
    fn ready(&self) -> bool;
    /// The Prometheus text of `/metrics`.
    fn metrics(&self) -> String;
}

/// What the listener serves with; the caller builds it once at start.
pub struct HttpState {
    /// Checks the links; the same key the alerts' links were made with.
    pub key: std::sync::Arc<crate::ack::AckKey>,
    /// The store behind the pages; called on a blocking thread, since it may wait on SQLite.
    pub handler: std::sync::Arc<dyn AckHandler>,
    /// Unix seconds now (tests pass a fixed clock).
    pub now: std::sync::Arc<dyn Fn() -> i64 + Send + Sync>,
    /// The store and names behind `/digest`, `/digest.json` and `/mentions.csv`; those routes
    /// are 404 without it.
    pub web: Option<std::sync::Arc<WebState>>,
    /// The daemon behind `/healthz` (which answers a bare `ok` without it), `/readyz` and
    /// `/metrics` (404 without it).
    pub ops: Option<std::sync::Arc<dyn Ops>>,
}

/// The bounds that keep one client from tying the listener up. [`serve`] uses the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; the next ones are answered 503 at once and closed.
    pub max_connections: usize,
    /// Connections served at once to one address (loopback and a proxy count as one).
    pub max_per_address: usize,
    /// A connection whose first byte has not arrived by then is closed.
    pub first_byte_timeout: Duration,
    /// A client that has not sent a whole request head by then is dropped (also ends idle
    /// keep-alive connections, since hyper rearms it before each request).
    pub header_read_timeout: Duration,
    /// Request bodies are read up to this many bytes; a larger one gets 413.
    pub max_body_bytes: usize,
    /// After shutdown, how long a connection with a request in flight may take to finish.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            max_per_address: 32,
            first_byte_timeout: Duration::from_secs(2),
            header_read_timeout: Duration::from_secs(10),
            max_body_bytes: 16 * 1024,
            drain: Duration::from_secs(5),
        }
    }
}

/// hyper's read buffer, which bounds a request head. A link with a thousand ids is ~12 KiB.
const MAX_BUF_BYTES: usize = 32 * 1024;

/// Who the store records as having acknowledged through a link.
const ACK_BY: &str = "link";

/// Serves until `shutdown`; connections in flight finish (bounded wait).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: HttpState,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    serve_with(listener, state, shutdown, Limits::default()).await
}

/// [`serve`] with explicit [`Limits`].
pub async fn serve_with(
    listener: TcpListener,
    state: HttpState,
    shutdown: CancellationToken,
    limits: Limits,
) -> std::io::Result<()> {
    let shared = Arc::new(Shared { state, limits });
    // Connections in flight, so shutdown can wait for them; the semaphore caps how many.
    let tracker = TaskTracker::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_peer: Arc<std::sync::Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP listener ready");
    }
    loop {
        // Accept first, always: a client that finds the listener full gets a 503 at once
        // instead of waiting in the backlog behind idle sockets.
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) if is_per_connection(&e) => {
                tracing::debug!(error = %e, "HTTP accept failed");
                continue;
            }
            Err(e) => {
                // Out of file descriptors and the like: retrying at once would spin.
                tracing::warn!(error = %e, "HTTP accept failed; pausing before the next");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let slot = PeerSlot::take(&per_peer, peer.ip(), limits.max_per_address);
        let permit = permits.clone().try_acquire_owned().ok();
        let (Some(slot), Some(permit)) = (slot, permit) else {
            tracing::debug!(%peer, "HTTP listener full; answered 503");
            tracker.spawn(shed(stream));
            continue;
        };
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            // A client that opens a connection and says nothing is dropped soon.
            let mut first = [0u8; 1];
            match tokio::time::timeout(limits.first_byte_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => serve_connection(stream, peer, shared, shutdown).await,
                _ => tracing::debug!(%peer, "HTTP client sent nothing; dropped"),
            }
            drop(permit);
            drop(slot);
        });
    }
    // Stop taking connections before waiting for the open ones to drain.
    drop(listener);
    tracker.close();
    tracker.wait().await;
    tracing::info!("HTTP listener stopped");
    Ok(())
}

/// One connection counted against its address's cap; given back when dropped.
struct PeerSlot {
    map: Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl PeerSlot {
    fn take(
        map: &Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>,
        ip: IpAddr,
        cap: usize,
    ) -> Option<PeerSlot> {
        let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= cap.max(1) {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            map: map.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Tells a client the listener is full, and closes.
async fn shed(mut stream: TcpStream) {
    use tokio::io::AsyncWriteExt;
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
        Content-Length: 0\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n";
    use tokio::io::AsyncReadExt;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(BUSY).await;
        let _ = stream.shutdown().await;
        // Read what the client sent before closing: closing with unread data would reset the
        // connection, and the client might lose the 503 before reading it.
        let mut sink = [0u8; 1024];
        let mut read = 0;
        while read < 16 * 1024 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}

/// Errors that concern one connection only (the client went away during the handshake).
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    )
}

/// Everything a request handler needs, shared by all connections.
struct Shared {
    state: HttpState,
    limits: Limits,
}

/// Serves one connection until it closes, or until shutdown plus the drain time.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    // Replies are small and written at once; waiting to coalesce them only adds latency.
    let _ = stream.set_nodelay(true);
    let limits = shared.limits;
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_BUF_BYTES);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = shutdown.cancelled() => {
            // Finish the request in flight (if any), then close; idle connections close now.
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(limits.drain, conn.as_mut()).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::debug!(%peer, "HTTP connection still busy after the drain time; dropped");
                    return;
                }
            }
        }
    };
    if let Err(e) = result {
        // hyper's errors name what went wrong with the protocol, never the request line.
        tracing::debug!(%peer, error = %e, "HTTP connection failed");
    }
}

/// Answers one request and logs it by method, path and status: the query is the credential.
async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let reply = route(shared, req).await;
    let status = reply.status().as_u16();
    if path == "/ack" {
        tracing::info!(%method, %path, status, "HTTP request");
    } else {
        tracing::debug!(%method, %path, status, "HTTP request");
    }
    reply
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.uri().path(), req.method()) {
        ("/healthz", &Method::GET | &Method::HEAD) => health(shared).await,
        ("/readyz", &Method::GET | &Method::HEAD) => ready(shared),
        ("/metrics", &Method::GET | &Method::HEAD) => metrics(shared).await,
        ("/healthz" | "/readyz" | "/metrics", _) => not_allowed("GET, HEAD"),
        ("/ack", &Method::GET | &Method::HEAD) => confirm(shared, req.uri().query()).await,
        ("/ack", &Method::POST) => acknowledge(shared, req).await,
        ("/ack", _) => not_allowed("GET, HEAD, POST"),
        ("/digest", &Method::GET | &Method::HEAD) => {
            digest(shared, req.uri().query(), Format::Page).await
        }
        ("/digest.json", &Method::GET | &Method::HEAD) => {
            digest(shared, req.uri().query(), Format::Json).await
        }
        ("/mentions.csv", &Method::GET | &Method::HEAD) => {
            mentions_csv(shared, req.uri().query()).await
        }
        ("/digest" | "/digest.json" | "/mentions.csv", _) => not_allowed("GET, HEAD"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// `/healthz`: alive, and each part's state as JSON (see [`crate::health::Health`]).
async fn health(shared: &Shared) -> Response<Full<Bytes>> {
    match shared.state.ops.clone() {
        Some(ops) => from_ops(ops, "application/json", |o| o.health()).await,
        None => text(StatusCode::OK, "ok\n"),
    }
}

/// `/readyz`: 200 once the store is open and the sources are scheduled, 503 while stopping.
fn ready(shared: &Shared) -> Response<Full<Bytes>> {
    match &shared.state.ops {
        Some(ops) if ops.ready() => text(StatusCode::OK, "ready\n"),
        Some(_) => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        None => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// `/metrics`: the Prometheus text format.
async fn metrics(shared: &Shared) -> Response<Full<Bytes>> {
    match shared.state.ops.clone() {
        Some(ops) => {
            let prometheus = "text/plain; version=0.0.4; charset=utf-8";
            from_ops(ops, prometheus, |o| (200, o.metrics())).await
        }
        None => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// The status and body `read` gets from the daemon, read on a blocking thread (it may wait on
/// the store).
async fn from_ops(
    ops: Arc<dyn Ops>,
    content_type: &'static str,
    read: fn(&dyn Ops) -> (u16, String),
) -> Response<Full<Bytes>> {
    match tokio::task::spawn_blocking(move || read(&*ops)).await {
        Ok((status, body)) => reply(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            content_type,
            body,
        ),
        Err(e) => {
            tracing::error!(error = %e, "Reading the daemon's health or metrics failed");
            failed()
        }
    }
}

/// The GET page: what the link covers and a button. Acknowledges nothing.
async fn confirm(shared: &Shared, query: Option<&str>) -> Response<Full<Bytes>> {
    let query = query.unwrap_or("");
    let ids = match verify(shared, query) {
        Ok(ids) => ids,
        Err(e) => return refused(&e),
    };
    let handler = shared.state.handler.clone();
    let lines = match tokio::task::spawn_blocking(move || handler.describe(&ids)).await {
        Ok(lines) => lines,
        Err(e) => {
            tracing::error!(error = %e, "Describing the mentions of an acknowledge link failed");
            return failed();
        }
    };
    if lines.is_empty() {
        return page(
            StatusCode::OK,
            "Nothing to acknowledge",
            "<p>None of the mentions in this link are known any more.</p>",
        );
    }
    let items: String = lines
        .iter()
        .map(|l| format!("<li>{}</li>", escape_html(l)))
        .collect();
    // Relative action: the form posts back to this very path and query, also behind a reverse
    // proxy that serves earshot under a prefix.
    let body = format!(
        "<p>This link acknowledges {n} mention{s}:</p><ul>{items}</ul>\
         <form method=\"post\" action=\"ack?{q}\"><button type=\"submit\">Acknowledge</button></form>",
        n = lines.len(),
        s = plural(lines.len()),
        q = escape_html(query),
    );
    page(StatusCode::OK, "Acknowledge?", &body)
}

/// The POST: acknowledges what the signed query names.
async fn acknowledge(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let query = req.uri().query().unwrap_or("").to_owned();
    let ids = match verify(shared, &query) {
        Ok(ids) => ids,
        Err(e) => return refused(&e),
    };
    if let Err(reply) = drain_body(req, shared.limits).await {
        return reply;
    }
    let handler = shared.state.handler.clone();
    let asked = ids.len();
    let done = tokio::task::spawn_blocking(move || handler.ack(&ids, ACK_BY)).await;
    match done {
        Ok(Ok(0)) => page(
            StatusCode::OK,
            "Already acknowledged",
            "<p>These mentions were already acknowledged: nothing changed.</p>",
        ),
        Ok(Ok(n)) => {
            let rest = if n < asked {
                " The others were already acknowledged."
            } else {
                ""
            };
            page(
                StatusCode::OK,
                "Acknowledged",
                &format!("<p>Acknowledged {n} mention{}.{rest}</p>", plural(n)),
            )
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "Acknowledging through a link failed");
            failed()
        }
        Err(e) => {
            tracing::error!(error = %e, "Acknowledging through a link failed");
            failed()
        }
    }
}

/// How `/digest` answers: the page or the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Page,
    Json,
}

/// `GET /digest` and `/digest.json`.
async fn digest(shared: &Shared, query: Option<&str>, format: Format) -> Response<Full<Bytes>> {
    let Some(web) = shared.state.web.clone() else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let query = query.unwrap_or("");
    let req = match crate::web::digest_request(query, &web.watches, (shared.state.now)()) {
        Ok(r) => r,
        Err(e) => return bad_query(&e),
    };
    // The form shows the period asked for; a `from`/`to` period is not one of its choices.
    let since = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, v)| (k == "since" || k == "from") && !v.is_empty())
        .map_or(Some("24h".to_string()), |(k, v)| {
            (k == "since").then(|| v.into_owned())
        });
    let done = tokio::task::spawn_blocking(move || {
        let d = crate::digest::compute(&web.store, &req)?;
        Ok::<_, crate::store::StoreError>(match format {
            Format::Json => crate::digest::render_json(&d),
            Format::Page => {
                let days = crate::web::daily(&web.store, &req.watches, req.to)?;
                let title = format!(
                    "earshot digest: {}",
                    crate::digest::watches_label(&req.watches)
                );
                crate::web::render_page(
                    &d,
                    &days,
                    &crate::web::PageContext {
                        title: &title,
                        known_watches: &web.watches,
                        since: since.as_deref(),
                    },
                )
            }
        })
    })
    .await;
    match (done, format) {
        (Ok(Ok(body)), Format::Json) => reply(StatusCode::OK, "application/json", body),
        (Ok(Ok(body)), Format::Page) => html(StatusCode::OK, body),
        (Ok(Err(e)), _) => read_failed(&e),
        (Err(e), _) => read_failed(&e),
    }
}

/// `GET /mentions.csv`.
async fn mentions_csv(shared: &Shared, query: Option<&str>) -> Response<Full<Bytes>> {
    let Some(web) = shared.state.web.clone() else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let filter = match crate::web::mention_filter(
        query.unwrap_or(""),
        &web.watches,
        &web.sources,
        (shared.state.now)(),
    ) {
        Ok(f) => f,
        Err(e) => return bad_query(&e),
    };
    let done = tokio::task::spawn_blocking(move || web.store.mentions(&filter)).await;
    match done {
        Ok(Ok(rows)) => {
            let mut r = reply(
                StatusCode::OK,
                "text/csv; charset=utf-8; header=present",
                crate::web::mentions_csv(&rows),
            );
            r.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"earshot-mentions.csv\""),
            );
            r
        }
        Ok(Err(e)) => read_failed(&e),
        Err(e) => read_failed(&e),
    }
}

/// A query the digest routes cannot use: the message says what to write instead.
fn bad_query(e: &crate::web::QueryError) -> Response<Full<Bytes>> {
    let status = match e {
        crate::web::QueryError::Unknown { .. } => StatusCode::NOT_FOUND,
        crate::web::QueryError::Invalid(_) => StatusCode::BAD_REQUEST,
    };
    reply(status, "text/plain; charset=utf-8", format!("{e}\n"))
}

/// The store could not be read: the cause goes to the log.
fn read_failed(e: &dyn std::fmt::Display) -> Response<Full<Bytes>> {
    tracing::error!(error = %e, "Reading the store for a digest page failed");
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "earshot could not read its database; its log has the details\n",
    )
}

fn verify(shared: &Shared, query: &str) -> Result<Vec<i64>, AckLinkError> {
    let key: &AckKey = &shared.state.key;
    key.verify(query, (shared.state.now)())
}

/// Reads and drops a request body, refusing one over the cap or one that trickles in: the form
/// sends none, so anything large is not our form.
async fn drain_body(req: Request<Incoming>, limits: Limits) -> Result<(), Response<Full<Bytes>>> {
    let too_large = || text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let body = Limited::new(req.into_body(), limits.max_body_bytes);
    match tokio::time::timeout(limits.header_read_timeout, body.collect()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "Reading a request body failed");
            Err(text(StatusCode::BAD_REQUEST, "bad request body\n"))
        }
        Err(_) => Err(text(StatusCode::REQUEST_TIMEOUT, "request body too slow\n")),
    }
}

fn refused(e: &AckLinkError) -> Response<Full<Bytes>> {
    page(
        StatusCode::FORBIDDEN,
        "Link not valid",
        &format!("<p>{}</p>", escape_html(&e.to_string())),
    )
}

/// The 500 page: the cause goes to the log, not to whoever holds the link.
fn failed() -> Response<Full<Bytes>> {
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "<p>earshot could not record this. Try again in a moment, or run \
         <code>earshot ack ID</code>; earshot's log has the details.</p>",
    )
}

fn not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The policy for HTML replies: no script, no images, no frames; inline style only; forms
/// post only back here.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'";

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;\
                     padding:0 1rem;color:#222}li{margin:.3rem 0}\
                     button{font:inherit;padding:.5rem 1.5rem;cursor:pointer}";

/// A whole HTML reply. `title` is ours; `body_html` must already be escaped.
fn page(status: StatusCode, title: &str, body_html: &str) -> Response<Full<Bytes>> {
    let title = escape_html(title);
    let doc = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{title} · earshot</title><style>{STYLE}</style></head>\
         <body><h1>{title}</h1>{body_html}</body></html>\n"
    );
    html(status, doc)
}

/// An HTML reply: the protective headers, and the CSP that allows no script.
fn html(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = reply(status, "text/html; charset=utf-8", body);
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    r
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    reply(status, "text/plain; charset=utf-8", body.to_owned())
}

/// Every reply goes through here, so every reply carries the same protective headers.
fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The page is one person's answer to one link: keep it out of every cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The URL is the credential: never send it on as a Referer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // No clickjacking of the Acknowledge button.
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Escapes text for an HTML element or a double- or single-quoted attribute.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_html_table() {
        for (input, want) in [
            ("", ""),
            ("plain · text…", "plain · text…"),
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("a & b", "a &amp; b"),
            ("&amp;", "&amp;amp;"),
            ("\"quoted\" 'single'", "&quot;quoted&quot; &#39;single&#39;"),
            ("m=1.2&exp=3&sig=ab", "m=1.2&amp;exp=3&amp;sig=ab"),
        ] {
            assert_eq!(escape_html(input), want, "{input}");
        }
    }

    #[test]
    fn plural_table() {
        assert_eq!(plural(0), "s");
        assert_eq!(plural(1), "");
        assert_eq!(plural(2), "s");
    }

    #[test]
    fn every_reply_has_the_protective_headers() {
        for r in [
            text(StatusCode::NOT_FOUND, "x"),
            not_allowed("GET"),
            page(StatusCode::OK, "t", "b"),
            refused(&AckLinkError::Malformed),
            failed(),
        ] {
            let h = r.headers();
            assert_eq!(h["cache-control"], "no-store");
            assert_eq!(h["referrer-policy"], "no-referrer");
            assert_eq!(h["x-frame-options"], "DENY");
            assert_eq!(h["x-content-type-options"], "nosniff");
        }
        let p = page(StatusCode::OK, "<t>", "b");
        assert_eq!(
            p.headers()["content-security-policy"],
            CONTENT_SECURITY_POLICY
        );
    }
}
