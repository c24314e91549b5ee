//! Conformance case for `kind = "mattermost"`: an incoming webhook with one Slack-style
//! attachment, Markdown-escaped, mentions broken by a zero-width space, within the post text and
//! attachment limits.

use earshot::alert::Alert;
use earshot::config::{SinkConfig, SinkKind};
use earshot::secret::Secret;
use earshot::sink::{Retry, Sink};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{CANARY, SinkCase, all_strings, chars, client, escaped_at, requests};

pub struct Mattermost;

const HOOK: &str = "/hooks/CANARY-SECRET-123";
const ZWSP: char = '\u{200B}';

impl SinkCase for Mattermost {
    const KIND: SinkKind = SinkKind::Mattermost;
    const SNAPSHOT: &'static str = "mattermost.json";

    fn config(server: &str) -> SinkConfig {
        assert!(HOOK.contains(CANARY));
        SinkConfig {
            url: Some(Secret::Plain(format!("{server}{HOOK}"))),
            username: Some("earshot".into()),
            ..SinkConfig::new("mm", SinkKind::Mattermost)
        }
    }

    fn ok() -> ResponseTemplate {
        ResponseTemplate::new(200)
            .insert_header("Content-Type", "text/plain")
            .set_body_string("ok")
    }

    fn check(case: &str, body: &Value) {
        check_mattermost(case, body);
    }
}

/// True when `s` holds a URL scheme (`https:`, `javascript:`) or a domain (`evil.example`)
/// that an auto-linker could pick up: a `:` right after a letter or digit, or a `.` between a
/// letter or digit and a letter.
pub fn live_link(s: &str) -> bool {
    let v: Vec<char> = s.chars().collect();
    v.iter().enumerate().any(|(i, &c)| {
        let after_alnum = i > 0 && v[i - 1].is_alphanumeric();
        match c {
            ':' => after_alnum,
            '.' => after_alnum && v.get(i + 1).is_some_and(|n| n.is_alphabetic()),
            _ => false,
        }
    })
}

/// Each `@`, `~` and `#` (the starts of mentions, channel links and hashtags) is followed by a
/// zero-width space, and no URL scheme or domain survives.
fn no_mention_or_link(case: &str, s: &str) {
    let v: Vec<char> = s.chars().collect();
    for (i, c) in v.iter().enumerate() {
        if matches!(c, '@' | '~' | '#') {
            assert_eq!(
                v.get(i + 1),
                Some(&ZWSP),
                "mattermost/{case}: live {c:?} in {s:?}"
            );
        }
    }
    assert!(!live_link(s), "mattermost/{case}: a link could form in {s:?}");
}

/// User text rendered as Markdown: every special character is backslash-escaped.
fn escaped_markdown(case: &str, s: &str) {
    no_mention_or_link(case, s);
    for (i, c) in s.char_indices() {
        if "*_`|<>[]()!-+=$&~#".contains(c) {
            assert!(
                escaped_at(s, i),
                "mattermost/{case}: unescaped {c:?} in {s:?}"
            );
        }
    }
}

pub fn check_mattermost(case: &str, v: &Value) {
    let obj = v.as_object().unwrap();
    for k in obj.keys() {
        assert!(
            ["text", "attachments", "username"].contains(&k.as_str()),
            "mattermost/{case}: unexpected key {k}"
        );
    }
    let text = v["text"].as_str().unwrap();
    assert!(chars(text) <= 16_383, "mattermost/{case}: text");
    let heading = text.strip_prefix("#### ").expect("a heading");
    escaped_markdown(case, heading);

    let atts = v["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 1);
    let serialized = v["attachments"].to_string();
    assert!(
        chars(&serialized) <= 7_900,
        "mattermost/{case}: attachments {} chars",
        chars(&serialized)
    );
    let a = &atts[0];
    let color = a["color"].as_str().unwrap();
    assert!(color.starts_with('#') && color.len() == 7, "{color}");
    escaped_markdown(case, a["title"].as_str().unwrap());
    if let Some(t) = a.get("text") {
        let t = t.as_str().unwrap();
        assert!(!t.is_empty());
        escaped_markdown(case, t);
    }
    for f in a["fields"].as_array().unwrap() {
        let value = f["value"].as_str().unwrap();
        assert!(!value.is_empty() && chars(value) <= 1000, "{case}: {f}");
        escaped_markdown(case, value);
    }
    // Plain-text fields: no Markdown to escape, but nothing that pings or links.
    for key in ["author_name", "fallback"] {
        if let Some(s) = a.get(key) {
            no_mention_or_link(case, s.as_str().unwrap());
        }
    }
    if let Some(u) = a.get("title_link") {
        assert!(
            u.as_str().unwrap().starts_with("https://example.com/"),
            "mattermost/{case}: title_link {u}"
        );
    }
    // Nothing else carries a URL: the link above is the only one.
    let urls = all_strings(v)
        .into_iter()
        .filter(|s| live_link(s))
        .count();
    assert_eq!(urls, usize::from(a.get("title_link").is_some()), "{case}");
}

#[tokio::test]
async fn reads_the_rate_limit_headers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(HOOK))
        .respond_with(
            Mattermost::ok()
                .insert_header("X-RateLimit-Limit", "10")
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", "3"),
        )
        .mount(&server)
        .await;
    let s = Sink::from_config(&Mattermost::config(&server.uri())).unwrap();
    let sent = s.send(&client(), &Alert::sample()).await.unwrap();
    let wait = sent.wait_before_next.expect("a wait when the budget is spent");
    assert!(wait.as_secs() <= 3 && wait.as_secs() >= 2, "{wait:?}");
    assert_eq!(requests(&server).await.len(), 1);

    // A 429 with only the limiter's reset still waits for it.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", "5"),
        )
        .mount(&server)
        .await;
    let e = Sink::from_config(&Mattermost::config(&server.uri()))
        .unwrap()
        .send(&client(), &Alert::sample())
        .await
        .unwrap_err();
    match e.retry {
        Retry::Later(Some(w)) => assert!((4..=5).contains(&w.as_secs()), "{w:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_is_checked() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bad: Vec<(SinkConfig, &str)> = vec![
        (SinkConfig::new("mm", SinkKind::Mattermost), "needs `url`"),
        (
            SinkConfig {
                url: Some(Secret::Plain(format!(
                    "https://mm.example.com/api/{CANARY}"
                ))),
                ..SinkConfig::new("mm", SinkKind::Mattermost)
            },
            "incoming webhook",
        ),
        (
            SinkConfig {
                username: Some(String::new()),
                ..Mattermost::config("https://mm.example.com")
            },
            "`username`",
        ),
    ];
    for (cfg, want) in bad {
        let e = Sink::from_config(&cfg).unwrap_err().to_string();
        assert!(e.contains(want) && e.starts_with("sink mm:"), "{e}");
        assert!(!e.contains(CANARY), "{e}");
    }
    let s = Sink::from_config(&Mattermost::config("https://mm.example.com")).unwrap();
    assert_eq!(s.kind_name(), "mattermost");
    assert_eq!(s.default_pace(), Some(10.0));
}
