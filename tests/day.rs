//! A day of routing on tokio's paused clock, through the daemon's own loops (`runtime::run`):
//! the support channel by day with a quiet night, critical mentions breaking through and
//! escalated to on-call until acknowledged, conversations grouped, praise to marketing, a burst
//! beyond the support channel's budget rolled into a summary, and a silence announced when it
//! starts and when it runs out. The day runs in about a second; what each channel got, and
//! when, is checked.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use common::comments_feed as feed;
use earshot::config::{Config, StdoutFormat};
use earshot::pipeline::{SilenceChange, silence_announcement};
use earshot::runtime::{Clock, Runtime};
use earshot::sink::{Sink, Stdout};
use earshot::store::{MentionFilter, NewSilence, Store};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A printed line, with the (virtual) time it was printed at.
type Line = (DateTime<Utc>, Value);

/// Lines a sink printed.
#[derive(Clone)]
struct Recorder {
    clock: Clock,
    lines: Arc<Mutex<Vec<Line>>>,
    partial: Arc<Mutex<Vec<u8>>>,
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut p = self.partial.lock().unwrap();
        p.extend_from_slice(buf);
        while let Some(i) = p.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = p.drain(..=i).collect();
            let v: Value = serde_json::from_slice(&line).unwrap();
            self.lines.lock().unwrap().push((self.clock.now(), v));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-23T{s}Z"))
        .unwrap()
        .with_timezone(&Utc)
}

const CONFIG: &str = r#"
[daemon]
state_dir = "STATE"
jitter = "1ms"   # polls stay on the 10-minute marks the test writes between
[http]
listen = "off"
[scoring.extra_phrases]
"total outage" = 100
[[source]]
id = "forum"
kind = "feed"
url = "FEED"
every = "10m"
[[watch]]
name = "acme"
query = "acme"
[[sink]]
id = "support"
kind = "stdout"
max_alerts_per_hour = 4
[[sink]]
id = "oncall"
kind = "stdout"
[[sink]]
id = "marketing"
kind = "stdout"
[[time_interval]]
name = "night"
times = [{ start = "22:00", end = "07:00" }]
location = "Europe/Berlin"
[[route]]
sentiment = ["positive"]
min_urgency = "low"
sinks = ["marketing"]
[[route]]
watch = "acme"
sinks = ["support"]
group_wait = "2m"
mute_time_intervals = ["night"]
critical_breaks_through = true
escalate_to = "oncall"
escalate_after = "30m"
escalate_times = 2
[[route]]
name = "oncall"
sinks = ["oncall"]
"#;

