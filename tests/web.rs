//! The digest web endpoints end to end: `serve_with` on a loopback port over a real store with
//! thirty days of synthetic history, asked over HTTP; then the page in a real headless Chromium
//! driven through chromedriver's W3C WebDriver protocol, which checks that the charts are drawn
//! from the data behind them and takes screenshots at laptop and phone sizes.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use earshot::ack::AckKey;
use earshot::digest::{self, Request};
use earshot::http::{AckHandler, HttpState, Limits, WebState, serve_with};
use earshot::store::{MentionFilter, NewMention, PollCommit, Scores, SentimentBucket, Store};
use earshot::urgency::Level;
use earshot::web;
use earshot_connectors::{Author, Mention, SourceState};
use tokio_util::sync::CancellationToken;

/// The fixed clock of every server here: midnight, so `since=24h` is exactly the 21st.
fn now() -> DateTime<Utc> {
    at("2026-11-22T00:00:00Z")
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test time")
        .with_timezone(&Utc)
}

/// A mention to store: platform id, title, text, author, compound, watches.
struct Row<'a> {
    id: String,
    title: &'a str,
    text: &'a str,
    author: &'a str,
    compound: f64,
    watches: &'a [&'a str],
}

fn level_of(compound: f64) -> (Level, u8) {
    match compound {
        c if c <= -0.7 => (Level::Critical, 90),
        c if c <= -0.4 => (Level::High, 70),
        c if c < 0.0 => (Level::Normal, 40),
        _ => (Level::Low, 10),
    }
}

