//! The Mastodon connector against local servers replaying real Mastodon replies
//! (`tests/data/mastodon/`, recorded by Mastodon.py against Mastodon 4.6 and mastodon.social).

mod common;

use chrono::{TimeZone, Utc};
use earshot_connectors::mastodon::{Mastodon, MastodonConfig};
use earshot_connectors::{FetchError, FetchOutcome, MentionKind, SourceState};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::{data, fetcher};

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(data(&format!("mastodon/{name}"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(data(&format!("mastodon/{name}"))).unwrap()
}

fn config(v: Value) -> MastodonConfig {
    serde_json::from_value(v).unwrap()
}

fn connector(v: Value) -> Mastodon {
    let c = config(v);
    assert_eq!(c.validate(), vec![], "test config is valid");
    Mastodon::new(&c).unwrap()
}

async fn poll(m: &Mastodon, state: &SourceState) -> Result<FetchOutcome, FetchError> {
    m.fetch(&fetcher(), state).await
}

fn cursor(out: &FetchOutcome) -> Value {
    serde_json::from_str(out.state.cursor.as_deref().unwrap()).unwrap()
}

fn key(server: &MockServer) -> String {
    server.uri().trim_start_matches("http://").to_string()
}

fn json_reply(body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn tag_path(tag: &str) -> String {
    format!("/api/v1/timelines/tag/{tag}")
}

/// A status of a fixture with another (instance-local) id, as another instance would serve it.
fn with_id(mut status: Value, id: &str) -> Value {
    status["id"] = json!(id);
    status
}

#[tokio::test]
async fn hashtag_timeline_post_is_normalised() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(tag_path("hoot")))
        .and(query_param("limit", "40"))
        .and(query_param_is_missing("min_id"))
        .respond_with(json_reply(&fixture("tag_timeline_hoot.json")))
        .expect(1)
        .mount(&server)
        .await;
    let m = connector(json!({"base_url": server.uri(), "hashtags": ["hoot"]}));
    let out = poll(&m, &SourceState::default()).await.unwrap();
    assert_eq!(out.notice, None);
    assert_eq!(out.mentions.len(), 1);
    let p = &out.mentions[0];
    assert_eq!(
        p.platform_id,
        "http://localhost:3000/ap/users/117020566092212359/statuses/117020593741189701"
    );
    assert_eq!(
        p.url.as_deref(),
        Some("http://localhost:3000/@mastodonpy_test_2/117020593741189701")
    );
    // A local account: the handle is made absolute with the instance's host.
    assert_eq!(
        p.author.handle.as_deref(),
        Some("@mastodonpy_test_2@127.0.0.1")
    );
    assert_eq!(p.author.display_name, None, "an empty display name is none");
    assert_eq!(p.author.reach, Some(0));
    assert_eq!(
        p.author.url.as_deref(),
        Some("http://localhost:3000/@mastodonpy_test_2")
    );
    assert_eq!(p.title, None, "no spoiler text, no title");
    assert_eq!(p.text, "#hoot (hashtag toot)");
    assert_eq!(
        p.created_at,
        Some(
            Utc.with_ymd_and_hms(2026, 8, 1, 13, 55, 55).unwrap()
                + chrono::Duration::milliseconds(867)
        )
    );
    assert_eq!(p.kind, MentionKind::Post);
    assert_eq!(p.conversation.parent_id, None);
    assert_eq!(
        (
            p.engagement.likes,
            p.engagement.replies,
            p.engagement.reposts
        ),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!(p.lang.as_deref(), Some("ja"));
    assert_eq!(
        cursor(&out),
        json!({"min_id": {key(&server): {"hoot": "117020593741189701"}}})
    );
}

#[tokio::test]
async fn keyword_search_sends_the_token_and_reads_replies_as_comments() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/search"))
        .and(query_param("q", "halcy"))
        .and(query_param("type", "statuses"))
        .and(query_param("limit", "40"))
        .and(header("authorization", "Bearer user-token-1"))
        .respond_with(json_reply(&fixture("search_v2_halcy.json")))
        .expect(1)
        .mount(&server)
        .await;
    let m = connector(json!({
        "base_url": server.uri(), "query": "halcy", "tokens": {server.uri(): "user-token-1"}
    }));
    let out = poll(&m, &SourceState::default()).await.unwrap();
    assert_eq!(out.mentions.len(), 2, "only the statuses, not the accounts");
    let c = &out.mentions[1];
    assert_eq!(
        c.platform_id,
        "https://social.sublingual.xyz/users/Jo/statuses/116388107097123650"
    );
    assert_eq!(
        c.url.as_deref(),
        Some("https://social.sublingual.xyz/@Jo/116388107097123650")
    );
    // A remote account keeps its own domain.
    assert_eq!(
        c.author.handle.as_deref(),
        Some("@Jo@social.sublingual.xyz")
    );
    assert_eq!(
        c.author.display_name.as_deref(),
        Some("Sublingual Multimedia")
    );
    assert_eq!(c.author.reach, Some(893));
    assert_eq!(
        c.author.url.as_deref(),
        Some("https://social.sublingual.xyz/@Jo")
    );
    assert_eq!(
        c.text,
        "@halcy me when im riding my horse in stop and go traffic"
    );
    assert_eq!(c.kind, MentionKind::Comment);
    // The parent did not come in this poll: its instance-local id is kept, and names the
    // conversation of every reply to it.
    assert_eq!(
        c.conversation.parent_id.as_deref(),
        Some("116387872475672523")
    );
    assert_eq!(c.conversation.thread_id, c.conversation.parent_id);
    assert_eq!(
        (
            c.engagement.likes,
            c.engagement.replies,
            c.engagement.reposts
        ),
        (Some(4), Some(0), Some(1))
    );
    assert_eq!(
        c.created_at,
        Some(Utc.with_ymd_and_hms(2026, 4, 11, 21, 6, 15).unwrap())
    );
    assert_eq!(c.lang.as_deref(), Some("en"));
    assert!(
        out.mentions[0]
            .text
            .ends_with("youtube.com/watch?v=MWCSw_cNxKc"),
        "{}",
        out.mentions[0].text
    );
}

#[tokio::test]
async fn spoiler_text_is_the_title() {
    let server = MockServer::start().await;
    Mock::given(path(tag_path("thisisahashtag")))
        .respond_with(json_reply(&json!([fixture("status_spoiler.json")])))
        .mount(&server)
        .await;
    // Hashtags are case-insensitive: asked for in lowercase.
    let m = connector(json!({"base_url": server.uri(), "hashtags": ["ThisIsAHashtag"]}));
    let out = poll(&m, &SourceState::default()).await.unwrap();
    let p = &out.mentions[0];
    assert_eq!(p.title.as_deref(), Some("test post for mastodon.py stuff"));
    assert!(
        p.text.starts_with("@halcy you're a doo-doo head"),
        "{}",
        p.text
    );
    assert_eq!(
        p.author.handle.as_deref(),
        Some("@halcy@icosahedron.website")
    );
    assert_eq!(p.author.reach, Some(3553));
    assert_eq!(p.engagement.likes, Some(1));
}

#[tokio::test]
async fn a_boost_is_replaced_by_the_boosted_status() {
    let server = MockServer::start().await;
    let inner = fixture("tag_timeline_hoot.json")[0].clone();
    // The boost wrapper as a timeline serves it: its own id, uri and account, no content.
    let boost = json!({
        "id": "117020599999999999",
        "uri": "http://localhost:3000/ap/users/1/statuses/117020599999999999/activity",
        "url": null, "content": "", "account": {"acct": "booster", "followers_count": 7},
        "reblog": inner,
    });
    Mock::given(path(tag_path("hoot")))
        .respond_with(json_reply(&json!([boost])))
        .mount(&server)
        .await;
    let m = connector(json!({"base_url": server.uri(), "hashtags": ["hoot"]}));
    let out = poll(&m, &SourceState::default()).await.unwrap();
    assert_eq!(out.mentions.len(), 1);
    let p = &out.mentions[0];
    assert_eq!(p.platform_id, inner["uri"].as_str().unwrap());
    assert_eq!(p.text, "#hoot (hashtag toot)");
    assert_eq!(
        p.author.handle.as_deref(),
        Some("@mastodonpy_test_2@127.0.0.1")
    );
    // The cursor follows the timeline's own ids, the wrapper's.
    assert_eq!(
        cursor(&out)["min_id"][key(&server)]["hoot"],
        "117020599999999999"
    );
}

#[tokio::test]
async fn a_parent_read_in_the_same_poll_is_named_by_its_uri() {
    let server = MockServer::start().await;
    let context = fixture("context.json");
    let reply = context["descendants"][0].clone();
    // The context's own status is not in the recorded reply: the ancestor stands in for it,
    // with the id the reply answers.
    let mut parent = context["ancestors"][0].clone();
    parent["id"] = reply["in_reply_to_id"].clone();
    Mock::given(path(tag_path("test")))
        .respond_with(json_reply(&json!([reply, parent])))
        .mount(&server)
        .await;
    let m = connector(json!({"base_url": server.uri(), "hashtags": ["test"]}));
    let out = poll(&m, &SourceState::default()).await.unwrap();
    let r = &out.mentions[0];
    assert_eq!(r.text, "final status");
    assert_eq!(r.kind, MentionKind::Comment);
    assert_eq!(
        r.conversation.parent_id.as_deref(),
        Some("https://mastodon.social/users/halcy/statuses/110446983178245440")
    );
    assert_eq!(out.mentions[1].kind, MentionKind::Post);
    // The reply's conversation is the post it answers, whose own key is its uri: one group.
    let p = &out.mentions[1];
    assert_eq!(
        r.conversation.thread_id.as_deref(),
        Some(p.platform_id.as_str())
    );
    assert_eq!(p.conversation.thread_id, None);
}

#[tokio::test]
async fn each_instance_and_tag_keeps_its_own_cursor() {
    let a = MockServer::start().await;
    let b = MockServer::start().await;
    let status = fixture("tag_timeline_hoot.json")[0].clone();
    // Instance a: the cursor is sent, and the newer page moves it (ids compared as numbers:
    // "100" is newer than "99").
    Mock::given(path(tag_path("hoot")))
        .and(query_param("min_id", "99"))
        .respond_with(json_reply(&json!([with_id(status.clone(), "100")])))
        .expect(1)
        .mount(&a)
        .await;
    // Tag "acme" on a has no cursor yet: the newest page.
    Mock::given(path(tag_path("acme")))
        .and(query_param_is_missing("min_id"))
        .respond_with(json_reply(&json!([])))
        .expect(1)
        .mount(&a)
        .await;
    // Instance b: its own cursor; an older id in the reply never moves it back.
    Mock::given(path(tag_path("hoot")))
        .and(query_param("min_id", "5000"))
        .respond_with(json_reply(&json!([with_id(status.clone(), "4999")])))
        .expect(1)
        .mount(&b)
        .await;
    Mock::given(path(tag_path("acme")))
        .and(query_param("min_id", "7"))
        .respond_with(json_reply(&json!([with_id(status, "12")])))
        .expect(1)
        .mount(&b)
        .await;
    let m = connector(json!({
        "instances": [b.uri()], "base_url": a.uri(), "hashtags": ["hoot", "acme"]
    }));
    let state = SourceState {
        cursor: Some(
            json!({"min_id": {key(&a): {"hoot": "99"}, key(&b): {"hoot": "5000", "acme": "7"}}})
                .to_string(),
        ),
        ..Default::default()
    };
    let out = poll(&m, &state).await.unwrap();
    // One post, on two instances under two tags: one mention.
    assert_eq!(out.mentions.len(), 1);
    assert_eq!(
        cursor(&out),
        json!({"min_id": {key(&a): {"hoot": "100"}, key(&b): {"hoot": "5000", "acme": "12"}}})
    );
}

#[tokio::test]
async fn the_same_post_on_two_instances_is_one_mention_with_the_highest_counts() {
    let a = MockServer::start().await;
    let b = MockServer::start().await;
    let status = fixture("status_spoiler.json");
    let mut stale = with_id(status.clone(), "9001");
    stale["favourites_count"] = json!(0);
    stale["replies_count"] = json!(3);
    Mock::given(path(tag_path("acme")))
        .respond_with(json_reply(&json!([status])))
        .mount(&a)
        .await;
    Mock::given(path(tag_path("acme")))
        .respond_with(json_reply(&json!([stale])))
        .mount(&b)
        .await;
    let m = connector(json!({"instances": [a.uri(), b.uri()], "hashtags": ["acme"]}));
    let out = poll(&m, &SourceState::default()).await.unwrap();
    assert_eq!(out.mentions.len(), 1);
    let p = &out.mentions[0];
    assert_eq!(
        p.platform_id,
        "https://icosahedron.website/users/halcy/statuses/110446222386355655"
    );
    assert_eq!(
        (p.engagement.likes, p.engagement.replies),
        (Some(1), Some(3))
    );
    let c = cursor(&out);
    assert_eq!(c["min_id"][key(&a)]["acme"], "110446223051565765");
    assert_eq!(c["min_id"][key(&b)]["acme"], "9001");
}

#[tokio::test]
async fn search_runs_only_where_a_token_is() {
    let a = MockServer::start().await;
    let b = MockServer::start().await;
    for s in [&a, &b] {
        Mock::given(path(tag_path("acme")))
            .respond_with(json_reply(&json!([])))
            .expect(1)
            .mount(s)
            .await;
    }
    Mock::given(path("/api/v2/search"))
        .and(header("authorization", "Bearer tok-a"))
        .respond_with(json_reply(&fixture("search_v2_halcy.json")))
        .expect(1)
        .mount(&a)
        .await;
    Mock::given(path("/api/v2/search"))
        .respond_with(json_reply(&fixture("search_v2_halcy.json")))
        .expect(0)
        .mount(&b)
        .await;
    let m = connector(json!({
        "instances": [a.uri(), b.uri()], "hashtags": ["acme"], "query": "acme",
        "tokens": {key(&a): "tok-a"}
    }));
    let out = poll(&m, &SourceState::default()).await.unwrap();
    assert_eq!(out.mentions.len(), 2);
    assert_eq!(out.notice, None);
}

/// Serves `reply` for every request to `server`.
async fn failing(server: &MockServer, reply: ResponseTemplate) {
    Mock::given(method("GET"))
        .respond_with(reply)
        .mount(server)
        .await;
}

fn html_page(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>blocked</body></html>",
        "text/html; charset=utf-8",
    )
}

