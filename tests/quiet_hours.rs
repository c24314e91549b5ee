//! Quiet hours end to end, on explicit clocks: a night of mentions runs in milliseconds. What a
//! muted route holds waits in the outbox (surviving a restart) and goes out as one catch-up
//! message, the most urgent first, when the window opens; critical mentions break through.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{Feed, item, posts, receiver, secret_file};
use earshot::config::Config;
use earshot::runtime::{Clock, Runtime};
use earshot::store::Store;
use tokio_util::sync::CancellationToken;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn config(dir: &std::path::Path, feed: &str, hook: &str) -> Config {
    config_with(dir, feed, hook, "")
}

fn config_with(dir: &std::path::Path, feed: &str, hook: &str, sink_extra: &str) -> Config {
    let url = secret_file(dir, "slack-url", hook);
    let text = format!(
        r#"
        [daemon]
        allow_private_networks = true
        [[source]]
        id = "forum"
        kind = "feed"
        url = "{feed}"
        backfill = true
        [[watch]]
        name = "acme"
        query = "acme"
        [[sink]]
        id = "support"
        kind = "slack"
        url = {{ file = "{url}" }}
        max_per_second = 100.0
        {sink_extra}
        [[time_interval]]
        name = "night"
        times = [{{ start = "22:00", end = "07:00" }}]
        location = "Europe/London"
        [[route]]
        watch = "acme"
        min_urgency = "low"
        sinks = ["support"]
        mute_time_intervals = ["night"]
        critical_breaks_through = true
        "#
    );
    Config::parse(&text).unwrap().config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_night_is_held_and_caught_up_in_one_message_across_a_restart() {
    let feed = Feed::default();
    feed.set(vec![
        item("1", "Acme login is slow", "acme login is slow today"),
        item(
            "2",
            "Acme breach",
            "acme data breach, my card was charged twice, this is a scam, I want a refund and a lawyer",
        ),
        item("3", "Acme export is broken", "acme export is broken"),
    ]);
    let server = feed.serve().await;
    let hook = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("earshot.db");
    let cfg = config(
        dir.path(),
        &format!("{}/feed.xml", server.uri()),
        &format!("{}/hook", hook.uri()),
    );
    let stop = CancellationToken::new();

    // 23:00 in London (winter, UTC+0): muted. Only the critical breach goes out now.
    let night = at("2026-11-22T23:00:00Z");
    {
        let rt = Runtime::with_store(
            cfg.clone(),
            Arc::new(Store::open(&db).unwrap()),
            Clock::tokio_from(at("2026-11-22T23:00:00Z")),
        )
        .unwrap();
        let source = cfg.source("forum").unwrap().clone();
        let report = rt.poll(&source, night).await.unwrap();
        assert_eq!(report.commit.new_mentions, 3, "{report:?}");
        rt.deliver_due("support", night, &stop).await.unwrap();
        let sent = posts(&hook).await;
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert!(sent[0]["text"].as_str().unwrap().contains("Acme breach"));
        // Still night at 06:59: nothing more.
        let report = rt
            .deliver_due("support", at("2026-11-23T06:59:00Z"), &stop)
            .await
            .unwrap();
        assert_eq!(report.sent, 0);
    } // The daemon stops in the middle of the night.

    let rt = Runtime::with_store(
        cfg.clone(),
        Arc::new(Store::open(&db).unwrap()),
        Clock::tokio_from(at("2026-11-23T07:00:00Z")),
    )
    .unwrap();
    let morning = at("2026-11-23T07:00:00Z");
    let report = rt.deliver_due("support", morning, &stop).await.unwrap();
    assert_eq!(
        report.sent, 2,
        "both held rows go in one message: {report:?}"
    );
    let sent = posts(&hook).await;
    assert_eq!(sent.len(), 2, "one catch-up message, not two: {sent:#?}");
    let catch_up = sent[1].to_string();
    assert!(
        catch_up.contains("2 mentions held during quiet hours"),
        "{catch_up}"
    );
    let broken = catch_up
        .find("Acme export is broken")
        .expect("the urgent one listed");
    let slow = catch_up
        .find("Acme login is slow")
        .expect("the other one listed");
    assert!(broken < slow, "most urgent first: {catch_up}");
    // Sent once: later passes find nothing.
    let report = rt
        .deliver_due("support", at("2026-11-23T07:05:00Z"), &stop)
        .await
        .unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(posts(&hook).await.len(), 2);

    // In the day the same route sends at once.
    feed.push(item("4", "Acme question", "does acme support SSO?"));
    let source = cfg.source("forum").unwrap().clone();
    let noon = at("2026-11-23T12:00:00Z");
    rt.poll(&source, noon).await.unwrap();
    let report = rt.deliver_due("support", noon, &stop).await.unwrap();
    assert_eq!(report.sent, 1);
}

#[test]
fn a_muted_route_holds_until_its_window_opens_and_critical_breaks_through() {
    use earshot::pipeline::Pipeline;
    use earshot::urgency::Level;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "https://forum.example.com/feed.xml",
        "https://h.example/x",
    );
    let p = Pipeline::new(&cfg).unwrap();
    let r = &cfg.routes[0];
    let cases = [
        ("2026-11-22T21:59:00Z", Level::High, None),
        (
            "2026-11-22T22:00:00Z",
            Level::High,
            Some("2026-11-23T07:00:00Z"),
        ),
        (
            "2026-11-23T03:30:10Z",
            Level::Low,
            Some("2026-11-23T07:00:00Z"),
        ),
        ("2026-11-23T03:30:10Z", Level::Critical, None),
        ("2026-11-23T07:00:00Z", Level::Normal, None),
        // Summer time in London (UTC+1): 22:00 local is 21:00 UTC, 07:00 local 06:00 UTC.
        (
            "2026-07-01T21:30:00Z",
            Level::Normal,
            Some("2026-07-02T06:00:00Z"),
        ),
    ];
    for (now, level, want) in cases {
        assert_eq!(p.hold(r, level, at(now)), want.map(at), "{now} {level:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_budget_rolls_the_excess_into_one_summary_and_drops_nothing() {
    let feed = Feed::default();
    feed.set(
        (1..=5)
            .map(|i| {
                item(
                    &i.to_string(),
                    &format!("Acme question {i}"),
                    "how do I use acme?",
                )
            })
            .collect(),
    );
    let server = feed.serve().await;
    let hook = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("earshot.db");
    let cfg = config_with(
        dir.path(),
        &format!("{}/feed.xml", server.uri()),
        &format!("{}/hook", hook.uri()),
        "max_alerts_per_hour = 2",
    );
    let stop = CancellationToken::new();
    let rt = Runtime::with_store(
        cfg.clone(),
        Arc::new(Store::open(&db).unwrap()),
        Clock::tokio_from(at("2026-11-23T10:00:00Z")),
    )
    .unwrap();
    let source = cfg.source("forum").unwrap().clone();
    let ten = at("2026-11-23T10:00:00Z");
    assert_eq!(rt.poll(&source, ten).await.unwrap().commit.enqueued, 5);

    // Two alerts within the budget; the other three wait for the hour to roll.
    let report = rt.deliver_due("support", ten, &stop).await.unwrap();
    assert_eq!(report.sent, 2, "{report:?}");
    let report = rt
        .deliver_due("support", at("2026-11-23T10:59:59Z"), &stop)
        .await
        .unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(posts(&hook).await.len(), 2);

    // At 11:00 the first two leave the hour: one summary carries the three.
    let report = rt
        .deliver_due("support", at("2026-11-23T11:00:00Z"), &stop)
        .await
        .unwrap();
    assert_eq!(report.sent, 3, "{report:?}");
    let sent = posts(&hook).await;
    assert_eq!(sent.len(), 3, "{sent:#?}");
    let summary = sent[2].to_string();
    assert!(
        summary.contains("3 mentions held back by this channel") && summary.contains("budget of 2"),
        "{summary}"
    );
    for i in 3..=5 {
        assert!(summary.contains(&format!("Acme question {i}")), "{summary}");
    }
    // One of two used: the next alert goes straight out.
    feed.push(item("6", "Acme question 6", "acme again?"));
    let t = at("2026-11-23T11:10:00Z");
    rt.poll(&source, t).await.unwrap();
    assert_eq!(rt.deliver_due("support", t, &stop).await.unwrap().sent, 1);
    assert_eq!(posts(&hook).await.len(), 4);
}
