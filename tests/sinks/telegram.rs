//! Conformance case for `kind = "telegram"`, and the Bot API's own replies: a 429 that says its
//! wait only in the body, `ok:false` in a 200, "can't parse entities", a kicked bot, and a group
//! that became a supergroup.

use earshot::alert::Alert;
use earshot::config::{ChatId, SinkConfig, SinkKind};
use earshot::secret::Secret;
use earshot::sink::{Retry, SendError, Sink};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{CANARY, SinkCase, client, requests};

pub struct Telegram;

const CHAT_ID: i64 = -1001234567890;
const TOPIC_ID: i64 = 42;

fn token() -> String {
    format!("123456789:{CANARY}")
}

/// Our config, pointed at `server`.
fn config_with(server: &str, chat_id: &str, topic: Option<i64>) -> SinkConfig {
    SinkConfig {
        token: Some(Secret::Plain(token())),
        chat_id: Some(ChatId(chat_id.into())),
        topic_id: topic,
        base_url: Some(server.to_string()),
        ..SinkConfig::new("tg", SinkKind::Telegram)
    }
}

impl SinkCase for Telegram {
    const KIND: SinkKind = SinkKind::Telegram;
    const SNAPSHOT: &'static str = "telegram.json";

    fn config(server: &str) -> SinkConfig {
        config_with(server, &CHAT_ID.to_string(), Some(TOPIC_ID))
    }

    fn ok() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "result": {
                "message_id": 321,
                "from": {"id": 123456789, "is_bot": true, "first_name": "earshot", "username": "earshot_bot"},
                "chat": {"id": CHAT_ID, "title": "Acme alerts", "type": "supergroup", "is_forum": true},
                "message_thread_id": TOPIC_ID,
                "is_topic_message": true,
                "date": 1780000000,
                "text": "Critical mention · acme"
            }
        }))
    }

    /// Telegram says it in the body only, with no `Retry-After` header.
    fn too_many_7s() -> ResponseTemplate {
        ResponseTemplate::new(429).set_body_json(json!({
            "ok": false,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7}
        }))
    }

    fn check(case: &str, body: &Value) {
        check_body(case, body, &json!(CHAT_ID), Some(TOPIC_ID));
    }
}

/// The tags we allow in `text`: Telegram's set is larger, but we only ever emit these.
const OUR_TAGS: [&str; 4] = ["b", "i", "a", "blockquote"];

/// Checks one payload: the fixed fields, then `text` as Telegram's HTML parser would read it.
fn check_body(case: &str, v: &Value, chat_id: &Value, topic: Option<i64>) {
    let t = "telegram";
    assert_eq!(v["parse_mode"], "HTML", "{t}/{case}");
    assert_eq!(v["link_preview_options"]["is_disabled"], true, "{t}/{case}");
    assert_eq!(&v["chat_id"], chat_id, "{t}/{case}");
    assert_eq!(v.get("message_thread_id"), topic.map(Value::from).as_ref());
    for key in v.as_object().unwrap().keys() {
        assert!(
            [
                "chat_id",
                "message_thread_id",
                "text",
                "parse_mode",
                "link_preview_options",
                "reply_markup"
            ]
            .contains(&key.as_str()),
            "{t}/{case}: unexpected key {key}"
        );
    }
    if let Some(m) = v.get("reply_markup") {
        let rows = m["inline_keyboard"].as_array().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][0]["text"], "Open");
        let u = rows[0][0]["url"].as_str().unwrap();
        assert!(u.starts_with("https://example.com/"), "{t}/{case}: {u}");
    }

    let html = v["text"].as_str().unwrap();
    let visible = parse_html(case, html);
    let n = visible.encode_utf16().count();
    assert!((1..=4096).contains(&n), "{t}/{case}: visible length {n}");

    // Nothing Telegram would turn into a mention, a command target or a link.
    let cs: Vec<char> = visible.chars().collect();
    for (i, &c) in cs.iter().enumerate() {
        let next = cs.get(i + 1).copied();
        match c {
            '@' => assert_eq!(next, Some('\u{200B}'), "{t}/{case}: live @ in {visible:?}"),
            ':' if i > 0 && cs[i - 1].is_ascii_alphabetic() => assert!(
                next.is_none_or(char::is_whitespace),
                "{t}/{case}: live scheme in {visible:?}"
            ),
            '.' => assert!(
                !next.is_some_and(char::is_alphabetic),
                "{t}/{case}: live domain in {visible:?}"
            ),
            _ => {}
        }
    }
}

