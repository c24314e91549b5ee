//! The guard against private networks: by default earshot reaches public addresses only.
//! A feed, a `base_url` or a sink on loopback, a private range or the metadata service is
//! refused, whether the address is written in the URL (in any of its spellings) or a name
//! resolves to it, and nothing is sent there; `allow_private = true` on the source or sink (or
//! `daemon.allow_private_networks`) lets a deliberate local target through; `earshot check`
//! names a literal private address. Every local server here is on loopback, which is what the
//! guard refuses.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;

use chrono::DateTime;
use common::{Feed, item, secret_file};
use earshot::config::Config;
use earshot::runtime::{Clock, DrainReport, Runtime};
use earshot::store::Store;
use tokio_util::sync::CancellationToken;
use wiremock::MockServer;

/// One feed source at `feed_url` and one Slack sink at `hook_url`; `source_extra` and
/// `sink_extra` are more keys of each, `daemon_extra` of `[daemon]`.
fn config(
    dir: &std::path::Path,
    feed_url: &str,
    hook_url: &str,
    source_extra: &str,
    sink_extra: &str,
    daemon_extra: &str,
) -> String {
    let url = secret_file(dir, "slack", hook_url);
    format!(
        r#"
        [daemon]
        state_dir = "{state}"
        {daemon_extra}
        [[source]]
        id = "forum"
        kind = "feed"
        url = "{feed_url}"
        backfill = true
        {source_extra}
        [[watch]]
        name = "acme"
        query = "acme"
        [[sink]]
        id = "support"
        kind = "slack"
        url = {{ file = "{url}" }}
        max_per_second = 100.0
        {sink_extra}
        [[route]]
        watch = "acme"
        min_urgency = "low"
        sinks = ["support"]
        "#,
        state = dir.display().to_string().replace('\\', "/"),
    )
}

fn runtime(dir: &std::path::Path, text: &str) -> (Runtime, Config) {
    let cfg = Config::parse(text)
        .unwrap_or_else(|p| panic!("{p:?}"))
        .config;
    let store = Arc::new(Store::open(&dir.join("earshot.db")).unwrap());
    let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    (
        Runtime::with_store(cfg.clone(), store, Clock::tokio_from(t)).unwrap(),
        cfg,
    )
}

/// A feed with one complaint and a chat receiver, both on loopback, and a state directory.
struct Local {
    _feed: Feed,
    server: MockServer,
    hook: MockServer,
    dir: tempfile::TempDir,
}

