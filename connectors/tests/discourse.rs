//! Replay tests for `kind = "discourse"`: replies shaped as PLATFORMS.md A7 documents
//! (`/posts.json` `latest_posts`, `/search.json` posts + topics, the 429 body), served by a
//! local wiremock server.

mod common;

use std::time::Duration;

use earshot_connectors::discourse::{Discourse, DiscourseConfig};
use earshot_connectors::{FetchError, MentionKind, SourceState};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "d1sc0urse-api-key-9a8b7c";

fn connector(server: &MockServer, extra: Value) -> Discourse {
    let mut v = json!({"base_url": server.uri()});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Discourse::new(&serde_json::from_value::<DiscourseConfig>(v).unwrap()).unwrap()
}

fn post(id: u64, number: u64, created: &str, cooked: &str) -> Value {
    json!({
        "id": id, "name": "Alice Smith", "username": "alice",
        "avatar_template": "/user_avatar/forum.example/alice/{size}/3_2.png",
        "created_at": created, "cooked": cooked, "post_number": number, "post_type": 1,
        "updated_at": created, "reply_count": 2, "reply_to_post_number": null,
        "quote_count": 0, "incoming_link_count": 0, "reads": 14, "readers_count": 13,
        "score": 2.6, "yours": false, "topic_id": 4242, "topic_slug": "acme-sync-fails",
        "topic_title": "Acme sync fails &amp; loses data", "topic_html_title": "Acme sync fails &amp; loses data",
        "category_id": 5, "display_username": "Alice Smith", "primary_group_name": null,
        "flair_name": null, "version": 1, "can_edit": false, "user_id": 81, "like_count": 7
    })
}

fn latest(posts: Vec<Value>) -> Value {
    json!({"latest_posts": posts})
}

fn cursor(state: &SourceState) -> Value {
    serde_json::from_str(state.cursor.as_deref().unwrap()).unwrap()
}

fn with_cursor(c: Value) -> SourceState {
    SourceState {
        cursor: Some(c.to_string()),
        ..Default::default()
    }
}