/// Reads `html` as Telegram's HTML mode does and returns the visible text, asserting that every
/// tag is one of ours, balanced, that the only link is the alert's safe URL, that every `&`
/// starts an entity we emit, and that at most 100 entities (our tags) appear.
fn parse_html(case: &str, html: &str) -> String {
    let t = "telegram";
    let mut visible = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut tags = 0;
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest
                    .find('>')
                    .unwrap_or_else(|| panic!("{t}/{case}: unclosed < in {html:?}"));
                let tag = &rest[1..end];
                if let Some(name) = tag.strip_prefix('/') {
                    assert_eq!(
                        open.pop().as_deref(),
                        Some(name),
                        "{t}/{case}: unbalanced </{name}> in {html:?}"
                    );
                } else {
                    let name = tag.split_whitespace().next().unwrap_or_default();
                    assert!(
                        OUR_TAGS.contains(&name),
                        "{t}/{case}: tag <{tag}> in {html:?}"
                    );
                    if name == "a" {
                        assert!(
                            tag.starts_with("a href=\"https://example.com/")
                                && tag.ends_with('"')
                                && tag.matches('"').count() == 2,
                            "{t}/{case}: link <{tag}>"
                        );
                    } else {
                        assert_eq!(tag, name, "{t}/{case}: attributes on <{tag}>");
                    }
                    open.push(name.to_string());
                    tags += 1;
                }
                rest = &rest[end + 1..];
            }
            '>' => panic!("{t}/{case}: bare > in {html:?}"),
            '&' => {
                let (decoded, len) = [("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>')]
                    .iter()
                    .find(|(e, _)| rest.starts_with(e))
                    .map(|(e, d)| (*d, e.len()))
                    .unwrap_or_else(|| panic!("{t}/{case}: bare & in {html:?}"));
                visible.push(decoded);
                rest = &rest[len..];
            }
            c => {
                visible.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    assert!(open.is_empty(), "{t}/{case}: unclosed {open:?}");
    assert!(
        tags <= 8,
        "{t}/{case}: {tags} tags (Telegram allows 100 entities)"
    );
    visible
}

async fn send_with(resp: ResponseTemplate, cfg: impl Fn(&str) -> SinkConfig) -> SendError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(resp)
        .mount(&server)
        .await;
    let s = Sink::from_config(&cfg(&server.uri())).unwrap();
    let e = s.send(&client(), &Alert::sample()).await.unwrap_err();
    assert!(!e.message.contains(CANARY), "{e:?}");
    e
}

fn api_error(status: u16, description: &str, parameters: Option<Value>) -> ResponseTemplate {
    let mut body = json!({"ok": false, "error_code": status, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    ResponseTemplate::new(status).set_body_json(body)
}

#[tokio::test]
async fn posts_to_the_bot_path_with_chat_and_topic() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{}/sendMessage", token())))
        .respond_with(Telegram::ok())
        .expect(1)
        .mount(&server)
        .await;
    let s = Sink::from_config(&Telegram::config(&format!("{}/", server.uri()))).unwrap();
    s.send(&client(), &Alert::sample()).await.unwrap();
    let reqs = requests(&server).await;
    let body: Value = reqs[0].body_json().unwrap();
    assert_eq!(body["chat_id"], json!(CHAT_ID));
    assert_eq!(body["message_thread_id"], json!(TOPIC_ID));
}

#[tokio::test]
async fn a_channel_name_is_sent_as_a_string_and_no_topic_is_left_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Telegram::ok())
        .mount(&server)
        .await;
    let s = Sink::from_config(&config_with(&server.uri(), "@acme_alerts", None)).unwrap();
    s.send(&client(), &Alert::sample()).await.unwrap();
    let body: Value = requests(&server).await[0].body_json().unwrap();
    check_body("channel", &body, &json!("@acme_alerts"), None);
}

