//! The Stack Exchange connector against a local server replaying replies shaped as the API
//! documents them (`tests/data/stackexchange/`): fields, request parameters, the cursor,
//! paging, `backoff`, the daily quota, wrapper errors, gzip, and the usual failures.

mod common;

use std::io::Write;
use std::time::Duration;

use earshot_connectors::secret::Secret;
use earshot_connectors::stackexchange::{StackExchange, StackExchangeConfig};
use earshot_connectors::{FetchError, MentionKind, SourceState};
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use common::{data, fetcher};

const KEY: &str = "U4DMV*8nvpm3EOpvf69Rxw((";

fn read(name: &str) -> String {
    std::fs::read_to_string(data(&format!("stackexchange/{name}"))).unwrap()
}

fn reply(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json; charset=utf-8")
}

fn connector(server: &MockServer, key: bool, tagged: &[&str]) -> StackExchange {
    StackExchange::new(&StackExchangeConfig {
        query: "acme".to_string(),
        site: "stackoverflow".to_string(),
        tagged: tagged.iter().map(|t| t.to_string()).collect(),
        key: key.then(|| Secret::Plain(KEY.to_string())),
        filter: "withbody".to_string(),
        base_url: Some(format!("{}/2.3", server.uri())),
    })
    .unwrap()
}

