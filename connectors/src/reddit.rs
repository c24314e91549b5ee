//! Reddit: OAuth app-only search and listings, or the `.rss` listings without credentials (degraded).
//!
//! # With credentials (`client_id` and `client_secret`)
//!
//! An app-only token comes from `POST {www}/api/v1/access_token` (HTTP Basic
//! `client_id:client_secret`, form `grant_type=client_credentials`). It is kept in memory and
//! renewed [`REFRESH_MARGIN`] before its `expires_in` runs out, and once more when the API
//! answers 401. Each poll then reads, with `Authorization: bearer <token>` and `raw_json=1`:
//!
//! * `query` alone: `/search?q=<q>&sort=new&limit=100&type=link`;
//! * `query` and `subreddits`: `/r/a+b/search?q=<q>&sort=new&limit=100&type=link&restrict_sr=1`;
//! * `subreddits` alone: `/r/a+b/new?limit=100`;
//! * `comments = true`: also `/r/a+b/comments?limit=100`.
//!
//! The subreddits are joined into one multi (`a+b`): one request per listing, whatever their
//! number. Roots: `https://oauth.reddit.com` for the API, `https://www.reddit.com` for the token
//! and RSS; `base_url` replaces both.
//!
//! # Ids and cursor
//!
//! `platform_id` is the fullname (`data.name`: `t3_...` posts, `t1_...` comments), the same in
//! RSS mode (the Atom entry id). No `before=` cursor: it returns nothing forever once its item
//! is deleted, so each poll reads the newest 100, as PRAW's streams do, and the store dedupes.
//! The cursor (`{"newest": <created_utc>}`) records the newest item seen, never moving back.
//!
//! # Fields
//!
//! Posts: `title`, `selftext` (markdown to text), `https://www.reddit.com` + `permalink`,
//! `score`, `num_comments`. Comments: `body`, `link_title`, thread `link_id`, parent
//! `parent_id`. `subreddit_subscribers` is community size, not the author's reach.
//!
//! # Author karma (OAuth only)
//!
//! `author.reach` is the author's karma, from `GET {api}/user/<name>/about?raw_json=1` (the
//! same bearer token): `data.total_karma`, else `link_karma + comment_karma`. One request per
//! distinct author of the mentions a poll returns (`[deleted]` and missing authors skipped),
//! at most [`MAX_LOOKUPS`] per poll (the others keep no reach this poll and are looked up on a
//! later one). Answers, a 404 included (kept as "no karma"), are cached in memory for
//! [`REACH_TTL`], so a known author costs nothing for a day; the cache is lost on restart. A
//! lookup that fails (network, 429, 5xx, an HTML page, another shape) never fails the poll:
//! the mention keeps no reach, nothing is cached, and after a 429, a held host (a spent
//! budget), a timeout or a network error no further author is looked up in that poll. The RSS
//! mode looks up nothing.
//!
//! # Limits
//!
//! 100 requests a minute per client id, karma lookups included; the fetcher reads the
//! `x-ratelimit-*` headers and holds the host when they say the budget is spent.
//!
//! # Without credentials (degraded)
//!
//! Reddit's anonymous `.json` is blocked; its `.rss` (Atom) listings still answer, about one a
//! minute: `{www}/r/a+b/new/.rss`, `/r/a+b/comments/.rss`, `/search.rss?q=<q>&sort=new` (with
//! `restrict_sr=1` under `/r/a+b/`). The connector sends at most one RSS request a minute
//! ([`RSS_SPACING`]), reading the listings one per poll in rotation, conditional on the last
//! ETag when there is only one. Items have no score or comment count. Every poll says so
//! in a degraded notice.

use std::collections::HashMap;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use base64::Engine;
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::http::{ApiRequest, Body, Fetched, HttpFetcher};
use crate::secret::{Secret, SecretValue};
use crate::text::markdown_to_text;
use crate::{
    Author, ConfigProblem, Conversation, Engagement, FetchError, FetchOutcome, Mention,
    MentionKind, Notice, SourceState, api_root, check_base_url, resolve,
};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://oauth.reddit.com";

