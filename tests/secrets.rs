//! A canary webhook URL and token never appear in logs (at trace level), errors, `status`,
//! `check`, or the database, even when a target fails and echoes the URL back: for every kind
//! of sink, each with its own credential (a URL, a bot token, an API key, an ntfy topic and
//! token), from a file, the environment or the config itself.

mod common;

use std::process::{Command, Stdio};

use base64::Engine;
use common::{Feed, item};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CANARY: &str = "CANARY7c1d9e";
/// The sinks added with issue 4, by id in the config below.
const NEW_SINKS: [&str; 7] = ["teams", "gchat", "mm", "tg", "zulip", "rc", "ntfy"];

/// Answers 500 and echoes everything that could hold a credential, as a debugging proxy in
/// front of a target might: the URL, a JSON body's `topic` (ntfy's secret), then the headers
/// (Basic and Bearer credentials first) and the body. The first of it lands in the error snippet.
struct EchoAll500;
impl wiremock::Respond for EchoAll500 {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let topic = req
            .body_json::<serde_json::Value>()
            .ok()
            .and_then(|v| v.get("topic").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_default();
        let mut headers: Vec<String> = req
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or_default()))
            .collect();
        headers.sort_by_key(|h| !h.starts_with("authorization"));
        ResponseTemplate::new(500).set_body_string(format!(
            "internal_error for {} {topic} {} {}",
            req.url,
            headers.join("; "),
            String::from_utf8_lossy(&req.body)
        ))
    }
}

/// Everything a request carried, a Basic credential decoded.
fn carried(r: &Request) -> String {
    let mut all = format!("{} {}", r.url, String::from_utf8_lossy(&r.body));
    for (_, v) in r.headers.iter() {
        let v = v.to_str().unwrap_or_default();
        all.push_str(v);
        if let Some(b) = v.strip_prefix("Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default();
            all.push_str(&String::from_utf8_lossy(&decoded));
        }
    }
    all
}

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
        .env("EARSHOT_TEST_ZULIP_KEY", format!("zk{CANARY}"))
        .env("EARSHOT_TEST_NTFY_TOKEN", format!("tk_{CANARY}"))
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
    // The targets added with issue 4, all behind one server that echoes everything.
    let echo = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(EchoAll500)
        .mount(&echo)
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
    let e = echo.uri();
    let teams = common::secret_file(
        d,
        "teams",
        &format!(
            "{e}/workflows/0a1b/triggers/manual/paths/invoke?api-version=2016-06-01&sig={CANARY}"
        ),
    );
    let gchat = common::secret_file(
        d,
        "gchat",
        &format!("{e}/v1/spaces/AAAA/messages?key=AIzaSyD-key&token={CANARY}"),
    );
    let mattermost = common::secret_file(d, "mattermost", &format!("{e}/hooks/{CANARY}"));
    let rocketchat = common::secret_file(d, "rocketchat", &format!("{e}/hooks/rc1/{CANARY}"));
    let telegram = common::secret_file(d, "telegram", &format!("123456789:{CANARY}"));
    let ntfy_topic = common::secret_file(d, "ntfy-topic", &format!("earshot-{CANARY}"));
    let config = d.join("earshot.toml");
    std::fs::write(
        &config,
        format!(
            r#"
            [daemon]
            allow_private_networks = true
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
            [[sink]]
            id = "teams"
            kind = "teams"
            url = {{ file = "{teams}" }}
            max_per_second = 100
            [[sink]]
            id = "gchat"
            kind = "googlechat"
            url = {{ file = "{gchat}" }}
            max_per_second = 100
            [[sink]]
            id = "mm"
            kind = "mattermost"
            url = {{ file = "{mattermost}" }}
            max_per_second = 100
            [[sink]]
            id = "tg"
            kind = "telegram"
            token = {{ file = "{telegram}" }}
            chat_id = -1001234567890
            base_url = "{e}/telegram"
            max_per_second = 100
            [[sink]]
            id = "zulip"
            kind = "zulip"
            base_url = "{e}/zulip"
            email = "earshot-bot@acme.zulipchat.com"
            api_key = {{ env = "EARSHOT_TEST_ZULIP_KEY" }}
            stream = "support"
            max_per_second = 100
            [[sink]]
            id = "rc"
            kind = "rocketchat"
            url = {{ file = "{rocketchat}" }}
            max_per_second = 100
            [[sink]]
            id = "ntfy"
            kind = "ntfy"
            base_url = "{e}/ntfy"
            topic = {{ file = "{ntfy_topic}" }}
            token = {{ env = "EARSHOT_TEST_NTFY_TOKEN" }}
            max_per_second = 100
            [[route]]
            sinks = ["slack", "discord", "hook", {NEW_SINKS}]
            min_urgency = "low"
            "#,
            state = d.join("state").display(),
            feed = server.uri(),
            gone = gone.uri(),
            NEW_SINKS = NEW_SINKS.map(|id| format!("\"{id}\"")).join(", "),
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
    for id in NEW_SINKS {
        let (ok, out) = run(&config, &["test-sink", id]);
        assert!(!ok, "test-sink {id} against a 500 succeeded: {out}");
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
    // Every new target was tried, by `once` and by `test-sink`, with its credential (in the
    // URL, a header or the body), and got an echo of it back.
    let got = echo.received_requests().await.unwrap();
    for (id, place) in [
        ("teams", "/workflows/"),
        ("gchat", "/v1/spaces/"),
        ("mm", "/hooks/CANARY"),
        ("rc", "/hooks/rc1/"),
        ("tg", "/telegram/bot"),
        ("zulip", "/zulip/api/v1/messages"),
        ("ntfy", "/ntfy"),
    ] {
        let reqs: Vec<&Request> = got
            .iter()
            .filter(|r| r.url.path().starts_with(place))
            .collect();
        assert!(reqs.len() >= 2, "{id}: {} requests", reqs.len());
        for r in reqs {
            assert!(
                carried(r).contains(CANARY),
                "{id}: the credential was not sent"
            );
        }
        assert!(
            everything.contains(&format!("sending to {id} failed: HTTP 500")),
            "{id}: test-sink said nothing about it"
        );
    }
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
