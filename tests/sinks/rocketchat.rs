//! Conformance case for `kind = "rocketchat"`: an incoming webhook with one attachment, mention
//! and link starters defused, Markdown escaped where Rocket.Chat honours it, within 5,000
//! characters.

use std::time::Duration;

use earshot::alert::Alert;
use earshot::config::{SinkConfig, SinkKind};
use earshot::secret::Secret;
use earshot::sink::{Retry, Sink};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::mattermost::live_link;
use crate::{CANARY, SinkCase, all_strings, chars, client, escaped_at, receiver};

pub struct RocketChat;

const ZWSP: char = '\u{200B}';

impl SinkCase for RocketChat {
    const KIND: SinkKind = SinkKind::RocketChat;
    const SNAPSHOT: &'static str = "rocketchat.json";

    fn config(server: &str) -> SinkConfig {
        SinkConfig {
            url: Some(Secret::Plain(format!("{server}/hooks/6f1b2c3d4e/{CANARY}"))),
            username: Some("earshot".into()),
            ..SinkConfig::new("rc", SinkKind::RocketChat)
        }
    }

    fn ok() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({"success": true}))
    }

    fn check(case: &str, body: &Value) {
        check_rocketchat(case, body);
    }
}

/// No mention, channel, link, quote, spoiler or KaTeX can start: each starter is followed by a
/// zero-width space, and no URL scheme or domain survives.
fn defused(case: &str, s: &str, starters: &str) {
    let v: Vec<char> = s.chars().collect();
    for (i, c) in v.iter().enumerate() {
        if starters.contains(*c) {
            assert_eq!(
                v.get(i + 1),
                Some(&ZWSP),
                "rocketchat/{case}: live {c:?} in {s:?}"
            );
        }
    }
    assert!(!live_link(s), "rocketchat/{case}: a link could form in {s:?}");
}

/// Markdown text: the above, `* _ ~ `` ` `` `#` backslash-escaped, every other backslash (the
/// user's) defused, and no line that starts a list.
fn escaped_markdown(case: &str, s: &str) {
    defused(case, s, "@#<>[]|$");
    let v: Vec<char> = s.chars().collect();
    for (i, c) in v.iter().enumerate() {
        if *c == '\\' {
            let next = v.get(i + 1).copied().unwrap_or(ZWSP);
            assert!(
                next == ZWSP || "*_~`#".contains(next),
                "rocketchat/{case}: live backslash in {s:?}"
            );
        }
    }
    for (i, c) in s.char_indices() {
        if "*_~`#".contains(c) {
            assert!(
                escaped_at(s, i),
                "rocketchat/{case}: unescaped {c:?} in {s:?}"
            );
        }
    }
    for line in s.lines() {
        let t = line.trim_start();
        assert!(
            !t.starts_with("- ") && !t.starts_with("+ "),
            "rocketchat/{case}: a list in {s:?}"
        );
    }
}

/// Every string's characters, and the keys': what the 5,000 limit is checked against.
fn total_chars(v: &Value) -> usize {
    match v {
        Value::String(s) => chars(s),
        Value::Array(a) => a.iter().map(total_chars).sum(),
        Value::Object(o) => o.iter().map(|(k, x)| chars(k) + total_chars(x)).sum(),
        _ => 0,
    }
}

