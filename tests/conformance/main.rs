//! One conformance suite over every platform connector: the same checks, each platform
//! replaying its own recorded (or documented-shape) replies from a local server.
//!
//! * ids are stable across polls, and overlapping polls create no duplicates;
//! * the cursor advances;
//! * rate-limit headers saying the budget is spent hold the host (no request until the reset);
//! * a `429` with `Retry-After` holds the host too;
//! * a credential never reaches a log line (at trace level), an error, `status` or the
//!   database, even when the server echoes the request back.
//!
//! Adding a platform: write `tests/conformance/<kind>.rs` implementing [`Conformance`], and
//! add it to the `suites!` lists at the bottom (every; rate_limit_headers if it sends them;
//! credentials if it takes one).

use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine;
use earshot::config::Config;
use earshot::runtime::{Clock, Runtime};
use earshot::store::{MentionFilter, Store};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The credential every case is given: it must reach the server, and nothing else.
pub const SECRET: &str = "conformance-SECRET-7f3a9c1e5b";

/// The source id every case runs as.
const ID: &str = "conf";

/// What each platform contributes. Replies must all contain the word `acme`: the suite's one
/// watch is `acme`.
#[allow(async_fn_in_trait)]
pub trait Conformance {
    const KIND: &'static str;
    /// True when the source is given a credential (the leak check needs one).
    const HAS_SECRET: bool;
    /// This platform's rate-limit headers saying the budget is spent and resets in an hour;
    /// empty when the platform sends none.
    const SPENT: &'static [(&'static str, &'static str)];
    /// Distinct mentions round 1 serves.
    const ROUND1: usize;
    /// Mentions of round 2 that round 1 did not serve (round 2 repeats some of round 1).
    const ROUND2_NEW: usize;

    /// The platform's keys of the `[[source]]` table (after `id`, `kind` and `backfill`),
    /// with `base_url = "{base}"`, and the credential (if any) read from `secret_file`
    /// (`{ file = "..." }`).
    fn source(base: &str, secret_file: &str) -> String;

    /// Mounts every reply the connector needs for one poll of `round` (1 or 2), each
    /// carrying `headers` as well as its own.
    async fn mount(server: &MockServer, round: u8, headers: &[(&str, &str)]);
}

struct Setup {
    _dir: tempfile::TempDir,
    config_path: std::path::PathBuf,
    config: Config,
    server: MockServer,
}

async fn setup<P: Conformance>() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("credential");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let server = MockServer::start().await;
    let state = dir.path().join("state");
    let text = format!(
        "[daemon]\nallow_private_networks = true\nstate_dir = {state:?}\nuser_agent = \"earshot-conformance/0.1 (+https://example.com; ops@example.com)\"\nper_host_rps = 1000.0\n\n\
         [[source]]\nid = \"{ID}\"\nkind = \"{kind}\"\nbackfill = true\n{platform}\n\n\
         [[watch]]\nname = \"acme\"\nquery = \"acme\"\n",
        kind = P::KIND,
        platform = P::source(&server.uri(), secret_file.to_str().unwrap()),
    );
    let config_path = dir.path().join("earshot.toml");
    std::fs::write(&config_path, &text).unwrap();
    let config = Config::load(&config_path)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .config;
    Setup {
        _dir: dir,
        config_path,
        config,
        server,
    }
}

/// The instant the conformance runtimes start at; replies that carry times are built from it.
pub const NOW: i64 = 1_800_000_000;

fn runtime(s: &Setup) -> Runtime {
    Runtime::with_store(
        s.config.clone(),
        Arc::new(Store::open_in_memory().unwrap()),
        Clock::tokio_from(chrono::DateTime::from_timestamp(NOW, 0).unwrap()),
    )
    .unwrap()
}

