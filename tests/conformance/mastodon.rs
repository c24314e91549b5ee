//! Conformance case for `kind = "mastodon"`: the hashtag timeline and keyword search of one
//! instance (the mock), in the shape of the recorded replies in
//! `connectors/tests/data/mastodon/` (PLATFORMS.md A3), with `acme` in every post.

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::Conformance;

pub struct Mastodon;

/// A status as a Mastodon 4.6 timeline serves it (fields trimmed to those read and a few more).
fn status(id: u64, acct: &str, reply_to: Option<u64>) -> Value {
    json!({
        "id": id.to_string(),
        "created_at": format!("2026-05-01T12:{:02}:00.000Z", id % 60),
        "in_reply_to_id": reply_to.map(|r| r.to_string()),
        "sensitive": false, "spoiler_text": "", "visibility": "public", "language": "en",
        "uri": format!("https://social.example/users/{acct}/statuses/{id}"),
        "url": format!("https://social.example/@{acct}/{id}"),
        "replies_count": 0, "reblogs_count": 1, "favourites_count": 2,
        "content": format!("<p>Trying <a href=\"https://social.example/tags/acme\" class=\"mention hashtag\" rel=\"tag\">#<span>acme</span></a> today, post {id}</p>"),
        "reblog": null,
        "account": {
            "id": "1", "username": acct, "acct": acct, "display_name": "A user",
            "url": format!("https://social.example/@{acct}"), "followers_count": 12
        },
        "media_attachments": [], "mentions": [], "tags": [{"name": "acme", "url": "https://social.example/tags/acme"}]
    })
}

impl Conformance for Mastodon {
    const KIND: &'static str = "mastodon";
    const HAS_SECRET: bool = true;
    // Mastodon's reset is an ISO timestamp; the fetcher clamps a far one to 24 h.
    const SPENT: &'static [(&'static str, &'static str)] = &[
        ("x-ratelimit-limit", "300"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "2099-01-01T00:00:00.000Z"),
    ];
    const ROUND1: usize = 3;
    const ROUND2_NEW: usize = 2;

    fn source(base: &str, secret_file: &str) -> String {
        format!(
            "base_url = \"{base}\"\nhashtags = [\"acme\"]\nquery = \"acme\"\n\
             tokens = {{ \"{base}\" = {{ file = \"{secret_file}\" }} }}\n"
        )
    }

    async fn mount(server: &MockServer, round: u8, headers: &[(&str, &str)]) {
        // Round 1: the tag shows 101 and 102; search finds 102 again (seen on the tag too) and
        // an older reply, 90. Round 2: the tag shows 102, 103 and 104; search finds 90 again.
        let (timeline, search) = match round {
            1 => (
                vec![status(102, "bob", None), status(101, "alice", None)],
                vec![status(102, "bob", None), status(90, "carol", Some(80))],
            ),
            _ => (
                vec![
                    status(104, "dave", Some(102)),
                    status(103, "erin", None),
                    status(102, "bob", None),
                ],
                vec![status(90, "carol", Some(80))],
            ),
        };
        let reply = |body: Value| {
            let mut r = ResponseTemplate::new(200).set_body_json(body);
            for (k, v) in headers {
                r = r.insert_header(*k, *v);
            }
            r
        };
        Mock::given(method("GET"))
            .and(path("/api/v1/timelines/tag/acme"))
            .respond_with(reply(json!(timeline)))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v2/search"))
            .and(header("authorization", format!("Bearer {}", crate::SECRET)))
            .respond_with(reply(
                json!({"accounts": [], "statuses": search, "hashtags": [], "collections": []}),
            ))
            .mount(server)
            .await;
    }
}
