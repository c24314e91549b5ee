//! Rate-limit headers, Stack Exchange `backoff` and JSON replies, against local servers:
//! a spent budget holds the host, an HTML page is a clear long-lived error, and credentials
//! never leak into an error.

mod common;

use std::time::Duration;

use earshot_connectors::http::{Fetched, JsonReply};
use earshot_connectors::{FetchError, SourceState};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::fetcher;

/// Another host name for the same kind of server: blocks and budgets are per host name.
fn on_localhost(server: &MockServer, path: &str) -> String {
    format!("http://localhost:{}{path}", server.address().port())
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

fn held(e: &FetchError) -> Option<Duration> {
    match e {
        FetchError::Status {
            status: 429,
            retry_after: Some(wait),
        } => Some(*wait),
        _ => None,
    }
}

#[tokio::test]
async fn reddit_spent_budget_on_a_200_holds_the_host() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/r/rust/new.json"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-ratelimit-remaining", "0.0")
                .insert_header("x-ratelimit-used", "100")
                .insert_header("x-ratelimit-reset", "120")
                .set_body_raw(
                    r#"{"kind": "Listing", "data": {"children": []}}"#,
                    "application/json",
                ),
        )
        .mount(&server)
        .await;
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("{}", "application/json"))
        .mount(&other)
        .await;
    let http = fetcher();
    let state = SourceState::default();
    let url = format!("{}/r/rust/new.json", server.uri());

    let first = http.get_json(&url, &[], &state).await;
    let Ok(JsonReply::Body { value, .. }) = first else {
        panic!("the reply that spent the budget is still returned: {first:?}");
    };
    assert_eq!(value["kind"], "Listing");

    // Any source on that host waits, through `get` and `get_json`, without a request.
    let again = http.get_json(&url, &[], &state).await.unwrap_err();
    let wait = held(&again).unwrap_or_else(|| panic!("{again:?}"));
    assert!(
        wait > Duration::from_secs(110) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
    let feed = http
        .get(&format!("{}/r/rust/comments.json", server.uri()), &state)
        .await
        .unwrap_err();
    assert!(held(&feed).is_some(), "{feed:?}");
    assert_eq!(
        requests(&server).await,
        1,
        "the server saw exactly one request"
    );

    // Another host is fine.
    let got = http
        .get_json(&on_localhost(&other, "/x"), &[], &state)
        .await;
    assert!(matches!(got, Ok(JsonReply::Body { .. })), "{got:?}");
}

#[tokio::test]
async fn a_budget_that_is_low_but_not_spent_holds_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-RateLimit-Limit", "300")
                .insert_header("X-RateLimit-Remaining", "1")
                .insert_header("X-RateLimit-Reset", "2099-01-01T00:00:00Z")
                .set_body_raw("[]", "application/json"),
        )
        .mount(&server)
        .await;
    let http = fetcher();
    for _ in 0..2 {
        let got = http
            .get_json(&server.uri(), &[], &SourceState::default())
            .await;
        assert!(matches!(got, Ok(JsonReply::Body { .. })), "{got:?}");
    }
    assert_eq!(requests(&server).await, 2);
}

