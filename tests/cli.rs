//! The command line, as a user runs it: check, score, once (and --dry-run), mentions, status,
//! test-sink, retry-dead, and a clean stop of `run` on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Output, Stdio};

use common::{Feed, item};
use earshot::runtime::Clock;

fn earshot(config: Option<&Path>, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_earshot"));
    if let Some(p) = config {
        c.arg("--config").arg(p);
    }
    c.args(args)
        .env_remove("EARSHOT_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

/// Starts `earshot run` and reads its log until a line containing `until`; returns the
/// process and the rest of its log.
fn start_daemon(cfg: &Path, until: &str) -> (Child, std::io::Lines<BufReader<ChildStderr>>) {
    let mut child = earshot(Some(cfg), &["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains(until) {
            break;
        }
    }
    (child, lines)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write_config(dir: &Path, feed_url: &str, extra: &str) -> std::path::PathBuf {
    let p = dir.join("earshot.toml");
    std::fs::write(
        &p,
        format!(
            r#"
            [daemon]
            allow_private_networks = true
            state_dir = "{}"
            jitter = "1ms"
            [[source]]
            id = "forum"
            kind = "feed"
            url = "{feed_url}"
            backfill = true
            [[watch]]
            name = "acme"
            query = "acme"
            [[sink]]
            id = "out"
            kind = "stdout"
            format = "json"
            [[route]]
            sinks = ["out"]
            min_urgency = "low"
            {extra}
            "#,
            dir.join("state").display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn check_accepts_a_good_config_and_lists_every_problem_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(dir.path(), "feed.xml", "");
    let o = earshot(Some(&good), &["check"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("configuration test is successful"));
    assert!(text(&o).contains("forum"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[source]]\nid = \"a\"\nkind = \"feed\"\n[[watch]]\nname = \"w\"\nquery = 'acme OR'\n[[route]]\nsinks = [\"nope\"]\n").unwrap();
    let o = earshot(Some(&bad), &["check"]).output().unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    for needle in [
        "3 problems",
        "source[0] (id \"a\").url",
        "watch[0] (name \"w\").query: column",
        "route[0].sinks: no sink has id \"nope\"",
        "configuration test failed",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in {t}");
    }

    // A missing secret fails the check, naming the variable.
    let secret = write_config(
        dir.path(),
        "feed.xml",
        "[[sink]]\nid = \"s\"\nkind = \"slack\"\nurl = { env = \"EARSHOT_TEST_UNSET_SLACK\" }",
    );
    let o = earshot(Some(&secret), &["check"])
        .env_remove("EARSHOT_TEST_UNSET_SLACK")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("EARSHOT_TEST_UNSET_SLACK"),
        "{}",
        text(&o)
    );

    let o = earshot(Some(&dir.path().join("missing.toml")), &["check"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("cannot read the config file"));
}

#[test]
fn score_works_without_a_config_and_with_one() {
    let mut child = earshot(None, &["score", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            "I love this product!\nMy account was hacked and I want a refund\n\nThe sky is blue.\n"
                .as_bytes(),
        )
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for key in [
        "compound", "pos", "neu", "neg", "urgency", "level", "reasons",
    ] {
        assert!(lines[0].get(key).is_some(), "missing {key}");
    }
    assert!(lines[0]["compound"].as_f64().unwrap() > 0.5);
    assert_eq!(lines[0]["level"], "low");
    assert!(lines[1]["urgency"].as_u64().unwrap() >= 50, "{}", lines[1]);
    assert!(
        lines[1]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "'hacked'")
    );
    assert_eq!(lines[2]["compound"].as_f64().unwrap(), 0.0);

    // With a config: its phrases are used.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "feed.xml",
        "[scoring]\nphrases = { \"sky\" = 90 }",
    );
    let mut child = earshot(Some(&cfg), &["score"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"The sky is blue.\nhacked\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<&str> = out.lines().collect();
    assert!(
        rows[0].contains("90") && rows[0].contains("critical") && rows[0].contains("'sky'"),
        "{out}"
    );
    assert!(
        rows[1].contains("low") && !rows[1].contains("'hacked'"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_dry_run_mentions_status_and_retry_dead() {
    let feed = Feed::default();
    feed.set(vec![
        item("1", "Acme is down", "acme outage again"),
        item("2", "Weather", "sunny"),
    ]);
    let server = feed.serve().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("{}/feed.xml", server.uri()), "");
    let run = |args: &'static [&'static str]| {
        let cfg = cfg.clone();
        async move {
            tokio::task::spawn_blocking(move || earshot(Some(&cfg), args).output().unwrap())
                .await
                .unwrap()
        }
    };

    // --dry-run prints what would be sent and writes nothing.
    let o = run(&["once", "--dry-run"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let t = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        t.contains("would send to out") && t.contains("Acme is down"),
        "{t}"
    );
    assert!(!t.contains("Weather"));
    let o = run(&["mentions", "--json"]).await;
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        0,
        "dry run stored something"
    );

    // A real run sends it once; a second run has nothing new.
    let o = run(&["once"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let sent: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let alert: serde_json::Value = serde_json::from_str(sent[0]).unwrap();
    assert_eq!(alert["title"], "Acme is down");
    let o = run(&["once"]).await;
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 0);

    let o = run(&[
        "mentions",
        "--json",
        "--since",
        "1h",
        "--min-urgency",
        "low",
    ])
    .await;
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["watches"][0], "acme");
    let o = run(&["mentions", "--sentiment", "positive"]).await;
    assert!(!String::from_utf8_lossy(&o.stdout).contains("Acme is down"));
    let o = run(&["mentions", "--min-urgency", "urgent"]).await;
    assert!(!o.status.success() && text(&o).contains("low, normal, high or critical"));

    let o = run(&["status"]).await;
    let t = text(&o);
    assert!(t.contains("· not running"), "{t}");
    let forum = t
        .lines()
        .find(|l| l.contains(" forum "))
        .unwrap_or_default();
    assert!(forum.contains("feed") && forum.contains(" ok "), "{t}");
    let out = t.lines().find(|l| l.contains(" out ")).unwrap_or_default();
    assert!(out.contains("stdout") && out.contains(" ok "), "{t}");
    // The recent deliveries of each sink, with what became of them.
    let recent = t.split("RECENT DELIVERIES").nth(1).unwrap_or_default();
    assert!(
        recent.contains("  out\n")
            && recent
                .lines()
                .any(|l| l.contains("#1") && l.contains(" sent ") && l.contains("Acme is down")),
        "{t}"
    );
    let o = run(&["status", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["running"], false);
    assert_eq!(v["sources"][0]["id"], "forum");
    assert_eq!(v["sources"][0]["state"], "ok");
    assert_eq!(v["sinks"][0]["sent"], 1);
    assert_eq!(v["recent_deliveries"]["out"][0]["status"], "sent");
    assert_eq!(v["recent_deliveries"]["out"][0]["title"], "Acme is down");

    let o = run(&["retry-dead"]).await;
    assert!(
        text(&o).contains("0 dead deliveries queued again"),
        "{}",
        text(&o)
    );
    let o = run(&["test-sink", "out"]).await;
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("earshot test alert"),
        "{}",
        text(&o)
    );
    let o = run(&["test-sink", "nope"]).await;
    assert!(!o.status.success() && text(&o).contains("no sink has id \"nope\""));
}

#[cfg(unix)]
#[test]
fn run_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(&feed, common::rss(&[item("1", "Acme", "acme")])).unwrap();
    let cfg = write_config(dir.path(), &feed.display().to_string(), "");
    // Wait (by events, not time) until the first poll is done, then ask it to stop.
    let (mut child, lines) = start_daemon(&cfg, "Polled");
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?} {rest:?}");
    assert!(rest.iter().any(|l| l.contains("Shutting down")), "{rest:?}");
}

#[test]
fn check_builds_sinks_and_sources_as_run_will() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "localhost:8080/feed.xml",
        "[[sink]]\nid = \"s\"\nkind = \"slack\"\nurl = \"not a url\"\n[[sink]]\nid = \"h\"\nkind = \"webhook\"\nurl = \"https://example.com/h\"\nsecret = \"whsec_%%%\"",
    );
    let o = earshot(Some(&cfg), &["check"]).output().unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("unsupported URL scheme `localhost`"), "{t}");
    let o = earshot(Some(&write_config(dir.path(), "feed.xml", "[[sink]]\nid = \"s\"\nkind = \"slack\"\nurl = \"not a url\"\n[[sink]]\nid = \"h\"\nkind = \"webhook\"\nurl = \"https://example.com/h\"\nsecret = \"whsec_%%%\"")), &["check"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("sink s:") && t.contains("sink h:") && t.contains("2 problems"),
        "{t}"
    );
}

#[test]
fn read_commands_never_create_or_change_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "feed.xml", "");
    for args in [&["status"][..], &["mentions"]] {
        let o = earshot(Some(&cfg), args).output().unwrap();
        assert!(!o.status.success());
        assert!(text(&o).contains("no database there yet"), "{}", text(&o));
    }
    std::fs::write(
        dir.path().join("feed.xml"),
        common::rss(&[item("1", "Acme", "acme")]),
    )
    .unwrap();
    let cfg = write_config(
        dir.path(),
        &dir.path().join("feed.xml").display().to_string(),
        "",
    );
    let o = earshot(Some(&cfg), &["once", "--dry-run"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !dir.path().join("state").exists(),
        "--dry-run created the state directory"
    );
}

#[test]
fn one_worker_per_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(&feed, common::rss(&[item("1", "Acme", "acme")])).unwrap();
    let cfg = write_config(dir.path(), &feed.display().to_string(), "");
    let (mut daemon, _lines) = start_daemon(&cfg, "earshot is running");
    let o = earshot(Some(&cfg), &["once"]).output().unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains(&format!("another earshot (pid {})", daemon.id())),
        "{}",
        text(&o)
    );
    // Reading beside the daemon is fine.
    let o = earshot(Some(&cfg), &["status"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    // The lock dies with its holder.
    let o = earshot(Some(&cfg), &["once"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn logs_are_text_json_or_journal_lines_without_a_second_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(&feed, common::rss(&[item("1", "Acme", "acme")])).unwrap();
    let cfg = write_config(dir.path(), &feed.display().to_string(), "");
    let polled = |args: &[&str], journal: bool| {
        let mut cmd = earshot(Some(&cfg), args);
        cmd.env_remove("JOURNAL_STREAM").env_remove("RUST_LOG");
        if journal {
            cmd.env("JOURNAL_STREAM", "8:12345");
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .find(|l| l.contains("Polled"))
            .unwrap_or_else(|| panic!("no Polled line in {}", text(&o)))
            .to_string()
    };
    let starts_with_time = |l: &str| {
        let first = l.split_whitespace().next().unwrap_or_default();
        chrono::DateTime::parse_from_rfc3339(first).is_ok()
    };
    // Outside systemd each line starts with its time; not to a terminal, no colour codes.
    let line = polled(&["once"], false);
    assert!(
        starts_with_time(&line) && !line.contains('\u{1b}'),
        "{line}"
    );
    // Under systemd the journal stamps each line: no second time, no colour codes.
    let line = polled(&["once"], true);
    assert!(
        !starts_with_time(&line) && !line.contains('\u{1b}'),
        "{line}"
    );
    assert!(line.trim_start().starts_with("INFO"), "{line}");
    // For collectors: one JSON object per line, with its own time, under systemd too.
    for journal in [false, true] {
        let line = polled(&["--log-format", "json", "once"], journal);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "INFO", "{line}");
        assert!(v["timestamp"].is_string(), "{line}");
        assert_eq!(v["fields"]["message"], "Polled", "{line}");
    }
}

/// A port nobody listens on now (bound, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[cfg(unix)]
#[test]
fn status_asks_the_running_daemon_how_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(&feed, common::rss(&[item("1", "Acme", "acme")])).unwrap();
    let listen = format!("[http]\nlisten = \"127.0.0.1:{}\"", free_port());
    let cfg = write_config(dir.path(), &feed.display().to_string(), &listen);
    let (mut daemon, mut lines) = start_daemon(&cfg, "earshot is running");
    let status = || {
        let o = earshot(Some(&cfg), &["status"]).output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
    };
    let t = status();
    let first = t.lines().next().unwrap_or_default();
    assert!(
        first.contains(&format!("· running (pid {})", daemon.id()))
            && first.contains("· ready")
            && first.contains("reloads: 0 ok, 0 refused"),
        "{t}"
    );
    // A broken config is refused on reload; status says so and why.
    std::fs::write(&cfg, "[daemon\n").unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    for line in lines.by_ref() {
        if line.unwrap().contains("Config reload refused") {
            break;
        }
    }
    // status reads the config too: give it back, as an operator would after the mistake.
    let cfg_again = write_config(dir.path(), &feed.display().to_string(), &listen);
    assert_eq!(cfg_again, cfg);
    let t = status();
    assert!(
        t.contains("reloads: 0 ok, 1 refused")
            && t.contains("was refused, the config before it runs"),
        "{t}"
    );
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let t = status();
    assert!(
        t.lines()
            .next()
            .unwrap_or_default()
            .contains("· not running"),
        "{t}"
    );
}

#[test]
fn score_survives_invalid_utf8() {
    let mut child = earshot(None, &["score", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"great \xff\xfe product\nterrible\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2);
}

#[test]
fn check_reads_source_credentials_and_names_the_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[[source]]\nid = \"yt\"\nkind = \"youtube\"\nquery = \"acme\"\napi_key = { env = \"EARSHOT_TEST_SURELY_UNSET_YT_KEY\" }";
    let cfg = write_config(dir.path(), "feed.xml", extra);
    let o = earshot(Some(&cfg), &["check"]).output().unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("source \"yt\": api_key: environment variable EARSHOT_TEST_SURELY_UNSET_YT_KEY"),
        "{t}"
    );
    let o = earshot(Some(&cfg), &["check"])
        .env("EARSHOT_TEST_SURELY_UNSET_YT_KEY", "AIza-canary-value")
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("youtube") && t.contains("every 15m"), "{t}");
    assert!(!t.contains("AIza-canary-value"), "{t}");
}

#[test]
fn status_shows_a_degraded_source_and_its_reason() {
    use earshot::store::{PollCommit, Store};
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "feed.xml",
        "[[source]]\nid = \"rd\"\nkind = \"reddit\"\nsubreddits = [\"acme\"]",
    );
    let store = Store::open(&dir.path().join("state").join("earshot.db")).unwrap();
    let notice = earshot_connectors::Notice {
        degraded: true,
        message: "no Reddit credentials: reading .rss listings".into(),
    };
    store
        .commit_poll(&PollCommit {
            source_id: "rd",
            source_kind: "reddit",
            // `earshot status`, a process of its own, reads the system clock.
            now: Clock::System.now().timestamp(),
            state: &Default::default(),
            seen_ids: vec![],
            mentions: vec![],
            next_poll_at: Clock::System.now().timestamp() + 600,
            notice: Some(&notice),
        })
        .unwrap();
    drop(store);
    let o = earshot(Some(&cfg), &["status"]).output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let line = t.lines().find(|l| l.contains(" rd ")).unwrap_or_default();
    assert!(
        line.contains("reddit")
            && line.contains("degraded")
            && line.contains("no Reddit credentials: reading .rss listings"),
        "{t}"
    );
    let o = earshot(Some(&cfg), &["status", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rd = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "rd")
        .unwrap();
    assert_eq!(rd["state"], "degraded");
    assert_eq!(rd["notice"], "no Reddit credentials: reading .rss listings");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_holds_alerts_back_is_announced_and_ends() {
    let feed = Feed::default();
    feed.set(vec![
        item("1", "Acme is down", "acme outage again"),
        item("2", "Acme still down", "acme is broken"),
    ]);
    let server = feed.serve().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("{}/feed.xml", server.uri()), "");
    let run = |args: Vec<&'static str>| {
        let cfg = cfg.clone();
        async move {
            tokio::task::spawn_blocking(move || earshot(Some(&cfg), &args).output().unwrap())
                .await
                .unwrap()
        }
    };
    let lines = |o: &Output| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };

    // Bad requests say what to do.
    let o = run(vec!["silence", "add", "--for", "2h", "--comment", "x"]).await;
    assert!(
        !o.status.success() && text(&o).contains("say what to silence"),
        "{}",
        text(&o)
    );
    let o = run(vec![
        "silence",
        "add",
        "--watch",
        "acm",
        "--for",
        "2h",
        "--comment",
        "x",
    ])
    .await;
    assert!(!o.status.success() && text(&o).contains("no watch is named \"acm\""));
    let o = run(vec![
        "silence",
        "add",
        "--query",
        "acme OR",
        "--for",
        "2h",
        "--comment",
        "x",
    ])
    .await;
    assert!(
        !o.status.success() && text(&o).contains("--query"),
        "{}",
        text(&o)
    );

    let o = run(vec![
        "silence",
        "add",
        "--watch",
        "acme",
        "--for",
        "2h",
        "--comment",
        "known outage",
        "--by",
        "ops",
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("silence 1 added: watch acme"),
        "{}",
        text(&o)
    );

    // The poll stores both mentions, sends neither, and delivers the announcement.
    let o = run(vec!["once"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let sent = lines(&o);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["title"], "Silence 1 added: watch acme");
    assert!(
        sent[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("known outage.")
    );
    let o = run(vec!["mentions"]).await;
    let t = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(t.matches("[silenced by 1]").count(), 2, "{t}");
    let o = run(vec!["silence", "list"]).await;
    let t = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        t.contains("active") && t.contains("held 2") && t.contains("known outage"),
        "{t}"
    );

    // Expired: announced, and the next new mention is sent again.
    let o = run(vec!["silence", "expire", "1"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let o = run(vec!["silence", "expire", "1"]).await;
    assert!(!o.status.success() && text(&o).contains("no active silence has id 1"));
    feed.push(item("3", "Acme back?", "is acme back up"));
    let o = run(vec!["once"]).await;
    let mut titles: Vec<String> = lines(&o)
        .iter()
        .map(|v| v["title"].as_str().unwrap().to_string())
        .collect();
    titles.sort();
    assert_eq!(titles, ["Acme back?", "Silence 1 expired: watch acme"]);
    let o = run(vec!["silence", "list"]).await;
    assert!(String::from_utf8_lossy(&o.stdout).contains("no active silences"));
    let o = run(vec!["silence", "list", "--all", "--json"]).await;
    let all = lines(&o);
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0]["active"].clone(), all[0]["held"].clone()),
        (false.into(), 2.into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_acknowledges_once_and_names_unknown_ids() {
    let feed = Feed::default();
    feed.set(vec![item("1", "Acme is down", "acme outage again")]);
    let server = feed.serve().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("{}/feed.xml", server.uri()), "");
    let run = |args: Vec<&'static str>| {
        let cfg = cfg.clone();
        async move {
            tokio::task::spawn_blocking(move || earshot(Some(&cfg), &args).output().unwrap())
                .await
                .unwrap()
        }
    };
    let o = run(vec!["once"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let o = run(vec!["ack", "--by", "dana", "1"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).trim(), "mention 1 acknowledged by dana");
    let o = run(vec!["ack", "--by", "sam", "1", "99"]).await;
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("mention 1 was already acknowledged by dana at"),
        "{t}"
    );
    assert!(
        t.contains("no mention has id 99: see `earshot mentions`"),
        "{t}"
    );
    let o = run(vec!["ack", "x"]).await;
    assert!(
        !o.status.success() && text(&o).contains("invalid value 'x'"),
        "{}",
        text(&o)
    );
    // The signing key was made beside the database, readable by earshot's user only.
    let key = dir.path().join("state").join("ack.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "{mode:o}");
}

/// An RSS feed whose items carry an author: (guid, title, author, text).
fn authored_rss(items: &[(&str, &str, &str, &str)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>F</title><link>https://forum.example.com/</link><description>d</description>",
    );
    for (guid, title, author, text) in items {
        out.push_str(&format!(
            "<item><title>{title}</title><link>https://forum.example.com/{guid}</link><guid>{guid}</guid>\
             <author>{author}</author><description>{text}</description></item>"
        ));
    }
    out.push_str("</channel></rss>");
    out
}

#[test]
fn silences_by_source_author_and_query_hold_back_only_what_they_match() {
    let dir = tempfile::tempdir().unwrap();
    let forum = dir.path().join("forum.xml");
    let blog = dir.path().join("blog.xml");
    std::fs::write(
        &forum,
        authored_rss(&[
            (
                "f1",
                "Acme login broken",
                "dana@example.com (Dana)",
                "acme login fails",
            ),
            (
                "f2",
                "Acme billing",
                "kim@example.com (Kim)",
                "acme sent a wrong invoice",
            ),
            (
                "f3",
                "Acme slow",
                "lee@example.com (Lee)",
                "acme is slow today",
            ),
        ]),
    )
    .unwrap();
    std::fs::write(
        &blog,
        authored_rss(&[(
            "b1",
            "Acme review",
            "lee@example.com (Lee)",
            "we tried acme",
        )]),
    )
    .unwrap();
    let cfg = write_config(
        dir.path(),
        &forum.display().to_string(),
        &format!(
            "[[source]]\nid = \"blog\"\nkind = \"feed\"\nurl = \"{}\"\nbackfill = true",
            blog.display()
        ),
    );
    let run = |args: &[&str]| {
        let o = earshot(Some(&cfg), args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        o
    };
    for (matcher, value, said) in [
        ("--source", "blog", "silence 1 added: source blog"),
        ("--author", "dana", "silence 2 added: author dana"),
        ("--query", "invoice", "silence 3 added: query invoice"),
    ] {
        let o = run(&[
            "silence",
            "add",
            matcher,
            value,
            "--for",
            "2h",
            "--comment",
            "noise",
        ]);
        assert!(text(&o).contains(said), "{}", text(&o));
    }

    // Only the mention no silence matches goes out, beside the three announcements.
    let o = run(&["once"]);
    let sent: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut titles: Vec<&str> = sent.iter().filter_map(|v| v["title"].as_str()).collect();
    titles.sort_unstable();
    assert_eq!(
        titles,
        [
            "Acme slow",
            "Silence 1 added: source blog",
            "Silence 2 added: author dana",
            "Silence 3 added: query invoice",
        ],
        "{sent:#?}"
    );

    // Every mention is stored; each held one names the silence that held it.
    let o = run(&["mentions"]);
    let t = String::from_utf8_lossy(&o.stdout).to_string();
    for (title, by) in [
        ("Acme review", Some(1)),
        ("Acme login broken", Some(2)),
        ("Acme billing", Some(3)),
        ("Acme slow", None),
    ] {
        let line = t
            .lines()
            .find(|l| l.contains(title))
            .unwrap_or_else(|| panic!("{title} not stored: {t}"));
        match by {
            Some(id) => assert!(
                line.contains(&format!("[silenced by {id}] {title}")),
                "{line}"
            ),
            None => assert!(!line.contains("silenced"), "{line}"),
        }
    }
    let held = || {
        let o = run(&["silence", "list", "--json"]);
        let mut held: Vec<(i64, i64)> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| (v["id"].as_i64().unwrap(), v["held"].as_i64().unwrap()))
            .collect();
        held.sort_unstable();
        held
    };
    assert_eq!(held(), [(1, 1), (2, 1), (3, 1)]);
    let o = run(&["silence", "list"]);
    let t = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(t.matches("held 1 ").count(), 3, "{t}");

    // A new mention of the unsilenced author on the forum goes out; one by Dana does not.
    std::fs::write(
        &forum,
        authored_rss(&[
            (
                "f4",
                "Acme again",
                "lee@example.com (Lee)",
                "acme is down again",
            ),
            (
                "f5",
                "Acme dana",
                "dana@example.com (DANA)",
                "acme still fails",
            ),
        ]),
    )
    .unwrap();
    let o = run(&["once"]);
    let sent: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["title"], "Acme again");
    assert_eq!(held(), [(1, 1), (2, 2), (3, 1)]);
}

/// A Discord webhook that answers each message with a new id ("5001", "5002", ...).
struct DiscordIds(std::sync::atomic::AtomicUsize);

impl wiremock::Respond for DiscordIds {
    fn respond(&self, _: &wiremock::Request) -> wiremock::ResponseTemplate {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 5001;
        wiremock::ResponseTemplate::new(200).set_body_string(format!(r#"{{"id":"{n}"}}"#))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_stops_the_escalation_and_edits_the_discord_message() {
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let discord = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/webhooks/9/tok"))
        .respond_with(DiscordIds(0.into()))
        .mount(&discord)
        .await;
    Mock::given(method("PATCH"))
        .and(path_regex(r"^/api/webhooks/9/tok/messages/\d+$"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"id":"0"}"#))
        .mount(&discord)
        .await;
    let oncall = common::receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(
        &feed,
        common::rss(&[
            item(
                "p1",
                "Acme outage one",
                "Acme Cloud total outage, all our sites are down",
            ),
            item(
                "p2",
                "Acme outage two",
                "Acme Cloud total outage in Frankfurt too",
            ),
        ]),
    )
    .unwrap();
    let d = common::secret_file(
        dir.path(),
        "discord",
        &format!("{}/api/webhooks/9/tok", discord.uri()),
    );
    let s = common::secret_file(dir.path(), "slack", &format!("{}/hook", oncall.uri()));
    let config = dir.path().join("earshot.toml");
    let text_cfg = format!(
        r#"
        [daemon]
        allow_private_networks = true
        state_dir = "{state}"
        [scoring.extra_phrases]
        "total outage" = 100
        [[source]]
        id = "forum"
        kind = "feed"
        url = "{feed}"
        backfill = true
        [[watch]]
        name = "acme"
        query = "acme"
        [[sink]]
        id = "support"
        kind = "discord"
        url = {{ file = "{d}" }}
        max_per_second = 100.0
        [[sink]]
        id = "oncall"
        kind = "slack"
        url = {{ file = "{s}" }}
        max_per_second = 100.0
        [[route]]
        watch = "acme"
        sinks = ["support"]
        escalate_to = "night"
        escalate_after = "30m"
        escalate_times = 1
        [[route]]
        name = "night"
        sinks = ["oncall"]
        "#,
        state = dir.path().join("state").display(),
        feed = feed.display(),
    );
    std::fs::write(&config, &text_cfg).unwrap();
    let run = |args: Vec<&'static str>| {
        let cfg = config.clone();
        async move {
            tokio::task::spawn_blocking(move || earshot(Some(&cfg), &args).output().unwrap())
                .await
                .unwrap()
        }
    };

    // `earshot once` runs on the system clock; the runtime below continues from it.
    let started = Clock::System.now();
    let o = run(vec!["once"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let first: Vec<_> = discord.received_requests().await.unwrap();
    assert_eq!(first.len(), 2, "{}", text(&o));
    // Which Discord message carries which mention, and the mentions' ids.
    let message_of = |title: &str| -> String {
        let i = first
            .iter()
            .position(|r| String::from_utf8_lossy(&r.body).contains(title))
            .unwrap();
        (5001 + i).to_string()
    };
    let o = run(vec!["mentions", "--json"]).await;
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let id_of = |title: &str| -> i64 {
        rows.iter().find(|r| r["title"] == title).unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (one, two) = (id_of("Acme outage one"), id_of("Acme outage two"));
    assert!(rows.iter().all(|r| r["level"] == "critical"), "{rows:#?}");

    let id = one.to_string();
    let o = tokio::task::spawn_blocking({
        let cfg = config.clone();
        move || {
            earshot(Some(&cfg), &["ack", "--by", "dana", &id])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        text(&o).trim(),
        format!("mention {one} acknowledged by dana")
    );

    // The next run edits the first message, and only it.
    let o = run(vec!["once"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let edits: Vec<_> = discord
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .collect();
    assert_eq!(edits.len(), 1);
    assert_eq!(
        edits[0].url.path(),
        format!(
            "/api/webhooks/9/tok/messages/{}",
            message_of("Acme outage one")
        )
    );
    let edit = String::from_utf8_lossy(&edits[0].body).to_string();
    assert!(
        edit.contains("Acknowledged") && edit.contains("acknowledged by dana"),
        "{edit}"
    );
    assert!(
        edit.contains("Acme outage one") && !edit.contains("Acme outage two"),
        "{edit}"
    );

    // Half an hour later (the clock moved by hand, on the same database): only the mention
    // nobody acknowledged is escalated, once.
    let cfg = earshot::config::Config::parse(&text_cfg).unwrap().config;
    let store = earshot::store::Store::open(&cfg.db_path()).unwrap();
    let later = started + chrono::Duration::minutes(31);
    let rt = earshot::runtime::Runtime::with_store(
        cfg,
        std::sync::Arc::new(store),
        Clock::tokio_from(later),
    )
    .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    assert_eq!(rt.escalate_due(later).unwrap(), 1);
    assert_eq!(rt.deliver_all_due(later, &stop).await.unwrap().sent, 1);
    let far = started + chrono::Duration::hours(5);
    assert_eq!(rt.escalate_due(far).unwrap(), 0);
    assert_eq!(rt.deliver_all_due(far, &stop).await.unwrap().sent, 0);
    let paged = common::posts(&oncall).await;
    assert_eq!(paged.len(), 1, "{paged:#?}");
    let page = paged[0].to_string();
    assert!(page.contains("Unacknowledged: Acme outage two"), "{page}");
    assert!(!page.contains("Acme outage one"), "{page}");
    assert_eq!(rt.store.acks(&[one, two]).unwrap()[1], (two, None));
    // Discord: two alerts and one edit, nothing else.
    assert_eq!(discord.received_requests().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_prints_markdown_json_and_csv_and_names_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "feed.xml", "");
    let run = |args: Vec<&'static str>| {
        let cfg = cfg.clone();
        async move {
            tokio::task::spawn_blocking(move || earshot(Some(&cfg), &args).output().unwrap())
                .await
                .unwrap()
        }
    };
    // Before the daemon ever ran: say what to do.
    let o = run(vec!["digest"]).await;
    assert!(!o.status.success());
    assert!(text(&o).contains("no database there yet"), "{}", text(&o));

    let feed = Feed::default();
    feed.set(vec![
        item("1", "Acme is down", "acme outage, everything is broken"),
        item("2", "Acme is lovely", "I love acme, wonderful"),
    ]);
    let server = feed.serve().await;
    let cfg2 = write_config(dir.path(), &format!("{}/feed.xml", server.uri()), "");
    assert_eq!(cfg2, cfg);
    assert!(run(vec!["once"]).await.status.success());

    let o = run(vec!["digest", "--format", "json"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["current"]["mentions"], 2);
    assert_eq!(v["current"]["positive"], 1);
    assert_eq!(v["current"]["negative"], 1);
    assert_eq!(
        v["hourly"].as_array().unwrap().len(),
        25,
        "24h from a time within an hour"
    );
    assert_eq!(v["watches"], serde_json::json!([]));

    let o = run(vec!["digest", "--since", "7d", "--watch", "acme"]).await;
    let md = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(md.starts_with("# earshot digest: acme · "), "{md}");
    assert!(
        md.contains("**2 mentions** (+2 (new) against the period before)"),
        "{md}"
    );
    assert!(md.contains("## Most negative\n\n1. "), "{md}");
    // A week is drawn by day: 7 or 8 days (the period starts and ends mid-day).
    let spark = md
        .split("Volume by day: `")
        .nth(1)
        .unwrap()
        .split('`')
        .next()
        .unwrap();
    assert!((7..=8).contains(&spark.chars().count()), "{md}");

    let o = run(vec![
        "digest",
        "--from",
        "2026-01-01T00:00:00Z",
        "--to",
        "2026-01-01T03:00:00Z",
        "--format",
        "csv",
    ])
    .await;
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "hour,mentions,positive,neutral,negative\n\
         2026-01-01T00:00:00Z,0,0,0,0\n\
         2026-01-01T01:00:00Z,0,0,0,0\n\
         2026-01-01T02:00:00Z,0,0,0,0\n"
    );

    // The web page as a file: charts included, no script.
    let o = run(vec!["digest", "--format", "html", "--watch", "acme"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let html = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains("<h1>earshot digest: acme</h1>"), "{html}");
    assert_eq!(html.matches("<svg").count(), 3, "three charts");
    assert!(!html.contains("<script"));

    for (args, want) in [
        (
            vec!["digest", "--watch", "acmee"],
            "--watch \"acmee\": no such watch (configured: acme)",
        ),
        (vec!["digest", "--since", "soon"], "--since"),
        (
            vec![
                "digest",
                "--from",
                "2026-01-02T00:00:00Z",
                "--to",
                "2026-01-01T00:00:00Z",
            ],
            "--to must be after --from",
        ),
        (
            vec![
                "digest",
                "--from",
                "yesterday",
                "--to",
                "2026-01-01T00:00:00Z",
            ],
            "RFC 3339",
        ),
        (vec!["digest", "--from", "2026-01-01T00:00:00Z"], "--to"),
        (
            vec!["digest", "--format", "pdf"],
            "markdown, json, csv, html",
        ),
    ] {
        let o = run(args.clone()).await;
        assert!(!o.status.success(), "{args:?}");
        assert!(text(&o).contains(want), "{args:?}: {}", text(&o));
    }
}

/// `earshot eval` measures the scoring on a labelled set: the table, the confusion of levels,
/// each miss with its reasons; a bad line is named.
#[test]
fn eval_measures_a_labelled_set() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set.jsonl");
    let line = |id: &str, text: &str, needs: &str, polarity: &str| {
        serde_json::json!({"id": id, "text": text, "lang": "en", "needs": needs, "polarity": polarity})
            .to_string()
    };
    std::fs::write(
        &set,
        [
            line(
                "t1",
                "Acme is down, total outage, nothing loads",
                "urgent",
                "negative",
            ),
            line(
                "t2",
                "I love the new Acme dashboard, great work",
                "none",
                "positive",
            ),
            line("t3", "what a lovely sunny day", "urgent", "negative"),
        ]
        .join("\n"),
    )
    .unwrap();
    let o = earshot(None, &["eval", set.to_str().unwrap()])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("urgent recall"), "{t}");
    assert!(t.contains("levels by needs"), "{t}");
    assert!(
        t.contains("t3 urgent missed: needs Urgent, scored low"),
        "{t}"
    );
    assert!(t.contains("t3 polarity"), "{t}");
    assert!(!t.contains("t2 false alarm"), "{t}");

    let o = earshot(None, &["eval", set.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["overall"]["urgent_recall"]["of"], 2);
    assert_eq!(v["overall"]["false_alarms"]["of"], 1);

    std::fs::write(&set, "{\"id\": \"x\"}\n").unwrap();
    let o = earshot(None, &["eval", set.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("line 1:"), "{}", text(&o));
}
