//! Hacker News, through the Algolia search API (`search_by_date`).
//!
//! # What it calls
//!
//! `GET {root}/search_by_date?query=<q>&tags=(story,comment)&numericFilters=created_at_i>=T&hitsPerPage=200&page=N`
//! (root `https://hn.algolia.com/api/v1`), newest first. The configured `tags` are OR-ed inside
//! the parentheses. No credentials.
//!
//! # Window and the 1,000-hit cap
//!
//! Every poll is bounded by time: `T` is the newest `created_at_i` seen minus [`OVERLAP`]
//! (first poll: now minus [`FIRST_WINDOW`]). Pages are walked while Algolia says there are
//! more. Algolia serves at most 1,000 hits per query, whatever the paging: when a window holds
//! more than that, it is split in halves (`created_at_i>=lo,created_at_i<mid` and
//! `created_at_i>=mid`), recursively, and each part is read on its own, oldest part first. A
//! poll sends at most [`MAX_REQUESTS`] requests; past that it stops with a degraded notice,
//! and the cursor only covers the windows read in full, so the next poll resumes there.
//!
//! # Matching
//!
//! Algolia matches prefixes and typos (`rust` finds `rusty` and `trust`), so each hit is
//! re-checked locally: every word and "quoted phrase" of the query must appear as a whole word
//! in the decoded title and text; `-word` must not. Hits failing that are dropped (they still
//! advance the cursor: they were seen).
//!
//! # Ids and fields
//!
//! `platform_id` is `objectID` (the HN item id); `url` is
//! `https://news.ycombinator.com/item?id=<objectID>`. Stories: `title`, `story_text`, `points`,
//! `num_comments`, thread = itself. Comments: `comment_text`, title from `story_title`,
//! thread = `story_id`, parent = `parent_id`. HTML is decoded to text. Both the 2014 reply
//! shape and today's (`children`, `updated_at`, `exhaustive`, `created_at` without millis) are
//! read; every field is optional.
//!
//! # Limits and what is left out
//!
//! Algolia allows about 10,000 requests an hour per IP and sends no rate-limit headers;
//! a 429 or 403 is returned as is (the fetcher holds the host on `Retry-After`).
//!
//! # Author karma
//!
//! `author.reach` is the author's karma, from `GET {root}/users/<name>` (`karma`): one request
//! per distinct author of the mentions a poll returns, at most [`MAX_LOOKUPS`] per poll (the
//! others keep no reach this poll and are looked up on a later one). Answers, a 404 included
//! (kept as "no karma"), are cached in memory for [`REACH_TTL`], so a known author costs
//! nothing for a day; the cache is lost on restart. A lookup that fails (network, 429, 5xx,
//! an HTML page, another shape) never fails the poll: the mention keeps no reach, nothing is
//! cached, and after a 429, a held host, a timeout or a network error no further author is
//! looked up in that poll.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::http::{ApiRequest, HttpFetcher};
use crate::secret::Secret;
use crate::text::html_to_text;
use crate::{
    Author, ConfigProblem, Conversation, Engagement, FIRST_WINDOW, FetchError, FetchOutcome,
    Mention, MentionKind, Notice, OVERLAP, SourceState, api_root, check_base_url,
};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://hn.algolia.com/api/v1";

/// Hits asked per page (Algolia allows up to 1,000).
pub const HITS_PER_PAGE: u64 = 200;

/// Algolia serves no more than this many hits per query, whatever the paging.
pub const MAX_HITS: u64 = 1000;

/// Requests one poll may send before it stops (with a degraded notice).
pub const MAX_REQUESTS: usize = 40;

/// Authors not in the karma cache looked up per poll, at most.
pub const MAX_LOOKUPS: usize = 10;

/// How long an author's karma (or its absence, on a 404) is kept.
pub const REACH_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The tags Algolia knows as item types.
const KNOWN_TAGS: &[&str] = &[
    "story",
    "comment",
    "poll",
    "pollopt",
    "show_hn",
    "ask_hn",
    "front_page",
];

