//! Conformance tests run over every sink, against local wiremock receivers: payload snapshots,
//! hostile text, the status-code table, secret leaks, and Standard Webhooks signatures.
//!
//! Adding a sink: add it to `HTTP_KINDS` (or give it a writer like stdout), a snapshot under
//! `tests/data/sinks/`, and its checks to `check_hostile`.
//!
//! Snapshots: run with `EARSHOT_UPDATE_SNAPSHOTS=1` to rewrite them, then review the diff.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use earshot::alert::Alert;
use earshot::config::{SinkConfig, SinkKind, StdoutFormat};
use earshot::runtime::Clock;
use earshot::secret::Secret;
use earshot::sink::{Outbound, Retry, SendError, Sent, Sink, Stdout};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const HTTP_KINDS: [SinkKind; 3] = [SinkKind::Slack, SinkKind::Discord, SinkKind::Webhook];
const CANARY: &str = "CANARY-SECRET-123";
const HOOK_PATH: &str = "/hooks/T000/B000/CANARY-SECRET-123";

/// The instant every sink test runs at: reset headers and signed timestamps are reckoned from
/// it, never from the system clock, so the tests pass on any date.
const NOW: i64 = 1_800_000_000;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(NOW, 0).unwrap()
}

/// What the runtime hands a sink: a client, and a clock that reads [`NOW`] at the start.
fn client() -> Outbound {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Outbound::new(http, Clock::tokio_from(now()))
}

fn config(kind: SinkKind, url: Option<String>) -> SinkConfig {
    SinkConfig {
        url: url.map(Secret::Plain),
        ..SinkConfig::new(&format!("{kind:?}").to_lowercase(), kind)
    }
}

fn sink(kind: SinkKind, url: String) -> Sink {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Sink::from_config(&config(kind, Some(url))).unwrap()
}

/// A receiver answering every POST with `resp`.
async fn receiver(resp: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(resp)
        .mount(&server)
        .await;
    server
}

fn hook_url(server: &MockServer) -> String {
    format!("{}{HOOK_PATH}", server.uri())
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

/// Sends `alert` to a fresh 200 receiver and returns the JSON body it got.
async fn send_and_capture(kind: SinkKind, alert: &Alert) -> Value {
    let server = receiver(ResponseTemplate::new(200).set_body_string("ok")).await;
    let s = sink(kind, hook_url(&server));
    s.send(&client(), alert).await.unwrap();
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    reqs[0].body_json().unwrap()
}

fn stdout_sink(format: StdoutFormat) -> (Sink, Arc<Mutex<Vec<u8>>>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let writer: Arc<Mutex<dyn Write + Send>> = buf.clone();
    (
        Sink::Stdout(Stdout::with_writer("out", format, writer, None)),
        buf,
    )
}

async fn stdout_capture(format: StdoutFormat, alert: &Alert) -> String {
    let (s, buf) = stdout_sink(format);
    s.send(&client(), alert).await.unwrap();
    let out = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    assert_eq!(
        out,
        s.preview(alert, now()),
        "preview is what stdout prints"
    );
    out
}

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sinks")
        .join(name)
}

fn check_snapshot(name: &str, got: &str) {
    let p = snapshot_path(name);
    if std::env::var_os("EARSHOT_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, got).unwrap();
    }
    let want = std::fs::read_to_string(&p)
        .unwrap_or_else(|_| panic!("missing snapshot {name}; got:\n{got}"));
    assert_eq!(got, want, "snapshot {name} differs");
}

// ---------------------------------------------------------------------------------------------
// Snapshots

#[tokio::test]
async fn http_payload_snapshots_and_preview_match_the_wire() {
    for (kind, name) in [
        (SinkKind::Slack, "slack.json"),
        (SinkKind::Discord, "discord.json"),
        (SinkKind::Webhook, "webhook.json"),
    ] {
        let alert = Alert::sample();
        let got = send_and_capture(kind, &alert).await;
        let pretty = serde_json::to_string_pretty(&got).unwrap() + "\n";
        check_snapshot(name, &pretty);
        let preview = sink(kind, "http://127.0.0.1:9/x".into()).preview(&alert, now());
        assert_eq!(
            serde_json::from_str::<Value>(&preview).unwrap(),
            got,
            "{name}: preview = wire"
        );
    }
}

#[tokio::test]
async fn stdout_snapshots() {
    let text = stdout_capture(StdoutFormat::Text, &Alert::sample()).await;
    check_snapshot("stdout.txt", &text);
    let json = stdout_capture(StdoutFormat::Json, &Alert::sample()).await;
    assert_eq!(json.lines().count(), 1);
    let back: Alert = serde_json::from_str(json.trim_end()).unwrap();
    assert_eq!(back, Alert::sample());
}

// ---------------------------------------------------------------------------------------------
// Hostile text

const BIDI: &[char] = &[
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
];

fn hostile_strings() -> Vec<(&'static str, String)> {
    vec![
        ("everyone", "hi @everyone look".into()),
        ("here", "@here now".into()),
        ("slack channel", "<!channel> ping".into()),
        ("slack here", "<!here>".into()),
        ("user", "<@U123> and <@123456789>".into()),
        ("channel", "<#C1> <#123>".into()),
        ("role", "<@&987> <!subteam^S1>".into()),
        ("md link", "[x](https://evil)".into()),
        ("slack link", "<https://evil|trusted>".into()),
        ("bold", "**bold**".into()),
        ("code", "`code` ```block```".into()),
        ("spoiler", "||spoiler||".into()),
        ("heading", "# big\n-# small\n> quote\n1. list".into()),
        ("10k ascii", "A".repeat(10 * 1024)),
        ("10k multibyte", "😀日本語🎉".repeat(10 * 1024 / 14 + 1)),
        ("rtl", "invoice\u{202E}fdp.exe \u{2066}x\u{2069}".into()),
        (
            "zwj",
            "👩\u{200D}💻 every\u{200B}one @\u{200D}everyone a\u{200D}b\u{FEFF}".into(),
        ),
        ("amp", "&amp; &lt; <b>".into()),
        (
            "bare link",
            "evil.example/login and https://evil.example #general".into(),
        ),
        ("controls", "bell\u{7} esc\u{1b}[2J nul\u{0}".into()),
    ]
}

fn hostile_alert(s: &str, url: Option<&str>) -> Alert {
    let mut a = Alert::sample();
    a.title = Some(s.to_string());
    a.text = s.to_string();
    a.author = Some(s.to_string());
    a.reasons = vec![s.to_string()];
    a.url = url.map(str::to_string);
    a
}

/// Every string in a JSON value.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn all_strings(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    strings(v, &mut out);
    out
}

