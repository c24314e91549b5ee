//! earshot's connectors: each one knows one platform, asks it for what is new since the
//! source's cursor, and turns the reply into [`Mention`]s.
//!
//! A connector never touches the database and never decides whether a mention matters: it
//! fetches and normalises, nothing else. The daemon keeps each source's [`SourceState`] and hands
//! it back on the next poll.
//!
//! Each platform is one module with two types: a `...Config` (its part of a `[[source]]`
//! table, deserialised by the daemon's config loader, credentials as [`secret::Secret`]s) and a
//! connector built once from it ([`Connector::new`]) that keeps what must outlive a poll
//! (an OAuth token, a session, a follower-count cache) in memory, never in the database.
//!
//! Adding a platform: write one module (see [`hackernews`] for the shape), add one variant to
//! [`Platform`] and [`Connector`] and their arms below, a replay test in `connectors/tests/`,
//! and one case to the conformance suite (`tests/conformance/`).

pub mod appstore;
pub mod bluesky;
pub mod clock;
pub mod discourse;
pub mod feed;
pub mod github;
pub mod hackernews;
pub mod http;
pub mod lemmy;
pub mod mastodon;
pub mod netguard;
pub mod ratelimit;
pub mod reddit;
pub mod secret;
pub mod stackexchange;
pub mod text;
pub mod x;
pub mod youtube;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use clock::Clock;
pub use http::{FetchOptions, HostWaits, HttpFetcher, RateWaits};

/// Whether a mention opens a conversation or answers one (`type:post` / `type:comment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MentionKind {
    /// A post, story, article, issue, review: something that starts a thread.
    #[default]
    Post,
    /// A reply within a thread.
    Comment,
}

impl MentionKind {
    /// The lowercase name used in queries, the database and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            MentionKind::Post => "post",
            MentionKind::Comment => "comment",
        }
    }
}

/// Who wrote a mention, as far as the platform tells.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Author {
    /// The platform handle (`u/foo`, `@alice@mastodon.social`), or the feed's author name.
    pub handle: Option<String>,
    /// A display name, where it differs from the handle.
    pub display_name: Option<String>,
    /// Followers, karma or reputation, where the platform gives it: feeds urgency.
    pub reach: Option<u64>,
    /// The author's profile page.
    pub url: Option<String>,
}

/// How much attention a mention already has, where the platform tells. Feeds urgency.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Engagement {
    pub score: Option<i64>,
    pub likes: Option<u64>,
    pub replies: Option<u64>,
    pub reposts: Option<u64>,
}

/// The conversation a mention belongs to, so that alerts can later be grouped per thread.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Conversation {
    /// The id of the thread's root (a Reddit post, an HN story, a feed item whose comments these are).
    pub thread_id: Option<String>,
    /// The id of the item this one answers.
    pub parent_id: Option<String>,
}

/// One thing somebody said, normalised from any platform.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Mention {
    /// Stable id on the platform: with the source id it is the unique key in the store.
    pub platform_id: String,
    /// Link to the mention itself (redirect wrappers such as Google Alerts' already unwrapped).
    pub url: Option<String>,
    pub author: Author,
    /// Plain-text title, if the item has one.
    pub title: Option<String>,
    /// Plain text (HTML and markdown turned into text, entities decoded, scripts dropped).
    pub text: String,
    /// When it was written, if the platform says.
    pub created_at: Option<DateTime<Utc>>,
    pub kind: MentionKind,
    pub engagement: Engagement,
    pub conversation: Conversation,
    /// Language code given by the platform (`en`), if any; the daemon detects it otherwise.
    pub lang: Option<String>,
    /// A review's star rating, 1 (worst) to 5 (App Store): feeds urgency.
    pub rating: Option<u8>,
}

/// What the daemon remembers of a source between polls and hands back to its connector.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SourceState {
    /// `ETag` of the last full reply, sent back as `If-None-Match`.
    pub etag: Option<String>,
    /// `Last-Modified` of the last full reply, sent back as `If-Modified-Since`.
    pub last_modified: Option<String>,
    /// A connector-specific cursor (JSON or an opaque token); an optimisation only.
    pub cursor: Option<String>,
}