#[tokio::test(start_paused = true)]
async fn a_day_of_routing_on_paused_time() {
    let dir = tempfile::tempdir().unwrap();
    let feed_path = dir.path().join("feed.xml");
    let slash = |p: &std::path::Path| p.display().to_string().replace('\\', "/");
    // The first poll only records what is there (no backfill).
    std::fs::write(
        &feed_path,
        feed(&[("old", "old", "acme was fine last year")]),
    )
    .unwrap();
    let text = CONFIG
        .replace("STATE", &slash(dir.path()))
        .replace("FEED", &slash(&feed_path));
    let cfg = Config::parse(&text).unwrap().config;
    let store = Arc::new(Store::open(&dir.path().join("earshot.db")).unwrap());
    // 00:00 UTC is 01:00 in Berlin: the support route is muted.
    let clock = Clock::tokio_from(at("00:00:00"));
    let mut rt = Runtime::with_store(cfg, store.clone(), clock).unwrap();
    let recorders: Vec<(&str, Recorder)> = ["support", "oncall", "marketing"]
        .into_iter()
        .map(|id| {
            let r = Recorder {
                clock,
                lines: Arc::default(),
                partial: Arc::default(),
            };
            let sink = Stdout::with_writer(
                id,
                StdoutFormat::Json,
                Arc::new(Mutex::new(r.clone())),
                None,
            );
            assert!(rt.replace_sink(Sink::Stdout(sink)));
            (id, r)
        })
        .collect();
    let rt = Arc::new(rt);
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(earshot::runtime::run(rt.clone(), shutdown.clone()));

    let mut items = vec![("old", "old", "acme was fine last year")];
    let mut post = |t: &str, new: &[(&'static str, &'static str, &'static str)]| {
        items.extend_from_slice(new);
        let body = feed(&items);
        let path = feed_path.clone();
        let when = at(t);
        async move {
            tokio::time::sleep((when - clock.now()).to_std().unwrap()).await;
            std::fs::write(&path, body).unwrap();
        }
    };
    // Night: a complaint waits for the morning; a critical outage breaks through.
    post(
        "00:05:00",
        &[
            ("n1", "login", "acme login is broken again"),
            (
                "n2",
                "outage",
                "Acme Cloud total outage, all our sites are down",
            ),
        ],
    )
    .await;
    // Morning: praise, then a conversation of three replies within two minutes.
    post(
        "09:00:00",
        &[("p1", "love", "I love Acme Cloud, it is wonderful and fast")],
    )
    .await;
    post(
        "10:00:30",
        &[
            ("t1", "billing", "acme billing is broken for our team"),
            ("t2", "billing", "same here, acme billing is broken"),
        ],
    )
    .await;
    post(
        "10:10:30",
        &[("t3", "billing", "acme refund still missing, billing broken")],
    )
    .await;
    // Noon: another critical one, acknowledged in ten minutes.
    post(
        "12:00:00",
        &[("c2", "outage2", "acme total outage in eu-west again")],
    )
    .await;
    tokio::time::sleep((at("12:20:00") - clock.now()).to_std().unwrap()).await;
    let c2 = store
        .mentions(&MentionFilter::default())
        .unwrap()
        .into_iter()
        .find(|m| m.text.contains("eu-west"))
        .expect("the noon outage was stored by 12:20")
        .id;
    assert_eq!(rt.ack(&[c2], "dana", clock.now()).unwrap(), vec![c2]);

    // Afternoon: six complaints, each its own thread, beyond support's budget of 4 an hour.
    post(
        "14:00:30",
        &[
            ("b1", "upload", "acme upload is broken"),
            ("b2", "search", "acme search is broken today"),
            ("b3", "export", "acme export is broken, again"),
            ("b4", "invoice", "acme invoice page is broken"),
            ("b5", "api", "acme api is broken for us"),
            ("b6", "sso", "acme sso login is broken"),
        ],
    )
    .await;
    // 16:00: a silence on coupon spam for an hour; what it matches is stored, not sent.
    tokio::time::sleep((at("16:00:00") - clock.now()).to_std().unwrap()).await;
    let now = clock.now().timestamp();
    store
        .add_silence(
            &NewSilence {
                watch: Some("acme".into()),
                query: Some("coupon".into()),
                comment: "coupon spam wave".into(),
                created_by: "dana".into(),
                ends_at: at("17:00:00").timestamp(),
                ..Default::default()
            },
            now,
            |s| silence_announcement(&rt.config, s, SilenceChange::Added, now),
        )
        .unwrap();
    post(
        "16:30:30",
        &[("s1", "spam", "acme coupon code is broken, click here")],
    )
    .await;
    post(
        "17:30:30",
        &[("s2", "coupons", "acme coupon page is broken again")],
    )
    .await;

    tokio::time::sleep((at("23:59:00") - clock.now()).to_std().unwrap()).await;
    shutdown.cancel();
    daemon.await.unwrap().unwrap();

    let got = |id: &str| -> Vec<Line> {
        recorders
            .iter()
            .find(|(r, _)| *r == id)
            .unwrap()
            .1
            .lines
            .lock()
            .unwrap()
            .clone()
    };
    let support = got("support");
    let titles: Vec<String> = support
        .iter()
        .map(|(t, v)| {
            format!(
                "{} {}",
                t.format("%H:%M"),
                v["title"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(support.len(), 13, "{titles:#?}");
    // 1. The outage at the first poll after 00:05, at night.
    assert!(
        support[0].0 < at("00:20:00")
            && support[0].1["text"]
                .as_str()
                .unwrap()
                .contains("total outage"),
        "{titles:#?}"
    );
    // 2. The night's complaint when the night ends (07:00 Berlin is 06:00 UTC).
    assert_eq!(support[1].0, at("06:00:00"), "{titles:#?}");
    assert!(
        support[1].1["text"]
            .as_str()
            .unwrap()
            .contains("login is broken")
    );
    // 3. The billing conversation as one message, 4. its third reply as a follow-up.
    assert!(
        titles[2].contains("2 mentions in one conversation"),
        "{titles:#?}"
    );
    assert!(
        support[2].0 > at("10:00:30") && support[2].0 < at("10:15:00"),
        "{titles:#?}"
    );
    assert!(
        support[3]
            .1
            .to_string()
            .contains("follows 2 earlier mentions"),
        "{titles:#?}"
    );
    assert!(support[3].0 >= support[2].0 + chrono::Duration::minutes(5));
    // 5. The noon outage.
    assert!(support[4].1["text"].as_str().unwrap().contains("eu-west"));
    // 6-9. Four of the burst at once, 10. the other two as one summary when the hour rolls.
    let burst = &support[5..9];
    assert!(
        burst
            .iter()
            .all(|(t, v)| v["form"].is_null() && *t > at("14:00:30") && *t < at("14:15:00")),
        "{titles:#?}"
    );
    let (t, summary) = &support[9];
    assert_eq!(summary["form"], "summary", "{titles:#?}");
    assert_eq!(
        summary["title"],
        "2 mentions held back by this channel's budget of 4 alerts an hour"
    );
    assert!(*t >= burst[0].0 + chrono::Duration::hours(1), "{titles:#?}");
    assert!(
        *t < burst[0].0 + chrono::Duration::minutes(62),
        "{titles:#?}"
    );
    let mut listed: Vec<&str> = summary["text"].as_str().unwrap().lines().collect();
    listed.retain(|l| l.contains("https://forum.example.com/b"));
    assert_eq!(listed.len(), 2, "{summary}");
    // 11. The silence, announced as a notice; 12. its end, announced when it runs out; the
    // spam it held is stored, not sent; 13. the next coupon complaint is sent again.
    let (t, added) = &support[10];
    assert_eq!(added["form"], "notice");
    assert_eq!(added["title"], "Silence 1 added: watch acme, query coupon");
    assert!(*t >= at("16:00:00") && *t < at("16:01:01"), "{titles:#?}");
    let (t, ended) = &support[11];
    assert_eq!(ended["form"], "notice");
    assert_eq!(ended["title"], "Silence 1 ended: watch acme, query coupon");
    assert!(*t >= at("17:00:00") && *t < at("17:01:01"), "{titles:#?}");
    assert!(
        support[12].1["text"]
            .as_str()
            .unwrap()
            .contains("coupon page")
    );
    assert!(
        support
            .iter()
            .all(|(_, v)| !v.to_string().contains("click here"))
    );
    let spam = store
        .mentions(&MentionFilter::default())
        .unwrap()
        .into_iter()
        .find(|m| m.text.contains("click here"))
        .expect("the silenced spam is stored");
    assert_eq!(spam.silenced_by, Some(1));

    // On-call: the night outage twice (30 and 60 minutes on), the acknowledged one never.
    // Every route could carry what the silence matches, so each channel was told of it, but
    // on-call, which only receives escalations.
    let notices = |lines: &[Line]| -> Vec<String> {
        lines
            .iter()
            .filter(|(_, v)| v["form"] == "notice")
            .map(|(_, v)| v["title"].as_str().unwrap().to_string())
            .collect()
    };
    let told = [
        "Silence 1 added: watch acme, query coupon",
        "Silence 1 ended: watch acme, query coupon",
    ];
    let not_notice = |lines: Vec<Line>| -> Vec<Line> {
        lines
            .into_iter()
            .filter(|(_, v)| v["form"] != "notice")
            .collect()
    };
    assert!(notices(&got("oncall")).is_empty());
    assert_eq!(notices(&got("marketing")), told);
    let oncall = not_notice(got("oncall"));
    assert_eq!(oncall.len(), 2, "{oncall:#?}");
    for (n, (t, v)) in oncall.iter().enumerate() {
        let after = *t - support[0].0;
        // The timer starts when the mention is stored, up to group_wait (2m) before its alert.
        assert!(
            after
                >= chrono::Duration::minutes(30 * (n as i64 + 1) - 2)
                    - chrono::Duration::seconds(5),
            "{after}"
        );
        assert!(
            after < chrono::Duration::minutes(30 * (n as i64 + 1) + 2),
            "{after}"
        );
        assert!(v.to_string().contains("total outage, all our sites"));
        assert!(
            v.to_string()
                .contains(&format!("escalation {} of 2", n + 1))
        );
    }
    // Marketing: the praise only.
    let marketing = not_notice(got("marketing"));
    assert_eq!(marketing.len(), 1, "{marketing:#?}");
    assert!(marketing[0].1["text"].as_str().unwrap().contains("love"));
}