fn mentions(rt: &Runtime) -> Vec<String> {
    let mut ids: Vec<String> = rt
        .store
        .mentions(&MentionFilter {
            limit: 10_000,
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|m| m.platform_id)
        .collect();
    ids.sort();
    ids
}

async fn poll(rt: &Runtime) -> earshot::runtime::PollReport {
    let source = rt.config.source(ID).unwrap().clone();
    rt.poll(&source, rt.now()).await.unwrap()
}

pub async fn ids_are_stable_and_overlaps_make_no_duplicates<P: Conformance>() {
    let s = setup::<P>().await;
    let rt = runtime(&s);
    P::mount(&s.server, 1, &[]).await;
    let first = poll(&rt).await;
    assert_eq!(first.error, None, "{first:?}");
    let after_first = mentions(&rt);
    assert_eq!(after_first.len(), P::ROUND1, "{after_first:?}");

    // The same replies again: the same ids, nothing new.
    let again = poll(&rt).await;
    assert_eq!(again.error, None, "{again:?}");
    assert_eq!(again.commit.new_mentions, 0, "{again:?}");
    assert_eq!(mentions(&rt), after_first);

    // Round 2 overlaps round 1: only what is new is added.
    s.server.reset().await;
    P::mount(&s.server, 2, &[]).await;
    let second = poll(&rt).await;
    assert_eq!(second.error, None, "{second:?}");
    assert_eq!(second.commit.new_mentions, P::ROUND2_NEW, "{second:?}");
    let all = mentions(&rt);
    assert_eq!(all.len(), P::ROUND1 + P::ROUND2_NEW, "{all:?}");
    assert!(after_first.iter().all(|id| all.contains(id)));
}

pub async fn the_cursor_advances<P: Conformance>() {
    let s = setup::<P>().await;
    let rt = runtime(&s);
    let cursor = |rt: &Runtime| rt.store.source(ID).unwrap().and_then(|r| r.state.cursor);
    P::mount(&s.server, 1, &[]).await;
    assert_eq!(poll(&rt).await.error, None);
    let c1 = cursor(&rt).expect("a cursor after the first poll");
    s.server.reset().await;
    P::mount(&s.server, 2, &[]).await;
    assert_eq!(poll(&rt).await.error, None);
    let c2 = cursor(&rt).expect("a cursor after the second poll");
    assert_ne!(c1, c2, "round 2 brought newer items, the cursor must move");
}

pub async fn a_spent_budget_holds_the_host<P: Conformance>() {
    assert!(
        !P::SPENT.is_empty(),
        "{}: no rate-limit headers to test",
        P::KIND
    );
    let s = setup::<P>().await;
    let rt = runtime(&s);
    P::mount(&s.server, 1, P::SPENT).await;
    let first = poll(&rt).await;
    let sent = s.server.received_requests().await.unwrap().len();
    assert!(sent > 0);
    // Whether or not the first poll finished, nothing more goes out before the reset.
    let second = poll(&rt).await;
    assert_eq!(
        s.server.received_requests().await.unwrap().len(),
        sent,
        "{first:?} {second:?}"
    );
    let err = second.error.expect("the held poll fails");
    assert!(err.contains("429"), "{err}");
}

pub async fn retry_after_holds_the_host<P: Conformance>() {
    let s = setup::<P>().await;
    let rt = runtime(&s);
    Mock::given(any())
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .mount(&s.server)
        .await;
    let first = poll(&rt).await;
    assert!(first.error.is_some(), "{first:?}");
    let sent = s.server.received_requests().await.unwrap().len();
    assert!(sent > 0);
    let second = poll(&rt).await;
    assert!(second.error.is_some(), "{second:?}");
    assert_eq!(s.server.received_requests().await.unwrap().len(), sent);
}

/// Echoes everything it was sent (headers, URL, body) back, as a hostile or careless
/// server might, with the given status and content type.
struct Echo {
    status: u16,
    html: bool,
}

impl Respond for Echo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let headers: Vec<String> = req
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or_default()))
            .collect();
        let echo = format!(
            "{} {} {}",
            req.url,
            headers.join("; "),
            String::from_utf8_lossy(&req.body)
        );
        if self.html {
            ResponseTemplate::new(self.status)
                .insert_header("content-type", "text/html")
                .set_body_string(format!(
                    "<!doctype html><html><head><title>Denied {echo}</title></head><body>{echo}</body></html>"
                ))
        } else {
            ResponseTemplate::new(self.status)
                .insert_header("content-type", "application/json")
                .set_body_json(serde_json::json!({"error": echo, "message": echo}))
        }
    }
}

/// True when a request carried the credential: as is (header, URL, body) or inside a
/// Basic authorisation.
fn carries_secret(req: &Request) -> bool {
    let basic = req.headers.get_all("authorization").iter().any(|v| {
        v.to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .is_some_and(|d| String::from_utf8_lossy(&d).contains(SECRET))
    });
    basic
        || req.url.as_str().contains(SECRET)
        || String::from_utf8_lossy(&req.body).contains(SECRET)
        || req
            .headers
            .iter()
            .any(|(_, v)| v.to_str().is_ok_and(|v| v.contains(SECRET)))
}

