//! Conformance case for `kind = "stackexchange"`: `search/advanced` wrappers in the shape the
//! API documents (no recorded replies exist). Stack Exchange sends no rate-limit headers: its
//! quota and `backoff` are in the body.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::Conformance;

pub struct StackExchange;

fn question(id: u64, created: i64, title: &str) -> Value {
    json!({
        "tags": ["acme"],
        "owner": {
            "account_id": 1234567, "reputation": 2481, "user_id": 987654,
            "user_type": "registered", "display_name": "J&#246;rg",
            "link": "https://stackoverflow.com/users/987654/jorg"
        },
        "is_answered": false,
        "view_count": 10,
        "answer_count": 0,
        "score": 1,
        "last_activity_date": created,
        "creation_date": created,
        "question_id": id,
        "content_license": "CC BY-SA 4.0",
        "link": format!("https://stackoverflow.com/questions/{id}/q"),
        "title": title,
        "body": format!("<p>Using acme: {title}</p>")
    })
}

impl Conformance for StackExchange {
    const KIND: &'static str = "stackexchange";
    const HAS_SECRET: bool = true;
    const SPENT: &'static [(&'static str, &'static str)] = &[];
    const ROUND1: usize = 2;
    const ROUND2_NEW: usize = 1;

    fn source(base: &str, secret_file: &str) -> String {
        format!(
            "query = \"acme\"\nsite = \"stackoverflow\"\nkey = {{ file = {secret_file:?} }}\nbase_url = \"{base}/2.3\""
        )
    }

    async fn mount(server: &MockServer, round: u8, headers: &[(&str, &str)]) {
        let mut items = vec![
            question(79012345, 1777638600, "acme&#39;s &quot;retry&quot; policy"),
            question(79011111, 1777599000, "acme login loop"),
        ];
        if round == 2 {
            items.insert(0, question(79020000, 1777700000, "acme &amp; proxies"));
        }
        let body = json!({"items": items, "has_more": false, "quota_max": 10000, "quota_remaining": 9850});
        let reply = headers.iter().fold(
            ResponseTemplate::new(200).set_body_json(body),
            |r, (k, v)| r.insert_header(*k, *v),
        );
        Mock::given(method("GET"))
            .and(path("/2.3/search/advanced"))
            .respond_with(reply)
            .mount(server)
            .await;
    }
}
