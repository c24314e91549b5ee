//! Conformance case for `kind = "discourse"`: `/posts.json` replies shaped as PLATFORMS.md A7
//! documents, with an API key. Discourse sends no rate-limit headers, so `SPENT` is empty.

use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::Conformance;

pub struct Discourse;

fn post(id: u64, number: u64, created: &str, cooked: &str) -> Value {
    json!({
        "id": id, "name": "Alice", "username": "alice", "created_at": created,
        "cooked": cooked, "post_number": number, "reply_count": 0, "reads": 3,
        "topic_id": 42, "topic_slug": "acme-questions", "topic_title": "Acme questions",
        "category_id": 1, "like_count": 1
    })
}

impl Conformance for Discourse {
    const KIND: &'static str = "discourse";
    const HAS_SECRET: bool = true;
    const SPENT: &'static [(&'static str, &'static str)] = &[];
    const ROUND1: usize = 2;
    const ROUND2_NEW: usize = 2;

    fn source(base: &str, secret_file: &str) -> String {
        format!(
            "api_key = {{ file = {secret_file:?} }}\napi_username = \"system\"\nbase_url = \"{base}\"\n"
        )
    }

    async fn mount(server: &MockServer, round: u8, headers: &[(&str, &str)]) {
        let mut posts = vec![
            post(1002, 2, "2026-05-01T11:00:00.000Z", "<p>Same acme problem here</p>"),
            post(1001, 1, "2026-05-01T10:00:00.000Z", "<p>How do I reset acme?</p>"),
        ];
        if round == 2 {
            posts.insert(0, post(1003, 3, "2026-05-01T12:00:00.000Z", "<p>acme 2.1 fixed it</p>"));
            posts.insert(0, post(1004, 4, "2026-05-01T12:30:00.000Z", "<p>thanks, acme works</p>"));
        }
        let mut r = ResponseTemplate::new(200).set_body_json(json!({"latest_posts": posts}));
        for (k, v) in headers {
            r = r.insert_header(*k, *v);
        }
        Mock::given(path("/posts.json")).respond_with(r).mount(server).await;
    }
}
