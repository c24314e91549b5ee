//! Parity with the reference: every sentence of VADER's human-rated corpora, scored by
//! `earshot::sentiment`, against the scores Python vaderSentiment 3.3.2 gives it
//! (tests/data/vader/README.md).

use earshot::sentiment::{Sentiment, polarity_scores};

const REFERENCE: &str = include_str!("data/vader/reference_scores.tsv");
/// The reference rounds to 4 (compound) and 3 (pos, neu, neg) decimals; anything further
/// apart than this is a real difference.
const TOLERANCE: f64 = 1e-4;
/// Required share of sentences agreeing on all four scores.
const REQUIRED: f64 = 0.999;

struct Row<'a> {
    id: String,
    text: &'a str,
    expected: Sentiment,
}

fn rows() -> Vec<Row<'static>> {
    REFERENCE
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.splitn(8, '\t').collect();
            assert_eq!(f.len(), 8, "malformed line: {line}");
            let num = |s: &str| s.parse::<f64>().unwrap_or_else(|e| panic!("{s}: {e}"));
            Row {
                id: format!("{}/{}", f[0], f[1]),
                text: f[7],
                expected: Sentiment {
                    compound: num(f[3]),
                    pos: num(f[4]),
                    neu: num(f[5]),
                    neg: num(f[6]),
                },
            }
        })
        .collect()
}

fn fields(s: &Sentiment) -> [f64; 4] {
    [s.compound, s.pos, s.neu, s.neg]
}

/// The largest of the four absolute differences.
fn max_diff(a: &Sentiment, b: &Sentiment) -> f64 {
    [
        (a.compound - b.compound).abs(),
        (a.pos - b.pos).abs(),
        (a.neu - b.neu).abs(),
        (a.neg - b.neg).abs(),
    ]
    .into_iter()
    .fold(0.0, f64::max)
}

#[test]
fn agrees_with_reference_on_human_rated_corpora() {
    let rows = rows();
    assert_eq!(rows.len(), 23_703);
    let mut misses: Vec<(f64, &Row, Sentiment)> = rows
        .iter()
        .filter_map(|row| {
            let got = polarity_scores(row.text);
            let d = max_diff(&got, &row.expected);
            (d > TOLERANCE).then_some((d, row, got))
        })
        .collect();
    let agree = rows.len() - misses.len();
    // Agreement per score, to see which one a regression touches.
    let mut per_field = [0usize; 4];
    for row in &rows {
        let got = fields(&polarity_scores(row.text));
        for (k, want) in fields(&row.expected).into_iter().enumerate() {
            if (got[k] - want).abs() <= TOLERANCE {
                per_field[k] += 1;
            }
        }
    }
    println!(
        "{agree}/{} sentences within {TOLERANCE} of the reference on all four scores",
        rows.len()
    );
    for (name, ok) in ["compound", "pos", "neu", "neg"].into_iter().zip(per_field) {
        println!("  {name}: {ok}/{}", rows.len());
    }
    misses.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (d, row, got) in misses.iter().take(15) {
        println!(
            "  {:.4} {}: got {got:?}, want {:?}\n      {}",
            d, row.id, row.expected, row.text
        );
    }
    assert!(
        agree as f64 >= REQUIRED * rows.len() as f64,
        "only {agree}/{} within {TOLERANCE}",
        rows.len()
    );
}
