//! Conformance case for `kind = "reddit"`: the app-only token, `/search?sort=new` and the
//! author's `/user/<name>/about` (karma), replies shaped as the recorded PRAW cassettes
//! (`fixtures/reddit-praw/`); the client secret is read from a file and travels only in the
//! token request's Basic authorisation.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::Conformance;

pub struct Reddit;

fn post(id: &str, at: f64) -> Value {
    json!({"kind": "t3", "data": {
        "name": format!("t3_{id}"), "id": id, "author": "alice", "subreddit": "rust",
        "title": format!("Has anyone tried acme? ({id})"), "selftext": "Looking at **acme** for our builds.",
        "permalink": format!("/r/rust/comments/{id}/has_anyone_tried_acme/"),
        "created_utc": at, "score": 5, "num_comments": 2, "subreddit_subscribers": 300000,
    }})
}

impl Conformance for Reddit {
    const KIND: &'static str = "reddit";
    const HAS_SECRET: bool = true;
    const SPENT: &'static [(&'static str, &'static str)] = &[
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-used", "100"),
        ("x-ratelimit-reset", "3600"),
    ];
    const ROUND1: usize = 3;
    const ROUND2_NEW: usize = 2;

    fn source(base: &str, secret_file: &str) -> String {
        format!(
            "query = \"acme\"\nclient_id = \"conf-client\"\nclient_secret = {{ file = \"{secret_file}\" }}\nbase_url = \"{base}\""
        )
    }

    async fn mount(server: &MockServer, round: u8, headers: &[(&str, &str)]) {
        let with = |mut r: ResponseTemplate| {
            for (k, v) in headers {
                r = r.insert_header(*k, *v);
            }
            r
        };
        let token = json!({"access_token": "conf-token", "token_type": "bearer", "expires_in": 86400, "scope": "*"});
        Mock::given(method("POST"))
            .and(path("/api/v1/access_token"))
            .respond_with(with(ResponseTemplate::new(200).set_body_json(token)))
            .mount(server)
            .await;
        let now = crate::NOW as f64;
        let mut children = vec![
            post("1aaa03", now - 300.0),
            post("1aaa02", now - 600.0),
            post("1aaa01", now - 900.0),
        ];
        if round == 2 {
            children.insert(0, post("1aaa05", now - 10.0));
            children.insert(1, post("1aaa04", now - 20.0));
        }
        let listing = json!({"kind": "Listing", "data": {"after": null, "before": null,
            "dist": children.len(), "modhash": "", "children": children}});
        Mock::given(method("GET"))
            .and(path("/search"))
            .respond_with(with(ResponseTemplate::new(200).set_body_json(listing)))
            .mount(server)
            .await;
        // The author's karma (one lookup, cached a day), Reddit's `t2` about reply.
        let about = json!({"kind": "t2", "data": {"name": "alice", "id": "1abc",
            "total_karma": 1520, "link_karma": 900, "comment_karma": 620,
            "created_utc": 1300000000.0, "is_suspended": false}});
        Mock::given(method("GET"))
            .and(path("/user/alice/about"))
            .respond_with(with(ResponseTemplate::new(200).set_body_json(about)))
            .mount(server)
            .await;
    }
}
