//! Conformance case for `kind = "github"`: issue search plus one repository's comments and the
//! authors' follower lookups, in the shapes GitHub documents (no recorded replies exist).

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::Conformance;

pub struct GitHub;

fn issue(id: u64, number: u64, created: &str, title: &str) -> Value {
    json!({
        "url": format!("https://api.github.com/repos/acme/widget/issues/{number}"),
        "repository_url": "https://api.github.com/repos/acme/widget",
        "html_url": format!("https://github.com/acme/widget/issues/{number}"),
        "id": id,
        "node_id": format!("I_kwDO{id}"),
        "number": number,
        "title": title,
        "user": {"login": "octocat", "id": 583231, "html_url": "https://github.com/octocat", "type": "User"},
        "labels": [],
        "state": "open",
        "comments": 1,
        "created_at": created,
        "updated_at": created,
        "author_association": "NONE",
        "body": format!("The acme widget: {title}"),
        "reactions": {"total_count": 3, "+1": 3},
        "score": 1.0
    })
}

fn comment(id: u64, number: u64, created: &str) -> Value {
    json!({
        "url": format!("https://api.github.com/repos/acme/widget/issues/comments/{id}"),
        "html_url": format!("https://github.com/acme/widget/issues/{number}#issuecomment-{id}"),
        "issue_url": format!("https://api.github.com/repos/acme/widget/issues/{number}"),
        "id": id,
        "user": {"login": "monalisa", "id": 2, "html_url": "https://github.com/monalisa"},
        "created_at": created,
        "updated_at": created,
        "author_association": "MEMBER",
        "body": format!("Seen with acme too (comment {id})."),
        "reactions": {"total_count": 0}
    })
}

impl Conformance for GitHub {
    const KIND: &'static str = "github";
    const HAS_SECRET: bool = true;
    // GitHub's reset is an epoch; a far-future one is clamped to MAX_RETRY_AFTER (a day),
    // which holds the host for longer than the hour the suite asks for.
    const SPENT: &'static [(&'static str, &'static str)] = &[
        ("x-ratelimit-limit", "30"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-used", "30"),
        ("x-ratelimit-reset", "4102444800"),
        ("x-ratelimit-resource", "search"),
    ];
    const ROUND1: usize = 3;
    const ROUND2_NEW: usize = 2;

    fn source(base: &str, secret_file: &str) -> String {
        format!(
            "query = \"acme\"\nrepos = [\"acme/widget\"]\ntoken = {{ file = {secret_file:?} }}\nbase_url = {base:?}"
        )
    }

    async fn mount(server: &MockServer, round: u8, headers: &[(&str, &str)]) {
        let mut items = vec![
            issue(2291234567, 1347, "2026-05-01T12:30:00Z", "Crash on start"),
            issue(2290000001, 1346, "2026-05-01T09:00:00Z", "Docs typo"),
        ];
        let mut comments = vec![comment(2087654321, 1347, "2026-05-01T12:45:00Z")];
        if round == 2 {
            items.insert(
                0,
                issue(2299999999, 1350, "2026-05-02T08:00:00Z", "Feature request"),
            );
            comments.push(comment(2087999999, 1350, "2026-05-02T08:15:00Z"));
        }
        let search = json!({"total_count": items.len(), "incomplete_results": false, "items": items});
        let reply = |body: Value| {
            headers.iter().fold(
                ResponseTemplate::new(200).set_body_json(body),
                |r, (k, v)| r.insert_header(*k, *v),
            )
        };
        Mock::given(method("GET"))
            .and(path("/search/issues"))
            .respond_with(reply(search))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/repos/acme/widget/issues/comments"))
            .respond_with(reply(Value::Array(comments)))
            .mount(server)
            .await;
        // Follower lookups for the two authors (a token is configured).
        for (login, followers) in [("octocat", 9000), ("monalisa", 120)] {
            Mock::given(method("GET"))
                .and(path(format!("/users/{login}")))
                .respond_with(reply(
                    json!({"login": login, "type": "User", "followers": followers}),
                ))
                .mount(server)
                .await;
        }
    }
}
