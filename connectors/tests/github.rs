//! The GitHub connector against a local server replaying replies shaped as GitHub documents
//! them (`tests/data/github/`): search and per-repository comments, the cursor, paging, auth
//! headers, rate limits (primary and secondary) and the usual failures.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use earshot_connectors::github::{GitHub, GitHubConfig};
use earshot_connectors::secret::Secret;
use earshot_connectors::{FetchError, MentionKind, SourceState};
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use common::{data, fetcher, header_is};

const TOKEN: &str = "ghp_TESTTOKEN123";

fn read(name: &str) -> String {
    std::fs::read_to_string(data(&format!("github/{name}"))).unwrap()
}

fn json(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

fn connector(server: &MockServer, repos: &[&str], token: bool) -> GitHub {
    GitHub::new(&GitHubConfig {
        query: "acme".to_string(),
        repos: repos.iter().map(|r| r.to_string()).collect(),
        token: token.then(|| Secret::Plain(TOKEN.to_string())),
        base_url: Some(server.uri()),
    })
    .unwrap()
}

/// The `q` a search request carried.
fn q_of(req: &Request) -> String {
    req.url
        .query_pairs()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The time in a `created:>=` qualifier.
fn created_since(q: &str) -> DateTime<Utc> {
    let at = q.find("created:>=").expect("a created qualifier") + "created:>=".len();
    q[at..].split(' ').next().unwrap().parse().unwrap()
}

async fn mount_search(server: &MockServer, body: String) {
    Mock::given(method("GET"))
        .and(path("/search/issues"))
        .respond_with(json(body))
        .mount(server)
        .await;
}

#[tokio::test]
async fn issues_prs_and_comments_are_normalised_with_the_right_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search/issues"))
        .and(query_param("sort", "created"))
        .and(query_param("order", "desc"))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .and(header_is("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .and(header_is("authorization", "Bearer ghp_TESTTOKEN123"))
        .respond_with(json(read("search_issues.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/issues/comments"))
        .and(query_param("sort", "created"))
        .and(query_param("direction", "asc"))
        .and(query_param("per_page", "100"))
        .and(header_is("authorization", "Bearer ghp_TESTTOKEN123"))
        .respond_with(json(read("issue_comments.json")))
        .expect(1)
        .mount(&server)
        .await;

    let before = common::now();
    let out = connector(&server, &["acme/widget"], true)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.notice, None, "a token: no notice");
    assert_eq!(out.mentions.len(), 3);

    let issue = &out.mentions[0];
    assert_eq!(issue.platform_id, "2291234567");
    assert_eq!(issue.kind, MentionKind::Post);
    assert_eq!(
        issue.url.as_deref(),
        Some("https://github.com/acme/widget/issues/1347")
    );
    assert_eq!(
        issue.title.as_deref(),
        Some("Acme widget crashes on startup with <config> missing")
    );
    assert_eq!(
        issue.text,
        "Since v2.3 the acme widget crashes:\npanic: no config\nSee the docs & help."
    );
    assert_eq!(issue.author.handle.as_deref(), Some("octocat"));
    assert_eq!(
        issue.author.url.as_deref(),
        Some("https://github.com/octocat")
    );
    assert_eq!(issue.engagement.replies, Some(4));
    assert_eq!(issue.engagement.likes, Some(7));
    assert_eq!(
        issue.created_at,
        Some("2026-05-01T12:30:00Z".parse().unwrap())
    );
    assert_eq!(
        issue.conversation.thread_id.as_deref(),
        Some("acme/widget#1347")
    );

    let pr = &out.mentions[1];
    assert_eq!(pr.platform_id, "2290000001");
    assert_eq!(pr.kind, MentionKind::Post, "a pull request is a post too");
    assert_eq!(
        pr.url.as_deref(),
        Some("https://github.com/someone/tools/pull/88")
    );
    assert_eq!(pr.text, "", "a null body is empty text");
    assert_eq!(pr.engagement.likes, Some(0));

    let comment = &out.mentions[2];
    assert_eq!(comment.platform_id, "comment:2087654321");
    assert_eq!(comment.kind, MentionKind::Comment);
    assert_eq!(
        comment.url.as_deref(),
        Some("https://github.com/acme/widget/issues/1347#issuecomment-2087654321")
    );
    assert_eq!(
        comment.text,
        "crashes on startup\nFixed in acme 2.3.1, please _upgrade_."
    );
    assert_eq!(comment.author.handle.as_deref(), Some("monalisa"));
    assert_eq!(comment.engagement.likes, Some(2));
    assert_eq!(
        comment.conversation.thread_id.as_deref(),
        Some("acme/widget#1347")
    );
    assert_eq!(
        comment.conversation.parent_id.as_deref(),
        Some("acme/widget#1347")
    );
    assert_eq!(
        comment.created_at,
        Some("2026-05-01T12:45:00Z".parse().unwrap())
    );

    // The first poll looks back a day, for search and for comments.
    let reqs = server.received_requests().await.unwrap();
    let q = q_of(&reqs[0]);
    assert!(q.starts_with("acme created:>="), "{q}");
    let since = created_since(&q);
    let day = chrono::Duration::hours(24);
    let late = (since - (before - day)).num_seconds();
    assert!((0..=2).contains(&late), "{since}");
    let comments_since: DateTime<Utc> = reqs[1]
        .url
        .query_pairs()
        .find(|(k, _)| k == "since")
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert_eq!(comments_since, since);
}

#[tokio::test]
async fn the_next_poll_asks_from_the_newest_seen_minus_the_overlap() {
    let server = MockServer::start().await;
    mount_search(&server, read("search_issues.json")).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/issues/comments"))
        .respond_with(json(read("issue_comments.json")))
        .mount(&server)
        .await;
    let gh = connector(&server, &["acme/widget"], true);
    let http = fetcher();
    let first = gh.fetch(&http, &SourceState::default()).await.unwrap();
    assert!(first.state.cursor.is_some());

    server.verify().await;
    server.reset().await;
    mount_search(
        &server,
        r#"{"total_count":0,"incomplete_results":false,"items":[]}"#.into(),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/issues/comments"))
        .and(query_param("since", "2026-05-01T12:35:00Z"))
        .respond_with(json("[]".into()))
        .expect(1)
        .mount(&server)
        .await;
    let second = gh.fetch(&http, &first.state).await.unwrap();
    let reqs = server.received_requests().await.unwrap();
    // Newest issue 12:30, newest comment 12:45; each minus ten minutes.
    assert_eq!(q_of(&reqs[0]), "acme created:>=2026-05-01T12:20:00Z");
    assert!(second.mentions.is_empty());
    assert_eq!(
        second.state.cursor, first.state.cursor,
        "an empty poll keeps the cursor"
    );

    // An older cursor never moves a newer one back.
    server.verify().await;
    server.reset().await;
    mount_search(&server, read("search_issues.json")).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/issues/comments"))
        .respond_with(json("[]".into()))
        .mount(&server)
        .await;
    let later = SourceState {
        cursor: Some(r#"{"since":"2026-06-01T00:00:00Z"}"#.to_string()),
        ..Default::default()
    };
    let third = gh.fetch(&http, &later).await.unwrap();
    assert!(
        third
            .state
            .cursor
            .unwrap()
            .contains("\"since\":\"2026-06-01T00:00:00Z\"")
    );
}

#[tokio::test]
async fn search_pages_while_pages_are_full() {
    let server = MockServer::start().await;
    let item = |id: u64| {
        serde_json::json!({
            "id": id, "number": id, "html_url": format!("https://github.com/a/b/issues/{id}"),
            "repository_url": "https://api.github.com/repos/a/b",
            "title": format!("acme {id}"), "body": "acme", "comments": 0,
            "created_at": "2026-05-01T10:00:00Z", "user": {"login": "u"}
        })
    };
    let page = |ids: std::ops::Range<u64>, total: u64| {
        serde_json::json!({"total_count": total, "incomplete_results": true,
            "items": ids.map(item).collect::<Vec<_>>()})
        .to_string()
    };
    Mock::given(path("/search/issues"))
        .and(query_param("page", "1"))
        .respond_with(json(page(0..100, 150)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/search/issues"))
        .and(query_param("page", "2"))
        .respond_with(json(page(100..150, 150)))
        .expect(1)
        .mount(&server)
        .await;
    let out = connector(&server, &[], true)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 150, "incomplete_results is accepted");

    // A full page whose total says nothing more is there: no second request.
    server.verify().await;
    server.reset().await;
    Mock::given(path("/search/issues"))
        .respond_with(json(page(0..100, 100)))
        .expect(1)
        .mount(&server)
        .await;
    connector(&server, &[], true)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();

    // The 1,000-result cap: ten pages at most, however large the total.
    server.verify().await;
    server.reset().await;
    Mock::given(path("/search/issues"))
        .respond_with(json(page(0..100, 54_321)))
        .expect(10)
        .mount(&server)
        .await;
    connector(&server, &[], true)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn without_a_token_no_authorization_and_a_notice() {
    let server = MockServer::start().await;
    mount_search(&server, read("search_issues.json")).await;
    let out = connector(&server, &[], false)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 2);
    let notice = out.notice.expect("a notice");
    assert!(!notice.degraded);
    assert!(
        notice.message.contains("10 searches a minute"),
        "{notice:?}"
    );
    let reqs = server.received_requests().await.unwrap();
    assert!(reqs[0].headers.get("authorization").is_none());
}

async fn error_of(server: &MockServer, reply: ResponseTemplate) -> FetchError {
    server.verify().await;
    server.reset().await;
    Mock::given(path("/search/issues"))
        .respond_with(reply)
        .mount(server)
        .await;
    connector(server, &[], true)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn error_statuses_pages_and_bodies() {
    let server = MockServer::start().await;
    let gh_error = |status: u16, msg: &str| {
        ResponseTemplate::new(status).set_body_json(serde_json::json!({
            "message": msg,
            "documentation_url": "https://docs.github.com/rest"
        }))
    };
    for status in [401, 403, 404, 500] {
        let e = error_of(&server, gh_error(status, "Bad credentials")).await;
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
        ResponseTemplate::new(429).insert_header("retry-after", "30"),
    )
    .await;
    assert_eq!(
        e,
        FetchError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(30))
        }
    );

    let e = error_of(
        &server,
        ResponseTemplate::new(403).set_body_raw(
            "<!DOCTYPE html><html><head><title>Access denied</title></head></html>",
            "text/html",
        ),
    )
    .await;
    assert!(matches!(e, FetchError::Unexpected(_)), "{e:?}");
    assert!(e.is_long_lived());

    let e = error_of(
        &server,
        json(r#"{"total_count": 3, "items": [{"id""#.into()),
    )
    .await;
    assert!(
        matches!(&e, FetchError::Parse(m) if m.contains("stops early")),
        "{e:?}"
    );

    let e = error_of(&server, json(r#"{"message": "hello"}"#.into())).await;
    assert!(
        matches!(&e, FetchError::Parse(m) if m.contains("items")),
        "{e:?}"
    );

    // A rejected query says why, without the token even if the server echoes it.
    let e = error_of(
        &server,
        ResponseTemplate::new(422).set_body_json(serde_json::json!({
            "message": "Validation Failed",
            "errors": [{"message": "The listed users cannot be searched (Bearer ghp_TESTTOKEN123)",
                        "resource": "Search", "field": "q", "code": "invalid"}]
        })),
    )
    .await;
    let msg = e.to_string();
    assert!(matches!(e, FetchError::Config(_)), "{e:?}");
    assert!(
        msg.contains("Validation Failed: The listed users cannot be searched"),
        "{msg}"
    );
    assert!(!msg.contains(TOKEN), "{msg}");
}

#[tokio::test]
async fn an_empty_result_is_no_mentions_and_no_cursor() {
    let server = MockServer::start().await;
    mount_search(
        &server,
        r#"{"total_count":0,"incomplete_results":false,"items":[]}"#.into(),
    )
    .await;
    let out = connector(&server, &[], true)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert!(out.mentions.is_empty());
    assert_eq!(out.state.cursor, None);
}

#[tokio::test]
async fn secondary_limits_are_rate_limits() {
    let server = MockServer::start().await;
    // A 403 with retry-after: held as asked.
    let e = error_of(
        &server,
        ResponseTemplate::new(403)
            .insert_header("retry-after", "90")
            .set_body_json(serde_json::json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            })),
    )
    .await;
    assert_eq!(
        e,
        FetchError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(90))
        }
    );
    // A 403 that only says so in its message: a minute.
    let e = error_of(
        &server,
        ResponseTemplate::new(403).set_body_json(serde_json::json!({
            "message": "You have exceeded a secondary rate limit."
        })),
    )
    .await;
    assert_eq!(
        e,
        FetchError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(60))
        }
    );
}

#[tokio::test]
async fn a_spent_primary_budget_holds_the_host() {
    let server = MockServer::start().await;
    let reset = (common::now().timestamp() + 120).to_string();
    Mock::given(path("/search/issues"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-limit", "30")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-used", "30")
                .insert_header("x-ratelimit-reset", reset.as_str())
                .insert_header("x-ratelimit-resource", "search")
                .set_body_json(
                    serde_json::json!({"message": "API rate limit exceeded for user ID 1."}),
                ),
        )
        .mount(&server)
        .await;
    let http = fetcher();
    let gh = connector(&server, &[], true);
    let e = gh.fetch(&http, &SourceState::default()).await.unwrap_err();
    let FetchError::Status {
        status: 429,
        retry_after: Some(wait),
    } = e
    else {
        panic!("{e:?}")
    };
    assert!(
        wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
    // The fetcher holds the host until the reset: the next poll sends nothing.
    let e = gh.fetch(&http, &SourceState::default()).await.unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 429, .. }), "{e:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_spent_budget_on_a_success_stops_the_next_request() {
    let server = MockServer::start().await;
    let reset = (common::now().timestamp() + 120).to_string();
    Mock::given(path("/search/issues"))
        .respond_with(
            json(read("search_issues.json"))
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.as_str()),
        )
        .mount(&server)
        .await;
    let http = fetcher();
    let gh = connector(&server, &["acme/widget"], true);
    let e = gh.fetch(&http, &SourceState::default()).await.unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 429, .. }), "{e:?}");
    let e = gh.fetch(&http, &SourceState::default()).await.unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 429, .. }), "{e:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_unknown_repository_is_named() {
    let server = MockServer::start().await;
    mount_search(&server, read("search_issues.json")).await;
    Mock::given(path("/repos/acme/gone/issues/comments"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"message": "Not Found"})),
        )
        .mount(&server)
        .await;
    let e = connector(&server, &["acme/gone"], true)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, FetchError::Config(m) if m.contains("acme/gone")),
        "{e:?}"
    );
}