fn no_bidi_or_controls(case: &str, target: &str, s: &str) {
    assert!(!s.contains(BIDI), "{target}/{case}: bidi control in {s:?}");
    assert!(
        !s.chars().any(|c| c.is_control() && c != '\n'),
        "{target}/{case}: control char"
    );
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn utf16(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Every `mrkdwn` text in a Slack payload, and the top-level fallback (also mrkdwn).
fn slack_mrkdwn(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("mrkdwn") {
                out.push(o["text"].as_str().unwrap().to_string());
            }
            o.values().for_each(|x| slack_mrkdwn(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| slack_mrkdwn(x, out)),
        _ => {}
    }
}

fn check_slack(case: &str, v: &Value) {
    for s in all_strings(v) {
        no_bidi_or_controls(case, "slack", &s);
    }
    assert!(v.get("link_names").is_none(), "never link_names");
    assert_eq!(v["unfurl_links"], false);
    let mut mrkdwn = vec![v["text"].as_str().unwrap().to_string()];
    slack_mrkdwn(v, &mut mrkdwn);
    assert!(mrkdwn.len() >= 4, "fallback, section, a field, context");
    for m in &mrkdwn {
        for tok in ["<!", "<@", "<#"] {
            assert!(!m.contains(tok), "slack/{case}: raw {tok} in {m:?}");
        }
        // The only `<` allowed is our own link to the alert's safe URL.
        for (i, _) in m.match_indices('<') {
            assert!(
                m[i..].starts_with("<https://example.com/"),
                "slack/{case}: stray < in {m:?}"
            );
        }
        assert!(
            !m.contains("<https://evil"),
            "slack/{case}: spoofed link alive in {m:?}"
        );
        for (i, _) in m.match_indices('&') {
            let rest = &m[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;"]
                    .iter()
                    .any(|e| rest.starts_with(e)),
                "slack/{case}: bare & in {m:?}"
            );
        }
        // User formatting is broken up by zero-width spaces.
        for live in ["**bold**", "*bold*", "`code`"] {
            assert!(!m.contains(live), "slack/{case}: {live} alive in {m:?}");
        }
    }
    let blocks = v["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    assert!(chars(v["text"].as_str().unwrap()) <= 4000);
    assert_eq!(
        v["mrkdwn"], false,
        "slack/{case}: the fallback text must be plain"
    );
    for b in blocks {
        match b["type"].as_str().unwrap() {
            "header" => assert!(
                chars(b["text"]["text"].as_str().unwrap()) <= 150,
                "slack/{case}: header"
            ),
            "section" => {
                assert_eq!(b["text"]["verbatim"], true);
                assert!(
                    chars(b["text"]["text"].as_str().unwrap()) <= 3000,
                    "slack/{case}: section"
                );
                let fields = b["fields"].as_array().unwrap();
                assert!(fields.len() <= 10);
                for f in fields {
                    assert_eq!(f["verbatim"], true, "slack/{case}: a field could auto-link");
                    assert!(
                        chars(f["text"].as_str().unwrap()) <= 2000,
                        "slack/{case}: field"
                    );
                }
            }
            "context" => {
                let els = b["elements"].as_array().unwrap();
                assert!(els.len() <= 10);
                for e in els {
                    assert!(
                        chars(e["text"].as_str().unwrap()) <= 3000,
                        "slack/{case}: context"
                    );
                }
            }
            "actions" => {
                let url = b["elements"][0]["url"].as_str().unwrap();
                assert!(url.starts_with("https://") && chars(url) <= 3000);
            }
            other => panic!("unexpected block {other}"),
        }
    }
}

/// True when the character at byte `i` is preceded by an odd number of backslashes.
fn escaped_at(s: &str, i: usize) -> bool {
    s[..i].chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

fn check_discord_text(case: &str, s: &str) {
    no_bidi_or_controls(case, "discord", s);
    let lower = s.to_lowercase();
    assert!(
        !lower.contains("@everyone") && !lower.contains("@here"),
        "discord/{case}: ping text in {s:?}"
    );
    // `:` too: Discord's autolinker needs `https://` as is, and `https\://` is text.
    for (i, c) in s.char_indices() {
        if "*_~`|<>[]()#:".contains(c) {
            assert!(escaped_at(s, i), "discord/{case}: unescaped {c:?} in {s:?}");
        }
    }
}

fn check_discord(case: &str, v: &Value) {
    assert_eq!(
        v["allowed_mentions"]["parse"],
        Value::Array(vec![]),
        "allowed_mentions.parse empty"
    );
    let embeds = v["embeds"].as_array().unwrap();
    assert_eq!(embeds.len(), 1);
    let e = &embeds[0];
    let content = v["content"].as_str().unwrap();
    check_discord_text(case, content);
    assert!(utf16(content) <= 2000);
    let title = e["title"].as_str().unwrap();
    check_discord_text(case, title);
    assert!(utf16(title) <= 256, "discord/{case}: title");
    let desc = e["description"].as_str().unwrap_or("");
    check_discord_text(case, desc);
    assert!(utf16(desc) <= 4096, "discord/{case}: description");
    let footer = e["footer"]["text"].as_str().unwrap();
    check_discord_text(case, footer);
    assert!(utf16(footer) <= 2048);
    let fields = e["fields"].as_array().unwrap();
    assert!(fields.len() <= 25);
    let mut total = utf16(title) + utf16(desc) + utf16(footer);
    for f in fields {
        let (n, val) = (f["name"].as_str().unwrap(), f["value"].as_str().unwrap());
        check_discord_text(case, val);
        assert!(
            utf16(n) <= 256 && utf16(val) <= 1024 && !val.is_empty(),
            "discord/{case}: field {n}"
        );
        total += utf16(n) + utf16(val);
    }
    assert!(total <= 6000, "discord/{case}: embed total {total}");
    if let Some(u) = e.get("url") {
        assert!(u.as_str().unwrap().starts_with("https://"));
    }
}

fn check_webhook(case: &str, v: &Value, raw_len: usize) {
    for s in all_strings(v) {
        no_bidi_or_controls(case, "webhook", &s);
    }
    assert!(raw_len < 20_000, "webhook/{case}: body {raw_len} bytes");
    assert_eq!(v["type"], "mention.created");
}

#[tokio::test]
async fn hostile_text_through_every_sink() {
    let urls = [
        Some("https://example.com/post/1"),
        Some("javascript:alert(1)"),
        Some("https://evil|trusted"),
        None,
    ];
    for (case, s) in hostile_strings() {
        for url in urls {
            let alert = hostile_alert(&s, url);
            let case = format!("{case} url={url:?}");

            let slack = send_and_capture(SinkKind::Slack, &alert).await;
            check_slack(&case, &slack);

            let discord = send_and_capture(SinkKind::Discord, &alert).await;
            check_discord(&case, &discord);

            let webhook = send_and_capture(SinkKind::Webhook, &alert).await;
            check_webhook(&case, &webhook, serde_json::to_vec(&webhook).unwrap().len());

            for format in [StdoutFormat::Text, StdoutFormat::Json] {
                let out = stdout_capture(format, &alert).await;
                for line in out.lines() {
                    no_bidi_or_controls(&case, "stdout", line);
                }
            }
        }
    }
}

#[tokio::test]
async fn slack_keeps_a_literal_entity_literal() {
    let v = send_and_capture(SinkKind::Slack, &hostile_alert("&amp; <b>", None)).await;
    let section = v["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(section.contains("&amp;amp; &lt;b&gt;"), "{section}");
}

// ---------------------------------------------------------------------------------------------
// Status codes, through real HTTP

fn outcome_label(r: &Result<Sent, SendError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{:?}", e.retry),
    }
}

#[tokio::test]
async fn status_code_table() {
    let later_7 = Retry::Later(Some(Duration::from_secs(7)));
    let cases: Vec<(u16, ResponseTemplate, Result<(), Retry>)> = [
        (
            200,
            ResponseTemplate::new(200).set_body_string("ok"),
            Ok(()),
        ),
        (204, ResponseTemplate::new(204), Ok(())),
        (
            400,
            ResponseTemplate::new(400).set_body_string("invalid_payload"),
            Err(Retry::Never),
        ),
        (401, ResponseTemplate::new(401), Err(Retry::Never)),
        (
            403,
            ResponseTemplate::new(403).set_body_string("invalid_token"),
            Err(Retry::Never),
        ),
        (
            404,
            ResponseTemplate::new(404).set_body_string("no_service"),
            Err(Retry::Never),
        ),
        (
            410,
            ResponseTemplate::new(410).set_body_string("channel_is_archived"),
            Err(Retry::Never),
        ),
        (
            429,
            ResponseTemplate::new(429).insert_header("Retry-After", "7"),
            Err(later_7),
        ),
        (
            500,
            ResponseTemplate::new(500).set_body_string("rollup_error"),
            Err(Retry::Later(None)),
        ),
        (502, ResponseTemplate::new(502), Err(Retry::Later(None))),
        (
            503,
            ResponseTemplate::new(503).insert_header("Retry-After", "7"),
            Err(later_7),
        ),
        (408, ResponseTemplate::new(408), Err(Retry::Later(None))),
    ]
    .into_iter()
    .collect();
    for kind in HTTP_KINDS {
        for (status, resp, want) in &cases {
            let server = receiver(resp.clone()).await;
            let got = sink(kind, hook_url(&server))
                .send(&client(), &Alert::sample())
                .await;
            let label = format!("{kind:?} {status} -> {}", outcome_label(&got));
            match (want, &got) {
                (Ok(()), Ok(sent)) => assert_eq!(sent.wait_before_next, None, "{label}"),
                (Err(retry), Err(e)) => {
                    assert_eq!(e.retry, *retry, "{label}");
                    assert_eq!(e.status, Some(*status), "{label}");
                    assert!(
                        e.message.contains(&status.to_string()),
                        "{label}: {}",
                        e.message
                    );
                    assert!(!e.message.contains(CANARY), "{label}: {}", e.message);
                }
                _ => panic!("{label}: want {want:?}"),
            }
        }
    }
}

#[tokio::test]
async fn error_message_carries_the_body_snippet() {
    let server = receiver(ResponseTemplate::new(400).set_body_string("invalid_blocks\n")).await;
    let e = sink(SinkKind::Slack, hook_url(&server))
        .send(&client(), &Alert::sample())
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(400));
    assert_eq!(e.message, "HTTP 400: invalid_blocks");
}

#[tokio::test]
async fn discord_429_reads_retry_after_from_the_json_body() {
    let body = serde_json::json!({"message": "You are being rate limited.", "retry_after": 2.5, "global": false});
    let server = receiver(ResponseTemplate::new(429).set_body_json(body)).await;
    let e = sink(SinkKind::Discord, hook_url(&server))
        .send(&client(), &Alert::sample())
        .await
        .unwrap_err();
    assert_eq!(e.retry, Retry::Later(Some(Duration::from_millis(2500))));
    assert_eq!(e.status, Some(429));
}

#[tokio::test]
async fn discord_reads_bucket_headers_on_success_and_posts_with_wait() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(HOOK_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset-After", "1.25")
                .set_body_json(serde_json::json!({"id": "1"})),
        )
        .mount(&server)
        .await;
    let url = format!("{}?thread_id=42", hook_url(&server));
    let sent = sink(SinkKind::Discord, url)
        .send(&client(), &Alert::sample())
        .await
        .unwrap();
    assert_eq!(sent.wait_before_next, Some(Duration::from_millis(1250)));
    let req = &requests(&server).await[0];
    assert_eq!(req.url.query(), Some("thread_id=42&wait=true"));
}

#[tokio::test]
async fn webhook_does_not_follow_redirects() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(HOOK_PATH))
        .respond_with(ResponseTemplate::new(307).insert_header("Location", "/elsewhere"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let e = sink(SinkKind::Webhook, hook_url(&server))
        .send(&client(), &Alert::sample())
        .await
        .unwrap_err();
    assert_eq!((e.status, e.retry), (Some(307), Retry::Never));
    assert_eq!(requests(&server).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Secrets

#[tokio::test]
async fn canary_never_leaks() {
    // A server that echoes the request URL back in its error body.
    let server = MockServer::start().await;
    let echo = format!(
        "no such webhook: {}{HOOK_PATH}?wait=true token {CANARY}",
        server.uri()
    );
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_string(echo))
        .mount(&server)
        .await;

    // A loopback port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for kind in HTTP_KINDS {
        let mut cfg = config(kind, Some(hook_url(&server)));
        cfg.secret = Some(Secret::Plain(format!("whsec_{}", BASE64.encode(CANARY))));
        let s = Sink::from_config(&cfg).unwrap();
        let label = format!("{kind:?}");
        assert!(!format!("{s:?}").contains(CANARY), "{label}: Debug");
        assert!(
            !format!("{s:?}").contains(&BASE64.encode(CANARY)),
            "{label}: Debug shows key"
        );
        assert!(
            !s.preview(&Alert::sample(), now()).contains(CANARY),
            "{label}: preview"
        );

        let e = s.send(&client(), &Alert::sample()).await.unwrap_err();
        assert_eq!(e.retry, Retry::Never, "{label}");
        assert!(
            !e.message.contains(CANARY) && !format!("{e:?}").contains(CANARY),
            "{label}: {e:?}"
        );

        let refused = sink(kind, format!("http://127.0.0.1:{closed}{HOOK_PATH}"));
        let e = refused.send(&client(), &Alert::sample()).await.unwrap_err();
        assert_eq!(
            (e.retry, e.status),
            (Retry::Later(None), None),
            "{label}: {e:?}"
        );
        assert!(
            !e.message.contains(CANARY) && !format!("{e:?}").contains(CANARY),
            "{label}: {e:?}"
        );
        assert!(!e.message.is_empty());
    }
}

#[test]
fn config_errors_name_the_problem_not_the_secret() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = format!("not a url {CANARY}");
    let cases: Vec<(SinkConfig, &str)> = vec![
        (config(SinkKind::Slack, None), "needs `url`"),
        (
            config(SinkKind::Discord, Some(url.clone())),
            "not an http(s) URL",
        ),
        (
            config(SinkKind::Webhook, Some(format!("ftp://x/{CANARY}"))),
            "not an http(s) URL",
        ),
        (
            SinkConfig {
                username: Some("Discord Alerts".into()),
                ..config(SinkKind::Discord, Some("https://d.example/x".into()))
            },
            "discord",
        ),
        (
            SinkConfig {
                secret: Some(Secret::Plain("whsec_%%%".into())),
                ..config(SinkKind::Webhook, Some("https://h.example/".into()))
            },
            "base64",
        ),
        (
            SinkConfig {
                max_per_second: Some(0.0),
                ..config(SinkKind::Slack, Some("https://h.example/".into()))
            },
            "max_per_second",
        ),
    ];
    for (cfg, want) in cases {
        let e = Sink::from_config(&cfg).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(want), "{msg}");
        assert!(msg.contains(&cfg.id), "{msg}");
        assert!(!msg.contains(CANARY), "{msg}");
    }
}