fn earshot(config: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_earshot"))
        .arg("--config")
        .arg(config)
        .args(["--log-level", "trace"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub async fn credentials_never_leak<P: Conformance>() {
    assert!(P::HAS_SECRET, "{}: no credential to test", P::KIND);
    let s = setup::<P>().await;
    let mut output = String::new();
    P::mount(&s.server, 1, &[]).await;
    output += &earshot(&s.config_path, &["once"]);
    for (status, html) in [(401, false), (403, true), (500, false), (200, false)] {
        s.server.reset().await;
        Mock::given(any())
            .respond_with(Echo { status, html })
            .mount(&s.server)
            .await;
        output += &earshot(&s.config_path, &["once"]);
    }
    output += &earshot(&s.config_path, &["status"]);
    output += &earshot(&s.config_path, &["status", "--json"]);
    output += &earshot(&s.config_path, &["check"]);
    assert!(
        !output.contains(SECRET),
        "the credential leaked into the output:\n{output}"
    );
    let db = std::fs::read(s.config.db_path()).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(SECRET));
    assert!(
        output.contains("401") || output.contains("HTML"),
        "the failing polls were reported:\n{output}"
    );
    // The test means something only if the credential was sent at all.
    s.server.reset().await;
    P::mount(&s.server, 1, &[]).await;
    earshot(&s.config_path, &["once"]);
    let requests = s.server.received_requests().await.unwrap();
    assert!(
        requests.iter().any(carries_secret),
        "no request carried the credential"
    );
}

/// A server that answers every request with a redirect to another origin (another port on
/// loopback: a different origin, as another host would be) must never see the credential go
/// there, in a header, the query, a `Referer` or a replayed body, whatever the status; the
/// poll fails with an error that says why.
pub async fn credentials_never_follow_a_redirect<P: Conformance>() {
    assert!(P::HAS_SECRET, "{}: no credential to test", P::KIND);
    for status in [301, 302, 307, 308] {
        let s = setup::<P>().await;
        let elsewhere = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
            .mount(&elsewhere)
            .await;
        let target = format!("{}/landing?next=1", elsewhere.uri());
        Mock::given(any())
            .respond_with(ResponseTemplate::new(status).insert_header("location", target.as_str()))
            .mount(&s.server)
            .await;
        let rt = runtime(&s);
        let report = poll(&rt).await;
        let sent = s.server.received_requests().await.unwrap();
        assert!(
            sent.iter().any(carries_secret),
            "{} {status}: the first server never got the credential: the test means nothing",
            P::KIND
        );
        let leaked: Vec<String> = elsewhere
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| carries_secret(r) || r.headers.contains_key("referer"))
            .map(|r| format!("{} {}", r.method, r.url))
            .collect();
        assert!(
            leaked.is_empty(),
            "{} {status}: the credential followed the redirect: {leaked:?}",
            P::KIND
        );
        let error = report.error.unwrap_or_default();
        assert!(
            error.contains("redirected to another address"),
            "{} {status}: {error:?}",
            P::KIND
        );
        assert!(
            !error.contains(SECRET) && !error.contains("next=1"),
            "{error}"
        );
    }
}

/// Generates the checks: every platform gets the first three; only platforms that send
/// rate-limit headers get the spent-budget check, and only those with a credential the leak
/// check (a platform's `SPENT` and `HAS_SECRET` must agree with the lists: checked too).
macro_rules! suites {
    (
        every: [$($platform:ident :: $case:ident),* $(,)?],
        rate_limit_headers: [$($limited:ident),* $(,)?],
        credentials: [$($secret:ident),* $(,)?] $(,)?
    ) => {
        $(
            mod $platform;
        )*

        const RATE_LIMITED: &[&str] = &[$(stringify!($limited)),*];
        const WITH_CREDENTIALS: &[&str] = &[$(stringify!($secret)),*];

        mod suite {
            $(
                pub(crate) mod $platform {
                    pub(crate) use crate::$platform::$case as P;
                    use crate::Conformance;

                    #[test]
                    fn the_lists_match_the_case() {
                        assert_eq!(crate::RATE_LIMITED.contains(&P::KIND), !P::SPENT.is_empty());
                        assert_eq!(crate::WITH_CREDENTIALS.contains(&P::KIND), P::HAS_SECRET);
                    }

                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn ids_are_stable_and_overlaps_make_no_duplicates() {
                        crate::ids_are_stable_and_overlaps_make_no_duplicates::<P>().await;
                    }

                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn the_cursor_advances() {
                        crate::the_cursor_advances::<P>().await;
                    }

                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn retry_after_holds_the_host() {
                        crate::retry_after_holds_the_host::<P>().await;
                    }
                }
            )*
        }

        mod rate_limit_headers {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $limited() {
                    crate::a_spent_budget_holds_the_host::<crate::suite::$limited::P>().await;
                }
            )*
        }

        mod credentials {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $secret() {
                    crate::credentials_never_leak::<crate::suite::$secret::P>().await;
                }
            )*
        }

        mod redirects {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $secret() {
                    crate::credentials_never_follow_a_redirect::<crate::suite::$secret::P>().await;
                }
            )*
        }
    };
}

suites!(
    every: [
        hackernews::HackerNews,
        reddit::Reddit,
        mastodon::Mastodon,
        bluesky::Bluesky,
        github::GitHub,
        stackexchange::StackExchange,
        lemmy::Lemmy,
        discourse::Discourse,
        youtube::YouTube,
        x::X,
        appstore::AppStore,
    ],
    rate_limit_headers: [reddit, mastodon, bluesky, github, x],
    credentials: [reddit, mastodon, bluesky, github, stackexchange, lemmy, discourse, youtube, x],
);