/// A `GET /users/{login}` reply with `followers`.
fn profile(login: &str, followers: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "login": login, "id": 1, "type": "User", "followers": followers, "following": 0,
        "html_url": format!("https://github.com/{login}")
    }))
}

/// A search reply whose issues are written by `users` (`(login, type)`), one issue each.
fn search_by(users: &[(&str, &str)]) -> String {
    let items: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, (login, kind))| {
            serde_json::json!({
                "id": 1000 + i, "number": i + 1,
                "html_url": format!("https://github.com/a/b/issues/{}", i + 1),
                "repository_url": "https://api.github.com/repos/a/b",
                "title": "acme", "body": "acme", "comments": 0,
                "created_at": "2026-05-01T10:00:00Z",
                "user": {"login": login, "type": kind}
            })
        })
        .collect();
    serde_json::json!({"total_count": items.len(), "incomplete_results": false, "items": items})
        .to_string()
}

fn reach_of(out: &earshot_connectors::FetchOutcome, login: &str) -> Option<u64> {
    out.mentions
        .iter()
        .find(|m| m.author.handle.as_deref() == Some(login))
        .unwrap_or_else(|| panic!("no mention by {login}"))
        .author
        .reach
}

#[tokio::test]
async fn followers_become_reach_once_a_day_per_author() {
    let server = MockServer::start().await;
    mount_search(&server, read("search_issues.json")).await;
    Mock::given(path("/repos/acme/widget/issues/comments"))
        .respond_with(json(read("issue_comments.json")))
        .mount(&server)
        .await;
    for (login, followers) in [("octocat", 9876), ("monalisa", 42)] {
        Mock::given(method("GET"))
            .and(path(format!("/users/{login}")))
            .and(header_is("accept", "application/vnd.github+json"))
            .and(header("x-github-api-version", "2022-11-28"))
            .and(header_is("authorization", "Bearer ghp_TESTTOKEN123"))
            .respond_with(profile(login, followers))
            .expect(1)
            .mount(&server)
            .await;
    }
    // hubot is not found: reach unknown, and not asked again either.
    Mock::given(path("/users/hubot"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"message": "Not Found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let gh = connector(&server, &["acme/widget"], true);
    let http = fetcher();
    let first = gh.fetch(&http, &SourceState::default()).await.unwrap();
    assert_eq!(reach_of(&first, "octocat"), Some(9876));
    assert_eq!(reach_of(&first, "monalisa"), Some(42));
    assert_eq!(reach_of(&first, "hubot"), None);

    // The same authors again: answered from memory, no new lookup (the expect(1)s above).
    let second = gh.fetch(&http, &first.state).await.unwrap();
    assert_eq!(reach_of(&second, "octocat"), Some(9876));
    assert_eq!(reach_of(&second, "monalisa"), Some(42));
    assert_eq!(reach_of(&second, "hubot"), None);
    server.verify().await;
}

#[tokio::test]
async fn without_a_token_no_follower_lookups() {
    let server = MockServer::start().await;
    mount_search(&server, read("search_issues.json")).await;
    Mock::given(path_regex("^/users/"))
        .respond_with(profile("octocat", 5))
        .expect(0)
        .mount(&server)
        .await;
    let out = connector(&server, &[], false)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(reach_of(&out, "octocat"), None);
    assert!(
        out.notice.unwrap().message.contains("no follower counts"),
        "the notice says why reach is missing"
    );
    server.verify().await;
}

#[tokio::test]
async fn bots_are_not_looked_up() {
    let server = MockServer::start().await;
    mount_search(
        &server,
        search_by(&[
            ("dependabot[bot]", "Bot"),
            ("renovate", "Bot"),
            ("alice", "User"),
        ]),
    )
    .await;
    Mock::given(path("/users/alice"))
        .respond_with(profile("alice", 7))
        .expect(1)
        .mount(&server)
        .await;
    let out = connector(&server, &[], true)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(reach_of(&out, "alice"), Some(7));
    assert_eq!(reach_of(&out, "renovate"), None);
    let users: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().starts_with("/users/"))
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(users, ["/users/alice"]);
}

#[tokio::test]
async fn at_most_ten_lookups_a_poll_the_rest_later() {
    let server = MockServer::start().await;
    let logins: Vec<String> = (1..=12).map(|i| format!("user{i:02}")).collect();
    // user01 writes two issues: still one lookup.
    let mut users: Vec<(&str, &str)> = logins.iter().map(|l| (l.as_str(), "User")).collect();
    users.insert(1, ("user01", "User"));
    mount_search(&server, search_by(&users)).await;
    for (i, login) in logins.iter().enumerate() {
        Mock::given(path(format!("/users/{login}")))
            .respond_with(profile(login, 100 + i as u64))
            .expect(1)
            .mount(&server)
            .await;
    }
    let gh = connector(&server, &[], true);
    let http = fetcher();
    let first = gh.fetch(&http, &SourceState::default()).await.unwrap();
    let looked_up = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().starts_with("/users/"))
        .count();
    assert_eq!(looked_up, 10);
    assert_eq!(reach_of(&first, "user01"), Some(100));
    assert!(
        first.mentions[..2]
            .iter()
            .all(|m| m.author.reach == Some(100))
    );
    assert_eq!(reach_of(&first, "user10"), Some(109));
    assert_eq!(reach_of(&first, "user11"), None, "over the cap this poll");
    assert_eq!(reach_of(&first, "user12"), None);

    // The next poll looks up the two left over, and only them.
    let second = gh.fetch(&http, &first.state).await.unwrap();
    assert_eq!(reach_of(&second, "user11"), Some(110));
    assert_eq!(reach_of(&second, "user12"), Some(111));
    assert_eq!(reach_of(&second, "user05"), Some(104));
    server.verify().await;
}