/// Every status is read: an error or a 304 that spends the budget holds the host too, and
/// an error carries the wait even without `Retry-After`.
#[tokio::test]
async fn errors_and_not_modified_replies_are_read_for_limits_too() {
    let reset = (common::now().timestamp() + 600).to_string();
    let cases: Vec<(u16, Vec<(&str, &str)>)> = vec![
        // GitHub's primary limit: 403 with the epoch reset, no Retry-After.
        (
            403,
            vec![
                ("x-ratelimit-limit", "60"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-used", "60"),
                ("x-ratelimit-reset", reset.as_str()),
            ],
        ),
        // X: 429 with its own header family.
        (
            429,
            vec![
                ("x-rate-limit-remaining", "0"),
                ("x-rate-limit-reset", reset.as_str()),
            ],
        ),
        // A 304 from an IETF-draft server.
        (304, vec![("RateLimit", "limit=10, remaining=0, reset=600")]),
    ];
    for (status, headers) in cases {
        let server = MockServer::start().await;
        let mut reply = ResponseTemplate::new(status);
        for (name, value) in &headers {
            reply = reply.insert_header(*name, *value);
        }
        Mock::given(method("GET"))
            .respond_with(reply)
            .mount(&server)
            .await;
        let http = fetcher();
        let first = http.get(&server.uri(), &SourceState::default()).await;
        match (status, &first) {
            (304, Ok(Fetched::NotModified)) => {}
            (
                _,
                Err(FetchError::Status {
                    status: s,
                    retry_after: Some(w),
                }),
            ) if *s == status => {
                assert!(*w > Duration::from_secs(590), "{status}: {w:?}");
            }
            _ => panic!("{status}: {first:?}"),
        }
        let second = http
            .get(&server.uri(), &SourceState::default())
            .await
            .unwrap_err();
        assert!(held(&second).is_some(), "{status}: {second:?}");
        assert_eq!(requests(&server).await, 1, "{status}");
    }
}

#[tokio::test]
async fn stack_exchange_backoff_holds_the_host_and_returns_the_body() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/2.3/search/excerpts"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"items": [], "has_more": false, "backoff": 30, "quota_max": 300, "quota_remaining": 290}"#,
            "application/json; charset=utf-8",
        ))
        .mount(&server)
        .await;
    let http = fetcher();
    let url = format!(
        "{}/2.3/search/excerpts?q=acme&site=stackoverflow",
        server.uri()
    );
    let got = http
        .get_json(&url, &[], &SourceState::default())
        .await
        .expect("the body comes back");
    let JsonReply::Body {
        value, final_url, ..
    } = got
    else {
        panic!("{got:?}");
    };
    assert_eq!(value["quota_remaining"], 290);
    assert_eq!(final_url, url);
    let again = http
        .get_json(&url, &[], &SourceState::default())
        .await
        .unwrap_err();
    let wait = held(&again).unwrap_or_else(|| panic!("{again:?}"));
    assert!(
        wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    assert_eq!(requests(&server).await, 1);
}

const BLOCK_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Blocked</title></head>\
                          <body>whoa there, pardner!</body></html>";

#[tokio::test]
async fn an_html_page_where_json_was_expected_is_unexpected() {
    // (status, content type, body, what get_json gives)
    let cases: &[(u16, &str, &str, &str)] = &[
        (403, "text/html; charset=utf-8", BLOCK_PAGE, "unexpected"),
        (200, "text/html", BLOCK_PAGE, "unexpected"),
        (401, "text/html", "<p>Please log in</p>", "unexpected"),
        // Declared JSON, but a login wall all the same.
        (
            200,
            "application/json",
            "  <html><body>Log in</body></html>",
            "unexpected",
        ),
        // A JSON error under a 403 is the API speaking: keep the status.
        (
            403,
            "application/json",
            r#"{"message": "Forbidden"}"#,
            "status",
        ),
        // A proxy's HTML 502 is transient: keep the status, do not back off long.
        (502, "text/html", BLOCK_PAGE, "status"),
    ];
    for (status, content_type, body, want) in cases {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(*status).set_body_raw(*body, content_type))
            .mount(&server)
            .await;
        let url = format!("{}/search.json?token=SECRET", server.uri());
        let got = fetcher()
            .get_json(&url, &[], &SourceState::default())
            .await
            .unwrap_err();
        match (*want, &got) {
            ("unexpected", FetchError::Unexpected(msg)) => {
                assert!(msg.contains("HTML page where JSON was expected"), "{msg}");
                assert!(got.is_long_lived(), "{got:?}");
                if *body == BLOCK_PAGE {
                    assert!(msg.contains("\"Blocked\""), "{msg}");
                }
            }
            ("status", FetchError::Status { status: s, .. }) if s == status => {}
            _ => panic!("{status} {content_type}: want {want}, got {got:?}"),
        }
        let shown = format!("{got} {got:?}");
        assert!(
            !shown.contains("SECRET") && !shown.contains("127.0.0.1"),
            "{shown}"
        );
    }
    // The plain `get` is unchanged: a 403 is a status.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).set_body_raw(BLOCK_PAGE, "text/html"))
        .mount(&server)
        .await;
    let got = fetcher().get(&server.uri(), &SourceState::default()).await;
    assert!(
        matches!(got, Err(FetchError::Status { status: 403, .. })),
        "{got:?}"
    );
}

