//! Conformance case for `kind = "hackernews"`: Algolia `search_by_date` replies in today's
//! shape (documented in PLATFORMS.md A2), and the authors' `/users/<name>` (karma); no
//! credential, no rate-limit headers.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::Conformance;

pub struct HackerNews;

fn hit(id: u64, at: i64, comment: bool) -> Value {
    let created = chrono::DateTime::from_timestamp(at, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    if comment {
        json!({
            "_tags": ["comment", "author_bob", "story_46990"], "author": "bob", "children": [],
            "comment_text": format!("We moved to acme last week<p>item {id}"),
            "created_at": created, "created_at_i": at, "objectID": id.to_string(),
            "parent_id": 46990, "story_id": 46990, "story_title": "Ask HN: tools?",
            "updated_at": created,
        })
    } else {
        json!({
            "_tags": ["story", "author_alice", format!("story_{id}")], "author": "alice",
            "children": [], "created_at": created, "created_at_i": at, "num_comments": 0,
            "objectID": id.to_string(), "points": 3, "story_text": null,
            "title": format!("Show HN: acme {id}"), "updated_at": created,
            "url": "https://acme.example",
        })
    }
}

impl Conformance for HackerNews {
    const KIND: &'static str = "hackernews";
    const HAS_SECRET: bool = false;
    const SPENT: &'static [(&'static str, &'static str)] = &[];
    const ROUND1: usize = 3;
    const ROUND2_NEW: usize = 2;

    fn source(base: &str, _secret_file: &str) -> String {
        format!("query = \"acme\"\nbase_url = \"{base}\"")
    }

    async fn mount(server: &MockServer, round: u8, headers: &[(&str, &str)]) {
        let now = crate::NOW;
        let mut hits = vec![
            hit(47003, now - 300, true),
            hit(47002, now - 600, false),
            hit(47001, now - 900, false),
        ];
        if round == 2 {
            hits.insert(0, hit(47005, now - 10, false));
            hits.insert(1, hit(47004, now - 20, true));
        }
        let body = json!({
            "exhaustive": {"nbHits": true, "typo": true}, "hits": hits, "hitsPerPage": 200,
            "nbHits": hits.len(), "nbPages": 1, "page": 0, "query": "acme",
            "processingTimeMS": 1, "serverTimeMS": 2,
        });
        let mut reply = ResponseTemplate::new(200).set_body_json(body);
        for (k, v) in headers {
            reply = reply.insert_header(*k, *v);
        }
        Mock::given(method("GET"))
            .and(path("/search_by_date"))
            .respond_with(reply)
            .mount(server)
            .await;
        // Author karma, one lookup per new author (cached a day).
        for (name, karma) in [("alice", 4210), ("bob", 87)] {
            let mut reply = ResponseTemplate::new(200).set_body_json(json!({
                "id": 1, "username": name, "about": "", "karma": karma,
                "created_at": "2012-01-01T00:00:00.000Z", "created_at_i": 1325376000,
                "objectID": name,
            }));
            for (k, v) in headers {
                reply = reply.insert_header(*k, *v);
            }
            Mock::given(method("GET"))
                .and(path(format!("/users/{name}")))
                .respond_with(reply)
                .mount(server)
                .await;
        }
    }
}
