//! The Hacker News (Algolia) connector against a local server: recorded 2014 replies, a
//! 2026-shaped reply, the query sent, the cursor, the 1,000-hit window split and errors.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use earshot_connectors::hackernews::{HackerNews, HackerNewsConfig, MAX_REQUESTS};
use earshot_connectors::{FetchError, MentionKind, SourceState};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use common::{data, fetcher};

fn hn(server: &MockServer, query: &str) -> HackerNews {
    HackerNews::new(&HackerNewsConfig {
        query: query.to_string(),
        tags: vec!["story".to_string(), "comment".to_string()],
        base_url: Some(server.uri()),
    })
    .unwrap()
}

fn fixture(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(data(&format!("hackernews/{name}"))).unwrap()).unwrap()
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(data(&format!("hackernews/{name}"))).unwrap()
}

fn cursor(since: i64) -> SourceState {
    SourceState {
        cursor: Some(json!({ "since": since }).to_string()),
        ..SourceState::default()
    }
}

fn since_of(state: &SourceState) -> Option<i64> {
    let c: Value = serde_json::from_str(state.cursor.as_deref()?).ok()?;
    c["since"].as_i64()
}

async fn serve(server: &MockServer, body: Value) {
    Mock::given(method("GET"))
        .and(path("/search_by_date"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

/// A hit in today's shape: `children`, `updated_at`, `created_at` without millis.
fn hit_2026(id: u64, at: i64, tags: &[&str], fields: Value) -> Value {
    let mut h = json!({
        "_highlightResult": {},
        "_tags": tags,
        "author": "alice",
        "children": [id + 1, id + 2],
        "created_at": chrono::DateTime::from_timestamp(at, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "created_at_i": at,
        "objectID": id.to_string(),
        "updated_at": "2026-03-05T06:00:00Z",
    });
    for (k, v) in fields.as_object().unwrap() {
        h[k] = v.clone();
    }
    h
}

fn page_2026(hits: Vec<Value>, page: u64, pages: u64) -> Value {
    json!({
        "exhaustive": {"nbHits": true, "typo": true},
        "exhaustiveNbHits": true,
        "exhaustiveTypo": true,
        "hits": hits,
        "hitsPerPage": 200,
        "nbHits": hits.len() as u64 * pages,
        "nbPages": pages,
        "page": page,
        "params": "query=rust",
        "processingTimeMS": 3,
        "processingTimingsMS": {"request": {"roundTrip": 1}},
        "query": "rust",
        "serverTimeMS": 4,
    })
}

#[tokio::test]
async fn a_recorded_story_is_normalised() {
    let server = MockServer::start().await;
    serve(
        &server,
        fixture("23_search_by_date_hitsPerPage_1_tags_story_query_apple.json"),
    )
    .await;
    let out = hn(&server, "apple")
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 1);
    let m = &out.mentions[0];
    assert_eq!(m.platform_id, "7919424");
    assert_eq!(
        m.url.as_deref(),
        Some("https://news.ycombinator.com/item?id=7919424")
    );
    assert_eq!(
        m.title.as_deref(),
        Some("Judge says concerned about Apple, Google hiring settlement")
    );
    assert_eq!(m.text, "");
    assert_eq!(m.kind, MentionKind::Post);
    assert_eq!(m.author.handle.as_deref(), Some("bradleyjg"));
    assert_eq!(
        m.author.url.as_deref(),
        Some("https://news.ycombinator.com/user?id=bradleyjg")
    );
    assert_eq!(m.author.reach, None);
    assert_eq!(m.engagement.score, Some(1));
    assert_eq!(m.engagement.replies, Some(0));
    assert_eq!(m.conversation.thread_id.as_deref(), Some("7919424"));
    assert_eq!(m.conversation.parent_id, None);
    assert_eq!(
        m.created_at.map(|t| t.to_rfc3339()),
        Some("2014-06-20T03:35:46+00:00".to_string())
    );
    assert_eq!(since_of(&out.state), Some(1403235346));
}

#[tokio::test]
async fn a_recorded_comment_is_normalised_and_decoded() {
    let server = MockServer::start().await;
    serve(
        &server,
        fixture("01_search_by_date_hitsPerPage_1_tags_comment.json"),
    )
    .await;
    let out = hn(&server, "fibonacci")
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 1);
    let m = &out.mentions[0];
    assert_eq!(m.platform_id, "7919431");
    assert_eq!(m.kind, MentionKind::Comment);
    assert_eq!(m.title.as_deref(), Some("Fibonacci Flim-Flam"));
    assert!(
        m.text
            .starts_with("A perennial HN favorite\nhttps://hn.algolia.com/?q="),
        "{:?}",
        m.text
    );
    assert!(
        m.text.contains("What's fascinating"),
        "entities decoded: {:?}",
        m.text
    );
    assert!(!m.text.contains("<p>") && !m.text.contains("&#x27;"));
    assert_eq!(m.conversation.thread_id.as_deref(), Some("7919207"));
    assert_eq!(m.conversation.parent_id.as_deref(), Some("7919207"));
    assert_eq!(m.engagement.score, Some(1));
    assert_eq!(m.engagement.replies, None);
    assert_eq!(m.author.handle.as_deref(), Some("gohrt"));
    assert_eq!(
        m.url.as_deref(),
        Some("https://news.ycombinator.com/item?id=7919431")
    );
}

#[tokio::test]
async fn a_prefix_match_is_dropped_but_still_advances_the_cursor() {
    // The real reply for `apple`: Algolia matched "applauded" (see its _highlightResult).
    let server = MockServer::start().await;
    serve(
        &server,
        fixture("17_search_by_date_hitsPerPage_1_tags_comment_query_apple.json"),
    )
    .await;
    let out = hn(&server, "apple")
        .fetch(&fetcher(), &cursor(1403000000))
        .await
        .unwrap();
    assert!(out.mentions.is_empty(), "{:?}", out.mentions);
    assert_eq!(since_of(&out.state), Some(1403235154));
}

#[tokio::test]
async fn a_2026_reply_with_typo_matches_dropped() {
    let server = MockServer::start().await;
    let hits = vec![
        hit_2026(
            47001,
            1772687253,
            &["story", "author_alice", "story_47001"],
            json!({"title": "Show HN: Acme, a Rust &amp; SQLite tool", "url": "https://acme.example",
                   "story_text": "<p>Written in <i>Rust</i>.</p>", "points": 12, "num_comments": 3}),
        ),
        hit_2026(
            47002,
            1772687200,
            &["comment", "author_bob", "story_46990"],
            json!({"comment_text": "I&#x27;d rewrite it in rust<p>Really.", "story_id": 46990,
                   "parent_id": 46995, "story_title": "Ask HN: What language?", "points": null,
                   "num_comments": null}),
        ),
        hit_2026(
            47003,
            1772687100,
            &["comment", "author_carol", "story_46990"],
            json!({"comment_text": "The old bike is rusty", "story_id": 46990, "parent_id": 46990,
                   "story_title": "Ask HN: What language?"}),
        ),
        hit_2026(
            47004,
            1772687000,
            &["story", "author_dan", "story_47004"],
            json!({"title": "In code we trust", "story_text": null, "points": 2, "num_comments": 0}),
        ),
    ];
    serve(&server, page_2026(hits, 0, 1)).await;
    let out = hn(&server, "rust")
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    let ids: Vec<&str> = out
        .mentions
        .iter()
        .map(|m| m.platform_id.as_str())
        .collect();
    assert_eq!(ids, ["47001", "47002"]);
    let story = &out.mentions[0];
    assert_eq!(
        story.title.as_deref(),
        Some("Show HN: Acme, a Rust & SQLite tool")
    );
    assert_eq!(story.text, "Written in Rust.");
    assert_eq!(story.engagement.score, Some(12));
    assert_eq!(story.engagement.replies, Some(3));
    assert_eq!(story.created_at.map(|t| t.timestamp()), Some(1772687253));
    let comment = &out.mentions[1];
    assert_eq!(comment.kind, MentionKind::Comment);
    assert_eq!(comment.text, "I'd rewrite it in rust\nReally.");
    assert_eq!(comment.title.as_deref(), Some("Ask HN: What language?"));
    assert_eq!(comment.conversation.thread_id.as_deref(), Some("46990"));
    assert_eq!(comment.conversation.parent_id.as_deref(), Some("46995"));
    assert_eq!(since_of(&out.state), Some(1772687253));
}

#[tokio::test]
async fn the_query_tags_and_cursor_window_are_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search_by_date"))
        .and(query_param("query", "\"acme cloud\""))
        .and(query_param("tags", "(story,comment)"))
        .and(query_param("numericFilters", "created_at_i>=1772686653"))
        .and(query_param("hitsPerPage", "200"))
        .and(query_param("page", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_2026(
            vec![hit_2026(
                47010,
                1772690000,
                &["story"],
                json!({"title": "Acme Cloud launches", "points": 1, "num_comments": 0}),
            )],
            0,
            1,
        )))
        .expect(1)
        .mount(&server)
        .await;
    // The newest seen was 1772687253: the next window starts ten minutes before it.
    let out = hn(&server, "\"acme cloud\"")
        .fetch(&fetcher(), &cursor(1772687253))
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 1);
    assert_eq!(
        since_of(&out.state),
        Some(1772690000),
        "the cursor advances"
    );
}

