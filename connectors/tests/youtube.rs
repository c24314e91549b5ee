//! Replay tests for `kind = "youtube"`: replies shaped as PLATFORMS.md A8 documents
//! (`search.list`, `videos.list`, Google's error body), served by a local wiremock server.

mod common;

use chrono::{DateTime, Utc};
use earshot_connectors::youtube::{YouTube, YouTubeConfig, pacific_day};
use earshot_connectors::{FetchError, MentionKind, SourceState};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "AIzaSyTEST-key-4e1c9b";

fn config(server: &MockServer, extra: Value) -> YouTubeConfig {
    let mut v = json!({
        "query": "acme widgets",
        "api_key": KEY,
        "base_url": format!("{}/youtube/v3", server.uri()),
    });
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(v).unwrap()
}

fn connector(server: &MockServer, extra: Value) -> YouTube {
    YouTube::new(&config(server, extra)).unwrap()
}

fn search_reply() -> Value {
    json!({
        "kind": "youtube#searchListResponse",
        "etag": "q3vCy5Yx0uPqWm8w9Hk3Zl8dQ2o",
        "nextPageToken": "CDIQAA",
        "regionCode": "US",
        "pageInfo": {"totalResults": 2, "resultsPerPage": 50},
        "items": [
            {
                "kind": "youtube#searchResult",
                "etag": "b1",
                "id": {"kind": "youtube#video", "videoId": "vid00000002"},
                "snippet": {
                    "publishedAt": "2026-05-01T12:30:00Z",
                    "channelId": "UCacmeChannel000000000",
                    "title": "Acme&#39;s new widget &amp; why it matters",
                    "description": "We tried the Acme widget so you don&#39;t have to.",
                    "thumbnails": {"default": {"url": "https://i.ytimg.com/vi/vid00000002/default.jpg", "width": 120, "height": 90}},
                    "channelTitle": "Gadget &amp; Co",
                    "liveBroadcastContent": "none",
                    "publishTime": "2026-05-01T12:30:00Z"
                }
            },
            {
                "kind": "youtube#searchResult",
                "etag": "b2",
                "id": {"kind": "youtube#video", "videoId": "vid00000001"},
                "snippet": {
                    "publishedAt": "2026-05-01T09:00:00Z",
                    "channelId": "UCother0000000000000000",
                    "title": "acme unboxing",
                    "description": "",
                    "channelTitle": "Unboxer",
                    "liveBroadcastContent": "none"
                }
            },
            {
                "kind": "youtube#searchResult",
                "etag": "b3",
                "id": {"kind": "youtube#channel", "channelId": "UCacmeChannel000000000"},
                "snippet": {"publishedAt": "2020-01-01T00:00:00Z", "title": "Acme channel"}
            }
        ]
    })
}

fn videos_reply() -> Value {
    json!({
        "kind": "youtube#videoListResponse",
        "items": [
            {"kind": "youtube#video", "id": "vid00000002",
             "statistics": {"viewCount": "15230", "likeCount": "412", "favoriteCount": "0", "commentCount": "37"}},
            {"kind": "youtube#video", "id": "vid00000001",
             "statistics": {"viewCount": "12", "favoriteCount": "0"}}
        ],
        "pageInfo": {"totalResults": 2, "resultsPerPage": 2}
    })
}

fn channels_reply() -> Value {
    json!({
        "kind": "youtube#channelListResponse",
        "pageInfo": {"totalResults": 2, "resultsPerPage": 5},
        "items": [
            {"kind": "youtube#channel", "id": "UCacmeChannel000000000",
             "statistics": {"viewCount": "1000000", "subscriberCount": "48200",
                            "hiddenSubscriberCount": false, "videoCount": "310"}},
            {"kind": "youtube#channel", "id": "UCother0000000000000000",
             "statistics": {"viewCount": "500", "subscriberCount": "0",
                            "hiddenSubscriberCount": true, "videoCount": "4"}}
        ]
    })
}

fn google_error(code: u16, reason: &str) -> Value {
    json!({"error": {"code": code, "message": "The request cannot be completed.",
        "errors": [{"message": "The request cannot be completed.", "domain": "youtube.quota", "reason": reason}]}})
}

fn cursor(state: &SourceState) -> Value {
    serde_json::from_str(state.cursor.as_deref().unwrap()).unwrap()
}