/// The result of one successful poll.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FetchOutcome {
    /// What the source holds now (possibly items already seen: the store absorbs the overlap).
    pub mentions: Vec<Mention>,
    /// The state to keep for the next poll.
    pub state: SourceState,
    /// True when the server answered 304 Not Modified: nothing was parsed.
    pub not_modified: bool,
    /// What `earshot status` should say about the source beyond ok/failing: a degraded mode
    /// (Reddit without credentials) or a budget (Stack Exchange quota, YouTube searches left).
    pub notice: Option<Notice>,
}

/// A line for `earshot status` about a source that works, but not fully.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Notice {
    /// True when the source runs in a reduced mode (fewer fields, slower polls, stopped for
    /// the day): `status` shows it as `degraded`.
    pub degraded: bool,
    /// What and why, for a person: "no credentials: reading .rss listings at most once a
    /// minute, without scores", "quota 9,850 of 10,000 left today". Never a secret.
    pub message: String,
}

impl Notice {
    pub fn degraded(message: impl Into<String>) -> Option<Notice> {
        Some(Notice {
            degraded: true,
            message: message.into(),
        })
    }

    pub fn info(message: impl Into<String>) -> Option<Notice> {
        Some(Notice {
            degraded: false,
            message: message.into(),
        })
    }
}

/// Why a poll failed. Every message is safe to show and store: it never carries a URL's
/// query string or credentials.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    /// The server answered with an error status.
    #[error("HTTP {status}{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    Status {
        status: u16,
        /// What the server asked us to wait (`Retry-After`, rate-limit headers), if anything.
        retry_after: Option<Duration>,
    },
    /// Connecting or reading took longer than the configured timeout.
    #[error("timed out after {0:?}: the server is slow or unreachable")]
    Timeout(Duration),
    /// The body grew past the cap (after decompression).
    #[error(
        "reply larger than the {limit} byte cap: raise `max_body` for this source if it is legitimate"
    )]
    TooLarge { limit: u64 },
    /// DNS, TLS, connection reset, too many redirects.
    #[error("network error: {0}")]
    Network(String),
    /// A page that is not what this connector reads (an HTML block page where a feed was expected).
    #[error("unexpected content: {0}")]
    Unexpected(String),
    /// The reply could not be parsed.
    #[error("could not parse the reply: {0}")]
    Parse(String),
    /// A local file could not be read.
    #[error("could not read file: {0}")]
    Io(String),
    /// The source is misconfigured (bad URL, unsupported scheme).
    #[error("bad source configuration: {0}")]
    Config(String),
}

impl FetchError {
    /// The wait the remote side asked for, to be used instead of the usual back-off when longer.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Errors that will not go away by themselves and deserve a long back-off
    /// (a block page, a missing feed, bad credentials).
    pub fn is_long_lived(&self) -> bool {
        match self {
            // A 403 that says when to come back is a rate limit (GitHub's secondary limits).
            FetchError::Status {
                status: 403,
                retry_after: Some(_),
            } => false,
            FetchError::Status { status, .. } => matches!(status, 401 | 403 | 404 | 410),
            FetchError::Unexpected(_) | FetchError::Config(_) => true,
            _ => false,
        }
    }
}

/// Overlap of each poll's window with the last one: search indexes lag and cursors skip, so
/// every time-bounded poll asks again for the last 10 minutes it already saw; the store's
/// uniqueness absorbs what comes twice.
pub const OVERLAP: Duration = Duration::from_secs(600);

/// How far back a source's first poll looks, when the platform lets us choose.
pub const FIRST_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// A problem with a platform's part of a `[[source]]` table: the key and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key within the table (`query`, `subreddits`); empty for the table as a whole.
    pub key: &'static str,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(key: &'static str, message: impl Into<String>) -> ConfigProblem {
        ConfigProblem {
            key,
            message: message.into(),
        }
    }
}