// ---------------------------------------------------------------------------------------------
// Standard Webhooks

fn header<'a>(r: &'a Request, name: &str) -> Option<&'a str> {
    r.headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn webhook_signature_verifies_and_id_is_stable() {
    let key_bytes: Vec<u8> = (0u8..32).collect();
    let server = receiver(ResponseTemplate::new(204)).await;
    let mut cfg = config(SinkKind::Webhook, Some(hook_url(&server)));
    cfg.secret = Some(Secret::Plain(format!(
        "whsec_{}",
        BASE64.encode(&key_bytes)
    )));
    let s = Sink::from_config(&cfg).unwrap();
    let alert = Alert::sample();
    s.send(&client(), &alert).await.unwrap();
    s.send(&client(), &alert).await.unwrap();

    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        let id = header(r, "webhook-id").unwrap();
        assert_eq!(id, alert.id, "webhook-id is the alert id, on every attempt");
        let ts = header(r, "webhook-timestamp").unwrap();
        let age = ts.parse::<i64>().unwrap() - NOW;
        assert!((0..60).contains(&age), "timestamp is now: {age}");
        assert_eq!(header(r, "content-type"), Some("application/json"));

        let mut mac = Hmac::<Sha256>::new_from_slice(&key_bytes).unwrap();
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(&r.body);
        let want = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
        let got = header(r, "webhook-signature").unwrap();
        assert!(
            got.split(' ').any(|sig| sig == want),
            "signature {got} != {want}"
        );
    }
}