#[tokio::test]
async fn ok_false_in_a_200_is_a_permanent_failure() {
    let resp = ResponseTemplate::new(200)
        .set_body_json(json!({"ok": false, "description": "Bad Request: chat not found"}));
    let e = send_with(resp, Telegram::config).await;
    assert_eq!((e.retry, e.status), (Retry::Never, Some(200)));
    assert!(e.message.contains("chat not found"), "{e:?}");
}

#[tokio::test]
async fn too_many_requests_waits_for_the_body_retry_after() {
    let e = send_with(Telegram::too_many_7s(), Telegram::config).await;
    assert_eq!(
        e.retry,
        Retry::Later(Some(std::time::Duration::from_secs(7)))
    );
    assert!(e.message.contains("retry after 7"), "{e:?}");
}

#[tokio::test]
async fn bad_entities_and_kicked_bots_are_never_retried() {
    let cases = [
        (
            400,
            "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3",
        ),
        (403, "Forbidden: bot was kicked from the supergroup chat"),
        (403, "Forbidden: bot is not a member of the channel chat"),
    ];
    for (status, description) in cases {
        let e = send_with(api_error(status, description, None), Telegram::config).await;
        assert_eq!((e.retry, e.status), (Retry::Never, Some(status)));
        assert!(
            e.message.contains(&description[..30]),
            "{status}: {}",
            e.message
        );
    }
}