/// The root of the token endpoint and the RSS listings unless `base_url` replaces it.
pub const WWW_ROOT: &str = "https://www.reddit.com";

/// A token is renewed this long before it expires.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// At most one RSS request per this long, per source.
pub const RSS_SPACING: Duration = Duration::from_secs(60);

/// Authors not in the karma cache looked up per poll, at most.
pub const MAX_LOOKUPS: usize = 10;

/// How long an author's karma (or its absence, on a 404) is kept.
pub const REACH_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The notice of the degraded (RSS) mode.
pub const RSS_NOTICE: &str = "no Reddit credentials: reading .rss listings, at most one a minute, without scores or comment counts; set client_id and client_secret for the API";

/// The `[[source]]` keys of `kind = "reddit"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedditConfig {
    /// Search query (`/search?sort=new`, or within `subreddits` when given).
    #[serde(default)]
    pub query: Option<String>,
    /// Subreddits to read (`rust`, or a multi `rust+programming`): their newest posts, or the
    /// search restricted to them when `query` is set.
    #[serde(default)]
    pub subreddits: Vec<String>,
    /// Also read the newest comments of each subreddit (`/r/{sub}/comments`).
    #[serde(default)]
    pub comments: bool,
    /// OAuth client id of a Reddit app (reddit.com/prefs/apps). Without it: `.rss`, degraded.
    #[serde(default)]
    pub client_id: Option<Secret>,
    /// OAuth client secret of that app.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Replaces the API root (`https://oauth.reddit.com`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

/// True for a subreddit name Reddit accepts: 2 to 21 letters, digits or `_`, not starting with `_`.
fn subreddit_ok(name: &str) -> bool {
    (2..=21).contains(&name.len())
        && !name.starts_with('_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl RedditConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        let query = self.query.as_deref().map(str::trim);
        if query == Some("") {
            p.push(ConfigProblem::new(
                "query",
                "the query is empty: write words to search for, or leave the key out and list subreddits",
            ));
        }
        if query.is_none() && self.subreddits.is_empty() {
            p.push(ConfigProblem::new(
                "query",
                "a reddit source needs a query, subreddits, or both: e.g. query = \"acme\" or subreddits = [\"rust\"]",
            ));
        }
        for s in &self.subreddits {
            for part in s.split('+') {
                if !subreddit_ok(part) {
                    p.push(ConfigProblem::new(
                        "subreddits",
                        format!(
                            "{s:?} is not a subreddit name: write the bare name (\"rust\", not \"r/rust\"), or a multi \"rust+programming\""
                        ),
                    ));
                    break;
                }
            }
        }
        if self.comments && self.subreddits.is_empty() {
            p.push(ConfigProblem::new(
                "comments",
                "comments = true reads the newest comments of subreddits: list them in subreddits",
            ));
        }
        if self.client_id.is_some() != self.client_secret.is_some() {
            p.push(ConfigProblem::new(
                if self.client_id.is_some() {
                    "client_secret"
                } else {
                    "client_id"
                },
                "give client_id and client_secret together (or neither, for the degraded .rss mode)",
            ));
        }
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [
            self.client_id.as_mut().map(|s| ("client_id", s)),
            self.client_secret.as_mut().map(|s| ("client_secret", s)),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The root polled: the OAuth API, or `www.reddit.com` for the `.rss` listings when no
    /// credentials are given.
    pub fn endpoint(&self) -> String {
        let default = if self.client_id.is_some() {
            DEFAULT_ROOT
        } else {
            WWW_ROOT
        };
        api_root(self.base_url.as_deref(), default)
    }

    /// The subreddits as one multi (`a+b+c`), if any.
    fn multi(&self) -> Option<String> {
        let parts: Vec<&str> = self
            .subreddits
            .iter()
            .flat_map(|s| s.split('+'))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join("+"))
    }
}

/// The app-only token in use.
struct Token {
    value: SecretValue,
    /// When it should be renewed (its expiry minus the margin).
    renew_at: Instant,
}

/// RSS-mode bookkeeping: when the last request went out, and which listing is next.
#[derive(Debug, Default)]
struct RssState {
    last: Option<Instant>,
    next: usize,
}

/// The cursor kept between polls.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Cursor {
    /// The newest `created_utc` seen (epoch seconds).
    newest: Option<f64>,
}

