//! Config reloads (SIGHUP) through `runtime::run_reloading`, on the real clock with a local feed
//! and chat receivers: a good config takes effect without a restart, without losing a queued
//! delivery and without alerting anything twice; a broken one is refused and the running config
//! carries on.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Feed, item, posts, receiver, secret_file};
use earshot::config::Config;
use earshot::runtime::{self, Clock, Runtime};
use tokio_util::sync::CancellationToken;
use wiremock::MockServer;

fn config(state: &std::path::Path, feed: &str, secret: &str, extra: &str) -> String {
    format!(
        r#"
        [daemon]
        allow_private_networks = true
        state_dir = "{}"
        jitter = "1ms"
        per_host_rps = 50.0
        [[source]]
        id = "blog"
        kind = "feed"
        url = "{feed}/feed.xml"
        every = "1s"
        [[watch]]
        name = "acme"
        query = "acme"
        [[sink]]
        id = "team"
        kind = "slack"
        url = {{ file = "{secret}" }}
        max_per_second = 100.0
        [[route]]
        sinks = ["team"]
        min_urgency = "low"
        {extra}
        "#,
        state.display().to_string().replace('\\', "/")
    )
}

/// Waits, a feed poll at a time, until `done`: the daemon's polls are the test's clock.
async fn until(
    hits: &mut tokio::sync::mpsc::UnboundedReceiver<usize>,
    what: &str,
    mut done: impl FnMut() -> bool,
) {
    let mut polls = 0;
    while !done() {
        tokio::time::timeout(Duration::from_secs(30), hits.recv())
            .await
            .unwrap_or_else(|_| panic!("{what}: no poll within 30 s"));
        polls += 1;
        assert!(polls < 60, "{what}: not within 60 polls");
    }
}

/// The next poll, for loops that wait on something async; fails after 60 of them.
async fn next(hits: &mut tokio::sync::mpsc::UnboundedReceiver<usize>, tries: &mut u32) {
    *tries += 1;
    assert!(*tries < 60, "not within 60 polls");
    tokio::time::timeout(Duration::from_secs(30), hits.recv())
        .await
        .expect("no poll within 30 s");
}

/// Writes `text` as the config at `path`, asks for a reload, and waits (a poll at a time)
/// until the daemon counted `want` reloads (taken, refused); the last reload's error.
async fn reload_to(
    (reload, metrics): (
        &tokio::sync::mpsc::UnboundedSender<()>,
        &earshot::metrics::Metrics,
    ),
    path: &std::path::Path,
    text: &str,
    hits: &mut tokio::sync::mpsc::UnboundedReceiver<usize>,
    want: (u64, u64),
) -> Option<String> {
    std::fs::write(path, text).unwrap();
    reload.send(()).unwrap();
    until(hits, &format!("reloads {want:?}"), || {
        metrics.reloads() == want
    })
    .await;
    metrics.last_reload().unwrap().error
}

/// The daemon running the config at `path`, re-reading it on each `reload`.
struct Daemon {
    metrics: Arc<earshot::metrics::Metrics>,
    store: Arc<earshot::store::Store>,
    shutdown: CancellationToken,
    reload: tokio::sync::mpsc::UnboundedSender<()>,
    task: tokio::task::JoinHandle<Result<(), earshot::runtime::RuntimeError>>,
}

fn start(path: &std::path::Path) -> Daemon {
    let rt = Runtime::new(Config::load(path).unwrap().config, Clock::System).unwrap();
    let (metrics, store) = (rt.metrics.clone(), rt.store.clone());
    let shutdown = CancellationToken::new();
    let (reload, reloads) = tokio::sync::mpsc::unbounded_channel();
    let path = path.to_path_buf();
    let load = move || {
        Config::load(&path)
            .map(|l| l.config)
            .map_err(|e| e.to_string())
    };
    let task = tokio::spawn(runtime::run_reloading(
        Arc::new(rt),
        shutdown.clone(),
        reloads,
        load,
    ));
    Daemon {
        metrics,
        store,
        shutdown,
        reload,
        task,
    }
}

