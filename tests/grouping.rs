//! Grouping per conversation, on explicit clocks: mentions of one thread that arrive within a
//! route's `group_wait` of the first go out as one message, threaded; other threads are not
//! held up by them.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{comments_feed, posts, receiver, secret_file};
use earshot::config::Config;
use earshot::runtime::{Clock, Runtime};
use earshot::store::Store;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn serve(server: &MockServer, body: String) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_conversation_within_group_wait_is_one_message() {
    let feed = MockServer::start().await;
    let hook = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let url = secret_file(dir.path(), "slack-url", &format!("{}/hook", hook.uri()));
    let text = format!(
        r#"
        [daemon]
        allow_private_networks = true
        [[source]]
        id = "forum"
        kind = "feed"
        url = "{}/feed.xml"
        backfill = true
        [[watch]]
        name = "acme"
        query = "acme"
        [[sink]]
        id = "support"
        kind = "slack"
        url = {{ file = "{url}" }}
        max_per_second = 100.0
        [[route]]
        watch = "acme"
        min_urgency = "low"
        sinks = ["support"]
        group_wait = "2m"
        "#,
        feed.uri()
    );
    let cfg = Config::parse(&text).unwrap().config;
    let db = dir.path().join("earshot.db");
    let rt = Runtime::with_store(
        cfg.clone(),
        Arc::new(Store::open(&db).unwrap()),
        Clock::tokio_from(at("2026-11-23T10:00:00Z")),
    )
    .unwrap();
    let source = cfg.source("forum").unwrap().clone();
    let stop = CancellationToken::new();

    // 10:00: two replies in the "outage" thread, one in "billing".
    serve(
        &feed,
        comments_feed(&[
            ("c1", "outage", "acme is down for me"),
            ("c2", "outage", "acme down here too, since 9"),
            ("c3", "billing", "acme charged me twice"),
        ]),
    )
    .await;
    rt.poll(&source, at("2026-11-23T10:00:00Z")).await.unwrap();
    // Nothing before the group's wait is over.
    let r = rt
        .deliver_due("support", at("2026-11-23T10:01:59Z"), &stop)
        .await
        .unwrap();
    assert_eq!(r.sent, 0);

    // 10:01: a third reply in "outage" joins the group, whose time does not move.
    serve(
        &feed,
        comments_feed(&[
            ("c1", "outage", "acme is down for me"),
            ("c2", "outage", "acme down here too, since 9"),
            ("c3", "billing", "acme charged me twice"),
            ("c4", "outage", "acme status page says all green?!"),
        ]),
    )
    .await;
    rt.poll(&source, at("2026-11-23T10:01:00Z")).await.unwrap();

    // 10:02: one message for the three "outage" replies, one for "billing".
    let r = rt
        .deliver_due("support", at("2026-11-23T10:02:00Z"), &stop)
        .await
        .unwrap();
    assert_eq!(r.sent, 4, "{r:?}");
    let sent = posts(&hook).await;
    assert_eq!(sent.len(), 2, "{sent:#?}");
    let all = serde_json::to_string(&sent).unwrap();
    assert!(
        all.contains("3 mentions in one conversation: Re: outage"),
        "{all}"
    );
    for t in [
        "acme is down for me",
        "down here too",
        "status page says all green",
    ] {
        assert!(all.contains(t), "{t} missing: {all}");
    }
    assert!(all.contains("acme charged me twice"));
    assert!(!all.contains("mentions in one conversation: Re: billing"));

    // Nothing is sent twice.
    let r = rt
        .deliver_due("support", at("2026-11-23T10:10:00Z"), &stop)
        .await
        .unwrap();
    assert_eq!(r.sent, 0);
    assert_eq!(posts(&hook).await.len(), 2);
}