#[tokio::test]
async fn latest_posts_are_normalised() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/posts.json"))
        .and(query_param_is_missing("before"))
        .and(header("Api-Key", KEY))
        .and(header("Api-Username", "system"))
        .respond_with(ResponseTemplate::new(200).set_body_json(latest(vec![
            post(
                9002,
                3,
                "2026-05-01T12:30:00.000Z",
                "<p>Same here, <strong>acme</strong> 2.1 broke it.</p>",
            ),
            post(
                9001,
                1,
                "2026-05-01T12:00:00.000Z",
                "<p>Since the update Acme&#39;s sync fails.</p>\n<pre><code>E42</code></pre>",
            ),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let out = connector(&server, json!({"api_key": KEY, "api_username": "system"}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 2);
    let c = &out.mentions[0];
    assert_eq!(c.platform_id, "9002");
    assert_eq!(
        c.url,
        Some(format!("{}/t/acme-sync-fails/4242/3", server.uri()))
    );
    assert_eq!(c.kind, MentionKind::Comment);
    assert_eq!(c.title, None);
    assert_eq!(c.text, "Same here, acme 2.1 broke it.");
    assert_eq!(c.conversation.thread_id.as_deref(), Some("4242"));

    let p = &out.mentions[1];
    assert_eq!(p.platform_id, "9001");
    assert_eq!(p.kind, MentionKind::Post);
    assert_eq!(p.title.as_deref(), Some("Acme sync fails & loses data"));
    assert_eq!(p.text, "Since the update Acme's sync fails.\nE42");
    assert_eq!(p.author.handle.as_deref(), Some("alice"));
    assert_eq!(p.author.display_name.as_deref(), Some("Alice Smith"));
    assert_eq!(p.author.url, Some(format!("{}/u/alice", server.uri())));
    assert_eq!(p.created_at, Some("2026-05-01T12:00:00Z".parse().unwrap()));
    assert_eq!(p.engagement.likes, Some(7));
    assert_eq!(p.engagement.replies, Some(2));
    assert_eq!(p.conversation.thread_id.as_deref(), Some("4242"));

    let cur = cursor(&out.state);
    assert_eq!(cur["last_id"], json!(9002));
    assert_eq!(cur["newest"], json!("2026-05-01T12:30:00Z"));
    assert!(!cur.to_string().contains(KEY));
}

#[tokio::test]
async fn latest_pages_back_to_the_cursor() {
    let server = MockServer::start().await;
    Mock::given(path("/posts.json"))
        .and(query_param_is_missing("before"))
        .respond_with(ResponseTemplate::new(200).set_body_json(latest(vec![
            post(130, 5, "2026-05-01T12:30:00Z", "<p>acme</p>"),
            post(120, 4, "2026-05-01T12:20:00Z", "<p>acme</p>"),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/posts.json"))
        .and(query_param("before", "120"))
        .respond_with(ResponseTemplate::new(200).set_body_json(latest(vec![
            post(110, 3, "2026-05-01T12:10:00Z", "<p>acme</p>"),
            post(100, 2, "2026-05-01T12:00:00Z", "<p>acme</p>"),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/posts.json"))
        .and(query_param("before", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(latest(vec![])))
        .expect(0)
        .mount(&server)
        .await;
    let out = connector(&server, json!({}))
        .fetch(&common::fetcher(), &with_cursor(json!({"last_id": 105})))
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 4);
    assert_eq!(cursor(&out.state)["last_id"], json!(130));
}

#[tokio::test]
async fn latest_paging_is_capped() {
    let server = MockServer::start().await;
    // A server that ignores `before` and a cursor far behind: one page per distinct `before`,
    // never an endless loop.
    Mock::given(path("/posts.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(latest(vec![post(
            500,
            2,
            "2026-05-01T12:00:00Z",
            "acme",
        )])))
        .expect(2)
        .mount(&server)
        .await;
    connector(&server, json!({}))
        .fetch(&common::fetcher(), &with_cursor(json!({"last_id": 1})))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_query_filters_latest_posts_locally_but_the_cursor_sees_all() {
    let server = MockServer::start().await;
    Mock::given(path("/posts.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(latest(vec![
            post(3, 2, "2026-05-01T12:30:00Z", "<p>unrelated chatter</p>"),
            post(2, 2, "2026-05-01T12:20:00Z", "<p>ACME is Down again</p>"),
        ])))
        .mount(&server)
        .await;
    let out = connector(&server, json!({"query": "acme down"}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap();
    let ids: Vec<&str> = out
        .mentions
        .iter()
        .map(|m| m.platform_id.as_str())
        .collect();
    assert_eq!(ids, ["2"]);
    assert_eq!(cursor(&out.state)["last_id"], json!(3));
}

fn search_reply() -> Value {
    json!({
        "posts": [
            {"id": 777, "name": "Bob", "username": "bob", "avatar_template": "/a/{size}.png",
             "created_at": "2026-05-01T09:00:00.000Z", "like_count": 4,
             "blurb": "the <span class=\"search-highlight\">acme</span> importer &amp; exporter hang",
             "post_number": 1, "topic_title_headline": "Acme importer hangs", "topic_id": 55}
        ],
        "topics": [
            {"id": 55, "title": "Acme importer hangs", "fancy_title": "Acme importer hangs",
             "slug": "acme-importer-hangs", "posts_count": 3, "reply_count": 1, "highest_post_number": 3,
             "created_at": "2026-05-01T09:00:00.000Z", "views": 40, "like_count": 4, "category_id": 2}
        ],
        "users": [], "categories": [], "tags": [], "groups": [],
        "grouped_search_result": {"more_posts": null, "more_users": null, "more_categories": null,
            "term": "acme order:latest", "search_log_id": 1, "more_full_page_results": null,
            "can_create_topic": false, "error": null, "post_ids": [777], "user_ids": [],
            "category_ids": [], "tag_ids": [], "group_ids": []}
    })
}

#[tokio::test]
async fn search_mode_joins_topics_and_searches_at_most_once_a_minute() {
    let server = MockServer::start().await;
    Mock::given(path("/search.json"))
        .and(query_param(
            "q",
            "acme importer order:latest after:2026-04-30",
        ))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(search_reply()))
        .expect(1)
        .mount(&server)
        .await;
    let d = connector(&server, json!({"mode": "search", "query": "acme importer"}));
    let http = common::fetcher();
    let state = with_cursor(json!({"last_id": 700, "newest": "2026-05-01T08:00:00Z"}));
    let out = d.fetch(&http, &state).await.unwrap();
    assert_eq!(out.mentions.len(), 1);
    let m = &out.mentions[0];
    assert_eq!(m.platform_id, "777");
    assert_eq!(
        m.url,
        Some(format!("{}/t/acme-importer-hangs/55/1", server.uri()))
    );
    assert_eq!(m.title.as_deref(), Some("Acme importer hangs"));
    assert_eq!(m.text, "the acme importer & exporter hang");
    assert_eq!(m.kind, MentionKind::Post);
    assert_eq!(m.engagement.likes, Some(4));
    assert_eq!(cursor(&out.state)["newest"], json!("2026-05-01T09:00:00Z"));

    // At once again: no search (the minute is checked on a paused clock in the unit tests),
    // nothing returned, the cursor kept.
    let early = d.fetch(&http, &state).await.unwrap();
    assert!(early.mentions.is_empty());
    assert_eq!(early.state, state);
}

#[tokio::test]
async fn a_429_waits_for_retry_after_or_wait_seconds() {
    let body = json!({"errors": ["You’ve performed this action too many times. Please wait 37 seconds before trying again."],
        "error_type": "rate_limit", "extras": {"wait_seconds": 37, "time_left": "37 seconds"}});
    let server = MockServer::start().await;
    Mock::given(path("/posts.json"))
        .respond_with(ResponseTemplate::new(429).set_body_json(body.clone()))
        .mount(&server)
        .await;
    let err = connector(&server, json!({}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        FetchError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(37))
        }
    );

    let server = MockServer::start().await;
    Mock::given(path("/posts.json"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "90")
                .set_body_json(body),
        )
        .mount(&server)
        .await;
    let err = connector(&server, json!({}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        FetchError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(90))
        }
    );
}

#[tokio::test]
async fn error_statuses_are_reported() {
    for status in [401u16, 403, 404, 500] {
        let server = MockServer::start().await;
        Mock::given(path("/posts.json"))
            .respond_with(ResponseTemplate::new(status).set_body_json(
                json!({"errors": ["You are not permitted to view the requested resource."], "error_type": "invalid_access"}),
            ))
            .mount(&server)
            .await;
        let err = connector(&server, json!({}))
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
async fn html_pages_truncation_wrong_shapes_and_empty_pages() {
    let server = MockServer::start().await;
    Mock::given(path("/posts.json"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html")
                .set_body_string(format!(
                    "<!DOCTYPE html><html><head><title>Log in {KEY}</title></head></html>"
                )),
        )
        .mount(&server)
        .await;
    let err = connector(&server, json!({"api_key": KEY, "api_username": "system"}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Unexpected(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(KEY));

    for body in [
        "{\"latest_posts\": [{\"id\": 1",
        "{\"latest_posts\": {}}",
        "{}",
    ] {
        let server = MockServer::start().await;
        Mock::given(path("/posts.json"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/json")
                    .set_body_string(body),
            )
            .mount(&server)
            .await;
        let err = connector(&server, json!({}))
            .fetch(&common::fetcher(), &SourceState::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Parse(_)), "{body}: {err:?}");
    }

    let server = MockServer::start().await;
    Mock::given(path("/posts.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(latest(vec![])))
        .mount(&server)
        .await;
    let state = with_cursor(json!({"last_id": 50, "newest": null}));
    let out = connector(&server, json!({}))
        .fetch(&common::fetcher(), &state)
        .await
        .unwrap();
    assert!(out.mentions.is_empty());
    assert_eq!(cursor(&out.state)["last_id"], json!(50));
}

#[test]
fn validation() {
    let cfg = |extra: Value| {
        let mut v = json!({"base_url": "https://forum.example"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value::<DiscourseConfig>(v)
            .unwrap()
            .validate()
    };
    assert!(cfg(json!({})).is_empty());
    assert!(cfg(json!({"mode": "search", "query": "acme"})).is_empty());
    assert!(cfg(json!({"api_key": "k", "api_username": "system"})).is_empty());
    assert_eq!(cfg(json!({"mode": "search"}))[0].key, "query");
    assert_eq!(cfg(json!({"mode": "search", "query": " "}))[0].key, "query");
    assert_eq!(cfg(json!({"api_key": "k"}))[0].key, "api_username");
    assert_eq!(cfg(json!({"api_username": "system"}))[0].key, "api_key");
    assert_eq!(cfg(json!({"base_url": "forum"}))[0].key, "base_url");
}
