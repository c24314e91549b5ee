//! Digests computed from a real store: totals against the period before, the sentiment split,
//! hourly volume, the tables, acknowledgements; and their Markdown, JSON and CSV.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{posts, receiver, secret_file};
use earshot::config::Config;
use earshot::digest::{self, Request};
use earshot::runtime::{Clock, Runtime};
use earshot::store::{NewMention, PollCommit, Scores, Store};
use earshot::urgency::Level;
use earshot_connectors::{Author, Mention, SourceState};
use tokio_util::sync::CancellationToken;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-{s}Z"))
        .unwrap()
        .with_timezone(&Utc)
}

/// (platform id, text, author, compound, level, watches)
type Row<'a> = (&'a str, &'a str, &'a str, f64, Level, &'a [&'a str]);

/// The digest of `from` to `to` (times of November 2026, as [`at`] reads them) for `watches`
/// (all when empty).
fn digest_of(store: &Store, from: &str, to: &str, watches: &[&str]) -> digest::Digest {
    let req = Request {
        from: at(from),
        to: at(to),
        watches: watches.iter().map(|w| w.to_string()).collect(),
    };
    digest::compute(store, &req).unwrap()
}

fn commit(store: &Store, source: &str, t: DateTime<Utc>, rows: &[Row]) {
    let state = SourceState::default();
    let mentions = rows
        .iter()
        .map(|(id, text, author, compound, level, watches)| NewMention {
            mention: Mention {
                platform_id: id.to_string(),
                text: text.to_string(),
                title: Some(format!("Title {id}")),
                url: Some(format!("https://example.com/{id}")),
                author: Author {
                    handle: Some(author.to_string()),
                    ..Default::default()
                },
                ..Default::default()
            },
            lang: Some("en".into()),
            scores: Scores {
                sentiment: earshot::sentiment::Sentiment {
                    compound: *compound,
                    ..Default::default()
                },
                urgency: match level {
                    Level::Critical => 90,
                    Level::High => 70,
                    Level::Normal => 40,
                    Level::Low => 10,
                },
                level: *level,
                reasons: vec![],
            },
            silenced_by: None,
            escalation: None,
            watches: watches.iter().map(|w| w.to_string()).collect(),
            deliveries: vec![],
        })
        .collect();
    store
        .commit_poll(&PollCommit {
            source_id: source,
            source_kind: "feed",
            now: t.timestamp(),
            state: &state,
            seen_ids: rows.iter().map(|r| r.0.to_string()).collect(),
            mentions,
            next_poll_at: t.timestamp() + 600,
            notice: None,
        })
        .unwrap();
}

fn history() -> Store {
    let store = Store::open_in_memory().unwrap();
    // The day before: two mentions.
    commit(
        &store,
        "blog",
        at("20T10:00:00"),
        &[
            ("p1", "acme is fine", "ann", 0.0, Level::Low, &["acme"]),
            ("p2", "acme is great", "bob", 0.6, Level::Low, &["acme"]),
        ],
    );
    // The day: five in two hours, on two sources, one of them about the rival too.
    commit(
        &store,
        "blog",
        at("21T09:10:00"),
        &[
            (
                "a",
                "acme billing is broken",
                "dana",
                -0.7,
                Level::High,
                &["acme"],
            ),
            ("b", "acme is lovely", "eve", 0.8, Level::Low, &["acme"]),
            (
                "c",
                "acme outage",
                "dana",
                -0.9,
                Level::Critical,
                &["acme", "rival"],
            ),
        ],
    );
    commit(
        &store,
        "reddit",
        at("21T11:30:00"),
        &[
            (
                "d",
                "acme and <b>markup</b> [x](https://evil.example)",
                "dana",
                -0.2,
                Level::Normal,
                &["acme"],
            ),
            ("e", "rival only", "fay", 0.0, Level::Low, &["rival"]),
        ],
    );
    store
}