fn commit(store: &Store, source: &str, t: DateTime<Utc>, rows: &[Row]) {
    let state = SourceState::default();
    let mentions = rows
        .iter()
        .map(|r| {
            let (level, urgency) = level_of(r.compound);
            NewMention {
                mention: Mention {
                    platform_id: r.id.clone(),
                    text: r.text.to_string(),
                    title: Some(r.title.to_string()),
                    url: Some(format!("https://example.com/{}", r.id)),
                    author: Author {
                        handle: Some(r.author.to_string()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                lang: Some("en".into()),
                scores: Scores {
                    sentiment: earshot::sentiment::Sentiment {
                        compound: r.compound,
                        ..Default::default()
                    },
                    urgency,
                    level,
                    reasons: vec![],
                },
                silenced_by: None,
                escalation: None,
                watches: r.watches.iter().map(|w| w.to_string()).collect(),
                deliveries: vec![],
            }
        })
        .collect();
    store
        .commit_poll(&PollCommit {
            source_id: source,
            source_kind: "feed",
            now: t.timestamp(),
            state: &state,
            seen_ids: rows.iter().map(|r| r.id.clone()).collect(),
            mentions,
            next_poll_at: t.timestamp() + 600,
            notice: None,
        })
        .expect("commit");
}

const HOSTILE_TITLE: &str = "<script>alert('t')</script><img src=x onerror=alert(1)>";
const SOURCES: [&str; 3] = ["blog", "forum", "news"];

/// Thirty days of `acme` mentions on three sources (every fourth day quiet), a busy 21st, and
/// on the 21st at 11:30 three on `reddit`: one with a hostile title, two of `rival`, one of
/// them written to be a spreadsheet formula.
fn history() -> Store {
    let store = Store::open_in_memory().expect("store");
    for d in 1..=30i64 {
        if d % 4 == 3 {
            continue;
        }
        let hours: Vec<i64> = if d == 1 {
            (0..24).filter(|h| h * 5 % 3 != 0).collect()
        } else {
            vec![8, 13, 19]
        };
        for h in hours {
            let t = now() - chrono::Duration::days(d) + chrono::Duration::hours(h);
            let ids: Vec<String> = (0..1 + (h + d) % 3)
                .map(|i| format!("g{d}-{h}-{i}"))
                .collect();
            let rows: Vec<Row> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| Row {
                    id: id.clone(),
                    title: "acme news",
                    text: "something about acme",
                    author: ["ann", "bob", "dana"][(h as usize + i) % 3],
                    compound: (((h * 7 + d * 3 + i as i64) % 11) as f64 / 5.0 - 0.9).min(1.0),
                    watches: &["acme"],
                })
                .collect();
            commit(
                &store,
                SOURCES[(h % 3) as usize],
                t + chrono::Duration::minutes(10),
                &rows,
            );
        }
    }
    commit(
        &store,
        "reddit",
        at("2026-11-21T11:30:00Z"),
        &[
            Row {
                id: "hostile".into(),
                title: HOSTILE_TITLE,
                text: "acme \"quoted\", with a comma",
                author: "mallory",
                compound: -0.95,
                watches: &["acme"],
            },
            Row {
                id: "formula".into(),
                title: "=HYPERLINK(\"https://evil.example\",\"x\")",
                text: "-2+3",
                author: "@eve",
                compound: -0.6,
                watches: &["rival"],
            },
            Row {
                id: "r2".into(),
                title: "rival is nice",
                text: "nice",
                author: "fay",
                compound: 0.7,
                watches: &["rival"],
            },
        ],
    );
    store
}

/// Acknowledge pages are not under test here.
struct NoAcks;

impl AckHandler for NoAcks {
    fn describe(&self, _: &[i64]) -> Vec<String> {
        Vec::new()
    }
    fn ack(&self, _: &[i64], _: &str) -> Result<usize, String> {
        Ok(0)
    }
}

struct Server {
    base: String,
    store: Arc<Store>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(web: bool) -> Server {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = Arc::new(history());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let state = HttpState {
            key: Arc::new(AckKey::from_bytes([7; 32])),
            handler: Arc::new(NoAcks),
            now: Arc::new(|| now().timestamp()),
            web: web.then(|| {
                Arc::new(WebState {
                    store: store.clone(),
                    watches: vec!["acme".into(), "rival".into()],
                    sources: ["blog", "forum", "news", "reddit"]
                        .map(String::from)
                        .to_vec(),
                })
            }),
            ops: None,
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve_with(
            listener,
            state,
            shutdown.clone(),
            Limits::default(),
        ));
        Server {
            base: format!("http://{addr}"),
            store,
            shutdown,
            task,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.expect("body");
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("serve did not panic")
            .expect("serve ended cleanly");
    }
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn assert_protected(&self, content_type: &str) {
        assert_eq!(self.header("content-type"), content_type, "{}", self.body);
        assert_eq!(self.header("cache-control"), "no-store");
        assert_eq!(self.header("referrer-policy"), "no-referrer");
        assert_eq!(self.header("x-frame-options"), "DENY");
        assert_eq!(self.header("x-content-type-options"), "nosniff");
    }
}

fn day_req(watches: &[&str]) -> Request {
    Request {
        from: at("2026-11-21T00:00:00Z"),
        to: now(),
        watches: watches.iter().map(|w| w.to_string()).collect(),
    }
}

#[tokio::test]
async fn digest_json_is_the_digest_of_the_store() {
    let s = Server::start(true).await;
    for (path, watches) in [
        ("/digest.json", vec![]),
        ("/digest.json?since=24h&watch=acme", vec!["acme"]),
        (
            "/digest.json?from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z&watch=rival&watch=acme",
            vec!["rival", "acme"],
        ),
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.assert_protected("application/json");
        let want = digest::compute(&s.store, &day_req(&watches)).expect("compute");
        assert_eq!(r.body, digest::render_json(&want), "{path}");
    }
    // The rival's two, the hostile one is acme's only.
    let r = s.get("/digest.json?watch=rival").await;
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["current"]["mentions"], 2);
    s.stop().await;
}

#[tokio::test]
async fn the_page_draws_the_digest_and_escapes_titles() {
    let s = Server::start(true).await;
    let r = s.get("/digest?since=24h&watch=acme").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.assert_protected("text/html; charset=utf-8");
    assert_eq!(
        r.header("content-security-policy"),
        earshot::http::CONTENT_SECURITY_POLICY
    );
    let html = &r.body;
    let d = digest::compute(&s.store, &day_req(&["acme"])).expect("compute");
    assert_eq!(html.matches("<g class=\"bar\"").count(), 24);
    for h in &d.hourly {
        let needle = format!(
            "data-start=\"{}\" data-count=\"{}\"",
            h.hour.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            h.mentions
        );
        assert!(html.contains(&needle), "{needle}");
    }
    let days = web::daily(&s.store, &d.watches, d.to).expect("daily");
    let points = days.iter().filter(|p| p.average_compound.is_some()).count();
    assert!(points > 15, "{points}");
    assert_eq!(html.matches("<circle class=\"day\"").count(), points);
    for src in &d.top_sources {
        assert!(html.contains(&format!(
            "data-source=\"{}\" data-count=\"{}\"",
            src.name, src.mentions
        )));
    }
    // The hostile title is in the most negative table, as text.
    assert!(!html.contains("<script"), "a script tag got through");
    assert!(!html.contains("<img"), "an img tag got through");
    assert!(html.contains(
        "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    ));
    assert!(html.contains("<a href=\"https://example.com/hostile\""));
    // Selected in the form; the downloads keep the period and the watch.
    assert!(html.contains("<option value=\"24h\" selected>"));
    assert!(html.contains("<option value=\"acme\" selected>"));
    assert!(html.contains(
        "href=\"digest.json?from=2026-11-21T00%3A00%3A00Z&amp;to=2026-11-22T00%3A00%3A00Z&amp;watch=acme\""
    ));
    // Thirty days are charted by day, each bar the sum of its hours.
    let r = s.get("/digest?since=30d").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<h2>Mentions per day</h2>"));
    assert!(r.body.contains("<option value=\"30d\" selected>"));
    let month = digest::compute(
        &s.store,
        &Request {
            from: now() - chrono::Duration::days(30),
            to: now(),
            watches: vec![],
        },
    )
    .expect("compute");
    let (bars, unit) = web::volume_buckets(&month.hourly);
    assert_eq!((bars.len(), unit), (30, "day"));
    assert_eq!(r.body.matches("<g class=\"bar\"").count(), 30);
    assert_eq!(
        bars.iter().map(|b| b.mentions).sum::<i64>(),
        month.current.mentions
    );
    for b in &bars {
        assert!(r.body.contains(&format!(
            "data-start=\"{}\" data-count=\"{}\"",
            b.hour.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            b.mentions
        )));
    }
    // HEAD answers like GET, without the page.
    let head = reqwest::Client::new()
        .head(format!("{}/digest", s.base))
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), 200);
    s.stop().await;
}

/// A minimal RFC 4180 reader: quoted fields, doubled quotes, CRLF records.
fn parse_csv(s: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, s.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => assert_eq!(chars.next(), Some('\n'), "CR without LF"),
            (false, '\n') => panic!("a record ends with LF alone"),
            (false, c) => cell.push(c),
        }
        if !quoted && c == '\r' {
            row.push(std::mem::take(&mut cell));
            rows.push(std::mem::take(&mut row));
        }
    }
    assert!(
        row.is_empty() && cell.is_empty(),
        "the last record has no CRLF"
    );
    rows
}