pub fn check_rocketchat(case: &str, v: &Value) {
    let total = total_chars(v);
    assert!(total <= 5_000, "rocketchat/{case}: {total} characters");
    for k in v.as_object().unwrap().keys() {
        assert!(
            ["text", "alias", "attachments"].contains(&k.as_str()),
            "rocketchat/{case}: unexpected key {k}"
        );
    }
    escaped_markdown(case, v["text"].as_str().unwrap());
    let atts = v["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 1);
    let a = &atts[0];
    assert_eq!(a["mrkdwn_in"], json!(["text", "fields"]));
    let color = a["color"].as_str().unwrap();
    assert!(color.starts_with('#') && color.len() == 7, "{color}");
    if let Some(t) = a.get("text") {
        escaped_markdown(case, t.as_str().unwrap());
    }
    for f in a["fields"].as_array().unwrap() {
        let value = f["value"].as_str().unwrap();
        assert!(!value.is_empty(), "{case}: {f}");
        escaped_markdown(case, value);
    }
    for key in ["title", "author_name"] {
        if let Some(s) = a.get(key) {
            defused(case, s.as_str().unwrap(), "@#|<");
        }
    }
    if let Some(u) = a.get("title_link") {
        assert!(
            u.as_str().unwrap().starts_with("https://example.com/"),
            "rocketchat/{case}: title_link {u}"
        );
    }
    let urls = all_strings(v).into_iter().filter(|s| live_link(s)).count();
    assert_eq!(urls, usize::from(a.get("title_link").is_some()), "{case}");
}

#[tokio::test]
async fn a_200_with_success_false_is_a_refusal() {
    let server = receiver(
        ResponseTemplate::new(200)
            .set_body_json(json!({"success": false, "error": "error-invalid-channel"})),
    )
    .await;
    let e = Sink::from_config(&RocketChat::config(&server.uri()))
        .unwrap()
        .send(&client(), &Alert::sample())
        .await
        .unwrap_err();
    assert_eq!((e.retry, e.status), (Retry::Never, Some(200)));
    assert!(e.message.contains("error-invalid-channel"), "{}", e.message);
    assert!(!e.message.contains(CANARY));
}

#[tokio::test]
async fn reads_the_millisecond_reset() {
    let reset = crate::NOW * 1000 + 5_000;
    let server = receiver(
        ResponseTemplate::new(429)
            .insert_header("X-RateLimit-Limit", "10")
            .insert_header("X-RateLimit-Remaining", "0")
            .insert_header("X-RateLimit-Reset", reset.to_string().as_str())
            .set_body_json(json!({"success": false, "error": "Error, too many requests."})),
    )
    .await;
    let e = Sink::from_config(&RocketChat::config(&server.uri()))
        .unwrap()
        .send(&client(), &Alert::sample())
        .await
        .unwrap_err();
    match e.retry {
        Retry::Later(Some(w)) => assert!(
            w > Duration::from_secs(3) && w <= Duration::from_secs(5),
            "{w:?}"
        ),
        other => panic!("{other:?}"),
    }

    let server = receiver(
        RocketChat::ok()
            .insert_header("X-RateLimit-Remaining", "0")
            .insert_header("X-RateLimit-Reset", reset.to_string().as_str()),
    )
    .await;
    let sent = Sink::from_config(&RocketChat::config(&server.uri()))
        .unwrap()
        .send(&client(), &Alert::sample())
        .await
        .unwrap();
    assert!(sent.wait_before_next.is_some_and(|w| w <= Duration::from_secs(5)));
}

#[test]
fn config_is_checked() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bad: Vec<(SinkConfig, &str)> = vec![
        (SinkConfig::new("rc", SinkKind::RocketChat), "needs `url`"),
        (
            SinkConfig {
                url: Some(Secret::Plain(format!("https://rc.example.com/hooks/{CANARY}"))),
                ..SinkConfig::new("rc", SinkKind::RocketChat)
            },
            "incoming webhook",
        ),
        (
            SinkConfig {
                username: Some("x".repeat(65)),
                ..RocketChat::config("https://rc.example.com")
            },
            "`username`",
        ),
    ];
    for (cfg, want) in bad {
        let e = Sink::from_config(&cfg).unwrap_err().to_string();
        assert!(e.contains(want) && e.starts_with("sink rc:"), "{e}");
        assert!(!e.contains(CANARY), "{e}");
    }
    let s = Sink::from_config(&RocketChat::config("https://rc.example.com")).unwrap();
    assert_eq!(s.kind_name(), "rocketchat");
    assert_eq!(s.default_pace(), Some(1.0));
    let v: Value = serde_json::from_str(&s.preview(&Alert::sample(), crate::now())).unwrap();
    assert_eq!(v["alias"], "earshot");
}
