//! Acknowledgement and escalation on explicit clocks, and what survives a restart: a critical
//! mention nobody acknowledged goes to the on-call route again, up to `escalate_times`; an
//! acknowledgement stops it and shows on the message where the target can edit it; a kill
//! in the middle of a group, a muted window or an escalation neither loses nor repeats.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{posts, secret_file};
use earshot::config::Config;
use earshot::runtime::{Clock, Runtime};
use earshot::store::{MentionFilter, Store};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-23T{s}Z"))
        .unwrap()
        .with_timezone(&Utc)
}

const CRITICAL: &str = "Acme Cloud total outage, all our sites are down";
const MILD: &str = "acme docs have a typo on the pricing page";

fn feed(items: &[(&str, &str)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>F</title><link>https://forum.example.com/</link><description>d</description>",
    );
    for (guid, text) in items {
        out.push_str(&format!(
            "<item><title>{guid}</title><link>https://forum.example.com/{guid}</link><guid>{guid}</guid><description>{text}</description></item>"
        ));
    }
    out.push_str("</channel></rss>");
    out
}

struct Setup {
    feed: MockServer,
    support: MockServer,
    oncall: MockServer,
    dir: tempfile::TempDir,
    text: String,
}

impl Setup {
    /// Support is a Discord webhook (it can edit), on-call a Slack one. Support escalates
    /// critical mentions to the `night` route after 30 minutes, at most twice. `extra` is more
    /// config (time intervals).
    async fn new(route_extra: &str, extra: &str) -> Setup {
        let feed = MockServer::start().await;
        let support = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"id":"77001"}"#))
            .mount(&support)
            .await;
        Mock::given(method("PATCH"))
            .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"id":"77001"}"#))
            .mount(&support)
            .await;
        let oncall = common::receiver(200).await;
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
            state_dir = "{state}"
            [http]
            listen = "127.0.0.1:0"
            public_url = "https://earshot.example.com"
            [scoring.extra_phrases]
            "total outage" = 100
            [[source]]
            id = "forum"
            kind = "feed"
            url = "{base}/feed.xml"
            backfill = true
            [[watch]]
            name = "acme"
            query = "acme"
            [[sink]]
            id = "support"
            kind = "discord"
            url = {{ file = "{d}" }}
            max_per_second = 100.0
            [[sink]]
            id = "oncall"
            kind = "slack"
            url = {{ file = "{s}" }}
            max_per_second = 100.0
            [[route]]
            watch = "acme"
            min_urgency = "low"
            sinks = ["support"]
            escalate_to = "night"
            escalate_after = "30m"
            escalate_times = 2
            {route_extra}
            [[route]]
            name = "night"
            sinks = ["oncall"]
            {extra}
            "#,
            state = dir.path().display().to_string().replace('\\', "/"),
            base = feed.uri(),
        );
        Setup {
            feed,
            support,
            oncall,
            dir,
            text,
        }
    }

    /// A runtime on the setup's database, as a fresh process would build it.
    fn runtime(&self) -> (Runtime, Config) {
        let cfg = Config::parse(&self.text).unwrap().config;
        let store = Store::open(&self.dir.path().join("earshot.db")).unwrap();
        let mut rt = Runtime::with_store(
            cfg.clone(),
            Arc::new(store),
            Clock::tokio_from(at("10:00:00")),
        )
        .unwrap();
        rt.set_ack_key(earshot::ack::AckKey::from_bytes([7; 32]));
        (rt, cfg)
    }

    async fn serve(&self, items: &[(&str, &str)]) {
        self.feed.reset().await;
        Mock::given(method("GET"))
            .and(path("/feed.xml"))
            .respond_with(ResponseTemplate::new(200).set_body_string(feed(items)))
            .mount(&self.feed)
            .await;
    }
}

async fn poll(rt: &Runtime, cfg: &Config, t: DateTime<Utc>) {
    let r = rt.poll(cfg.source("forum").unwrap(), t).await.unwrap();
    assert!(r.error.is_none(), "{r:?}");
}

async fn deliver(rt: &Runtime, t: DateTime<Utc>) -> usize {
    rt.deliver_all_due(t, &CancellationToken::new())
        .await
        .unwrap()
        .sent
}

async fn requests(server: &MockServer, m: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == m)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

