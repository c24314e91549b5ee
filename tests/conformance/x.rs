//! Conformance case for `kind = "x"`: recent-search replies shaped as PLATFORMS.md A8
//! documents, with `includes.users`.

use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::Conformance;

pub struct X;

fn post(id: &str, at: &str, text: &str) -> Value {
    json!({
        "id": id, "text": text, "author_id": "2244994945", "created_at": at,
        "conversation_id": id, "lang": "en",
        "public_metrics": {"retweet_count": 1, "reply_count": 0, "like_count": 3, "quote_count": 0}
    })
}

impl Conformance for X {
    const KIND: &'static str = "x";
    const HAS_SECRET: bool = true;
    /// The reset is an epoch far in the future (2100-01-01): the fetcher clamps it to 24 h,
    /// which holds the host for the whole test whenever it runs.
    const SPENT: &'static [(&'static str, &'static str)] = &[
        ("x-rate-limit-limit", "450"),
        ("x-rate-limit-remaining", "0"),
        ("x-rate-limit-reset", "4102444800"),
    ];
    const ROUND1: usize = 2;
    const ROUND2_NEW: usize = 1;

    fn source(base: &str, secret_file: &str) -> String {
        format!(
            "query = \"acme\"\nbearer_token = {{ file = {secret_file:?} }}\nmonthly_budget = 10000\nbase_url = \"{base}\"\n"
        )
    }

    async fn mount(server: &MockServer, round: u8, headers: &[(&str, &str)]) {
        let mut data = vec![
            post("1790000000000000002", "2026-05-01T12:00:00.000Z", "acme &amp; co shipped"),
            post("1790000000000000001", "2026-05-01T11:00:00.000Z", "trying acme today"),
        ];
        if round == 2 {
            data.insert(0, post("1790000000000000003", "2026-05-01T13:00:00.000Z", "acme is great"));
        }
        let body = json!({
            "data": data,
            "includes": {"users": [{"id": "2244994945", "name": "Acme Fan", "username": "acmefan",
                "public_metrics": {"followers_count": 120}}]},
            "meta": {"result_count": 2}
        });
        let mut r = ResponseTemplate::new(200).set_body_json(body);
        for (k, v) in headers {
            r = r.insert_header(*k, *v);
        }
        Mock::given(path("/tweets/search/recent"))
            .respond_with(r)
            .mount(server)
            .await;
    }
}