/// The platform part of a `[[source]]` table, chosen by its `kind`. The daemon's config
/// loader takes the common keys (`id`, `every`, `cron`, `backfill`, `enabled`) and hands the
/// rest here; each variant rejects keys it does not know.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind")]
pub enum Platform {
    #[serde(rename = "feed")]
    Feed(feed::FeedConfig),
    #[serde(rename = "hackernews")]
    HackerNews(hackernews::HackerNewsConfig),
    #[serde(rename = "reddit")]
    Reddit(reddit::RedditConfig),
    #[serde(rename = "mastodon")]
    Mastodon(mastodon::MastodonConfig),
    #[serde(rename = "bluesky")]
    Bluesky(bluesky::BlueskyConfig),
    #[serde(rename = "github")]
    GitHub(github::GitHubConfig),
    #[serde(rename = "stackexchange")]
    StackExchange(stackexchange::StackExchangeConfig),
    #[serde(rename = "lemmy")]
    Lemmy(lemmy::LemmyConfig),
    #[serde(rename = "discourse")]
    Discourse(discourse::DiscourseConfig),
    #[serde(rename = "youtube")]
    YouTube(youtube::YouTubeConfig),
    #[serde(rename = "x")]
    X(x::XConfig),
    #[serde(rename = "appstore")]
    AppStore(appstore::AppStoreConfig),
}

/// Every `kind` a source may have.
pub const KINDS: &[&str] = &[
    "feed",
    "hackernews",
    "reddit",
    "mastodon",
    "bluesky",
    "github",
    "stackexchange",
    "lemmy",
    "discourse",
    "youtube",
    "x",
    "appstore",
];

/// Calls `$f` on the config inside any [`Platform`] variant.
macro_rules! each_platform {
    ($p:expr, $c:ident => $e:expr) => {
        match $p {
            Platform::Feed($c) => $e,
            Platform::HackerNews($c) => $e,
            Platform::Reddit($c) => $e,
            Platform::Mastodon($c) => $e,
            Platform::Bluesky($c) => $e,
            Platform::GitHub($c) => $e,
            Platform::StackExchange($c) => $e,
            Platform::Lemmy($c) => $e,
            Platform::Discourse($c) => $e,
            Platform::YouTube($c) => $e,
            Platform::X($c) => $e,
            Platform::AppStore($c) => $e,
        }
    };
}

impl Platform {
    /// The `kind` as written in the config and stored in the database.
    pub fn kind(&self) -> &'static str {
        match self {
            Platform::Feed(_) => "feed",
            Platform::HackerNews(_) => "hackernews",
            Platform::Reddit(_) => "reddit",
            Platform::Mastodon(_) => "mastodon",
            Platform::Bluesky(_) => "bluesky",
            Platform::GitHub(_) => "github",
            Platform::StackExchange(_) => "stackexchange",
            Platform::Lemmy(_) => "lemmy",
            Platform::Discourse(_) => "discourse",
            Platform::YouTube(_) => "youtube",
            Platform::X(_) => "x",
            Platform::AppStore(_) => "appstore",
        }
    }

    /// How often a source of this kind polls when the config gives neither `every` nor
    /// `cron`: ten minutes, except where the platform's budget asks for less (YouTube's 100
    /// searches a day, App Store reviews that move slowly).
    pub fn default_every(&self) -> Duration {
        match self {
            Platform::YouTube(_) => Duration::from_secs(15 * 60),
            Platform::AppStore(_) => Duration::from_secs(3600),
            _ => Duration::from_secs(600),
        }
    }

    /// What serde cannot check (a query or a list is needed, numbers in range, URLs readable).
    /// Pure: no file, network or environment access.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        each_platform!(self, c => c.validate())
    }

    /// The credentials in this table, with their keys: the loader resolves relative files
    /// beside the config and warns about inline ones.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut secret::Secret)> {
        each_platform!(self, c => c.secrets_mut())
    }

    /// The address polled, for `check` and the politeness warnings: the feed URL, or the API
    /// root (`base_url` or the platform's default).
    pub fn endpoint(&self) -> String {
        each_platform!(self, c => c.endpoint())
    }
}

/// `base_url` when given (without a trailing `/`), else the platform's `default`.
pub fn api_root(base_url: Option<&str>, default: &str) -> String {
    base_url
        .unwrap_or(default)
        .trim_end_matches('/')
        .to_string()
}

/// Checks an optional `base_url`: an http(s) URL with a host.
pub fn check_base_url(base_url: Option<&str>, problems: &mut Vec<ConfigProblem>) {
    let Some(u) = base_url else { return };
    match url::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host_str().is_some() => {}
        _ => problems.push(ConfigProblem::new(
            "base_url",
            format!("{u:?} is not an http(s) URL: write the API root, e.g. \"https://host/api\""),
        )),
    }
}

