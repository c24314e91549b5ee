//! Conformance case for `kind = "ntfy"`: a JSON publish to `{base_url}/`, the topic (a secret) in
//! the body, an access token as `Authorization: Bearer`.

use std::time::Duration;

use earshot::alert::Alert;
use earshot::config::{SinkConfig, SinkKind};
use earshot::secret::Secret;
use earshot::sink::{Retry, Sink};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::{CANARY, SinkCase, chars, client, receiver, requests};

pub struct Ntfy;

const TOPIC: &str = "earshot-CANARY-SECRET-123";
const TOKEN: &str = "tk_CANARY-SECRET-123";
/// How `render` (the preview) shows the topic.
const TOPIC_SHOWN: &str = "[topic]";
const MESSAGE_MAX: usize = 4096;
const GOOD_URLS: [&str; 2] = [
    "https://example.com/post/1",
    "https://example.com/blog/launch#comment-42",
];
const TAGS: [&str; 4] = ["rotating_light", "warning", "mega", "speech_balloon"];
const KEYS: [&str; 7] = [
    "topic", "title", "message", "tags", "priority", "click", "actions",
];

fn too_many_body() -> Value {
    json!({"code": 42901, "http": 429, "error": "limit reached: too many requests",
           "link": "https://ntfy.sh/docs/publish/#limitations"})
}

impl SinkCase for Ntfy {
    const KIND: SinkKind = SinkKind::Ntfy;
    const SNAPSHOT: &'static str = "ntfy.json";

    fn config(server: &str) -> SinkConfig {
        SinkConfig {
            base_url: Some(server.to_string()),
            topic: Some(Secret::Plain(TOPIC.into())),
            token: Some(Secret::Plain(TOKEN.into())),
            ..SinkConfig::new("ntfy", SinkKind::Ntfy)
        }
    }

    /// The published message, as ntfy echoes it.
    fn ok() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "id": "hwQ2YpKdmg", "time": 1_780_000_000, "expires": 1_780_043_200,
            "event": "message", "topic": TOPIC, "title": "x", "message": "y",
        }))
    }

    /// The wire body carries the real topic where the preview shows [`TOPIC_SHOWN`].
    fn body(req: &Request) -> Value {
        let mut v: Value = req.body_json().expect("a JSON body");
        assert_eq!(v["topic"], TOPIC, "the real topic goes on the wire");
        v["topic"] = json!(TOPIC_SHOWN);
        v
    }

    fn too_many_7s() -> ResponseTemplate {
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "7")
            .set_body_json(too_many_body())
    }

    fn check(case: &str, body: &Value) {
        let obj = body.as_object().unwrap();
        for k in obj.keys() {
            assert!(KEYS.contains(&k.as_str()), "ntfy/{case}: key {k}");
        }
        assert!(body.get("markdown").is_none(), "ntfy/{case}: markdown");
        assert_eq!(body["topic"], TOPIC_SHOWN, "ntfy/{case}: topic shown");
        let title = body["title"].as_str().unwrap();
        assert!(
            !title.is_empty() && chars(title) <= 250 && !title.contains('\n'),
            "ntfy/{case}: title {title:?}"
        );
        let message = body["message"].as_str().unwrap();
        assert!(
            !message.is_empty() && message.len() <= MESSAGE_MAX,
            "ntfy/{case}: message {} bytes",
            message.len()
        );
        for s in [title, message] {
            // Plain text: only what a client would auto-link is defanged.
            for (i, _) in s.match_indices(':') {
                let letter_before = s[..i].ends_with(|c: char| c.is_ascii_alphabetic());
                let text_after = s[i + 1..].starts_with(|c: char| !c.is_whitespace());
                assert!(
                    !(letter_before && text_after),
                    "ntfy/{case}: live scheme in {s:?}"
                );
            }
        }
        let p = body["priority"].as_u64().unwrap();
        assert!((1..=5).contains(&p), "ntfy/{case}: priority {p}");
        for t in body["tags"].as_array().unwrap() {
            assert!(TAGS.contains(&t.as_str().unwrap()), "ntfy/{case}: tag {t}");
        }
        if let Some(click) = body.get("click") {
            let u = click.as_str().unwrap();
            assert!(GOOD_URLS.contains(&u), "ntfy/{case}: click {u}");
            let a = &body["actions"].as_array().unwrap()[0];
            assert_eq!(
                (&a["action"], &a["label"], &a["url"]),
                (&json!("view"), &json!("Open"), click)
            );
        } else {
            assert!(body.get("actions").is_none());
        }
    }
}

fn sink(server: &str) -> Sink {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Sink::from_config(&Ntfy::config(server)).unwrap()
}

