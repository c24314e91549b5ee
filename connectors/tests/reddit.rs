//! The Reddit connector against a local server: recorded PRAW replies (OAuth), a recorded
//! `.rss` listing (no credentials), the token, the requests sent, the cursor and errors.

mod common;

use std::time::Duration;

use base64::Engine;
use earshot_connectors::reddit::{RSS_NOTICE, Reddit, RedditConfig};
use earshot_connectors::secret::Secret;
use earshot_connectors::{FetchError, MentionKind, SourceState};
use serde_json::{Value, json};
use wiremock::matchers::{
    body_string, method, path, path_regex, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::{data, fetcher, header_is};

const BASIC: &str = "Basic bXktY2xpZW50Om15LXNlY3JldA=="; // my-client:my-secret
const BEARER: &str = "bearer <ACCESS_TOKEN>"; // the token in the recorded reply

fn config(server: &MockServer) -> RedditConfig {
    RedditConfig {
        query: None,
        subreddits: Vec::new(),
        comments: false,
        client_id: Some(Secret::Plain("my-client".to_string())),
        client_secret: Some(Secret::Plain("my-secret".to_string())),
        base_url: Some(server.uri()),
    }
}

fn file(name: &str) -> Vec<u8> {
    std::fs::read(data(&format!("reddit/{name}"))).unwrap()
}

fn json_reply(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(file(name), "application/json; charset=UTF-8")
}

fn newest(state: &SourceState) -> Option<f64> {
    let c: Value = serde_json::from_str(state.cursor.as_deref()?).ok()?;
    c["newest"].as_f64()
}

/// The token endpoint, checking the Basic credentials and the grant; `n` calls expected.
async fn mount_token(server: &MockServer, reply: ResponseTemplate, n: u64) {
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .and(header_is("authorization", BASIC))
        .and(body_string("grant_type=client_credentials"))
        .respond_with(reply)
        .expect(n)
        .mount(server)
        .await;
}

#[test]
fn the_basic_credentials_in_these_tests_are_what_they_say() {
    let encoded = base64::engine::general_purpose::STANDARD.encode("my-client:my-secret");
    assert_eq!(format!("Basic {encoded}"), BASIC);
}

#[tokio::test]
async fn search_with_a_token_reads_the_recorded_posts() {
    let server = MockServer::start().await;
    mount_token(&server, json_reply("access_token.json"), 1).await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(header_is("authorization", BEARER))
        .and(query_param("q", "praw oauth search"))
        .and(query_param("sort", "new"))
        .and(query_param("limit", "100"))
        .and(query_param("type", "link"))
        .and(query_param("raw_json", "1"))
        .and(query_param_is_missing("before"))
        .and(query_param_is_missing("restrict_sr"))
        .respond_with(json_reply("r_all_search.json"))
        .expect(2)
        .mount(&server)
        .await;
    let mut c = config(&server);
    c.query = Some("praw oauth search".to_string());
    let reddit = Reddit::new(&c).unwrap();
    let http = fetcher();
    let out = reddit.fetch(&http, &SourceState::default()).await.unwrap();
    assert_eq!(out.notice, None);
    assert_eq!(out.mentions.len(), 6);
    let m = &out.mentions[0];
    assert_eq!(m.platform_id, "t3_3gpbiu");
    assert_eq!(m.kind, MentionKind::Post);
    assert_eq!(
        m.title.as_deref(),
        Some("[PRAW][OAuth2Util] Problem using get_banned() : raise Forbidden(_raw=response)")
    );
    assert!(
        m.text
            .starts_with("solved\nProblem solved with this: /r/redditdev/comments/3gpbiu/"),
        "markdown turned into text: {:?}",
        m.text
    );
    assert_eq!(
        m.url.as_deref(),
        Some(
            "https://www.reddit.com/r/redditdev/comments/3gpbiu/prawoauth2util_problem_using_get_banned_raise/?ref=search_posts"
        )
    );
    assert_eq!(m.author.handle.as_deref(), Some("u/dClauzel"));
    assert_eq!(
        m.author.url.as_deref(),
        Some("https://www.reddit.com/user/dClauzel")
    );
    assert_eq!(
        m.author.reach, None,
        "subscribers are not the author's reach"
    );
    assert_eq!(m.engagement.score, Some(0));
    assert_eq!(m.engagement.replies, Some(21));
    assert_eq!(m.conversation.thread_id.as_deref(), Some("t3_3gpbiu"));
    assert_eq!(
        m.created_at.map(|t| t.timestamp()),
        Some(1439370514),
        "created_utc"
    );
    let first_cursor = newest(&out.state).expect("a cursor");
    let want = out
        .mentions
        .iter()
        .filter_map(|m| m.created_at)
        .max()
        .unwrap()
        .timestamp() as f64;
    assert_eq!(first_cursor, want);

    // The next poll reuses the token (one token request in all) and asks the same listing
    // again, without a `before=` cursor; the cursor does not move back.
    let again = reddit.fetch(&http, &out.state).await.unwrap();
    assert_eq!(newest(&again.state), Some(first_cursor));
}

#[tokio::test]
async fn subreddit_posts_and_comments_are_normalised() {
    let server = MockServer::start().await;
    mount_token(&server, json_reply("access_token.json"), 1).await;
    Mock::given(method("GET"))
        .and(path("/r/askreddit/new"))
        .and(header_is("authorization", BEARER))
        .and(query_param("limit", "100"))
        .and(query_param("raw_json", "1"))
        .respond_with(json_reply("r_askreddit_new.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/r/askreddit/comments"))
        .and(header_is("authorization", BEARER))
        .and(query_param("limit", "100"))
        .and(query_param("raw_json", "1"))
        .respond_with(json_reply("r_askreddit_comments.json"))
        .expect(1)
        .mount(&server)
        .await;
    let mut c = config(&server);
    c.subreddits = vec!["askreddit".to_string()];
    c.comments = true;
    let out = Reddit::new(&c)
        .unwrap()
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 200);
    let post = out
        .mentions
        .iter()
        .find(|m| m.platform_id == "t3_48fax4")
        .unwrap();
    assert_eq!(post.text, ".");
    assert_eq!(post.engagement.score, Some(4));
    assert_eq!(post.engagement.replies, Some(3));
    assert_eq!(post.author.handle.as_deref(), Some("u/AuganM"));

    let comment = out
        .mentions
        .iter()
        .find(|m| m.platform_id == "t1_d4y8bdp")
        .unwrap();
    assert_eq!(comment.kind, MentionKind::Comment);
    assert_eq!(
        comment.text,
        "great, life is so much better when you can do what you enjoy for a living"
    );
    assert_eq!(
        comment.title.as_deref(),
        Some("[Serious] To anyone who \"followed their dreams\", how has it panned out?")
    );
    assert_eq!(comment.conversation.thread_id.as_deref(), Some("t3_4r4inc"));
    assert_eq!(comment.conversation.parent_id.as_deref(), Some("t3_4r4inc"));
    assert_eq!(comment.engagement.score, Some(1));
    assert_eq!(comment.author.handle.as_deref(), Some("u/preppypuppy"));
    // This 2016 listing has no comment permalink: the link is built from post and id.
    assert_eq!(
        comment.url.as_deref(),
        Some("https://www.reddit.com/r/AskReddit/comments/4r4inc/_/d4y8bdp/")
    );
    assert_eq!(comment.created_at.map(|t| t.timestamp()), Some(1467590690));
    // The comments listing is newer than the posts: the cursor is its newest.
    assert_eq!(newest(&out.state), Some(1467590690.0));
}