#[tokio::test]
async fn failed_lookups_leave_reach_empty_and_the_poll_succeeds() {
    let server = MockServer::start().await;
    mount_search(
        &server,
        search_by(&[("down", "User"), ("blocked", "User"), ("fine", "User")]),
    )
    .await;
    Mock::given(path("/users/down"))
        .respond_with(ResponseTemplate::new(502))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/users/blocked"))
        .respond_with(ResponseTemplate::new(403).set_body_raw(
            "<!DOCTYPE html><html><head><title>Access denied</title></head></html>",
            "text/html",
        ))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/users/fine"))
        .respond_with(profile("fine", 3))
        .expect(1)
        .mount(&server)
        .await;
    let gh = connector(&server, &[], true);
    let http = fetcher();
    let out = gh.fetch(&http, &SourceState::default()).await.unwrap();
    assert_eq!(out.mentions.len(), 3);
    assert_eq!(reach_of(&out, "down"), None);
    assert_eq!(reach_of(&out, "blocked"), None);
    assert_eq!(
        reach_of(&out, "fine"),
        Some(3),
        "one failure does not stop the others"
    );
    // Failures are not remembered: the next poll asks again (the expect(2)s).
    let again = gh.fetch(&http, &out.state).await.unwrap();
    assert_eq!(reach_of(&again, "fine"), Some(3));
    server.verify().await;
}

#[tokio::test]
async fn a_rate_limited_lookup_stops_the_lookups_of_the_poll() {
    let server = MockServer::start().await;
    mount_search(
        &server,
        search_by(&[("first", "User"), ("second", "User"), ("third", "User")]),
    )
    .await;
    Mock::given(path("/users/first"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            serde_json::json!({"message": "You have exceeded a secondary rate limit."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path_regex("^/users/(second|third)$"))
        .respond_with(profile("x", 1))
        .expect(0)
        .mount(&server)
        .await;
    let out = connector(&server, &[], true)
        .fetch(&fetcher(), &SourceState::default())
        .await
        .unwrap();
    assert_eq!(out.mentions.len(), 3);
    assert!(out.mentions.iter().all(|m| m.author.reach.is_none()));
    server.verify().await;
}
