//! The HTTP helper against local servers: well-behaved (wiremock) and hostile (raw TCP).

mod common;

use std::io::Write;
use std::time::Duration;

use earshot_connectors::http::Fetched;
use earshot_connectors::{FetchError, SourceState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::{fetcher, fetcher_with, header_is, rss};

/// Safety net for tests against hostile servers: a bug makes the test fail, not hang CI.
const HANG_GUARD: Duration = Duration::from_secs(10);

#[tokio::test]
async fn sends_user_agent_and_returns_body_and_validators() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed"))
        .and(header(
            "user-agent",
            "earshot-test/1.0 (+https://example.com/earshot)",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"v1\"")
                .insert_header("last-modified", "Fri, 01 May 2026 12:00:00 GMT")
                .set_body_raw(rss(1), "application/rss+xml"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let got = fetcher()
        .get(
            &format!("{}/feed?k=v", server.uri()),
            &SourceState::default(),
        )
        .await
        .expect("fetch succeeds");
    let Fetched::Body {
        bytes,
        content_type,
        etag,
        last_modified,
        final_url,
    } = got
    else {
        panic!("expected a body, got {got:?}");
    };
    assert_eq!(bytes, rss(1).into_bytes());
    assert_eq!(content_type.as_deref(), Some("application/rss+xml"));
    assert_eq!(etag.as_deref(), Some("\"v1\""));
    assert_eq!(
        last_modified.as_deref(),
        Some("Fri, 01 May 2026 12:00:00 GMT")
    );
    assert_eq!(final_url, format!("{}/feed?k=v", server.uri()));
}

#[tokio::test]
async fn not_modified_is_reported_without_a_body() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("if-none-match", "\"v1\""))
        .and(header_is(
            "if-modified-since",
            "Fri, 01 May 2026 12:00:00 GMT",
        ))
        .respond_with(ResponseTemplate::new(304))
        .expect(1)
        .mount(&server)
        .await;
    let state = SourceState {
        etag: Some("\"v1\"".to_string()),
        last_modified: Some("Fri, 01 May 2026 12:00:00 GMT".to_string()),
        cursor: None,
    };
    let got = fetcher()
        .get(&format!("{}/feed", server.uri()), &state)
        .await
        .expect("304 is not an error");
    assert_eq!(got, Fetched::NotModified);
}

