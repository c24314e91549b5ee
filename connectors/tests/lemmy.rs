//! Replay tests for `kind = "lemmy"`: replies shaped as PLATFORMS.md A7 documents (v3
//! `posts`/`comments`, v4 combined `search` list), served by a local wiremock server.

mod common;

use earshot_connectors::lemmy::{Lemmy, LemmyConfig};
use earshot_connectors::{FetchError, MentionKind, SourceState};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.test-jwt.c0ffee";

fn connector(server: &MockServer, extra: Value) -> Lemmy {
    let mut v = json!({"query": "acme", "base_url": server.uri()});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Lemmy::new(&serde_json::from_value::<LemmyConfig>(v).unwrap()).unwrap()
}

fn v3_post(id: u32, published: &str) -> Value {
    json!({
        "post": {
            "id": id, "name": format!("Acme release {id}"),
            "url": "https://acme.example/blog/2",
            "body": "We **love** the new [Acme](https://acme.example) CLI.",
            "creator_id": 77, "community_id": 5, "removed": false, "locked": false,
            "published": published, "deleted": false, "nsfw": false,
            "ap_id": format!("https://lemmy.world/post/{id}"), "local": true, "language_id": 37
        },
        "creator": {"id": 77, "name": "alice", "display_name": "Alice A.",
            "actor_id": "https://lemmy.world/u/alice", "local": true, "published": "2023-01-01T00:00:00.000000Z"},
        "community": {"id": 5, "name": "technology", "title": "Technology",
            "actor_id": "https://lemmy.world/c/technology"},
        "creator_banned_from_community": false,
        "counts": {"post_id": id, "comments": 12, "score": 48, "upvotes": 50, "downvotes": 2,
            "published": published, "newest_comment_time": published},
        "subscribed": "NotSubscribed", "saved": false, "read": false, "unread_comments": 12
    })
}

fn v3_comment(id: u32, path: &str, published: &str) -> Value {
    json!({
        "comment": {"id": id, "creator_id": 91, "post_id": 1001,
            "content": "Is **acme** down for anyone else?\n\n> quoted", "removed": false,
            "published": published, "deleted": false,
            "ap_id": format!("https://programming.dev/comment/{id}"), "local": false,
            "path": path, "distinguished": false, "language_id": 0},
        "creator": {"id": 91, "name": "bob", "actor_id": "https://programming.dev/u/bob", "local": false},
        "post": {"id": 1001, "name": "Acme release 1001", "ap_id": "https://lemmy.world/post/1001",
            "published": "2026-05-01T10:00:00.000000Z"},
        "community": {"id": 5, "name": "technology", "actor_id": "https://lemmy.world/c/technology"},
        "counts": {"comment_id": id, "score": 3, "upvotes": 3, "downvotes": 0, "child_count": 1,
            "published": published},
        "subscribed": "NotSubscribed", "saved": false
    })
}

fn v3_reply(posts: Vec<Value>, comments: Vec<Value>) -> Value {
    json!({"type_": "All", "comments": comments, "posts": posts, "communities": [], "users": []})
}

fn site() -> Value {
    json!({"site_view": {"site": {"name": "Lemmy"}}, "version": "0.19.5"})
}

async fn mount_v3_site(server: &MockServer) {
    Mock::given(path("/api/v4/site"))
        .respond_with(ResponseTemplate::new(404).set_body_string("404: Not Found"))
        .mount(server)
        .await;
    Mock::given(path("/api/v3/site"))
        .respond_with(ResponseTemplate::new(200).set_body_json(site()))
        .mount(server)
        .await;
}

fn cursor(state: &SourceState) -> Value {
    serde_json::from_str(state.cursor.as_deref().unwrap()).unwrap()
}

