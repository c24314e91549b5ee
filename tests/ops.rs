//! Health and metrics of a real runtime: a local feed, a source whose host says to wait, and
//! three Slack receivers (one takes alerts, one refuses them for good, one fails for now).
//! Checks the figures `/metrics` and `/healthz` give, through the real listener, and that no
//! webhook URL or token reaches either.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{Feed, item, receiver, secret_file};
use earshot::config::Config;
use earshot::runtime::{Clock, Runtime};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const T0: i64 = 1_800_000_000;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + secs, 0).unwrap()
}

/// The secret part of every webhook URL; must never show.
const CANARY: &str = "B0CANARY/XXsecretXX";

struct World {
    _dir: tempfile::TempDir,
    rt: Arc<Runtime>,
    _servers: Vec<MockServer>,
}

async fn world() -> World {
    world_of(vec![
        item("a", "Acme is down again", "acme outage, furious"),
        item("b", "Acme release notes", "acme 2.0 is out"),
        item("c", "Unrelated", "nothing to see"),
    ])
    .await
}

async fn world_of(items: Vec<common::Item>) -> World {
    let feed = Feed::default();
    feed.set(items);
    let blog = feed.serve().await;
    // Another host name, so its block does not hold the blog.
    let busy = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .mount(&busy)
        .await;
    let busy_url = format!("http://localhost:{}/feed.xml", busy.address().port());
    let (team, gone, flaky) = (
        receiver(200).await,
        receiver(404).await,
        receiver(500).await,
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hook = |name: &str, server: &MockServer| {
        secret_file(d, name, &format!("{}/services/T000/{CANARY}", server.uri()))
    };
    let toml = format!(
        r#"
        [daemon]
        allow_private_networks = true
        state_dir = "{state}"
        [[source]]
        id = "blog"
        kind = "feed"
        url = "{blog}/feed.xml"
        backfill = true
        [[source]]
        id = "busy"
        kind = "feed"
        url = "{busy_url}"
        [[source]]
        id = "later"
        kind = "feed"
        url = "{blog}/other.xml"
        [[watch]]
        name = "acme"
        query = "acme"
        [[watch]]
        name = "rival"
        query = "rival"
        [[sink]]
        id = "team"
        kind = "slack"
        url = {{ file = "{team}" }}
        max_per_second = 1000
        [[sink]]
        id = "gone"
        kind = "slack"
        url = {{ file = "{gone}" }}
        max_per_second = 1000
        [[sink]]
        id = "flaky"
        kind = "slack"
        url = {{ file = "{flaky}" }}
        max_per_second = 1000
        [[route]]
        sinks = ["team", "gone", "flaky"]
        min_urgency = "low"
        "#,
        state = d.join("state").display().to_string().replace('\\', "/"),
        blog = blog.uri(),
        team = hook("team", &team),
        gone = hook("gone", &gone),
        flaky = hook("flaky", &flaky),
    );
    let cfg = Config::parse(&toml).unwrap().config;
    let mut rt = Runtime::new(cfg, Clock::tokio_from(at(0))).unwrap();
    rt.set_ack_key(earshot::ack::AckKey::from_bytes([9; 32]));
    World {
        _dir: dir,
        rt: Arc::new(rt),
        _servers: vec![blog, busy, team, gone, flaky],
    }
}

impl World {
    /// Polls the blog once and the busy source twice (the second is held without a request),
    /// then sends everything due.
    async fn run(&self) {
        let source = |id: &str| {
            self.rt
                .config
                .sources
                .iter()
                .find(|s| s.id == id)
                .unwrap()
                .clone()
        };
        let r = self.rt.poll(&source("blog"), at(0)).await.unwrap();
        assert_eq!(r.commit.new_mentions, 2, "{r:?}");
        for t in [1, 2] {
            let r = self.rt.poll(&source("busy"), at(t)).await.unwrap();
            assert!(r.error.as_deref().unwrap_or("").contains("429"), "{r:?}");
        }
        self.rt
            .deliver_all_due(at(3), &CancellationToken::new())
            .await
            .unwrap();
    }
}

/// The value of one series (`name{labels}`) in a Prometheus text exposition.
fn value(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| {
            l.strip_prefix(series)
                .is_some_and(|rest| rest.starts_with(' '))
        })
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"));
    line[series.len()..].trim().parse().unwrap()
}

