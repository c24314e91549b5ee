//! Conformance case for `kind = "youtube"`: `search.list`, `videos.list` and `channels.list`
//! replies shaped as PLATFORMS.md A8 documents. Google sends no rate-limit headers, so `SPENT` is empty.

use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::Conformance;

pub struct YouTube;

fn video(id: &str, at: &str, title: &str) -> Value {
    json!({
        "kind": "youtube#searchResult",
        "etag": format!("etag-{id}"),
        "id": {"kind": "youtube#video", "videoId": id},
        "snippet": {
            "publishedAt": at,
            "channelId": "UCconformance0000000000",
            "title": title,
            "description": "A look at the acme release.",
            "channelTitle": "Conformance Channel",
            "liveBroadcastContent": "none",
            "publishTime": at
        }
    })
}

fn stats(id: &str) -> Value {
    json!({"kind": "youtube#video", "id": id,
        "statistics": {"viewCount": "100", "likeCount": "5", "favoriteCount": "0", "commentCount": "2"}})
}

impl Conformance for YouTube {
    const KIND: &'static str = "youtube";
    const HAS_SECRET: bool = true;
    const SPENT: &'static [(&'static str, &'static str)] = &[];
    const ROUND1: usize = 2;
    const ROUND2_NEW: usize = 2;

    fn source(base: &str, secret_file: &str) -> String {
        format!(
            "query = \"acme\"\napi_key = {{ file = {secret_file:?} }}\nbase_url = \"{base}\"\n"
        )
    }

    async fn mount(server: &MockServer, round: u8, headers: &[(&str, &str)]) {
        let mut items = vec![
            video("conf0000002", "2026-05-01T12:00:00Z", "Why acme &#39;just works&#39;"),
            video("conf0000001", "2026-05-01T11:00:00Z", "acme in ten minutes"),
        ];
        if round == 2 {
            items.insert(0, video("conf0000004", "2026-05-01T14:00:00Z", "acme 2.0 review"));
            items.insert(0, video("conf0000005", "2026-05-01T15:00:00Z", "acme vs the rest"));
            items.truncate(3); // conf0000001 has aged out of the window
        }
        let ids: Vec<Value> = items
            .iter()
            .map(|v| stats(v["id"]["videoId"].as_str().unwrap()))
            .collect();
        let with = |mut r: ResponseTemplate| {
            for (k, v) in headers {
                r = r.insert_header(*k, *v);
            }
            r
        };
        Mock::given(path("/search"))
            .respond_with(with(
                ResponseTemplate::new(200).set_body_json(json!({"kind": "youtube#searchListResponse", "items": items})),
            ))
            .mount(server)
            .await;
        Mock::given(path("/videos"))
            .respond_with(with(
                ResponseTemplate::new(200).set_body_json(json!({"kind": "youtube#videoListResponse", "items": ids})),
            ))
            .mount(server)
            .await;
        Mock::given(path("/channels"))
            .respond_with(with(ResponseTemplate::new(200).set_body_json(json!({
                "kind": "youtube#channelListResponse",
                "items": [{"kind": "youtube#channel", "id": "UCconformance0000000000",
                    "statistics": {"subscriberCount": "1200", "hiddenSubscriberCount": false}}]
            }))))
            .mount(server)
            .await;
    }
}
