//! The Bluesky connector against a local server replaying real `bsky.social` replies
//! (`tests/data/bluesky/`, recorded by bskyr in 2025).

mod common;

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use earshot_connectors::bluesky::{Bluesky, BlueskyConfig};
use earshot_connectors::{FetchError, FetchOutcome, MentionKind, SourceState};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use common::{data, fetcher};

const CREATE: &str = "/xrpc/com.atproto.server.createSession";
const REFRESH: &str = "/xrpc/com.atproto.server.refreshSession";
const SEARCH: &str = "/xrpc/app.bsky.feed.searchPosts";
const PROFILES: &str = "/xrpc/app.bsky.actor.getProfiles";

/// The DID of `mcpli.bsky.social`, author of several posts of the recorded search.
const MCPLI: &str = "did:plc:7nagdvjqrzaquzk7mueohne5";

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(data(&format!("bluesky/{name}"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A JWT whose payload carries `exp` (the signature is never checked by the client).
fn jwt(name: &str, exp: i64) -> String {
    let b = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.{}",
        b(r#"{"typ":"at+jwt","alg":"ES256K"}"#.to_string()),
        b(format!(
            r#"{{"scope":"com.atproto.appPass","sub":"did:plc:me","exp":{exp},"jti":"{name}"}}"#
        )),
        name
    )
}

/// Far in the future: never expired.
const LATER: i64 = 4_102_444_800;

fn session(access: &str, refresh: &str) -> Value {
    json!({
        "did": "did:plc:me", "handle": "acme.bsky.social", "email": "me@example.com",
        "accessJwt": access, "refreshJwt": refresh, "active": true
    })
}

fn config(v: Value) -> BlueskyConfig {
    serde_json::from_value(v).unwrap()
}

fn connector(server: &MockServer) -> Bluesky {
    let c = config(json!({
        "query": "redistricting", "identifier": "acme.bsky.social",
        "app_password": "abcd-efgh-ijkl-mnop", "base_url": server.uri()
    }));
    assert_eq!(c.validate(), vec![]);
    Bluesky::new(&c).unwrap()
}

async fn poll(b: &Bluesky, state: &SourceState) -> Result<FetchOutcome, FetchError> {
    b.fetch(&fetcher(), state).await
}

/// Mounts a createSession answering with an access token valid until `exp`.
async fn mount_login(server: &MockServer, access: &str, exp: i64, times: u64) {
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(ResponseTemplate::new(200).set_body_json(session(
            &jwt(access, exp),
            &jwt(&format!("{access}-refresh"), LATER),
        )))
        .expect(times)
        .mount(server)
        .await;
}

/// The recorded profile, as if it were the profile of `did`.
fn profiles_for(did: &str, followers: u64) -> Value {
    let mut p = fixture("profiles.json");
    p["profiles"][0]["did"] = json!(did);
    p["profiles"][0]["followersCount"] = json!(followers);
    p
}

async fn mount_profiles(server: &MockServer, body: Value, times: u64) {
    Mock::given(method("GET"))
        .and(path(PROFILES))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(times)
        .mount(server)
        .await;
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn cursor(out: &FetchOutcome) -> Value {
    serde_json::from_str(out.state.cursor.as_deref().unwrap()).unwrap()
}

fn param(req: &Request, name: &str) -> Vec<String> {
    req.url
        .query_pairs()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

#[tokio::test]
async fn posts_and_replies_are_normalised() {
    let server = MockServer::start().await;
    let access = jwt("access-1", LATER);
    Mock::given(method("POST"))
        .and(path(CREATE))
        .and(body_json(
            json!({"identifier": "acme.bsky.social", "password": "abcd-efgh-ijkl-mnop"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(session(&access, "refresh-1")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("q", "redistricting"))
        .and(query_param("sort", "latest"))
        .and(query_param("limit", "100"))
        .and(query_param_is_missing("lang"))
        .and(header("authorization", bearer(&access).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("search_posts.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PROFILES))
        .and(header("authorization", bearer(&access).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(profiles_for(MCPLI, 554)))
        .expect(1)
        .mount(&server)
        .await;
    let before = common::now();
    let out = poll(&connector(&server), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.notice, None);
    assert_eq!(out.mentions.len(), 25);

    // The first poll looks back 24 hours.
    let requests = server.received_requests().await.unwrap();
    let search = requests.iter().find(|r| r.url.path() == SEARCH).unwrap();
    let since: DateTime<Utc> = param(search, "since")[0].parse().unwrap();
    let expected = before - chrono::Duration::hours(24);
    assert!((since - expected).num_seconds().abs() < 60, "{since}");

    // A reply.
    let c = &out.mentions[2];
    assert_eq!(
        c.platform_id,
        "at://did:plc:7nagdvjqrzaquzk7mueohne5/app.bsky.feed.post/3lpjzka2pzc2l"
    );
    assert_eq!(
        c.url.as_deref(),
        Some("https://bsky.app/profile/mcpli.bsky.social/post/3lpjzka2pzc2l")
    );
    assert_eq!(c.author.handle.as_deref(), Some("@mcpli.bsky.social"));
    assert_eq!(
        c.author.display_name.as_deref(),
        Some("Michael Li (李之樸)")
    );
    assert_eq!(c.author.reach, Some(554));
    assert_eq!(
        c.author.url.as_deref(),
        Some("https://bsky.app/profile/did:plc:7nagdvjqrzaquzk7mueohne5")
    );
    assert!(
        c.text
            .starts_with("And last but not least, here's the state defendants trial brief"),
        "{}",
        c.text
    );
    assert_eq!(c.title, None);
    assert_eq!(
        c.created_at,
        Some(
            Utc.with_ymd_and_hms(2025, 5, 19, 16, 46, 41).unwrap()
                + chrono::Duration::milliseconds(792)
        )
    );
    assert_eq!(c.kind, MentionKind::Comment);
    assert_eq!(
        c.conversation.thread_id.as_deref(),
        Some("at://did:plc:7nagdvjqrzaquzk7mueohne5/app.bsky.feed.post/3lpjy3eabqs2l")
    );
    assert_eq!(
        c.conversation.parent_id.as_deref(),
        Some("at://did:plc:7nagdvjqrzaquzk7mueohne5/app.bsky.feed.post/3lpjzgltpa22l")
    );
    assert_eq!(
        (
            c.engagement.likes,
            c.engagement.replies,
            c.engagement.reposts
        ),
        (Some(2), Some(0), Some(0))
    );
    assert_eq!(c.lang.as_deref(), Some("en"));

    // A post (the thread root of the reply above).
    let p = &out.mentions[3];
    assert_eq!(
        p.platform_id,
        "at://did:plc:7nagdvjqrzaquzk7mueohne5/app.bsky.feed.post/3lpjy3eabqs2l"
    );
    assert_eq!(p.kind, MentionKind::Post);
    assert_eq!(p.conversation.thread_id, None);
    assert_eq!(p.conversation.parent_id, None);
    assert_eq!(
        (
            p.engagement.likes,
            p.engagement.replies,
            p.engagement.reposts
        ),
        (Some(13), Some(1), Some(6))
    );
    // Reposts count quotes too.
    let quoted = &out.mentions[10];
    assert_eq!(
        quoted.author.handle.as_deref(),
        Some("@brendannyhan.bsky.social")
    );
    assert_eq!(quoted.engagement.reposts, Some(5 + 1));
    // An author whose profile was not returned has no reach; a post without langs no lang.
    let bot = &out.mentions[0];
    assert_eq!(bot.author.reach, None);
    assert_eq!(bot.lang, None);

    // The cursor is the newest indexedAt.
    assert_eq!(cursor(&out), json!({"since": "2025-05-19T17:10:09.813Z"}));
}

#[tokio::test]
async fn three_polls_log_in_once_and_ask_for_profiles_once() {
    let server = MockServer::start().await;
    mount_login(&server, "access-1", LATER, 1).await;
    // Later polls ask from the newest indexedAt seen, minus ten minutes.
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("since", "2025-05-19T17:00:09.813Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("search_posts.json")))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("search_posts.json")))
        .expect(1)
        .mount(&server)
        .await;
    mount_profiles(&server, profiles_for(MCPLI, 554), 1).await;
    let b = connector(&server);
    let mut state = SourceState::default();
    for _ in 0..3 {
        let out = poll(&b, &state).await.unwrap();
        assert_eq!(out.mentions.len(), 25);
        // Known authors keep their reach from the cache.
        assert_eq!(out.mentions[2].author.reach, Some(554));
        state = out.state;
    }
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_before_use() {
    let server = MockServer::start().await;
    // The first access token expired long ago: used once right after the login, then refreshed.
    mount_login(&server, "access-1", 1_000, 1).await;
    let fresh = jwt("access-2", LATER);
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .and(header(
            "authorization",
            bearer(&jwt("access-1-refresh", LATER)).as_str(),
        ))
        .and(|req: &Request| req.body.is_empty())
        .respond_with(ResponseTemplate::new(200).set_body_json(session(&fresh, "refresh-2")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", bearer(&fresh).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"posts": []})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"posts": []})))
        .expect(1)
        .mount(&server)
        .await;
    let b = connector(&server);
    for _ in 0..3 {
        poll(&b, &SourceState::default()).await.unwrap();
    }
}

#[tokio::test]
async fn an_expired_token_error_refreshes_and_retries_once() {
    let server = MockServer::start().await;
    let stale = jwt("access-1", LATER);
    mount_login(&server, "access-1", LATER, 1).await;
    let fresh = jwt("access-2", LATER);
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .respond_with(ResponseTemplate::new(200).set_body_json(session(&fresh, "refresh-2")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", bearer(&stale).as_str()))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": "ExpiredToken", "message": "Token has expired"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", bearer(&fresh).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("search_posts.json")))
        .expect(1)
        .mount(&server)
        .await;
    mount_profiles(&server, json!({"profiles": []}), 1).await;
    let out = poll(&connector(&server), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 25);
}

#[tokio::test]
async fn a_refused_refresh_logs_in_again() {
    let server = MockServer::start().await;
    mount_login(&server, "access-1", 1_000, 2).await;
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": "ExpiredToken", "message": "Token has expired"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"posts": []})))
        .expect(2)
        .mount(&server)
        .await;
    let b = connector(&server);
    poll(&b, &SourceState::default()).await.unwrap();
    poll(&b, &SourceState::default()).await.unwrap();
}

#[tokio::test]
async fn the_language_filter_is_sent() {
    let server = MockServer::start().await;
    mount_login(&server, "access-1", LATER, 1).await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("lang", "en"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"posts": []})))
        .expect(1)
        .mount(&server)
        .await;
    let c = config(json!({
        "query": "acme", "identifier": "acme.bsky.social", "app_password": "pw",
        "lang": "en", "base_url": server.uri()
    }));
    let out = poll(&Bluesky::new(&c).unwrap(), &SourceState::default())
        .await
        .unwrap();
    // An empty result: nothing, and no cursor to keep yet.
    assert!(out.mentions.is_empty());
    assert_eq!(out.state.cursor, None);
    assert_eq!(out.notice, None);
}

#[tokio::test]
async fn profiles_are_asked_for_in_batches_of_25() {
    let server = MockServer::start().await;
    mount_login(&server, "access-1", LATER, 1).await;
    let template = fixture("search_posts.json")["posts"][3].clone();
    let posts: Vec<Value> = (0..30)
        .map(|i| {
            let mut p = template.clone();
            let did = format!("did:plc:author{i:02}");
            p["uri"] = json!(format!("at://{did}/app.bsky.feed.post/3lpjy3eab{i:02}"));
            p["author"]["did"] = json!(did);
            p
        })
        .collect();
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"posts": posts})))
        .mount(&server)
        .await;
    mount_profiles(&server, profiles_for("did:plc:author29", 77), 2).await;
    let out = poll(&connector(&server), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 30);
    assert_eq!(out.mentions[29].author.reach, Some(77));
    assert_eq!(out.mentions[0].author.reach, None);
    let requests = server.received_requests().await.unwrap();
    let mut sizes: Vec<usize> = requests
        .iter()
        .filter(|r| r.url.path() == PROFILES)
        .map(|r| param(r, "actors").len())
        .collect();
    sizes.sort();
    assert_eq!(sizes, vec![5, 25]);
}

#[tokio::test]
async fn failing_profiles_degrade_the_poll_without_losing_posts() {
    let server = MockServer::start().await;
    mount_login(&server, "access-1", LATER, 1).await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("search_posts.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PROFILES))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let out = poll(&connector(&server), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 25);
    assert!(out.mentions.iter().all(|m| m.author.reach.is_none()));
    let notice = out.notice.unwrap();
    assert!(notice.degraded);
    assert_eq!(notice.message, "follower counts unavailable: HTTP 500");
}

#[tokio::test]
async fn the_cursor_never_moves_back_and_is_sent_minus_the_overlap() {
    let server = MockServer::start().await;
    mount_login(&server, "access-1", LATER, 1).await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("since", "2030-01-01T11:50:00.000Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("search_posts.json")))
        .expect(1)
        .mount(&server)
        .await;
    mount_profiles(&server, json!({"profiles": []}), 1).await;
    let state = SourceState {
        cursor: Some(json!({"since": "2030-01-01T12:00:00Z"}).to_string()),
        ..Default::default()
    };
    let out = poll(&connector(&server), &state).await.unwrap();
    assert_eq!(cursor(&out), json!({"since": "2030-01-01T12:00:00.000Z"}));
}

/// The error of a poll whose search answers `reply` (after a successful login).
async fn search_failure(reply: ResponseTemplate) -> FetchError {
    let server = MockServer::start().await;
    mount_login(&server, "access-1", LATER, 1).await;
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(path(SEARCH))
        .respond_with(reply)
        .mount(&server)
        .await;
    poll(&connector(&server), &SourceState::default())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn error_replies() {
    // The 403 HTML page public.api.bsky.app serves for searchPosts.
    let e = search_failure(ResponseTemplate::new(403).set_body_raw(
        "<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center></body></html>",
        "text/html",
    ))
    .await;
    assert!(matches!(e, FetchError::Unexpected(_)), "{e:?}");
    assert!(e.is_long_lived());
    // An XRPC error that is not about the token: no refresh, the status.
    let e =
        search_failure(ResponseTemplate::new(400).set_body_json(fixture("error_400.json"))).await;
    assert!(matches!(e, FetchError::Status { status: 400, .. }), "{e:?}");
    let e = search_failure(
        ResponseTemplate::new(401)
            .set_body_json(json!({"error": "AuthMissing", "message": "Authentication Required"})),
    )
    .await;
    assert!(matches!(e, FetchError::Status { status: 401, .. }), "{e:?}");
    let e = search_failure(
        ResponseTemplate::new(404)
            .set_body_json(json!({"error": "XRPCNotSupported", "message": "XRPCNotSupported"})),
    )
    .await;
    assert!(matches!(e, FetchError::Status { status: 404, .. }), "{e:?}");
    let e = search_failure(
        ResponseTemplate::new(429)
            .insert_header("ratelimit-limit", "3000")
            .insert_header("ratelimit-remaining", "0")
            .insert_header("ratelimit-reset", "4102444800")
            .set_body_json(json!({"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"})),
    )
    .await;
    assert_eq!(
        e,
        FetchError::Status {
            status: 429,
            retry_after: Some(earshot_connectors::ratelimit::MAX_RETRY_AFTER)
        }
    );
    let text = std::fs::read_to_string(data("bluesky/search_posts.json")).unwrap();
    let e =
        search_failure(ResponseTemplate::new(200).set_body_raw(&text[..2000], "application/json"))
            .await;
    assert!(matches!(e, FetchError::Parse(_)), "{e:?}");
    let e = search_failure(ResponseTemplate::new(200).set_body_json(json!({"feed": []}))).await;
    assert!(
        matches!(e, FetchError::Parse(ref m) if m.contains("posts")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_refused_login_is_the_error_and_never_shows_the_password() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "AuthenticationRequired",
            "message": "Invalid identifier or password: abcd-efgh-ijkl-mnop"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(SEARCH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"posts": []})))
        .expect(0)
        .mount(&server)
        .await;
    let e = poll(&connector(&server), &SourceState::default())
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 401, .. }), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("abcd-efgh"));
}

#[test]
fn validate_names_each_problem() {
    let problems = |v: Value| -> Vec<&'static str> {
        let mut base =
            json!({"query": "acme", "identifier": "acme.bsky.social", "app_password": "pw"});
        for (k, val) in v.as_object().unwrap() {
            base[k] = val.clone();
        }
        config(base).validate().into_iter().map(|p| p.key).collect()
    };
    assert_eq!(problems(json!({})), Vec::<&str>::new());
    assert_eq!(problems(json!({"query": "  "})), vec!["query"]);
    assert_eq!(
        problems(json!({"identifier": "@acme.bsky.social"})),
        vec!["identifier"]
    );
    assert_eq!(problems(json!({"identifier": ""})), vec!["identifier"]);
    assert_eq!(problems(json!({"lang": "english!"})), vec!["lang"]);
    assert_eq!(problems(json!({"lang": "pt-BR"})), Vec::<&str>::new());
    assert_eq!(
        problems(json!({"base_url": "https://public.api.bsky.app"})),
        vec!["base_url"]
    );
    assert_eq!(
        problems(json!({"base_url": "bsky.social"})),
        vec!["base_url"]
    );
}
