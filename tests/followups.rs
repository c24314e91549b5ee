//! Later mentions of a conversation the team already has a message for, on explicit clocks:
//! Discord edits that message, Telegram replies in its thread, other targets get one summary
//! per `group_interval`; the same text posted on several sources is one alert with a count.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{comments_feed, secret_file};
use earshot::config::Config;
use earshot::runtime::{Clock, Runtime};
use earshot::store::Store;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-23T{s}Z"))
        .unwrap()
        .with_timezone(&Utc)
}

/// A feed server whose `/a.xml` and `/b.xml` can be changed between polls.
struct Feeds(MockServer);

impl Feeds {
    async fn start() -> Feeds {
        Feeds(MockServer::start().await)
    }

    async fn set(&self, feed: &str, items: &[(&str, &str, &str)]) {
        Mock::given(method("GET"))
            .and(path(format!("/{feed}.xml")))
            .respond_with(ResponseTemplate::new(200).set_body_string(comments_feed(items)))
            .with_priority(1)
            .mount(&self.0)
            .await;
    }

    async fn reset(&self) {
        self.0.reset().await;
    }
}

/// Two feed sources (`a`, `b`), watch `acme`, one route to sink `chat` grouping by
/// conversation (`group_wait` 2m, `group_interval` 5m). `sink` is the sink table's other keys.
fn runtime(feeds: &Feeds, sink: &str, dir: &std::path::Path) -> (Runtime, Config) {
    let text = format!(
        r#"
        [daemon]
        allow_private_networks = true
        state_dir = "{state}"
        [[source]]
        id = "a"
        kind = "feed"
        url = "{base}/a.xml"
        backfill = true
        [[source]]
        id = "b"
        kind = "feed"
        url = "{base}/b.xml"
        backfill = true
        [[watch]]
        name = "acme"
        query = "acme"
        [[sink]]
        id = "chat"
        max_per_second = 100.0
        {sink}
        [[route]]
        watch = "acme"
        min_urgency = "low"
        sinks = ["chat"]
        group_wait = "2m"
        group_interval = "5m"
        "#,
        state = dir.display().to_string().replace('\\', "/"),
        base = feeds.0.uri(),
    );
    let cfg = Config::parse(&text).unwrap().config;
    let store = Store::open(&dir.join("earshot.db")).unwrap();
    (
        Runtime::with_store(
            cfg.clone(),
            Arc::new(store),
            Clock::tokio_from(at("10:00:00")),
        )
        .unwrap(),
        cfg,
    )
}

async fn poll(rt: &Runtime, cfg: &Config, source: &str, t: DateTime<Utc>) {
    let r = rt.poll(cfg.source(source).unwrap(), t).await.unwrap();
    assert!(r.error.is_none(), "{r:?}");
}

async fn deliver(rt: &Runtime, t: DateTime<Utc>) -> usize {
    rt.deliver_due("chat", t, &CancellationToken::new())
        .await
        .unwrap()
        .sent
}

/// Requests the chat server got, as (method, path, JSON body).
async fn requests(server: &MockServer) -> Vec<(String, String, Value)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            (
                r.method.to_string(),
                r.url.path().to_string(),
                serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            )
        })
        .collect()
}