#[tokio::test]
async fn failing_instances_degrade_the_poll_without_losing_the_others() {
    let good = MockServer::start().await;
    let unauthorised = MockServer::start().await;
    let missing = MockServer::start().await;
    let blocked = MockServer::start().await;
    Mock::given(path(tag_path("hoot")))
        .respond_with(json_reply(&fixture("tag_timeline_hoot.json")))
        .mount(&good)
        .await;
    failing(
        &unauthorised,
        ResponseTemplate::new(401).set_body_raw(fixture_text("error_401.json"), "application/json"),
    )
    .await;
    failing(
        &missing,
        ResponseTemplate::new(404).set_body_raw(fixture_text("error_404.json"), "application/json"),
    )
    .await;
    failing(&blocked, html_page(200)).await;
    let m = connector(json!({
        "instances": [unauthorised.uri(), missing.uri(), blocked.uri()],
        "base_url": good.uri(), "hashtags": ["hoot"]
    }));
    let state = SourceState {
        cursor: Some(json!({"min_id": {key(&missing): {"hoot": "42"}}}).to_string()),
        ..Default::default()
    };
    let out = poll(&m, &state).await.unwrap();
    assert_eq!(out.mentions.len(), 1);
    let notice = out.notice.clone().expect("a notice");
    assert!(notice.degraded);
    let msg = notice.message;
    assert!(msg.starts_with("3 of 4 requests failed"), "{msg}");
    assert!(
        msg.contains(&format!("{} #hoot: HTTP 401", key(&unauthorised))),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{} #hoot: HTTP 404", key(&missing))),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{} #hoot: unexpected content", key(&blocked))),
        "{msg}"
    );
    // The failing instance's cursor is kept; the good one's is new.
    let c = cursor(&out);
    assert_eq!(c["min_id"][key(&missing)]["hoot"], "42");
    assert_eq!(c["min_id"][key(&good)]["hoot"], "117020593741189701");
}