#[test]
fn a_day_against_the_day_before() {
    let store = history();
    // "c" (critical) acknowledged 12 minutes after it was stored; "a" (high) never.
    let c = store
        .mentions(&Default::default())
        .unwrap()
        .into_iter()
        .find(|m| m.platform_id == "c")
        .unwrap()
        .id;
    store
        .ack(&[c], "dana", at("21T09:22:00").timestamp(), &[])
        .unwrap();
    let d = digest_of(&store, "21T00:00:00", "22T00:00:00", &["acme"]);
    let c = d.current;
    assert_eq!(
        (c.mentions, c.positive, c.neutral, c.negative, c.urgent),
        (4, 1, 0, 3, 2)
    );
    assert!((c.average_compound.unwrap() - (-0.25)).abs() < 1e-9);
    assert_eq!(d.previous.mentions, 2);
    assert!((d.previous.average_compound.unwrap() - 0.3).abs() < 1e-9);
    // 24 hours, empty ones included; 3 at 09:00 and 1 at 11:00.
    assert_eq!(d.hourly.len(), 24);
    assert_eq!(d.hourly[9].mentions, 3);
    assert_eq!(d.hourly[11].mentions, 1);
    assert_eq!(d.hourly.iter().map(|h| h.mentions).sum::<i64>(), 4);
    // The tables.
    let ids =
        |l: &[digest::Line]| -> Vec<String> { l.iter().map(|x| x.url.clone().unwrap()).collect() };
    assert_eq!(
        ids(&d.most_negative),
        [
            "https://example.com/c",
            "https://example.com/a",
            "https://example.com/d"
        ]
    );
    assert_eq!(
        ids(&d.most_urgent)[..2],
        ["https://example.com/c", "https://example.com/a"]
    );
    assert_eq!(
        d.top_sources
            .iter()
            .map(|s| (s.name.as_str(), s.mentions))
            .collect::<Vec<_>>(),
        [("blog", 3), ("reddit", 1)]
    );
    assert_eq!(d.top_authors[0].name, "dana");
    assert_eq!(d.top_authors[0].mentions, 3);
    assert_eq!(d.acks.urgent, 2);
    assert_eq!(d.acks.acknowledged, 1);
    assert_eq!(d.acks.median_seconds, Some(720));

    // All watches: each mention once ("c" matched both), the rival's own one too.
    let all = digest_of(&store, "21T00:00:00", "22T00:00:00", &[]);
    assert_eq!(all.current.mentions, 5);
    let rival = digest_of(&store, "21T00:00:00", "22T00:00:00", &["rival"]);
    assert_eq!(rival.current.mentions, 2);
    assert_eq!(rival.previous.mentions, 0);
}