#[tokio::test]
async fn webhook_raw_secret_and_unsigned() {
    let server = receiver(ResponseTemplate::new(200)).await;
    let mut cfg = config(SinkKind::Webhook, Some(hook_url(&server)));
    cfg.secret = Some(Secret::Plain("plain-shared-string".into()));
    Sink::from_config(&cfg)
        .unwrap()
        .send(&client(), &Alert::sample())
        .await
        .unwrap();
    cfg.secret = None;
    Sink::from_config(&cfg)
        .unwrap()
        .send(&client(), &Alert::sample())
        .await
        .unwrap();

    let reqs = requests(&server).await;
    let r = &reqs[0];
    let (id, ts) = (
        header(r, "webhook-id").unwrap(),
        header(r, "webhook-timestamp").unwrap(),
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(b"plain-shared-string").unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    assert_eq!(
        header(r, "webhook-signature").unwrap(),
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    );
    assert!(
        header(&reqs[1], "webhook-signature").is_none(),
        "no secret: unsigned"
    );
    assert!(header(&reqs[1], "webhook-id").is_some());
}

// ---------------------------------------------------------------------------------------------
// Small API

#[test]
fn ids_kinds_and_pace() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = || Some("https://h.example/x".to_string());
    let cases: Vec<(SinkConfig, &str, Option<f64>)> = vec![
        (config(SinkKind::Slack, url()), "slack", Some(1.0)),
        (config(SinkKind::Discord, url()), "discord", Some(0.5)),
        (config(SinkKind::Webhook, url()), "webhook", Some(10.0)),
        (config(SinkKind::Stdout, None), "stdout", None),
        (
            SinkConfig {
                max_per_second: Some(3.0),
                ..config(SinkKind::Slack, url())
            },
            "slack",
            Some(3.0),
        ),
        (
            SinkConfig {
                max_per_second: Some(2.0),
                ..config(SinkKind::Stdout, None)
            },
            "stdout",
            Some(2.0),
        ),
    ];
    for (cfg, kind, pace) in cases {
        let s = Sink::from_config(&cfg).unwrap();
        assert_eq!(s.kind_name(), kind);
        assert_eq!(s.id(), cfg.id);
        assert_eq!(s.default_pace(), pace, "{kind}");
    }
}

#[test]
fn sinks_and_their_sends_can_cross_tasks() {
    fn is_send_sync<T: Send + Sync>(_: &T) {}
    fn is_send<T: Send>(_: T) {}
    let (s, _) = stdout_sink(StdoutFormat::Text);
    is_send_sync(&s);
    let c = client();
    let a = Alert::sample();
    // Only built, never polled: the outbox spawns these on a multi-threaded runtime.
    is_send(s.send(&c, &a));
}

// ---------------------------------------------------------------------------------------------
// The conformance suite over the sinks added with issue 4 (one module each, `tests/sinks/<kind>.rs`):
// a payload snapshot equal to the preview, the hostile corpus, the platform's limits with
// multibyte text, the status-code table, `Retry-After`, and the credential never in an error.

/// What each sink's module provides.
pub trait SinkCase {
    const KIND: SinkKind;
    /// Snapshot file under `tests/data/sinks/`.
    const SNAPSHOT: &'static str;
    /// A config sending to the local server at `server` (its URI), whose credential (webhook
    /// URL, token, API key or topic) contains [`CANARY`].
    fn config(server: &str) -> SinkConfig;
    /// The platform's success reply.
    fn ok() -> ResponseTemplate;
    /// A captured request's payload as [`Sink::preview`] shows it: the JSON body, or a form's
    /// fields as a JSON object.
    fn body(req: &Request) -> Value {
        req.body_json().expect("a JSON body")
    }
    /// The platform's "too many requests, wait 7 seconds" reply (header or body).
    fn too_many_7s() -> ResponseTemplate {
        ResponseTemplate::new(429).insert_header("Retry-After", "7")
    }
    /// Checks a rendered payload carrying hostile text (`case` names it): no ping, no link but
    /// the alert's own safe URL, no markup from the user's text, and the platform's limits.
    fn check(case: &str, body: &Value);
    /// What [`no_live_link`] holds the payload to: most chat clients link a bare domain.
    const LINKS: Linker = Linker::BareDomains;
}

/// What a target's client makes a link of, in text it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linker {
    /// A URL with its scheme, and a bare domain (`www.evil.example`, `evil.example/login`).
    BareDomains,
    /// Only a URL with its scheme (Discord).
    SchemeOnly,
    /// Nothing: the payload is data for a machine (webhook, stdout json).
    Data,
}

/// Pieces of the corpus' links (lower case) that no string of a payload may hold: an
/// auto-linker would find a link there. Our own links go to `https://example.com/…` and the ack
/// page, which hold none of them.
const SCHEMED_LINKS: [&str; 5] = [
    "s://evil",
    "p://evil",
    "javascript:a",
    "data:text",
    "s://user",
];
const BARE_LINKS: [&str; 3] = ["evil.example", "www.evil", "t.me/"];