async fn only_failure(reply: ResponseTemplate) -> FetchError {
    let server = MockServer::start().await;
    failing(&server, reply).await;
    let m = connector(json!({"base_url": server.uri(), "hashtags": ["acme"]}));
    poll(&m, &SourceState::default()).await.unwrap_err()
}

#[tokio::test]
async fn when_every_request_fails_the_poll_fails() {
    let e = only_failure(
        ResponseTemplate::new(401).set_body_raw(fixture_text("error_401.json"), "application/json"),
    )
    .await;
    assert!(matches!(e, FetchError::Status { status: 401, .. }), "{e:?}");
    let e = only_failure(
        ResponseTemplate::new(404).set_body_raw(fixture_text("error_404.json"), "application/json"),
    )
    .await;
    assert!(matches!(e, FetchError::Status { status: 404, .. }), "{e:?}");
    let e = only_failure(html_page(403)).await;
    assert!(matches!(e, FetchError::Unexpected(_)), "{e:?}");
    let e = only_failure(html_page(200)).await;
    assert!(matches!(e, FetchError::Unexpected(_)), "{e:?}");
    let e = only_failure(ResponseTemplate::new(429).insert_header("retry-after", "120")).await;
    assert_eq!(
        e,
        FetchError::Status {
            status: 429,
            retry_after: Some(std::time::Duration::from_secs(120))
        }
    );
    let truncated = &fixture_text("tag_timeline_hoot.json")[..700];
    let e =
        only_failure(ResponseTemplate::new(200).set_body_raw(truncated, "application/json")).await;
    assert!(matches!(e, FetchError::Parse(_)), "{e:?}");
    // JSON, but not a timeline (a search reply where a list was expected).
    let e = only_failure(json_reply(&fixture("search_v2_halcy.json"))).await;
    assert!(
        matches!(e, FetchError::Parse(ref m) if m.contains("list of statuses")),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_empty_timeline_keeps_the_cursor() {
    let server = MockServer::start().await;
    Mock::given(path(tag_path("acme")))
        .and(query_param("min_id", "117020593741189701"))
        .respond_with(json_reply(&json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let m = connector(json!({"base_url": server.uri(), "hashtags": ["acme"]}));
    let before = json!({"min_id": {key(&server): {"acme": "117020593741189701"}}});
    let state = SourceState {
        cursor: Some(before.to_string()),
        ..Default::default()
    };
    let out = poll(&m, &state).await.unwrap();
    assert!(out.mentions.is_empty());
    assert_eq!(out.notice, None);
    assert_eq!(cursor(&out), before);
}

#[tokio::test]
async fn the_cursor_of_one_poll_is_sent_by_the_next() {
    let server = MockServer::start().await;
    Mock::given(path(tag_path("hoot")))
        .and(query_param_is_missing("min_id"))
        .respond_with(json_reply(&fixture("tag_timeline_hoot.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(tag_path("hoot")))
        .and(query_param("min_id", "117020593741189701"))
        .respond_with(json_reply(&json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let m = connector(json!({"base_url": server.uri(), "hashtags": ["hoot"]}));
    let first = poll(&m, &SourceState::default()).await.unwrap();
    let second = poll(&m, &first.state).await.unwrap();
    assert!(second.mentions.is_empty());
}

#[test]
fn validate_names_each_problem() {
    let problems = |v: Value| -> Vec<(&'static str, String)> {
        config(v)
            .validate()
            .into_iter()
            .map(|p| (p.key, p.message))
            .collect()
    };
    assert_eq!(
        problems(json!({"instances": ["mastodon.social"], "hashtags": ["acme"]})),
        vec![]
    );
    let p = problems(json!({"hashtags": ["acme"]}));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, "instances");
    let p = problems(json!({"instances": ["mastodon.social"]}));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, "hashtags");
    let p = problems(json!({"instances": ["mastodon.social"], "hashtags": ["#acme", "two words"]}));
    assert_eq!(p.len(), 2);
    assert!(p[0].1.contains("write \"acme\""), "{p:?}");
    assert!(p[1].1.contains("not a hashtag"), "{p:?}");
    let p = problems(json!({"instances": ["mastodon.social"], "query": "acme"}));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, "tokens");
    let p = problems(json!({
        "instances": ["mastodon.social"], "query": "acme", "tokens": {"fosstodon.org": "t"}
    }));
    assert_eq!(p.len(), 1);
    assert!(
        p[0].1
            .contains("\"fosstodon.org\" is not one of the configured"),
        "{p:?}"
    );
    // A token keyed by URL names the instance keyed by host, and base_url is an instance.
    assert_eq!(
        problems(json!({
            "instances": ["mastodon.social"], "base_url": "http://127.0.0.1:8080",
            "query": "acme", "tokens": {"https://mastodon.social/": "t", "127.0.0.1:8080": "u"}
        })),
        vec![]
    );
    let p = problems(json!({"instances": ["ftp://x.org"], "hashtags": ["acme"]}));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, "instances");
}