fn param(req: &Request, name: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn mount(server: &MockServer, body: String) {
    Mock::given(method("GET"))
        .and(path("/2.3/search/advanced"))
        .respond_with(reply(body))
        .mount(server)
        .await;
}

fn wrapper(items: serde_json::Value, has_more: bool, extra: serde_json::Value) -> String {
    let mut w =
        json!({"items": items, "has_more": has_more, "quota_max": 10000, "quota_remaining": 9000});
    for (k, v) in extra.as_object().unwrap() {
        w[k] = v.clone();
    }
    w.to_string()
}

fn question(id: u64, created: i64) -> serde_json::Value {
    json!({"question_id": id, "creation_date": created, "title": format!("acme {id}"),
           "link": format!("https://stackoverflow.com/questions/{id}"), "body": "<p>acme</p>",
           "score": 0, "answer_count": 0, "owner": {"display_name": "u", "reputation": 1}})
}

#[tokio::test]
async fn questions_are_normalised_with_the_right_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/2.3/search/advanced"))
        .and(query_param("site", "stackoverflow"))
        .and(query_param("q", "acme"))
        .and(query_param("sort", "creation"))
        .and(query_param("order", "desc"))
        .and(query_param("pagesize", "100"))
        .and(query_param("page", "1"))
        .and(query_param("filter", "withbody"))
        .and(query_param("tagged", "python;acme-sdk"))
        .and(query_param("key", KEY))
        .respond_with(reply(read("search_advanced.json")))
        .expect(1)
        .mount(&server)
        .await;
    let before = common::now().timestamp();
    let out = connector(&server, true, &["python", "acme-sdk"])
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 2);
    let notice = out.notice.expect("a quota notice");
    assert!(!notice.degraded);
    assert_eq!(notice.message, "quota 9,850 of 10,000 left today");

    let m = &out.mentions[0];
    assert_eq!(m.platform_id, "q79012345");
    assert_eq!(m.kind, MentionKind::Post);
    assert_eq!(
        m.url.as_deref(),
        Some("https://stackoverflow.com/questions/79012345/how-do-i-set-acmes-retry-policy")
    );
    assert_eq!(
        m.title.as_deref(),
        Some("How do I set acme's \"retry\" policy & timeouts?")
    );
    assert_eq!(
        m.text,
        "I use the acme SDK and calls fail after 3 tries:\nclient = acme.Client(retries=3)\nHow do I raise it? See the docs."
    );
    assert_eq!(m.author.handle.as_deref(), Some("Jörg Müller"));
    assert_eq!(m.author.reach, Some(2481));
    assert_eq!(
        m.author.url.as_deref(),
        Some("https://stackoverflow.com/users/987654/j%c3%b6rg-m%c3%bcller")
    );
    assert_eq!(m.engagement.score, Some(3));
    assert_eq!(m.engagement.replies, Some(2));
    assert_eq!(m.created_at, Some("2026-05-01T12:30:00Z".parse().unwrap()));
    assert_eq!(m.conversation.thread_id.as_deref(), Some("q79012345"));

    let deleted = &out.mentions[1];
    assert_eq!(deleted.platform_id, "q79011111");
    assert_eq!(deleted.author.handle.as_deref(), Some("user21034567"));
    assert_eq!(deleted.author.reach, None);
    assert_eq!(deleted.author.url, None);
    assert_eq!(deleted.engagement.score, Some(-1));
    assert_eq!(deleted.text, "Login with acme loops forever.");

    // The first poll looks back a day.
    let reqs = server.received_requests().await.unwrap();
    let from: i64 = param(&reqs[0], "fromdate").unwrap().parse().unwrap();
    assert!(
        (before - 86_400..=before - 86_400 + 2).contains(&from),
        "{from}"
    );
    assert_eq!(out.state.cursor.as_deref(), Some(r#"{"since":1777638600}"#));
}

#[tokio::test]
async fn the_next_poll_asks_from_the_newest_seen_minus_the_overlap() {
    let server = MockServer::start().await;
    mount(&server, read("search_advanced.json")).await;
    let se = connector(&server, true, &[]);
    let http = fetcher();
    let first = se.fetch(&http, &SourceState::default()).await.unwrap();
    server.verify().await;
    server.reset().await;
    Mock::given(path("/2.3/search/advanced"))
        .and(query_param("fromdate", (1777638600 - 600).to_string()))
        .respond_with(reply(wrapper(json!([]), false, json!({}))))
        .expect(1)
        .mount(&server)
        .await;
    let second = se.fetch(&http, &first.state).await.unwrap();
    assert!(second.mentions.is_empty(), "an empty result is no mentions");
    assert_eq!(second.state.cursor, first.state.cursor, "never moves back");
}

#[tokio::test]
async fn without_a_key_no_key_parameter() {
    let server = MockServer::start().await;
    Mock::given(path("/2.3/search/advanced"))
        .and(query_param_is_missing("key"))
        .and(query_param_is_missing("tagged"))
        .respond_with(reply(wrapper(
            json!([]),
            false,
            json!({"quota_max": 300, "quota_remaining": 298}),
        )))
        .expect(1)
        .mount(&server)
        .await;
    let out = connector(&server, false, &[])
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(
        out.notice.unwrap().message,
        "quota 298 of 300 left today (no key)"
    );
    assert_eq!(out.state.cursor, None);
}

#[tokio::test]
async fn pages_while_has_more_up_to_the_cap() {
    let server = MockServer::start().await;
    Mock::given(path("/2.3/search/advanced"))
        .and(query_param("page", "1"))
        .respond_with(reply(wrapper(json!([question(3, 300)]), true, json!({}))))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/2.3/search/advanced"))
        .and(query_param("page", "2"))
        .respond_with(reply(wrapper(json!([question(2, 200)]), false, json!({}))))
        .expect(1)
        .mount(&server)
        .await;
    let out = connector(&server, true, &[])
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    let ids: Vec<_> = out
        .mentions
        .iter()
        .map(|m| m.platform_id.as_str())
        .collect();
    assert_eq!(ids, ["q3", "q2"]);

    server.verify().await;
    server.reset().await;
    Mock::given(path("/2.3/search/advanced"))
        .respond_with(reply(wrapper(json!([question(3, 300)]), true, json!({}))))
        .expect(5)
        .mount(&server)
        .await;
    connector(&server, true, &[])
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_backoff_holds_the_next_poll_without_a_request() {
    let server = MockServer::start().await;
    mount(
        &server,
        wrapper(json!([question(5, 500)]), true, json!({"backoff": 30})),
    )
    .await;
    let se = connector(&server, true, &[]);
    let http = fetcher();
    let old = SourceState {
        cursor: Some(r#"{"since":100}"#.to_string()),
        ..Default::default()
    };
    let first = se.fetch(&http, &old).await.unwrap();
    assert_eq!(
        first.mentions.len(),
        1,
        "the reply with the backoff is used"
    );
    assert_eq!(
        first.state.cursor.as_deref(),
        Some(r#"{"since":100}"#),
        "paging stopped early: the window is read again next time"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "no page 2"
    );

    let held = se.fetch(&http, &first.state).await.unwrap_err();
    let FetchError::Status {
        status: 429,
        retry_after: Some(wait),
    } = held
    else {
        panic!("{held:?}")
    };
    assert!(
        wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_spent_quota_pauses_until_utc_midnight() {
    let server = MockServer::start().await;
    mount(
        &server,
        wrapper(
            json!([question(7, 700)]),
            true,
            json!({"quota_max": 10000, "quota_remaining": 0}),
        ),
    )
    .await;
    let se = connector(&server, true, &[]);
    let http = fetcher();
    let first = se.fetch(&http, &SourceState::default()).await.unwrap();
    assert_eq!(first.mentions.len(), 1);
    let notice = first.notice.unwrap();
    assert!(notice.degraded);
    assert!(
        notice
            .message
            .starts_with("daily quota of 10,000 used up: paused until "),
        "{notice:?}"
    );
    let cursor: serde_json::Value =
        serde_json::from_str(first.state.cursor.as_deref().unwrap()).unwrap();
    let until = cursor["paused_until"].as_i64().unwrap();
    let now = common::now().timestamp();
    assert!(
        until > now && until <= now + 86_400 && until % 86_400 == 0,
        "{until}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "no page 2"
    );

    // Until then, nothing is sent.
    let paused = se.fetch(&http, &first.state).await.unwrap();
    assert!(paused.notice.unwrap().degraded);
    assert!(paused.mentions.is_empty());
    assert_eq!(paused.state, first.state);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    // After it, polls resume.
    let past = SourceState {
        cursor: Some(format!(r#"{{"since":700,"paused_until":{}}}"#, now - 1)),
        ..Default::default()
    };
    server.verify().await;
    server.reset().await;
    mount(&server, wrapper(json!([]), false, json!({}))).await;
    let resumed = se.fetch(&http, &past).await.unwrap();
    assert!(!resumed.notice.unwrap().degraded);
    assert_eq!(resumed.state.cursor.as_deref(), Some(r#"{"since":700}"#));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

async fn error_of(server: &MockServer, reply: ResponseTemplate) -> FetchError {
    server.verify().await;
    server.reset().await;
    Mock::given(path("/2.3/search/advanced"))
        .respond_with(reply)
        .mount(server)
        .await;
    connector(server, true, &[])
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap_err()
}

fn se_error(id: u16, name: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({
        "error_id": id, "error_message": message, "error_name": name
    }))
}

#[tokio::test]
async fn wrapper_errors_are_named() {
    let server = MockServer::start().await;
    let e = error_of(&server, se_error(400, "bad_parameter", "site is required")).await;
    let msg = e.to_string();
    assert!(matches!(e, FetchError::Config(_)), "{e:?}");
    assert!(msg.contains("400 bad_parameter: site is required"), "{msg}");

    let e = error_of(
        &server,
        se_error(403, "access_denied", &format!("key {KEY} is not valid")),
    )
    .await;
    let msg = e.to_string();
    assert!(
        msg.contains("403 access_denied: key [redacted] is not valid"),
        "{msg}"
    );
    assert!(!msg.contains(KEY), "{msg}");
    assert!(e.is_long_lived());

    let e = error_of(
        &server,
        se_error(
            502,
            "throttle_violation",
            "too many requests from this IP, more requests available in 3600 seconds",
        ),
    )
    .await;
    assert_eq!(
        e,
        FetchError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(3600))
        }
    );

    let e = error_of(
        &server,
        se_error(503, "temporarily_unavailable", "try later"),
    )
    .await;
    assert_eq!(
        e,
        FetchError::Status {
            status: 503,
            retry_after: None
        }
    );
}

#[tokio::test]
async fn http_errors_pages_and_bodies() {
    let server = MockServer::start().await;
    for status in [401, 403, 404, 500] {
        let e = error_of(&server, ResponseTemplate::new(status)).await;
        assert_eq!(
            e,
            FetchError::Status {
                status,
                retry_after: None
            }
        );
    }
    let e = error_of(
        &server,
        ResponseTemplate::new(429).insert_header("retry-after", "120"),
    )
    .await;
    assert_eq!(
        e,
        FetchError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(120))
        }
    );
    let e = error_of(
        &server,
        ResponseTemplate::new(403).set_body_raw(
            "<html><head><title>Just a moment...</title></head><body>cf</body></html>",
            "text/html",
        ),
    )
    .await;
    assert!(matches!(e, FetchError::Unexpected(_)), "{e:?}");
    let e = error_of(&server, reply(r#"{"items": [{"question_id": 1,"#.into())).await;
    assert!(
        matches!(&e, FetchError::Parse(m) if m.contains("stops early")),
        "{e:?}"
    );
    let e = error_of(&server, reply(r#"{"quota_max": 1}"#.into())).await;
    assert!(
        matches!(&e, FetchError::Parse(m) if m.contains("items")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_gzip_reply_is_decompressed() {
    let server = MockServer::start().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(read("search_advanced.json").as_bytes())
        .unwrap();
    let bytes = gz.finish().unwrap();
    Mock::given(path("/2.3/search/advanced"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .set_body_raw(bytes, "application/json; charset=utf-8"),
        )
        .mount(&server)
        .await;
    let out = connector(&server, true, &[])
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 2);
    assert_eq!(out.mentions[0].platform_id, "q79012345");
    let reqs = server.received_requests().await.unwrap();
    let accept = reqs[0]
        .headers
        .get("accept-encoding")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(accept.contains("gzip"), "{accept}");
}
