//! End-to-end stories: a local feed that changes between polls, local receivers playing Slack,
//! Discord and a generic webhook, and a real SQLite file. Time moves by passing later `now`s.

mod common;

use chrono::{DateTime, Utc};
use common::{Feed, item, posts, receiver, secret_file};
use earshot::config::Config;
use earshot::runtime::{Clock, Runtime};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

struct World {
    _dir: tempfile::TempDir,
    rt: Runtime,
    stop: CancellationToken,
    /// Local servers the world reads from or sends to, kept alive with it.
    _servers: Vec<MockServer>,
}

/// A runtime reading `feed_url`, routing watch "acme" to a Slack, a Discord and a webhook receiver.
fn world(feed_url: &str, slack: &str, discord: &str, hook: &str, backfill: bool) -> World {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let toml = format!(
        r#"
        [daemon]
        allow_private_networks = true
        state_dir = "{state}"
        user_agent = "earshot-test"
        [[source]]
        id = "forum"
        kind = "feed"
        url = "{feed_url}"
        backfill = {backfill}
        [[watch]]
        name = "acme"
        query = '"acme cloud" -anvil'
        [[sink]]
        id = "slack"
        kind = "slack"
        url = {{ file = "{slack}" }}
        max_per_second = 1000
        [[sink]]
        id = "discord"
        kind = "discord"
        url = {{ file = "{discord}" }}
        max_per_second = 1000
        [[sink]]
        id = "hook"
        kind = "webhook"
        url = {{ file = "{hook}" }}
        secret = {{ file = "{key}" }}
        [[route]]
        watch = "acme"
        sinks = ["slack", "discord", "hook"]
        min_urgency = "low"
        "#,
        state = d.join("state").display().to_string().replace('\\', "/"),
        slack = secret_file(d, "slack", &format!("{slack}/services/T000/B000/XXXX")),
        discord = secret_file(d, "discord", &format!("{discord}/api/webhooks/1/tok")),
        hook = secret_file(d, "hook", &format!("{hook}/hook")),
        key = secret_file(d, "key", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    );
    let cfg = Config::parse(&toml).unwrap().config;
    World {
        _servers: Vec::new(),
        rt: Runtime::new(cfg, Clock::tokio_from(at(0))).unwrap(),
        _dir: dir,
        stop: CancellationToken::new(),
    }
}

/// A world reading a feed of `items` (alerting from the first poll), whose Slack is `slack`
/// and whose other targets answer 200.
async fn world_with_slack(items: Vec<common::Item>, slack: &MockServer) -> World {
    let feed = Feed::default();
    feed.set(items);
    let server = feed.serve().await;
    let ok = receiver(200).await;
    let mut w = world(
        &format!("{}/feed.xml", server.uri()),
        &slack.uri(),
        &ok.uri(),
        &ok.uri(),
        true,
    );
    w._servers = vec![server, ok];
    w
}

impl World {
    async fn poll(&self, t: i64) -> earshot::runtime::PollReport {
        let src = self.rt.config.sources[0].clone();
        self.rt.poll(&src, at(t)).await.unwrap()
    }

    /// Outbox figures of one sink.
    fn stats(&self, sink: &str) -> earshot::store::SinkStats {
        let stats = self.rt.store.sink_stats().unwrap();
        stats
            .into_iter()
            .find(|s| s.sink_id == sink)
            .unwrap_or_default()
    }

    async fn deliver(&self, t: i64) -> earshot::runtime::DrainReport {
        self.rt.deliver_all_due(at(t), &self.stop).await.unwrap()
    }
}

fn titles(bodies: &[serde_json::Value], key: &str) -> Vec<String> {
    bodies
        .iter()
        .map(|b| {
            b.pointer(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn each_new_matching_item_arrives_once_at_every_target() {
    let feed = Feed::default();
    feed.set(vec![item(
        "old",
        "Acme Cloud was slow last year",
        "old news about acme cloud",
    )]);
    let server = feed.serve().await;
    let (slack, discord, hook) = (
        receiver(200).await,
        receiver(204).await,
        receiver(200).await,
    );
    let w = world(
        &format!("{}/feed.xml", server.uri()),
        &slack.uri(),
        &discord.uri(),
        &hook.uri(),
        false,
    );

    // First poll seeds history: nothing is alerted.
    let r = w.poll(0).await;
    assert!(r.seeding && r.error.is_none(), "{r:?}");
    assert_eq!(w.deliver(0).await.sent, 0);

    feed.push(item(
        "a1",
        "Acme Cloud charged me twice",
        "I was charged twice by Acme Cloud, I want a refund",
    ));
    feed.push(item("b1", "Gardening tips", "tomatoes like sun"));
    feed.push(item(
        "n1",
        "Acme anvil review",
        "the acme cloud anvil is heavy",
    ));
    let r = w.poll(600).await;
    assert_eq!(
        (r.commit.new_items, r.commit.new_mentions, r.commit.enqueued),
        (3, 1, 3),
        "{r:?}"
    );
    let d = w.deliver(600).await;
    assert_eq!((d.sent, d.retrying, d.dead), (3, 0, 0));

    // Unchanged feed: answered 304, nothing parsed, nothing sent.
    let r = w.poll(1200).await;
    assert!(r.not_modified, "{r:?}");
    assert_eq!(feed.not_modified(), 1);
    assert_eq!(w.deliver(1200).await.sent, 0);

    // An edit of a1 (same guid) alerts nothing; a new matching item alerts once.
    feed.set(vec![
        item("old", "Acme Cloud was slow last year", "old news"),
        item(
            "a1",
            "Acme Cloud charged me twice (edited)",
            "still charged twice by acme cloud",
        ),
        item("a2", "Is Acme Cloud down?", "acme cloud is down for me"),
    ]);
    w.poll(1800).await;
    assert_eq!(w.deliver(1800).await.sent, 3);

    let s = posts(&slack).await;
    assert_eq!(titles(&s, "/text").len(), 2);
    assert!(
        titles(&s, "/text")[0].contains("charged me twice"),
        "{:?}",
        titles(&s, "/text")
    );
    assert!(titles(&s, "/text")[1].contains("Is Acme Cloud down"));
    let d = posts(&discord).await;
    assert_eq!(titles(&d, "/embeds/0/title").len(), 2);
    let h = posts(&hook).await;
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["data"]["watch"], "acme");
    let all = format!("{s:?}{d:?}{h:?}");
    assert!(
        !all.contains("Gardening") && !all.contains("anvil"),
        "non-matching items were sent"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "7200"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(common::rss(&[item(
                    "x",
                    "Acme Cloud is great",
                    "acme cloud",
                )]))
                .insert_header("content-type", "application/rss+xml"),
        )
        .mount(&server)
        .await;
    let rcv = receiver(200).await;
    let w = world(
        &format!("{}/feed.xml", server.uri()),
        &rcv.uri(),
        &rcv.uri(),
        &rcv.uri(),
        true,
    );
    let r = w.poll(0).await;
    assert!(
        r.error.as_deref().unwrap_or_default().contains("429"),
        "{r:?}"
    );
    let s = w.rt.store.source("forum").unwrap().unwrap();
    assert_eq!(s.error_count, 1);
    // The server asked for two hours: the next poll is planned no sooner, and meanwhile not a
    // single request goes to that host, whoever asks.
    assert!(s.next_poll_at.unwrap() >= at(7200).timestamp(), "{s:?}");
    let r = w.poll(60).await;
    assert!(
        r.error.as_deref().unwrap_or_default().contains("429"),
        "{r:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    // Two hours later (a restarted daemon) it is fine.
    let cfg = (*w.rt.config).clone();
    let World { _dir, rt, .. } = w;
    drop(rt);
    let rt = Runtime::new(cfg, Clock::tokio_from(at(7200))).unwrap();
    let r = rt.poll(&rt.config.sources[0], at(7200)).await.unwrap();
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(rt.store.source("forum").unwrap().unwrap().error_count, 0);
}

#[tokio::test]
async fn a_target_down_for_a_while_gets_everything_once_it_is_back() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(6)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    let w = world_with_slack(
        vec![
            item("1", "Acme Cloud outage", "acme cloud is down"),
            item("2", "Acme Cloud refund", "acme cloud refund please"),
            item("3", "Acme Cloud question", "does acme cloud do sso?"),
        ],
        &slack,
    )
    .await;
    w.poll(0).await;
    let first = w.deliver(0).await;
    // Discord and the webhook get their three; Slack refuses the first and its queue waits.
    assert_eq!((first.sent, first.retrying), (6, 1), "{first:?}");
    assert_eq!(
        slack.received_requests().await.unwrap().len(),
        1,
        "a down target is not hammered"
    );
    // Retries wait (5 s, 10 s, ... with jitter): nothing is due a second later.
    assert_eq!(w.deliver(1).await, Default::default());
    let mut t = 0;
    let mut sent = 0;
    while sent < 3 && t < 3600 {
        t += 30;
        sent += w.deliver(t).await.sent;
    }
    assert_eq!(sent, 3, "all three delivered once the target came back");
    let bodies = posts(&slack).await;
    let ok_texts: Vec<String> = titles(&bodies, "/text");
    assert_eq!(ok_texts.len(), 9, "6 refused + 3 accepted");
    let s = w.stats("slack");
    assert_eq!((s.pending, s.sent, s.dead), (0, 3, 0));
}

#[tokio::test]
async fn a_permanent_failure_is_parked_without_holding_up_the_others() {
    let gone = receiver(404).await;
    let w = world_with_slack(
        vec![
            item("1", "Acme Cloud outage", "acme cloud is down"),
            item("2", "Acme Cloud refund", "acme cloud refund"),
        ],
        &gone,
    )
    .await;
    w.poll(0).await;
    let d = w.deliver(0).await;
    // The other sinks get everything; the 404 parks one delivery as dead after one attempt
    // and holds the rest of that sink's queue rather than knocking on a deleted webhook.
    assert_eq!((d.sent, d.dead, d.retrying), (4, 1, 0));
    let dead = w.rt.store.dead_letters(10).unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("404"),
        "{dead:?}"
    );
    assert_eq!(gone.received_requests().await.unwrap().len(), 1);
    assert_eq!(w.deliver(599).await, Default::default(), "held");
    let d = w.deliver(600).await;
    assert_eq!(d.dead, 1, "one probe after the hold");
    assert_eq!(gone.received_requests().await.unwrap().len(), 2);
    // After the sink is fixed, `retry-dead` sends both again.
    assert_eq!(
        w.rt.store
            .retry_dead(Some("slack"), at(700).timestamp())
            .unwrap(),
        2
    );
    let s = w.stats("slack");
    assert_eq!((s.pending, s.dead), (2, 0));
}

#[tokio::test]
async fn a_target_failing_past_the_give_up_time_is_not_hammered() {
    let down = receiver(503).await;
    let w = world_with_slack(
        vec![
            item("1", "Acme Cloud outage", "acme cloud is down"),
            item("2", "Acme Cloud refund", "acme cloud refund"),
            item("3", "Acme Cloud bug", "acme cloud bug"),
        ],
        &down,
    )
    .await;
    w.poll(0).await;
    w.deliver(0).await;
    assert_eq!(down.received_requests().await.unwrap().len(), 1);
    // Four days later (past the 3-day give-up), one more probe: it fails, and every row that
    // waited past the give-up time is parked with it, not one per retry.
    let d = w.deliver(4 * 86_400).await;
    assert_eq!((d.dead, d.retrying), (3, 0), "{d:?}");
    assert_eq!(down.received_requests().await.unwrap().len(), 2);
    let s = w.stats("slack");
    assert_eq!((s.pending, s.dead), (0, 3));
}

#[tokio::test]
async fn a_broken_feed_backs_off_and_recovers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("<html><body>blocked</body></html>")
                .insert_header("content-type", "text/html"),
        )
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(common::rss(&[item(
                "x",
                "Acme Cloud",
                "acme cloud rocks",
            )])),
        )
        .mount(&server)
        .await;
    let rcv = receiver(200).await;
    let w = world(
        &format!("{}/feed.xml", server.uri()),
        &rcv.uri(),
        &rcv.uri(),
        &rcv.uri(),
        true,
    );
    let r1 = w.poll(0).await;
    assert!(r1.error.is_some());
    let n1 =
        w.rt.store
            .source("forum")
            .unwrap()
            .unwrap()
            .next_poll_at
            .unwrap();
    let r2 = w.poll(n1 - at(0).timestamp()).await;
    assert!(r2.error.is_some());
    let s = w.rt.store.source("forum").unwrap().unwrap();
    assert_eq!(s.error_count, 2);
    assert!(
        s.next_poll_at.unwrap() - n1 >= 10 * 60,
        "back-off grows: {s:?}"
    );
    let r3 = w.poll(s.next_poll_at.unwrap() - at(0).timestamp()).await;
    assert!(r3.error.is_none(), "{r3:?}");
    assert_eq!(w.rt.store.source("forum").unwrap().unwrap().error_count, 0);
}

#[tokio::test]
async fn a_429_from_a_target_holds_its_whole_queue_for_retry_after() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .mount(&slack)
        .await;
    let w = world_with_slack(
        vec![
            item("1", "Acme Cloud outage", "acme cloud is down"),
            item("2", "Acme Cloud refund", "acme cloud refund"),
            item("3", "Acme Cloud bug", "acme cloud bug"),
        ],
        &slack,
    )
    .await;
    w.poll(0).await;
    let d = w.deliver(0).await;
    assert_eq!((d.sent, d.retrying), (6, 1));
    assert_eq!(slack.received_requests().await.unwrap().len(), 1);
    assert_eq!(
        w.deliver(119).await,
        Default::default(),
        "nothing goes to Slack before Retry-After"
    );
    assert_eq!(slack.received_requests().await.unwrap().len(), 1);
    let d = w.deliver(120).await;
    assert_eq!(d.retrying, 1);
    assert_eq!(
        slack.received_requests().await.unwrap().len(),
        2,
        "one probe per wait, not one per row"
    );
    let s = w.stats("slack");
    assert_eq!(
        (s.pending, s.sent, s.dead),
        (3, 0, 0),
        "nothing is lost while it waits"
    );
}