#[test]
fn markdown_json_and_csv() {
    let store = history();
    let d = digest_of(&store, "21T00:00:00", "22T00:00:00", &["acme"]);
    let md = digest::render_markdown(&d);
    assert!(
        md.starts_with("# earshot digest: acme · 2026-11-21 00:00 UTC to 2026-11-22 00:00 UTC\n"),
        "{md}"
    );
    assert!(
        md.contains("**4 mentions** (+2 (+100%) against the period before)"),
        "{md}"
    );
    assert!(
        md.contains("Sentiment: 1 positive (25%, -25 pts), 0 neutral (0%, -50 pts), 3 negative (75%, +75 pts); average compound -0.25 (-0.55 against the period before)"),
        "{md}"
    );
    assert!(md.contains("Volume by hour: `▁▁▁▁▁▁▁▁▁█▁▃"), "{md}");
    assert!(md.contains("(peak 3 at 2026-11-21 09:00 UTC)"), "{md}");
    assert!(
        md.contains("1. critical 90/100 · -0.90 · blog · [Title c](<https://example.com/c>)"),
        "{md}"
    );
    assert!(md.contains("| dana | 3 |"), "{md}");
    assert!(md.contains("2 urgent mentions, 0 acknowledged"), "{md}");
    // A mention's own text cannot make markup or links in the digest.
    assert!(!md.contains("](https://evil"), "{md}");

    let v: serde_json::Value = serde_json::from_str(&digest::render_json(&d)).unwrap();
    assert_eq!(v["current"]["mentions"], 4);
    assert_eq!(v["previous"]["mentions"], 2);
    assert_eq!(v["hourly"].as_array().unwrap().len(), 24);
    assert_eq!(v["hourly"][9]["hour"], "2026-11-21T09:00:00Z");
    assert_eq!(v["most_negative"][0]["url"], "https://example.com/c");

    let csv = digest::render_csv(&d);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 25);
    assert_eq!(lines[0], "hour,mentions,positive,neutral,negative");
    assert_eq!(lines[10], "2026-11-21T09:00:00Z,3,1,0,2");
    assert_eq!(lines[12], "2026-11-21T11:00:00Z,1,0,0,1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_digest_is_sent_once_per_period_and_late_after_downtime() {
    let hook = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let url = secret_file(dir.path(), "slack", &format!("{}/hook", hook.uri()));
    let text = format!(
        r#"
        [daemon]
        allow_private_networks = true
        [[source]]
        id = "blog"
        kind = "feed"
        url = "feed.xml"
        [[watch]]
        name = "acme"
        query = "acme"
        [[watch]]
        name = "rival"
        query = "rival"
        [[sink]]
        id = "marketing"
        kind = "slack"
        url = {{ file = "{url}" }}
        max_per_second = 100.0
        [[digest]]
        name = "daily"
        schedule = "0 0 8 * * *"
        location = "Europe/Berlin"
        watches = ["acme"]
        sinks = ["marketing"]
        "#
    );
    let cfg = Config::parse(&text).unwrap().config;
    let db = dir.path().join("earshot.db");
    let store = Arc::new(Store::open(&db).unwrap());
    let stop = CancellationToken::new();
    let rt = Runtime::with_store(
        cfg.clone(),
        store.clone(),
        Clock::tokio_from(at("20T06:00:00")),
    )
    .unwrap();

    // First seen on the 20th at 06:00 UTC: nothing is owed before that.
    assert_eq!(rt.send_due_digests(at("20T06:00:00")).unwrap(), 0);
    commit(
        &store,
        "blog",
        at("20T06:30:00"),
        &[
            ("x1", "acme is broken", "dana", -0.6, Level::High, &["acme"]),
            ("x2", "acme is lovely", "eve", 0.7, Level::Low, &["acme"]),
            ("x3", "rival news", "fay", 0.0, Level::Low, &["rival"]),
        ],
    );
    // 08:00 in Berlin is 07:00 UTC in November.
    assert_eq!(rt.send_due_digests(at("20T06:59:59")).unwrap(), 0);
    assert_eq!(rt.send_due_digests(at("20T07:00:10")).unwrap(), 1);
    assert_eq!(rt.send_due_digests(at("20T07:00:20")).unwrap(), 0, "once");
    rt.deliver_all_due(at("20T07:00:20"), &stop).await.unwrap();
    let sent = posts(&hook).await;
    assert_eq!(sent.len(), 1);
    let msg = sent[0].to_string();
    assert!(msg.contains("Digest · acme"), "{msg}");
    assert!(
        msg.contains("daily digest: 2026-11-19 07:00 UTC to 2026-11-20 07:00 UTC"),
        "{msg}"
    );
    assert!(
        msg.contains("2 mentions (+2 (new)"),
        "the rival's is not counted: {msg}"
    );
    assert!(!msg.contains("(late)"), "{msg}");
    assert!(
        !msg.contains("Sentiment*"),
        "a digest has no sentiment field: {msg}"
    );

    // A restart within the period sends nothing again.
    let rt = Runtime::with_store(
        cfg.clone(),
        store.clone(),
        Clock::tokio_from(at("20T09:00:00")),
    )
    .unwrap();
    assert_eq!(rt.send_due_digests(at("20T09:00:00")).unwrap(), 0);

    // Down from the 20th to the 23rd at 09:00 UTC: the 21st, 22nd and 23rd are sent, late.
    assert_eq!(rt.send_due_digests(at("23T09:00:00")).unwrap(), 3);
    rt.deliver_all_due(at("23T09:00:00"), &stop).await.unwrap();
    let sent = posts(&hook).await;
    assert_eq!(sent.len(), 4);
    for (n, day) in [(1, "21"), (2, "22"), (3, "23")] {
        let m = sent[n].to_string();
        assert!(
            m.contains(&format!("to 2026-11-{day} 07:00 UTC (late)")),
            "{m}"
        );
    }
    // Made hourly, and down 13 hours: the latest seven are sent, the six before skipped.
    let hourly = Config::parse(&text.replace("0 0 8 * * *", "0 0 * * * *"))
        .unwrap()
        .config;
    let rt =
        Runtime::with_store(hourly, store.clone(), Clock::tokio_from(at("23T20:00:00"))).unwrap();
    assert_eq!(rt.send_due_digests(at("23T20:00:00")).unwrap(), 7);
    assert_eq!(
        store.digest_last("daily").unwrap(),
        Some(at("23T20:00:00").timestamp())
    );
    // ... and nothing more is owed until the next hour.
    assert_eq!(rt.send_due_digests(at("23T20:59:59")).unwrap(), 0);
    assert_eq!(rt.send_due_digests(at("23T21:00:00")).unwrap(), 1);
}