#[tokio::test]
async fn a_query_within_subreddits_is_a_restricted_search() {
    let server = MockServer::start().await;
    mount_token(&server, json_reply("access_token.json"), 1).await;
    Mock::given(method("GET"))
        .and(path("/r/rust+programming/search"))
        .and(query_param("q", "acme"))
        .and(query_param("restrict_sr", "1"))
        .and(query_param("sort", "new"))
        .and(query_param("type", "link"))
        .respond_with(json_reply("empty_listing.json"))
        .expect(1)
        .mount(&server)
        .await;
    let mut c = config(&server);
    c.query = Some("acme".to_string());
    c.subreddits = vec!["rust".to_string(), "programming".to_string()];
    let out = Reddit::new(&c)
        .unwrap()
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert!(out.mentions.is_empty());
}

#[tokio::test]
async fn an_expiring_token_is_renewed_before_the_next_poll() {
    let server = MockServer::start().await;
    // Valid for no time at all: each poll needs a new one.
    mount_token(
        &server,
        ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "<ACCESS_TOKEN>", "token_type": "bearer", "expires_in": 0, "scope": "*"}),
        ),
        2,
    )
    .await;
    Mock::given(path("/search"))
        .respond_with(json_reply("empty_listing.json"))
        .expect(2)
        .mount(&server)
        .await;
    let mut c = config(&server);
    c.query = Some("acme".to_string());
    let reddit = Reddit::new(&c).unwrap();
    let http = fetcher();
    reddit.fetch(&http, &SourceState::default()).await.unwrap();
    reddit.fetch(&http, &SourceState::default()).await.unwrap();
}

