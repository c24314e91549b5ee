//! Conformance case for `kind = "lemmy"`: an instance on API v3 (v4 unknown), replies shaped
//! as PLATFORMS.md A7 documents. Lemmy sends no rate-limit headers, so `SPENT` is empty.

use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::Conformance;

pub struct Lemmy;

fn post(id: u32, published: &str) -> Value {
    json!({
        "post": {"id": id, "name": format!("Thoughts on acme {id}"), "body": "acme is **neat**",
            "published": published, "ap_id": format!("https://lemmy.example/post/{id}")},
        "creator": {"id": 1, "name": "alice", "actor_id": "https://lemmy.example/u/alice"},
        "community": {"id": 2, "name": "tech", "actor_id": "https://lemmy.example/c/tech"},
        "counts": {"post_id": id, "comments": 1, "score": 5, "upvotes": 5, "downvotes": 0}
    })
}

impl Conformance for Lemmy {
    const KIND: &'static str = "lemmy";
    const HAS_SECRET: bool = true;
    const SPENT: &'static [(&'static str, &'static str)] = &[];
    const ROUND1: usize = 2;
    const ROUND2_NEW: usize = 1;

    fn source(base: &str, secret_file: &str) -> String {
        format!("query = \"acme\"\ntoken = {{ file = {secret_file:?} }}\nbase_url = \"{base}\"\n")
    }

    async fn mount(server: &MockServer, round: u8, headers: &[(&str, &str)]) {
        let mut posts = vec![post(10, "2026-05-01T10:00:00.000000Z")];
        if round == 2 {
            posts.insert(0, post(11, "2026-05-01T12:00:00.000000Z"));
        }
        let comment = json!({
            "comment": {"id": 20, "content": "acme fixed it for me", "published": "2026-05-01T11:00:00.000000Z",
                "ap_id": "https://lemmy.example/comment/20", "path": "0.20"},
            "creator": {"id": 3, "name": "bob", "actor_id": "https://other.example/u/bob"},
            "post": {"id": 10, "name": "Thoughts on acme 10", "ap_id": "https://lemmy.example/post/10"},
            "counts": {"comment_id": 20, "score": 2, "child_count": 0}
        });
        let with = |mut r: ResponseTemplate| {
            for (k, v) in headers {
                r = r.insert_header(*k, *v);
            }
            r
        };
        Mock::given(path("/api/v4/site"))
            .respond_with(with(ResponseTemplate::new(404).set_body_string("404: Not Found")))
            .mount(server)
            .await;
        Mock::given(path("/api/v3/site"))
            .respond_with(with(ResponseTemplate::new(200).set_body_json(
                json!({"site_view": {"site": {"name": "Lemmy Example"}}, "version": "0.19.5"}),
            )))
            .mount(server)
            .await;
        Mock::given(path("/api/v3/search"))
            .respond_with(with(ResponseTemplate::new(200).set_body_json(json!({
                "type_": "All", "posts": posts, "comments": [comment], "communities": [], "users": []
            }))))
            .mount(server)
            .await;
    }
}
