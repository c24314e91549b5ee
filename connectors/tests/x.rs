//! Replay tests for `kind = "x"`: replies shaped as PLATFORMS.md A8 documents (X API v2
//! recent search with `includes.users`), served by a local wiremock server.

mod common;

use chrono::{DateTime, Utc};
use earshot_connectors::x::{X, XConfig};
use earshot_connectors::{FetchError, MentionKind, SourceState};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAtest-bearer-5d2e";
const SEARCH: &str = "/2/tweets/search/recent";

fn connector(server: &MockServer, budget: u32) -> X {
    let cfg: XConfig = serde_json::from_value(json!({
        "query": "acme",
        "bearer_token": TOKEN,
        "monthly_budget": budget,
        "base_url": format!("{}/2", server.uri()),
    }))
    .unwrap();
    X::new(&cfg).unwrap()
}

fn reply() -> Value {
    json!({
        "data": [
            {
                "id": "1790000000000000001",
                "text": "Acme &amp; friends shipped v2 today &gt; go try it",
                "author_id": "2244994945",
                "created_at": "2026-05-01T12:00:00.000Z",
                "conversation_id": "1790000000000000001",
                "lang": "en",
                "edit_history_tweet_ids": ["1790000000000000001"],
                "public_metrics": {"retweet_count": 4, "reply_count": 2, "like_count": 31, "quote_count": 1, "bookmark_count": 0, "impression_count": 1200}
            },
            {
                "id": "999999999999999999",
                "text": "@acmehq is acme down for anyone else?",
                "author_id": "12",
                "created_at": "2026-05-01T11:00:00.000Z",
                "conversation_id": "999999999999999000",
                "in_reply_to_user_id": "2244994945",
                "referenced_tweets": [{"type": "replied_to", "id": "999999999999999000"}],
                "lang": "und",
                "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 0, "quote_count": 0}
            }
        ],
        "includes": {"users": [
            {"id": "2244994945", "name": "Acme Dev", "username": "acmedev", "public_metrics": {"followers_count": 5123, "following_count": 10, "tweet_count": 900, "listed_count": 3}},
            {"id": "12", "name": "jack", "username": "jack", "public_metrics": {"followers_count": 6500000}}
        ]},
        "meta": {"newest_id": "1790000000000000001", "oldest_id": "999999999999999999", "result_count": 2}
    })
}

/// `n` posts, ids from `first` up.
fn posts(first: u64, n: u64, next_token: Option<&str>) -> Value {
    let data: Vec<Value> = (first..first + n)
        .map(|id| json!({"id": id.to_string(), "text": "acme", "author_id": "1"}))
        .collect();
    let mut meta = json!({"result_count": n});
    if let Some(t) = next_token {
        meta["next_token"] = json!(t);
    }
    json!({"data": data, "includes": {"users": [{"id": "1", "username": "u"}]}, "meta": meta})
}

fn cursor(state: &SourceState) -> Value {
    serde_json::from_str(state.cursor.as_deref().unwrap()).unwrap()
}

fn month() -> String {
    common::now().format("%Y-%m").to_string()
}