fn mention_id(rt: &Runtime, text: &str) -> i64 {
    rt.store
        .mentions(&MentionFilter::default())
        .unwrap()
        .into_iter()
        .find(|m| m.text == text)
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_critical_mention_is_escalated_up_to_its_limit() {
    let s = Setup::new("", "").await;
    let (rt, cfg) = s.runtime();
    s.serve(&[("p1", CRITICAL), ("p2", MILD)]).await;
    poll(&rt, &cfg, at("10:00:00")).await;
    assert_eq!(deliver(&rt, at("10:00:00")).await, 2);
    // The critical alert carries a signed acknowledge link on the public URL.
    let first = requests(&s.support, "POST").await;
    let links: Vec<String> = first
        .iter()
        .map(|b| b.to_string())
        .filter(|b| b.contains("https://earshot.example.com/ack?m="))
        .collect();
    assert_eq!(links.len(), 1, "{first:#?}");
    assert!(links[0].contains("total outage"));

    assert_eq!(rt.escalate_due(at("10:29:59")).unwrap(), 0);
    assert_eq!(rt.escalate_due(at("10:30:00")).unwrap(), 1);
    assert_eq!(rt.escalate_due(at("10:30:00")).unwrap(), 0, "enqueued once");
    assert_eq!(deliver(&rt, at("10:30:00")).await, 1);
    assert_eq!(rt.escalate_due(at("11:00:00")).unwrap(), 1);
    assert_eq!(deliver(&rt, at("11:00:00")).await, 1);
    // Two escalations, then it stops; the mild mention never escalates.
    assert_eq!(rt.escalate_due(at("13:00:00")).unwrap(), 0);
    assert_eq!(deliver(&rt, at("13:00:00")).await, 0);
    let paged = posts(&s.oncall).await;
    assert_eq!(paged.len(), 2);
    let one = paged[0].to_string();
    assert!(one.contains("Unacknowledged"), "{one}");
    assert!(
        one.contains("not acknowledged for 30m (escalation 1 of 2)"),
        "{one}"
    );
    assert!(one.contains("https://earshot.example.com/ack?m="), "{one}");
    assert!(
        paged[1]
            .to_string()
            .contains("not acknowledged for 1h (escalation 2 of 2)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_stops_escalation_and_shows_on_the_message() {
    let s = Setup::new("", "").await;
    let (rt, cfg) = s.runtime();
    s.serve(&[("p1", CRITICAL)]).await;
    poll(&rt, &cfg, at("10:00:00")).await;
    assert_eq!(deliver(&rt, at("10:00:00")).await, 1);
    let id = mention_id(&rt, CRITICAL);

    let t = at("10:00:30");
    assert_eq!(rt.ack(&[id], "dana", t).unwrap(), vec![id]);
    assert!(rt.ack(&[id], "sam", t).unwrap().is_empty(), "once");
    assert!(
        rt.ack(&[999_999], "sam", t).unwrap().is_empty(),
        "unknown id"
    );
    assert_eq!(rt.escalate_due(at("10:30:00")).unwrap(), 0);
    assert_eq!(rt.escalate_due(at("12:00:00")).unwrap(), 0);

    // Discord's message is edited to show it; nobody is paged.
    assert_eq!(deliver(&rt, at("10:01:00")).await, 1);
    let edits = requests(&s.support, "PATCH").await;
    assert_eq!(edits.len(), 1);
    let e = edits[0].to_string();
    assert!(e.contains("\"title\":\"Acknowledged"), "{e}");
    assert!(e.contains("acknowledged by dana"), "{e}");
    assert!(!e.contains("/ack?m="), "no link once acknowledged: {e}");
    assert!(posts(&s.oncall).await.is_empty());
    let path = s
        .support
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.method.as_str() == "PATCH")
        .unwrap()
        .url
        .path()
        .to_string();
    assert_eq!(path, "/api/webhooks/9/tok/messages/77001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_neither_loses_nor_repeats_an_escalation() {
    let s = Setup::new("", "").await;
    {
        let (rt, cfg) = s.runtime();
        s.serve(&[("p1", CRITICAL)]).await;
        poll(&rt, &cfg, at("10:00:00")).await;
        assert_eq!(deliver(&rt, at("10:00:00")).await, 1);
        // The timer fires and its delivery is enqueued; the process dies before sending it.
        assert_eq!(rt.escalate_due(at("10:30:00")).unwrap(), 1);
    }
    let (rt, _) = s.runtime();
    assert_eq!(
        rt.escalate_due(at("10:30:05")).unwrap(),
        0,
        "not enqueued twice"
    );
    assert_eq!(deliver(&rt, at("10:30:05")).await, 1);
    assert_eq!(posts(&s.oncall).await.len(), 1);
    // The next timer survived too.
    drop(rt);
    let (rt, _) = s.runtime();
    assert_eq!(rt.escalate_due(at("11:00:05")).unwrap(), 1);
    assert_eq!(deliver(&rt, at("11:00:05")).await, 1);
    assert_eq!(posts(&s.oncall).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_a_group_or_a_muted_window_neither_loses_nor_repeats() {
    let s = Setup::new(
        "group_wait = \"2m\"\nmute_time_intervals = [\"night\"]",
        "[[time_interval]]\nname = \"night\"\ntimes = [{ start = \"22:00\", end = \"07:00\" }]\nlocation = \"UTC\"",
    )
    .await;
    {
        let (rt, cfg) = s.runtime();
        // 23:00, muted: held until 07:00. Then a kill.
        s.serve(&[("n1", MILD)]).await;
        poll(&rt, &cfg, at("23:00:00") - chrono::Duration::days(1)).await;
        assert_eq!(deliver(&rt, at("06:59:00")).await, 0);
    }
    {
        let (rt, cfg) = s.runtime();
        assert_eq!(deliver(&rt, at("07:00:00")).await, 1);
        // 09:00: a group starts; a kill before its wait is over.
        s.serve(&[("n1", MILD), ("g1", "acme login fails with error 500")])
            .await;
        poll(&rt, &cfg, at("09:00:00")).await;
        assert_eq!(deliver(&rt, at("09:01:00")).await, 0);
    }
    let (rt, _) = s.runtime();
    assert_eq!(deliver(&rt, at("09:02:00")).await, 1);
    assert_eq!(deliver(&rt, at("10:00:00")).await, 0);
    let sent = requests(&s.support, "POST").await;
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert!(sent[0].to_string().contains("typo"));
    assert!(sent[1].to_string().contains("login fails"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerts_link_acknowledges_through_the_listener_and_a_forged_one_does_nothing() {
    let s = Setup::new("", "").await;
    let (rt, cfg) = s.runtime();
    let rt = Arc::new(rt);
    s.serve(&[("p1", CRITICAL)]).await;
    poll(&rt, &cfg, at("10:00:00")).await;
    assert_eq!(deliver(&rt, at("10:00:00")).await, 1);
    let body = requests(&s.support, "POST").await[0].to_string();
    let start = body.find("https://earshot.example.com/ack?").unwrap();
    let link: String = body[start..]
        .chars()
        .take_while(|c| !matches!(c, ')' | '"' | '\\'))
        .collect();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let server = tokio::spawn(earshot::http::serve(
        listener,
        rt.http_state().unwrap(),
        stop.clone(),
    ));
    let url = link.replace("https://earshot.example.com", &local);
    let client = reqwest::Client::new();
    let id = mention_id(&rt, CRITICAL);

    // A forged link (another mention id, same signature) is refused and acknowledges nothing.
    let forged = url.replacen(&format!("m={id}"), &format!("m={}", id + 1), 1);
    assert_ne!(forged, url);
    let r = client.post(&forged).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(rt.store.acks(&[id]).unwrap(), vec![(id, None)]);
    // Opening the link (a chat preview does) only shows what it acknowledges.
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("total outage"));
    assert_eq!(rt.store.acks(&[id]).unwrap(), vec![(id, None)]);
    // Pressing its button does.
    let r = client.post(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let acked = rt.store.acks(&[id]).unwrap();
    assert_eq!(acked[0].1.as_ref().map(|(_, by)| by.as_str()), Some("link"));
    assert_eq!(rt.escalate_due(at("10:30:00")).unwrap(), 0);
    stop.cancel();
    server.await.unwrap().unwrap();
}

/// The on-call route muted from 10:15 to 10:45 UTC; `breaks` is its `critical_breaks_through`.
async fn muted_oncall(breaks: bool, end: &str) -> Setup {
    Setup::new(
        "",
        &format!(
            "mute_time_intervals = [\"handover\"]\ncritical_breaks_through = {breaks}\n\
             [[time_interval]]\nname = \"handover\"\ntimes = [{{ start = \"10:15\", end = \"{end}\" }}]\nlocation = \"UTC\""
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_to_a_muted_route_waits_for_its_window_across_a_restart() {
    let s = muted_oncall(false, "10:45").await;
    {
        let (rt, cfg) = s.runtime();
        s.serve(&[("p1", CRITICAL)]).await;
        poll(&rt, &cfg, at("10:00:00")).await;
        assert_eq!(deliver(&rt, at("10:00:00")).await, 1);
        // 10:30, muted: the escalation is enqueued, held until 10:45.
        assert_eq!(rt.escalate_due(at("10:30:00")).unwrap(), 1);
        assert_eq!(deliver(&rt, at("10:30:00")).await, 0);
        assert_eq!(deliver(&rt, at("10:44:59")).await, 0);
    } // A restart while it is held.
    let (rt, _) = s.runtime();
    assert_eq!(rt.escalate_due(at("10:44:59")).unwrap(), 0, "not twice");
    assert!(posts(&s.oncall).await.is_empty());
    assert_eq!(deliver(&rt, at("10:45:00")).await, 1);
    let paged = posts(&s.oncall).await;
    assert_eq!(paged.len(), 1, "{paged:#?}");
    let one = paged[0].to_string();
    assert!(
        one.contains("not acknowledged for 30m (escalation 1 of 2)"),
        "{one}"
    );
    assert!(one.contains("total outage"), "{one}");
    assert_eq!(deliver(&rt, at("10:50:00")).await, 0, "sent once");

    // The second escalation (11:00, the window over) goes out at once; then it stops.
    assert_eq!(rt.escalate_due(at("11:00:00")).unwrap(), 1);
    assert_eq!(deliver(&rt, at("11:00:00")).await, 1);
    assert_eq!(rt.escalate_due(at("13:00:00")).unwrap(), 0);
    assert_eq!(deliver(&rt, at("13:00:00")).await, 0);
    let paged = posts(&s.oncall).await;
    assert_eq!(paged.len(), 2);
    assert!(
        paged[1]
            .to_string()
            .contains("not acknowledged for 1h (escalation 2 of 2)")
    );
    // Support got its alert once, and nothing else.
    assert_eq!(requests(&s.support, "POST").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_breaks_through_a_muted_route_that_lets_critical_through() {
    let s = muted_oncall(true, "10:45").await;
    let (rt, cfg) = s.runtime();
    s.serve(&[("p1", CRITICAL)]).await;
    poll(&rt, &cfg, at("10:00:00")).await;
    assert_eq!(deliver(&rt, at("10:00:00")).await, 1);
    assert_eq!(rt.escalate_due(at("10:30:00")).unwrap(), 1);
    assert_eq!(deliver(&rt, at("10:30:00")).await, 1, "sent in the window");
    assert_eq!(
        deliver(&rt, at("10:45:00")).await,
        0,
        "and not again after it"
    );
    let paged = posts(&s.oncall).await;
    assert_eq!(paged.len(), 1, "{paged:#?}");
    assert!(
        paged[0]
            .to_string()
            .contains("not acknowledged for 30m (escalation 1 of 2)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_cancels_an_escalation_held_by_quiet_hours() {
    let s = muted_oncall(false, "10:45").await;
    let (rt, cfg) = s.runtime();
    s.serve(&[("p1", CRITICAL)]).await;
    poll(&rt, &cfg, at("10:00:00")).await;
    assert_eq!(deliver(&rt, at("10:00:00")).await, 1);
    assert_eq!(rt.escalate_due(at("10:30:00")).unwrap(), 1);
    // Acknowledged at 10:40, while the escalation waits for 10:45.
    let id = mention_id(&rt, CRITICAL);
    assert_eq!(rt.ack(&[id], "dana", at("10:40:00")).unwrap(), vec![id]);
    deliver(&rt, at("10:45:00")).await;
    // The support message is edited; nobody is paged for a handled mention.
    assert_eq!(requests(&s.support, "PATCH").await.len(), 1);
    let paged = posts(&s.oncall).await;
    assert!(paged.is_empty(), "paged after the ack: {paged:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalations_held_by_quiet_hours_page_once_per_mention() {
    let s = muted_oncall(false, "11:15").await;
    let (rt, cfg) = s.runtime();
    s.serve(&[("p1", CRITICAL)]).await;
    poll(&rt, &cfg, at("10:00:00")).await;
    assert_eq!(deliver(&rt, at("10:00:00")).await, 1);
    // Both timers (10:30, 11:00) run out inside the window (10:15 to 11:15).
    rt.escalate_due(at("10:30:00")).unwrap();
    rt.escalate_due(at("11:00:00")).unwrap();
    assert_eq!(deliver(&rt, at("11:14:59")).await, 0);
    deliver(&rt, at("11:15:00")).await;
    let paged = posts(&s.oncall).await;
    assert_eq!(paged.len(), 1, "{paged:#?}");
    // The latest escalation, as itself: not a catch-up listing the mention once per timer.
    let one = paged[0].to_string();
    assert!(
        one.contains("escalation 2 of 2") && !one.contains("escalation 1 of 2"),
        "{one}"
    );
    assert!(!one.contains("held during quiet hours"), "{one}");
    assert!(paged[0]["blocks"][0]["text"]["text"] == "Critical mention · acme");
}
