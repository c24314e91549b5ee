//! Conformance case for `kind = "discord"`: its checks live in `main.rs`, written before the suite.

use earshot::config::{SinkConfig, SinkKind};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::SinkCase;

pub struct Discord;

impl SinkCase for Discord {
    const KIND: SinkKind = SinkKind::Discord;
    const SNAPSHOT: &'static str = "discord.json";

    fn config(server: &str) -> SinkConfig {
        crate::config(SinkKind::Discord, Some(format!("{server}{}", crate::HOOK_PATH)))
    }

    fn ok() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_string("ok")
    }

    fn check(case: &str, body: &Value) {
        crate::check_discord(case, body);
    }

    /// Discord links only a URL with its scheme, whose `:` the escaper backslashes; a bare
    /// `evil.example` stays text.
    const LINKS: crate::Linker = crate::Linker::SchemeOnly;
}

// ---------------------------------------------------------------------------------------------
// Message ids and edits

use std::time::Duration;

use earshot::alert::Alert;
use earshot::sink::{Retry, Sink};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer};

use crate::{CANARY, HOOK_PATH, client, requests, sink};

/// A `?wait=true` reply as Discord sends it: the message, its embed echoed before its `id`.
fn recorded_reply(id: &str) -> Value {
    let embed = json!({
        "type": "rich", "title": "Re: Acme Cloud launch",
        "url": "https://example.com/blog/launch#comment-42",
        "description": "x".repeat(3000), "color": 15158332,
        "fields": [{"name": "Watch", "value": "acme", "inline": true}],
        "footer": {"text": "earshot · msg_sample0000000000000000"}
    });
    json!({
        "type": 0, "content": "Critical mention of acme", "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [embed, embed], "timestamp": "2026-05-28T20:26:40.000000+00:00",
        "edited_timestamp": null, "flags": 0, "components": [],
        "id": id, "channel_id": "1100000000000000000",
        "author": {"bot": true, "id": "1200000000000000000", "username": "earshot",
                   "avatar": null, "discriminator": "0000"},
        "pinned": false, "mention_everyone": false, "tts": false,
        "webhook_id": "1200000000000000000"
    })
}

const MSG: &str = "1234567890123456789";

#[tokio::test]
async fn a_sent_message_gives_its_snowflake() {
    let cases: Vec<(ResponseTemplate, Option<&str>)> = vec![
        (
            ResponseTemplate::new(200).set_body_json(recorded_reply(MSG)),
            Some(MSG),
        ),
        (
            ResponseTemplate::new(200).set_body_json(recorded_reply("12ab")),
            None,
        ),
        (
            ResponseTemplate::new(200).set_body_json(recorded_reply("../../x")),
            None,
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"id": 42})),
            None,
        ),
        (ResponseTemplate::new(204), None),
        (ResponseTemplate::new(200).set_body_string("ok"), None),
    ];
    for (resp, want) in cases {
        let server = crate::receiver(resp).await;
        let sent = sink(SinkKind::Discord, crate::hook_url(&server))
            .send(&client(), &Alert::sample())
            .await
            .unwrap();
        assert_eq!(sent.message_ref.as_deref(), want);
    }
}

/// A server with PATCH on the message path answering `resp`; the sink's URL gets `query`.
async fn edit_server(resp: ResponseTemplate, query: &str) -> (MockServer, Sink) {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(format!("{HOOK_PATH}/messages/{MSG}")))
        .respond_with(resp)
        .mount(&server)
        .await;
    let cfg = SinkConfig {
        username: Some("Mention Monitor".into()),
        ..crate::config(
            SinkKind::Discord,
            Some(format!("{}{HOOK_PATH}{query}", server.uri())),
        )
    };
    (server, Sink::from_config(&cfg).unwrap())
}

#[tokio::test]
async fn edit_patches_the_message_with_the_same_render_less_username() {
    let (server, s) = edit_server(
        ResponseTemplate::new(200).set_body_json(recorded_reply(MSG)),
        "",
    )
    .await;
    let mut a = Alert::sample();
    a.ack_url = Some(crate::ACK.into());
    let sent = s.edit(&client(), MSG, &a).await.unwrap();
    assert_eq!(sent.message_ref.as_deref(), Some(MSG));
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].url.query(), None, "no wait on an edit");
    let body: Value = reqs[0].body_json().unwrap();
    let mut send: Value = serde_json::from_str(&s.preview(&a, crate::now())).unwrap();
    assert_eq!(send["username"], "Mention Monitor");
    send.as_object_mut().unwrap().remove("username");
    assert_eq!(body, send);
    let description = body["embeds"][0]["description"].as_str().unwrap();
    assert!(
        description.ends_with(&format!("\n\n[Acknowledge]({})", crate::ACK)),
        "{description}"
    );
}

#[tokio::test]
async fn edit_keeps_thread_id_and_drops_wait() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(format!("{HOOK_PATH}/messages/{MSG}")))
        .and(query_param("thread_id", "42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(recorded_reply(MSG)))
        .expect(1)
        .mount(&server)
        .await;
    let s = sink(
        SinkKind::Discord,
        format!("{}{HOOK_PATH}?wait=false&thread_id=42", server.uri()),
    );
    s.edit(&client(), MSG, &Alert::sample()).await.unwrap();
    let reqs = requests(&server).await;
    assert_eq!(reqs[0].url.query(), Some("thread_id=42"));
}

#[tokio::test]
async fn edit_refuses_a_bad_message_ref_without_a_request() {
    let (server, s) = edit_server(ResponseTemplate::new(200), "").await;
    for bad in ["", "12a", "../x", "1/2", "-1", "1 2", "123456789012345678901", "１２"] {
        let e = s
            .edit(&client(), bad, &Alert::sample())
            .await
            .unwrap_err();
        assert_eq!((e.retry, e.status), (Retry::Never, None), "{bad:?}");
    }
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn edit_outcomes_follow_send() {
    let unknown = json!({"message": "Unknown Message", "code": 10008});
    let limited = json!({"message": "You are being rate limited.", "retry_after": 2.5, "global": false});
    let cases: Vec<(ResponseTemplate, Retry, u16)> = vec![
        (
            ResponseTemplate::new(404).set_body_json(unknown),
            Retry::Never,
            404,
        ),
        (
            ResponseTemplate::new(429).set_body_json(limited),
            Retry::Later(Some(Duration::from_millis(2500))),
            429,
        ),
        (ResponseTemplate::new(403), Retry::Never, 403),
        (ResponseTemplate::new(502), Retry::Later(None), 502),
    ];
    for (resp, retry, status) in cases {
        let (_server, s) = edit_server(resp, "").await;
        let e = s
            .edit(&client(), MSG, &Alert::sample())
            .await
            .unwrap_err();
        assert_eq!((e.retry, e.status), (retry, Some(status)), "{e:?}");
        assert!(!e.message.contains(CANARY), "{e:?}");
    }
    // A spent bucket on an edit slows the next message like a send.
    let (_server, s) = edit_server(
        ResponseTemplate::new(200)
            .insert_header("X-RateLimit-Remaining", "0")
            .insert_header("X-RateLimit-Reset-After", "1.25")
            .set_body_json(recorded_reply(MSG)),
        "",
    )
    .await;
    let sent = s.edit(&client(), MSG, &Alert::sample()).await.unwrap();
    assert_eq!(sent.wait_before_next, Some(Duration::from_millis(1250)));
}
