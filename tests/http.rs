//! The acknowledge listener end to end: `serve` on a loopback port, a fake store that records
//! every call, and a raw HTTP/1.1 client, so the tests see exactly the bytes a browser or a
//! chat app's link preview would.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use earshot::ack::AckKey;
use earshot::http::{AckHandler, HttpState, Limits, Ops, serve, serve_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The fixed clock every server in these tests reads.
const NOW: i64 = 1_780_000_000;
const EXP: i64 = NOW + 86_400;

/// A store with mentions 12, 13 and 14; records each call in order.
#[derive(Default)]
struct FakeStore {
    acked: Mutex<BTreeSet<i64>>,
    calls: Mutex<Vec<String>>,
    fail: AtomicBool,
}

const KNOWN: [i64; 3] = [12, 13, 14];

impl FakeStore {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }
}

fn joined(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

impl AckHandler for FakeStore {
    fn describe(&self, ids: &[i64]) -> Vec<String> {
        self.calls
            .lock()
            .expect("lock")
            .push(format!("describe {}", joined(ids)));
        ids.iter()
            .filter(|id| KNOWN.contains(id))
            .map(|id| format!("critical · acme · reddit: '<b>charged</b> twice' #{id}"))
            .collect()
    }

    fn ack(&self, ids: &[i64], by: &str) -> Result<usize, String> {
        self.calls
            .lock()
            .expect("lock")
            .push(format!("ack {} by {by}", joined(ids)));
        if self.fail.load(Ordering::SeqCst) {
            return Err("database is locked (detail-canary)".into());
        }
        let mut acked = self.acked.lock().expect("lock");
        Ok(ids
            .iter()
            .filter(|id| KNOWN.contains(id))
            .filter(|id| acked.insert(**id))
            .count())
    }
}

struct Server {
    addr: SocketAddr,
    store: Arc<FakeStore>,
    key: AckKey,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start() -> Server {
        Server::start_with(None).await
    }

    async fn start_with(limits: Option<Limits>) -> Server {
        Server::start_full(limits, None).await
    }

    async fn start_full(limits: Option<Limits>, ops: Option<Arc<dyn Ops>>) -> Server {
        capture_logs();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let key = AckKey::from_bytes([42; 32]);
        let store = Arc::new(FakeStore::default());
        let state = HttpState {
            key: Arc::new(key.clone()),
            handler: store.clone(),
            now: Arc::new(|| NOW),
            web: None,
            ops,
        };
        let shutdown = CancellationToken::new();
        let task = match limits {
            None => tokio::spawn(serve(listener, state, shutdown.clone())),
            Some(l) => tokio::spawn(serve_with(listener, state, shutdown.clone(), l)),
        };
        Server {
            addr,
            store,
            key,
            shutdown,
            task,
        }
    }

    /// Path and query of a link for `ids`, as the alert carries it.
    fn link(&self, ids: &[i64], exp: i64) -> String {
        let link = self.key.link("http://earshot.test/", ids, exp);
        link.strip_prefix("http://earshot.test")
            .expect("base kept")
            .to_owned()
    }

    async fn send(&self, method: &str, target: &str) -> Reply {
        let raw = format!(
            "{method} {target} HTTP/1.1\r\nHost: earshot.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        exchange(self.addr, raw.as_bytes()).await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("serve did not panic")
            .expect("serve ended cleanly");
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Writes a whole request, reads until the server closes, parses the one reply.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(raw).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    parse(&buf)
}

fn parse(buf: &[u8]) -> Reply {
    let text = String::from_utf8(buf.to_vec()).expect("utf-8 reply");
    let (head, body) = text.split_once("\r\n\r\n").expect("a reply head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header");
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn query_of(path_and_query: &str) -> &str {
    path_and_query.split_once('?').expect("query").1
}

fn sig_of(path_and_query: &str) -> &str {
    path_and_query.rsplit_once("sig=").expect("sig").1
}

#[tokio::test]
async fn get_shows_the_mentions_and_a_button_but_acknowledges_nothing() {
    let server = Server::start().await;
    let link = server.link(&[13, 12], EXP);
    let r = server.send("GET", &link).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.body.contains("2 mentions"), "{}", r.body);
    // The store's text is escaped, never markup.
    assert!(
        r.body.contains(
            "<li>critical · acme · reddit: &#39;&lt;b&gt;charged&lt;/b&gt; twice&#39; #12</li>"
        ),
        "{}",
        r.body
    );
    assert!(!r.body.contains("<b>charged"), "{}", r.body);
    // The button posts the very same signed query back.
    let action = format!(
        "<form method=\"post\" action=\"ack?{}\">",
        query_of(&link).replace('&', "&amp;")
    );
    assert!(r.body.contains(&action), "{}\n{action}", r.body);
    assert!(r.body.contains(">Acknowledge</button>"), "{}", r.body);

    // A link preview may also send HEAD; neither acknowledges.
    let head = server.send("HEAD", &link).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");
    assert_eq!(
        server.store.calls(),
        vec!["describe 12,13", "describe 12,13"]
    );
    assert!(server.store.acked.lock().expect("lock").is_empty());
    server.stop().await;
}

#[tokio::test]
async fn post_acknowledges_once_and_then_says_already_acknowledged() {
    let server = Server::start().await;
    let link = server.link(&[12, 13], EXP);
    let first = server.send("POST", &link).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(
        first.body.contains("Acknowledged 2 mentions."),
        "{}",
        first.body
    );
    let second = server.send("POST", &link).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert!(
        second.body.contains("already acknowledged"),
        "{}",
        second.body
    );
    assert!(!second.body.contains("Acknowledged 2"), "{}", second.body);
    assert_eq!(
        server.store.calls(),
        vec!["ack 12,13 by link", "ack 12,13 by link"]
    );
    assert_eq!(
        *server.store.acked.lock().expect("lock"),
        BTreeSet::from([12, 13])
    );

    // A later link overlapping the first acknowledges only what is new.
    let overlap = server.link(&[13, 14], EXP);
    let third = server.send("POST", &overlap).await;
    assert!(
        third
            .body
            .contains("Acknowledged 1 mention. The others were already acknowledged."),
        "{}",
        third.body
    );
    server.stop().await;
}

#[tokio::test]
async fn a_post_with_a_form_body_is_accepted_and_the_body_ignored() {
    let server = Server::start().await;
    let link = server.link(&[12], EXP);
    let raw = format!(
        "POST {link} HTTP/1.1\r\nHost: earshot.test\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 9\r\nConnection: close\r\n\r\nm=13&x=14"
    );
    let r = exchange(server.addr, raw.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(server.store.calls(), vec!["ack 12 by link"]);
    server.stop().await;
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_unread_and_acknowledges_nothing() {
    let server = Server::start().await;
    let link = server.link(&[12], EXP);
    let declared = format!(
        "POST {link} HTTP/1.1\r\nHost: earshot.test\r\nContent-Length: 20000\r\nConnection: close\r\n\r\n"
    );
    let r = exchange(server.addr, declared.as_bytes()).await;
    assert_eq!(r.status, 413, "{}", r.body);

    // Chunked, so no length is declared: the cap applies while reading.
    let mut chunked = format!(
        "POST {link} HTTP/1.1\r\nHost: earshot.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..5 {
        write!(chunked, "1000\r\n{}\r\n", "a".repeat(4096)).expect("write");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = exchange(server.addr, &chunked).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(
        server.store.calls().is_empty(),
        "{:?}",
        server.store.calls()
    );
    server.stop().await;
}

#[tokio::test]
async fn altered_or_expired_links_are_refused_and_the_store_never_called() {
    let server = Server::start().await;
    let good = server.link(&[12, 13], EXP);
    let sig = sig_of(&good).to_owned();
    let flipped = {
        let mut s = sig.clone();
        let last = if s.ends_with('0') { '1' } else { '0' };
        s.pop();
        s.push(last);
        s
    };
    let cases = [
        ("id added", good.replace("m=12.13", "m=12.13.14")),
        ("id changed", good.replace("m=12.13", "m=12.14")),
        (
            "expiry extended",
            good.replace(&format!("exp={EXP}"), &format!("exp={}", EXP + 1)),
        ),
        ("signature altered", good.replace(&sig, &flipped)),
        ("expired", server.link(&[12, 13], NOW)),
        ("long expired", server.link(&[12, 13], NOW - 86_400)),
        ("extra param", format!("{good}&utm_source=chat")),
        (
            "signature missing",
            good.replace(&format!("&sig={sig}"), ""),
        ),
        ("no query", "/ack".to_owned()),
        ("empty query", "/ack?".to_owned()),
    ];
    for (name, target) in &cases {
        for method in ["GET", "POST"] {
            let r = server.send(method, target).await;
            assert_eq!(r.status, 403, "{name} {method}: {}", r.body);
            assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
            assert!(
                r.body
                    .contains("ask for a new link or run `earshot ack ID`"),
                "{name} {method}: {}",
                r.body
            );
            assert!(!r.body.contains(&sig), "{name} {method}: the sig is echoed");
            assert!(
                !r.body.contains(&flipped),
                "{name} {method}: the sig is echoed"
            );
        }
    }
    let expired = server.send("GET", &server.link(&[12], NOW)).await;
    assert!(expired.body.contains("expired"), "{}", expired.body);
    assert!(
        server.store.calls().is_empty(),
        "{:?}",
        server.store.calls()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_store_failure_is_a_generic_500() {
    let server = Server::start().await;
    server.store.fail.store(true, Ordering::SeqCst);
    let r = server.send("POST", &server.link(&[12], EXP)).await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("earshot ack ID"), "{}", r.body);
    assert!(!r.body.contains("detail-canary"), "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    server.stop().await;
}

#[tokio::test]
async fn a_link_of_only_unknown_mentions_offers_no_button() {
    let server = Server::start().await;
    let r = server.send("GET", &server.link(&[99, 100], EXP)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Nothing to acknowledge"), "{}", r.body);
    assert!(!r.body.contains("<form"), "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = Server::start().await;
    let r = server.send("GET", "/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "ok\n");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("content-security-policy"), None);
    assert_eq!(server.send("HEAD", "/healthz").await.status, 200);
    server.stop().await;
}

/// A daemon whose readiness the test flips.
struct FakeOps {
    ready: AtomicBool,
}

impl Ops for FakeOps {
    fn health(&self) -> (u16, String) {
        (503, r#"{"status":"failing"}"#.to_string())
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn metrics(&self) -> String {
        "# TYPE earshot_ready gauge\nearshot_ready 0\n".to_string()
    }
}

#[tokio::test]
async fn health_readiness_and_metrics_come_from_the_daemon() {
    let ops = Arc::new(FakeOps {
        ready: AtomicBool::new(false),
    });
    let server = Server::start_full(None, Some(ops.clone())).await;
    let h = server.send("GET", "/healthz").await;
    assert_eq!(
        (h.status, h.body.as_str()),
        (503, r#"{"status":"failing"}"#)
    );
    assert_eq!(h.header("content-type"), Some("application/json"));
    let r = server.send("GET", "/readyz").await;
    assert_eq!((r.status, r.body.as_str()), (503, "not ready\n"));
    ops.ready.store(true, Ordering::SeqCst);
    let r = server.send("GET", "/readyz").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ready\n"));
    let m = server.send("GET", "/metrics").await;
    assert_eq!(m.status, 200);
    assert_eq!(m.body, "# TYPE earshot_ready gauge\nearshot_ready 0\n");
    assert_eq!(
        m.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(m.header("cache-control"), Some("no-store"));
    for path in ["/readyz", "/metrics"] {
        let r = server.send("POST", path).await;
        assert_eq!(
            (r.status, r.header("allow")),
            (405, Some("GET, HEAD")),
            "{path}"
        );
    }
    server.stop().await;

    // Without a daemon behind it (tests, tools), only the bare liveness answer is left.
    let bare = Server::start().await;
    for path in ["/readyz", "/metrics"] {
        assert_eq!(bare.send("GET", path).await.status, 404, "{path}");
    }
    bare.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404_and_other_methods_405_with_allow() {
    let server = Server::start().await;
    let link = server.link(&[12], EXP);
    for (method, target, status, allow) in [
        ("GET", "/".to_owned(), 404, None),
        ("GET", "/ack/".to_owned(), 404, None),
        ("GET", "/Ack".to_owned(), 404, None),
        ("POST", "/nope".to_owned(), 404, None),
        ("GET", "/healthz/x".to_owned(), 404, None),
        ("PUT", link.clone(), 405, Some("GET, HEAD, POST")),
        ("DELETE", link.clone(), 405, Some("GET, HEAD, POST")),
        ("POST", "/healthz".to_owned(), 405, Some("GET, HEAD")),
        ("OPTIONS", "/healthz".to_owned(), 405, Some("GET, HEAD")),
    ] {
        let r = server.send(method, &target).await;
        assert_eq!(r.status, status, "{method} {target}");
        assert_eq!(r.header("allow"), allow, "{method} {target}");
    }
    assert!(server.store.calls().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn every_reply_carries_the_protective_headers() {
    let server = Server::start().await;
    let good = server.link(&[12], EXP);
    let bad = good.replace("m=12", "m=13");
    for (method, target, html) in [
        ("GET", good.clone(), true),
        ("POST", good.clone(), true),
        ("GET", bad.clone(), true),
        ("POST", bad, true),
        ("GET", "/healthz".to_owned(), false),
        ("GET", "/missing".to_owned(), false),
        ("PATCH", good, false),
    ] {
        let r = server.send(method, &target).await;
        let what = format!("{method} {target} → {}", r.status);
        assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        if html {
            assert_eq!(
                r.header("content-security-policy"),
                Some("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
                "{what}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn shutdown_ends_serve_and_closes_idle_connections() {
    let server = Server::start().await;
    // A keep-alive connection that has been answered and now sits idle.
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: earshot.test\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);

    let addr = server.addr;
    // A bound, not a wait: serve must return long before it.
    tokio::time::timeout(Duration::from_secs(30), server.stop())
        .await
        .expect("serve ended on shutdown");
    // The idle connection was closed, and nobody listens any more.
    let n = idle.read(&mut buf).await.expect("read after shutdown");
    assert_eq!(n, 0, "the idle connection is closed");
    assert!(TcpStream::connect(addr).await.is_err(), "still listening");
}

/// A client that never finishes its request head is dropped after the header timeout. Runs on
/// paused time: the 10 s pass at once, and the elapsed virtual time proves it was the timeout.
#[tokio::test(start_paused = true)]
async fn a_slow_request_head_is_dropped_after_the_header_timeout() {
    let server = Server::start().await;
    let started = tokio::time::Instant::now();
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: earshot.test\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    assert!(buf.is_empty(), "no reply to half a request: {buf:?}");
    assert!(started.elapsed() >= Duration::from_secs(10));
    server.stop().await;
}

/// At the connection cap, the next client is told at once (503, `Retry-After`) instead of
/// waiting in the backlog behind a connection that holds its slot (paused time: the elapsed
/// virtual time proves it did not wait for the header timeout).
#[tokio::test(start_paused = true)]
async fn connections_over_the_cap_are_shed_at_once_with_503() {
    let limits = Limits {
        max_connections: 1,
        ..Limits::default()
    };
    let server = Server::start_with(Some(limits)).await;
    let started = tokio::time::Instant::now();

    let mut hog = TcpStream::connect(server.addr).await.expect("connect");
    hog.write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .expect("write");
    // Let the server take the hog's connection before the next client arrives.
    tokio::task::yield_now().await;
    let r = exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: earshot.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
    // Once the hog is gone, the slot is free again.
    drop(hog);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let r = exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: earshot.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200);
    server.stop().await;
}

/// One address holds at most `max_per_address` connections: idle sockets from one client
/// cannot take every slot (paused time).
#[tokio::test(start_paused = true)]
async fn one_address_cannot_take_every_slot() {
    let limits = Limits {
        max_per_address: 2,
        ..Limits::default()
    };
    let server = Server::start_with(Some(limits)).await;
    let mut hogs = Vec::new();
    for _ in 0..2 {
        let mut h = TcpStream::connect(server.addr).await.expect("connect");
        h.write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .expect("write");
        hogs.push(h);
        tokio::task::yield_now().await;
    }
    let r = exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: earshot.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 503);
    drop(hogs);
    server.stop().await;
}

/// A client that connects and sends nothing is dropped after the first-byte timeout (2 s),
/// long before the header timeout (paused time).
#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_dropped_after_the_first_byte_timeout() {
    let server = Server::start().await;
    let started = tokio::time::Instant::now();
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    assert!(buf.is_empty(), "{buf:?}");
    let waited = started.elapsed();
    let limits = Limits::default();
    assert!(
        waited >= limits.first_byte_timeout && waited < limits.header_read_timeout,
        "{waited:?}"
    );
    server.stop().await;
}

/// The same exchange without a cap is answered at once: the test above measures the cap, not
/// the clock.
#[tokio::test(start_paused = true)]
async fn without_the_cap_the_second_client_is_answered_at_once() {
    let server = Server::start().await;
    let started = tokio::time::Instant::now();
    let mut hog = TcpStream::connect(server.addr).await.expect("connect");
    hog.write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .expect("write");
    tokio::task::yield_now().await;
    let r = exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: earshot.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(hog);
    server.stop().await;
}

/// Everything any test here logs, through one global subscriber: a scoped one (`set_default`)
/// misses events whose callsites another test thread registered first.
fn captured_logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| Mutex::new(Vec::new()))
}

struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        captured_logs().lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| LogSink)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    });
}

/// What the listener logs names the path and the status, and never the query or signature:
/// checked over the logs of every test in this file that has run so far, this one's included.
#[tokio::test]
async fn logs_never_contain_the_query_or_the_signature() {
    let server = Server::start().await;
    let good = server.link(&[12, 13], EXP);
    let sig = sig_of(&good).to_owned();
    server.send("GET", &good).await;
    server.send("POST", &good).await;
    server.send("GET", &good.replace("m=12.13", "m=12")).await;
    server.store.fail.store(true, Ordering::SeqCst);
    server.send("POST", &server.link(&[14], EXP)).await;
    server.stop().await;

    let logs = String::from_utf8(captured_logs().lock().expect("lock").clone()).expect("utf-8");
    assert!(logs.contains("method=GET path=/ack status=200"), "{logs}");
    assert!(logs.contains("method=POST path=/ack status=200"), "{logs}");
    assert!(logs.contains("method=GET path=/ack status=403"), "{logs}");
    assert!(logs.contains("method=POST path=/ack status=500"), "{logs}");
    assert!(
        logs.contains("detail-canary"),
        "the store's error is logged: {logs}"
    );
    assert!(!logs.contains(&sig), "{logs}");
    for leak in ["sig=", "exp=", "m=12", "?m"] {
        assert!(!logs.contains(leak), "{leak} in {logs}");
    }
}
