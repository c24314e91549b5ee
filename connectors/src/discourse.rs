//! Discourse: the latest posts of a forum (or its search, at the rate the forum allows).
//!
//! # What it calls
//!
//! * `mode = "latest"` (default): `GET {base}/posts.json`, the newest posts of the whole forum
//!   (`latest_posts`, about 20). When even the oldest post of a page is newer than the cursor,
//!   the next page is read with `before=<lowest id>`, at most [`MAX_PAGES`] pages a poll (the
//!   first poll reads one). With a `query`, posts are kept only when every word of it appears
//!   in the topic title or the post (case-insensitive); without one, every post is returned
//!   and the watches do the matching.
//! * `mode = "search"`: `GET {base}/search.json?q=<query> order:latest after:<date>&page=1`,
//!   `date` being the day before the newest post seen (first poll: before `now - FIRST_WINDOW`).
//!   Posts are joined to `topics` by `topic_id` for title and slug. Discourse limits anonymous
//!   search hard, so the connector makes at most one search a minute ([`SEARCH_SPACING`]):
//!   a poll sooner than that returns nothing and keeps the cursor.
//!
//! `Api-Key` and `Api-Username` are sent when configured (private forums).
//!
//! # Ids and fields
//!
//! `platform_id` is the post id (one source reads one forum); the URL
//! `{base}/t/{slug}/{topic_id}/{post_number}`. The first post of a topic is a
//! [`MentionKind::Post`] with the topic title; later ones are [`MentionKind::Comment`]s in the
//! topic's thread (`thread_id` = topic id; Discourse gives the parent as a post number only,
//! so no `parent_id`). Text is the `cooked` HTML as text (else `raw`, else the search `blurb`).
//! Likes and replies come from `like_count` and `reply_count` where the forum sends them.
//!
//! # Cursor
//!
//! `{"last_id":1234,"newest":"2026-05-01T12:00:00Z"}`: the highest post id and the newest
//! `created_at` seen.
//!
//! # Rate limits
//!
//! Discourse sends no rate-limit headers. A 429 comes with `Retry-After` (which the fetcher
//! honours) and a JSON body whose `extras.wait_seconds` is used when the header is missing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use crate::http::{ApiReply, ApiRequest, HttpFetcher};
use crate::secret::{Secret, SecretValue};
use crate::text::html_to_text;
use crate::{
    Author, ConfigProblem, Conversation, Engagement, FIRST_WINDOW, FetchError, FetchOutcome,
    Mention, MentionKind, SourceState, check_base_url,
};

/// Pages of `/posts.json` read at most per poll.
pub const MAX_PAGES: usize = 5;

/// Least time between two searches of one source.
pub const SEARCH_SPACING: Duration = Duration::from_secs(60);

/// The `[[source]]` keys of `kind = "discourse"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscourseConfig {
    /// With `mode = "search"`, the search query; with `latest`, optional: the watches match locally.
    #[serde(default)]
    pub query: Option<String>,
    /// `latest` (`/posts.json`: every new post, cheap) or `search` (`/search.json`, rate-limited).
    #[serde(default)]
    pub mode: DiscourseMode,
    /// API key for a private forum (sent as `Api-Key`).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// The user the key acts as (sent as `Api-Username`).
    #[serde(default)]
    pub api_username: Option<String>,
    /// The forum (`https://meta.discourse.org`).
    pub base_url: String,
}

/// How a Discourse source reads the forum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscourseMode {
    #[default]
    Latest,
    Search,
}

impl DiscourseConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(Some(&self.base_url), &mut p);
        let query = self.query.as_deref().map(str::trim).unwrap_or("");
        if self.mode == DiscourseMode::Search && query.is_empty() {
            p.push(ConfigProblem::new(
                "query",
                "mode = \"search\" needs a query: write the words to search for, or use mode = \"latest\"",
            ));
        }
        match (&self.api_key, self.api_username.as_deref().map(str::trim)) {
            (Some(_), None) | (Some(_), Some("")) => p.push(ConfigProblem::new(
                "api_username",
                "api_key is set without api_username: write the user the key acts as (e.g. \"system\")",
            )),
            (None, Some(_)) => p.push(ConfigProblem::new(
                "api_key",
                "api_username is set without api_key: add the key, or remove api_username",
            )),
            _ => {}
        }
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [self.api_key.as_mut().map(|s| ("api_key", s))]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        self.base_url.trim_end_matches('/').to_string()
    }
}

/// The cursor kept between polls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Cursor {
    /// The highest post id seen.
    #[serde(default)]
    last_id: Option<u64>,
    /// The newest `created_at` seen.
    #[serde(default)]
    newest: Option<DateTime<Utc>>,
}

