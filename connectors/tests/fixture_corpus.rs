//! Every captured feed in `shared/fixtures/{feed-rs,feedjira,feedparser}` through the real
//! [`FeedConnector::fetch`]: each one must give mentions or a clear error, never a panic, and
//! the number that parse must not drop (a regression that breaks parsing fails here).
//!
//! The fixtures live outside the crate (`../shared/fixtures` from the workspace root); set
//! `EARSHOT_FIXTURES` to point elsewhere.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use earshot_connectors::feed::FeedConnector;
use earshot_connectors::{FetchError, Mention, SourceState};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const FOLDERS: &[&str] = &["feed-rs", "feedjira", "feedparser"];

/// Files that must parse: 2,102 of 2,218 did when this test was written, less a small margin
/// for parser upgrades that reasonably change their mind about broken edge cases. The rest are
/// deliberately broken or degenerate: documents with no channel, fragments holding a single
/// entry, CDF, UTF-16/32 (which feed-rs cannot read), RSS versions feed-rs does not know
/// (0.93, 2.01), base64 text constructs. Run with `EARSHOT_CORPUS_VERBOSE=1 -- --nocapture`
/// to list them.
const MIN_PARSED: usize = 2_080;

fn fixtures_dir() -> PathBuf {
    match std::env::var_os("EARSHOT_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"),
    }
}

/// Feed documents only: feed-rs's `*.serde.json` expectation files, READMEs and licences are not.
fn is_feed_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    (name.ends_with(".xml") || name.ends_with(".json")) && !name.ends_with(".serde.json")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list fixture folder {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("readable directory entry").path();
        if path.is_dir() {
            walk(&path, out);
        } else if is_feed_file(&path) {
            out.push(path);
        }
    }
}

fn feed_files() -> Vec<PathBuf> {
    let root = fixtures_dir();
    let mut files = Vec::new();
    for folder in FOLDERS {
        let dir = root.join(folder);
        assert!(
            dir.is_dir(),
            "fixture folder {} is missing: the corpus test looked for it there. Check out \
             shared/fixtures next to the workspace or set EARSHOT_FIXTURES to its path",
            dir.display()
        );
        walk(&dir, &mut files);
    }
    files.sort();
    files
}

/// What a result must look like, whatever the file: mentions with ids, or a message.
fn check(file: &Path, got: &Result<Vec<Mention>, FetchError>) {
    match got {
        Ok(mentions) => {
            for m in mentions {
                assert!(
                    !m.platform_id.trim().is_empty(),
                    "{}: a mention without an id",
                    file.display()
                );
            }
        }
        Err(e) => {
            let inner = match e {
                FetchError::Parse(m) | FetchError::Io(m) | FetchError::Unexpected(m) => m.as_str(),
                _ => "(not a message variant)",
            };
            assert!(
                !inner.trim().is_empty(),
                "{}: an error without a message: {e:?}",
                file.display()
            );
        }
    }
}

#[tokio::test]
async fn every_fixture_feed_parses_or_fails_clearly() {
    let files = feed_files();
    let http = common::fetcher_with(|o| o.max_body = 16 * 1024 * 1024);

    let mut parsed = 0usize;
    let mut mentions = 0usize;
    let mut per_folder: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut results = Vec::with_capacity(files.len());
    let root = fixtures_dir();
    for file in &files {
        let got = FeedConnector {
            url: file.display().to_string(),
        }
        .fetch(&http, &SourceState::default())
        .await
        .map(|o| o.mentions);
        check(file, &got);
        let rel = file.strip_prefix(&root).unwrap_or(file);
        let folder = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let counts = per_folder.entry(folder).or_default();
        counts.0 += 1;
        match &got {
            Ok(m) => {
                parsed += 1;
                counts.1 += 1;
                mentions += m.len();
            }
            Err(e) => {
                // Group by the message's start so the summary stays short.
                let key: String = e.to_string().chars().take(70).collect();
                errors
                    .entry(key)
                    .or_default()
                    .push(rel.display().to_string());
            }
        }
        results.push(got);
    }

    println!(
        "fixture corpus: {} files, {parsed} parsed ({mentions} mentions), {} errors",
        files.len(),
        files.len() - parsed
    );
    for (folder, (n, ok)) in &per_folder {
        println!("  {folder}: {ok}/{n} parsed");
    }
    for (msg, which) in &errors {
        println!("  {} x {msg}…  e.g. {}", which.len(), which[0]);
        if std::env::var_os("EARSHOT_CORPUS_VERBOSE").is_some() {
            for w in which {
                println!("      {w}");
            }
        }
    }
    assert!(
        parsed >= MIN_PARSED,
        "only {parsed} of {} fixture feeds parsed, expected at least {MIN_PARSED}",
        files.len()
    );

    // A sample served over HTTP must come out the same as from disk (give or take links,
    // which resolve against a different base).
    let server = MockServer::start().await;
    let sample: Vec<usize> = (0..files.len()).step_by(50).collect();
    for &i in &sample {
        Mock::given(path(format!("/feeds/{i}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(std::fs::read(&files[i]).unwrap(), "application/xml"),
            )
            .mount(&server)
            .await;
    }
    for &i in &sample {
        let got = FeedConnector {
            url: format!("{}/feeds/{i}", server.uri()),
        }
        .fetch(&http, &SourceState::default())
        .await
        .map(|o| o.mentions);
        check(&files[i], &got);
        let titles = |r: &Result<Vec<Mention>, FetchError>| {
            r.as_ref()
                .map(|m| m.iter().map(|m| m.title.clone()).collect::<Vec<_>>())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            titles(&got),
            titles(&results[i]),
            "{}: served and local results differ",
            files[i].display()
        );
    }
    println!("  {} sampled files served over HTTP matched", sample.len());
}