impl Cursor {
    fn read(state: &SourceState) -> Cursor {
        state
            .cursor
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default()
    }

    /// This cursor moved forward to the newest of `mentions`, never back.
    fn advanced(self, mentions: &[Mention]) -> Cursor {
        let seen = mentions
            .iter()
            .filter_map(|m| m.created_at)
            .map(|t| t.timestamp_millis() as f64 / 1000.0)
            .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
        let newest = match (self.newest, seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Cursor { newest }
    }

    fn write(self) -> Option<String> {
        self.newest
            .map(|_| serde_json::to_string(&self).expect("a cursor serialises"))
    }
}

/// A `reddit` source, built once; keeps what outlives a poll in memory.
pub struct Reddit {
    /// Boxed: a connector is one variant of [`crate::Connector`], kept small.
    config: Box<RedditConfig>,
    api: String,
    www: String,
    /// `client_id` and `client_secret`, when both are given.
    credentials: Option<(SecretValue, SecretValue)>,
    token: tokio::sync::Mutex<Option<Token>>,
    rss: StdMutex<RssState>,
    /// Author karma by user name (`None`: no such user, or no karma given), with when it was read.
    karma: StdMutex<HashMap<String, (Option<u64>, Instant)>>,
}

/// What one karma lookup gave.
enum Lookup {
    /// An answer to cache: the karma, or `None` (no such user, no karma in the reply).
    Answer(Option<u64>),
    /// Nothing learnt; try again on a later poll.
    Failed,
    /// Nothing learnt, and the host should not be asked again in this poll.
    Stop,
}

/// An `about` reply: `{"kind":"t2","data":{...}}`.
#[derive(Debug, Deserialize)]
struct About {
    data: AboutData,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AboutData {
    total_karma: Option<i64>,
    link_karma: Option<i64>,
    comment_karma: Option<i64>,
}

impl AboutData {
    fn karma(&self) -> Option<u64> {
        let k = match (self.total_karma, self.link_karma, self.comment_karma) {
            (Some(t), _, _) => t,
            (None, None, None) => return None,
            (None, l, c) => l.unwrap_or(0) + c.unwrap_or(0),
        };
        Some(k.max(0) as u64)
    }
}

/// True for a user name Reddit allows (letters, digits, `-`, `_`): only those are looked up.
fn user_name_ok(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl std::fmt::Debug for Reddit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reddit")
            .field("config", &self.config)
            .field("api", &self.api)
            .field("oauth", &self.credentials.is_some())
            .finish_non_exhaustive()
    }
}

/// A listing: `{"kind":"Listing","data":{"children":[{"kind","data"}]}}`.
#[derive(Debug, Deserialize)]
struct Listing {
    data: ListingData,
}

#[derive(Debug, Deserialize)]
struct ListingData {
    #[serde(default)]
    children: Vec<Thing>,
}

#[derive(Debug, Deserialize)]
struct Thing {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    data: serde_json::Value,
}

/// A post (`t3`) or comment (`t1`); every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Item {
    name: Option<String>,
    id: Option<String>,
    author: Option<String>,
    title: Option<String>,
    selftext: Option<String>,
    body: Option<String>,
    permalink: Option<String>,
    created_utc: Option<f64>,
    score: Option<i64>,
    num_comments: Option<u64>,
    link_id: Option<String>,
    link_title: Option<String>,
    parent_id: Option<String>,
    subreddit: Option<String>,
}

fn author(name: Option<String>) -> Author {
    let name = name.filter(|n| !n.is_empty() && n != "[deleted]" && n != "[removed]");
    Author {
        url: name
            .as_ref()
            .map(|n| format!("https://www.reddit.com/user/{n}")),
        handle: name.map(|n| format!("u/{n}")),
        display_name: None,
        reach: None,
    }
}