#[tokio::test]
async fn no_conditional_headers_without_validators() {
    let server = MockServer::start().await;
    Mock::given(header_exists("if-none-match"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(header_exists("if-modified-since"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x"))
        .mount(&server)
        .await;
    let got = fetcher().get(&server.uri(), &SourceState::default()).await;
    assert!(matches!(got, Ok(Fetched::Body { .. })), "{got:?}");
}

#[tokio::test]
async fn error_statuses_carry_retry_after_on_403_429_and_503_only() {
    let in_an_hour = (common::now() + chrono::Duration::seconds(3600))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    // (status, Retry-After header, expected wait range in seconds)
    type Case<'a> = (u16, Option<&'a str>, Option<(u64, u64)>);
    let cases: Vec<Case> = vec![
        (429, Some("120"), Some((120, 120))),
        (429, Some(in_an_hour.as_str()), Some((3500, 3600))),
        (429, None, None),
        (429, Some("soon"), None),
        (503, Some("30"), Some((30, 30))),
        (503, Some(in_an_hour.as_str()), Some((3500, 3600))),
        (500, Some("30"), None),
        (404, None, None),
        (403, Some("30"), Some((29, 30))), // GitHub secondary rate limits
    ];
    for (status, retry_after, want) in cases {
        let server = MockServer::start().await;
        let mut reply = ResponseTemplate::new(status).set_body_string("nope");
        if let Some(v) = retry_after {
            reply = reply.insert_header("retry-after", v);
        }
        Mock::given(method("GET"))
            .respond_with(reply)
            .mount(&server)
            .await;
        let got = fetcher()
            .get(&server.uri(), &SourceState::default())
            .await
            .expect_err("error status is an error");
        let FetchError::Status {
            status: got_status,
            retry_after: got_wait,
        } = got
        else {
            panic!("{status}: expected Status, got {got:?}");
        };
        assert_eq!(got_status, status);
        let got_secs = got_wait.map(|d| d.as_secs());
        match want {
            None => assert_eq!(got_secs, None, "{status} {retry_after:?}"),
            Some((lo, hi)) => {
                let s = got_secs.unwrap_or_else(|| panic!("{status} {retry_after:?}: no wait"));
                assert!((lo..=hi).contains(&s), "{status} {retry_after:?}: {s}s");
            }
        }
    }
}

#[tokio::test]
async fn gzip_bomb_is_capped_after_decompression() {
    // 4 MiB of zeros compresses to a few KiB: the wire size is far below the cap, the
    // inflated size far above it.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 4 * 1024 * 1024]).unwrap();
    let compressed = gz.finish().unwrap();
    assert!(compressed.len() < 64 * 1024);

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .set_body_raw(compressed, "application/rss+xml"),
        )
        .mount(&server)
        .await;
    let got = fetcher_with(|o| o.max_body = 256 * 1024)
        .get(&server.uri(), &SourceState::default())
        .await;
    assert_eq!(got, Err(FetchError::TooLarge { limit: 256 * 1024 }));
}

#[tokio::test]
async fn gzip_body_within_the_cap_is_inflated() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(rss(3).as_bytes()).unwrap();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .set_body_raw(gz.finish().unwrap(), "application/rss+xml"),
        )
        .mount(&server)
        .await;
    let got = fetcher().get(&server.uri(), &SourceState::default()).await;
    match got {
        Ok(Fetched::Body { bytes, .. }) => assert_eq!(bytes, rss(3).into_bytes()),
        other => panic!("expected the inflated body, got {other:?}"),
    }
}

#[tokio::test]
async fn declared_length_over_the_cap_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 2000]))
        .mount(&server)
        .await;
    let got = fetcher_with(|o| o.max_body = 1000)
        .get(&server.uri(), &SourceState::default())
        .await;
    assert_eq!(got, Err(FetchError::TooLarge { limit: 1000 }));
}

/// Reads a request head, so the client is not reset before it sees our reply.
async fn read_request(sock: &mut tokio::net::TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test]
async fn endless_chunked_body_stops_at_the_cap() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_request(&mut sock).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        if sock.write_all(head.as_bytes()).await.is_err() {
            return 0u64;
        }
        let mut chunk = b"2000\r\n".to_vec();
        chunk.extend_from_slice(&[b'a'; 0x2000]);
        chunk.extend_from_slice(b"\r\n");
        // Never ends on its own: only the client hanging up stops it.
        let mut sent = 0u64;
        while sock.write_all(&chunk).await.is_ok() {
            sent += 0x2000;
        }
        sent
    });

    let got = tokio::time::timeout(
        HANG_GUARD,
        fetcher_with(|o| o.max_body = 100_000)
            .get(&format!("http://{addr}/feed"), &SourceState::default()),
    )
    .await
    .expect("the fetch must end on its own");
    assert_eq!(got, Err(FetchError::TooLarge { limit: 100_000 }));
    let sent = tokio::time::timeout(HANG_GUARD, server)
        .await
        .expect("the server sees the client hang up")
        .unwrap();
    assert!(
        sent >= 100_000,
        "the cap was reached by reading, sent {sent}"
    );
}

#[tokio::test]
async fn silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        // Accepts, then holds the connection open without a word.
        let (sock, _) = listener.accept().await.unwrap();
        std::future::pending::<()>().await;
        drop(sock);
    });
    let total = Duration::from_millis(200);
    let got = tokio::time::timeout(
        HANG_GUARD,
        fetcher_with(|o| o.total_timeout = total)
            .get(&format!("http://{addr}/"), &SourceState::default()),
    )
    .await
    .expect("the timeout fires");
    assert_eq!(got, Err(FetchError::Timeout(total)));
    server.abort();
}

