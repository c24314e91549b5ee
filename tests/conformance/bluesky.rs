//! Conformance case for `kind = "bluesky"`: login, `searchPosts` and `getProfiles` of one PDS
//! (the mock), in the shape of the recorded replies in `connectors/tests/data/bluesky/`
//! (PLATFORMS.md A4), with `acme` in every post.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::Conformance;

pub struct Bluesky;

/// A PostView as searchPosts returns it, indexed `minute` minutes after noon.
fn post(rkey: &str, did: &str, handle: &str, minute: u32) -> Value {
    json!({
        "uri": format!("at://{did}/app.bsky.feed.post/{rkey}"),
        "cid": format!("bafyrei{rkey}"),
        "author": {"did": did, "handle": handle, "displayName": "A user", "labels": []},
        "record": {
            "$type": "app.bsky.feed.post",
            "createdAt": format!("2026-05-01T12:{minute:02}:00.000Z"),
            "langs": ["en"],
            "text": format!("Has anyone tried acme for this? ({rkey})")
        },
        "replyCount": 0, "repostCount": 1, "likeCount": 3, "quoteCount": 0,
        "indexedAt": format!("2026-05-01T12:{minute:02}:01.000Z"),
        "labels": []
    })
}

impl Conformance for Bluesky {
    const KIND: &'static str = "bluesky";
    const HAS_SECRET: bool = true;
    // Bluesky's reset is a Unix epoch; the fetcher clamps a far one to 24 h.
    const SPENT: &'static [(&'static str, &'static str)] = &[
        ("ratelimit-limit", "3000"),
        ("ratelimit-remaining", "0"),
        ("ratelimit-reset", "4102444800"),
        ("ratelimit-policy", "3000;w=300"),
    ];
    const ROUND1: usize = 2;
    const ROUND2_NEW: usize = 2;

    fn source(base: &str, secret_file: &str) -> String {
        format!(
            "base_url = \"{base}\"\nquery = \"acme\"\nidentifier = \"acme.bsky.social\"\n\
             app_password = {{ file = \"{secret_file}\" }}\n"
        )
    }

    async fn mount(server: &MockServer, round: u8, headers: &[(&str, &str)]) {
        let (a, b) = ("did:plc:aaaa", "did:plc:bbbb");
        let posts = match round {
            1 => vec![post("3lp2", b, "bob.bsky.social", 2), post("3lp1", a, "alice.bsky.social", 1)],
            _ => vec![
                post("3lp4", a, "alice.bsky.social", 4),
                post("3lp3", b, "bob.bsky.social", 3),
                post("3lp2", b, "bob.bsky.social", 2),
            ],
        };
        let reply = |body: Value| {
            let mut r = ResponseTemplate::new(200).set_body_json(body);
            for (k, v) in headers {
                r = r.insert_header(*k, *v);
            }
            r
        };
        Mock::given(method("POST"))
            .and(path("/xrpc/com.atproto.server.createSession"))
            .respond_with(reply(json!({
                "did": "did:plc:me", "handle": "acme.bsky.social",
                "accessJwt": "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.access",
                "refreshJwt": "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.refresh",
                "active": true
            })))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/xrpc/app.bsky.feed.searchPosts"))
            .respond_with(reply(json!({"posts": posts})))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/xrpc/app.bsky.actor.getProfiles"))
            .respond_with(reply(json!({"profiles": [
                {"did": a, "handle": "alice.bsky.social", "followersCount": 10, "followsCount": 2, "postsCount": 5},
                {"did": b, "handle": "bob.bsky.social", "followersCount": 20, "followsCount": 2, "postsCount": 5}
            ]})))
            .mount(server)
            .await;
    }
}