const OUTAGE_1: (&str, &str, &str) = ("c1", "outage", "acme is down for me");
const OUTAGE_2: (&str, &str, &str) = ("c2", "outage", "acme down here too, since nine");
const OUTAGE_3: (&str, &str, &str) = ("c3", "outage", "acme status page says all green");
const OUTAGE_4: (&str, &str, &str) = ("c4", "outage", "acme support answered me at last");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_edits_the_conversations_message() {
    let feeds = Feeds::start().await;
    let discord = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/webhooks/1/tok"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"id":"1184000000000000042","type":0}"#),
        )
        .mount(&discord)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/api/webhooks/1/tok/messages/1184000000000000042"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"id":"1184000000000000042"}"#))
        .mount(&discord)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let url = secret_file(
        dir.path(),
        "discord-url",
        &format!("{}/api/webhooks/1/tok", discord.uri()),
    );
    let (rt, cfg) = runtime(
        &feeds,
        &format!("kind = \"discord\"\nurl = {{ file = \"{url}\" }}"),
        dir.path(),
    );

    feeds.set("a", &[OUTAGE_1, OUTAGE_2]).await;
    poll(&rt, &cfg, "a", at("10:00:00")).await;
    assert_eq!(deliver(&rt, at("10:02:00")).await, 2);

    // 10:03: one more reply. It waits for the group interval after the message (10:07), then
    // the message is edited to hold all three: no new message.
    feeds.reset().await;
    feeds.set("a", &[OUTAGE_1, OUTAGE_2, OUTAGE_3]).await;
    poll(&rt, &cfg, "a", at("10:03:00")).await;
    assert_eq!(deliver(&rt, at("10:06:59")).await, 0);
    assert_eq!(deliver(&rt, at("10:07:00")).await, 1);

    let reqs = requests(&discord).await;
    let kinds: Vec<(&str, &str)> = reqs
        .iter()
        .map(|(m, p, _)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("POST", "/api/webhooks/1/tok"),
            ("PATCH", "/api/webhooks/1/tok/messages/1184000000000000042")
        ]
    );
    let edit = reqs[1].2.to_string();
    assert!(edit.contains("3 mentions in one conversation"), "{edit}");
    for t in ["acme is down for me", "down here too", "all green"] {
        assert!(edit.contains(t), "{t}: {edit}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_replies_in_the_conversations_thread() {
    let feeds = Feeds::start().await;
    let tg = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"ok":true,"result":{"message_id":4242,"chat":{"id":-100123,"type":"supergroup"},"date":1}}"#,
        ))
        .mount(&tg)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let token = secret_file(
        dir.path(),
        "tg-token",
        "123456:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ",
    );
    let (rt, cfg) = runtime(
        &feeds,
        &format!(
            "kind = \"telegram\"\ntoken = {{ file = \"{token}\" }}\nchat_id = -100123\nbase_url = \"{}\"",
            tg.uri()
        ),
        dir.path(),
    );
    feeds.set("a", &[OUTAGE_1]).await;
    poll(&rt, &cfg, "a", at("10:00:00")).await;
    assert_eq!(deliver(&rt, at("10:02:00")).await, 1);
    feeds.reset().await;
    feeds.set("a", &[OUTAGE_1, OUTAGE_2, OUTAGE_3]).await;
    poll(&rt, &cfg, "a", at("10:04:00")).await;
    assert_eq!(deliver(&rt, at("10:07:00")).await, 2);

    let reqs = requests(&tg).await;
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert!(reqs[0].2.get("reply_parameters").is_none());
    assert_eq!(reqs[1].2["reply_parameters"]["message_id"], 4242);
    let reply = reqs[1].2["text"].as_str().unwrap();
    assert!(
        reply.contains("2 more mentions in a conversation"),
        "{reply}"
    );
    assert!(reply.contains("down here too") && reply.contains("all green"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_targets_get_one_summary_per_group_interval() {
    let feeds = Feeds::start().await;
    let slack = common::receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let url = secret_file(dir.path(), "slack-url", &format!("{}/hook", slack.uri()));
    let (rt, cfg) = runtime(
        &feeds,
        &format!("kind = \"slack\"\nurl = {{ file = \"{url}\" }}"),
        dir.path(),
    );
    feeds.set("a", &[OUTAGE_1]).await;
    poll(&rt, &cfg, "a", at("10:00:00")).await;
    assert_eq!(deliver(&rt, at("10:02:00")).await, 1);

    // Three replies come in over the next minutes: none goes out before 10:07, then all as one.
    for (t, items) in [
        ("10:03:00", vec![OUTAGE_1, OUTAGE_2]),
        ("10:05:00", vec![OUTAGE_1, OUTAGE_2, OUTAGE_3]),
        ("10:06:30", vec![OUTAGE_1, OUTAGE_2, OUTAGE_3, OUTAGE_4]),
    ] {
        feeds.reset().await;
        feeds.set("a", &items).await;
        poll(&rt, &cfg, "a", at(t)).await;
        assert_eq!(deliver(&rt, at(t)).await, 0, "at {t}");
    }
    assert_eq!(deliver(&rt, at("10:07:00")).await, 3);
    let sent = common::posts(&slack).await;
    assert_eq!(sent.len(), 2, "{sent:#?}");
    let summary = sent[1].to_string();
    assert!(
        summary.contains("3 more mentions in a conversation"),
        "{summary}"
    );
    assert!(summary.contains("follows 1 earlier mention"), "{summary}");

    // A conversation quiet for more than a day starts a new message.
    feeds.reset().await;
    feeds
        .set(
            "a",
            &[
                OUTAGE_1,
                OUTAGE_2,
                OUTAGE_3,
                OUTAGE_4,
                ("c5", "outage", "acme is down again"),
            ],
        )
        .await;
    let next_day = DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    poll(&rt, &cfg, "a", next_day).await;
    assert_eq!(
        deliver(&rt, next_day + chrono::Duration::minutes(2)).await,
        1
    );
    let sent = common::posts(&slack).await;
    assert_eq!(sent.len(), 3);
    assert!(!sent[2].to_string().contains("follows"), "{}", sent[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_text_on_several_sources_is_one_alert_with_a_count() {
    let feeds = Feeds::start().await;
    let slack = common::receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let url = secret_file(dir.path(), "slack-url", &format!("{}/hook", slack.uri()));
    let (rt, cfg) = runtime(
        &feeds,
        &format!("kind = \"slack\"\nurl = {{ file = \"{url}\" }}"),
        dir.path(),
    );
    let post = "Acme Cloud lost my invoices after the update, anyone else? https://x.example/1";
    let repost =
        "acme cloud LOST my invoices after the update... anyone else?? @acme https://y.example/2";
    feeds.set("a", &[("p1", "invoices", post)]).await;
    feeds.set("b", &[("p9", "lost invoices", repost)]).await;
    poll(&rt, &cfg, "a", at("10:00:00")).await;
    poll(&rt, &cfg, "b", at("10:01:00")).await;
    assert_eq!(deliver(&rt, at("10:02:00")).await, 2);
    let sent = common::posts(&slack).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let one = sent[0].to_string();
    assert!(one.contains("posted 2 times"), "{one}");
    assert!(one.contains("the same text 2 times (a, b)"), "{one}");

    // An unrelated post is not folded in.
    feeds.reset().await;
    feeds.set("a", &[("p1", "invoices", post)]).await;
    feeds
        .set(
            "b",
            &[
                ("p9", "lost invoices", repost),
                (
                    "p10",
                    "pricing",
                    "acme pricing page is confusing to read today",
                ),
            ],
        )
        .await;
    poll(&rt, &cfg, "b", at("10:03:00")).await;
    assert_eq!(deliver(&rt, at("10:05:00")).await, 1);
    let sent = common::posts(&slack).await;
    assert_eq!(sent.len(), 2);
    assert!(!sent[1].to_string().contains("posted"), "{}", sent[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_chat_posts_later_mentions_in_the_conversations_thread() {
    let feeds = Feeds::start().await;
    let chat = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/spaces/AAAA/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"name":"spaces/AAAA/messages/m1","thread":{"name":"spaces/AAAA/threads/t1"}}"#,
        ))
        .mount(&chat)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let url = secret_file(
        dir.path(),
        "chat-url",
        &format!(
            "{}/v1/spaces/AAAA/messages?key=K3y-1&token=T0k%3D",
            chat.uri()
        ),
    );
    let (rt, cfg) = runtime(
        &feeds,
        &format!("kind = \"googlechat\"\nurl = {{ file = \"{url}\" }}"),
        dir.path(),
    );
    const BILLING: (&str, &str, &str) = ("c9", "billing", "acme charged me twice");

    feeds.set("a", &[OUTAGE_1, BILLING]).await;
    poll(&rt, &cfg, "a", at("10:00:00")).await;
    assert_eq!(deliver(&rt, at("10:02:00")).await, 2);
    // 10:04: two more replies in "outage"; they wait for the group interval (10:07).
    feeds.reset().await;
    feeds
        .set("a", &[OUTAGE_1, BILLING, OUTAGE_2, OUTAGE_3])
        .await;
    poll(&rt, &cfg, "a", at("10:04:00")).await;
    assert_eq!(deliver(&rt, at("10:06:59")).await, 0);
    assert_eq!(deliver(&rt, at("10:07:00")).await, 2);
    assert_eq!(deliver(&rt, at("10:30:00")).await, 0);

    let reqs = chat.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    for r in &reqs {
        assert_eq!(r.method.as_str(), "POST");
        // The webhook's own key and token, byte for byte, and the reply option.
        assert_eq!(
            r.url.query(),
            Some("key=K3y-1&token=T0k%3D&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD")
        );
    }
    let bodies: Vec<Value> = reqs
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let key = |b: &Value| {
        b["thread"]["threadKey"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let outage = bodies
        .iter()
        .find(|b| b.to_string().contains("acme is down for me"))
        .unwrap();
    let billing = bodies
        .iter()
        .find(|b| b.to_string().contains("charged me twice"))
        .unwrap();
    let later = &bodies[2];
    let later_text = later.to_string();
    assert!(
        later_text.contains("2 more mentions in a conversation"),
        "{later_text}"
    );
    assert!(later_text.contains("down here too") && later_text.contains("all green"));
    assert!(!later_text.contains("charged me twice"));
    // The follow-up goes in the outage thread; billing has its own.
    let k = key(outage);
    assert!(
        k.len() == 40 && k.starts_with("earshot-") && k[8..].chars().all(|c| c.is_ascii_hexdigit()),
        "{k}"
    );
    assert_eq!(key(later), k, "{later_text}");
    assert_ne!(key(billing), k);
    assert!(!key(billing).is_empty());
}