#[tokio::test]
async fn a_401_renews_the_token_once() {
    let server = MockServer::start().await;
    mount_token(&server, json_reply("access_token.json"), 2).await;
    Mock::given(path("/search"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"message": "Unauthorized", "error": 401})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/search"))
        .respond_with(json_reply("r_all_search.json"))
        .expect(1)
        .mount(&server)
        .await;
    let mut c = config(&server);
    c.query = Some("acme".to_string());
    let out = Reddit::new(&c)
        .unwrap()
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 6);
}

#[tokio::test]
async fn a_lasting_401_is_an_error_after_one_renewal() {
    let server = MockServer::start().await;
    mount_token(&server, json_reply("access_token.json"), 2).await;
    Mock::given(path("/search"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"message": "Unauthorized", "error": 401})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let mut c = config(&server);
    c.query = Some("acme".to_string());
    let err = Reddit::new(&c)
        .unwrap()
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 401, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_refused_token_is_a_401() {
    for reply in [
        ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthorized", "error": 401})),
        ResponseTemplate::new(200).set_body_json(json!({"error": "invalid_grant"})),
    ] {
        let server = MockServer::start().await;
        mount_token(&server, reply, 1).await;
        let mut c = config(&server);
        c.query = Some("acme".to_string());
        let err = Reddit::new(&c)
            .unwrap()
            .fetch(&fetcher(), &SourceState::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Status { status: 401, .. }),
            "{err:?}"
        );
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "no listing without a token"
        );
    }
}

async fn listing_error(reply: ResponseTemplate) -> FetchError {
    let server = MockServer::start().await;
    mount_token(&server, json_reply("access_token.json"), 1).await;
    Mock::given(path("/r/rust/new"))
        .respond_with(reply)
        .mount(&server)
        .await;
    let mut c = config(&server);
    c.subreddits = vec!["rust".to_string()];
    Reddit::new(&c)
        .unwrap()
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn error_statuses_are_returned() {
    // The recorded 403 body.
    let err = listing_error(
        ResponseTemplate::new(403).set_body_raw(file("forbidden_403.json"), "application/json"),
    )
    .await;
    assert!(
        matches!(err, FetchError::Status { status: 403, .. }),
        "{err:?}"
    );
    let err = listing_error(
        ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found", "error": 404})),
    )
    .await;
    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{err:?}"
    );
    let err = listing_error(
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "30")
            .set_body_string("Too Many Requests"),
    )
    .await;
    assert!(
        matches!(err, FetchError::Status { status: 429, .. }),
        "{err:?}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn a_block_page_truncated_json_and_a_wrong_shape() {
    let err = listing_error(ResponseTemplate::new(403).set_body_raw(
        "<!doctype html><html><head><title>whoa there, pardner!</title></head><body>blocked</body></html>",
        "text/html",
    ))
    .await;
    assert!(
        matches!(err, FetchError::Unexpected(ref m) if m.contains("pardner")),
        "{err:?}"
    );
    let err = listing_error(ResponseTemplate::new(200).set_body_raw(
        r#"{"kind": "Listing", "data": {"children": [{"kind": "t3", "#,
        "application/json",
    ))
    .await;
    assert!(matches!(err, FetchError::Parse(_)), "{err:?}");
    let err = listing_error(
        ResponseTemplate::new(200).set_body_json(json!({"kind": "Listing", "items": []})),
    )
    .await;
    assert!(matches!(err, FetchError::Parse(_)), "{err:?}");
}

