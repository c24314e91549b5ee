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
use earshot::runtime::Clock;
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
            allow_private_networks = true
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

/// Counts the messages a receiver accepted, by path, and keeps their bodies.
#[derive(Clone, Default)]
#[allow(clippy::type_complexity)]
struct Accepted(
    std::sync::Arc<
        std::sync::Mutex<Vec<(String, serde_json::Value, chrono::DateTime<chrono::Utc>)>>,
    >,
);

impl Accepted {
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn titles(&self, p: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _, _)| path == p)
            .map(|(_, b, _)| b["data"]["title"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// When the message titled `title` arrived.
    fn at(&self, title: &str) -> chrono::DateTime<chrono::Utc> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|(_, b, _)| b["data"]["title"] == title)
            .map(|(_, _, t)| *t)
            .unwrap()
    }
}

impl wiremock::Respond for Accepted {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let body = serde_json::from_slice(&req.body).unwrap_or_default();
        self.0
            .lock()
            .unwrap()
            .push((req.url.path().to_string(), body, Clock::System.now()));
        ResponseTemplate::new(200)
    }
}

/// Runs `earshot run` and reads its log until `done` says so (it sees each line), then stops
/// it: SIGKILL, or SIGTERM when `gently` (which lets deliveries in flight finish). Fails after
/// `limit`, counted as log lines arrive (a poll a second keeps them coming).
fn run_until(
    config: &str,
    gently: bool,
    limit: std::time::Duration,
    mut done: impl FnMut(&str) -> bool,
) {
    let mut child = earshot(config, "run").spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = std::time::Instant::now() + limit;
    let mut reached = false;
    for l in lines.by_ref().map_while(Result::ok) {
        if std::env::var_os("EARSHOT_CRASH_DEBUG").is_some() {
            eprintln!("{l}");
        }
        if done(&l) {
            reached = true;
            break;
        }
        if std::time::Instant::now() > deadline {
            break;
        }
    }
    if gently {
        let st = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    } else {
        child.kill().unwrap(); // SIGKILL
    }
    // Keep reading: a daemon stopping gently still logs, and must not find its stderr closed.
    for l in lines.map_while(Result::ok) {
        if std::env::var_os("EARSHOT_CRASH_DEBUG").is_some() {
            eprintln!("{l}");
        }
    }
    child.wait().unwrap();
    assert!(reached, "the daemon did not get there within {limit:?}");
}

/// A kill while a group is open, a mention is held by a muted route and an escalation timer
/// runs: after restarts, each alert arrives exactly once. Real time: the escalation needs a
/// minute (the least `escalate_after`), and the muted window ends on a minute boundary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_a_group_a_held_catch_up_and_an_escalation_pending() {
    use chrono::Timelike;
    let hook = MockServer::start().await;
    let accepted = Accepted::default();
    Mock::given(method("POST"))
        .respond_with(accepted.clone())
        .mount(&hook)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    let crit = (
        "s1",
        "status",
        "Acme Cloud total outage, every site is down",
    );
    let g1 = ("c1", "outage", "acme login is broken for me");
    let g2 = ("c2", "outage", "acme login broken here too");
    let b1 = ("b1", "beta-news", "beta build is slow today");
    std::fs::write(&feed, common::comments_feed(&[crit, g1, b1])).unwrap();
    let hook_url = common::secret_file(dir.path(), "hook", &format!("{}/hook", hook.uri()));
    let page_url = common::secret_file(dir.path(), "page", &format!("{}/page", hook.uri()));
    // Muted from this minute to the next boundary at least 15 s away.
    // The daemon under test runs on the system clock: its muted window is set from it.
    let now = Clock::System.now();
    let start = now.with_second(0).unwrap().with_nanosecond(0).unwrap();
    let end = start + chrono::Duration::minutes(if now.second() < 45 { 1 } else { 2 });
    let config = dir.path().join("earshot.toml");
    std::fs::write(
        &config,
        format!(
            r#"
            [daemon]
            allow_private_networks = true
            state_dir = "{state}"
            jitter = "1ms"
            per_host_rps = 100.0
            [scoring.extra_phrases]
            "total outage" = 100
            [[source]]
            id = "forum"
            kind = "feed"
            url = "{feed}"
            every = "1s"
            backfill = true
            [[watch]]
            name = "acme"
            query = "acme"
            [[watch]]
            name = "beta"
            query = "beta"
            [[sink]]
            id = "hook"
            kind = "webhook"
            url = {{ file = "{hook_url}" }}
            max_per_second = 1000
            [[sink]]
            id = "page"
            kind = "webhook"
            url = {{ file = "{page_url}" }}
            max_per_second = 1000
            [[time_interval]]
            name = "now"
            times = [{{ start = "{s}", end = "{e}" }}]
            [[route]]
            watch = "acme"
            min_urgency = "low"
            sinks = ["hook"]
            group_wait = "3s"
            escalate_to = "oncall"
            escalate_after = "1m"
            escalate_times = 1
            [[route]]
            watch = "beta"
            min_urgency = "low"
            sinks = ["hook"]
            mute_time_intervals = ["now"]
            [[route]]
            name = "oncall"
            sinks = ["page"]
            "#,
            state = dir.path().join("state").display(),
            feed = feed.display(),
            s = start.format("%H:%M"),
            e = end.format("%H:%M"),
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let limit = std::time::Duration::from_secs(150);
    let polled = |l: &str| l.contains("Polled");

    // Kill 1: the first poll is committed; everything is pending.
    let cfg = config.clone();
    tokio::task::spawn_blocking(move || run_until(&cfg, false, limit, polled))
        .await
        .unwrap();
    assert_eq!(accepted.len(), 0, "killed before anything was due");

    // Kill 2: a second reply joined the open group.
    std::fs::write(&feed, common::comments_feed(&[crit, g1, b1, g2])).unwrap();
    let cfg = config.clone();
    tokio::task::spawn_blocking(move || run_until(&cfg, false, limit, polled))
        .await
        .unwrap();

    // Kill 3: the group and the critical alert went out (the sink logs "Delivered" after
    // marking them sent); the held mention and the escalation are still pending.
    let cfg = config.clone();
    let mut delivered = 0;
    tokio::task::spawn_blocking(move || {
        run_until(&cfg, false, limit, |l| {
            delivered += usize::from(l.contains("Delivered"));
            delivered == 2
        })
    })
    .await
    .unwrap();
    let mut hooked = accepted.titles("/hook");
    hooked.sort();
    assert_eq!(
        hooked,
        ["2 mentions in one conversation: Re: outage", "Re: status"]
    );
    assert!(accepted.titles("/page").is_empty());

    // Then until the catch-up and the page are in; a clean stop.
    let cfg = config.clone();
    let seen = accepted.clone();
    tokio::task::spawn_blocking(move || run_until(&cfg, true, limit, |_| seen.len() >= 4))
        .await
        .unwrap();
    // A last pass finds nothing more to send.
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

    let mut hooked = accepted.titles("/hook");
    hooked.sort();
    assert_eq!(
        hooked,
        [
            "2 mentions in one conversation: Re: outage",
            "Re: beta-news",
            "Re: status"
        ],
        "{:#?}",
        accepted.0.lock().unwrap()
    );
    assert_eq!(accepted.titles("/page"), ["Unacknowledged: Re: status"]);
    assert_eq!(accepted.len(), 4);
    // The muted one waited for its window; the page for its minute.
    assert!(accepted.at("Re: beta-news") >= end, "sent while muted");
    assert!(accepted.at("Unacknowledged: Re: status") >= now + chrono::Duration::seconds(59));
}
