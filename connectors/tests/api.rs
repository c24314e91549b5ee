//! `HttpFetcher::api`, the one request path of every JSON connector: GET and POST (form and
//! JSON), error bodies readable, holds on `Retry-After` and `backoff`, and credentials kept out
//! of every error, whether sent as a header, a form field or a JSON string.

mod common;

use earshot_connectors::FetchError;
use earshot_connectors::http::{ApiRequest, Body};
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use common::fetcher;

const CANARY: &str = "api-canary-5d2e8f1a";

#[tokio::test]
async fn posts_forms_and_json_and_reads_the_reply() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string("grant_type=client_credentials&scope=a+b"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"access_token": "t", "expires_in": 60}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/session"))
        .and(header("content-type", "application/json"))
        .and(wiremock::matchers::body_json(
            serde_json::json!({"identifier": "me", "password": "pw"}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"v1\"")
                .set_body_raw(r#"{"accessJwt": "j"}"#, "application/json"),
        )
        .mount(&server)
        .await;
    let http = fetcher();

    let url = format!("{}/token", server.uri());
    let form = [("grant_type", "client_credentials"), ("scope", "a b")];
    let reply = http
        .api(ApiRequest {
            url: &url,
            headers: &[],
            body: Body::Form(&form),
            state: None,
        })
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.into_json().unwrap()["access_token"], "t");

    let url = format!("{}/session", server.uri());
    let login = serde_json::json!({"identifier": "me", "password": "pw"});
    let reply = http
        .api(ApiRequest {
            url: &url,
            headers: &[],
            body: Body::Json(&login),
            state: None,
        })
        .await
        .unwrap();
    assert_eq!(reply.etag.as_deref(), Some("\"v1\""));
    assert_eq!(reply.header("ETag").as_deref(), Some("\"v1\""));
    assert_eq!(reply.into_json().unwrap()["accessJwt"], "j");
}

#[tokio::test]
async fn error_replies_come_back_with_their_json_body() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(ResponseTemplate::new(403).set_body_raw(
            r#"{"error": {"errors": [{"reason": "quotaExceeded"}]}}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/plain"))
        .respond_with(ResponseTemplate::new(500).set_body_string("oops"))
        .mount(&server)
        .await;
    let http = fetcher();
    let url = format!("{}/search", server.uri());
    let reply = http.api(ApiRequest::get(&url)).await.unwrap();
    assert_eq!(reply.status, 403);
    assert!(!reply.is_success());
    assert_eq!(
        reply.json.as_ref().unwrap()["error"]["errors"][0]["reason"],
        "quotaExceeded"
    );
    assert_eq!(
        reply.into_json().unwrap_err(),
        FetchError::Status {
            status: 403,
            retry_after: None
        }
    );
    // A non-JSON error body is simply absent.
    let url = format!("{}/plain", server.uri());
    let reply = http.api(ApiRequest::get(&url)).await.unwrap();
    assert_eq!((reply.status, reply.json), (500, None));
}

#[tokio::test]
async fn retry_after_and_backoff_hold_the_host_for_api_calls() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/limited"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .mount(&server)
        .await;
    let http = fetcher();
    let url = format!("{}/limited", server.uri());
    let reply = http.api(ApiRequest::get(&url)).await.unwrap();
    assert_eq!(reply.status, 429);
    assert_eq!(reply.retry_after.map(|d| d.as_secs()), Some(120));
    let again = http.api(ApiRequest::get(&url)).await.unwrap_err();
    assert!(
        matches!(again, FetchError::Status { status: 429, retry_after: Some(w) } if w.as_secs() > 100),
        "{again:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    let se = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"items": [], "backoff": 30, "quota_remaining": 10}"#,
            "application/json",
        ))
        .mount(&se)
        .await;
    let url = format!(
        "http://localhost:{}/2.3/search/advanced",
        se.address().port()
    );
    let reply = http.api(ApiRequest::get(&url)).await.unwrap();
    assert_eq!(reply.into_json().unwrap()["quota_remaining"], 10);
    let held = http.api(ApiRequest::get(&url)).await.unwrap_err();
    assert!(
        matches!(held, FetchError::Status { status: 429, .. }),
        "{held:?}"
    );
    assert_eq!(se.received_requests().await.unwrap().len(), 1);
}

/// Echoes the whole request into an HTML page that claims to be a login wall.
struct EchoPage;
impl wiremock::Respond for EchoPage {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let headers: Vec<String> = req
            .headers
            .iter()
            .map(|(k, v)| format!("{k}={}", v.to_str().unwrap_or_default()))
            .collect();
        let echo = format!(
            "{} {} {}",
            req.url,
            headers.join(" "),
            String::from_utf8_lossy(&req.body)
        );
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/json")
            .set_body_string(format!("{{\"truncated\": \"{echo}"))
    }
}

#[tokio::test]
async fn credentials_in_headers_forms_and_json_never_reach_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/html"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            format!("<html><title>Login</title><body>{CANARY}</body></html>"),
            "text/html",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/echo"))
        .respond_with(EchoPage)
        .mount(&server)
        .await;
    let http = fetcher();
    let bearer = format!("Bearer {CANARY}");
    let form = [("password", CANARY)];
    let json = serde_json::json!({"password": CANARY});
    for p in ["/html", "/echo"] {
        let url = format!("{}{p}?key={CANARY}", server.uri());
        for body in [Body::Form(&form), Body::Json(&json)] {
            let e = http
                .api(ApiRequest {
                    url: &url,
                    headers: &[("Authorization", &bearer)],
                    body,
                    state: None,
                })
                .await
                .unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(CANARY), "{shown}");
            assert!(
                matches!(e, FetchError::Unexpected(_) | FetchError::Parse(_)),
                "{e:?}"
            );
        }
    }
    // The credentials did go out: the test is not vacuous.
    let sent = server.received_requests().await.unwrap();
    assert!(sent.iter().all(|r| {
        r.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(bearer.as_str())
            && String::from_utf8_lossy(&r.body).contains(CANARY)
    }));
}

#[tokio::test]
async fn a_local_file_reads_as_a_200_and_cannot_be_posted_to() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reply.json");
    std::fs::write(&file, r#"{"hits": [1, 2]}"#).unwrap();
    let http = fetcher();
    let url = file.to_str().unwrap();
    let reply = http.api(ApiRequest::get(url)).await.unwrap();
    assert_eq!(reply.into_json().unwrap()["hits"][1], 2);
    let e = http
        .api(ApiRequest {
            url,
            headers: &[],
            body: Body::Form(&[("a", "b")]),
            state: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Config(_)), "{e:?}");
}

#[tokio::test]
async fn a_403_with_retry_after_is_a_rate_limit_that_holds_the_host() {
    // GitHub's secondary rate limits.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "60")
                .set_body_raw(
                    r#"{"message": "You have exceeded a secondary rate limit."}"#,
                    "application/json",
                ),
        )
        .mount(&server)
        .await;
    let http = fetcher();
    let url = format!("{}/search/issues", server.uri());
    let reply = http.api(ApiRequest::get(&url)).await.unwrap();
    let e = reply.status_error();
    assert!(!e.is_long_lived(), "{e:?}");
    assert_eq!(e.retry_after().map(|d| d.as_secs()), Some(60));
    assert!(http.api(ApiRequest::get(&url)).await.is_err());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    // Without Retry-After a 403 stays a long-lived refusal.
    let plain = FetchError::Status {
        status: 403,
        retry_after: None,
    };
    assert!(plain.is_long_lived());
}