/// No string of `v` holds a link from the corpus that `linker` would make live: the escaper
/// broke it up (a backslash or zero-width space before a scheme's `:`, a zero-width space
/// after a domain's dot).
pub fn no_live_link(case: &str, target: &str, linker: Linker, v: &Value) {
    let needles: Vec<&str> = match linker {
        Linker::Data => return,
        Linker::SchemeOnly => SCHEMED_LINKS.to_vec(),
        Linker::BareDomains => SCHEMED_LINKS.iter().chain(&BARE_LINKS).copied().collect(),
    };
    for s in all_strings(v) {
        let lower = s.to_lowercase();
        for n in &needles {
            assert!(
                !lower.contains(n),
                "{target}/{case}: a live link ({n:?}) in {s:?}"
            );
        }
    }
}

/// At least 200 hostile strings: pings, links, markup and escapes of every target, bidi and
/// control characters, long and multibyte text, each as is and in a few disguises.
pub fn hostile_corpus() -> Vec<(String, String)> {
    let mut base: Vec<(String, String)> = hostile_strings()
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
    let more: &[(&str, &str)] = &[
        ("mattermost channel", "@channel @all @here look"),
        ("mattermost tilde", "~town-square ~off-topic"),
        ("rocket all", "@all @here please"),
        (
            "zulip wildcard",
            "@**all** @**everyone** @**channel** @**topic**",
        ),
        ("zulip user", "@**Dana Smith** @_**Dana|12** @*support*"),
        ("zulip latex", "$$\\\\href{https://evil}{x}$$ and $$x$$"),
        ("zulip spoiler", "```spoiler secret\nhidden\n```"),
        ("gchat all", "<users/all> <users/123456>"),
        ("gchat link", "<https://evil.example|Trusted bank>"),
        ("teams at", "<at>Dana</at> <at id=\"0\">everyone</at>"),
        (
            "teams md",
            "**bold** _it_ [click](https://evil.example) # head",
        ),
        (
            "html",
            "<b>bold</b> <a href=\"https://evil\">x</a> <script>alert(1)</script>",
        ),
        ("html entity bidi", "&#x202E;exe.pdf &#8238; &#x200B;"),
        (
            "telegram tags",
            "<tg-spoiler>x</tg-spoiler> <code>c</code> <pre>p</pre> <blockquote>q</blockquote>",
        ),
        ("telegram mention", "@durov hi /start@bot"),
        ("md autolink", "<https://evil.example> www.evil.example"),
        (
            "bare domains",
            "t.me/x www.evil.example evil.example/login Evil.Example mail me@evil.example",
        ),
        ("md image", "![img](https://evil.example/x.png)"),
        ("md ref", "[x][1]\n\n[1]: https://evil.example"),
        ("backslashes", "\\\\*not\\\\* \\\\[x\\\\](y) \\\\"),
        ("quotes", "\"'`\"'` &quot; &#39;"),
        ("emoji", "🔥💀🚨 :rotating_light: :mega:"),
        (
            "combining",
            "e\u{301}\u{301}\u{301}\u{301}z\u{300}\u{301}\u{302}\u{303}",
        ),
        ("surrogate-ish", "\u{FFFD}\u{FFFF}\u{E000}"),
        ("line breaks", "a\r\nb\rc\u{2028}d\u{2029}e\u{85}f"),
        ("tabs", "a\tb\u{b}c\u{c}d"),
        ("rtl override only", "\u{202E}"),
        ("isolates", "\u{2066}\u{2067}\u{2068}\u{2069}"),
        ("marks", "\u{200E}\u{200F}\u{61C}"),
        ("homoglyph everyone", "@еveryone @һere"),
        ("fullwidth at", "＠everyone ＠here"),
        (
            "slack special",
            "<!everyone> <!date^1|x> <!subteam^S1|@team>",
        ),
        ("discord timestamp", "<t:1:R> <:emoji:123> <a:anim:1>"),
        ("discord headings", "# H1\n## H2\n### H3\n-# sub"),
        ("url credentials", "https://user:pass@evil.example/"),
        ("data url", "data:text/html,<script>alert(1)</script>"),
        ("javascript", "javascript:alert(1) JAVASCRIPT:alert(2)"),
        ("very long word", &"x".repeat(5000)),
        ("4-byte run", &"𝕏".repeat(3000)),
        ("cjk run", &"日本語のテキスト".repeat(800)),
        ("mixed run", &"a😀é日".repeat(2500)),
        ("empty", ""),
        ("spaces", "    "),
        ("only newlines", "\n\n\n"),
        ("nul run", "\u{0}\u{0}\u{0}x"),
        ("percent", "%s %n %x %% {} {{}} ${x}"),
        ("json breaker", "\"}],\"text\":\"pwned"),
        (
            "xml",
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"e\">]>&e;",
        ),
        ("ansi", "\u{1b}[31mred\u{1b}[0m \u{9b}31m"),
    ];
    base.extend(more.iter().map(|(n, s)| (n.to_string(), s.to_string())));
    let mut out = Vec::new();
    for (name, s) in &base {
        out.push((name.clone(), s.clone()));
        out.push((
            format!("{name} in text"),
            format!("Acme is down. {s} Please help!"),
        ));
        out.push((format!("{name} uppercase"), s.to_uppercase()));
        out.push((format!("{name} twice"), format!("{s}\n{s}")));
    }
    out
}

/// The URLs an alert may carry: a good one and hostile ones (only the first may appear).
pub const HOSTILE_URLS: [Option<&str>; 4] = [
    Some("https://example.com/post/1"),
    Some("javascript:alert(1)"),
    Some("https://evil|trusted"),
    None,
];

/// Checks every string of a payload for what no target may carry: bidi and control
/// characters, and a value that is a `javascript:` or `data:` URL (user text may mention one:
/// only a field holding it as its whole value would make it a link).
pub fn no_bidi_controls_or_scripts(case: &str, target: &str, v: &Value) {
    for s in all_strings(v) {
        assert!(!s.contains(BIDI), "{target}/{case}: bidi control in {s:?}");
        assert!(
            !s.chars().any(|c| c.is_control() && c != '\n'),
            "{target}/{case}: control char in {s:?}"
        );
    }
    url_fields_are_the_alerts_own(case, target, v);
}

/// Keys that hold a link in some target's payload.
const URL_KEYS: &[&str] = &[
    "url",
    "href",
    "title_link",
    "click",
    "link",
    "contentUrl",
    "author_link",
    "icon_url",
    "image_url",
    "thumb_url",
];

/// Every link field holds the alert's own safe URL (`https://example.com/...`), never a hostile
/// one or a script.
fn url_fields_are_the_alerts_own(case: &str, target: &str, v: &Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if URL_KEYS.contains(&k.as_str())
                    && let Value::String(u) = x
                {
                    assert!(
                        u.starts_with("https://example.com/"),
                        "{target}/{case}: link field {k} = {u:?}"
                    );
                }
                url_fields_are_the_alerts_own(case, target, x);
            }
        }
        Value::Array(a) => a
            .iter()
            .for_each(|x| url_fields_are_the_alerts_own(case, target, x)),
        _ => {}
    }
}

