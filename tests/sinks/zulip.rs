//! Conformance case for `kind = "zulip"`: a form-encoded message through the REST API with HTTP
//! Basic auth, every piece of user text escaped for Zulip Markdown, content within 10,000 bytes,
//! the topic within 60 characters, and the API key never in an error.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use earshot::alert::Alert;
use earshot::config::{SinkConfig, SinkKind};
use earshot::secret::Secret;
use earshot::sink::{Retry, Sink};
use serde_json::{Map, Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::mattermost::live_link;
use crate::{CANARY, SinkCase, chars, client, receiver, requests};

pub struct Zulip;

const ZWSP: char = '\u{200B}';
const EMAIL: &str = "earshot-bot@acme.zulipchat.com";

fn api_key() -> String {
    format!("zk{CANARY}")
}

impl SinkCase for Zulip {
    const KIND: SinkKind = SinkKind::Zulip;
    const SNAPSHOT: &'static str = "zulip.json";

    fn config(server: &str) -> SinkConfig {
        SinkConfig {
            base_url: Some(server.to_string()),
            email: Some(EMAIL.into()),
            api_key: Some(Secret::Plain(api_key())),
            stream: Some("support".into()),
            ..SinkConfig::new("zulip", SinkKind::Zulip)
        }
    }

    fn ok() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({"result": "success", "msg": "", "id": 42}))
    }

    fn body(req: &Request) -> Value {
        assert_eq!(
            req.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/x-www-form-urlencoded")
        );
        let map: Map<String, Value> = url::form_urlencoded::parse(&req.body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Value::Object(map)
    }

    /// Zulip says it in the body; the header path is covered by the 503 row and below.
    fn too_many_7s() -> ResponseTemplate {
        ResponseTemplate::new(429).set_body_json(json!({
            "result": "error", "msg": "API usage exceeded rate limit",
            "code": "RATE_LIMIT_HIT", "retry-after": 7.0
        }))
    }

    fn check(case: &str, body: &Value) {
        check_zulip(case, body);
    }
}

/// What a backslash may escape in our output.
const ESCAPABLE: &str = "\\`*_{}[]()>#+-!.";

/// Escaped user text: every Markdown character behind a backslash, every ping, LaTeX, fence,
/// table and link starter defused, every `&` an `&amp;`.
fn escaped(case: &str, s: &str) {
    let v: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < v.len() {
        let c = v[i];
        match c {
            '\\' => {
                let next = v.get(i + 1).copied();
                assert!(
                    next.is_some_and(|n| ESCAPABLE.contains(n)),
                    "zulip/{case}: stray backslash in {s:?}"
                );
                i += 2;
                continue;
            }
            '.' => {}
            c if ESCAPABLE.contains(c) => panic!("zulip/{case}: unescaped {c:?} in {s:?}"),
            '@' | '$' | '~' | '|' => assert_eq!(
                v.get(i + 1),
                Some(&ZWSP),
                "zulip/{case}: live {c:?} in {s:?}"
            ),
            '&' => assert!(
                v[i..].starts_with(&['&', 'a', 'm', 'p', ';']),
                "zulip/{case}: bare & in {s:?}"
            ),
            _ => {}
        }
        i += 1;
    }
    assert!(!live_link(s), "zulip/{case}: a link could form in {s:?}");
}

const LABELS: [&str; 7] = [
    "Source",
    "Author",
    "Urgency",
    "Most urgent",
    "Sentiment",
    "Why",
    "When",
];

pub fn check_zulip(case: &str, v: &Value) {
    let obj = v.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["content", "to", "topic", "type"], "zulip/{case}");
    assert_eq!(v["type"], "stream");
    assert_eq!(v["to"], "support");
    let topic = v["topic"].as_str().unwrap();
    assert!(
        (1..=60).contains(&chars(topic)),
        "zulip/{case}: topic {topic:?}"
    );
    let content = v["content"].as_str().unwrap();
    assert!(
        content.len() <= 10_000,
        "zulip/{case}: content {} bytes",
        content.len()
    );
    for bad in ["$$", "```", "~~~", "@**", "@_**"] {
        assert!(!content.contains(bad), "zulip/{case}: {bad} in content");
    }

    // Walk our own layout; everything between its markup is user text and must be escaped.
    let mut lines = content.split('\n');
    let head = lines.next().unwrap();
    let (heading, rest) = head
        .strip_prefix("**")
        .and_then(|h| h.split_once("**: "))
        .unwrap_or_else(|| panic!("zulip/{case}: heading {head:?}"));
    escaped(case, heading);
    match rest.strip_prefix('[') {
        Some(link) => {
            let (title, url) = link.split_once("](").expect("a link");
            escaped(case, title);
            let url = url.strip_suffix(')').expect("a closed link");
            assert!(
                url.starts_with("https://example.com/") && !url.contains(['(', ')', ' ']),
                "zulip/{case}: link {url:?}"
            );
        }
        None => escaped(case, rest),
    }
    let mut listed = Vec::new();
    let mut blank = 0;
    for line in lines {
        if let Some(q) = line.strip_prefix("> ") {
            assert!(listed.is_empty() && blank == 0, "zulip/{case}: quote order");
            escaped(case, q);
        } else if line.is_empty() {
            blank += 1;
        } else {
            let (label, value) = line
                .strip_prefix("- **")
                .and_then(|l| l.split_once("**: "))
                .unwrap_or_else(|| panic!("zulip/{case}: stray line {line:?}"));
            assert!(LABELS.contains(&label), "zulip/{case}: label {label}");
            if label == "When" {
                assert!(
                    value.starts_with("<time:") && value.ends_with("Z>"),
                    "{value}"
                );
            } else {
                escaped(case, value);
            }
            listed.push(label);
        }
    }
    assert_eq!(blank, 1, "zulip/{case}: one blank line before the list");
    // A notice has only its time; a mention at least source, urgency and sentiment.
    let least = if case == "notice" { 1 } else { 3 };
    assert!(listed.len() >= least, "zulip/{case}: {listed:?}");
}

