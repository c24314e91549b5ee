//! Urgency scoring, the whole per-mention judgement (match + sentiment + urgency), and store
//! inserts (one poll's commit). Run: `cargo bench --bench pipeline`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use earshot::alert::Alert;
use earshot::config::Config;
use earshot::pipeline::Pipeline;
use earshot::sentiment::Sentiment;
use earshot::store::{NewDelivery, NewMention, PollCommit, Scores, Store};
use earshot::urgency::{Context, Level, Rules, urgency};
use earshot_connectors::{Mention, SourceState};

const POST: &str = "I was charged twice for Acme Cloud this month and support has not answered in three days. \
    Is anyone there? The dashboard is down again and I can't log in. Seriously considering switching to another provider.";

fn urgency_bench(c: &mut Criterion) {
    let rules = Rules::default();
    let s = Sentiment {
        compound: -0.6,
        ..Default::default()
    };
    let mut g = c.benchmark_group("urgency");
    g.throughput(Throughput::Elements(1));
    g.bench_function("score a 230-char complaint", |b| {
        b.iter(|| urgency(black_box(POST), &s, &Context::default(), &rules))
    });
    g.finish();
}

fn judge_bench(c: &mut Criterion) {
    let cfg = Config::parse(
        r#"
        [[source]]
        id = "s"
        kind = "feed"
        url = "x.xml"
        [[watch]]
        name = "acme"
        query = '("acme cloud" OR acmecloud) -anvil'
        [[sink]]
        id = "out"
        kind = "stdout"
        [[route]]
        sinks = ["out"]
        "#,
    )
    .unwrap()
    .config;
    let p = Pipeline::new(&cfg).unwrap();
    let src = cfg.sources[0].clone();
    let m = Mention {
        platform_id: "1".into(),
        title: Some("Charged twice".into()),
        text: POST.into(),
        lang: Some("en".into()),
        ..Default::default()
    };
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(1));
    g.bench_function("judge one matching mention", |b| {
        b.iter(|| p.evaluate(&src, black_box(m.clone()), now, true))
    });
    // Most items of a feed match no watch; the platform gave no language, so none is detected
    // unless a watch filters on `lang:`.
    let other = Mention {
        platform_id: "2".into(),
        title: Some("Weekend plans".into()),
        text: "We went hiking along the river and had lunch at the old mill, lovely day.".into(),
        lang: None,
        ..Default::default()
    };
    g.bench_function(
        "pass over an item no watch matches (no language given)",
        |b| b.iter(|| p.evaluate(&src, black_box(other.clone()), now, true)),
    );
    // The same with a watch that filters on `lang:`: the language is detected first.
    let with_lang = Config::parse(
        r#"
        [[source]]
        id = "s"
        kind = "feed"
        url = "x.xml"
        [[watch]]
        name = "acme"
        query = '("acme cloud" OR acmecloud) -anvil lang:en'
        "#,
    )
    .unwrap()
    .config;
    let pl = Pipeline::new(&with_lang).unwrap();
    g.bench_function("pass over an item no watch matches (a lang: watch)", |b| {
        b.iter(|| pl.evaluate(&src, black_box(other.clone()), now, true))
    });
    g.finish();
}

/// Mention `n` of watch "acme", with one delivery to `sink`.
fn mention_for(n: usize, sink: &str, scores: Scores) -> NewMention {
    let mut alert = Alert::sample();
    alert.id = format!("msg_{n}");
    NewMention {
        mention: Mention {
            platform_id: format!("id-{n}"),
            text: POST.into(),
            ..Default::default()
        },
        lang: None,
        scores,
        watches: vec!["acme".into()],
        silenced_by: None,
        escalation: None,
        deliveries: vec![NewDelivery {
            sink_id: sink.into(),
            watch: "acme".into(),
            alert,
            held_until: None,
            group: None,
            fingerprint: None,
        }],
    }
}

fn store_bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db")).unwrap();
    let state = SourceState::default();
    let mut n = 0usize;
    let mut g = c.benchmark_group("store");
    const BATCH: usize = 100;
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function(
        "commit a poll of 100 new mentions with a delivery each",
        |b| {
            b.iter_batched(
                || {
                    (0..BATCH)
                        .map(|_| {
                            n += 1;
                            mention_for(
                                n,
                                "slack",
                                Scores {
                                    urgency: 60,
                                    level: Level::High,
                                    ..Default::default()
                                },
                            )
                        })
                        .collect::<Vec<_>>()
                },
                |mentions| {
                    let ids = mentions
                        .iter()
                        .map(|m| m.mention.platform_id.clone())
                        .collect();
                    store
                        .commit_poll(&PollCommit {
                            source_id: "s",
                            source_kind: "feed",
                            now: 0,
                            state: &state,
                            seen_ids: ids,
                            mentions,
                            notice: None,
                            next_poll_at: 0,
                        })
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        },
    );
    g.finish();
}

/// One scrape of `/metrics` (the health read from the store, then the text) over an outbox of
/// 200,000 deliveries to three sinks, 90% of them sent: what a Prometheus scrape costs the
/// daemon every 15 to 60 s.
fn scrape_bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("scrape.db")).unwrap();
    let cfg = Config::parse(
        r#"
        [[source]]
        id = "forum"
        kind = "feed"
        url = "https://example.com/feed.xml"
        [[source]]
        id = "hn"
        kind = "hackernews"
        query = "acme"
        [[watch]]
        name = "acme"
        query = "acme"
        [[sink]]
        id = "support"
        kind = "stdout"
        [[sink]]
        id = "team"
        kind = "stdout"
        [[sink]]
        id = "ops"
        kind = "stdout"
        [[route]]
        sinks = ["support"]
        "#,
    )
    .unwrap()
    .config;
    let sinks = ["support", "team", "ops"];
    let state = SourceState::default();
    for poll in 0..2_000 {
        let mentions = (0..100)
            .map(|i| {
                let n = poll * 100 + i;
                mention_for(n, sinks[n % 3], Scores::default())
            })
            .collect();
        store
            .commit_poll(&PollCommit {
                source_id: "forum",
                source_kind: "feed",
                now: poll as i64,
                state: &state,
                seen_ids: vec![],
                mentions,
                notice: None,
                next_poll_at: 0,
            })
            .unwrap();
    }
    for sink in sinks {
        loop {
            let due = store.due_deliveries(sink, i64::MAX, 1_000).unwrap();
            let pending = store.sink_stats().unwrap();
            let left = pending
                .iter()
                .find(|s| s.sink_id == sink)
                .map_or(0, |s| s.pending);
            if due.is_empty() || left <= 6_667 {
                break;
            }
            for d in due {
                store.mark_sent(d.id, 3_000, None).unwrap();
            }
        }
    }
    let metrics = earshot::metrics::Metrics::new(3_000);
    let watches = vec!["acme".to_string()];
    let mut g = c.benchmark_group("scrape");
    g.sample_size(20);
    g.bench_function("health and /metrics over 200,000 deliveries", |b| {
        b.iter(|| {
            let h = earshot::health::Health::read(&cfg, &store, 4_000);
            metrics.render(&h, &watches, &[])
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    urgency_bench,
    judge_bench,
    store_bench,
    scrape_bench
);
criterion_main!(benches);