impl Item {
    fn into_mention(self, kind: &str) -> Option<Mention> {
        let comment = match kind {
            "t3" => false,
            "t1" => true,
            _ => return None,
        };
        let id = self
            .name
            .clone()
            .or_else(|| self.id.as_ref().map(|i| format!("{kind}_{i}")))?;
        let created_at = self
            .created_utc
            .and_then(|t| DateTime::from_timestamp_millis((t * 1000.0) as i64));
        let url = match (&self.permalink, comment) {
            (Some(p), _) if !p.is_empty() => Some(format!("https://www.reddit.com{p}")),
            // Older comment listings carry no permalink: build it from the post and the id.
            (_, true) => match (&self.link_id, &self.id, &self.subreddit) {
                (Some(link), Some(cid), Some(sub)) => Some(format!(
                    "https://www.reddit.com/r/{sub}/comments/{}/_/{cid}/",
                    link.trim_start_matches("t3_")
                )),
                _ => None,
            },
            _ => None,
        };
        let text = |s: Option<String>| s.map(|s| markdown_to_text(&s)).unwrap_or_default();
        Some(if comment {
            Mention {
                platform_id: id,
                url,
                author: author(self.author),
                title: self.link_title.filter(|t| !t.is_empty()),
                text: text(self.body),
                created_at,
                kind: MentionKind::Comment,
                engagement: Engagement {
                    score: self.score,
                    ..Engagement::default()
                },
                conversation: Conversation {
                    thread_id: self.link_id,
                    parent_id: self.parent_id,
                },
                lang: None,
                rating: None,
            }
        } else {
            Mention {
                conversation: Conversation {
                    thread_id: Some(id.clone()),
                    parent_id: None,
                },
                platform_id: id,
                url,
                author: author(self.author),
                title: self.title.filter(|t| !t.is_empty()),
                text: text(self.selftext),
                created_at,
                kind: MentionKind::Post,
                engagement: Engagement {
                    score: self.score,
                    replies: self.num_comments,
                    ..Engagement::default()
                },
                lang: None,
                rating: None,
            }
        })
    }
}

/// The mentions of a listing reply.
fn parse_listing(value: serde_json::Value) -> Result<Vec<Mention>, FetchError> {
    let listing: Listing = serde_json::from_value(value).map_err(|e| {
        FetchError::Parse(format!(
            "not a Reddit listing ({e}): check that base_url is the Reddit API root"
        ))
    })?;
    Ok(listing
        .data
        .children
        .into_iter()
        .filter_map(|t| {
            let item: Item = serde_json::from_value(t.data).ok()?;
            item.into_mention(&t.kind)
        })
        .collect())
}

