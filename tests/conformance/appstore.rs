//! Conformance case for `kind = "appstore"`: one country's review feed page in the shape Apple
//! serves it (no recorded replies exist). The feed sends no rate-limit headers and takes no
//! credential.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::Conformance;

pub struct AppStore;

fn review(id: &str, updated: &str, rating: u8, title: &str) -> Value {
    json!({
        "author": {
            "uri": {"label": format!("https://itunes.apple.com/us/reviews/id{id}")},
            "name": {"label": format!("user{id}")},
            "label": ""
        },
        "updated": {"label": updated},
        "im:rating": {"label": rating.to_string()},
        "im:version": {"label": "3.2.1"},
        "id": {"label": id},
        "title": {"label": title},
        "content": {"label": format!("{title}: the acme app, version 3.2.1."), "attributes": {"type": "text"}},
        "link": {"attributes": {"rel": "related", "href": "https://itunes.apple.com/us/review?id=1234567890&type=Purple%20Software"}},
        "im:voteSum": {"label": "0"},
        "im:contentType": {"attributes": {"term": "Application", "label": "Application"}},
        "im:voteCount": {"label": "0"}
    })
}

impl Conformance for AppStore {
    const KIND: &'static str = "appstore";
    const HAS_SECRET: bool = false;
    const SPENT: &'static [(&'static str, &'static str)] = &[];
    const ROUND1: usize = 2;
    const ROUND2_NEW: usize = 1;

    fn source(base: &str, _secret_file: &str) -> String {
        format!("app_id = 1234567890\ncountries = [\"us\"]\npages = 1\nbase_url = {base:?}")
    }

    async fn mount(server: &MockServer, round: u8, headers: &[(&str, &str)]) {
        let mut entries = vec![
            review("11223344556", "2026-04-30T14:22:11-07:00", 5, "Love acme"),
            review("11223344001", "2026-04-29T08:01:00-07:00", 1, "acme crashes"),
        ];
        if round == 2 {
            entries.insert(
                0,
                review("11223349999", "2026-05-01T09:00:00-07:00", 4, "acme got better"),
            );
        }
        let body = json!({"feed": {
            "author": {"name": {"label": "iTunes Store"}, "uri": {"label": "http://www.apple.com/itunes/"}},
            "entry": entries,
            "updated": {"label": "2026-05-01T10:00:00-07:00"},
            "title": {"label": "iTunes Store: Customer Reviews"},
            "id": {"label": "https://itunes.apple.com/us/rss/customerreviews/page=1/id=1234567890/sortby=mostrecent/json"}
        }});
        let reply = headers.iter().fold(
            ResponseTemplate::new(200).set_body_json(body),
            |r, (k, v)| r.insert_header(*k, *v),
        );
        Mock::given(method("GET"))
            .and(path(
                "/us/rss/customerreviews/page=1/id=1234567890/sortby=mostrecent/json",
            ))
            .respond_with(reply)
            .mount(server)
            .await;
    }
}
