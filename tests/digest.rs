//! Digests computed from a real store: totals against the period before, the sentiment split,
//! hourly volume, the tables, acknowledgements; and their Markdown, JSON and CSV.

use chrono::{DateTime, Utc};
use earshot::digest::{self, Request};
use earshot::store::{NewMention, PollCommit, Scores, Store};
use earshot::urgency::Level;
use earshot_connectors::{Author, Mention, SourceState};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-{s}Z"))
        .unwrap()
        .with_timezone(&Utc)
}

/// (platform id, text, author, compound, level, watches)
type Row<'a> = (&'a str, &'a str, &'a str, f64, Level, &'a [&'a str]);

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
    let d = digest::compute(
        &store,
        &Request {
            from: at("21T00:00:00"),
            to: at("22T00:00:00"),
            watches: vec!["acme".into()],
        },
    )
    .unwrap();
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
    let all = digest::compute(
        &store,
        &Request {
            from: at("21T00:00:00"),
            to: at("22T00:00:00"),
            watches: vec![],
        },
    )
    .unwrap();
    assert_eq!(all.current.mentions, 5);
    let rival = digest::compute(
        &store,
        &Request {
            from: at("21T00:00:00"),
            to: at("22T00:00:00"),
            watches: vec!["rival".into()],
        },
    )
    .unwrap();
    assert_eq!(rival.current.mentions, 2);
    assert_eq!(rival.previous.mentions, 0);
}

#[test]
fn markdown_json_and_csv() {
    let store = history();
    let d = digest::compute(
        &store,
        &Request {
            from: at("21T00:00:00"),
            to: at("22T00:00:00"),
            watches: vec!["acme".into()],
        },
    )
    .unwrap();
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
        md.contains("Sentiment: 1 positive (25%), 0 neutral (0%), 3 negative (75%); average compound -0.25 (-0.55 against the period before)"),
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
