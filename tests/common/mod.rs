//! Helpers shared by the end-to-end stories: a feed server whose content changes between
//! polls and answers conditional GETs, chat receivers, and configs pointing at them.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// One feed item.
#[derive(Debug, Clone)]
pub struct Item {
    pub guid: String,
    pub title: String,
    pub text: String,
}

pub fn item(guid: &str, title: &str, text: &str) -> Item {
    Item {
        guid: guid.into(),
        title: title.into(),
        text: text.into(),
    }
}

/// What the feed server holds and has seen.
#[derive(Debug, Default)]
pub struct FeedState {
    pub items: Vec<Item>,
    pub version: u64,
    pub requests: usize,
    pub not_modified: usize,
    /// Told of every request, for tests that wait for polls as events.
    pub on_request: Option<tokio::sync::mpsc::UnboundedSender<usize>>,
}

/// A feed whose items the test changes; answers `If-None-Match` with 304 while unchanged.
#[derive(Clone, Default)]
pub struct Feed(pub Arc<Mutex<FeedState>>);

impl Feed {
    pub fn set(&self, items: Vec<Item>) {
        let mut s = self.0.lock().unwrap();
        s.items = items;
        s.version += 1;
    }

    pub fn push(&self, it: Item) {
        let mut s = self.0.lock().unwrap();
        s.items.push(it);
        s.version += 1;
    }

    /// A channel that receives the request count at every request.
    pub fn watch_requests(&self) -> tokio::sync::mpsc::UnboundedReceiver<usize> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.0.lock().unwrap().on_request = Some(tx);
        rx
    }

    pub fn requests(&self) -> usize {
        self.0.lock().unwrap().requests
    }

    pub fn not_modified(&self) -> usize {
        self.0.lock().unwrap().not_modified
    }

    /// Serves this feed at `/feed.xml` on a new local server.
    pub async fn serve(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/feed.xml"))
            .respond_with(self.clone())
            .mount(&server)
            .await;
        server
    }
}

impl Respond for Feed {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        s.requests += 1;
        if let Some(tx) = &s.on_request {
            let _ = tx.send(s.requests);
        }
        let etag = format!("\"v{}\"", s.version);
        let inm = req
            .headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok());
        if inm == Some(etag.as_str()) {
            s.not_modified += 1;
            return ResponseTemplate::new(304).insert_header("etag", etag.as_str());
        }
        ResponseTemplate::new(200)
            .insert_header("etag", etag.as_str())
            .insert_header("content-type", "application/rss+xml")
            .set_body_string(rss(&s.items))
    }
}

/// An RSS 2.0 document with these items.
pub fn rss(items: &[Item]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Forum</title><link>https://forum.example.com/</link><description>d</description>",
    );
    for it in items {
        out.push_str(&format!(
            "<item><title>{}</title><link>https://forum.example.com/t/{}</link><guid>{}</guid><description>{}</description></item>",
            esc(&it.title),
            esc(&it.guid),
            esc(&it.guid),
            esc(&it.text)
        ));
    }
    out.push_str("</channel></rss>");
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A chat receiver: answers every POST with `status` and keeps the requests.
pub async fn receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status).set_body_string("ok"))
        .mount(&server)
        .await;
    server
}

/// Bodies of the POSTs a receiver got, as JSON.
pub async fn posts(server: &MockServer) -> Vec<serde_json::Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method == wiremock::http::Method::POST)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null))
        .collect()
}

/// Writes `value` to a file in `dir` and returns its path, for `{ file = "..." }` secrets.
pub fn secret_file(dir: &std::path::Path, name: &str, value: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, value).unwrap();
    p.display().to_string().replace('\\', "/")
}

/// An RSS feed of comments in forum threads, one item per (guid, thread, text): each titled
/// "Re: thread" and pointing at its thread through `<comments>`, as forum feeds do.
pub fn comments_feed(items: &[(&str, &str, &str)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Forum</title><link>https://forum.example.com/</link><description>d</description>",
    );
    for (guid, thread, text) in items {
        out.push_str(&format!(
            "<item><title>Re: {thread}</title><link>https://forum.example.com/{guid}</link><guid>{guid}</guid>\
             <comments>https://forum.example.com/t/{thread}</comments><description>{text}</description></item>"
        ));
    }
    out.push_str("</channel></rss>");
    out
}