#[tokio::test]
async fn v3_posts_and_comments_are_normalised() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v4/site"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/site"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(site()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/search"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(query_param("q", "acme"))
        .and(query_param("type_", "All"))
        .and(query_param("sort", "New"))
        .and(query_param("listing_type", "All"))
        .and(query_param("limit", "50"))
        .and(query_param("page", "1"))
        .and(query_param("community_name", "technology@lemmy.world"))
        .respond_with(ResponseTemplate::new(200).set_body_json(v3_reply(
            vec![v3_post(1001, "2026-05-01T10:00:00.000000Z")],
            vec![
                v3_comment(501, "0.500.501", "2026-05-01T11:00:00.000000Z"),
                v3_comment(499, "0.499", "2026-05-01T10:30:00.000000Z"),
            ],
        )))
        .expect(2)
        .mount(&server)
        .await;
    let lemmy = connector(
        &server,
        json!({"token": TOKEN, "community": "technology@lemmy.world"}),
    );
    let http = common::fetcher();
    let out = lemmy.fetch(&http, &SourceState::default()).await.unwrap();
    assert_eq!(out.mentions.len(), 3);

    let p = &out.mentions[0];
    assert_eq!(p.platform_id, "https://lemmy.world/post/1001");
    assert_eq!(p.url.as_deref(), Some("https://lemmy.world/post/1001"));
    assert_eq!(p.title.as_deref(), Some("Acme release 1001"));
    assert_eq!(
        p.text,
        "We love the new Acme CLI.\nhttps://acme.example/blog/2"
    );
    assert_eq!(p.author.handle.as_deref(), Some("alice@lemmy.world"));
    assert_eq!(p.author.display_name.as_deref(), Some("Alice A."));
    assert_eq!(p.author.url.as_deref(), Some("https://lemmy.world/u/alice"));
    assert_eq!(p.created_at, Some("2026-05-01T10:00:00Z".parse().unwrap()));
    assert_eq!(p.kind, MentionKind::Post);
    assert_eq!(p.engagement.score, Some(48));
    assert_eq!(p.engagement.replies, Some(12));
    assert_eq!(
        p.conversation.thread_id.as_deref(),
        Some("https://lemmy.world/post/1001")
    );

    let c = &out.mentions[1];
    assert_eq!(c.platform_id, "https://programming.dev/comment/501");
    assert_eq!(c.kind, MentionKind::Comment);
    assert_eq!(c.text, "Is acme down for anyone else?\nquoted");
    assert_eq!(c.author.handle.as_deref(), Some("bob@programming.dev"));
    assert_eq!(c.engagement.score, Some(3));
    assert_eq!(c.engagement.replies, Some(1));
    assert_eq!(
        c.conversation.thread_id.as_deref(),
        Some("https://lemmy.world/post/1001")
    );
    assert_eq!(
        c.conversation.parent_id,
        Some(format!("{}/comment/500", server.uri()))
    );
    let top = &out.mentions[2];
    assert_eq!(
        top.conversation.parent_id.as_deref(),
        Some("https://lemmy.world/post/1001"),
        "a top-level comment answers the post"
    );
    assert_eq!(cursor(&out.state)["newest"], json!("2026-05-01T11:00:00Z"));

    // The API version is asked once: the second poll goes straight to search.
    lemmy.fetch(&http, &out.state).await.unwrap();
}

#[tokio::test]
async fn v4_is_detected_and_its_combined_list_read() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v4/site"))
        .respond_with(ResponseTemplate::new(200).set_body_json(site()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/site"))
        .respond_with(ResponseTemplate::new(200).set_body_json(site()))
        .expect(0)
        .mount(&server)
        .await;
    let post = json!({
        "type_": "Post",
        "post": {"id": 7, "name": "Acme on Lemmy 1.0", "body": "acme *rocks*",
            "published_at": "ignored", "published": "2026-05-02T09:00:00Z",
            "ap_id": "https://lemmy.ml/post/7", "score": 9, "comments": 2},
        "creator": {"id": 1, "name": "carol", "ap_id": "https://lemmy.ml/u/carol"},
        "community": {"id": 2, "name": "tech", "ap_id": "https://lemmy.ml/c/tech"}
    });
    let comment = json!({
        "type_": "Comment",
        "comment": {"id": 8, "content": "acme!", "published": "2026-05-02T10:00:00Z",
            "ap_id": "https://lemmy.ml/comment/8", "path": "0.8", "score": 4, "child_count": 0},
        "post": {"id": 7, "name": "Acme on Lemmy 1.0", "ap_id": "https://lemmy.ml/post/7"},
        "creator": {"id": 3, "name": "dave", "ap_id": "https://lemmy.ml/u/dave"},
        "community": {"id": 2, "name": "tech"}
    });
    let community = json!({"type_": "Community", "community": {"id": 2, "name": "acme"}});
    Mock::given(path("/api/v4/search"))
        .and(query_param("type_", "Posts"))
        .and(query_param_is_missing("page"))
        .and(query_param_is_missing("page_cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "search": [comment, post, community], "next_page": "Pc0ffee", "prev_page": null})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v4/search"))
        .and(query_param("page_cursor", "Pc0ffee"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"search": []})))
        .expect(1)
        .mount(&server)
        .await;
    // Everything on page 1 is newer than the cursor: the next page is read.
    let state = SourceState {
        cursor: Some(json!({"newest": "2026-05-01T00:00:00Z"}).to_string()),
        ..Default::default()
    };
    let out = connector(&server, json!({"search": "posts"}))
        .fetch(&common::fetcher(), &state)
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 2, "the community is skipped");
    let c = &out.mentions[0];
    assert_eq!(c.platform_id, "https://lemmy.ml/comment/8");
    assert_eq!(c.kind, MentionKind::Comment);
    assert_eq!(c.engagement.score, Some(4));
    assert_eq!(c.author.handle.as_deref(), Some("dave@lemmy.ml"));
    assert_eq!(
        c.conversation.parent_id.as_deref(),
        Some("https://lemmy.ml/post/7")
    );
    let p = &out.mentions[1];
    assert_eq!(p.title.as_deref(), Some("Acme on Lemmy 1.0"));
    assert_eq!(p.text, "acme rocks");
    assert_eq!(p.engagement.score, Some(9));
    assert_eq!(p.engagement.replies, Some(2));
    assert_eq!(cursor(&out.state)["newest"], json!("2026-05-02T10:00:00Z"));
}