#[tokio::test]
async fn mentions_csv_applies_the_filters_of_earshot_mentions() {
    let s = Server::start(true).await;
    let n = now().timestamp();
    let cases: Vec<(&str, MentionFilter)> = vec![
        (
            "",
            MentionFilter {
                limit: 50,
                ..Default::default()
            },
        ),
        (
            "?watch=rival",
            MentionFilter {
                watch: Some("rival".into()),
                limit: 50,
                ..Default::default()
            },
        ),
        (
            "?source=reddit&limit=2",
            MentionFilter {
                source: Some("reddit".into()),
                limit: 2,
                ..Default::default()
            },
        ),
        (
            "?since=24h&min_urgency=critical&limit=1000",
            MentionFilter {
                since: Some(n - 86_400),
                min_level: Some(Level::Critical),
                limit: 1000,
                ..Default::default()
            },
        ),
        (
            "?watch=acme&sentiment=positive&from=2026-11-10T00:00:00Z&to=2026-11-15T00:00:00Z&limit=10000",
            MentionFilter {
                watch: Some("acme".into()),
                sentiment: Some(SentimentBucket::Positive),
                since: Some(at("2026-11-10T00:00:00Z").timestamp()),
                until: Some(at("2026-11-15T00:00:00Z").timestamp()),
                limit: 10_000,
                ..Default::default()
            },
        ),
    ];
    for (query, filter) in cases {
        let r = s.get(&format!("/mentions.csv{query}")).await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        r.assert_protected("text/csv; charset=utf-8; header=present");
        assert!(r.header("content-disposition").starts_with("attachment"));
        let rows = parse_csv(&r.body);
        assert_eq!(rows[0][0], "id");
        assert!(rows.iter().all(|r| r.len() == rows[0].len()), "{query}");
        let want: Vec<String> = s
            .store
            .mentions(&filter)
            .expect("mentions")
            .iter()
            .map(|m| m.id.to_string())
            .collect();
        let got: Vec<String> = rows[1..].iter().map(|r| r[0].clone()).collect();
        assert!(!want.is_empty(), "{query}: the case selects nothing");
        assert_eq!(got, want, "{query}");
    }

    // Cells: quoted where needed, and formulas shown as text.
    let r = s.get("/mentions.csv?source=reddit").await;
    let rows = parse_csv(&r.body);
    let col = |name: &str| rows[0].iter().position(|c| c == name).expect(name);
    let find = |url: &str| {
        rows.iter()
            .find(|r| r[col("url")] == url)
            .unwrap_or_else(|| panic!("{url} in {rows:?}"))
    };
    let f = find("https://example.com/formula");
    assert_eq!(
        f[col("title")],
        "'=HYPERLINK(\"https://evil.example\",\"x\")"
    );
    assert_eq!(f[col("text")], "'-2+3");
    assert_eq!(f[col("author")], "'@eve");
    assert_eq!(f[col("compound")], "-0.6000");
    assert_eq!(f[col("sentiment")], "negative");
    assert_eq!(f[col("level")], "high");
    assert_eq!(f[col("seen_at")], "2026-11-21T11:30:00Z");
    let h = find("https://example.com/hostile");
    assert_eq!(h[col("text")], "acme \"quoted\", with a comma");
    assert_eq!(h[col("title")], HOSTILE_TITLE);
    assert!(r.body.contains("\"acme \"\"quoted\"\", with a comma\""));
    s.stop().await;
}

