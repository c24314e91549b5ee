//! Conformance case for `kind = "googlechat"`: a cardsV2 message to an incoming webhook, threaded
//! by `threadKey` with `messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD`.

use earshot::alert::Alert;
use earshot::config::{SinkConfig, SinkKind};
use earshot::secret::Secret;
use earshot::sink::{Sink, googlechat};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{CANARY, SinkCase, chars, client, requests};

pub struct GoogleChat;

const MAX_BODY_BYTES: usize = 32_000;
const GOOD_URLS: [&str; 2] = [
    "https://example.com/post/1",
    "https://example.com/blog/launch#comment-42",
];

fn url(server: &str) -> String {
    format!(
        "{server}/v1/spaces/AAAAx1y2z3/messages?key=AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI&token={CANARY}"
    )
}

impl SinkCase for GoogleChat {
    const KIND: SinkKind = SinkKind::GoogleChat;
    const SNAPSHOT: &'static str = "googlechat.json";

    fn config(server: &str) -> SinkConfig {
        SinkConfig {
            url: Some(Secret::Plain(url(server))),
            ..SinkConfig::new("googlechat", SinkKind::GoogleChat)
        }
    }

    /// The created Message: a webhook's reply holds little more than its name and thread.
    fn ok() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "name": "spaces/AAAAx1y2z3/messages/abc.abc",
            "thread": {"name": "spaces/AAAAx1y2z3/threads/abc"},
            "space": {"name": "spaces/AAAAx1y2z3", "type": "ROOM"},
        }))
    }

    fn check(case: &str, body: &Value) {
        let raw = serde_json::to_vec(body).unwrap().len();
        assert!(raw <= MAX_BODY_BYTES, "googlechat/{case}: body {raw} bytes");
        let text = body["text"].as_str().unwrap();
        check_chat_text(case, text);
        assert!(
            chars(text) <= 4096 && chars(text) <= 400,
            "googlechat/{case}: text"
        );
        if let Some(t) = body.get("thread") {
            let key = t["threadKey"].as_str().unwrap();
            assert!(
                !key.is_empty()
                    && key.len() <= 4000
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "googlechat/{case}: threadKey {key:?}"
            );
        }
        let cards = body["cardsV2"].as_array().unwrap();
        assert_eq!(cards.len(), 1);
        let card = &cards[0]["card"];
        assert!(card["header"]["title"].is_string(), "googlechat/{case}: title");
        // A notice or a catch-up across sources has no source, so no subtitle.
        for k in ["title", "subtitle"] {
            let Some(h) = card["header"][k].as_str() else {
                continue;
            };
            check_html(case, h, false);
            assert!(chars(h) <= 200, "googlechat/{case}: header {k}");
        }
        for section in card["sections"].as_array().unwrap() {
            for w in section["widgets"].as_array().unwrap() {
                if let Some(p) = w.get("textParagraph") {
                    let t = p["text"].as_str().unwrap();
                    check_html(case, t, true);
                    assert!(chars(t) <= 3000 + 200, "googlechat/{case}: paragraph");
                } else if let Some(d) = w.get("decoratedText") {
                    let t = d["text"].as_str().unwrap();
                    check_html(case, t, false);
                    assert!(chars(t) <= 600, "googlechat/{case}: row");
                } else if let Some(b) = w.get("buttonList") {
                    let u = b["buttons"][0]["onClick"]["openLink"]["url"]
                        .as_str()
                        .unwrap();
                    assert!(GOOD_URLS.contains(&u), "googlechat/{case}: button to {u}");
                } else {
                    panic!("googlechat/{case}: unexpected widget {w}");
                }
            }
        }
    }
}

/// No `<`/`>` at all (`<users/all>`, `<url|label>`), `&` only in our entities, user formatting
/// broken by a zero-width space, no scheme that would auto-link.
fn check_chat_text(case: &str, s: &str) {
    assert!(
        !s.contains(['<', '>']),
        "googlechat/{case}: raw < or > in text {s:?}"
    );
    entities_only(case, s, &["&amp;", "&lt;", "&gt;"]);
    for (i, c) in s.char_indices() {
        if "*_~`".contains(c) {
            assert!(
                s[i + 1..].starts_with('\u{200B}'),
                "googlechat/{case}: live {c:?} in text {s:?}"
            );
        }
    }
    no_live_scheme(case, s);
}

/// Card HTML: only our tags (`<b>`, `<br>` and a link to the alert's safe URL when `ours`),
/// nothing else that parses as markup, `&` only in entities, no scheme that would auto-link.
fn check_html(case: &str, s: &str, ours: bool) {
    let mut rest = s.to_string();
    if ours {
        for u in GOOD_URLS {
            rest = rest.replace(&format!("<a href=\"{}\">", u.replace('&', "&amp;")), "\n");
        }
        // A tag is a break: text on either side of it does not join.
        for tag in ["<b>", "</b>", "<br>", "</a>"] {
            rest = rest.replace(tag, "\n");
        }
    }
    assert!(
        !rest.contains(['<', '>', '"']),
        "googlechat/{case}: markup in {s:?}"
    );
    entities_only(case, &rest, &["&amp;", "&lt;", "&gt;", "&quot;"]);
    no_live_scheme(case, &rest);
}