#[tokio::test]
async fn an_empty_listing_keeps_the_cursor() {
    let server = MockServer::start().await;
    mount_token(&server, json_reply("access_token.json"), 1).await;
    Mock::given(path("/r/rust/new"))
        .respond_with(json_reply("empty_listing.json"))
        .mount(&server)
        .await;
    let mut c = config(&server);
    c.subreddits = vec!["rust".to_string()];
    let state = SourceState {
        cursor: Some(r#"{"newest":1767225600.0}"#.to_string()),
        ..SourceState::default()
    };
    let out = Reddit::new(&c)
        .unwrap()
        .fetch(&fetcher(), &state)
        .await
        .unwrap();
    assert!(out.mentions.is_empty());
    assert_eq!(newest(&out.state), Some(1767225600.0));
}

fn rss_config(server: &MockServer) -> RedditConfig {
    RedditConfig {
        client_id: None,
        client_secret: None,
        ..config(server)
    }
}

#[tokio::test]
async fn without_credentials_rss_is_read_at_most_once_a_minute() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/r/homelab/new/.rss"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"r1\"")
                .set_body_raw(
                    file("r_homelab_new.rss"),
                    "application/atom+xml; charset=UTF-8",
                ),
        )
        .mount(&server)
        .await;
    let mut c = rss_config(&server);
    c.subreddits = vec!["homelab".to_string()];
    let reddit = Reddit::new(&c).unwrap();
    let http = fetcher();
    let out = reddit.fetch(&http, &SourceState::default()).await.unwrap();
    let notice = out.notice.clone().expect("a notice");
    assert!(notice.degraded);
    assert_eq!(notice.message, RSS_NOTICE);
    assert_eq!(out.mentions.len(), 25);
    let m = &out.mentions[0];
    assert_eq!(m.platform_id, "t3_157kyrd");
    assert_eq!(m.kind, MentionKind::Post);
    assert_eq!(
        m.title.as_deref(),
        Some("Any reason to keep 1G connections to my servers?")
    );
    assert_eq!(m.author.handle.as_deref(), Some("u/Remarkable_Housing61"));
    assert_eq!(m.engagement.score, None, "RSS has no scores");
    assert!(m.text.contains("40G switch"), "{:?}", m.text);
    assert_eq!(out.state.etag.as_deref(), Some("\"r1\""));
    assert!(newest(&out.state).is_some());

    // A poll within the minute sends nothing and changes nothing.
    let again = reddit.fetch(&http, &out.state).await.unwrap();
    assert!(again.mentions.is_empty());
    assert_eq!(again.state, out.state);
    assert!(again.notice.is_some_and(|n| n.degraded));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn rss_listings_rotate_one_per_poll() {
    let server = MockServer::start().await;
    for p in ["/r/rust/search.rss", "/r/rust/comments/.rss"] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(file("r_homelab_new.rss"), "application/atom+xml"),
            )
            .mount(&server)
            .await;
    }
    let mut c = rss_config(&server);
    c.query = Some("acme".to_string());
    c.subreddits = vec!["rust".to_string()];
    c.comments = true;
    let reddit = Reddit::new(&c).unwrap();
    let http = fetcher();
    reddit.fetch(&http, &SourceState::default()).await.unwrap();
    // Step the clock past the minute without waiting.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(61)).await;
    tokio::time::resume();
    reddit.fetch(&http, &SourceState::default()).await.unwrap();
    let seen: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{}?{}", r.url.path(), r.url.query().unwrap_or_default()))
        .collect();
    assert_eq!(
        seen,
        [
            "/r/rust/search.rss?q=acme&sort=new&restrict_sr=1",
            "/r/rust/comments/.rss?"
        ]
    );
}

#[tokio::test]
async fn rss_search_without_subreddits() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search.rss"))
        .and(query_param("q", "acme cloud"))
        .and(query_param("sort", "new"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "60"))
        .expect(1)
        .mount(&server)
        .await;
    let mut c = rss_config(&server);
    c.query = Some("acme cloud".to_string());
    let err = Reddit::new(&c)
        .unwrap()
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 429, .. }),
        "{err:?}"
    );
}

