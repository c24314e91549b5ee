//! How much the watch query language costs per mention: preparing a document once, then
//! matching it against one watch and against fifty. Figures go in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use earshot::query::{DocFields, Document, Query};
use earshot_connectors::MentionKind;

/// A typical 300-character post: mixed case, a hashtag, a mention, punctuation, a URL.
const TEXT: &str = "Has anyone else seen #AcmeCloud go down this morning? Our dashboards at \
    https://status.example.com were red for 40 minutes, support (@acme_help) said it's a DNS \
    issue. We're evaluating Anvil and Node.js alternatives; honestly the café wifi was more \
    reliable. Charged twice for March too. Not happy, Acme!";

fn fields() -> DocFields<'static> {
    DocFields {
        title: "Acme Cloud outage again?",
        text: TEXT,
        author: "@jdoe Jane Doe",
        site: "news.example.com",
        lang: Some("en"),
        kind: MentionKind::Post,
    }
}

/// Fifty watches of the shapes teams write: brand names, phrases, exclusions, fields.
fn watches() -> Vec<Query> {
    let brands = [
        "acme", "anvil", "globex", "initech", "umbrella", "hooli", "vandelay", "wonka", "stark",
        "wayne",
    ];
    let mut queries = Vec::new();
    for brand in brands {
        queries.push(brand.to_owned());
        queries.push(format!(
            "(\"{brand} cloud\" OR {brand}cloud) -hiring lang:en"
        ));
        queries.push(format!("{brand}* (outage OR down OR \"charged twice\")"));
        queries.push(format!("title:{brand} -site:{brand}.com type:post"));
        queries.push(format!(
            "author:{brand} OR site:{brand}.example.com OR \"{brand} support\""
        ));
    }
    queries
        .iter()
        .map(|q| Query::parse(q).expect("benchmark queries parse"))
        .collect()
}

fn bench(c: &mut Criterion) {
    c.bench_function("document_new_300_chars", |b| {
        b.iter(|| Document::new(black_box(fields())))
    });

    let doc = Document::new(fields());
    let one = Query::parse("(\"acme cloud\" OR acmecloud) -anvil lang:en").expect("parses");
    c.bench_function("match_1_query", |b| {
        b.iter(|| black_box(&one).matches(black_box(&doc)))
    });

    let many = watches();
    assert_eq!(many.len(), 50);
    c.bench_function("match_50_queries", |b| {
        b.iter(|| many.iter().filter(|q| q.matches(black_box(&doc))).count())
    });

    c.bench_function("parse_query", |b| {
        b.iter(|| Query::parse(black_box("(\"acme cloud\" OR acmecloud) -anvil lang:en")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