fn today() -> String {
    pacific_day(common::now()).to_string()
}

#[tokio::test]
async fn a_search_is_normalised_with_statistics() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/youtube/v3/search"))
        .and(query_param("part", "snippet"))
        .and(query_param("q", "acme widgets"))
        .and(query_param("type", "video"))
        .and(query_param("order", "date"))
        .and(query_param("maxResults", "50"))
        .and(query_param("key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(search_reply()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/youtube/v3/videos"))
        .and(query_param("part", "statistics"))
        .and(query_param("id", "vid00000002,vid00000001"))
        .and(query_param("key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(videos_reply()))
        .expect(1)
        .mount(&server)
        .await;
    // One channels.list call for both videos' channels.
    Mock::given(method("GET"))
        .and(path("/youtube/v3/channels"))
        .and(query_param("part", "statistics"))
        .and(query_param(
            "id",
            "UCacmeChannel000000000,UCother0000000000000000",
        ))
        .and(query_param("key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(channels_reply()))
        .expect(1)
        .mount(&server)
        .await;
    let before = common::now();
    let out = connector(&server, json!({}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap();

    // The first poll looks back FIRST_WINDOW (24 h).
    let requests = server.received_requests().await.unwrap();
    let after: DateTime<Utc> = requests[0]
        .url
        .query_pairs()
        .find(|(k, _)| k == "publishedAfter")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let back = before - after;
    assert!(
        (86_399..=86_401).contains(&back.num_seconds()),
        "{after} {before}"
    );

    assert_eq!(out.mentions.len(), 2, "the channel result is skipped");
    let m = &out.mentions[0];
    assert_eq!(m.platform_id, "vid00000002");
    assert_eq!(
        m.url.as_deref(),
        Some("https://www.youtube.com/watch?v=vid00000002")
    );
    assert_eq!(
        m.title.as_deref(),
        Some("Acme's new widget & why it matters")
    );
    assert_eq!(m.text, "We tried the Acme widget so you don't have to.");
    assert_eq!(m.author.handle.as_deref(), Some("Gadget & Co"));
    assert_eq!(
        m.author.url.as_deref(),
        Some("https://www.youtube.com/channel/UCacmeChannel000000000")
    );
    assert_eq!(m.author.reach, Some(48200), "subscriberCount");
    assert_eq!(m.created_at, Some("2026-05-01T12:30:00Z".parse().unwrap()));
    assert_eq!(m.kind, MentionKind::Post);
    assert_eq!(m.engagement.score, Some(15230));
    assert_eq!(m.engagement.likes, Some(412));
    assert_eq!(m.engagement.replies, Some(37));
    let hidden = &out.mentions[1];
    assert_eq!(hidden.engagement.score, Some(12));
    assert_eq!(hidden.engagement.likes, None, "hidden likes stay unknown");
    assert_eq!(hidden.text, "");
    assert_eq!(
        hidden.author.reach, None,
        "hiddenSubscriberCount: unknown, not 0"
    );

    let c = cursor(&out.state);
    assert_eq!(c["day"], json!(today()));
    assert_eq!(c["searches"], json!(1));
    assert_eq!(c["newest"], json!("2026-05-01T12:30:00Z"));
    assert!(!c.to_string().contains(KEY));
    let notice = out.notice.unwrap();
    assert!(!notice.degraded);
    assert_eq!(notice.message, "1 of 100 searches used today");
}

#[tokio::test]
async fn the_next_poll_asks_from_the_newest_seen_minus_the_overlap() {
    let server = MockServer::start().await;
    let state = SourceState {
        cursor: Some(
            json!({"day": today(), "searches": 36, "newest": "2026-05-01T12:30:00Z"}).to_string(),
        ),
        ..Default::default()
    };
    Mock::given(path("/youtube/v3/search"))
        .and(query_param("publishedAfter", "2026-05-01T12:20:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/youtube/v3/videos"))
        .respond_with(ResponseTemplate::new(200).set_body_json(videos_reply()))
        .expect(0)
        .mount(&server)
        .await;
    let out = connector(&server, json!({}))
        .fetch(&common::fetcher(), &state)
        .await
        .unwrap();
    assert!(out.mentions.is_empty());
    let c = cursor(&out.state);
    assert_eq!(c["searches"], json!(37));
    assert_eq!(
        c["newest"],
        json!("2026-05-01T12:30:00Z"),
        "never moves back"
    );
    assert_eq!(out.notice.unwrap().message, "37 of 100 searches used today");
}

#[tokio::test]
async fn a_spent_day_makes_no_search_and_says_so() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(search_reply()))
        .expect(0)
        .mount(&server)
        .await;
    let state = SourceState {
        cursor: Some(json!({"day": today(), "searches": 5, "newest": null}).to_string()),
        ..Default::default()
    };
    let out = connector(&server, json!({"daily_searches": 5}))
        .fetch(&common::fetcher(), &state)
        .await
        .unwrap();
    assert!(out.mentions.is_empty());
    let notice = out.notice.unwrap();
    assert!(notice.degraded);
    assert_eq!(
        notice.message,
        "daily search budget of 5 spent; resumes after midnight Pacific"
    );
    assert_eq!(cursor(&out.state)["searches"], json!(5));
}

#[tokio::test]
async fn yesterdays_count_does_not_hold_today() {
    let server = MockServer::start().await;
    Mock::given(path("/youtube/v3/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(1)
        .mount(&server)
        .await;
    let state = SourceState {
        cursor: Some(json!({"day": "2020-01-01", "searches": 100}).to_string()),
        ..Default::default()
    };
    let out = connector(&server, json!({}))
        .fetch(&common::fetcher(), &state)
        .await
        .unwrap();
    let c = cursor(&out.state);
    assert_eq!(c["day"], json!(today()));
    assert_eq!(c["searches"], json!(1));
}

#[tokio::test]
async fn the_budget_is_counted_in_memory_too() {
    // Two searches allowed; the cursor is never handed back (as when polls fail after the
    // search): the third poll still makes no request.
    let server = MockServer::start().await;
    Mock::given(path("/youtube/v3/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(2)
        .mount(&server)
        .await;
    let yt = connector(&server, json!({"daily_searches": 2}));
    let http = common::fetcher();
    for _ in 0..2 {
        yt.fetch(&http, &SourceState::default()).await.unwrap();
    }
    let third = yt.fetch(&http, &SourceState::default()).await.unwrap();
    assert!(third.notice.unwrap().degraded);
}

#[tokio::test]
async fn quota_exceeded_spends_the_day() {
    let server = MockServer::start().await;
    Mock::given(path("/youtube/v3/search"))
        .respond_with(ResponseTemplate::new(403).set_body_json(google_error(403, "quotaExceeded")))
        .expect(1)
        .mount(&server)
        .await;
    let yt = connector(&server, json!({}));
    let http = common::fetcher();
    let err = yt.fetch(&http, &SourceState::default()).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("quota") && msg.contains("midnight Pacific"),
        "{msg}"
    );
    assert!(err.is_long_lived());
    let next = yt.fetch(&http, &SourceState::default()).await.unwrap();
    let notice = next.notice.unwrap();
    assert!(notice.degraded, "{notice:?}");
    assert!(notice.message.contains("100 spent"));
}

#[tokio::test]
async fn daily_limit_exceeded_spends_the_day_too() {
    let server = MockServer::start().await;
    Mock::given(path("/youtube/v3/search"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(google_error(403, "dailyLimitExceeded")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let yt = connector(&server, json!({}));
    let http = common::fetcher();
    assert!(yt.fetch(&http, &SourceState::default()).await.is_err());
    assert!(
        yt.fetch(&http, &SourceState::default())
            .await
            .unwrap()
            .notice
            .unwrap()
            .degraded
    );
}

#[tokio::test]
async fn rate_limit_exceeded_is_transient() {
    let server = MockServer::start().await;
    Mock::given(path("/youtube/v3/search"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(google_error(403, "rateLimitExceeded")),
        )
        .expect(2)
        .mount(&server)
        .await;
    let yt = connector(&server, json!({}));
    let http = common::fetcher();
    let err = yt.fetch(&http, &SourceState::default()).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 429, .. }),
        "{err:?}"
    );
    assert!(!err.is_long_lived());
    // Not a spent day: the next poll searches again.
    assert!(yt.fetch(&http, &SourceState::default()).await.is_err());
}

#[tokio::test]
async fn error_statuses_are_reported() {
    for status in [401u16, 403, 404, 429, 500] {
        let server = MockServer::start().await;
        Mock::given(path("/youtube/v3/search"))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(google_error(status, "forbidden")),
            )
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
async fn an_html_block_page_echoing_the_key_hides_it() {
    let server = MockServer::start().await;
    Mock::given(path("/youtube/v3/search"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("content-type", "text/html")
                .set_body_string(format!(
                    "<html><head><title>Denied {KEY}</title></head><body>key {KEY}</body></html>"
                )),
        )
        .mount(&server)
        .await;
    let err = connector(&server, json!({}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Unexpected(_)), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(KEY), "{shown}");
}

#[tokio::test]
async fn a_json_error_echoing_the_url_hides_the_key() {
    let server = MockServer::start().await;
    Mock::given(path("/youtube/v3/search"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": {"code": 400,
            "message": format!("bad request /search?key={KEY}"),
            "errors": [{"reason": "badRequest", "message": format!("key={KEY}")}]}})),
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
            status: 400,
            retry_after: None
        }
    );
}

#[tokio::test]
async fn truncated_json_is_a_parse_error() {
    let server = MockServer::start().await;
    Mock::given(path("/youtube/v3/search"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string("{\"items\": [{\"id\": {\"videoId\": \"a"),
        )
        .mount(&server)
        .await;
    let err = connector(&server, json!({}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Parse(_)), "{err:?}");
}

#[tokio::test]
async fn a_reply_of_the_wrong_shape_is_a_parse_error() {
    let server = MockServer::start().await;
    Mock::given(path("/youtube/v3/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": {"a": 1}})))
        .mount(&server)
        .await;
    let err = connector(&server, json!({}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::Parse(m) if m.contains("search.list")),
        "{err:?}"
    );
}

#[tokio::test]
async fn without_statistics_only_the_search_is_made() {
    let server = MockServer::start().await;
    Mock::given(path("/youtube/v3/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(search_reply()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/youtube/v3/videos"))
        .respond_with(ResponseTemplate::new(200).set_body_json(videos_reply()))
        .expect(0)
        .mount(&server)
        .await;
    let out = connector(&server, json!({"statistics": false}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 2);
    assert_eq!(out.mentions[0].engagement.likes, None);
}

#[tokio::test]
async fn failed_statistics_keep_the_videos() {
    let server = MockServer::start().await;
    Mock::given(path("/youtube/v3/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(search_reply()))
        .mount(&server)
        .await;
    Mock::given(path("/youtube/v3/videos"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let out = connector(&server, json!({}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 2);
    let notice = out.notice.unwrap();
    assert!(notice.degraded);
    assert!(notice.message.contains("HTTP 500"), "{}", notice.message);
    assert_eq!(cursor(&out.state)["newest"], json!("2026-05-01T12:30:00Z"));
}

#[test]
fn validation() {
    let server_uri = "http://127.0.0.1:1";
    let cfg = |extra: Value| {
        let mut v = json!({"query": "acme", "api_key": "k", "base_url": server_uri});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value::<YouTubeConfig>(v)
            .unwrap()
            .validate()
    };
    assert!(cfg(json!({})).is_empty());
    assert!(cfg(json!({"daily_searches": 10000})).is_empty());
    for bad in [0, 10_001] {
        let p = cfg(json!({"daily_searches": bad}));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].key, "daily_searches");
    }
    assert_eq!(cfg(json!({"query": "  "}))[0].key, "query");
    assert_eq!(cfg(json!({"base_url": "ftp://x"}))[0].key, "base_url");
}

/// A search reply with one video per `(video id, channel id)`.
fn search_of(videos: &[(&str, &str)]) -> Value {
    let items: Vec<Value> = videos
        .iter()
        .map(|(v, c)| {
            json!({"kind": "youtube#searchResult", "id": {"kind": "youtube#video", "videoId": v},
                "snippet": {"publishedAt": "2026-05-01T12:00:00Z", "channelId": c,
                    "title": "acme", "description": "", "channelTitle": c}})
        })
        .collect();
    json!({"items": items})
}

fn channel(id: &str, subscribers: &str) -> Value {
    json!({"kind": "youtube#channel", "id": id,
        "statistics": {"subscriberCount": subscribers, "hiddenSubscriberCount": false}})
}

#[tokio::test]
async fn subscriber_counts_are_looked_up_once_per_channel_and_kept() {
    let server = MockServer::start().await;
    // Poll 1: three videos, two of them from channel A.
    Mock::given(path("/youtube/v3/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(search_of(&[
            ("v1", "UCa"),
            ("v2", "UCb"),
            ("v3", "UCa"),
        ])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    // Poll 2: channel A again and a new channel C.
    Mock::given(path("/youtube/v3/search"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(search_of(&[("v4", "UCa"), ("v5", "UCc")])),
        )
        .mount(&server)
        .await;
    Mock::given(path("/youtube/v3/videos"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .mount(&server)
        .await;
    Mock::given(path("/youtube/v3/channels"))
        .and(query_param("id", "UCa,UCb"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [
            channel("UCa", "1500"),
            // UCb is not in the reply (deleted, say): unknown, and kept as such.
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/youtube/v3/channels"))
        .and(query_param("id", "UCc"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"items": [channel("UCc", "77")]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let yt = connector(&server, json!({}));
    let http = common::fetcher();
    let first = yt.fetch(&http, &SourceState::default()).await.unwrap();
    let reach: Vec<Option<u64>> = first.mentions.iter().map(|m| m.author.reach).collect();
    assert_eq!(reach, [Some(1500), None, Some(1500)]);
    assert_eq!(
        first.notice.unwrap().message,
        "1 of 100 searches used today"
    );

    let second = yt.fetch(&http, &first.state).await.unwrap();
    let reach: Vec<Option<u64>> = second.mentions.iter().map(|m| m.author.reach).collect();
    assert_eq!(
        reach,
        [Some(1500), Some(77)],
        "A from memory, C asked alone"
    );
    server.verify().await;

    // Poll 3: only known channels: no channels.list call at all (the expect(1)s).
    let third = yt.fetch(&http, &second.state).await.unwrap();
    assert_eq!(third.mentions[1].author.reach, Some(77));
    server.verify().await;
}

#[tokio::test]
async fn without_statistics_no_channels_call() {
    let server = MockServer::start().await;
    Mock::given(path("/youtube/v3/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(search_reply()))
        .mount(&server)
        .await;
    Mock::given(path("/youtube/v3/channels"))
        .respond_with(ResponseTemplate::new(200).set_body_json(channels_reply()))
        .expect(0)
        .mount(&server)
        .await;
    let out = connector(&server, json!({"statistics": false}))
        .fetch(&common::fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert!(out.mentions.iter().all(|m| m.author.reach.is_none()));
    server.verify().await;
}

#[tokio::test]
async fn a_failed_channels_call_keeps_the_poll_and_says_so() {
    let server = MockServer::start().await;
    Mock::given(path("/youtube/v3/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(search_reply()))
        .mount(&server)
        .await;
    Mock::given(path("/youtube/v3/videos"))
        .respond_with(ResponseTemplate::new(200).set_body_json(videos_reply()))
        .mount(&server)
        .await;
    // An HTML page echoing the key, then a 403 quota error: neither is kept as an answer.
    Mock::given(path("/youtube/v3/channels"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("content-type", "text/html")
                .set_body_string(format!(
                    "<html><head><title>Unavailable {KEY}</title></head></html>"
                )),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/youtube/v3/channels"))
        .respond_with(ResponseTemplate::new(403).set_body_json(google_error(403, "quotaExceeded")))
        .expect(1)
        .mount(&server)
        .await;
    let yt = connector(&server, json!({}));
    let http = common::fetcher();
    let out = yt.fetch(&http, &SourceState::default()).await.unwrap();
    assert_eq!(out.mentions.len(), 2);
    assert!(out.mentions.iter().all(|m| m.author.reach.is_none()));
    assert_eq!(
        out.mentions[0].engagement.likes,
        Some(412),
        "counts still there"
    );
    let notice = out.notice.unwrap();
    assert!(notice.degraded);
    assert!(
        notice
            .message
            .starts_with("1 of 100 searches used today; subscriber counts missing this poll ("),
        "{}",
        notice.message
    );
    assert!(!notice.message.contains(KEY), "{}", notice.message);

    // Not cached: the next poll asks again, and a quota error does not fail the poll either.
    let next = yt.fetch(&http, &out.state).await.unwrap();
    assert_eq!(next.mentions.len(), 2);
    let notice = next.notice.unwrap();
    assert!(notice.message.contains("HTTP 403"), "{}", notice.message);
    // The search budget is untouched by it: the day is not spent.
    assert_eq!(cursor(&next.state)["searches"], json!(2));
    server.verify().await;
}