/// A search listing of posts by `authors` (`None`: no author field), all about `acme`.
fn posts_by(authors: &[Option<&str>]) -> ResponseTemplate {
    let children: Vec<Value> = authors
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut data = json!({
                "name": format!("t3_k{i}"), "id": format!("k{i}"), "subreddit": "rust",
                "title": format!("acme {i}"), "selftext": "", "score": 1, "num_comments": 0,
                "permalink": format!("/r/rust/comments/k{i}/acme/"),
                "created_utc": 1767225600.0 - i as f64,
            });
            if let Some(a) = a {
                data["author"] = json!(a);
            }
            json!({"kind": "t3", "data": data})
        })
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({"kind": "Listing", "data": {
        "after": null, "before": null, "dist": children.len(), "modhash": "", "children": children}}))
}

/// Reddit's `t2` about reply.
fn about(name: &str, total: Option<i64>, link: i64, comment: i64) -> ResponseTemplate {
    let mut data = json!({"name": name, "id": "abc12", "link_karma": link,
        "comment_karma": comment, "is_suspended": false, "created_utc": 1300000000.0});
    if let Some(t) = total {
        data["total_karma"] = json!(t);
    }
    ResponseTemplate::new(200).set_body_json(json!({"kind": "t2", "data": data}))
}

/// An OAuth source searching `acme`, its token served, the search answered with `listing`.
async fn searching(server: &MockServer, listing: ResponseTemplate) -> Reddit {
    mount_token(server, json_reply("access_token.json"), 1).await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(listing)
        .mount(server)
        .await;
    let mut c = config(server);
    c.query = Some("acme".to_string());
    Reddit::new(&c).unwrap()
}

/// The user names whose `about` was asked for, in order.
async fn about_lookups(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.url
                .path()
                .strip_prefix("/user/")?
                .strip_suffix("/about")
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn author_karma_comes_from_the_about_reply_once() {
    let server = MockServer::start().await;
    let reddit = searching(&server, json_reply("r_all_search.json")).await;
    // `total_karma` is preferred to the sum of the two.
    Mock::given(method("GET"))
        .and(path("/user/dClauzel/about"))
        .and(header_is("authorization", BEARER))
        .and(query_param("raw_json", "1"))
        .respond_with(about("dClauzel", Some(5000), 100, 200))
        .expect(1)
        .mount(&server)
        .await;
    // Without it (older accounts' replies), link + comment karma.
    Mock::given(method("GET"))
        .and(path("/user/nmtake/about"))
        .and(header_is("authorization", BEARER))
        .respond_with(about("nmtake", None, 30, 12))
        .expect(1)
        .mount(&server)
        .await;
    let http = fetcher();
    for _ in 0..2 {
        let out = reddit.fetch(&http, &SourceState::default()).await.unwrap();
        let reach = |handle: &str| {
            out.mentions
                .iter()
                .find(|m| m.author.handle.as_deref() == Some(handle))
                .unwrap()
                .author
                .reach
        };
        assert_eq!(reach("u/dClauzel"), Some(5000));
        assert_eq!(reach("u/nmtake"), Some(42));
        assert_eq!(
            reach("u/Ouiski"),
            None,
            "a 404 (unmatched here) is no reach"
        );
    }
    server.verify().await;
    // Six distinct authors, each asked once over both polls (404s are cached too).
    let asked = about_lookups(&server).await;
    assert_eq!(asked.len(), 6, "{asked:?}");
}

#[tokio::test]
async fn deleted_and_missing_authors_are_not_looked_up() {
    let server = MockServer::start().await;
    let reddit = searching(
        &server,
        posts_by(&[Some("[deleted]"), None, Some("alice"), Some("alice")]),
    )
    .await;
    Mock::given(path("/user/alice/about"))
        .respond_with(about("alice", Some(77), 50, 27))
        .expect(1)
        .mount(&server)
        .await;
    let out = reddit
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    let reach: Vec<Option<u64>> = out.mentions.iter().map(|m| m.author.reach).collect();
    assert_eq!(reach, [None, None, Some(77), Some(77)]);
    assert_eq!(about_lookups(&server).await, ["alice"]);
}

/// Answers every `about` with total karma = the length of the name times 100.
struct Karma;

impl wiremock::Respond for Karma {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let name = req.url.path().split('/').nth(2).unwrap_or_default();
        about(name, Some(name.len() as i64 * 100), 0, 0)
    }
}