fn entities_only(case: &str, s: &str, allowed: &[&str]) {
    for (i, _) in s.match_indices('&') {
        assert!(
            allowed.iter().any(|e| s[i..].starts_with(e)),
            "googlechat/{case}: bare & in {s:?}"
        );
    }
}

fn no_live_scheme(case: &str, s: &str) {
    for (i, _) in s.match_indices(':') {
        let letter_before = s[..i].ends_with(|c: char| c.is_ascii_alphabetic());
        let text_after = s[i + 1..].starts_with(|c: char| !c.is_whitespace());
        assert!(
            !(letter_before && text_after),
            "googlechat/{case}: live scheme in {s:?}"
        );
    }
}

fn preview(a: &Alert) -> Value {
    let s = Sink::from_config(&GoogleChat::config("http://127.0.0.1:9")).unwrap();
    serde_json::from_str(&s.preview(a, crate::now())).unwrap()
}

#[tokio::test]
async fn posts_with_the_reply_option_and_the_urls_own_key_and_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(GoogleChat::ok())
        .mount(&server)
        .await;
    let s = Sink::from_config(&GoogleChat::config(&server.uri())).unwrap();
    s.send(&client(), &Alert::sample()).await.unwrap();
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].url.path(), "/v1/spaces/AAAAx1y2z3/messages");
    let q: Vec<(String, String)> = reqs[0]
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        q,
        [
            ("key", "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"),
            ("token", CANARY),
            ("messageReplyOption", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"),
        ]
    );
}

#[test]
fn same_thread_same_key_other_thread_other_key_none_new_thread() {
    let a = Alert::sample();
    let key = preview(&a)["thread"]["threadKey"].clone();
    assert_eq!(
        key,
        googlechat::thread_key(a.thread.as_deref().unwrap()).as_str()
    );
    let mut b = Alert::sample();
    b.id = "msg_second".into();
    b.text = "A second comment in the same conversation".into();
    assert_eq!(preview(&b)["thread"]["threadKey"], key, "same thread");
    b.thread = Some("acme-blog:https://example.com/blog/other".into());
    let other = preview(&b)["thread"]["threadKey"].clone();
    assert!(other.is_string() && other != key, "other thread");
    b.thread = None;
    let v = preview(&b);
    assert!(v.get("thread").is_none(), "no thread: a new one");
    GoogleChat::check("no thread", &v);
}

#[test]
fn a_url_without_key_and_token_is_refused_without_quoting_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cfg = SinkConfig {
        url: Some(Secret::Plain(format!(
            "https://chat.googleapis.com/v1/spaces/AAA/messages?x={CANARY}"
        ))),
        ..SinkConfig::new("gc", SinkKind::GoogleChat)
    };
    let e = Sink::from_config(&cfg).unwrap_err();
    assert!(e.message.contains("token"), "{e}");
    assert!(!e.to_string().contains(CANARY), "{e}");
}

#[test]
fn check_catches_pings_markup_and_size() {
    let good = preview(&Alert::sample());
    GoogleChat::check("good", &good);
    let mut ping = good.clone();
    ping["text"] = json!("hey <users/all>");
    let mut bold = good.clone();
    bold["text"] = json!("*bold*");
    let mut tag = good.clone();
    tag["cardsV2"][0]["card"]["sections"][0]["widgets"][1]["textParagraph"]["text"] =
        json!("<a href=\"https://evil.example\">x</a>");
    let mut key = good.clone();
    key["thread"]["threadKey"] = json!("a key with spaces");
    let mut big = good;
    big["cardsV2"][0]["card"]["sections"][0]["widgets"][1]["textParagraph"]["text"] =
        json!("x".repeat(MAX_BODY_BYTES));
    for bad in [ping, bold, tag, key, big] {
        let r = std::panic::catch_unwind(|| GoogleChat::check("bad", &bad));
        assert!(r.is_err(), "check let through {bad}");
    }
}

#[test]
fn ten_k_multibyte_text_fits_with_a_cut_excerpt() {
    let long = "😀日本語🎉".repeat(10 * 1024 / 14 + 1);
    let mut a = Alert::sample();
    a.text = long.clone();
    a.title = Some(long.clone());
    a.author = Some(long.clone());
    a.reasons = vec![long.clone(); 30];
    a.thread = Some(long);
    let v = preview(&a);
    GoogleChat::check("10k multibyte everywhere", &v);
    let excerpt = v["cardsV2"][0]["card"]["sections"][0]["widgets"][1]["textParagraph"]["text"]
        .as_str()
        .unwrap();
    assert!(excerpt.starts_with("😀日本語🎉") && excerpt.ends_with('…'));
}