#[tokio::test]
async fn server_that_stalls_mid_body_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_request(&mut sock).await;
        let _ = sock
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n<rss")
            .await;
        std::future::pending::<()>().await;
    });
    let total = Duration::from_millis(200);
    let got = tokio::time::timeout(
        HANG_GUARD,
        fetcher_with(|o| o.total_timeout = total)
            .get(&format!("http://{addr}/"), &SourceState::default()),
    )
    .await
    .expect("the timeout fires");
    assert_eq!(got, Err(FetchError::Timeout(total)));
    server.abort();
}

#[tokio::test]
async fn redirect_loop_is_a_network_error() {
    let server = MockServer::start().await;
    Mock::given(path("/a"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/b?token=SECRET"))
        .mount(&server)
        .await;
    Mock::given(path("/b"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/a?token=SECRET"))
        .mount(&server)
        .await;
    let got = fetcher()
        .get(
            &format!("{}/a?token=SECRET", server.uri()),
            &SourceState::default(),
        )
        .await;
    match got {
        Err(FetchError::Network(msg)) => {
            assert!(msg.contains("redirect"), "{msg}");
            assert!(
                !msg.contains("SECRET") && !msg.contains("127.0.0.1"),
                "{msg}"
            );
        }
        other => panic!("expected a network error, got {other:?}"),
    }
    // max_redirects is 3: the first request plus three redirects, then we give up.
    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 4);
}

#[tokio::test]
async fn network_errors_do_not_leak_the_url() {
    // A port nobody listens on: bind, note it, close.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let got = fetcher()
        .get(
            &format!("http://127.0.0.1:{port}/feed?token=SECRET"),
            &SourceState::default(),
        )
        .await;
    match got {
        Err(FetchError::Network(msg)) => {
            assert!(!msg.is_empty());
            assert!(!msg.contains("SECRET"), "{msg}");
            let shown = FetchError::Network(msg).to_string();
            assert!(!shown.contains("SECRET"), "{shown}");
        }
        other => panic!("expected a network error, got {other:?}"),
    }
}

#[tokio::test]
async fn requests_to_one_host_are_spaced() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    // One request per 1000 s: the second request to the same host cannot go out during
    // this test, whatever the machine's speed.
    let http = fetcher_with(|o| o.per_host_rps = 0.001);
    let url = format!("{}/feed", server.uri());
    http.get(&url, &SourceState::default())
        .await
        .expect("the first request goes out at once");

    let second = tokio::time::timeout(
        Duration::from_millis(200),
        http.get(&url, &SourceState::default()),
    )
    .await;
    assert!(
        second.is_err(),
        "the second request must wait for the limiter"
    );
    // A clone shares the budget: polls from other tasks are spaced too.
    let third = tokio::time::timeout(
        Duration::from_millis(50),
        http.clone().get(&url, &SourceState::default()),
    )
    .await;
    assert!(third.is_err(), "clones share the per-host budget");
    let seen = server.received_requests().await.unwrap_or_default().len();
    assert_eq!(seen, 1, "only the first request reached the server");

    // Another host name (same server) has its own budget.
    let other = format!("http://localhost:{}/feed", server.address().port());
    let got = tokio::time::timeout(HANG_GUARD, http.get(&other, &SourceState::default()))
        .await
        .expect("another host is not held up");
    assert!(matches!(got, Ok(Fetched::Body { .. })), "{got:?}");
    // Both waits were counted for the metrics, against the host that imposed them; the
    // other host went out at once.
    let waits = http.rate_waits().snapshot();
    assert_eq!(
        waits,
        vec![(
            "127.0.0.1".to_string(),
            earshot_connectors::HostWaits { spaced: 2, held: 0 }
        )]
    );
}

#[tokio::test]
async fn local_files_by_path_and_file_url() {
    let path = common::data("google_alerts_atom.xml");
    let want = std::fs::read(&path).unwrap();
    let file_url = format!("file://{}", path.display());
    for source in [path.display().to_string(), file_url] {
        match fetcher().get(&source, &SourceState::default()).await {
            Ok(Fetched::Body {
                bytes,
                etag,
                final_url,
                ..
            }) => {
                assert_eq!(bytes, want, "{source}");
                assert_eq!(etag, None);
                assert!(final_url.starts_with("file:///"), "{final_url}");
            }
            other => panic!("{source}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn local_file_errors_say_what_to_do() {
    let missing = common::data("no-such-feed.xml");
    match fetcher()
        .get(&missing.display().to_string(), &SourceState::default())
        .await
    {
        Err(FetchError::Io(msg)) => {
            assert!(msg.contains("no-such-feed.xml"), "{msg}");
            assert!(msg.contains("check"), "{msg}");
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
    let too_big = fetcher_with(|o| o.max_body = 100)
        .get(
            &common::data("google_alerts_atom.xml").display().to_string(),
            &SourceState::default(),
        )
        .await;
    assert_eq!(too_big, Err(FetchError::TooLarge { limit: 100 }));
}

#[tokio::test]
async fn bad_sources_are_config_errors() {
    for source in ["ftp://example.com/feed", "", "http://"] {
        let got = fetcher().get(source, &SourceState::default()).await;
        assert!(
            matches!(got, Err(FetchError::Config(_))),
            "{source:?}: {got:?}"
        );
    }
    let bad = new_with_rps(0.0);
    assert!(matches!(bad, Err(FetchError::Config(_))), "{bad:?}");
}

fn new_with_rps(rps: f64) -> Result<earshot_connectors::HttpFetcher, FetchError> {
    let mut opts = common::test_options();
    opts.per_host_rps = rps;
    earshot_connectors::HttpFetcher::new(opts)
}

#[tokio::test]
async fn retry_after_holds_every_source_on_the_host() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/a.xml"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/b.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_string(rss(1)))
        .mount(&server)
        .await;
    let f = fetcher();
    let state = SourceState::default();
    let a = f
        .get(&format!("{}/a.xml", server.uri()), &state)
        .await
        .unwrap_err();
    assert_eq!(a.retry_after(), Some(Duration::from_secs(3600)));
    // Another feed on the same host is not asked at all while the host said to wait.
    let b = f
        .get(&format!("{}/b.xml", server.uri()), &state)
        .await
        .unwrap_err();
    assert!(matches!(b, FetchError::Status { status: 429, .. }), "{b:?}");
    assert!(b.retry_after().unwrap() > Duration::from_secs(3500));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    // A clone shares the block; another host is not affected.
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(rss(1)))
        .mount(&other)
        .await;
    let g = f.clone();
    assert!(
        g.get(&format!("{}/b.xml", server.uri()), &state)
            .await
            .is_err()
    );
    let other_url = format!("{}/b.xml", other.uri()).replace("127.0.0.1", "localhost");
    assert!(g.get(&other_url, &state).await.is_ok());
    // The two requests that were not sent count as held; a fetcher given the same counters
    // (what a reload builds) counts on.
    let held = |f: &earshot_connectors::HttpFetcher| {
        f.rate_waits()
            .snapshot()
            .into_iter()
            .map(|(h, w)| (h, w.held, w.spaced))
            .collect::<Vec<_>>()
    };
    assert_eq!(held(&f), vec![("127.0.0.1".to_string(), 2, 0)]);
    let h = fetcher().with_rate_waits(f.rate_waits());
    for p in ["a.xml", "b.xml"] {
        h.get(&format!("{}/{p}", server.uri()), &state)
            .await
            .unwrap_err();
    }
    // Its own blocks: a.xml went out (and was told to wait again), b.xml was held.
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert_eq!(held(&f), vec![("127.0.0.1".to_string(), 3, 0)]);
}