/// The `[[source]]` keys of `kind = "hackernews"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HackerNewsConfig {
    /// Algolia query: words and "quoted phrases". Hits are re-checked locally: Algolia also
    /// matches prefixes and typos.
    pub query: String,
    /// Algolia tags to search, OR-ed: `story`, `comment`, `ask_hn`, `show_hn`, `poll`.
    #[serde(default = "default_tags")]
    pub tags: Vec<String>,
    /// Replaces the API root (`https://hn.algolia.com/api/v1`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

fn default_tags() -> Vec<String> {
    vec!["story".to_string(), "comment".to_string()]
}

impl HackerNewsConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        if Terms::parse(&self.query).required.is_empty() {
            p.push(ConfigProblem::new(
                "query",
                "the query has no word to look for: write e.g. query = \"acme\" or \"\\\"acme cloud\\\"\"",
            ));
        }
        if self.tags.is_empty() {
            p.push(ConfigProblem::new(
                "tags",
                "no tags: leave the key out (story and comment) or write e.g. tags = [\"story\"]",
            ));
        }
        for t in &self.tags {
            let well_formed = !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            let filter = t.starts_with("author_") || t.starts_with("story_");
            if !well_formed || !(KNOWN_TAGS.contains(&t.as_str()) || filter) {
                p.push(ConfigProblem::new(
                    "tags",
                    format!(
                        "{t:?} is not an Algolia tag: use {}, author_<user> or story_<id>",
                        KNOWN_TAGS.join(", ")
                    ),
                ));
            }
        }
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        Vec::new()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        api_root(self.base_url.as_deref(), DEFAULT_ROOT)
    }
}

/// The words and phrases a hit must (and must not) contain, lowercased.
#[derive(Debug, Clone, PartialEq, Default)]
struct Terms {
    required: Vec<String>,
    excluded: Vec<String>,
}

impl Terms {
    /// Splits a query into words and "quoted phrases"; `-word` excludes. Algolia's AND of words.
    fn parse(query: &str) -> Terms {
        let mut terms = Terms::default();
        let mut rest = query.trim();
        while !rest.is_empty() {
            let (negated, body) = match rest.strip_prefix('-') {
                Some(b) if !b.starts_with(char::is_whitespace) && !b.is_empty() => (true, b),
                _ => (false, rest),
            };
            let (term, next) = if let Some(quoted) = body.strip_prefix('"') {
                match quoted.find('"') {
                    Some(end) => (&quoted[..end], &quoted[end + 1..]),
                    None => (quoted, ""),
                }
            } else {
                match body.find(char::is_whitespace) {
                    Some(end) => (&body[..end], &body[end..]),
                    None => (body, ""),
                }
            };
            let words: Vec<String> = term
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect();
            if !words.is_empty() {
                let phrase = words.join(" ");
                if negated {
                    terms.excluded.push(phrase);
                } else {
                    terms.required.push(phrase);
                }
            }
            rest = next.trim_start();
        }
        terms
    }

    /// True when `text` holds every required term as whole words and no excluded one.
    fn matches(&self, text: &str) -> bool {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let normalised = format!(" {} ", words.join(" "));
        let has = |t: &String| normalised.contains(&format!(" {t} "));
        self.required.iter().all(has) && !self.excluded.iter().any(has)
    }
}

/// The cursor kept between polls: the newest `created_at_i` seen.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Cursor {
    since: Option<i64>,
}

impl Cursor {
    fn read(state: &SourceState) -> Cursor {
        state
            .cursor
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default()
    }
}

/// One page of `search_by_date`.
#[derive(Debug, Deserialize)]
struct Page {
    hits: Vec<serde_json::Value>,
    #[serde(default, rename = "nbHits")]
    nb_hits: Option<u64>,
    #[serde(default, rename = "nbPages")]
    nb_pages: Option<u64>,
}