#[test]
fn live_link_check_catches_what_each_client_would_link() {
    let z = '\u{200B}';
    let broken = [
        format!("see https{z}://evil.{z}example and www.{z}evil.{z}example or t.{z}me/x"),
        "https\\://evil.example".to_string(),
        "javascript\\:alert(1) [Open](https://example.com/post/1)".to_string(),
    ];
    let cases: &[(&str, Linker, bool)] = &[
        ("https://evil.example", Linker::SchemeOnly, false),
        ("HTTPS://EVIL.EXAMPLE", Linker::SchemeOnly, false),
        ("JavaScript:alert(1)", Linker::SchemeOnly, false),
        ("evil.example/login", Linker::SchemeOnly, true),
        ("evil.example/login", Linker::BareDomains, false),
        ("www.evil.example", Linker::BareDomains, false),
        ("t.me/x", Linker::BareDomains, false),
        ("https://evil.example", Linker::Data, true),
    ];
    for (s, linker, ok) in cases {
        let v = serde_json::json!({"a": [{"b": s}]});
        let r = std::panic::catch_unwind(|| no_live_link("meta", "t", *linker, &v));
        assert_eq!(r.is_ok(), *ok, "{s:?} with {linker:?}");
    }
    // Broken up, a link is text to every client; the second and third only for Discord, which
    // takes a backslash as an escape.
    no_live_link(
        "meta",
        "t",
        Linker::BareDomains,
        &Value::String(broken[0].clone()),
    );
    for b in &broken[1..] {
        no_live_link("meta", "t", Linker::SchemeOnly, &Value::String(b.clone()));
    }
}

pub async fn case_snapshot_and_preview_match_the_wire<C: SinkCase>() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(C::ok())
        .mount(&server)
        .await;
    let s = Sink::from_config(&C::config(&server.uri())).unwrap();
    let alert = Alert::sample();
    s.send(&client(), &alert).await.unwrap();
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    let got = C::body(&reqs[0]);
    check_snapshot(
        C::SNAPSHOT,
        &(serde_json::to_string_pretty(&got).unwrap() + "\n"),
    );
    let preview: Value = serde_json::from_str(&s.preview(&alert, now())).unwrap();
    assert_eq!(preview, got, "{}: preview = wire", C::SNAPSHOT);
    C::check("sample", &got);
}

pub fn case_hostile_corpus<C: SinkCase>() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = Sink::from_config(&C::config("http://127.0.0.1:9")).unwrap();
    let target = C::KIND.as_str();
    for (case, alert) in hostile_alerts() {
        let body: Value = serde_json::from_str(&s.preview(&alert, now())).unwrap();
        no_bidi_controls_or_scripts(&case, target, &body);
        no_live_link(&case, target, C::LINKS, &body);
        C::check(&case, &body);
    }
}

/// The corpus as the alerts a sink renders: every string as a mention with each of
/// [`HOSTILE_URLS`]; and every third string (to keep the suite quick), with one of those URLs
/// in turn, inside a catch-up (lines quote the mentions' titles and URLs), a conversation summary
/// (lines quote their texts, the title the first one's title) and a cross-post count (the places
/// list the URLs), so hostile text reaches every field of the summary forms too.
pub fn hostile_alerts() -> Vec<(String, Alert)> {
    let corpus = hostile_corpus();
    assert!(corpus.len() >= 200, "{} strings", corpus.len());
    let mut out = Vec::new();
    for (name, text) in &corpus {
        for url in HOSTILE_URLS {
            out.push((format!("{name} url={url:?}"), hostile_alert(text, url)));
        }
    }
    for (n, (name, text)) in corpus.iter().enumerate().step_by(3) {
        let url = HOSTILE_URLS[(n / 3) % HOSTILE_URLS.len()];
        let mut top = hostile_alert(text, url);
        top.id = "msg_hostile_top".into();
        let mut calm = Alert::sample();
        calm.id = "msg_calm".into();
        calm.urgency = 12;
        calm.level = earshot::urgency::Level::Low;
        let mut again = top.clone();
        again.id = "msg_hostile_again".into();
        again.source_id = "elsewhere".into();
        again.url = Some(format!("https://example.com/x {text}"));
        let forms = [
            (
                "catch-up",
                Alert::catch_up(&[top.clone(), calm.clone()], "during quiet hours"),
            ),
            ("conversation", Alert::group(&[top.clone(), calm])),
            ("cross-post", Alert::group(&[top, again])),
        ];
        for (form, alert) in forms {
            out.push((format!("{name} as {form} url={url:?}"), alert));
        }
    }
    out
}

pub async fn case_status_code_table<C: SinkCase>() {
    let later_7 = Retry::Later(Some(Duration::from_secs(7)));
    let cases: Vec<(u16, ResponseTemplate, Result<(), Retry>)> = vec![
        (200, C::ok(), Ok(())),
        (
            400,
            ResponseTemplate::new(400).set_body_string("bad request"),
            Err(Retry::Never),
        ),
        (401, ResponseTemplate::new(401), Err(Retry::Never)),
        (
            403,
            ResponseTemplate::new(403).set_body_string("forbidden"),
            Err(Retry::Never),
        ),
        (
            404,
            ResponseTemplate::new(404).set_body_string("not found"),
            Err(Retry::Never),
        ),
        (410, ResponseTemplate::new(410), Err(Retry::Never)),
        (413, ResponseTemplate::new(413), Err(Retry::Never)),
        (408, ResponseTemplate::new(408), Err(Retry::Later(None))),
        (429, C::too_many_7s(), Err(later_7)),
        (500, ResponseTemplate::new(500), Err(Retry::Later(None))),
        (502, ResponseTemplate::new(502), Err(Retry::Later(None))),
        (
            503,
            ResponseTemplate::new(503).insert_header("Retry-After", "7"),
            Err(later_7),
        ),
    ];
    for (status, resp, want) in cases {
        let server = receiver(resp).await;
        let got = Sink::from_config(&C::config(&server.uri()))
            .unwrap()
            .send(&client(), &Alert::sample())
            .await;
        let label = format!("{} {status} -> {}", C::KIND.as_str(), outcome_label(&got));
        match (want, &got) {
            (Ok(()), Ok(_)) => {}
            (Err(retry), Err(e)) => {
                assert_eq!(e.retry, retry, "{label}");
                assert_eq!(e.status, Some(status), "{label}");
                assert!(
                    e.message.contains(&status.to_string()),
                    "{label}: {}",
                    e.message
                );
                assert!(!e.message.contains(CANARY), "{label}: {}", e.message);
            }
            _ => panic!("{label}: want {want:?}"),
        }
    }
}

