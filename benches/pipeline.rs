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
    let now = chrono::Utc::now();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(1));
    g.bench_function("judge one matching mention", |b| {
        b.iter(|| p.evaluate(&src, black_box(m.clone()), now, true))
    });
    g.finish();
}

fn store_bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db")).unwrap();
    let state = SourceState::default();
    let mut n = 0u64;
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
                            let mut alert = Alert::sample();
                            alert.id = format!("msg_{n}");
                            NewMention {
                                mention: Mention {
                                    platform_id: format!("id-{n}"),
                                    text: POST.into(),
                                    ..Default::default()
                                },
                                lang: None,
                                scores: Scores {
                                    urgency: 60,
                                    level: Level::High,
                                    ..Default::default()
                                },
                                watches: vec!["acme".into()],
                                silenced_by: None,
                                escalation: None,
                                deliveries: vec![NewDelivery {
                                    sink_id: "slack".into(),
                                    watch: "acme".into(),
                                    alert,
                                    held_until: None,
                                    group: None,
                                    fingerprint: None,
                                }],
                            }
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

criterion_group!(benches, urgency_bench, judge_bench, store_bench);
criterion_main!(benches);
