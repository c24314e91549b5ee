//! A sink that failed or was told to wait is held as a whole, in the database: rows queued
//! after the failure wait too, a restart keeps the hold, a success releases it. The back-off
//! counts from when a failure is seen, a timeout after the request went out waits longer (the
//! target may have it), and every row past the give-up time is parked at the next failure.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{Feed, item, secret_file};
use earshot::config::Config;
use earshot::runtime::{Clock, Runtime};
use earshot::store::Store;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

struct World {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    feed: Feed,
    _feed_server: MockServer,
    hook: MockServer,
    cfg: Config,
}

impl World {
    /// One feed, one Slack sink at `hook`; `daemon` is more of the `[daemon]` table.
    async fn new(hook: MockServer, daemon: &str) -> World {
        let feed = Feed::default();
        let feed_server = feed.serve().await;
        let url = format!("{}/feed.xml", feed_server.uri());
        World::with_feed(hook, daemon, feed, feed_server, &url)
    }

    fn with_feed(
        hook: MockServer,
        daemon: &str,
        feed: Feed,
        feed_server: MockServer,
        feed_url: &str,
    ) -> World {
        let dir = tempfile::tempdir().unwrap();
        let url = secret_file(dir.path(), "slack", &format!("{}/hook", hook.uri()));
        let text = format!(
            r#"
            [daemon]
            allow_private_networks = true
            state_dir = "{state}"
            {daemon}
            [[source]]
            id = "forum"
            kind = "feed"
            url = "{feed_url}"
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
            "#,
            state = dir.path().display().to_string().replace('\\', "/"),
        );
        let cfg = Config::parse(&text).unwrap().config;
        World {
            db: dir.path().join("earshot.db"),
            _dir: dir,
            feed,
            _feed_server: feed_server,
            hook,
            cfg,
        }
    }

    /// A runtime on the world's database, as a fresh process builds it, its clock at `t`.
    fn runtime(&self, t: DateTime<Utc>) -> Runtime {
        let store = Arc::new(Store::open(&self.db).unwrap());
        Runtime::with_store(self.cfg.clone(), store, Clock::tokio_from(t)).unwrap()
    }

    /// The feed gains a complaint `n`; polled and delivered at `t`.
    async fn complaint(&self, rt: &Runtime, n: usize, t: DateTime<Utc>) {
        self.feed.push(item(
            &format!("c{n}"),
            "Acme",
            &format!("acme login broken, report {n}"),
        ));
        let r = rt.poll(self.cfg.source("forum").unwrap(), t).await.unwrap();
        assert!(r.error.is_none(), "{r:?}");
        rt.deliver_all_due(t, &CancellationToken::new())
            .await
            .unwrap();
    }

    async fn attempts(&self) -> usize {
        self.hook.received_requests().await.unwrap().len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_holds_every_row_of_the_sink_new_ones_and_restarts_included() {
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "30"))
        .mount(&hook)
        .await;
    let w = World::new(hook, "").await;
    let rt = w.runtime(at(0));
    w.complaint(&rt, 0, at(0)).await;
    assert_eq!(w.attempts().await, 1);
    // A new mention every 5 s inside the 30 s the target asked for: none is sent.
    for (n, t) in (5..30).step_by(5).enumerate() {
        w.complaint(&rt, n + 1, at(t)).await;
    }
    assert_eq!(w.attempts().await, 1, "sent inside the Retry-After");
    // A restart inside the hold keeps it.
    drop(rt);
    let rt = w.runtime(at(20));
    rt.deliver_all_due(at(29), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        w.attempts().await,
        1,
        "sent after a restart inside the hold"
    );
    assert_eq!(
        rt.store.next_due_at("support").unwrap(),
        Some(1_800_000_030)
    );
    // Once it is over, one attempt, which is refused again and holds again.
    rt.deliver_all_due(at(30), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(w.attempts().await, 2);
    assert!(rt.store.sink_held_until("support").unwrap().unwrap() >= 1_800_000_060);

    // The target recovers: the next turn sends all six, and the hold is released.
    w.hook.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&w.hook)
        .await;
    let r = rt
        .deliver_all_due(at(120), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(r.sent, 6, "{r:?}");
    assert_eq!(rt.store.sink_held_until("support").unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_past_the_give_up_time_is_parked_at_the_next_failure() {
    let w = World::new(
        common::receiver(500).await,
        "delivery_give_up_after = \"10m\"",
    )
    .await;
    let rt = w.runtime(at(0));
    // Eight complaints in the first minute; the target is down for good.
    for n in 0..8 {
        w.complaint(&rt, n, at(n as i64 * 5)).await;
    }
    // Tried at 0 s, then once per back-off (5, 10, 20 s...), not once per complaint.
    let attempts = w.attempts().await;
    assert!(attempts < 8, "the held sink was tried {attempts} times");
    // Past the give-up time, one more failure parks them all, not just the row it tried.
    let r = rt
        .deliver_all_due(at(11 * 60), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(r.dead, 8, "{r:?}");
    assert_eq!(
        rt.store.next_due_at("support").unwrap(),
        None,
        "nothing pending"
    );
    assert_eq!(w.attempts().await, attempts + 1);
    // Fixed, and retried by hand: the hold goes with it, and all eight go out at once.
    assert_eq!(
        rt.store
            .retry_dead(Some("support"), 1_800_000_000 + 700)
            .unwrap(),
        8
    );
    assert_eq!(rt.store.sink_held_until("support").unwrap(), None);
    assert_eq!(
        rt.store.next_due_at("support").unwrap(),
        Some(1_800_000_700)
    );
}

/// Paused time: the target answers after a minute, beyond the 30 s timeout, as a slow receiver
/// that does post the message would. The request went out, so the next try waits the longer
/// "maybe delivered" back-off, counted from the timeout, not from the start. (The feed is a
/// file: on paused time an idle wait for a feed server would let the fetch time out.)
#[tokio::test(start_paused = true)]
async fn a_timeout_after_sending_waits_longer_counted_from_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let feed_path = dir.path().join("feed.xml");
    std::fs::write(
        &feed_path,
        common::comments_feed(&[("c0", "login", "acme login broken for me")]),
    )
    .unwrap();
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("ok")
                .set_delay(Duration::from_secs(60)),
        )
        .mount(&hook)
        .await;
    let feed = Feed::default();
    let unused = MockServer::start().await;
    let path = feed_path.display().to_string().replace('\\', "/");
    let w = World::with_feed(hook, "timeout = \"30s\"", feed, unused, &path);
    let rt = w.runtime(at(0));
    let r = rt
        .poll(w.cfg.source("forum").unwrap(), at(0))
        .await
        .unwrap();
    assert_eq!(r.commit.new_mentions, 1, "{r:?}");
    let d = rt
        .deliver_all_due(at(0), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((d.sent, d.retrying), (0, 1), "{d:?}");
    let until = rt.store.sink_held_until("support").unwrap().unwrap();
    let wait = earshot::sink::MAYBE_DELIVERED_BACKOFF.as_secs() as i64;
    assert!(
        until >= 1_800_000_000 + 30 + wait,
        "held until {} s after the start",
        until - 1_800_000_000
    );
    // Two and a half minutes in, still nothing sent twice.
    rt.deliver_all_due(at(140), &CancellationToken::new())
        .await
        .unwrap();
    assert!(w.attempts().await <= 1, "a copy went out early");
    let d = rt
        .deliver_all_due(at(140), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(d, Default::default(), "nothing is tried inside the hold");
}