pub async fn case_canary_never_leaks<C: SinkCase>() {
    let server = MockServer::start().await;
    let echo = EchoAll;
    Mock::given(method("POST"))
        .respond_with(echo)
        .mount(&server)
        .await;
    let cfg = C::config(&server.uri());
    let s = Sink::from_config(&cfg).unwrap();
    let label = C::KIND.as_str();
    assert!(!format!("{s:?}").contains(CANARY), "{label}: Debug");
    assert!(
        !format!("{cfg:?}").contains(CANARY),
        "{label}: config Debug"
    );
    assert!(
        !s.preview(&Alert::sample(), now()).contains(CANARY),
        "{label}: preview"
    );
    let e = s.send(&client(), &Alert::sample()).await.unwrap_err();
    assert!(
        !e.message.contains(CANARY) && !format!("{e:?}").contains(CANARY),
        "{label}: {e:?}"
    );
    // The credential did reach the server: the check above means something.
    let reqs = requests(&server).await;
    assert!(
        reqs.iter().any(|r| {
            let head: String = r
                .headers
                .iter()
                .map(|(_, v)| v.to_str().unwrap_or_default().to_string())
                .collect();
            let basic = r
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| BASE64.decode(b).ok())
                .is_some_and(|d| String::from_utf8_lossy(&d).contains(CANARY));
            r.url.as_str().contains(CANARY)
                || head.contains(CANARY)
                || basic
                || String::from_utf8_lossy(&r.body).contains(CANARY)
        }),
        "{label}: the credential was never sent"
    );
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused = Sink::from_config(&C::config(&format!("http://127.0.0.1:{closed}"))).unwrap();
    let e = refused.send(&client(), &Alert::sample()).await.unwrap_err();
    assert_eq!(
        (e.retry, e.status),
        (Retry::Later(None), None),
        "{label}: {e:?}"
    );
    assert!(!format!("{e:?}").contains(CANARY), "{label}: {e:?}");
}