/// One hit; every field optional (2014 and 2026 shapes, stories and comments).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Hit {
    #[serde(rename = "objectID")]
    object_id: Option<serde_json::Value>,
    created_at: Option<String>,
    created_at_i: Option<i64>,
    title: Option<String>,
    author: Option<String>,
    points: Option<i64>,
    story_text: Option<String>,
    comment_text: Option<String>,
    num_comments: Option<u64>,
    story_id: Option<serde_json::Value>,
    story_title: Option<String>,
    parent_id: Option<serde_json::Value>,
    #[serde(rename = "_tags")]
    tags: Option<Vec<String>>,
}

/// A number or a string id as a string.
fn id_string(v: &Option<serde_json::Value>) -> Option<String> {
    match v.as_ref()? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.trim().is_empty()).then_some(s)
}

impl Hit {
    fn created(&self) -> Option<DateTime<Utc>> {
        self.created_at_i
            .and_then(|i| Utc.timestamp_opt(i, 0).single())
            .or_else(|| {
                self.created_at
                    .as_deref()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|d| d.with_timezone(&Utc))
            })
    }

    fn into_mention(self) -> Option<Mention> {
        let id = id_string(&self.object_id)?;
        let created_at = self.created();
        let is_comment = self
            .tags
            .as_ref()
            .map(|t| t.iter().any(|t| t == "comment"))
            .unwrap_or(self.comment_text.is_some() && self.title.is_none());
        let author = Author {
            url: self
                .author
                .as_ref()
                .map(|a| format!("https://news.ycombinator.com/user?id={a}")),
            handle: self.author,
            display_name: None,
            reach: None,
        };
        let url = Some(format!("https://news.ycombinator.com/item?id={id}"));
        let decode = |s: Option<String>| s.map(|s| html_to_text(&s)).and_then(non_empty);
        Some(if is_comment {
            Mention {
                platform_id: id,
                url,
                author,
                title: decode(self.story_title),
                text: decode(self.comment_text).unwrap_or_default(),
                created_at,
                kind: MentionKind::Comment,
                engagement: Engagement {
                    score: self.points,
                    ..Engagement::default()
                },
                conversation: Conversation {
                    thread_id: id_string(&self.story_id),
                    parent_id: id_string(&self.parent_id),
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
                author,
                title: decode(self.title),
                text: decode(self.story_text).unwrap_or_default(),
                created_at,
                kind: MentionKind::Post,
                engagement: Engagement {
                    score: self.points,
                    replies: self.num_comments,
                    ..Engagement::default()
                },
                lang: None,
                rating: None,
            }
        })
    }
}

/// A time window `[lo, hi)` of `created_at_i`; `hi` open when `None`.
#[derive(Debug, Clone, Copy)]
struct Window {
    lo: i64,
    hi: Option<i64>,
}

impl Window {
    fn filter(&self) -> String {
        match self.hi {
            Some(hi) => format!("created_at_i>={},created_at_i<{hi}", self.lo),
            None => format!("created_at_i>={}", self.lo),
        }
    }
}

/// A `hackernews` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct HackerNews {
    config: HackerNewsConfig,
    root: String,
    terms: Terms,
    /// Author karma by user name (`None`: the user is unknown), with when it was read.
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

