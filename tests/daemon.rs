//! The long-running daemon in-process: interval and cron sources keep being polled, new
//! mentions are delivered as they come, and a shutdown request ends `run` cleanly.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Feed, item, receiver, secret_file};
use earshot::config::Config;
use earshot::runtime::{self, Clock, Runtime};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_and_cron_sources_keep_firing_and_shutdown_is_clean() {
    let every = Feed::default();
    every.set(vec![item("e0", "Acme old", "acme")]);
    let cron = Feed::default();
    cron.set(vec![item("c0", "Acme old", "acme")]);
    let (s1, s2) = (every.serve().await, cron.serve().await);
    let mut every_hits = every.watch_requests();
    let mut cron_hits = cron.watch_requests();
    let slack = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let url = secret_file(
        dir.path(),
        "slack",
        &format!("{}/services/T/B/X", slack.uri()),
    );
    let toml = format!(
        r#"
        [daemon]
        allow_private_networks = true
        state_dir = "{}"
        jitter = "1ms"
        # Both feeds are on 127.0.0.1: at the default of one request a second to a host, the
        # cron source (every second) would take the whole budget and starve the other.
        per_host_rps = 20.0
        [[source]]
        id = "every"
        kind = "feed"
        url = "{}/feed.xml"
        every = "1500ms"   # no cron expression fits: the sleep loop
        [[source]]
        id = "cron"
        kind = "feed"
        url = "{}/feed.xml"
        cron = "* * * * * *"   # tokio-cron-scheduler
        [[watch]]
        name = "acme"
        query = "acme"
        [[sink]]
        id = "slack"
        kind = "slack"
        url = {{ file = "{url}" }}
        max_per_second = 100
        [[route]]
        sinks = ["slack"]
        min_urgency = "low"
        "#,
        dir.path().join("state").display(),
        s1.uri(),
        s2.uri()
    );
    let rt = Arc::new(Runtime::new(Config::parse(&toml).unwrap().config, Clock::System).unwrap());
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(runtime::run(rt.clone(), shutdown.clone()));

    let guard = Duration::from_secs(30); // a bound so that a bug fails instead of hanging
    // First polls seed history; then a new item on each feed must be alerted by a later poll.
    tokio::time::timeout(guard, every_hits.recv())
        .await
        .unwrap();
    tokio::time::timeout(guard, cron_hits.recv()).await.unwrap();
    every.push(item("e1", "Acme every new", "acme is down"));
    cron.push(item("c1", "Acme cron new", "acme is down"));
    for hits in [&mut every_hits, &mut cron_hits] {
        // Two more polls each: the sources keep firing after the first.
        for _ in 0..2 {
            tokio::time::timeout(guard, hits.recv()).await.unwrap();
        }
    }
    // The deliveries follow the polls that enqueued them.
    let mut texts = Vec::new();
    for _ in 0..100 {
        texts = common::posts(&slack)
            .await
            .iter()
            .map(|b| b["text"].as_str().unwrap_or_default().to_string())
            .collect();
        if texts.len() >= 2 {
            break;
        }
        tokio::task::yield_now().await;
        let _ = tokio::time::timeout(Duration::from_millis(100), every_hits.recv()).await;
    }
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("Acme every new"))
            && texts.iter().any(|t| t.contains("Acme cron new"))
    );
    assert!(
        !texts.iter().any(|t| t.contains("old")),
        "the first poll must not alert"
    );

    shutdown.cancel();
    tokio::time::timeout(guard, daemon)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let sources = rt.store.sources().unwrap();
    assert!(
        sources.iter().all(|s| s.polls >= 3 && s.error_count == 0),
        "{sources:?}"
    );
}