#[tokio::test]
async fn a_configured_api_skips_detection() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(v3_reply(vec![], vec![])))
        .expect(1)
        .mount(&server)
        .await;
    let out = connector(&server, json!({"api": "v3"}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert!(out.mentions.is_empty(), "an empty result");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn paging_stops_at_the_cursor_window() {
    let server = MockServer::start().await;
    mount_v3_site(&server).await;
    // Page 1 is full and all newer than the cursor: page 2 is read; it reaches items older
    // than `newest - 10 min`, so page 3 is not.
    let page1: Vec<Value> = (0..50)
        .map(|i| v3_post(2000 + i, &format!("2026-05-01T12:{:02}:00Z", 59 - i)))
        .collect();
    let page2: Vec<Value> = (0..50)
        .map(|i| v3_post(1000 + i, &format!("2026-05-01T11:{:02}:00Z", 59 - i)))
        .collect();
    Mock::given(path("/api/v3/search"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(v3_reply(page1, vec![])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/search"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(v3_reply(page2, vec![])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/search"))
        .and(query_param("page", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(v3_reply(vec![], vec![])))
        .expect(0)
        .mount(&server)
        .await;
    let state = SourceState {
        cursor: Some(json!({"newest": "2026-05-01T11:30:00Z"}).to_string()),
        ..Default::default()
    };
    let out = connector(&server, json!({}))
        .fetch(&common::fetcher(), &state)
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 100);
    assert_eq!(cursor(&out.state)["newest"], json!("2026-05-01T12:59:00Z"));
}

#[tokio::test]
async fn the_cursor_never_moves_back() {
    let server = MockServer::start().await;
    mount_v3_site(&server).await;
    Mock::given(path("/api/v3/search"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(v3_reply(vec![v3_post(1, "2026-04-01T00:00:00Z")], vec![])),
        )
        .mount(&server)
        .await;
    let state = SourceState {
        cursor: Some(json!({"newest": "2026-05-01T11:30:00Z"}).to_string()),
        ..Default::default()
    };
    let out = connector(&server, json!({}))
        .fetch(&common::fetcher(), &state)
        .await
        .unwrap();
    assert_eq!(cursor(&out.state)["newest"], json!("2026-05-01T11:30:00Z"));
}

#[tokio::test]
async fn rate_limit_errors_wait() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/search"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": "rate_limit_error"})),
        )
        .mount(&server)
        .await;
    let err = connector(&server, json!({"api": "v3"}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        FetchError::Status {
            status: 429,
            retry_after: Some(std::time::Duration::from_secs(60))
        }
    );
    // During detection too: a rate-limited v4/site is not read as "no v4".
    let server = MockServer::start().await;
    Mock::given(path("/api/v4/site"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": "rate_limit_error"})),
        )
        .mount(&server)
        .await;
    let err = connector(&server, json!({}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 429, .. }),
        "{err:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_429_with_retry_after_keeps_its_wait() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/search"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .mount(&server)
        .await;
    let err = connector(&server, json!({"api": "v3"}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        FetchError::Status {
            status: 429,
            retry_after: Some(std::time::Duration::from_secs(120))
        }
    );
}

#[tokio::test]
async fn other_errors_are_reported() {
    for status in [401u16, 403, 404, 500] {
        let server = MockServer::start().await;
        Mock::given(path("/api/v3/search"))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(json!({"error": "not_logged_in"})),
            )
            .mount(&server)
            .await;
        let err = connector(&server, json!({"api": "v3"}))
            .fetch(&common::fetcher(), &SourceState::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Status { status: s, .. } if s == status),
            "{status}: {err:?}"
        );
    }
    // Neither API known: the v3 answer is the error.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let err = connector(&server, json!({}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_html_page_and_bad_json_are_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/search"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><title>Just a moment...</title></html>"),
        )
        .mount(&server)
        .await;
    let err = connector(&server, json!({"api": "v3"}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Unexpected(_)), "{err:?}");

    for body in [
        "{\"posts\": [{\"post\": {\"ap_id\": \"https://",
        "{\"posts\": 3}",
    ] {
        let server = MockServer::start().await;
        Mock::given(path("/api/v3/search"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/json")
                    .set_body_string(body),
            )
            .mount(&server)
            .await;
        let err = connector(&server, json!({"api": "v3"}))
            .fetch(&common::fetcher(), &SourceState::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Parse(_)), "{body}: {err:?}");
    }
}

#[test]
fn validation() {
    let cfg = |extra: Value| {
        let mut v = json!({"query": "acme", "base_url": "https://lemmy.world"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value::<LemmyConfig>(v).unwrap().validate()
    };
    assert!(cfg(json!({})).is_empty());
    assert!(cfg(json!({"community": "rust@programming.dev"})).is_empty());
    assert_eq!(
        cfg(json!({"community": "!rust@programming.dev"}))[0].key,
        "community"
    );
    assert_eq!(cfg(json!({"query": ""}))[0].key, "query");
    assert_eq!(cfg(json!({"base_url": "lemmy.world"}))[0].key, "base_url");
}