#[tokio::test]
async fn bad_parameters_say_what_to_write() {
    let s = Server::start(true).await;
    for (path, status, needle) in [
        ("/digest?since=soon", 400, "since"),
        (
            "/digest.json?from=2026-11-01T00:00:00Z",
            400,
            "give from and to together",
        ),
        ("/digest?from=yesterday&to=today", 400, "RFC 3339"),
        // Ten years of hourly series would be megabytes: a digest covers a quarter at most.
        (
            "/digest.json?since=3660d",
            400,
            "the period is longer than 92d: choose a shorter one",
        ),
        (
            "/digest?sinse=7d",
            400,
            "unknown parameter \"sinse\": use since, from, to, watch",
        ),
        (
            "/digest?watch=nope",
            404,
            "watch \"nope\": no such watch (configured: acme, rival)",
        ),
        ("/digest.json?watch=%3Cb%3E", 404, "no such watch"),
        (
            "/mentions.csv?limit=0",
            400,
            "limit=\"0\": give a number of rows from 1 to 10000",
        ),
        (
            "/mentions.csv?min_urgency=soon",
            400,
            "use low, normal, high or critical",
        ),
        (
            "/mentions.csv?sentiment=angry",
            400,
            "use positive, neutral or negative",
        ),
        (
            "/mentions.csv?source=twitter",
            404,
            "configured: blog, forum, news, reddit",
        ),
        ("/mentions.csv?format=json", 400, "unknown parameter"),
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        r.assert_protected("text/plain; charset=utf-8");
        assert!(r.body.contains(needle), "{path}: {}", r.body);
    }
    // The message is plain text: a hostile watch name is not markup anywhere.
    let r = s.get("/digest?watch=%3Cscript%3E").await;
    assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
    let post = reqwest::Client::new()
        .post(format!("{}/digest", s.base))
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    s.stop().await;

    // Without the store the routes do not exist.
    let s = Server::start(false).await;
    for path in ["/digest", "/digest.json", "/mentions.csv"] {
        assert_eq!(s.get(path).await.status, 404, "{path}");
    }
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The real browser.

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a loopback port it chose; killed when dropped.
struct Driver {
    base: String,
    _child: tokio::process::Child,
}

impl Driver {
    async fn start() -> Driver {
        use tokio::io::AsyncBufReadExt;
        // The time-shifted pass of the suite (`cargo test-next-year`) runs this test under
        // libfaketime; Chromium spins under its preload, so the browser keeps the real clock
        // (the page and its data come from this process, on the shifted one).
        let mut child = tokio::process::Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .env_remove("LD_PRELOAD")
            .env_remove("FAKETIME")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        // It prints the port it bound once it listens: no polling needed.
        let port = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read chromedriver") {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return rest.trim_end_matches('.').trim().parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .expect("chromedriver did not start in 30s")
        .expect("chromedriver did not say its port");
        // Keep reading, so a chatty chromedriver never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Driver {
            base: format!("http://127.0.0.1:{port}"),
            _child: child,
        }
    }
}