#[test]
fn pruned_mentions_leave_their_aggregates_and_pending_work() {
    let store = history();
    // One old mention still has a delivery pending: it stays until sent.
    let state = SourceState::default();
    let mut alert = earshot::alert::Alert::sample();
    alert.id = "msg_pending".into();
    store
        .commit_poll(&PollCommit {
            source_id: "blog",
            source_kind: "feed",
            now: at("20T10:30:00").timestamp(),
            state: &state,
            seen_ids: vec!["q".into()],
            mentions: vec![NewMention {
                mention: Mention {
                    platform_id: "q".into(),
                    text: "acme queued".into(),
                    ..Default::default()
                },
                lang: None,
                scores: Scores {
                    sentiment: Default::default(),
                    urgency: 40,
                    level: Level::Normal,
                    reasons: vec![],
                },
                silenced_by: None,
                escalation: None,
                watches: vec!["acme".into()],
                deliveries: vec![earshot::store::NewDelivery {
                    sink_id: "out".into(),
                    watch: "acme".into(),
                    alert,
                    held_until: None,
                    group: None,
                    fingerprint: None,
                }],
            }],
            next_poll_at: 0,
            notice: None,
        })
        .unwrap();
    let day_before = Request {
        from: at("20T00:00:00"),
        to: at("21T00:00:00"),
        watches: vec!["acme".into()],
    };
    let before = digest::compute(&store, &day_before).unwrap();
    assert_eq!(before.current.mentions, 3);

    // Keep mentions from the 21st on; aggregates for a year.
    let (m, a) = store.prune(Some(at("21T00:00:00").timestamp()), 0).unwrap();
    assert_eq!((m, a), (2, 0), "p1 and p2 go; q waits for its delivery");
    let left: Vec<String> = store
        .mentions(&Default::default())
        .unwrap()
        .into_iter()
        .map(|m| m.platform_id)
        .collect();
    assert_eq!(left, ["e", "d", "c", "b", "a", "q"]);
    // The day before still counts from its aggregates; only its tables lost the pruned rows.
    let after = digest::compute(&store, &day_before).unwrap();
    assert_eq!(after.current, before.current);
    assert_eq!(after.hourly, before.hourly);
    assert_eq!(after.most_urgent.len(), 1);

    // Aggregates older than their own horizon go too.
    let (_, a) = store.prune(None, at("21T00:00:00").timestamp()).unwrap();
    assert!(a >= 2, "{a}");
    assert_eq!(
        digest::compute(&store, &day_before)
            .unwrap()
            .current
            .mentions,
        0
    );
}

#[test]
fn coverage_gaps_say_which_source_was_blind_and_for_how_long() {
    let store = history();
    // reddit fails from 21T12:00 to 21T15:30 (three polls), blog from 21T22:00 and still does.
    for t in ["21T12:00:00", "21T13:00:00", "21T14:00:00"] {
        store
            .record_failure(
                "reddit",
                "reddit",
                "HTTP 503 from reddit.com",
                at(t).timestamp(),
                0,
            )
            .unwrap();
    }
    commit(&store, "reddit", at("21T15:30:00"), &[]);
    store
        .record_failure(
            "blog",
            "feed",
            "timed out",
            at("21T22:00:00").timestamp(),
            0,
        )
        .unwrap();
    let d = digest_of(&store, "21T00:00:00", "22T00:00:00", &[]);
    let gaps: Vec<(&str, i64, i64, bool)> = d
        .gaps
        .iter()
        .map(|g| (g.source_id.as_str(), g.seconds, g.failures, g.to.is_some()))
        .collect();
    assert_eq!(
        gaps,
        [
            ("reddit", 3 * 3600 + 1800, 3, true),
            ("blog", 2 * 3600, 1, false)
        ]
    );
    let md = digest::render_markdown(&d);
    assert!(
        md.contains("**Coverage gaps:** 2 source outages during this period"),
        "{md}"
    );
    assert!(
        md.contains("reddit was blind for 3h30m \\(3 failed polls, from 2026\\-11\\-21 12\\:00 UTC to 2026\\-11\\-21 15\\:30 UTC\\)\\: HTTP 503 from reddit\\.com"),
        "{md}"
    );
    let text = digest::render_text(&d);
    assert!(
        text.contains("Coverage gaps:\nreddit was blind for 3h30m"),
        "{text}"
    );
    assert!(text.contains("blog was blind for 2h00m (1 failed poll, from 2026-11-21 22:00 UTC, still failing): timed out"), "{text}");
    // The next day only sees the part of blog's outage that falls in it.
    let next = digest_of(&store, "22T00:00:00", "22T06:00:00", &[]);
    assert_eq!(next.gaps.len(), 1);
    assert_eq!(next.gaps[0].seconds, 6 * 3600);
}

#[test]
fn a_period_starting_within_an_hour_counts_that_hour_once() {
    let store = history();
    // 09:30 to 09:30: the hour 09:00 of the 21st (three mentions) is this period's, not the
    // period before's, which holds only the two of the 20th.
    let d = digest_of(&store, "21T09:30:00", "22T09:30:00", &["acme"]);
    assert_eq!(d.current.mentions, 4);
    assert_eq!(d.previous.mentions, 2);
}
