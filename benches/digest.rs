//! Digests over a store of one million mentions (a year at about 2,700 a day, three watches,
//! four sources, 500 authors): a day, a month and the whole year. Run: `cargo bench --bench
//! digest`. The database is built once (through `Store::commit_poll`, as the daemon writes it)
//! and kept at `$CARGO_TARGET_TMPDIR/digest-1m.db` for later runs.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use earshot::digest::{Request, compute};
use earshot::sentiment::Sentiment;
use earshot::store::{NewMention, PollCommit, Scores, Store};
use earshot::urgency::Level;
use earshot_connectors::{Author, Mention, SourceState};

const MENTIONS: i64 = 1_000_000;
const YEAR: i64 = 365 * 86_400;
/// 2026-11-22 00:00 UTC: the end of the stored year.
const END: i64 = 1_795_305_600;

const WORDS: &[&str] = &[
    "acme",
    "cloud",
    "billing",
    "invoice",
    "outage",
    "login",
    "slow",
    "great",
    "support",
    "refund",
    "dashboard",
    "api",
    "upload",
    "export",
    "pricing",
    "team",
    "love",
    "broken",
    "fast",
    "docs",
];

fn db() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("digest-1m.db")
}

/// The database with a year of mentions; built on the first run only.
fn store() -> Store {
    let path = db();
    if path.exists() {
        let s = Store::open(&path).unwrap();
        let have = s
            .hour_aggs(&[], 0, i64::MAX)
            .unwrap()
            .iter()
            .map(|(_, a)| a.mentions)
            .sum::<i64>();
        if have == MENTIONS {
            return s;
        }
        drop(s);
        std::fs::remove_file(&path).unwrap();
    }
    let s = Store::open(&path).unwrap();
    let state = SourceState::default();
    let sources = ["forum", "reddit", "hn", "mastodon"];
    let batch = 100;
    let mut rng = fastrand::Rng::with_seed(7);
    for start in (0..MENTIONS).step_by(batch as usize) {
        let t = END - YEAR + start * YEAR / MENTIONS;
        let source = sources[(start / batch) as usize % sources.len()];
        let mentions = (start..start + batch)
            .map(|i| {
                let text: Vec<&str> = (0..12).map(|_| WORDS[rng.usize(..WORDS.len())]).collect();
                let compound = rng.f64() * 2.0 - 1.0;
                let level = match rng.u8(..100) {
                    0..3 => Level::Critical,
                    3..15 => Level::High,
                    15..60 => Level::Normal,
                    _ => Level::Low,
                };
                let watches = match i % 3 {
                    0 => vec!["acme".to_string()],
                    1 => vec!["acme".to_string(), "cloud".to_string()],
                    _ => vec!["rival".to_string()],
                };
                NewMention {
                    mention: Mention {
                        platform_id: format!("p{i}"),
                        title: Some(format!("post {i}")),
                        text: text.join(" "),
                        url: Some(format!("https://example.com/{i}")),
                        author: Author {
                            handle: Some(format!("user{}", rng.u32(..500))),
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                    lang: Some("en".into()),
                    scores: Scores {
                        sentiment: Sentiment {
                            compound,
                            ..Default::default()
                        },
                        urgency: rng.u8(..100),
                        level,
                        reasons: vec![],
                    },
                    silenced_by: None,
                    escalation: None,
                    watches,
                    deliveries: vec![],
                }
            })
            .collect();
        // One commit per batch of 100, all stored at `t` (about 53 minutes apart): hours fill
        // as the daemon would fill them.
        s.commit_poll(&PollCommit {
            source_id: source,
            source_kind: "feed",
            now: t,
            state: &state,
            seen_ids: vec![],
            mentions,
            next_poll_at: t + 600,
            notice: None,
        })
        .unwrap();
    }
    s
}

fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap()
}

fn digest_bench(c: &mut Criterion) {
    let s = store();
    let mut g = c.benchmark_group("digest over 1M stored mentions");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for (name, span, watches) in [
        ("the last day, one watch", 86_400, vec!["acme".to_string()]),
        ("the last 30 days, all watches", 30 * 86_400, vec![]),
        ("the whole year (1M mentions), all watches", YEAR, vec![]),
    ] {
        let req = Request {
            from: at(END - span),
            to: at(END),
            watches,
        };
        g.bench_function(name, |b| b.iter(|| compute(&s, black_box(&req)).unwrap()));
    }
    g.finish();
}

/// One round of spike checks (what the daemon does every minute) over the same store: each
/// watch's last hour against its week.
fn spike_bench(c: &mut Criterion) {
    let s = store();
    let cfg = earshot::config::Config::parse(
        r#"
        [[watch]]
        name = "acme"
        query = "acme"
        [[watch]]
        name = "cloud"
        query = "cloud"
        [[watch]]
        name = "rival"
        query = "rival"
        [spikes]
        "#,
    )
    .unwrap()
    .config;
    let pipeline = earshot::pipeline::Pipeline::new(&cfg).unwrap();
    let mut g = c.benchmark_group("spikes over 1M stored mentions");
    g.sample_size(20);
    g.bench_function("check three watches", |b| {
        b.iter(|| earshot::spike::check_all(&s, &cfg, &pipeline, at(END)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, digest_bench, spike_bench);
criterion_main!(benches);