#[tokio::test]
async fn at_most_ten_authors_are_looked_up_per_poll() {
    let server = MockServer::start().await;
    let authors: Vec<String> = (1..=12).map(|i| format!("user{}", "x".repeat(i))).collect();
    let names: Vec<Option<&str>> = authors.iter().map(|a| Some(a.as_str())).collect();
    let reddit = searching(&server, posts_by(&names)).await;
    Mock::given(path_regex("^/user/[^/]+/about$"))
        .respond_with(Karma)
        .mount(&server)
        .await;
    let http = fetcher();
    let with_reach = |out: &earshot_connectors::FetchOutcome| {
        out.mentions
            .iter()
            .filter(|m| {
                let name = m.author.handle.as_deref().unwrap().trim_start_matches("u/");
                m.author.reach == Some(name.len() as u64 * 100)
            })
            .count()
    };
    let out = reddit.fetch(&http, &SourceState::default()).await.unwrap();
    assert_eq!(out.mentions.len(), 12);
    let first = about_lookups(&server).await;
    assert_eq!(first.len(), 10, "{first:?}");
    assert_eq!(with_reach(&out), 10);

    let out = reddit.fetch(&http, &SourceState::default()).await.unwrap();
    let mut all = about_lookups(&server).await;
    assert_eq!(all.len(), 12, "the remaining two, nobody twice: {all:?}");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 12);
    assert_eq!(with_reach(&out), 12);
}

#[tokio::test]
async fn failed_lookups_leave_no_reach_and_the_poll_succeeds() {
    let server = MockServer::start().await;
    let reddit = searching(
        &server,
        posts_by(&[Some("broken"), Some("gone"), Some("walled")]),
    )
    .await;
    // A 500 is not cached: asked again next poll.
    Mock::given(path("/user/broken/about"))
        .respond_with(ResponseTemplate::new(500))
        .expect(2)
        .mount(&server)
        .await;
    // A 404 (Reddit's reply for an unknown user) is an answer: cached.
    Mock::given(path("/user/gone/about"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found", "error": 404})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/user/walled/about"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html")
                .set_body_string("<!doctype html><html><body>blocked</body></html>"),
        )
        .expect(2)
        .mount(&server)
        .await;
    let http = fetcher();
    for _ in 0..2 {
        let out = reddit.fetch(&http, &SourceState::default()).await.unwrap();
        assert_eq!(out.mentions.len(), 3);
        assert!(out.mentions.iter().all(|m| m.author.reach.is_none()));
    }
    server.verify().await;
}

#[tokio::test]
async fn a_429_stops_the_lookups_of_this_poll() {
    let server = MockServer::start().await;
    let reddit = searching(&server, posts_by(&[Some("aa"), Some("bb"), Some("cc")])).await;
    Mock::given(path_regex("^/user/"))
        .respond_with(ResponseTemplate::new(429))
        .mount(&server)
        .await;
    let out = reddit
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert!(out.mentions.iter().all(|m| m.author.reach.is_none()));
    assert_eq!(about_lookups(&server).await, ["aa"]);
}

#[tokio::test]
async fn rss_mode_looks_up_no_author() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/r/homelab/new/.rss"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(file("r_homelab_new.rss"), "application/atom+xml"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path_regex("^/user/"))
        .respond_with(about("x", Some(1), 0, 0))
        .expect(0)
        .mount(&server)
        .await;
    let mut c = rss_config(&server);
    c.subreddits = vec!["homelab".to_string()];
    let out = Reddit::new(&c)
        .unwrap()
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 25);
    assert!(out.mentions[0].author.handle.is_some(), "authors are known");
    assert!(out.mentions.iter().all(|m| m.author.reach.is_none()));
    server.verify().await;
}
