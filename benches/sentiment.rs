//! Sentences per second over the reference corpus (tests/data/vader): earshot's faithful
//! VADER against the `vader_sentiment` crate's analyser, on the same 23,703 texts.
//!
//! Run: `cargo bench --bench sentiment`. The target is ≥300,000 sentences/s on one core.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const REFERENCE: &str = include_str!("../tests/data/vader/reference_scores.tsv");

/// The text column (last) of every data row.
fn corpus() -> Vec<&'static str> {
    REFERENCE
        .lines()
        .skip(1)
        .filter_map(|line| line.splitn(8, '\t').nth(7))
        .collect()
}

fn bench(c: &mut Criterion) {
    let texts = corpus();
    let mut group = c.benchmark_group("vader_corpus");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.sample_size(20);
    // The crate needs ~0.5 s per pass over the corpus.
    group.measurement_time(Duration::from_secs(12));

    // First call builds the lexicons; keep it out of the measurement.
    black_box(earshot::sentiment::polarity_scores("warm up"));
    group.bench_function("earshot", |b| {
        b.iter(|| {
            for text in &texts {
                black_box(earshot::sentiment::polarity_scores(black_box(text)));
            }
        })
    });

    let analyzer = vader_sentiment::SentimentIntensityAnalyzer::new();
    black_box(analyzer.polarity_scores("warm up"));
    group.bench_function("vader_sentiment_crate", |b| {
        b.iter(|| {
            for text in &texts {
                black_box(analyzer.polarity_scores(black_box(text)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