#[tokio::test]
async fn publishes_json_to_the_root_with_the_topic_and_a_bearer_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Ntfy::ok())
        .mount(&server)
        .await;
    // A trailing slash on base_url does not double.
    let s = sink(&format!("{}/", server.uri()));
    let sent = s.send(&client(), &Alert::sample()).await.unwrap();
    assert_eq!(sent.wait_before_next, None);
    let reqs = requests(&server).await;
    assert_eq!(reqs[0].url.path(), "/");
    assert_eq!(
        reqs[0].headers.get("authorization").unwrap(),
        &format!("Bearer {TOKEN}")
    );
    let wire: Value = reqs[0].body_json().unwrap();
    assert_eq!(wire["topic"], TOPIC);
    assert_eq!(wire["priority"], 5, "critical");
    assert!(!s.preview(&Alert::sample(), crate::now()).contains(CANARY));
    assert_eq!(s.default_pace(), Some(0.2));
}

#[tokio::test]
async fn a_429_is_later_with_or_without_retry_after() {
    let cases = [
        (
            ResponseTemplate::new(429).set_body_json(too_many_body()),
            Retry::Later(None),
        ),
        (
            Ntfy::too_many_7s(),
            Retry::Later(Some(Duration::from_secs(7))),
        ),
    ];
    for (resp, want) in cases {
        let server = receiver(resp).await;
        let e = sink(&server.uri())
            .send(&client(), &Alert::sample())
            .await
            .unwrap_err();
        assert_eq!((e.retry, e.status), (want, Some(429)), "{e:?}");
        assert!(e.message.contains("42901"), "{}", e.message);
    }
}

#[tokio::test]
async fn an_echo_of_topic_and_token_is_redacted() {
    let body = format!("{{\"error\":\"topic {TOPIC} token {TOKEN} forbidden\"}}");
    let server = receiver(ResponseTemplate::new(403).set_body_string(body)).await;
    let e = sink(&server.uri())
        .send(&client(), &Alert::sample())
        .await
        .unwrap_err();
    assert_eq!(e.retry, Retry::Never);
    assert!(!e.message.contains(CANARY), "{}", e.message);
    assert!(e.message.contains("forbidden"), "{}", e.message);
}

#[test]
fn config_errors_name_the_key_not_the_secret() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let base = || Ntfy::config("https://ntfy.example");
    let cases: Vec<(SinkConfig, &str)> = vec![
        (
            SinkConfig {
                topic: None,
                ..base()
            },
            "`topic`",
        ),
        (
            SinkConfig {
                topic: Some(Secret::Plain(format!("{CANARY}/x y"))),
                ..base()
            },
            "`topic` must be",
        ),
        (
            SinkConfig {
                base_url: Some(format!("https://user:{CANARY}@ntfy.example")),
                ..base()
            },
            "`base_url` must not hold",
        ),
        (
            SinkConfig {
                base_url: Some("ftp://ntfy.example".into()),
                ..base()
            },
            "`base_url` must be",
        ),
        (
            SinkConfig {
                token: Some(Secret::Plain(format!("tk {CANARY}"))),
                ..base()
            },
            "`token` must be",
        ),
    ];
    for (cfg, want) in cases {
        let e = Sink::from_config(&cfg).unwrap_err();
        assert!(e.message.contains(want), "{e}");
        assert!(!e.to_string().contains(CANARY), "{e}");
    }
    let default = Sink::from_config(&SinkConfig {
        base_url: None,
        token: None,
        ..base()
    })
    .unwrap();
    assert!(
        format!("{default:?}").contains("endpoint: \"https://ntfy.sh/\""),
        "{default:?}"
    );
}

#[test]
fn check_catches_markdown_size_links_and_a_shown_topic() {
    let good: Value = serde_json::from_str(&sink("http://127.0.0.1:9").preview(&Alert::sample(), crate::now()))
        .unwrap();
    Ntfy::check("good", &good);
    let mut md = good.clone();
    md["markdown"] = json!(true);
    let mut big = good.clone();
    big["message"] = json!("é".repeat(MESSAGE_MAX / 2 + 1));
    let mut link = good.clone();
    link["message"] = json!("see https://evil.example");
    let mut click = good.clone();
    click["click"] = json!("https://evil.example/");
    let mut topic = good;
    topic["topic"] = json!(TOPIC);
    for bad in [md, big, link, click, topic] {
        let r = std::panic::catch_unwind(|| Ntfy::check("bad", &bad));
        assert!(r.is_err(), "check let through {bad}");
    }
}

#[test]
fn ten_k_multibyte_text_fits_in_4096_bytes() {
    let long = "😀日本語🎉".repeat(10 * 1024 / 14 + 1);
    let mut a = Alert::sample();
    a.text = long.clone();
    a.title = Some(long.clone());
    a.author = Some(long.clone());
    a.reasons = vec![long; 30];
    let v: Value = serde_json::from_str(&sink("http://127.0.0.1:9").preview(&a, crate::now())).unwrap();
    Ntfy::check("10k multibyte everywhere", &v);
    let m = v["message"].as_str().unwrap();
    assert!(m.starts_with("😀日本語🎉") && m.len() > 3000, "{} bytes", m.len());
}