fn state(c: Value) -> SourceState {
    SourceState {
        cursor: Some(c.to_string()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_first_poll_is_normalised() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(query_param("query", "acme -is:retweet"))
        .and(query_param("max_results", "100"))
        .and(query_param_is_missing("since_id"))
        .and(query_param(
            "tweet.fields",
            "created_at,public_metrics,author_id,conversation_id,lang,in_reply_to_user_id,referenced_tweets",
        ))
        .and(query_param("expansions", "author_id"))
        .and(query_param("user.fields", "username,name,public_metrics"))
        .respond_with(ResponseTemplate::new(200).set_body_json(reply()))
        .expect(1)
        .mount(&server)
        .await;
    let before = common::now();
    let out = connector(&server, 1000)
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap();
    let req = &server.received_requests().await.unwrap()[0];
    let start: DateTime<Utc> = req
        .url
        .query_pairs()
        .find(|(k, _)| k == "start_time")
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert!((86_399..=86_401).contains(&(before - start).num_seconds()));

    assert_eq!(out.mentions.len(), 2);
    let p = &out.mentions[0];
    assert_eq!(p.platform_id, "1790000000000000001");
    assert_eq!(
        p.url.as_deref(),
        Some("https://x.com/acmedev/status/1790000000000000001")
    );
    assert_eq!(p.text, "Acme & friends shipped v2 today > go try it");
    assert_eq!(p.author.handle.as_deref(), Some("acmedev"));
    assert_eq!(p.author.display_name.as_deref(), Some("Acme Dev"));
    assert_eq!(p.author.reach, Some(5123));
    assert_eq!(p.author.url.as_deref(), Some("https://x.com/acmedev"));
    assert_eq!(p.created_at, Some("2026-05-01T12:00:00Z".parse().unwrap()));
    assert_eq!(p.kind, MentionKind::Post);
    assert_eq!(p.engagement.likes, Some(31));
    assert_eq!(p.engagement.replies, Some(2));
    assert_eq!(p.engagement.reposts, Some(5));
    assert_eq!(p.engagement.score, None);
    assert_eq!(
        p.conversation.thread_id.as_deref(),
        Some("1790000000000000001")
    );
    assert_eq!(p.conversation.parent_id, None);
    assert_eq!(p.lang.as_deref(), Some("en"));

    let c = &out.mentions[1];
    assert_eq!(c.kind, MentionKind::Comment);
    assert_eq!(
        c.conversation.parent_id.as_deref(),
        Some("999999999999999000")
    );
    assert_eq!(
        c.conversation.thread_id.as_deref(),
        Some("999999999999999000")
    );
    assert_eq!(c.author.reach, Some(6_500_000));
    assert_eq!(c.lang, None, "`und` is no language");

    // The 19-digit id is newer than the 18-digit one, though it sorts lower as a string.
    let cur = cursor(&out.state);
    assert_eq!(cur["since_id"], json!("1790000000000000001"));
    assert_eq!(cur["month"], json!(month()));
    assert_eq!(cur["read"], json!(2));
    assert!(!cur.to_string().contains(TOKEN));
    let notice = out.notice.unwrap();
    assert!(!notice.degraded);
    assert_eq!(notice.message, "2 of 1000 posts read this month");
}

#[tokio::test]
async fn the_next_poll_sends_since_id_and_keeps_the_cursor() {
    let server = MockServer::start().await;
    Mock::given(path(SEARCH))
        .and(query_param("since_id", "1790000000000000001"))
        .and(query_param_is_missing("start_time"))
        .and(query_param("max_results", "100"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"meta": {"result_count": 0}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let out = connector(&server, 1000)
        .fetch(
            &common::fetcher(),
            &state(json!({"since_id": "1790000000000000001", "month": month(), "read": 40})),
        )
        .await
        .unwrap();
    assert!(out.mentions.is_empty(), "an empty result");
    let c = cursor(&out.state);
    assert_eq!(c["since_id"], json!("1790000000000000001"));
    assert_eq!(c["read"], json!(40));
    assert_eq!(
        out.notice.unwrap().message,
        "40 of 1000 posts read this month"
    );
}

#[tokio::test]
async fn max_results_is_what_the_budget_leaves() {
    let server = MockServer::start().await;
    Mock::given(path(SEARCH))
        .and(query_param("max_results", "20"))
        .respond_with(ResponseTemplate::new(200).set_body_json(posts(100, 20, None)))
        .expect(1)
        .mount(&server)
        .await;
    let out = connector(&server, 1000)
        .fetch(
            &common::fetcher(),
            &state(json!({"month": month(), "read": 980})),
        )
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 20);
    assert_eq!(cursor(&out.state)["read"], json!(1000));
}

#[tokio::test]
async fn fewer_than_ten_left_makes_no_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(reply()))
        .expect(0)
        .mount(&server)
        .await;
    let out = connector(&server, 1000)
        .fetch(
            &common::fetcher(),
            &state(json!({"since_id": "5", "month": month(), "read": 991})),
        )
        .await
        .unwrap();
    assert!(out.mentions.is_empty());
    let notice = out.notice.unwrap();
    assert!(notice.degraded);
    assert_eq!(
        notice.message,
        "monthly budget of 1000 posts spent; resumes on the 1st"
    );
    assert_eq!(cursor(&out.state)["since_id"], json!("5"));
}

#[tokio::test]
async fn a_new_month_resets_the_count() {
    let server = MockServer::start().await;
    Mock::given(path(SEARCH))
        .and(query_param("max_results", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(posts(100, 3, None)))
        .expect(1)
        .mount(&server)
        .await;
    let out = connector(&server, 1000)
        .fetch(
            &common::fetcher(),
            &state(json!({"since_id": "5", "month": "2020-01", "read": 1000})),
        )
        .await
        .unwrap();
    let c = cursor(&out.state);
    assert_eq!(c["month"], json!(month()));
    assert_eq!(c["read"], json!(3));
    assert_eq!(c["since_id"], json!("102"));
}

#[tokio::test]
async fn pages_follow_next_token_while_the_budget_lasts() {
    let server = MockServer::start().await;
    Mock::given(path(SEARCH))
        .and(query_param_is_missing("next_token"))
        .and(query_param("max_results", "30"))
        .respond_with(ResponseTemplate::new(200).set_body_json(posts(
            200,
            20,
            Some("b26v89c19zqg8o3f"),
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(SEARCH))
        .and(query_param("next_token", "b26v89c19zqg8o3f"))
        .and(query_param("max_results", "10"))
        .respond_with(ResponseTemplate::new(200).set_body_json(posts(100, 10, Some("more"))))
        .expect(1)
        .mount(&server)
        .await;
    let x = connector(&server, 30);
    let out = x
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 30, "no third page: the budget is spent");
    assert_eq!(cursor(&out.state)["read"], json!(30));
    assert_eq!(cursor(&out.state)["since_id"], json!("219"));
    // The count is remembered in memory too: without the cursor, still no request.
    let again = x
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert!(again.notice.unwrap().degraded);
}

#[tokio::test]
async fn pages_per_poll_are_capped() {
    let server = MockServer::start().await;
    Mock::given(path(SEARCH))
        .respond_with(ResponseTemplate::new(200).set_body_json(posts(100, 10, Some("again"))))
        .expect(3)
        .mount(&server)
        .await;
    let out = connector(&server, 100_000)
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 30);
}

#[tokio::test]
async fn error_statuses_are_reported() {
    for status in [401u16, 403, 404, 500] {
        let server = MockServer::start().await;
        Mock::given(path(SEARCH))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({
                "title": "Unauthorized", "type": "about:blank", "status": status, "detail": "Unauthorized"})))
            .mount(&server)
            .await;
        let err = connector(&server, 1000)
            .fetch(&common::fetcher(), &SourceState::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Status { status: s, .. } if s == status),
            "{status}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_429_with_a_reset_waits_for_it() {
    let server = MockServer::start().await;
    let reset = (common::now().timestamp() + 900).to_string();
    Mock::given(path(SEARCH))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-rate-limit-limit", "450")
                .insert_header("x-rate-limit-remaining", "0")
                .insert_header("x-rate-limit-reset", reset.as_str())
                .set_body_json(json!({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let x = connector(&server, 1000);
    let http = common::fetcher();
    let err = x.fetch(&http, &SourceState::default()).await.unwrap_err();
    let FetchError::Status {
        status: 429,
        retry_after: Some(wait),
    } = err
    else {
        panic!("{err:?}")
    };
    assert!((890..=900).contains(&wait.as_secs()), "{wait:?}");
    // The host is held: no second request.
    assert!(x.fetch(&http, &SourceState::default()).await.is_err());
}

#[tokio::test]
async fn an_html_page_and_truncated_json_are_errors() {
    let server = MockServer::start().await;
    Mock::given(path(SEARCH))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><head><title>Access denied</title></head></html>"),
        )
        .mount(&server)
        .await;
    let err = connector(&server, 1000)
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Unexpected(_)), "{err:?}");

    let server = MockServer::start().await;
    Mock::given(path(SEARCH))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string("{\"data\": [{\"id\": \"17"),
        )
        .mount(&server)
        .await;
    let err = connector(&server, 1000)
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Parse(_)), "{err:?}");

    let server = MockServer::start().await;
    Mock::given(path(SEARCH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": "nope"})))
        .mount(&server)
        .await;
    let err = connector(&server, 1000)
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Parse(_)), "{err:?}");
}

#[tokio::test]
async fn an_echoing_error_page_never_shows_the_token() {
    let server = MockServer::start().await;
    Mock::given(path(SEARCH))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("content-type", "text/html")
                .set_body_string(format!("<title>Denied Bearer {TOKEN}</title>")),
        )
        .mount(&server)
        .await;
    let err = connector(&server, 1000)
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains(TOKEN), "{err}");
}

#[test]
fn validation() {
    let cfg = |budget: u32, query: &str| {
        serde_json::from_value::<XConfig>(
            json!({"query": query, "bearer_token": "t", "monthly_budget": budget}),
        )
        .unwrap()
        .validate()
    };
    assert!(cfg(10, "acme").is_empty());
    assert_eq!(cfg(9, "acme")[0].key, "monthly_budget");
    assert_eq!(cfg(0, "acme")[0].key, "monthly_budget");
    assert_eq!(cfg(100, " ")[0].key, "query");
}
