//! A sink's alert budget holds alerts only: an acknowledgement's edit, a silence's notice and an
//! escalation go out while the budget is spent, and do not use it up. And a catch-up is one
//! message however many mentions it holds.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{Feed, item, posts, receiver, secret_file};
use earshot::config::Config;
use earshot::pipeline::{SilenceChange, silence_announcement};
use earshot::runtime::{Clock, Runtime};
use earshot::store::{MentionFilter, NewSilence, Store};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-23T{s}Z"))
        .unwrap()
        .with_timezone(&Utc)
}

const CRITICAL: &str = "Acme Cloud total outage, all our sites are down";
const CRITICAL_2: &str = "Acme total outage in eu-west, nothing loads";

async fn discord() -> MockServer {
    let server = MockServer::start().await;
    for m in ["POST", "PATCH"] {
        Mock::given(method(m))
            .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"id":"5150"}"#))
            .mount(&server)
            .await;
    }
    server
}

async fn bodies(server: &MockServer, m: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == m)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_holds_alerts_but_not_edits_notices_or_escalations() {
    let feed = Feed::default();
    feed.set(vec![
        item("1", "Acme outage", CRITICAL),
        item("2", "Acme export", "acme export is broken"),
        item("3", "Acme eu-west", CRITICAL_2),
    ]);
    let feed_server = feed.serve().await;
    let support = discord().await;
    let oncall = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let d = secret_file(
        dir.path(),
        "discord",
        &format!("{}/api/webhooks/9/tok", support.uri()),
    );
    let s = secret_file(dir.path(), "slack", &format!("{}/hook", oncall.uri()));
    let text = format!(
        r#"
        [daemon]
        allow_private_networks = true
        [http]
        listen = "off"
        [scoring.extra_phrases]
        "total outage" = 100
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
        kind = "discord"
        url = {{ file = "{d}" }}
        max_per_second = 100.0
        max_alerts_per_hour = 1
        [[sink]]
        id = "oncall"
        kind = "slack"
        url = {{ file = "{s}" }}
        max_per_second = 100.0
        max_alerts_per_hour = 1
        [[route]]
        watch = "acme"
        min_urgency = "low"
        sinks = ["support"]
        escalate_to = "night"
        escalate_after = "30m"
        escalate_times = 2
        [[route]]
        name = "night"
        sinks = ["oncall"]
        "#,
        feed_server.uri()
    );
    let cfg = Config::parse(&text).unwrap().config;
    let store = Arc::new(Store::open_in_memory().unwrap());
    let rt = Runtime::with_store(
        cfg.clone(),
        store.clone(),
        Clock::tokio_from(at("10:00:00")),
    )
    .unwrap();
    let stop = CancellationToken::new();
    let deliver = |t: &'static str| {
        let rt = &rt;
        let stop = &stop;
        async move { rt.deliver_all_due(at(t), stop).await.unwrap().sent }
    };

    rt.poll(cfg.source("forum").unwrap(), at("10:00:00"))
        .await
        .unwrap();
    // The outage uses the hour's one alert; the others wait.
    assert_eq!(deliver("10:00:00").await, 1);
    assert_eq!(bodies(&support, "POST").await.len(), 1);

    // The acknowledgement's edit goes out at once.
    let outage = store
        .mentions(&MentionFilter::default())
        .unwrap()
        .into_iter()
        .find(|m| m.text == CRITICAL)
        .unwrap()
        .id;
    rt.ack(&[outage], "dana", at("10:00:30")).unwrap();
    assert_eq!(deliver("10:01:00").await, 1);
    let edits = bodies(&support, "PATCH").await;
    assert_eq!(edits.len(), 1);
    assert!(edits[0].to_string().contains("acknowledged by dana"));

    // So does a silence's notice, as a notice of its own.
    let now = at("10:02:00").timestamp();
    store
        .add_silence(
            &NewSilence {
                author: Some("spammer".into()),
                comment: "spam".into(),
                created_by: "dana".into(),
                ends_at: now + 3600,
                ..Default::default()
            },
            now,
            |s| silence_announcement(&cfg, s, SilenceChange::Added, now),
        )
        .unwrap();
    assert_eq!(
        deliver("10:02:00").await,
        1,
        "support is told; on-call only gets escalations"
    );
    let posted = bodies(&support, "POST").await;
    assert_eq!(posted.len(), 2);
    assert!(
        posted[1].to_string().contains("Silence 1 added"),
        "{}",
        posted[1]
    );
    assert_eq!(bodies(&support, "PATCH").await.len(), 1, "no more edits");

    // On-call's budget of one: the second outage's escalations both go out within the hour.
    assert_eq!(rt.escalate_due(at("10:30:00")).unwrap(), 1);
    assert_eq!(deliver("10:30:00").await, 1);
    assert_eq!(rt.escalate_due(at("11:00:00")).unwrap(), 1);
    // At 11:00 support's hour rolls: the two it held go out as one summary.
    assert_eq!(deliver("11:00:00").await, 3);
    let paged = posts(&oncall).await;
    let paged: Vec<String> = paged.iter().map(|p| p.to_string()).collect();
    assert_eq!(paged.len(), 2, "two escalations: {paged:#?}");
    for (n, p) in paged.iter().enumerate() {
        assert!(p.contains("eu-west"), "{p}");
        assert!(p.contains(&format!("escalation {} of 2", n + 1)), "{p}");
    }
    let posted = bodies(&support, "POST").await;
    assert_eq!(posted.len(), 3);
    let summary = posted[2].to_string();
    assert!(
        summary.contains("2 mentions held back by this channel's budget of 1 alert an hour"),
        "{summary}"
    );
    assert!(
        summary.contains("Acme export") && summary.contains("forum.example.com/t/3"),
        "{summary}"
    );
    // Only alerts used the budgets: the 10:00 alert and the 11:00 summary on support, nothing
    // on on-call.
    assert_eq!(store.sends_since("support", 0).unwrap().len(), 2);
    assert!(store.sends_since("oncall", 0).unwrap().is_empty());
}