/// True for a name HN allows (letters, digits, `-`, `_`): only those are looked up.
fn user_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl HackerNews {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &HackerNewsConfig) -> Result<HackerNews, FetchError> {
        Ok(HackerNews {
            root: config.endpoint(),
            terms: Terms::parse(&config.query),
            config: config.clone(),
            karma: StdMutex::new(HashMap::new()),
        })
    }

    /// One author's karma from `/users/<name>`.
    async fn lookup(&self, http: &HttpFetcher, name: &str) -> Lookup {
        let url = format!("{}/users/{name}", self.root);
        let reply = match http.api(ApiRequest::get(&url)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("hackernews: karma lookup failed: {e}");
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
        #[derive(Deserialize)]
        struct User {
            #[serde(default)]
            karma: Option<i64>,
        }
        match reply.into_json().map(serde_json::from_value::<User>) {
            Ok(Ok(user)) => Lookup::Answer(user.karma.map(|k| k.max(0) as u64)),
            _ => Lookup::Failed,
        }
    }

    /// Sets `author.reach` from the karma cache, first looking up (at most [`MAX_LOOKUPS`])
    /// the authors it does not hold. Never fails.
    async fn add_reach(&self, http: &HttpFetcher, mentions: &mut [Mention]) {
        let wanted: Vec<String> = {
            let mut cache = self
                .karma
                .lock()
                .expect("the karma cache is never poisoned");
            let now = Instant::now();
            cache.retain(|_, (_, at)| now.duration_since(*at) < REACH_TTL);
            let mut wanted: Vec<String> = Vec::new();
            for name in mentions.iter().filter_map(|m| m.author.handle.as_deref()) {
                if user_name_ok(name)
                    && !cache.contains_key(name)
                    && !wanted.iter().any(|w| w == name)
                {
                    wanted.push(name.to_string());
                }
            }
            wanted
        };
        for name in wanted.into_iter().take(MAX_LOOKUPS) {
            match self.lookup(http, &name).await {
                Lookup::Answer(karma) => {
                    self.karma
                        .lock()
                        .expect("the karma cache is never poisoned")
                        .insert(name, (karma, Instant::now()));
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
            m.author.reach = m
                .author
                .handle
                .as_deref()
                .and_then(|h| cache.get(h))
                .and_then(|(karma, _)| *karma);
        }
    }

    fn url(&self, window: Window, page: u64) -> Result<String, FetchError> {
        let mut url = url::Url::parse(&format!("{}/search_by_date", self.root)).map_err(|_| {
            FetchError::Config("base_url is not an http(s) URL: write the API root".to_string())
        })?;
        url.query_pairs_mut()
            .append_pair("query", self.config.query.trim())
            .append_pair("tags", &format!("({})", self.config.tags.join(",")))
            .append_pair("numericFilters", &window.filter())
            .append_pair("hitsPerPage", &HITS_PER_PAGE.to_string())
            .append_pair("page", &page.to_string());
        Ok(url.to_string())
    }

    async fn page(
        &self,
        http: &HttpFetcher,
        window: Window,
        page: u64,
    ) -> Result<Page, FetchError> {
        let url = self.url(window, page)?;
        let reply = http.api(ApiRequest::get(&url)).await?;
        let value = reply.into_json()?;
        serde_json::from_value(value).map_err(|e| {
            FetchError::Parse(format!(
                "not an Algolia search reply ({e}): check that base_url is the HN Algolia API root"
            ))
        })
    }

    pub async fn fetch(
        &self,
        http: &HttpFetcher,
        state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        let cursor = Cursor::read(state);
        let now = http.now().timestamp();
        let lo = match cursor.since {
            Some(since) => since - OVERLAP.as_secs() as i64,
            None => now - FIRST_WINDOW.as_secs() as i64,
        };
        // Oldest window on top: read in time order, so that a poll cut short has read a
        // contiguous stretch from `lo`, and the cursor covers no gap.
        let mut stack = vec![Window { lo, hi: None }];
        let mut requests = 0usize;
        let mut seen = HashSet::new();
        let mut mentions = Vec::new();
        let mut newest = cursor.since;
        let mut cut_short = false;
        'windows: while let Some(window) = stack.pop() {
            let mut page = 0u64;
            let mut hits_read = Vec::new();
            loop {
                if requests >= MAX_REQUESTS {
                    cut_short = true;
                    break 'windows;
                }
                requests += 1;
                let reply = self.page(http, window, page).await?;
                let count = reply.hits.len() as u64;
                let total = reply.nb_hits.unwrap_or(0);
                let hi = window.hi.unwrap_or(now + 1);
                if page == 0 && total > MAX_HITS && hi - window.lo > 1 {
                    // More than Algolia will page through: read each half on its own.
                    let mid = window.lo + (hi - window.lo) / 2;
                    stack.push(Window {
                        lo: mid,
                        hi: window.hi,
                    });
                    stack.push(Window {
                        lo: window.lo,
                        hi: Some(mid),
                    });
                    continue 'windows;
                }
                hits_read.extend(reply.hits);
                page += 1;
                let more = match reply.nb_pages {
                    Some(pages) => page < pages,
                    None => count == HITS_PER_PAGE,
                };
                if !more || count == 0 || page * HITS_PER_PAGE >= MAX_HITS {
                    break;
                }
            }
            for value in hits_read {
                let hit: Hit = match serde_json::from_value(value) {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::debug!("hackernews: skipping a hit of an unknown shape: {e}");
                        continue;
                    }
                };
                if let Some(i) = hit
                    .created_at_i
                    .or_else(|| hit.created().map(|d| d.timestamp()))
                {
                    newest = Some(newest.map_or(i, |n| n.max(i)));
                }
                let Some(m) = hit.into_mention() else {
                    continue;
                };
                let haystack = format!("{}\n{}", m.title.as_deref().unwrap_or(""), m.text);
                if self.terms.matches(&haystack) && seen.insert(m.platform_id.clone()) {
                    mentions.push(m);
                }
            }
        }
        self.add_reach(http, &mut mentions).await;
        let since = match (cursor.since, newest) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Ok(FetchOutcome {
            mentions,
            state: SourceState {
                etag: None,
                last_modified: None,
                cursor: since.map(|s| {
                    serde_json::to_string(&Cursor { since: Some(s) }).expect("a cursor serialises")
                }),
            },
            not_modified: false,
            notice: if cut_short {
                Notice::degraded(format!(
                    "more hits than {MAX_REQUESTS} requests can read in one poll: the rest comes next poll; narrow the query or poll more often"
                ))
            } else {
                None
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_match_whole_words_and_phrases() {
        let t = Terms::parse("Rust \"acme cloud\" -spam");
        assert_eq!(t.required, vec!["rust", "acme cloud"]);
        assert_eq!(t.excluded, vec!["spam"]);
        assert!(t.matches("We use RUST at Acme  Cloud."));
        assert!(!t.matches("We use rusty tools at Acme Cloud"));
        assert!(!t.matches("In trust we trust, acme cloud"));
        assert!(!t.matches("rust at acme and cloud"));
        assert!(!t.matches("rust acme cloud spam"));
        assert_eq!(Terms::parse("  ").required, Vec::<String>::new());
        assert_eq!(Terms::parse("c++").required, vec!["c"]);
        assert_eq!(
            Terms::parse("\"unclosed phrase").required,
            vec!["unclosed phrase"]
        );
    }

    #[test]
    fn validate_names_the_key() {
        let c = |query: &str, tags: &[&str]| HackerNewsConfig {
            query: query.to_string(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            base_url: None,
        };
        assert!(c("acme", &["story", "comment"]).validate().is_empty());
        assert!(c("acme", &["author_pg", "show_hn"]).validate().is_empty());
        let keys = |p: Vec<ConfigProblem>| p.into_iter().map(|p| p.key).collect::<Vec<_>>();
        assert_eq!(keys(c(" ", &["story"]).validate()), vec!["query"]);
        assert_eq!(keys(c("acme", &[]).validate()), vec!["tags"]);
        assert_eq!(keys(c("acme", &["stories"]).validate()), vec!["tags"]);
        assert_eq!(keys(c("acme", &["story,comment"]).validate()), vec!["tags"]);
    }
}