#[tokio::test]
async fn posts_a_form_with_basic_auth() {
    let server = MockServer::start().await;
    let basic = format!("Basic {}", BASE64.encode(format!("{EMAIL}:{}", api_key())));
    Mock::given(method("POST"))
        .and(path("/api/v1/messages"))
        .and(header("authorization", basic.as_str()))
        .respond_with(
            Zulip::ok()
                .insert_header("X-RateLimit-Limit", "200")
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header(
                    "X-RateLimit-Reset",
                    (crate::NOW + 4).to_string().as_str(),
                ),
        )
        .mount(&server)
        .await;
    let s = Sink::from_config(&Zulip::config(&server.uri())).unwrap();
    let sent = s.send(&client(), &Alert::sample()).await.unwrap();
    let wait = sent.wait_before_next.expect("spent budget");
    assert!(wait <= Duration::from_secs(4) && wait >= Duration::from_secs(2), "{wait:?}");
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    let form = Zulip::body(&reqs[0]);
    assert_eq!(form["topic"], "acme");
    assert_eq!(form["type"], "stream");
}

#[tokio::test]
async fn rate_limit_and_refusals() {
    // Body and header disagree: the longer wait wins.
    let server = receiver(
        Zulip::too_many_7s().insert_header("Retry-After", "9"),
    )
    .await;
    let s = Sink::from_config(&Zulip::config(&server.uri())).unwrap();
    let e = s.send(&client(), &Alert::sample()).await.unwrap_err();
    assert_eq!(e.retry, Retry::Later(Some(Duration::from_secs(9))));

    let server = receiver(ResponseTemplate::new(429).set_body_json(
        json!({"result": "error", "code": "RATE_LIMIT_HIT", "retry-after": 0.6}),
    ))
    .await;
    let s = Sink::from_config(&Zulip::config(&server.uri())).unwrap();
    let e = s.send(&client(), &Alert::sample()).await.unwrap_err();
    assert_eq!(e.retry, Retry::Later(Some(Duration::from_millis(600))));

    // A 200 that says error is a refusal, with Zulip's words.
    let server = receiver(ResponseTemplate::new(200).set_body_json(
        json!({"result": "error", "msg": "Channel 'support' does not exist", "code": "STREAM_DOES_NOT_EXIST"}),
    ))
    .await;
    let s = Sink::from_config(&Zulip::config(&server.uri())).unwrap();
    let e = s.send(&client(), &Alert::sample()).await.unwrap_err();
    assert_eq!((e.retry, e.status), (Retry::Never, Some(200)));
    assert!(e.message.contains("does not exist"), "{}", e.message);
}

#[tokio::test]
async fn the_basic_credential_is_redacted_even_when_cut() {
    // A server that echoes the Authorization header at the very end of a long body: the
    // snippet's cut must not leave a prefix of the base64 behind.
    let basic = BASE64.encode(format!("{EMAIL}:{}", api_key()));
    for pad in [150, 170, 190, 195] {
        let server = receiver(
            ResponseTemplate::new(401).set_body_string(format!(
                "{} Basic {basic} key={}",
                "x".repeat(pad),
                api_key()
            )),
        )
        .await;
        let s = Sink::from_config(&Zulip::config(&server.uri())).unwrap();
        let e = s.send(&client(), &Alert::sample()).await.unwrap_err();
        let m = format!("{e:?}");
        assert!(!m.contains(CANARY), "{m}");
        assert!(!m.contains(&basic[..12]), "{pad}: {m}");
    }
}

#[test]
fn config_is_checked() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let good = Zulip::config("https://acme.zulipchat.com");
    let cases: Vec<(SinkConfig, &str)> = vec![
        (
            SinkConfig {
                base_url: None,
                ..good.clone()
            },
            "needs `base_url`",
        ),
        (
            SinkConfig {
                base_url: Some("acme.zulipchat.com".into()),
                ..good.clone()
            },
            "`base_url` must be",
        ),
        (
            SinkConfig {
                email: None,
                ..good.clone()
            },
            "needs `email`",
        ),
        (
            SinkConfig {
                email: Some("bot".into()),
                ..good.clone()
            },
            "`email` must be",
        ),
        (
            SinkConfig {
                api_key: None,
                ..good.clone()
            },
            "needs `api_key`",
        ),
        (
            SinkConfig {
                api_key: Some(Secret::Plain(format!("{CANARY} x"))),
                ..good.clone()
            },
            "`api_key`",
        ),
        (
            SinkConfig {
                stream: None,
                ..good.clone()
            },
            "needs `stream`",
        ),
        (
            SinkConfig {
                stream: Some("x".repeat(61)),
                ..good.clone()
            },
            "`stream` must be",
        ),
    ];
    for (cfg, want) in cases {
        let e = Sink::from_config(&cfg).unwrap_err().to_string();
        assert!(e.contains(want) && e.starts_with("sink zulip:"), "{e}");
        assert!(!e.contains(CANARY), "{e}");
    }
    let s = Sink::from_config(&good).unwrap();
    assert_eq!(s.kind_name(), "zulip");
    assert_eq!(s.default_pace(), Some(3.0));
}