/// Answers 404 with everything it was sent: URL, headers, body.
struct EchoAll;
impl wiremock::Respond for EchoAll {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let headers: Vec<String> = req
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or_default()))
            .collect();
        ResponseTemplate::new(404).set_body_string(format!(
            "no such target {} {} {}",
            req.url,
            headers.join("; "),
            String::from_utf8_lossy(&req.body)
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Acknowledge links

/// The signed link the HTTP listener hands out, as the sinks get it.
pub const ACK: &str = "https://earshot.example.com/ack?m=12&exp=1&sig=ab";
/// The listener's default address: an ack link for a reader on the same host.
pub const ACK_LOOPBACK: &str = "http://127.0.0.1:9477/ack?m=12&exp=1&sig=ab";
/// Never rendered: not http(s), a space, a `|` (ends a Slack link), a `>`.
pub const HOSTILE_ACKS: [&str; 4] = [
    "javascript:alert(1)",
    "https://earshot.example.com/ack?m=1 2",
    "https://earshot.example.com/ack?m=1|https://evil.example",
    "https://earshot.example.com/ack>x",
];

fn with_ack(mut a: Alert, ack: Option<&str>) -> Alert {
    a.ack_url = ack.map(str::to_string);
    a
}

/// True when some string of `v` holds `url` as is, or HTML-escaped (`&amp;`, Telegram's `href`).
fn carries(v: &Value, url: &str) -> bool {
    let escaped = url.replace('&', "&amp;");
    all_strings(v)
        .iter()
        .any(|s| s.contains(url) || s.contains(&escaped))
}

fn mentions_ack(v: &Value) -> bool {
    all_strings(v)
        .iter()
        .any(|s| s.contains(earshot::sink::ACK_LABEL) || s.contains("/ack?"))
}

/// Sends `alert` to a fresh server answering [`SinkCase::ok`] and returns the payload it got.
async fn case_wire<C: SinkCase>(alert: &Alert) -> Value {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(C::ok())
        .mount(&server)
        .await;
    let s = Sink::from_config(&C::config(&server.uri())).unwrap();
    s.send(&client(), alert).await.unwrap();
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    C::body(&reqs[0])
}

pub async fn case_ack_link<C: SinkCase>() {
    let kind = C::KIND.as_str();
    let plain = case_wire::<C>(&Alert::sample()).await;
    assert!(
        !mentions_ack(&plain),
        "{kind}: an ack without ack_url: {plain}"
    );

    for ack in [ACK, ACK_LOOPBACK] {
        let v = case_wire::<C>(&with_ack(Alert::sample(), Some(ack))).await;
        assert!(carries(&v, ack), "{kind}: {ack} not on the wire: {v}");
        assert!(
            all_strings(&v)
                .iter()
                .any(|s| s.contains(earshot::sink::ACK_LABEL))
                || C::KIND == SinkKind::Webhook,
            "{kind}: no Acknowledge label: {v}"
        );
        // Everything else is as it was, bar the excerpt (which may give way to the link).
        for key in ["topic", "title", "chat_id", "to"] {
            assert_eq!(v.get(key), plain.get(key), "{kind}: {key} changed");
        }
    }

    // Cutting a huge mention never cuts the link.
    let long = "😀日本語🎉 ".repeat(3000);
    let mut big = hostile_alert(&long, Some("https://example.com/post/1"));
    big.reasons = vec![long.clone(); 5];
    let v = case_wire::<C>(&with_ack(big, Some(ACK))).await;
    assert!(
        carries(&v, ACK),
        "{kind}: the ack link was cut from a long mention"
    );

    // A hostile link is not rendered at all: the payload is the one without a link.
    for bad in HOSTILE_ACKS {
        let v = case_wire::<C>(&with_ack(Alert::sample(), Some(bad))).await;
        assert_eq!(v, plain, "{kind}: {bad:?} changed the payload");
    }
}

/// A catch-up of two mentions (critical and low), as quiet hours send it.
fn summary_alert() -> Alert {
    let mut low = Alert::sample();
    low.id = "msg_low".into();
    low.urgency = 12;
    low.level = earshot::urgency::Level::Low;
    low.sentiment.compound = 0.6;
    Alert::catch_up(&[low, Alert::sample()], "during quiet hours")
}

/// A notice from earshot, as a silence's announcement is.
fn notice_alert() -> Alert {
    Alert::notice(
        "silence-3-added".into(),
        "acme",
        "Silence 3 added: author=spam".into(),
        "Known spammer. Until 2026-06-01 00:00 UTC, matching mentions are stored but not sent."
            .into(),
        1_780_000_000,
    )
}

/// Each target lays out a mention, a summary and a notice differently: a summary shows its most
/// urgent line's level and no sentiment of its own, a notice neither urgency nor sentiment.
pub async fn case_layouts<C: SinkCase>() {
    use earshot::alert::Form;
    let kind = C::KIND.as_str();
    let has = |v: &Value, needle: &str| all_strings(v).iter().any(|s| s.contains(needle));

    let mention = case_wire::<C>(&Alert::sample()).await;
    let summary = case_wire::<C>(&summary_alert()).await;
    let notice = case_wire::<C>(&notice_alert()).await;
    let mut digest_alert = notice_alert();
    digest_alert.form = Form::Digest;
    let digest = case_wire::<C>(&digest_alert).await;
    let mut spike_alert = notice_alert();
    spike_alert.form = Form::Spike;
    spike_alert.level = earshot::urgency::Level::High;
    spike_alert.urgency = 50;
    spike_alert.title = Some("48 mentions of acme in the last hour (usually 6)".into());
    spike_alert.reasons = vec!["volume 8× the usual (48 against 6)".into()];
    let spike = case_wire::<C>(&spike_alert).await;
    C::check("summary", &summary);
    C::check("notice", &notice);
    C::check("notice", &digest);
    C::check("notice", &spike);
    if C::KIND == SinkKind::Webhook {
        // Machines read the form.
        assert!(mention["data"].get("form").is_none(), "{mention}");
        assert_eq!(summary["data"]["form"], "summary");
        assert_eq!(notice["data"]["form"], "notice");
        assert_eq!(digest["data"]["form"], "digest");
        assert_eq!(spike["data"]["form"], "spike");
        return;
    }
    assert!(has(&mention, "Critical mention"), "{kind}: {mention}");
    assert!(has(&mention, "Sentiment"), "{kind}: {mention}");

    assert!(has(&summary, "Summary"), "{kind}: {summary}");
    assert!(has(&summary, "Most urgent"), "{kind}: {summary}");
    assert!(has(&summary, "78/100"), "{kind}: the top level: {summary}");
    assert!(
        has(&summary, "2 mentions held during quiet hours"),
        "{kind}: {summary}"
    );
    assert!(!has(&summary, "Sentiment"), "{kind}: {summary}");
    assert!(!has(&summary, "Critical mention"), "{kind}: {summary}");
    assert!(!has(&summary, "earshot · earshot"), "{kind}: {summary}");

    assert!(has(&notice, "Notice"), "{kind}: {notice}");
    assert!(has(&notice, "Silence 3 added"), "{kind}: {notice}");
    for absent in [
        "Sentiment",
        "Urgency",
        "Most urgent",
        "/100",
        "mention ·",
        "earshot · earshot",
    ] {
        assert!(
            !has(&notice, absent),
            "{kind}: {absent:?} in a notice: {notice}"
        );
    }
    assert_eq!(notice_alert().form, Form::Notice);
    assert!(has(&digest, "Digest"), "{kind}: {digest}");
    for absent in ["Sentiment", "Urgency", "Most urgent", "Notice"] {
        assert!(
            !has(&digest, absent),
            "{kind}: {absent:?} in a digest: {digest}"
        );
    }
    assert!(has(&spike, "Spike"), "{kind}: {spike}");
    assert!(has(&spike, "48 mentions of acme"), "{kind}: {spike}");
    assert!(has(&spike, "volume 8×"), "{kind}: the reason: {spike}");
    for absent in ["Sentiment", "Urgency", "Most urgent", "Notice", "/100"] {
        assert!(
            !has(&spike, absent),
            "{kind}: {absent:?} in a spike: {spike}"
        );
    }
}

#[tokio::test]
async fn stdout_lays_out_summaries_and_notices() {
    let summary = stdout_capture(StdoutFormat::Text, &summary_alert()).await;
    let first = summary.lines().next().unwrap();
    assert_eq!(first, "[SUMMARY · CRITICAL 78] acme", "{summary}");
    assert!(!summary.contains("sentiment:"), "{summary}");
    let notice = stdout_capture(StdoutFormat::Text, &notice_alert()).await;
    assert_eq!(
        notice,
        "[NOTICE] acme\nSilence 3 added: author=spam\n2026-05-28 20:26 UTC\n  \
         Known spammer. Until 2026-06-01 00:00 UTC, matching mentions are stored but not sent.\n\n"
    );
    let json = stdout_capture(StdoutFormat::Json, &notice_alert()).await;
    let back: Alert = serde_json::from_str(json.trim_end()).unwrap();
    assert_eq!(back, notice_alert());
    let mut spike = notice_alert();
    spike.form = earshot::alert::Form::Spike;
    let text = stdout_capture(StdoutFormat::Text, &spike).await;
    assert_eq!(text.lines().next(), Some("[SPIKE] acme"), "{text}");
}

#[tokio::test]
async fn stdout_shows_the_ack_link_in_text_and_json() {
    let text = stdout_capture(StdoutFormat::Text, &with_ack(Alert::sample(), Some(ACK))).await;
    assert!(text.lines().any(|l| l == format!("ack: {ACK}")), "{text}");
    let json = stdout_capture(StdoutFormat::Json, &with_ack(Alert::sample(), Some(ACK))).await;
    let v: Value = serde_json::from_str(json.trim_end()).unwrap();
    assert_eq!(v["ack_url"], ACK);
    for format in [StdoutFormat::Text, StdoutFormat::Json] {
        let plain = stdout_capture(format, &Alert::sample()).await;
        assert!(!plain.contains("ack"), "{plain}");
        for bad in HOSTILE_ACKS {
            let got = stdout_capture(format, &with_ack(Alert::sample(), Some(bad))).await;
            assert_eq!(got, plain, "{bad:?}");
        }
    }
}

#[tokio::test]
async fn only_discord_and_telegram_edit_and_the_rest_reply_by_sending() {
    use earshot::sink::Followup;
    let server = receiver(ResponseTemplate::new(200).set_body_string("ok")).await;
    let slack = sink(SinkKind::Slack, hook_url(&server));
    assert!(!slack.can_edit());
    assert_eq!(slack.followup(), Followup::Separate);
    let e = slack
        .edit(&client(), "123", &Alert::sample())
        .await
        .unwrap_err();
    assert_eq!((e.retry, e.status), (Retry::Never, None));
    assert!(e.message.contains("cannot edit"), "{}", e.message);
    // A reply on a target without replies is a plain send.
    slack
        .send_reply(&client(), &Alert::sample(), Some("123"))
        .await
        .unwrap();
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1, "edit sent nothing, the reply one message");
    let body: Value = reqs[0].body_json().unwrap();
    assert_eq!(
        body,
        send_and_capture(SinkKind::Slack, &Alert::sample()).await
    );
    let discord = sink(SinkKind::Discord, hook_url(&server));
    assert!(discord.can_edit());
    assert_eq!(discord.followup(), Followup::Edit);
}

macro_rules! sink_suites {
    ($($module:ident :: $case:ident),* $(,)?) => {
        $(
            mod $module;
        )*
        mod suite {
            $(
                mod $module {
                    use crate::$module::$case as C;

                    #[tokio::test]
                    async fn snapshot_and_preview_match_the_wire() {
                        crate::case_snapshot_and_preview_match_the_wire::<C>().await;
                    }

                    #[test]
                    fn hostile_corpus() {
                        crate::case_hostile_corpus::<C>();
                    }

                    #[tokio::test]
                    async fn status_code_table() {
                        crate::case_status_code_table::<C>().await;
                    }

                    #[tokio::test]
                    async fn canary_never_leaks() {
                        crate::case_canary_never_leaks::<C>().await;
                    }

                    #[tokio::test]
                    async fn ack_link() {
                        crate::case_ack_link::<C>().await;
                    }

                    #[tokio::test]
                    async fn layouts() {
                        crate::case_layouts::<C>().await;
                    }
                }
            )*
        }
    };
}

// Stdout has no HTTP, so it is no `SinkCase`: its module runs the corpus and the limits itself.
mod stdout;

sink_suites!(
    slack::Slack,
    discord::Discord,
    webhook::Webhook,
    teams::Teams,
    googlechat::GoogleChat,
    mattermost::Mattermost,
    telegram::Telegram,
    zulip::Zulip,
    rocketchat::RocketChat,
    ntfy::Ntfy,
);