/// Texts of the messages a receiver got.
async fn texts(r: &MockServer) -> Vec<String> {
    posts(r)
        .await
        .iter()
        .map(|b| b["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_takes_effect_and_a_broken_one_is_refused() {
    let feed = Feed::default();
    feed.set(vec![item("e0", "Acme old", "acme")]);
    let server = feed.serve().await;
    let mut hits = feed.watch_requests();
    let (first, second) = (receiver(200).await, receiver(200).await);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let s1 = secret_file(dir.path(), "s1", &format!("{}/hook", first.uri()));
    let s2 = secret_file(dir.path(), "s2", &format!("{}/hook", second.uri()));
    let path = dir.path().join("earshot.toml");
    std::fs::write(&path, config(&state, &server.uri(), &s1, "")).unwrap();

    let Daemon {
        metrics,
        store,
        shutdown,
        reload,
        task: daemon,
    } = start(&path);
    let guard = Duration::from_secs(30);
    // The first poll seeds; a new item goes to the first receiver.
    next(&mut hits, &mut 0).await;
    feed.push(item("e1", "Acme e1", "acme is down"));
    let mut tries = 0;
    while texts(&first).await.is_empty() {
        next(&mut hits, &mut tries).await;
    }
    assert!(texts(&first).await[0].contains("Acme e1"));

    // The webhook moves to the second receiver: reloaded, later alerts go there, e1 is not
    // sent again.
    let d = (&reload, &*metrics);
    let text = config(&state, &server.uri(), &s2, "");
    assert_eq!(reload_to(d, &path, &text, &mut hits, (1, 0)).await, None);
    feed.push(item("e2", "Acme e2", "acme is down again"));
    let mut tries = 0;
    let mut got = Vec::new();
    while got.is_empty() {
        next(&mut hits, &mut tries).await;
        got = texts(&second).await;
    }
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("Acme e2"), "{got:?}");
    assert_eq!(
        texts(&first).await.len(),
        1,
        "nothing more to the old target"
    );

    // A broken file is refused; the running config carries on.
    let broken = "[[source]\nid = ";
    let err = reload_to(d, &path, broken, &mut hits, (1, 1))
        .await
        .unwrap();
    assert!(err.contains("not valid TOML"), "{err}");
    // So is a config whose sink's secret file is missing: it loads, but cannot be built.
    let text = config(&state, &server.uri(), "/nonexistent/secret", "");
    let err = reload_to(d, &path, &text, &mut hits, (1, 2)).await.unwrap();
    assert!(err.contains("team"), "names the sink: {err}");
    assert!(
        !err.contains(&second.uri()),
        "no secret in the error: {err}"
    );
    feed.push(item("e3", "Acme e3", "acme still down"));
    let mut tries = 0;
    let mut got = Vec::new();
    while got.len() < 2 {
        next(&mut hits, &mut tries).await;
        got = texts(&second).await;
    }
    assert!(got[1].contains("Acme e3"), "{got:?}");

    // A reload that changes the state directory is refused: the database cannot move.
    let text = config(&dir.path().join("elsewhere"), &server.uri(), &s2, "");
    let err = reload_to(d, &path, &text, &mut hits, (1, 3)).await.unwrap();
    assert!(err.contains("state_dir"), "{err}");

    shutdown.cancel();
    tokio::time::timeout(guard, daemon)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!metrics.is_ready(), "not ready once stopped");
    // Every item was stored once, and each alert sent once in all.
    assert_eq!(store.mentions(&Default::default()).unwrap().len(), 4);
    assert_eq!(texts(&first).await.len() + texts(&second).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_delivery_survives_a_reload_and_goes_out_once() {
    let feed = Feed::default();
    feed.set(vec![item("e0", "Acme old", "acme")]);
    let server = feed.serve().await;
    let mut hits = feed.watch_requests();
    let later = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let s = secret_file(dir.path(), "s", &format!("{}/hook", later.uri()));
    let path = dir.path().join("earshot.toml");
    // The team's alerts wait in the outbox: the route is muted all the time.
    let muted = r#"
        [[time_interval]]
        name = "always"
    "#;
    let text = config(&state, &server.uri(), &s, muted).replace(
        "min_urgency = \"low\"",
        "min_urgency = \"low\"\n        mute_time_intervals = [\"always\"]",
    );
    std::fs::write(&path, &text).unwrap();
    let Daemon {
        metrics,
        store,
        shutdown,
        reload,
        task: daemon,
    } = start(&path);
    next(&mut hits, &mut 0).await;
    feed.push(item("e1", "Acme e1", "acme is down"));
    let pending = || {
        store
            .sink_stats()
            .unwrap()
            .iter()
            .map(|s| s.pending)
            .sum::<i64>()
    };
    until(&mut hits, "the held alert", || pending() > 0).await;
    // Reloaded with one more watch: the held alert is still queued, once.
    let more = text.replace(
        "[[sink]]",
        "[[watch]]\n        name = \"rival\"\n        query = \"rival\"\n        [[sink]]",
    );
    let d = (&reload, &*metrics);
    reload_to(d, &path, &more, &mut hits, (1, 0)).await;
    next(&mut hits, &mut 0).await;
    assert_eq!(pending(), 1);
    assert!(posts(&later).await.is_empty(), "still held");
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    assert_eq!(pending(), 1, "kept across the stop too");
}