impl Reddit {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &RedditConfig) -> Result<Reddit, FetchError> {
        let credentials = match (&config.client_id, &config.client_secret) {
            (Some(id), Some(secret)) => {
                Some((resolve("client_id", id)?, resolve("client_secret", secret)?))
            }
            (None, None) => None,
            _ => {
                return Err(FetchError::Config(
                    "give client_id and client_secret together, or neither".to_string(),
                ));
            }
        };
        Ok(Reddit {
            api: api_root(config.base_url.as_deref(), DEFAULT_ROOT),
            www: api_root(config.base_url.as_deref(), WWW_ROOT),
            credentials,
            token: tokio::sync::Mutex::new(None),
            rss: StdMutex::new(RssState::default()),
            karma: StdMutex::new(HashMap::new()),
            config: Box::new(config.clone()),
        })
    }

    fn url(&self, root: &str, path: &str, params: &[(&str, &str)]) -> Result<String, FetchError> {
        let mut url = url::Url::parse(&format!("{root}{path}")).map_err(|_| {
            FetchError::Config("base_url is not an http(s) URL: write the API root".to_string())
        })?;
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        Ok(url.to_string())
    }

    /// The OAuth listings of one poll.
    fn api_urls(&self) -> Result<Vec<String>, FetchError> {
        let multi = self.config.multi();
        let query = self.config.query.as_deref().map(str::trim);
        let mut urls = Vec::new();
        match (query, &multi) {
            (Some(q), Some(m)) => urls.push(self.url(
                &self.api,
                &format!("/r/{m}/search"),
                &[
                    ("q", q),
                    ("sort", "new"),
                    ("limit", "100"),
                    ("type", "link"),
                    ("restrict_sr", "1"),
                    ("raw_json", "1"),
                ],
            )?),
            (Some(q), None) => urls.push(self.url(
                &self.api,
                "/search",
                &[
                    ("q", q),
                    ("sort", "new"),
                    ("limit", "100"),
                    ("type", "link"),
                    ("raw_json", "1"),
                ],
            )?),
            (None, Some(m)) => urls.push(self.url(
                &self.api,
                &format!("/r/{m}/new"),
                &[("limit", "100"), ("raw_json", "1")],
            )?),
            (None, None) => {}
        }
        if let (true, Some(m)) = (self.config.comments, &multi) {
            urls.push(self.url(
                &self.api,
                &format!("/r/{m}/comments"),
                &[("limit", "100"), ("raw_json", "1")],
            )?);
        }
        Ok(urls)
    }

    /// The RSS listings, read one per poll in rotation.
    fn rss_urls(&self) -> Result<Vec<String>, FetchError> {
        let multi = self.config.multi();
        let query = self.config.query.as_deref().map(str::trim);
        let mut urls = Vec::new();
        match (query, &multi) {
            (Some(q), Some(m)) => urls.push(self.url(
                &self.www,
                &format!("/r/{m}/search.rss"),
                &[("q", q), ("sort", "new"), ("restrict_sr", "1")],
            )?),
            (Some(q), None) => {
                urls.push(self.url(&self.www, "/search.rss", &[("q", q), ("sort", "new")])?)
            }
            (None, Some(m)) => urls.push(self.url(&self.www, &format!("/r/{m}/new/.rss"), &[])?),
            (None, None) => {}
        }
        if let (true, Some(m)) = (self.config.comments, &multi) {
            urls.push(self.url(&self.www, &format!("/r/{m}/comments/.rss"), &[])?);
        }
        Ok(urls)
    }

    /// A valid token: the cached one, or a new one when it is missing, expiring or `stale`.
    async fn token(
        &self,
        http: &HttpFetcher,
        id: &SecretValue,
        secret: &SecretValue,
        stale: bool,
    ) -> Result<SecretValue, FetchError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && !stale
            && Instant::now() < t.renew_at
        {
            return Ok(t.value.clone());
        }
        *cached = None;
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                id.expose(),
                secret.expose()
            ))
        );
        let url = format!("{}/api/v1/access_token", self.www);
        let reply = http
            .api(ApiRequest {
                url: &url,
                headers: &[("Authorization", &basic)],
                body: Body::Form(&[("grant_type", "client_credentials")]),
                state: None,
            })
            .await?;
        let value = reply.into_json()?;
        #[derive(Deserialize)]
        struct TokenReply {
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let t: TokenReply = serde_json::from_value(value).map_err(|_| {
            FetchError::Parse(
                "the token reply is not what Reddit sends: check base_url".to_string(),
            )
        })?;
        let Some(access) = t.access_token.filter(|a| !a.is_empty()) else {
            // Reddit answers some refusals with a 200 and `{"error": ...}`.
            return Err(FetchError::Status {
                status: 401,
                retry_after: None,
            });
        };
        let lifetime = Duration::from_secs(t.expires_in.unwrap_or(3600));
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        let value = SecretValue::new(access);
        *cached = Some(Token {
            value: value.clone(),
            renew_at: Instant::now() + lifetime - margin,
        });
        Ok(value)
    }

    /// One author's karma from `/user/<name>/about`.
    async fn lookup(&self, http: &HttpFetcher, bearer: &str, name: &str) -> Lookup {
        let url = format!("{}/user/{name}/about?raw_json=1", self.api);
        let reply = match http
            .api(ApiRequest::get(&url).headers(&[("Authorization", bearer)]))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("reddit: karma lookup failed: {e}");
                return match e {
                    FetchError::Status { .. } | FetchError::Timeout(_) | FetchError::Network(_) => {
                        Lookup::Stop
                    }
                    _ => Lookup::Failed,
                };
            }
        };
        if reply.status == 404 {
            return Lookup::Answer(None);
        }
        if reply.status == 429 || reply.retry_after.is_some() {
            return Lookup::Stop;
        }
        match reply.into_json().map(serde_json::from_value::<About>) {
            Ok(Ok(about)) => Lookup::Answer(about.data.karma()),
            _ => Lookup::Failed,
        }
    }

    /// Sets `author.reach` from the karma cache, first looking up (at most [`MAX_LOOKUPS`])
    /// the authors it does not hold. Never fails.
    async fn add_reach(&self, http: &HttpFetcher, bearer: &str, mentions: &mut [Mention]) {
        let name = |m: &Mention| {
            m.author
                .handle
                .as_deref()
                .and_then(|h| h.strip_prefix("u/"))
                .map(str::to_string)
        };
        let wanted: Vec<String> = {
            let mut cache = self
                .karma
                .lock()
                .expect("the karma cache is never poisoned");
            let now = Instant::now();
            cache.retain(|_, (_, at)| now.duration_since(*at) < REACH_TTL);
            let mut wanted: Vec<String> = Vec::new();
            for n in mentions.iter().filter_map(name) {
                if user_name_ok(&n) && !cache.contains_key(&n) && !wanted.contains(&n) {
                    wanted.push(n);
                }
            }
            wanted
        };
        for n in wanted.into_iter().take(MAX_LOOKUPS) {
            match self.lookup(http, bearer, &n).await {
                Lookup::Answer(karma) => {
                    self.karma
                        .lock()
                        .expect("the karma cache is never poisoned")
                        .insert(n, (karma, Instant::now()));
                }
                Lookup::Failed => {}
                Lookup::Stop => break,
            }
        }
        let cache = self
            .karma
            .lock()
            .expect("the karma cache is never poisoned");
        for m in mentions {
            m.author.reach = name(m)
                .and_then(|n| cache.get(&n))
                .and_then(|(karma, _)| *karma);
        }
    }

    async fn fetch_api(
        &self,
        http: &HttpFetcher,
        state: &SourceState,
        id: &SecretValue,
        secret: &SecretValue,
    ) -> Result<FetchOutcome, FetchError> {
        let mut mentions = Vec::new();
        let mut last_bearer = None;
        for url in self.api_urls()? {
            let mut retried = false;
            loop {
                let token = self.token(http, id, secret, retried).await?;
                let bearer = format!("bearer {}", token.expose());
                let reply = http
                    .api(ApiRequest::get(&url).headers(&[("Authorization", &bearer)]))
                    .await?;
                if reply.status == 401 && !retried {
                    retried = true;
                    continue;
                }
                mentions.extend(parse_listing(reply.into_json()?)?);
                last_bearer = Some(bearer);
                break;
            }
        }
        // The lookups use the token the listings were read with: no token request.
        if let Some(bearer) = last_bearer
            && !mentions.is_empty()
        {
            self.add_reach(http, &bearer, &mut mentions).await;
        }
        Ok(FetchOutcome {
            state: SourceState {
                etag: None,
                last_modified: None,
                cursor: Cursor::read(state).advanced(&mentions).write(),
            },
            mentions,
            not_modified: false,
            notice: None,
        })
    }

    async fn fetch_rss(
        &self,
        http: &HttpFetcher,
        state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        let urls = self.rss_urls()?;
        let skipped = || FetchOutcome {
            mentions: Vec::new(),
            state: state.clone(),
            not_modified: false,
            notice: Notice::degraded(RSS_NOTICE),
        };
        let url = {
            let mut rss = self
                .rss
                .lock()
                .expect("the RSS state lock is never poisoned");
            let now = Instant::now();
            if urls.is_empty() || rss.last.is_some_and(|last| now - last < RSS_SPACING) {
                return Ok(skipped());
            }
            rss.last = Some(now);
            let url = urls[rss.next % urls.len()].clone();
            rss.next = (rss.next + 1) % urls.len();
            url
        };
        // Validators only mean something when the same listing is read every time.
        let conditional = if urls.len() == 1 {
            state.clone()
        } else {
            SourceState::default()
        };
        let (mentions, etag, last_modified, not_modified) =
            match http.get(&url, &conditional).await? {
                Fetched::NotModified => (
                    Vec::new(),
                    state.etag.clone(),
                    state.last_modified.clone(),
                    true,
                ),
                Fetched::Body {
                    bytes,
                    etag,
                    last_modified,
                    final_url,
                    ..
                } => {
                    let mut mentions = crate::feed::parse_feed(&bytes, &final_url)?;
                    for m in &mut mentions {
                        if m.platform_id.starts_with("t1_") {
                            m.kind = MentionKind::Comment;
                        }
                        if let Some(h) = m.author.handle.take() {
                            m.author.handle = Some(h.trim_start_matches('/').to_string());
                        }
                    }
                    let single = urls.len() == 1;
                    (
                        mentions,
                        etag.filter(|_| single),
                        last_modified.filter(|_| single),
                        false,
                    )
                }
            };
        Ok(FetchOutcome {
            state: SourceState {
                etag,
                last_modified,
                cursor: Cursor::read(state).advanced(&mentions).write(),
            },
            mentions,
            not_modified,
            notice: Notice::degraded(RSS_NOTICE),
        })
    }

    pub async fn fetch(
        &self,
        http: &HttpFetcher,
        state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        match &self.credentials {
            Some((id, secret)) => self.fetch_api(http, state, id, secret).await,
            None => self.fetch_rss(http, state).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RedditConfig {
        RedditConfig {
            query: Some("acme".to_string()),
            subreddits: Vec::new(),
            comments: false,
            client_id: None,
            client_secret: None,
            base_url: None,
        }
    }

    fn keys(c: &RedditConfig) -> Vec<&'static str> {
        c.validate().into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn validate_names_each_problem() {
        assert!(keys(&config()).is_empty());
        let mut c = config();
        c.query = None;
        assert_eq!(keys(&c), ["query"]);
        c.subreddits = vec!["rust+programming".into(), "de".into()];
        assert!(keys(&c).is_empty());
        c.subreddits = vec!["r/rust".into()];
        assert_eq!(keys(&c), ["subreddits"]);
        c.subreddits = vec!["rust+".into()];
        assert_eq!(keys(&c), ["subreddits"]);
        c.subreddits = vec!["a_name_far_too_long_for_reddit".into()];
        assert_eq!(keys(&c), ["subreddits"]);
        let mut c = config();
        c.query = Some("  ".into());
        assert_eq!(keys(&c), ["query"]);
        let mut c = config();
        c.comments = true;
        assert_eq!(keys(&c), ["comments"]);
        let mut c = config();
        c.client_id = Some(Secret::Plain("id".into()));
        assert_eq!(keys(&c), ["client_secret"]);
        c.client_id = None;
        c.client_secret = Some(Secret::Plain("s".into()));
        assert_eq!(keys(&c), ["client_id"]);
        c.client_id = Some(Secret::Plain("id".into()));
        assert!(keys(&c).is_empty());
        c.base_url = Some("ftp://x".into());
        assert_eq!(keys(&c), ["base_url"]);
    }

    #[test]
    fn the_cursor_only_moves_forward() {
        let at = |s: i64| Mention {
            created_at: DateTime::from_timestamp(s, 0),
            ..Mention::default()
        };
        let c = Cursor::default().advanced(&[at(100), at(300), at(200)]);
        assert_eq!(c.newest, Some(300.0));
        assert_eq!(c.advanced(&[at(50)]).newest, Some(300.0));
        assert_eq!(c.advanced(&[at(400)]).newest, Some(400.0));
        assert_eq!(Cursor::default().advanced(&[]).write(), None);
    }
}
