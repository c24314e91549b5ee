//! Grouping per conversation, on explicit clocks: mentions of one thread that arrive within a
//! route's `group_wait` of the first go out as one message, threaded; other threads are not
//! held up by them.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{comments_feed, posts, receiver, secret_file};
use earshot::config::Config;
use earshot::runtime::Runtime;
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
    let rt = Runtime::with_store(cfg.clone(), Arc::new(Store::open(&db).unwrap())).unwrap();
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