/// A `discourse` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct Discourse {
    config: DiscourseConfig,
    base: String,
    api_key: Option<SecretValue>,
    /// When the last search was sent, to keep searches a minute apart.
    last_search: Mutex<Option<Instant>>,
}

impl Discourse {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &DiscourseConfig) -> Result<Discourse, FetchError> {
        let api_key = crate::resolve_opt("api_key", config.api_key.as_ref())?;
        Ok(Discourse {
            config: config.clone(),
            base: config.endpoint(),
            api_key,
            last_search: Mutex::new(None),
        })
    }

    pub async fn fetch(
        &self,
        http: &HttpFetcher,
        state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        let old: Cursor = state
            .cursor
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let (Some(k), Some(u)) = (&self.api_key, &self.config.api_username) {
            headers.push(("Api-Key", k.expose()));
            headers.push(("Api-Username", u.trim()));
        }
        let mentions = match self.config.mode {
            DiscourseMode::Latest => self.latest(http, &headers, &old).await?,
            DiscourseMode::Search => {
                let mut last = self.last_search.lock().await;
                if !search_due(*last) {
                    return Ok(FetchOutcome {
                        state: state.clone(),
                        ..FetchOutcome::default()
                    });
                }
                *last = Some(Instant::now());
                drop(last);
                self.search(http, &headers, &old).await?
            }
        };
        let cursor = Cursor {
            last_id: mentions
                .iter()
                .filter_map(|m| m.platform_id.parse::<u64>().ok())
                .chain(old.last_id)
                .max(),
            newest: mentions
                .iter()
                .filter_map(|m| m.created_at)
                .chain(old.newest)
                .max(),
        };
        let mentions = match self.config.query.as_deref() {
            Some(q) if self.config.mode == DiscourseMode::Latest => {
                mentions.into_iter().filter(|m| matches(q, m)).collect()
            }
            _ => mentions,
        };
        Ok(FetchOutcome {
            mentions,
            state: SourceState {
                cursor: serde_json::to_string(&cursor).ok(),
                ..state.clone()
            },
            not_modified: false,
            notice: None,
        })
    }

    fn url(&self, path: &str, params: &[(&str, &str)]) -> Result<Url, FetchError> {
        let mut url = Url::parse(&format!("{}/{path}", self.base)).map_err(|_| {
            FetchError::Config("base_url is not a valid URL: write the forum address".into())
        })?;
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        Ok(url)
    }

    async fn get(
        &self,
        http: &HttpFetcher,
        headers: &[(&str, &str)],
        url: &Url,
    ) -> Result<serde_json::Value, FetchError> {
        let reply = http
            .api(ApiRequest::get(url.as_str()).headers(headers))
            .await?;
        if !reply.is_success() {
            return Err(error(&reply));
        }
        reply.into_json()
    }

    /// `/posts.json`, paged back with `before=` until the cursor is reached.
    async fn latest(
        &self,
        http: &HttpFetcher,
        headers: &[(&str, &str)],
        old: &Cursor,
    ) -> Result<Vec<Mention>, FetchError> {
        let mut out = Vec::new();
        let mut before: Option<u64> = None;
        for _ in 0..MAX_PAGES {
            let b = before.map(|b| b.to_string());
            let params: Vec<(&str, &str)> = b.iter().map(|b| ("before", b.as_str())).collect();
            let json = self
                .get(http, headers, &self.url("posts.json", &params)?)
                .await?;
            let page: LatestPosts = serde_json::from_value(json).map_err(|e| {
                FetchError::Parse(format!(
                    "posts.json reply: {e}: check that base_url is a Discourse forum"
                ))
            })?;
            let lowest = page.latest_posts.iter().map(|p| p.id).min();
            out.extend(
                page.latest_posts
                    .into_iter()
                    .map(|p| self.to_mention(p, None)),
            );
            match (lowest, old.last_id) {
                // Still above the cursor: older unseen posts may be on the next page.
                (Some(low), Some(last)) if low > last + 1 && Some(low) != before => {
                    before = Some(low)
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// `/search.json`, newest first, from the day before the newest post seen.
    async fn search(
        &self,
        http: &HttpFetcher,
        headers: &[(&str, &str)],
        old: &Cursor,
    ) -> Result<Vec<Mention>, FetchError> {
        let since =
            old.newest.unwrap_or_else(|| http.now() - FIRST_WINDOW) - chrono::Duration::days(1);
        let q = format!(
            "{} order:latest after:{}",
            self.config.query.as_deref().unwrap_or("").trim(),
            since.format("%Y-%m-%d")
        );
        let json = self
            .get(
                http,
                headers,
                &self.url("search.json", &[("q", &q), ("page", "1")])?,
            )
            .await?;
        let reply: SearchReply = serde_json::from_value(json).map_err(|e| {
            FetchError::Parse(format!(
                "search.json reply: {e}: check that base_url is a Discourse forum"
            ))
        })?;
        Ok(reply
            .posts
            .into_iter()
            .map(|p| {
                let topic = reply.topics.iter().find(|t| Some(t.id) == p.topic_id);
                self.to_mention(p, topic)
            })
            .collect())
    }

    fn to_mention(&self, p: Post, topic: Option<&Topic>) -> Mention {
        let slug = p
            .topic_slug
            .clone()
            .or_else(|| topic.and_then(|t| t.slug.clone()))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "-".to_string());
        let title = p
            .topic_title
            .clone()
            .or_else(|| topic.and_then(|t| t.title.clone()))
            .map(|t| html_to_text(&t))
            .filter(|t| !t.is_empty());
        let number = p.post_number.unwrap_or(1);
        let url = match p.topic_id {
            Some(t) => format!("{}/t/{slug}/{t}/{number}", self.base),
            None => format!("{}/p/{}", self.base, p.id),
        };
        let text = match (&p.cooked, &p.raw, &p.blurb) {
            (Some(c), _, _) if !c.trim().is_empty() => html_to_text(c),
            (_, Some(r), _) if !r.trim().is_empty() => r.trim().to_string(),
            (_, _, Some(b)) => html_to_text(b),
            _ => String::new(),
        };
        let is_post = number == 1;
        let username = p.username.filter(|u| !u.is_empty());
        Mention {
            platform_id: p.id.to_string(),
            url: Some(url),
            author: Author {
                url: username.as_ref().map(|u| format!("{}/u/{u}", self.base)),
                handle: username,
                display_name: p.name.filter(|n| !n.is_empty()),
                reach: None,
            },
            title: if is_post { title } else { None },
            text,
            created_at: p.created_at,
            kind: if is_post {
                MentionKind::Post
            } else {
                MentionKind::Comment
            },
            engagement: Engagement {
                likes: p.like_count,
                replies: p.reply_count,
                ..Engagement::default()
            },
            conversation: Conversation {
                thread_id: p.topic_id.map(|t| t.to_string()),
                parent_id: None,
            },
            ..Mention::default()
        }
    }
}

/// True when a search may go out: none yet, or the last one [`SEARCH_SPACING`] ago.
fn search_due(last: Option<Instant>) -> bool {
    last.is_none_or(|t| t.elapsed() >= SEARCH_SPACING)
}

/// True when every word of `query` is in the mention's title or text (case-insensitive).
fn matches(query: &str, m: &Mention) -> bool {
    let hay = format!("{} {}", m.title.as_deref().unwrap_or(""), m.text).to_lowercase();
    query
        .split_whitespace()
        .all(|w| hay.contains(&w.to_lowercase()))
}

/// The error for a failed reply: a 429 waits for `Retry-After`, else `extras.wait_seconds`.
fn error(reply: &ApiReply) -> FetchError {
    if reply.status == 429 {
        let wait = reply.retry_after.or_else(|| {
            reply
                .json
                .as_ref()
                .and_then(|j| j.pointer("/extras/wait_seconds"))
                .and_then(|w| w.as_f64())
                .filter(|w| w.is_finite() && *w >= 0.0)
                .map(|w| Duration::from_secs_f64(w.min(86_400.0)))
        });
        return FetchError::Status {
            status: 429,
            retry_after: wait,
        };
    }
    reply.status_error()
}

#[derive(Debug, Deserialize)]
struct LatestPosts {
    latest_posts: Vec<Post>,
}

#[derive(Debug, Deserialize)]
struct SearchReply {
    #[serde(default)]
    posts: Vec<Post>,
    #[serde(default)]
    topics: Vec<Topic>,
}

#[derive(Debug, Deserialize)]
struct Post {
    id: u64,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    cooked: Option<String>,
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    blurb: Option<String>,
    #[serde(default)]
    topic_id: Option<u64>,
    #[serde(default)]
    topic_slug: Option<String>,
    #[serde(default)]
    topic_title: Option<String>,
    #[serde(default)]
    post_number: Option<u64>,
    #[serde(default)]
    reply_count: Option<u64>,
    #[serde(default)]
    like_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Topic {
    id: u64,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    slug: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn searches_are_a_minute_apart() {
        assert!(search_due(None));
        let sent = Instant::now();
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(!search_due(Some(sent)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(search_due(Some(sent)));
    }

    #[test]
    fn local_matching_needs_every_word() {
        let m = Mention {
            title: Some("Acme Cloud outage".into()),
            text: "Is it down?".into(),
            ..Mention::default()
        };
        assert!(matches("acme", &m));
        assert!(matches("ACME down", &m));
        assert!(!matches("acme refund", &m));
    }
}
