//! A canary webhook URL and token never appear in logs (at trace level), errors, `status`,
//! `check`, or the database, even when a target fails and echoes the URL back.

mod common;

use std::process::{Command, Stdio};

use common::{Feed, item};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CANARY: &str = "CANARY7c1d9e";

/// Answers 500 (retry later) and echoes the request path into the body, as some targets do.
struct Echo500;
impl wiremock::Respond for Echo500 {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        ResponseTemplate::new(500).set_body_string(format!("internal_error for {}", req.url))
    }
}

fn run(config: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_earshot"))
        .args(["--config", config, "--log-level", "trace"])
        .args(args)
        .stdin(Stdio::null())
        .env("EARSHOT_TEST_TOKEN", format!("tok-{CANARY}"))
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_secrets_never_leak() {
    let feed = Feed::default();
    feed.set(vec![
        item("1", "Acme outage", "acme is down"),
        item("2", "Acme refund", "acme refund"),
    ]);
    let server = feed.serve().await;
    let failing = MockServer::start().await;
    Mock::given(wiremock::matchers::path_regex(".*CANARY.*"))
        .respond_with(Echo500)
        .mount(&failing)
        .await;
    let gone = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(404).set_body_string(format!("no_service {CANARY}")))
        .mount(&gone)
        .await;
    // A private feed whose URL carries a token, with relative links and no guids.
    Mock::given(wiremock::matchers::path("/private.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "<rss version=\"2.0\"><channel><title>p</title><item><title>Acme private</title><link>#c1</link>\
             <description>acme is down</description></item></channel></rss>",
        ))
        .mount(&server)
        .await;
    // A closed port: connection refused, an error path of its own.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let slack = common::secret_file(
        d,
        "slack",
        &format!("{}/services/T0/B0/{CANARY}", failing.uri()),
    );
    let discord = common::secret_file(
        d,
        "discord",
        &format!("http://{closed}/api/webhooks/1/{CANARY}"),
    );
    let config = d.join("earshot.toml");
    std::fs::write(
        &config,
        format!(
            r#"
            [daemon]
            state_dir = "{state}"
            [[source]]
            id = "forum"
            kind = "feed"
            url = "{feed}/feed.xml"
            backfill = true
            [[source]]
            id = "private"
            kind = "feed"
            url = "{feed}/private.xml?token={CANARY}"
            backfill = true
            [[watch]]
            name = "acme"
            query = "acme"
            [[sink]]
            id = "slack"
            kind = "slack"
            url = {{ file = "{slack}" }}
            max_per_second = 100
            [[sink]]
            id = "discord"
            kind = "discord"
            url = {{ file = "{discord}" }}
            max_per_second = 100
            [[sink]]
            id = "hook"
            kind = "webhook"
            url = "{gone}/hook/{CANARY}"
            secret = {{ env = "EARSHOT_TEST_TOKEN" }}
            [[route]]
            sinks = ["slack", "discord", "hook"]
            min_urgency = "low"
            "#,
            state = d.join("state").display(),
            feed = server.uri(),
            gone = gone.uri(),
        ),
    )
    .unwrap();
    let config = config.display().to_string();

    let mut everything = String::new();
    for args in [
        &["check"][..],
        &["once"],
        &["status"],
        &["status", "--json"],
        &["test-sink", "slack"],
        &["test-sink", "hook"],
        &["mentions", "--json"],
    ] {
        let (_, out) = run(&config, args);
        everything.push_str(&out);
    }
    // The runs did real work: they tried every target and recorded the failures.
    assert!(
        everything.contains("HTTP 500") || everything.contains("500"),
        "{everything}"
    );
    assert!(everything.contains("404"), "{everything}");
    assert!(
        everything.to_lowercase().contains("connect"),
        "{everything}"
    );
    assert!(failing.received_requests().await.unwrap().len() >= 2);
    assert!(
        everything.contains("Acme private"),
        "the private feed was not read: {everything}"
    );
    assert!(
        !everything.contains(CANARY),
        "a secret leaked into output:\n{everything}"
    );

    for entry in std::fs::read_dir(d.join("state")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(CANARY),
            "a secret leaked into the database"
        );
    }
}