#[tokio::test]
async fn truncated_json_is_a_short_parse_error() {
    let server = MockServer::start().await;
    let body = format!(
        r#"{{"data": {{"children": [{{"title": "{}"#,
        "x".repeat(5000)
    );
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    let got = fetcher()
        .get_json(
            &format!("{}/new.json?token=SECRET", server.uri()),
            &[],
            &SourceState::default(),
        )
        .await;
    let Err(FetchError::Parse(msg)) = got else {
        panic!("expected a parse error, got {got:?}");
    };
    assert!(msg.contains("stops early"), "{msg}");
    assert!(msg.len() < 200, "{msg}");
    assert!(!msg.contains("xxxx") && !msg.contains("SECRET") && !msg.contains("127.0.0.1"));
    assert!(!FetchError::Parse(msg).is_long_lived());
}

#[tokio::test]
async fn json_replies_keep_their_validators() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"v1\"")
                .set_body_raw(r#"{"hits": []}"#, "application/json"),
        )
        .mount(&server)
        .await;
    let http = fetcher();
    let got = http
        .get_json(&server.uri(), &[], &SourceState::default())
        .await
        .unwrap();
    let JsonReply::Body { etag, .. } = got else {
        panic!("{got:?}");
    };
    assert_eq!(etag.as_deref(), Some("\"v1\""));
    let state = SourceState {
        etag,
        ..SourceState::default()
    };
    let got = http.get_json(&server.uri(), &[], &state).await.unwrap();
    assert_eq!(got, JsonReply::NotModified);
}

/// The credential reaches the server, and no error, whatever the failure, carries it.
#[tokio::test]
async fn a_credential_never_appears_in_an_error() {
    const CANARY: &str = "CANARY-5b1e0d9a";
    let bearer = format!("bearer {CANARY}");
    let echo_page = format!("<html><head><title>Denied {CANARY}</title></head></html>");
    let replies = vec![
        ResponseTemplate::new(403).set_body_raw(echo_page.clone(), "text/html"),
        ResponseTemplate::new(200).set_body_raw(echo_page, "text/html"),
        ResponseTemplate::new(200)
            .set_body_raw(format!("{{\"token\": \"{CANARY}"), "application/json"),
        ResponseTemplate::new(401)
            .set_body_raw(format!("{{\"error\": \"{CANARY}\"}}"), "application/json"),
        ResponseTemplate::new(429).insert_header("retry-after", "5"),
    ];
    for reply in replies {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(header("authorization", bearer.as_str()))
            .respond_with(reply)
            .mount(&server)
            .await;
        let http = fetcher();
        let got = http
            .get_json(
                &server.uri(),
                &[
                    ("Authorization", &bearer),
                    ("User-Agent", "earshot-test/1.0"),
                ],
                &SourceState::default(),
            )
            .await;
        let err = got.expect_err("every reply here is a failure");
        assert!(
            !matches!(err, FetchError::Status { status: 404, .. }),
            "header not sent"
        );
        let shown = format!("{err} {err:?} {http:?}");
        assert!(!shown.contains(CANARY), "{shown}");
    }
    // A value HTTP cannot carry is refused before any request, without echoing it.
    let got = fetcher()
        .get_json(
            "http://127.0.0.1:9/",
            &[("Authorization", &format!("{bearer}\r\nX-Evil: 1"))],
            &SourceState::default(),
        )
        .await;
    let err = got.unwrap_err();
    assert!(matches!(err, FetchError::Config(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(CANARY));
}