#[tokio::test]
async fn the_first_poll_looks_back_a_day_and_the_cursor_never_moves_back() {
    let server = MockServer::start().await;
    serve(
        &server,
        fixture("23_search_by_date_hitsPerPage_1_tags_story_query_apple.json"),
    )
    .await;
    let before = common::now().timestamp();
    hn(&server, "apple")
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    // The fetcher's clock starts at `before`; the poll takes milliseconds of it.
    let after = before + 2;
    let requests = server.received_requests().await.unwrap();
    let filter = requests[0]
        .url
        .query_pairs()
        .find(|(k, _)| k == "numericFilters")
        .unwrap()
        .1
        .to_string();
    let t: i64 = filter
        .strip_prefix("created_at_i>=")
        .unwrap()
        .parse()
        .unwrap();
    assert!(t >= before - 86400 && t <= after - 86400, "{filter}");

    // Older hits than the cursor leave it where it was.
    let out = hn(&server, "apple")
        .fetch(&fetcher(), &cursor(1772687253))
        .await
        .unwrap();
    assert_eq!(since_of(&out.state), Some(1772687253));
}

#[tokio::test]
async fn pages_are_walked_while_there_are_more() {
    let server = MockServer::start().await;
    for (page, id) in [(0u64, 47020u64), (1, 47021)] {
        Mock::given(method("GET"))
            .and(path("/search_by_date"))
            .and(query_param("page", page.to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_json(page_2026(
                vec![hit_2026(
                    id,
                    1772690000 - page as i64,
                    &["story"],
                    json!({"title": "acme news"}),
                )],
                page,
                2,
            )))
            .expect(1)
            .mount(&server)
            .await;
    }
    let out = hn(&server, "acme")
        .fetch(&fetcher(), &cursor(1772680000))
        .await
        .unwrap();
    let ids: Vec<&str> = out
        .mentions
        .iter()
        .map(|m| m.platform_id.as_str())
        .collect();
    assert_eq!(ids, ["47020", "47021"]);
}

/// Answers by window: the whole window has more hits than Algolia pages through; each half
/// has one hit. Records the filters it saw.
struct Splitting {
    lo: i64,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Respond for Splitting {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let filter = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "numericFilters")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        self.seen.lock().unwrap().push(filter.clone());
        let whole = format!("created_at_i>={}", self.lo);
        let body = if filter == whole {
            json!({"hits": [hit_2026(1, self.lo + 5, &["story"], json!({"title": "acme"}))],
                   "nbHits": 2500, "nbPages": 5, "page": 0})
        } else if filter.contains(',') {
            page_2026(
                vec![hit_2026(
                    47030,
                    self.lo + 1,
                    &["story"],
                    json!({"title": "acme old"}),
                )],
                0,
                1,
            )
        } else {
            page_2026(
                vec![hit_2026(
                    47031,
                    self.lo + 900,
                    &["story"],
                    json!({"title": "acme new"}),
                )],
                0,
                1,
            )
        };
        ResponseTemplate::new(200).set_body_json(body)
    }
}

