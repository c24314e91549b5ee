//! Crash test: the daemon (`earshot run`, and `earshot once` every other cycle) is killed with
//! SIGKILL at random moments (after a random number of its trace log lines) across 60
//! poll/deliver cycles while the feed grows. Afterwards every
//! matching item has been delivered, none twice except deliveries in flight at a kill, and no
//! non-matching item at all.
#![cfg(unix)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{Feed, item};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const CYCLES: usize = 60;

fn earshot(config: &str, command: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_earshot"));
    c.args(["--config", config, "--log-level", "trace", command])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_and_repeats_only_in_flight() {
    let feed = Feed::default();
    let server = feed.serve().await;
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let url_file = common::secret_file(dir.path(), "hook-url", &format!("{}/hook", hook.uri()));
    let config = dir.path().join("earshot.toml");
    std::fs::write(
        &config,
        format!(
            r#"
            [daemon]
            state_dir = "{}"
            jitter = "1ms"
            [[source]]
            id = "forum"
            kind = "feed"
            url = "{}/feed.xml"
            every = "1s"
            backfill = true
            [[watch]]
            name = "acme"
            query = "acme"
            [[sink]]
            id = "hook"
            kind = "webhook"
            url = {{ file = "{url_file}" }}
            max_per_second = 1000
            [[route]]
            sinks = ["hook"]
            min_urgency = "low"
            "#,
            dir.path().join("state").display(),
            server.uri()
        ),
    )
    .unwrap();
    let config = config.display().to_string();

    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut matching = Vec::new();
    let mut kills = 0;
    for cycle in 0..CYCLES {
        // Two new items per cycle, one matching.
        feed.push(item(
            &format!("m{cycle}"),
            &format!("Acme outage {cycle}"),
            "acme is down",
        ));
        feed.push(item(
            &format!("x{cycle}"),
            &format!("Weather {cycle}"),
            "sunny",
        ));
        matching.push(format!("m{cycle}"));
        // A cycle logs some 40 to 60 lines at trace level (connect, fetch, commit, send, ...).
        let kill_after = rng.usize(1..45);
        let cfg = config.clone();
        // `run` never ends by itself: it is always killed, at most a poll later.
        let command = if cycle % 2 == 0 { "run" } else { "once" };
        let killed = tokio::task::spawn_blocking(move || {
            let mut child = earshot(&cfg, command).spawn().unwrap();
            let stderr = child.stderr.take().unwrap();
            let mut lines = BufReader::new(stderr).lines();
            let mut n = 0;
            let mut killed = false;
            while let Some(Ok(l)) = lines.next() {
                if std::env::var_os("EARSHOT_CRASH_DEBUG").is_some() {
                    eprintln!("[{command} {n}/{kill_after}] {l}");
                }
                n += 1;
                if n == kill_after {
                    child.kill().unwrap(); // SIGKILL
                    killed = true;
                    break;
                }
            }
            child.wait().unwrap();
            killed
        })
        .await
        .unwrap();
        kills += usize::from(killed);
    }
    assert!(
        kills >= CYCLES / 3,
        "the test should kill often, killed {kills} times"
    );
    // Kills must land in the middle of the work, not only before it: alerts went out between
    // kills.
    let during = hook.received_requests().await.unwrap().len();
    assert!(
        during >= CYCLES / 4,
        "{during} deliveries happened during the killed cycles"
    );

    // Let the daemon finish without interruption until the outbox is empty.
    for _ in 0..5 {
        let cfg = config.clone();
        let status = tokio::task::spawn_blocking(move || {
            earshot(&cfg, "once")
                .stderr(Stdio::null())
                .status()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(status.success(), "{status:?}");
    }

    let mut per_item: HashMap<String, usize> = HashMap::new();
    let mut per_delivery: HashMap<String, usize> = HashMap::new();
    for r in hook.received_requests().await.unwrap() {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let title = body["data"]["title"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let id = r
            .headers
            .get("webhook-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        *per_item.entry(title).or_default() += 1;
        *per_delivery.entry(id).or_default() += 1;
    }
    for cycle in 0..CYCLES {
        let t = format!("Acme outage {cycle}");
        assert!(
            per_item.get(&t).copied().unwrap_or(0) >= 1,
            "{t} was never delivered"
        );
    }
    assert!(
        per_item.keys().all(|t| t.starts_with("Acme outage")),
        "non-matching item delivered: {per_item:?}"
    );
    let repeats: usize = per_delivery.values().map(|n| n - 1).sum();
    assert!(
        repeats <= kills,
        "{repeats} repeated deliveries but only {kills} kills"
    );
    assert_eq!(
        per_delivery.len(),
        CYCLES,
        "one webhook-id per matching item"
    );
    println!(
        "cycles {CYCLES}, kills {kills}, delivered while killing {during}, repeated deliveries {repeats}"
    );
}