#[tokio::test]
async fn a_migrated_group_names_the_new_chat_id() {
    let resp = api_error(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        Some(json!({"migrate_to_chat_id": -1009876543210_i64})),
    );
    let e = send_with(resp, |s| config_with(s, "-987654321", None)).await;
    assert_eq!(e.retry, Retry::Never);
    assert!(
        e.message.contains("set chat_id = -1009876543210"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn an_echoed_token_is_redacted_even_in_a_200() {
    let resp = ResponseTemplate::new(200).set_body_json(
        json!({"ok": false, "description": format!("bad token {}", token())}),
    );
    let e = send_with(resp, Telegram::config).await;
    assert!(e.message.contains("[redacted]"), "{}", e.message);
}

#[test]
fn config_errors_name_the_key_not_the_token() {
    let server = "http://127.0.0.1:9";
    let cases: Vec<(SinkConfig, &str)> = vec![
        (
            SinkConfig {
                token: None,
                ..Telegram::config(server)
            },
            "needs `token`",
        ),
        (
            SinkConfig {
                token: Some(Secret::Plain(format!("not/a token {CANARY}"))),
                ..Telegram::config(server)
            },
            "not a bot token",
        ),
        (
            SinkConfig {
                chat_id: None,
                ..Telegram::config(server)
            },
            "needs `chat_id`",
        ),
        (config_with(server, "acme_alerts", None), "`chat_id`"),
        (config_with(server, "-100", Some(0)), "`topic_id`"),
        (
            SinkConfig {
                base_url: Some("api.telegram.org".into()),
                ..Telegram::config(server)
            },
            "`base_url`",
        ),
    ];
    for (cfg, want) in cases {
        let msg = Sink::from_config(&cfg).unwrap_err().to_string();
        assert!(msg.contains(want) && msg.contains("tg"), "{msg}");
        assert!(!msg.contains(CANARY), "{msg}");
    }
}

#[test]
fn default_base_url_and_pace() {
    let cfg = SinkConfig {
        base_url: None,
        ..Telegram::config("http://unused")
    };
    let s = Sink::from_config(&cfg).unwrap();
    assert_eq!(s.kind_name(), "telegram");
    assert_eq!(s.default_pace(), Some(0.33));
    let cfg = SinkConfig {
        max_per_second: Some(1.0),
        ..cfg
    };
    assert_eq!(Sink::from_config(&cfg).unwrap().default_pace(), Some(1.0));
}

#[test]
fn the_visible_text_of_a_long_multibyte_mention_fills_but_fits() {
    let s = Sink::from_config(&Telegram::config("http://127.0.0.1:9")).unwrap();
    for text in ["𝕏".repeat(5000), "&<>".repeat(3000), "日本😀".repeat(3000)] {
        let mut a = Alert::sample();
        a.text = text;
        let body: Value = serde_json::from_str(&s.preview(&a, crate::now())).unwrap();
        let html = body["text"].as_str().unwrap();
        let visible = parse_html("long", html);
        let n = visible.encode_utf16().count();
        // The excerpt is capped at 2,000 units; the rest of the message adds a few hundred.
        assert!((2000..=4096).contains(&n), "{n}");
        assert!(html.contains("…</blockquote>"), "{html}");
    }
}


// ---------------------------------------------------------------------------------------------
// Message ids, replies and edits

/// A server answering `method` with `resp`, and the sink pointed at it.
async fn bot_method(method_name: &str, resp: ResponseTemplate) -> (MockServer, Sink) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{}/{method_name}", token())))
        .respond_with(resp)
        .mount(&server)
        .await;
    let s = Sink::from_config(&Telegram::config(&server.uri())).unwrap();
    (server, s)
}

#[tokio::test]
async fn a_sent_message_gives_its_id_and_a_reply_carries_reply_parameters() {
    let (server, s) = bot_method("sendMessage", Telegram::ok()).await;
    let sent = s.send(&client(), &Alert::sample()).await.unwrap();
    assert_eq!(sent.message_ref.as_deref(), Some("321"));
    let sent = s
        .send_reply(&client(), &Alert::sample(), Some("321"))
        .await
        .unwrap();
    assert_eq!(sent.message_ref.as_deref(), Some("321"));
    // Not an id: sent as a plain message rather than lost.
    s.send_reply(&client(), &Alert::sample(), Some("32x1"))
        .await
        .unwrap();
    s.send_reply(&client(), &Alert::sample(), None)
        .await
        .unwrap();

    let bodies: Vec<Value> = requests(&server)
        .await
        .iter()
        .map(|r| r.body_json().unwrap())
        .collect();
    assert_eq!(bodies.len(), 4);
    assert!(bodies[0].get("reply_parameters").is_none());
    assert_eq!(
        bodies[1]["reply_parameters"],
        json!({"message_id": 321, "allow_sending_without_reply": true})
    );
    assert_eq!(bodies[1]["message_thread_id"], json!(TOPIC_ID));
    let mut without = bodies[1].clone();
    without.as_object_mut().unwrap().remove("reply_parameters");
    assert_eq!(without, bodies[0], "a reply is the same message");
    assert_eq!(bodies[2], bodies[0]);
    assert_eq!(bodies[3], bodies[0]);
}

#[tokio::test]
async fn a_reply_without_a_usable_result_is_delivered_without_an_id() {
    for body in [json!({"ok": true, "result": true}), json!({"ok": true})] {
        let (_server, s) =
            bot_method("sendMessage", ResponseTemplate::new(200).set_body_json(body)).await;
        let sent = s.send(&client(), &Alert::sample()).await.unwrap();
        assert_eq!(sent.message_ref, None);
    }
}

#[tokio::test]
async fn edit_posts_edit_message_text_with_the_same_render() {
    let (server, s) = bot_method("editMessageText", Telegram::ok()).await;
    let mut a = Alert::sample();
    a.ack_url = Some(crate::ACK.into());
    let sent = s.edit(&client(), "321", &a).await.unwrap();
    assert_eq!(sent.message_ref.as_deref(), Some("321"));
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    let body: Value = reqs[0].body_json().unwrap();
    let send: Value = serde_json::from_str(&s.preview(&a, crate::now())).unwrap();
    assert_eq!(body["chat_id"], json!(CHAT_ID));
    assert_eq!(body["message_id"], json!(321));
    assert_eq!(body["text"], send["text"]);
    assert_eq!(body["parse_mode"], "HTML");
    assert_eq!(body["link_preview_options"], json!({"is_disabled": true}));
    assert_eq!(body["reply_markup"], send["reply_markup"]);
    let row = body["reply_markup"]["inline_keyboard"][0].as_array().unwrap();
    assert_eq!(row[1], json!({"text": "Acknowledge", "url": crate::ACK}));
    assert!(body.get("message_thread_id").is_none());
    assert!(body.get("reply_parameters").is_none());
}

/// `Ok`, or the error's retry and status.
type EditOutcome = Result<(), (Retry, Option<u16>)>;

#[tokio::test]
async fn edit_outcomes() {
    let cases: Vec<(ResponseTemplate, EditOutcome)> = vec![
        (
            api_error(
                400,
                "Bad Request: message is not modified: specified new message content and reply \
                 markup are exactly the same as a current content and reply markup of the message",
                None,
            ),
            Ok(()),
        ),
        (
            api_error(400, "Bad Request: message to edit not found", None),
            Err((Retry::Never, Some(404))),
        ),
        (
            api_error(400, "Bad Request: can't parse entities", None),
            Err((Retry::Never, Some(400))),
        ),
        (
            api_error(
                429,
                "Too Many Requests: retry after 7",
                Some(json!({"retry_after": 7})),
            ),
            Err((
                Retry::Later(Some(std::time::Duration::from_secs(7))),
                Some(429),
            )),
        ),
    ];
    for (resp, want) in cases {
        let (_server, s) = bot_method("editMessageText", resp).await;
        let got = s.edit(&client(), "321", &Alert::sample()).await;
        match (want, got) {
            (Ok(()), Ok(sent)) => assert_eq!(sent, earshot::sink::Sent::default()),
            (Err((retry, status)), Err(e)) => {
                assert_eq!((e.retry, e.status), (retry, status), "{e:?}");
                assert!(!e.message.contains(CANARY), "{e:?}");
            }
            (want, got) => panic!("want {want:?}, got {got:?}"),
        }
    }
}

#[tokio::test]
async fn edit_refuses_a_bad_message_ref_without_a_request() {
    let (server, s) = bot_method("editMessageText", Telegram::ok()).await;
    for bad in ["", "abc", "-5", "0", "12 3", "1/../sendMessage", "99999999999999999999999"] {
        let e = s.edit(&client(), bad, &Alert::sample()).await.unwrap_err();
        assert_eq!((e.retry, e.status), (Retry::Never, None), "{bad:?}");
    }
    assert!(requests(&server).await.is_empty());
}

#[test]
fn a_loopback_ack_link_is_a_text_link_not_a_button() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = Sink::from_config(&Telegram::config("http://127.0.0.1:9")).unwrap();
    for (ack, button) in [
        (crate::ACK, true),
        (crate::ACK_LOOPBACK, false),
        ("http://localhost:9477/ack?m=1", false),
    ] {
        let mut a = Alert::sample();
        a.ack_url = Some(ack.into());
        let v: Value = serde_json::from_str(&s.preview(&a, crate::now())).unwrap();
        let row = v["reply_markup"]["inline_keyboard"][0].as_array().unwrap();
        let text = v["text"].as_str().unwrap();
        let link = format!("<a href=\"{}\">Acknowledge</a>", ack.replace('&', "&amp;"));
        assert_eq!(row.len(), if button { 2 } else { 1 }, "{ack}");
        assert_eq!(text.contains(&link), !button, "{ack}: {text}");
        assert_eq!(row[0]["text"], "Open");
    }
}