#[tokio::test]
async fn a_window_past_the_1000_hit_cap_is_split() {
    let server = MockServer::start().await;
    let since = common::now().timestamp() - 3600;
    let lo = since - 600;
    let seen = Arc::new(Mutex::new(Vec::new()));
    Mock::given(path("/search_by_date"))
        .respond_with(Splitting {
            lo,
            seen: seen.clone(),
        })
        .mount(&server)
        .await;
    let out = hn(&server, "acme")
        .fetch(&fetcher(), &cursor(since))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0], format!("created_at_i>={lo}"));
    // The older half first, bounded above, then the newer half, open above.
    let (lower, upper) = (&seen[1], &seen[2]);
    let mid: i64 = upper
        .strip_prefix("created_at_i>=")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(lower, &format!("created_at_i>={lo},created_at_i<{mid}"));
    assert!(mid > lo && mid <= common::now().timestamp() + 2, "{mid}");
    let ids: Vec<&str> = out
        .mentions
        .iter()
        .map(|m| m.platform_id.as_str())
        .collect();
    assert_eq!(ids, ["47030", "47031"]);
    assert_eq!(since_of(&out.state), Some(lo + 900));
}

#[tokio::test]
async fn an_endless_flood_stops_at_the_request_budget() {
    let server = MockServer::start().await;
    Mock::given(path("/search_by_date"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"hits": [], "nbHits": 1_000_000, "nbPages": 1000})),
        )
        .mount(&server)
        .await;
    let out = hn(&server, "acme")
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        MAX_REQUESTS
    );
    assert!(
        out.notice.as_ref().is_some_and(|n| n.degraded),
        "{:?}",
        out.notice
    );
    assert_eq!(out.state.cursor, None);
}

