//! earshot's connectors: each one knows one platform, asks it for what is new since the
//! source's cursor, and turns the reply into [`Mention`]s.
//!
//! A connector never touches the database and never decides whether a mention matters: it
//! fetches and normalises, nothing else. The daemon keeps each source's [`SourceState`] and hands
//! it back on the next poll.
//!
//! Adding a platform: write one module (see [`feed`] for the shape), add one variant to
//! [`Connector`] and one arm to [`Connector::fetch`], and one row to the conformance tests.

pub mod feed;
pub mod http;
pub mod ratelimit;
pub mod text;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use http::{FetchOptions, HttpFetcher};

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
            FetchError::Status { status, .. } => matches!(status, 401 | 403 | 404 | 410),
            FetchError::Unexpected(_) | FetchError::Config(_) => true,
            _ => false,
        }
    }
}

/// A configured connector, one variant per platform.
#[derive(Debug, Clone)]
pub enum Connector {
    Feed(feed::FeedConnector),
}

impl Connector {
    /// Polls the platform once. `state` is what the last successful poll returned.
    pub async fn fetch(
        &self,
        http: &HttpFetcher,
        state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        match self {
            Connector::Feed(c) => c.fetch(http, state).await,
        }
    }

    /// The platform's name as shown to users and used in the database (`feed`, `reddit`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Connector::Feed(_) => "feed",
        }
    }
}