#[tokio::test]
async fn metrics_count_polls_matches_deliveries_and_waits() {
    let w = world().await;
    w.run().await;
    let m = w.rt.prometheus();
    let cases: &[(&str, f64)] = &[
        (r#"earshot_polls_total{source="blog"}"#, 1.0),
        (r#"earshot_polls_total{source="busy"}"#, 2.0),
        (r#"earshot_polls_total{source="later"}"#, 0.0),
        (
            r#"earshot_fetch_errors_total{source="blog",reason="none"}"#,
            0.0,
        ),
        (
            r#"earshot_fetch_errors_total{source="busy",reason="rate_limited"}"#,
            2.0,
        ),
        (
            r#"earshot_source_last_success_timestamp_seconds{source="blog"}"#,
            T0 as f64,
        ),
        (
            r#"earshot_source_last_success_timestamp_seconds{source="busy"}"#,
            0.0,
        ),
        (r#"earshot_source_consecutive_failures{source="busy"}"#, 2.0),
        // The first request was sent and told to wait; the second was not sent at all.
        (
            r#"earshot_rate_limit_waits_total{host="localhost",wait="held"}"#,
            1.0,
        ),
        (
            r#"earshot_rate_limit_waits_total{host="localhost",wait="spaced"}"#,
            0.0,
        ),
        (r#"earshot_mentions_matched_total{watch="acme"}"#, 2.0),
        (r#"earshot_mentions_matched_total{watch="rival"}"#, 0.0),
        (r#"earshot_alerts_sent_total{sink="team"}"#, 2.0),
        (r#"earshot_alerts_dead_total{sink="team"}"#, 0.0),
        // The first refusal parks one and holds the rest of the queue.
        (r#"earshot_alerts_dead_total{sink="gone"}"#, 1.0),
        (r#"earshot_outbox_pending{sink="gone"}"#, 1.0),
        (r#"earshot_outbox_dead{sink="gone"}"#, 1.0),
        // A failure for now defers the whole queue: one attempt failed, both wait.
        (r#"earshot_alerts_failed_total{sink="flaky"}"#, 1.0),
        (r#"earshot_alerts_sent_total{sink="flaky"}"#, 0.0),
        (r#"earshot_outbox_pending{sink="flaky"}"#, 2.0),
        (
            r#"earshot_outbox_oldest_pending_age_seconds{sink="flaky"}"#,
            0.0,
        ),
        (r#"earshot_outbox_pending{sink="team"}"#, 0.0),
        (r#"earshot_config_reloads_total{result="ok"}"#, 0.0),
        (r#"earshot_config_last_reload_successful"#, 1.0),
        (r#"earshot_ready"#, 0.0),
        (r#"earshot_store_up"#, 1.0),
    ];
    for (series, want) in cases {
        assert_eq!(value(&m, series), *want, "{series}");
    }
    assert_eq!(
        value(
            &m,
            &format!(
                r#"earshot_build_info{{version="{}"}}"#,
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    // Every series has its family's HELP and TYPE first, once.
    for family in m.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = family.split(' ').next().unwrap();
        assert_eq!(
            m.lines()
                .filter(|l| l.starts_with(&format!("# TYPE {name} ")))
                .count(),
            1,
            "{name}"
        );
    }
    // Ten minutes on, the oldest waiting delivery is ten minutes old.
    let health = earshot::health::Health::read(&w.rt.config, &w.rt.store, T0 + 600);
    let m = w.rt.metrics.render(&health, &["acme".to_string()], &[]);
    assert_eq!(
        value(
            &m,
            r#"earshot_outbox_oldest_pending_age_seconds{sink="flaky"}"#
        ),
        600.0
    );
}

#[tokio::test]
async fn health_names_each_part_through_the_listener_and_hides_secrets() {
    let w = world().await;
    w.run().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let state = w.rt.http_state().expect("the listener is on");
    let task = tokio::spawn(earshot::http::serve(listener, state, stop.clone()));
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).send();

    let r = get("/healthz").await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "a failing source is reported, not a reason to restart"
    );
    let health: serde_json::Value = r.json().await.unwrap();
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["store"]["state"], "ok");
    let part = |list: &str, id: &str| {
        health[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap_or_else(|| panic!("{list} {id} in {health}"))
            .clone()
    };
    assert_eq!(part("sources", "blog")["state"], "ok");
    assert_eq!(
        part("sources", "blog")["last_success_at"],
        "2027-01-15T08:00:00Z"
    );
    assert_eq!(part("sources", "busy")["state"], "failing");
    assert_eq!(part("sources", "busy")["consecutive_failures"], 2);
    assert!(
        part("sources", "busy")["last_error"]
            .as_str()
            .unwrap()
            .contains("HTTP 429"),
        "{health}"
    );
    assert_eq!(part("sources", "later")["state"], "waiting");
    assert_eq!(part("sinks", "team")["state"], "ok");
    assert_eq!(part("sinks", "team")["sent"], 2);
    assert_eq!(part("sinks", "gone")["state"], "failing");
    assert_eq!(part("sinks", "flaky")["state"], "degraded");
    assert_eq!(part("sinks", "flaky")["pending"], 2);
    assert_eq!(part("sinks", "flaky")["retrying"], 1);
    assert!(
        part("sinks", "flaky")["last_error"]
            .as_str()
            .unwrap()
            .contains("500"),
        "{health}"
    );
    assert_eq!(health["daemon"]["ready"], false);
    assert_eq!(health["daemon"]["reloads_failed"], 0);

    let r = get("/readyz").await.unwrap();
    assert_eq!(r.status(), 503, "not started: not ready");
    w.rt.metrics.set_ready(true);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);

    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert_eq!(value(&metrics, r#"earshot_ready"#), 1.0);
    assert_eq!(
        value(&metrics, r#"earshot_alerts_sent_total{sink="team"}"#),
        2.0
    );

    for (what, body) in [("healthz", health.to_string()), ("metrics", metrics)] {
        assert!(
            !body.contains(CANARY),
            "{what} shows a webhook secret:\n{body}"
        );
        assert!(
            !body.contains("services/T000"),
            "{what} shows a webhook URL:\n{body}"
        );
    }
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_full_disk_is_reported_and_loses_nothing_once_there_is_room() {
    // Long posts, so that storing them needs new pages.
    let long = |text: &str| text.repeat(400);
    let w = world_of(vec![
        item("a", "Acme is down again", &long("acme outage, furious. ")),
        item("b", "Acme release notes", &long("acme 2.0 is out. ")),
        item("c", "Unrelated", &long("nothing to see. ")),
    ])
    .await;
    let blog = w.rt.config.sources[0].clone();
    // The database may not grow by a single page: the disk is full.
    w.rt.store.set_max_page_count(1).unwrap();
    let e = w.rt.poll(&blog, at(0)).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("is full: free some space"), "{msg}");
    let m = w.rt.prometheus();
    assert_eq!(
        value(
            &m,
            r#"earshot_fetch_errors_total{source="blog",reason="store"}"#
        ),
        1.0
    );
    assert_eq!(
        value(&m, r#"earshot_mentions_matched_total{watch="acme"}"#),
        0.0
    );
    // Room again: the next poll fetches the same items and stores every one.
    w.rt.store.set_max_page_count(1 << 30).unwrap();
    let r = w.rt.poll(&blog, at(60)).await.unwrap();
    assert_eq!((r.commit.new_items, r.commit.new_mentions), (3, 2), "{r:?}");
    w.rt.deliver_due("team", at(61), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(common::posts(&w._servers[2]).await.len(), 2);
}