/// A search query must hold something to search for; `example` shows what to write.
pub fn check_query(query: &str, example: &str, problems: &mut Vec<ConfigProblem>) {
    if query.trim().is_empty() {
        problems.push(ConfigProblem::new(
            "query",
            format!("is empty: write the words to search for, e.g. query = {example:?}"),
        ));
    }
}

/// Resolves an optional credential (see [`resolve`]).
pub fn resolve_opt(
    key: &str,
    s: Option<&secret::Secret>,
) -> Result<Option<secret::SecretValue>, FetchError> {
    s.map(|s| resolve(key, s)).transpose()
}

/// Resolves a credential for a connector; the error names where it was looked for, never
/// the value.
pub fn resolve(key: &str, s: &secret::Secret) -> Result<secret::SecretValue, FetchError> {
    s.resolve()
        .map_err(|e| FetchError::Config(format!("{key}: {e}")))
}

/// A configured connector, one variant per platform.
#[derive(Debug)]
pub enum Connector {
    Feed(feed::FeedConnector),
    HackerNews(hackernews::HackerNews),
    Reddit(reddit::Reddit),
    Mastodon(mastodon::Mastodon),
    Bluesky(bluesky::Bluesky),
    GitHub(github::GitHub),
    StackExchange(stackexchange::StackExchange),
    Lemmy(lemmy::Lemmy),
    Discourse(discourse::Discourse),
    YouTube(youtube::YouTube),
    X(x::X),
    AppStore(appstore::AppStore),
}

macro_rules! each_connector {
    ($p:expr, $c:ident => $e:expr) => {
        match $p {
            Connector::Feed($c) => $e,
            Connector::HackerNews($c) => $e,
            Connector::Reddit($c) => $e,
            Connector::Mastodon($c) => $e,
            Connector::Bluesky($c) => $e,
            Connector::GitHub($c) => $e,
            Connector::StackExchange($c) => $e,
            Connector::Lemmy($c) => $e,
            Connector::Discourse($c) => $e,
            Connector::YouTube($c) => $e,
            Connector::X($c) => $e,
            Connector::AppStore($c) => $e,
        }
    };
}

impl Connector {
    /// Builds the connector for a source, reading its credentials now (env and files).
    pub fn new(platform: &Platform) -> Result<Connector, FetchError> {
        Ok(match platform {
            Platform::Feed(c) => Connector::Feed(feed::FeedConnector::new(c)?),
            Platform::HackerNews(c) => Connector::HackerNews(hackernews::HackerNews::new(c)?),
            Platform::Reddit(c) => Connector::Reddit(reddit::Reddit::new(c)?),
            Platform::Mastodon(c) => Connector::Mastodon(mastodon::Mastodon::new(c)?),
            Platform::Bluesky(c) => Connector::Bluesky(bluesky::Bluesky::new(c)?),
            Platform::GitHub(c) => Connector::GitHub(github::GitHub::new(c)?),
            Platform::StackExchange(c) => {
                Connector::StackExchange(stackexchange::StackExchange::new(c)?)
            }
            Platform::Lemmy(c) => Connector::Lemmy(lemmy::Lemmy::new(c)?),
            Platform::Discourse(c) => Connector::Discourse(discourse::Discourse::new(c)?),
            Platform::YouTube(c) => Connector::YouTube(youtube::YouTube::new(c)?),
            Platform::X(c) => Connector::X(x::X::new(c)?),
            Platform::AppStore(c) => Connector::AppStore(appstore::AppStore::new(c)?),
        })
    }

    /// Polls the platform once. `state` is what the last successful poll returned.
    pub async fn fetch(
        &self,
        http: &HttpFetcher,
        state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        each_connector!(self, c => c.fetch(http, state).await)
    }

    /// The platform's name as shown to users and used in the database (`feed`, `reddit`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Connector::Feed(_) => "feed",
            Connector::HackerNews(_) => "hackernews",
            Connector::Reddit(_) => "reddit",
            Connector::Mastodon(_) => "mastodon",
            Connector::Bluesky(_) => "bluesky",
            Connector::GitHub(_) => "github",
            Connector::StackExchange(_) => "stackexchange",
            Connector::Lemmy(_) => "lemmy",
            Connector::Discourse(_) => "discourse",
            Connector::YouTube(_) => "youtube",
            Connector::X(_) => "x",
            Connector::AppStore(_) => "appstore",
        }
    }
}