#[tokio::test]
async fn an_empty_result_keeps_the_cursor() {
    let server = MockServer::start().await;
    serve(&server, page_2026(Vec::new(), 0, 0)).await;
    let out = hn(&server, "acme")
        .fetch(&fetcher(), &cursor(1772687253))
        .await
        .unwrap();
    assert!(out.mentions.is_empty());
    assert_eq!(since_of(&out.state), Some(1772687253));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn error_statuses_are_returned() {
    for status in [401u16, 403, 404, 429] {
        let server = MockServer::start().await;
        Mock::given(path("/search_by_date"))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_json(json!({"message": "nope", "status": status})),
            )
            .mount(&server)
            .await;
        let err = hn(&server, "acme")
            .fetch(&fetcher(), &SourceState::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Status { status: s, .. } if s == status),
            "{status}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_429_with_retry_after_says_how_long() {
    let server = MockServer::start().await;
    Mock::given(path("/search_by_date"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .mount(&server)
        .await;
    let err = hn(&server, "acme")
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(120)));
}

#[tokio::test]
async fn an_html_block_page_is_unexpected() {
    let server = MockServer::start().await;
    Mock::given(path("/search_by_date"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<!doctype html><html><head><title>Access denied</title></head></html>",
            "text/html",
        ))
        .mount(&server)
        .await;
    let err = hn(&server, "acme")
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Unexpected(_)), "{err:?}");
}

#[tokio::test]
async fn truncated_json_and_a_wrong_shape_are_parse_errors() {
    for body in [r#"{"hits": [{"objectID": "1", "#, r#"{"results": []}"#] {
        let server = MockServer::start().await;
        Mock::given(path("/search_by_date"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
            .mount(&server)
            .await;
        let err = hn(&server, "acme")
            .fetch(&fetcher(), &SourceState::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Parse(_)), "{body}: {err:?}");
    }
}

/// Stories by `authors`, one each, all matching `acme`.
fn stories_by(authors: &[&str]) -> Value {
    let now = common::now().timestamp();
    let hits = authors
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let id = 48000 + i as u64 * 10;
            hit_2026(
                id,
                now - 60 - i as i64,
                &["story"],
                json!({"author": a, "title": format!("acme {id}"), "points": 1, "num_comments": 0}),
            )
        })
        .collect();
    page_2026(hits, 0, 1)
}

/// The user names looked up so far, in order.
async fn user_lookups(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| r.url.path().strip_prefix("/users/").map(str::to_string))
        .collect()
}