/// A feed of `n` items titled `title N` with `text`, one Slack sink with no budget of its own,
/// and one route; `tables` are more tables before the route, `route_extra` more keys of it.
/// The runtime's clock starts at `start`.
struct SlackWorld {
    _feed_server: MockServer,
    hook: MockServer,
    _dir: tempfile::TempDir,
    cfg: Config,
    rt: Runtime,
}

async fn slack_world(
    n: usize,
    title: &str,
    text: &str,
    tables: &str,
    route_extra: &str,
    start: &str,
) -> SlackWorld {
    let feed = Feed::default();
    feed.set(
        (1..=n)
            .map(|i| item(&i.to_string(), &format!("{title} {i}"), text))
            .collect(),
    );
    let feed_server = feed.serve().await;
    let hook = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let url = secret_file(dir.path(), "slack", &format!("{}/hook", hook.uri()));
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
        max_per_second = 1000.0
        {tables}
        [[route]]
        watch = "acme"
        min_urgency = "low"
        sinks = ["support"]
        {route_extra}
        "#,
        feed_server.uri()
    );
    let cfg = Config::parse(&text).unwrap().config;
    let rt = Runtime::with_store(
        cfg.clone(),
        Arc::new(Store::open_in_memory().unwrap()),
        Clock::tokio_from(at(start)),
    )
    .unwrap();
    SlackWorld {
        _feed_server: feed_server,
        hook,
        _dir: dir,
        cfg,
        rt,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_night_of_sixty_mentions_is_one_catch_up() {
    let w = slack_world(
        60,
        "Acme question",
        "how do I export from acme?",
        "[[time_interval]]\nname = \"night\"\ntimes = [{ start = \"22:00\", end = \"07:00\" }]",
        "mute_time_intervals = [\"night\"]",
        "02:00:00",
    )
    .await;
    let (rt, cfg, hook) = (&w.rt, &w.cfg, &w.hook);
    let stop = CancellationToken::new();
    let r = rt
        .poll(cfg.source("forum").unwrap(), at("02:00:00"))
        .await
        .unwrap();
    assert_eq!(r.commit.enqueued, 60);
    assert_eq!(
        rt.deliver_all_due(at("06:59:00"), &stop)
            .await
            .unwrap()
            .sent,
        0
    );
    let report = rt.deliver_all_due(at("07:00:00"), &stop).await.unwrap();
    assert_eq!(report.sent, 60, "{report:?}");
    let sent = posts(hook).await;
    assert_eq!(sent.len(), 1, "one catch-up message: {sent:#?}");
    let msg = sent[0].to_string();
    assert!(msg.contains("60 mentions held during quiet hours"), "{msg}");
    // Equally urgent lines in the order they were posted.
    let first = msg.find("Acme question 1 ").expect("the first listed");
    let second = msg.find("Acme question 2 ").expect("the second listed");
    assert!(first < second, "{msg}");
}

/// No `max_alerts_per_hour`: the default budget still holds a flood. A feed that suddenly
/// matches 300 items costs the channel 120 messages in the hour and one summary of the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_held_by_the_default_budget() {
    let w = slack_world(300, "Acme post", "acme export is slow", "", "", "10:00:00").await;
    let (rt, cfg, hook) = (&w.rt, &w.cfg, &w.hook);
    assert_eq!(cfg.sinks[0].max_alerts_per_hour, None);
    let stop = CancellationToken::new();
    let r = rt
        .poll(cfg.source("forum").unwrap(), at("10:00:00"))
        .await
        .unwrap();
    assert_eq!(r.commit.enqueued, 300);
    let first = rt.deliver_all_due(at("10:00:00"), &stop).await.unwrap();
    assert_eq!(
        first.sent,
        earshot::config::DEFAULT_ALERTS_PER_HOUR as usize
    );
    assert_eq!(posts(hook).await.len(), 120);
    // Nothing more within the hour; then the other 180 as one summary.
    assert_eq!(
        rt.deliver_all_due(at("10:59:00"), &stop)
            .await
            .unwrap()
            .sent,
        0
    );
    let later = rt.deliver_all_due(at("11:00:00"), &stop).await.unwrap();
    assert_eq!(later.sent, 180, "{later:?}");
    let sent = posts(hook).await;
    assert_eq!(sent.len(), 121);
    let summary = sent[120].to_string();
    assert!(
        summary.contains("180 mentions held back by this channel's budget of 120 alerts an hour"),
        "{summary}"
    );
}
