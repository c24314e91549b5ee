//! Peak memory of reading one hostile feed: ~15 MiB (the default body cap) of ~330,000 tiny
//! items. Memory grows with the item count, not the bytes, so the connector reads at most
//! `MAX_FEED_ITEMS` of them; this prints the peak resident memory of parsing that document with
//! and without the cap. Linux only (it reads and resets the peak in /proc/self).
//!
//! `cargo bench --bench feed_memory`; figures in BENCHMARKS.md.

use earshot_connectors::feed::{MAX_FEED_ITEMS, parse_feed_capped};

/// Peak resident memory since the last reset, in KiB (`VmHWM`).
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets the peak to what is resident now.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let body_cap: usize = 15 * 1024 * 1024;
    let mut doc = String::from(r#"<rss version="2.0"><channel><title>t</title>"#);
    let mut n = 0;
    while doc.len() < body_cap - 64 {
        doc.push_str(&format!("<item><guid>{n}</guid><title>a{n}</title></item>"));
        n += 1;
    }
    doc.push_str("</channel></rss>");
    let bytes = doc.into_bytes();
    println!(
        "document: {:.1} MiB, {n} items; body cap {} MiB",
        bytes.len() as f64 / 1048576.0,
        body_cap / 1048576
    );
    for (label, max) in [("capped", MAX_FEED_ITEMS), ("uncapped", usize::MAX - 1)] {
        reset_peak();
        let before = peak_kib();
        let started = std::time::Instant::now();
        let (m, _, left_out) =
            parse_feed_capped(&bytes, "https://example.com/feed", max).expect("parses");
        let took = started.elapsed();
        let peak = peak_kib().saturating_sub(before);
        println!(
            "{label:>8}: {} mentions ({left_out} left out) in {:.2} s; peak +{:.0} MiB ({:.1}x the body cap)",
            m.len(),
            took.as_secs_f64(),
            peak as f64 / 1024.0,
            peak as f64 * 1024.0 / body_cap as f64
        );
        drop(m);
    }
}