/// One WebDriver session; deleted when dropped (which closes Chromium), also when a check fails.
struct Session {
    client: reqwest::Client,
    url: String,
    _profile: tempfile::TempDir,
}

impl Session {
    async fn new(driver: &Driver) -> Session {
        let profile = tempfile::tempdir().expect("profile dir");
        let client = reqwest::Client::new();
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let v: serde_json::Value = client
            .post(format!("{}/session", driver.base))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        Session {
            client,
            url: format!("{}/session/{id}", driver.base),
            _profile: profile,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if !body.is_null() {
            req = req.json(&body);
        }
        let r = req.send().await.expect("webdriver request");
        let status = r.status();
        let v: serde_json::Value = r.json().await.expect("webdriver json");
        assert!(status.is_success(), "{path}: {status} {v}");
        v["value"].clone()
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        self.call(reqwest::Method::POST, path, body).await
    }

    async fn js(&self, script: &str) -> serde_json::Value {
        self.post(
            "/execute/sync",
            serde_json::json!({"script": script, "args": []}),
        )
        .await
    }

    async fn resize(&self, width: u32, height: u32) {
        self.post(
            "/window/rect",
            serde_json::json!({"width": width, "height": height}),
        )
        .await;
    }

    /// The page as PNG bytes, checked to be a PNG; returns (bytes, width, height).
    async fn screenshot(&self, path: &std::path::Path) -> (usize, u32, u32) {
        use base64::Engine as _;
        let b64 = self
            .call(reqwest::Method::GET, "/screenshot", serde_json::Value::Null)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 string"))
            .expect("base64");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        assert_eq!(&png[12..16], b"IHDR");
        let w = u32::from_be_bytes(png[16..20].try_into().expect("width"));
        let h = u32::from_be_bytes(png[20..24].try_into().expect("height"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("screenshot dir");
        std::fs::write(path, &png).expect("write screenshot");
        (png.len(), w, h)
    }
}

impl Session {
    /// A screenshot of the whole page at this width: the window is made as tall as the page.
    async fn full_page(&self, width: u32, path: &std::path::Path) -> (usize, u32, u32) {
        self.resize(width, 900).await;
        let sizes = self
            .js("return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]")
            .await;
        let page = sizes[0].as_u64().unwrap_or(900).clamp(400, 8000) as u32;
        let chrome = sizes[1].as_u64().unwrap_or(0).min(400) as u32;
        self.resize(width, page + chrome).await;
        self.screenshot(path).await
    }

    /// The browser's console entries at level SEVERE since the last call.
    async fn severe_logs(&self) -> Vec<serde_json::Value> {
        let logs = self
            .post("/se/log", serde_json::json!({"type": "browser"}))
            .await;
        logs.as_array()
            .expect("log entries")
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .cloned()
            .collect()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Drop cannot await: a plain blocking DELETE on the loopback, so Chromium never outlives
        // the test even when a check fails.
        use std::io::{Read as _, Write as _};
        let Some(rest) = self.url.strip_prefix("http://") else {
            return;
        };
        let Some((host, path)) = rest.split_once('/') else {
            return;
        };
        if let Ok(mut c) = std::net::TcpStream::connect(host) {
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let _ = write!(
                c,
                "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = c.read_to_end(&mut Vec::new());
        }
    }
}

fn installed() {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !std::path::Path::new(p).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "{} missing: this test drives a real headless browser. Run .ci/run (it installs them), \
         or `sudo apt-get install chromium chromium-driver`",
        missing.join(" and ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_real_browser() {
    installed();
    let s = Server::start(true).await;
    let d = digest::compute(&s.store, &day_req(&[])).expect("compute");
    let days = web::daily(&s.store, &[], d.to).expect("daily");
    let driver = Driver::start().await;
    let session = Session::new(&driver).await;
    session.resize(1280, 900).await;
    session
        .post(
            "/url",
            serde_json::json!({"url": format!("{}/digest?since=24h", s.base)}),
        )
        .await;
    assert_eq!(session.js("return document.readyState").await, "complete");
    assert_eq!(
        session.js("return document.title").await,
        "earshot digest: all watches · earshot"
    );

    // The three charts are laid out with a size.
    let charts = session
        .js(
            "return Array.from(document.querySelectorAll('svg.chart')).map(s => {\
               const r = s.getBoundingClientRect(); return [s.id, r.width, r.height]; })",
        )
        .await;
    let charts = charts.as_array().expect("array");
    let ids: Vec<&str> = charts.iter().map(|c| c[0].as_str().unwrap_or("")).collect();
    assert_eq!(ids, ["chart-volume", "chart-sentiment", "chart-sources"]);
    for c in charts {
        assert!(
            c[1].as_f64() > Some(600.0) && c[2].as_f64() > Some(20.0),
            "{c}"
        );
    }

    // Volume: one bar per hour with its count, and drawn heights in proportion to it.
    let bars = session
        .js("return Array.from(document.querySelectorAll('#chart-volume g.bar')).map(g => \
               [g.dataset.start, Number(g.dataset.count), \
                Array.from(g.querySelectorAll('rect')).reduce((h, r) => h + r.getBoundingClientRect().height, 0), \
                Array.from(g.querySelectorAll('rect')).reduce((n, r) => n + Number(r.dataset.count), 0)])")
        .await;
    let bars = bars.as_array().expect("array");
    assert_eq!(bars.len(), d.hourly.len());
    let top = web::nice_ceiling(d.hourly.iter().map(|h| h.mentions).max().unwrap_or(0));
    for (b, h) in bars.iter().zip(&d.hourly) {
        let start = h.hour.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert_eq!(b[0], start.as_str());
        assert_eq!(b[1], h.mentions, "{start}");
        assert_eq!(b[3], h.mentions, "{start}: the stacked parts add up");
        let want = h.mentions as f64 / top as f64 * 160.0;
        let got = b[2].as_f64().expect("height");
        assert!(
            (got - want).abs() < 1.0,
            "{start}: drawn {got}px, want {want}px"
        );
    }

    // Sentiment per day: a point per day with mentions, at its average.
    let points = session
        .js("return Array.from(document.querySelectorAll('#chart-sentiment circle.day')).map(c => \
               [c.dataset.day, Number(c.dataset.average), Number(c.dataset.count), c.getBoundingClientRect().width])")
        .await;
    let points = points.as_array().expect("array");
    let want: Vec<_> = days
        .iter()
        .filter(|p| p.average_compound.is_some())
        .collect();
    assert_eq!(points.len(), want.len());
    for (p, w) in points.iter().zip(want) {
        assert_eq!(p[0], w.day.format("%Y-%m-%d").to_string().as_str());
        let avg = w.average_compound.unwrap_or_default();
        assert!(
            (p[1].as_f64().unwrap_or(9.0) - avg).abs() < 0.001,
            "{p} vs {avg}"
        );
        assert_eq!(p[2], w.mentions);
        assert!(p[3].as_f64() > Some(0.0), "{p}: not drawn");
    }

    // Sources: the split adds up to the period's mentions, widths in proportion.
    let parts = session
        .js(
            "return Array.from(document.querySelectorAll('#chart-sources rect.source')).map(r => \
               [r.dataset.source, Number(r.dataset.count), r.getBoundingClientRect().width, \
                r.ownerSVGElement.getBoundingClientRect().width])",
        )
        .await;
    let parts = parts.as_array().expect("array");
    let total: i64 = parts.iter().map(|p| p[1].as_i64().unwrap_or(0)).sum();
    assert_eq!(total, d.current.mentions);
    assert_eq!(parts.len(), d.top_sources.len());
    for (p, src) in parts.iter().zip(&d.top_sources) {
        assert_eq!(p[0], src.name.as_str());
        assert_eq!(p[1], src.mentions);
        let share = p[2].as_f64().unwrap_or(0.0) / p[3].as_f64().unwrap_or(1.0);
        let want = src.mentions as f64 / total as f64;
        assert!((share - want).abs() < 0.01, "{p}: {share} vs {want}");
    }
    // The hostile title is text on the page, not an element.
    assert_eq!(
        session
            .js("return document.querySelectorAll('script, img').length")
            .await,
        0
    );
    let text = session.js("return document.body.innerText").await;
    assert!(
        text.as_str()
            .unwrap_or("")
            .contains("<script>alert('t')</script>")
    );

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    // The whole page at laptop width.
    let (size, w, _) = session.full_page(1280, &dir.join("digest.png")).await;
    assert!(size > 20_000 && w >= 1000, "{size} bytes, {w}px wide");

    // Printed: the form and the download links are left out, the charts kept.
    session
        .post(
            "/goog/cdp/execute",
            serde_json::json!({"cmd": "Emulation.setEmulatedMedia", "params": {"media": "print"}}),
        )
        .await;
    let printed = session
        .js(
            "return [getComputedStyle(document.querySelector('form')).display, \
               getComputedStyle(document.querySelector('footer')).display, \
               document.querySelector('#chart-volume').getBoundingClientRect().height]",
        )
        .await;
    assert_eq!(printed[0], "none", "{printed}");
    assert_eq!(printed[1], "none", "{printed}");
    assert!(printed[2].as_f64() > Some(100.0), "{printed}");
    session.full_page(800, &dir.join("digest-print.png")).await;
    session
        .post(
            "/goog/cdp/execute",
            serde_json::json!({"cmd": "Emulation.setEmulatedMedia", "params": {"media": ""}}),
        )
        .await;

    // A phone: nothing wider than the screen (tables scroll inside their box).
    session.resize(390, 844).await;
    let fit = session
        .js("return [document.documentElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth]")
        .await;
    assert!(
        fit[1].as_i64() <= Some(400),
        "{fit}: the window did not shrink"
    );
    assert!(
        fit[0].as_i64() <= fit[1].as_i64(),
        "{fit}: the page scrolls sideways on a phone"
    );
    let (size, w, _) = session.screenshot(&dir.join("digest-phone.png")).await;
    assert!(size > 10_000 && w <= 400 * 3, "{size} bytes, {w}px wide");
    session
        .full_page(390, &dir.join("digest-phone-full.png"))
        .await;

    // Nothing went wrong in the browser: no console errors (a CSP violation, a failed load).
    let severe = session.severe_logs().await;
    assert!(severe.is_empty(), "browser errors: {severe:?}");
    // And the log is really read: an error written now shows up.
    session
        .js("console.error('earshot-probe'); return null")
        .await;
    let probe = session.severe_logs().await;
    assert!(
        probe.iter().any(|e| e["message"]
            .as_str()
            .unwrap_or("")
            .contains("earshot-probe")),
        "the browser log is not being read: {probe:?}"
    );
    eprintln!("screenshots in {}", dir.display());
    drop(session);
    drop(driver);
    s.stop().await;
}