/// A runtime as a fresh process builds it: `text` parsed, the store at `db` opened again.
fn open(text: &str, db: &std::path::Path) -> (Runtime, Config) {
    let cfg = Config::parse(text).unwrap().config;
    let rt = Runtime::with_store(
        cfg.clone(),
        Arc::new(Store::open(db).unwrap()),
        Clock::tokio_from(at("2026-11-23T10:00:00Z")),
    )
    .unwrap();
    (rt, cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_a_group_neither_loses_nor_repeats() {
    let feed = MockServer::start().await;
    let hook = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let url = secret_file(dir.path(), "slack-url", &format!("{}/hook", hook.uri()));
    let text = format!(
        r#"
        [daemon]
        allow_private_networks = true
        [[source]]
        id = "forum"
        kind = "feed"
        url = "{}/feed.xml"
        backfill = true
        [[watch]]
        name = "acme"
        query = "acme"
        [[sink]]
        id = "support"
        kind = "slack"
        url = {{ file = "{url}" }}
        max_per_second = 100.0
        [[route]]
        watch = "acme"
        min_urgency = "low"
        sinks = ["support"]
        group_wait = "2m"
        "#,
        feed.uri()
    );
    let db = dir.path().join("earshot.db");
    let stop = CancellationToken::new();
    let first = ("c1", "outage", "acme is down for me");
    let second = ("c2", "outage", "acme down here too, since 9");

    {
        // 10:00: the first reply is stored; its message waits for the group until 10:02.
        let (rt, cfg) = open(&text, &db);
        serve(&feed, comments_feed(&[first])).await;
        let r = rt
            .poll(cfg.source("forum").unwrap(), at("2026-11-23T10:00:00Z"))
            .await
            .unwrap();
        assert_eq!(r.commit.enqueued, 1, "{r:?}");
        let r = rt
            .deliver_due("support", at("2026-11-23T10:01:00Z"), &stop)
            .await
            .unwrap();
        assert_eq!(r.sent, 0, "held by group_wait");
    } // The process dies with the group open.

    // 10:01:30, a new process: the second reply of the thread arrives within the wait.
    let (rt, cfg) = open(&text, &db);
    serve(&feed, comments_feed(&[first, second])).await;
    let r = rt
        .poll(cfg.source("forum").unwrap(), at("2026-11-23T10:01:30Z"))
        .await
        .unwrap();
    assert_eq!(
        (r.commit.new_mentions, r.commit.enqueued),
        (1, 1),
        "only the new reply is stored: {r:?}"
    );
    // The group keeps the first reply's time: still nothing at 10:01:59.
    let r = rt
        .deliver_due("support", at("2026-11-23T10:01:59Z"), &stop)
        .await
        .unwrap();
    assert_eq!(r.sent, 0);
    assert!(posts(&hook).await.is_empty());

    let r = rt
        .deliver_due("support", at("2026-11-23T10:02:00Z"), &stop)
        .await
        .unwrap();
    assert_eq!(r.sent, 2, "both rows in one send: {r:?}");
    let sent = posts(&hook).await;
    assert_eq!(sent.len(), 1, "one message: {sent:#?}");
    let one = sent[0].to_string();
    assert!(
        one.contains("2 mentions in one conversation: Re: outage"),
        "{one}"
    );
    assert!(one.contains("acme is down for me"), "{one}");
    assert!(one.contains("down here too"), "{one}");

    // Later passes, and another restart, send nothing more.
    let r = rt
        .deliver_due("support", at("2026-11-23T10:30:00Z"), &stop)
        .await
        .unwrap();
    assert_eq!(r.sent, 0);
    drop(rt);
    let (rt, cfg) = open(&text, &db);
    let r = rt
        .poll(cfg.source("forum").unwrap(), at("2026-11-23T11:00:00Z"))
        .await
        .unwrap();
    assert_eq!(r.commit.new_mentions, 0);
    let r = rt
        .deliver_due("support", at("2026-11-23T11:00:00Z"), &stop)
        .await
        .unwrap();
    assert_eq!(r.sent, 0);
    assert_eq!(posts(&hook).await.len(), 1);
}
