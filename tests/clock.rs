//! One clock: earshot reads the wall clock in exactly one place, `Clock::now` in
//! `connectors/src/clock.rs`. Everything else takes the time from a clock (the runtime's, the
//! fetcher's, the sinks') or as an explicit `now`, so a test that fixes a date drives every
//! clock the code reads, and no test becomes a time bomb once the calendar passes its date.
//!
//! This test reads the tree and fails on any other read of the wall clock, in the code, the
//! tests and the benchmarks. Its partner is `cargo test-next-year` (`.cargo/config.toml`), which
//! runs the whole suite with the test binaries' clock a year ahead.

use std::path::{Path, PathBuf};

/// Calls that read the wall clock without going through `Clock`.
const WALL_CLOCK: &[&str] = &[
    "Utc::now(",
    "Utc::now)",
    "Local::now(",
    "Local::now)",
    "SystemTime::now(",
    "SystemTime::now)",
    "UNIX_EPOCH.elapsed(",
    "OffsetDateTime::now_utc(",
    "chrono::offset::Utc.now",
];

/// The one file allowed to read it.
const THE_CLOCK: &str = "connectors/src/clock.rs";

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `file:line: text` for every wall-clock read in `text` (comments aside).
fn reads(file: &str, text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .filter(|(_, l)| WALL_CLOCK.iter().any(|c| l.contains(c)))
        .map(|(n, l)| format!("{file}:{}: {}", n + 1, l.trim()))
        .collect()
}

#[test]
fn only_the_clock_type_reads_the_wall_clock() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        "src",
        "tests",
        "benches",
        "connectors/src",
        "connectors/tests",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "the tree was not found: {files:?}");
    let mut found = Vec::new();
    let mut clock_reads = 0;
    for f in &files {
        let rel = f
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "tests/clock.rs" {
            continue;
        }
        let r = reads(&rel, &std::fs::read_to_string(f).unwrap());
        if rel == THE_CLOCK {
            clock_reads = r.len();
        } else {
            found.extend(r);
        }
    }
    assert!(
        found.is_empty(),
        "the wall clock is read outside {THE_CLOCK}; take `now` from the runtime's clock, \
         the fetcher's (`http.now()`), the sink's (`client.now()`) or an explicit argument, and \
         in tests drive a `Clock::tokio_from(..)`:\n{}",
        found.join("\n")
    );
    assert_eq!(clock_reads, 1, "{THE_CLOCK} reads the wall clock once");
}

#[test]
fn the_scan_finds_a_read_and_passes_over_comments() {
    let text = "fn a() {\n    // Utc::now() in a comment\n    let t = chrono::Utc::now();\n}\n";
    assert_eq!(reads("x.rs", text), ["x.rs:3: let t = chrono::Utc::now();"]);
    assert!(reads("x.rs", "let t = clock.now();").is_empty());
    assert_eq!(reads("x.rs", "x.unwrap_or_else(Utc::now)").len(), 1);
}