async fn local() -> Local {
    let feed = Feed::default();
    feed.set(vec![item("1", "Acme", "acme login broken")]);
    Local {
        server: feed.serve().await,
        _feed: feed,
        hook: common::receiver(200).await,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Local {
    fn feed_url(&self) -> String {
        format!("{}/feed.xml", self.server.uri())
    }

    fn hook_url(&self) -> String {
        format!("{}/hook", self.hook.uri())
    }
}

/// Polls the source, then drains the outbox, at the runtime's time.
async fn poll_and_deliver(rt: &Runtime, cfg: &Config) -> DrainReport {
    rt.poll(cfg.source("forum").unwrap(), rt.now())
        .await
        .unwrap();
    rt.deliver_all_due(rt.now(), &CancellationToken::new())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_on_loopback_is_refused_by_name_and_allowed_on_purpose() {
    let l = local().await;
    let (server, dir) = (&l.server, l.dir.path());
    let port = server.address().port();
    // A name that resolves to loopback: refused once resolved, before any request.
    let by_name = format!("http://localhost:{port}/feed.xml");
    let text = config(dir, &by_name, &l.hook_url(), "", "allow_private = true", "");
    let (rt, cfg) = runtime(dir, &text);
    let r = rt
        .poll(cfg.source("forum").unwrap(), rt.now())
        .await
        .unwrap();
    let e = r.error.expect("refused");
    assert!(
        e.contains("localhost resolves to") && e.contains("not a public address"),
        "{e}"
    );
    assert!(
        e.contains("allow_private = true"),
        "says how to allow it: {e}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 0);
    drop(rt);

    // The same source, allowed: read.
    let text = config(
        dir,
        &by_name,
        &l.hook_url(),
        "allow_private = true",
        "allow_private = true",
        "",
    );
    let (rt, cfg) = runtime(dir, &text);
    let r = rt
        .poll(cfg.source("forum").unwrap(), rt.now())
        .await
        .unwrap();
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(r.commit.new_mentions, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_written_in_a_url_are_refused_in_every_spelling() {
    let l = local().await;
    let (server, dir) = (&l.server, l.dir.path());
    // The daemon-wide switch lets the config through; a source-level `false` cannot undo it,
    // so build the fetcher's refusal through the fetcher itself.
    let text = config(
        dir,
        &l.feed_url(),
        &l.hook_url(),
        "",
        "",
        "allow_private_networks = true",
    );
    let (rt, cfg) = runtime(dir, &text);
    let guarded = rt
        .fetcher_for(cfg.source("forum").unwrap())
        .allowing_private(false);
    for url in [
        format!("{}/feed.xml", server.uri()),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://2852039166/latest/meta-data/".to_string(),
        "http://[::1]:9/".to_string(),
        "http://10.0.0.5/feed".to_string(),
    ] {
        let e = guarded
            .get(&url, &Default::default())
            .await
            .expect_err(&url)
            .to_string();
        assert!(e.contains("is not a public address"), "{url}: {e}");
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_on_loopback_gets_nothing_unless_allowed() {
    let l = local().await;
    let (hook, dir) = (&l.hook, l.dir.path());
    let text = config(
        dir,
        &l.feed_url(),
        &l.hook_url(),
        "allow_private = true",
        "",
        "",
    );
    let (rt, cfg) = runtime(dir, &text);
    let d = poll_and_deliver(&rt, &cfg).await;
    assert_eq!((d.sent, d.dead), (0, 1), "{d:?}");
    assert!(hook.received_requests().await.unwrap().is_empty());
    let dead = rt.store.dead_letters(5).unwrap();
    let e = dead[0].last_error.clone().unwrap_or_default();
    assert!(e.contains("127.0.0.1 is not a public address"), "{e}");
    assert!(!e.contains("/hook"), "the URL is not shown: {e}");
    drop(rt);

    let text = config(
        dir,
        &l.feed_url(),
        &l.hook_url(),
        "allow_private = true",
        "allow_private = true",
        "",
    );
    let (rt, _) = runtime(dir, &text);
    assert_eq!(
        rt.store
            .retry_dead(Some("support"), rt.now().timestamp())
            .unwrap(),
        1
    );
    let d = rt
        .deliver_all_due(rt.now(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(d.sent, 1, "{d:?}");
    assert_eq!(hook.received_requests().await.unwrap().len(), 1);
}

/// `earshot check` on `path`: whether it passed, and what it printed.
fn check(path: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_earshot"))
        .arg("--config")
        .arg(path)
        .arg("check")
        .env_remove("EARSHOT_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn check_names_a_literal_private_address() {
    let dir = tempfile::tempdir().unwrap();
    let text = config(
        dir.path(),
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hooks/T000/CANARY",
        "",
        "",
        "",
    );
    let path = dir.path().join("earshot.toml");
    std::fs::write(&path, &text).unwrap();
    let (ok, said) = check(&path);
    assert!(!ok, "{said}");
    assert!(
        said.contains("url: 169.254.169.254 is not a public address"),
        "{said}"
    );
    // Allowed on purpose, the source passes, and the sink's address is named (never its path).
    let allowed = text.replace("backfill = true", "backfill = true\nallow_private = true");
    std::fs::write(&path, &allowed).unwrap();
    let (ok, said) = check(&path);
    assert!(!ok, "{said}");
    assert!(
        said.contains("sink support: url: 10.1.2.3 is not a public address"),
        "{said}"
    );
    assert!(
        !said.contains("CANARY") && !said.contains("169.254"),
        "{said}"
    );
}

/// A sink whose name resolves to loopback is refused for good at once (parked, not retried for
/// days): waiting does not make an address public.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_name_that_resolves_to_loopback_is_parked_at_once() {
    let l = local().await;
    let (hook, dir) = (&l.hook, l.dir.path());
    let by_name = format!("http://localhost:{}/hook", hook.address().port());
    let text = config(dir, &l.feed_url(), &by_name, "allow_private = true", "", "");
    let (rt, cfg) = runtime(dir, &text);
    let d = poll_and_deliver(&rt, &cfg).await;
    assert_eq!((d.sent, d.retrying, d.dead), (0, 0, 1), "{d:?}");
    assert!(hook.received_requests().await.unwrap().is_empty());
    let e = rt.store.dead_letters(5).unwrap()[0]
        .last_error
        .clone()
        .unwrap_or_default();
    assert!(e.contains("localhost resolves to"), "{e}");
    assert!(!e.contains("/hook"), "{e}");
}