#[tokio::test]
async fn author_karma_is_looked_up_once_and_cached() {
    let server = MockServer::start().await;
    serve(&server, stories_by(&["pg", "pg"])).await;
    Mock::given(method("GET"))
        .and(path("/users/pg"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture_bytes("09_users_pg.json"), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let source = hn(&server, "acme");
    let http = fetcher();
    for _ in 0..2 {
        let out = source.fetch(&http, &SourceState::default()).await.unwrap();
        assert_eq!(out.mentions.len(), 2);
        for m in &out.mentions {
            assert_eq!(m.author.handle.as_deref(), Some("pg"));
            assert_eq!(m.author.reach, Some(154666), "the recorded karma");
        }
    }
    server.verify().await;
    assert_eq!(user_lookups(&server).await, ["pg"]);
}

#[tokio::test]
async fn cached_karma_is_read_again_after_a_day() {
    let server = MockServer::start().await;
    serve(&server, stories_by(&["pg"])).await;
    Mock::given(path("/users/pg"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"username": "pg", "karma": 7})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let source = hn(&server, "acme");
    let http = fetcher();
    source.fetch(&http, &SourceState::default()).await.unwrap();
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(23 * 3600)).await;
    tokio::time::resume();
    source.fetch(&http, &SourceState::default()).await.unwrap();
    assert_eq!(user_lookups(&server).await.len(), 1, "still cached at 23h");
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(3600 + 1)).await;
    tokio::time::resume();
    let out = source.fetch(&http, &SourceState::default()).await.unwrap();
    assert_eq!(out.mentions[0].author.reach, Some(7));
    server.verify().await;
}

/// Answers every `/users/<name>` with karma = the length of the name times 100.
struct Karma;

impl Respond for Karma {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let name = req.url.path().trim_start_matches("/users/");
        ResponseTemplate::new(200)
            .set_body_json(json!({"username": name, "karma": name.len() as u64 * 100}))
    }
}

#[tokio::test]
async fn at_most_ten_authors_are_looked_up_per_poll() {
    let server = MockServer::start().await;
    let authors: Vec<String> = (1..=12).map(|i| format!("user{}", "x".repeat(i))).collect();
    let names: Vec<&str> = authors.iter().map(String::as_str).collect();
    serve(&server, stories_by(&names)).await;
    Mock::given(wiremock::matchers::path_regex("^/users/"))
        .respond_with(Karma)
        .mount(&server)
        .await;
    let source = hn(&server, "acme");
    let http = fetcher();
    let out = source.fetch(&http, &SourceState::default()).await.unwrap();
    assert_eq!(out.mentions.len(), 12);
    let first = user_lookups(&server).await;
    assert_eq!(first.len(), 10, "{first:?}");
    let with_reach = |out: &earshot_connectors::FetchOutcome| {
        out.mentions
            .iter()
            .filter(|m| {
                let name = m.author.handle.as_deref().unwrap();
                m.author.reach == Some(name.len() as u64 * 100)
            })
            .count()
    };
    assert_eq!(with_reach(&out), 10);
    assert!(
        out.mentions
            .iter()
            .filter(|m| m.author.reach.is_none())
            .all(|m| !first.contains(&m.author.handle.clone().unwrap())),
        "only the authors not looked up lack a reach"
    );

    let out = source.fetch(&http, &SourceState::default()).await.unwrap();
    let all = user_lookups(&server).await;
    assert_eq!(
        all.len(),
        12,
        "the remaining two, and nobody twice: {all:?}"
    );
    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 12);
    assert_eq!(with_reach(&out), 12);
}

#[tokio::test]
async fn failed_lookups_leave_no_reach_and_the_poll_succeeds() {
    let server = MockServer::start().await;
    serve(&server, stories_by(&["broken", "gone", "walled"])).await;
    // A 500 is not cached: asked again next poll.
    Mock::given(path("/users/broken"))
        .respond_with(ResponseTemplate::new(500))
        .expect(2)
        .mount(&server)
        .await;
    // A 404 is an answer: cached, not asked again.
    Mock::given(path("/users/gone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "Not Found"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/users/walled"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html")
                .set_body_string("<!doctype html><html><body>blocked</body></html>"),
        )
        .expect(2)
        .mount(&server)
        .await;
    let source = hn(&server, "acme");
    let http = fetcher();
    for _ in 0..2 {
        let out = source.fetch(&http, &SourceState::default()).await.unwrap();
        assert_eq!(out.mentions.len(), 3);
        assert!(out.mentions.iter().all(|m| m.author.reach.is_none()));
        assert_eq!(out.notice, None);
    }
    server.verify().await;
}

#[tokio::test]
async fn a_429_stops_the_lookups_of_this_poll() {
    let server = MockServer::start().await;
    serve(&server, stories_by(&["aa", "bb", "cc"])).await;
    Mock::given(wiremock::matchers::path_regex("^/users/"))
        .respond_with(ResponseTemplate::new(429))
        .mount(&server)
        .await;
    let out = hn(&server, "acme")
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 3);
    assert!(out.mentions.iter().all(|m| m.author.reach.is_none()));
    assert_eq!(user_lookups(&server).await, ["aa"]);
}
