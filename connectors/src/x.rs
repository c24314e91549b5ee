//! X: recent search with a bearer token, within a monthly read budget.
//!
//! # What it calls
//!
//! `GET {root}/tweets/search/recent?query=<query> -is:retweet&max_results=<n>&since_id=<id>`
//! with `tweet.fields`, `expansions=author_id` and `user.fields`, authorised by
//! `Authorization: Bearer <token>` (app-only). The first poll has no `since_id` and asks from
//! `now - FIRST_WINDOW` (`start_time`) instead. `meta.next_token` is followed, at most
//! [`MAX_PAGES`] pages a poll, and only while the budget allows another page.
//!
//! # Ids and fields
//!
//! `platform_id` is the post id; the URL `https://x.com/<username>/status/<id>`. The author comes
//! from `includes.users` (username as handle, name, `followers_count` as reach). Engagement:
//! `likes` = `like_count`, `replies` = `reply_count`, `reposts` = `retweet_count + quote_count`.
//! `conversation_id` is the thread; a post with a `replied_to` reference is a
//! [`MentionKind::Comment`] whose parent is that post. Text comes with `&amp;`-style entities,
//! which are decoded.
//!
//! # Cursor
//!
//! `{"since_id":"1790...","month":"2026-11","read":420}`: the newest id seen (ids are compared as
//! integers: they are 64-bit snowflakes, and string order breaks when their length changes) and
//! the posts read this calendar month (UTC).
//!
//! # Budget
//!
//! X bills every post read. `monthly_budget` caps the posts read per calendar month (UTC): each
//! request asks for `min(100, left)` posts, and none is sent once fewer than 10 are left (X's
//! smallest page); the source then returns nothing, with a degraded notice, until the 1st. The
//! count lives in the cursor and in memory (a poll that fails after a page still counts it). It
//! counts what came back, so it matches X's bill unless X deduplicates (it bills a post once
//! per UTC day): the cap errs on the safe side.
//!
//! # Rate limits
//!
//! `x-rate-limit-*` headers and 429 with `x-rate-limit-reset` are read by the fetcher, which
//! holds the host until the reset.

use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::http::{ApiRequest, HttpFetcher};
use crate::secret::{Secret, SecretValue};
use crate::{
    Author, ConfigProblem, Conversation, Engagement, FIRST_WINDOW, FetchError, FetchOutcome,
    Mention, MentionKind, Notice, SourceState, api_root, check_base_url,
};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://api.x.com/2";

/// Pages read at most per poll.
pub const MAX_PAGES: usize = 3;

/// X's smallest `max_results`.
const MIN_PAGE: u32 = 10;

/// X's largest `max_results`.
const MAX_PAGE: u32 = 100;

const TWEET_FIELDS: &str = "created_at,public_metrics,author_id,conversation_id,lang,in_reply_to_user_id,referenced_tweets";
const USER_FIELDS: &str = "username,name,public_metrics";

/// The `[[source]]` keys of `kind = "x"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XConfig {
    /// Search query (X operators allowed; `-is:retweet` is added).
    pub query: String,
    /// App-only bearer token (developer console).
    pub bearer_token: Secret,
    /// Posts read per calendar month (UTC), never exceeded: X bills each post read.
    pub monthly_budget: u32,
    /// Replaces the API root (`https://api.x.com/2`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

impl XConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        crate::check_query(&self.query, "acme OR @acme", &mut p);
        if self.monthly_budget < MIN_PAGE {
            p.push(ConfigProblem::new(
                "monthly_budget",
                format!(
                    "{} is too small: X reads at least 10 posts a request; write 10 or more \
                     (posts per month, e.g. 3000)",
                    self.monthly_budget
                ),
            ));
        }
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [Some(("bearer_token", &mut self.bearer_token))]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        api_root(self.base_url.as_deref(), DEFAULT_ROOT)
    }
}

/// The cursor kept between polls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Cursor {
    /// The newest post id seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since_id: Option<String>,
    /// The calendar month (UTC) `read` counts, `2026-11`.
    #[serde(default)]
    month: Option<String>,
    /// Posts read that month.
    #[serde(default)]
    read: u32,
}

/// A `x` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct X {
    config: XConfig,
    root: String,
    token: SecretValue,
    /// Posts read this month `(month, read)`, also by polls that failed after a page.
    read: Mutex<Option<(String, u32)>>,
}

/// The calendar month (UTC) of `now`, `2026-11`.
fn month_of(now: DateTime<Utc>) -> String {
    now.format("%Y-%m").to_string()
}

impl X {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &XConfig) -> Result<X, FetchError> {
        Ok(X {
            config: config.clone(),
            root: config.endpoint(),
            token: crate::resolve("bearer_token", &config.bearer_token)?,
            read: Mutex::new(None),
        })
    }

    fn read_in(&self, month: &str, cursor: &Cursor) -> u32 {
        let from_cursor = if cursor.month.as_deref() == Some(month) {
            cursor.read
        } else {
            0
        };
        let from_memory = match &*self.read.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((m, n)) if m == month => *n,
            _ => 0,
        };
        from_cursor.max(from_memory)
    }

    fn set_read(&self, month: &str, read: u32) {
        *self.read.lock().unwrap_or_else(|e| e.into_inner()) = Some((month.to_string(), read));
    }

    pub async fn fetch(
        &self,
        http: &HttpFetcher,
        state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        let now = http.now();
        let old: Cursor = state
            .cursor
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let month = month_of(now);
        let budget = self.config.monthly_budget;
        let mut read = self.read_in(&month, &old);
        let since_id = old.since_id.as_deref().and_then(|s| s.parse::<u64>().ok());

        let query = if self.config.query.contains("-is:retweet") {
            self.config.query.trim().to_string()
        } else {
            format!("{} -is:retweet", self.config.query.trim())
        };
        let auth = format!("Bearer {}", self.token.expose());
        let headers = [("Authorization", auth.as_str())];

        let mut mentions = Vec::new();
        let mut next_token: Option<String> = None;
        for page in 0..MAX_PAGES {
            let left = budget.saturating_sub(read);
            if left < MIN_PAGE {
                if page == 0 {
                    return Ok(FetchOutcome {
                        mentions,
                        state: state_with(state, &old.since_id, &month, read),
                        not_modified: false,
                        notice: Notice::degraded(format!(
                            "monthly budget of {budget} posts spent; resumes on the 1st"
                        )),
                    });
                }
                break;
            }
            let mut url =
                Url::parse(&format!("{}/tweets/search/recent", self.root)).map_err(|_| {
                    FetchError::Config("base_url is not a valid URL: write the API root".into())
                })?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("query", &query)
                    .append_pair("max_results", &left.min(MAX_PAGE).to_string());
                match since_id {
                    Some(id) => q.append_pair("since_id", &id.to_string()),
                    None => q.append_pair(
                        "start_time",
                        &(now - FIRST_WINDOW).to_rfc3339_opts(SecondsFormat::Secs, true),
                    ),
                };
                if let Some(t) = &next_token {
                    q.append_pair("next_token", t);
                }
                q.append_pair("tweet.fields", TWEET_FIELDS)
                    .append_pair("expansions", "author_id")
                    .append_pair("user.fields", USER_FIELDS);
            }
            let reply = http
                .api(ApiRequest::get(url.as_str()).headers(&headers))
                .await?;
            let body: SearchReply = serde_json::from_value(reply.into_json()?).map_err(|e| {
                FetchError::Parse(format!(
                    "recent search reply: {e}: check that base_url is the X API v2 root"
                ))
            })?;
            read = read.saturating_add(u32::try_from(body.data.len()).unwrap_or(u32::MAX));
            self.set_read(&month, read);
            let users = body.includes.users;
            mentions.extend(body.data.into_iter().map(|t| to_mention(t, &users)));
            match body.meta.next_token {
                Some(t) if !t.is_empty() => next_token = Some(t),
                _ => break,
            }
        }

        let newest = mentions
            .iter()
            .filter_map(|m| m.platform_id.parse::<u64>().ok())
            .chain(since_id)
            .max()
            .map(|id| id.to_string());
        Ok(FetchOutcome {
            mentions,
            state: state_with(state, &newest, &month, read),
            not_modified: false,
            notice: Notice::info(format!("{read} of {budget} posts read this month")),
        })
    }
}

fn state_with(
    state: &SourceState,
    since_id: &Option<String>,
    month: &str,
    read: u32,
) -> SourceState {
    let cursor = Cursor {
        since_id: since_id.clone(),
        month: Some(month.to_string()),
        read,
    };
    SourceState {
        cursor: serde_json::to_string(&cursor).ok(),
        ..state.clone()
    }
}

#[derive(Debug, Deserialize)]
struct SearchReply {
    #[serde(default)]
    data: Vec<Tweet>,
    #[serde(default)]
    includes: Includes,
    #[serde(default)]
    meta: Meta,
}

#[derive(Debug, Default, Deserialize)]
struct Includes {
    #[serde(default)]
    users: Vec<User>,
}

#[derive(Debug, Default, Deserialize)]
struct Meta {
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Tweet {
    id: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    author_id: Option<String>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    referenced_tweets: Vec<Reference>,
    #[serde(default)]
    public_metrics: Option<TweetMetrics>,
}

#[derive(Debug, Deserialize)]
struct Reference {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    id: String,
}

#[derive(Debug, Default, Deserialize)]
struct TweetMetrics {
    #[serde(default)]
    retweet_count: Option<u64>,
    #[serde(default)]
    reply_count: Option<u64>,
    #[serde(default)]
    like_count: Option<u64>,
    #[serde(default)]
    quote_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct User {
    #[serde(default)]
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    public_metrics: Option<UserMetrics>,
}

#[derive(Debug, Default, Deserialize)]
struct UserMetrics {
    #[serde(default)]
    followers_count: Option<u64>,
}

fn to_mention(t: Tweet, users: &[User]) -> Mention {
    let user = t
        .author_id
        .as_deref()
        .and_then(|a| users.iter().find(|u| u.id == a));
    let username = user
        .and_then(|u| u.username.clone())
        .filter(|u| !u.is_empty());
    let url = match &username {
        Some(u) => format!("https://x.com/{u}/status/{}", t.id),
        None => format!("https://x.com/i/web/status/{}", t.id),
    };
    let parent = t
        .referenced_tweets
        .iter()
        .find(|r| r.kind == "replied_to" && !r.id.is_empty())
        .map(|r| r.id.clone());
    let m = t.public_metrics.unwrap_or_default();
    let reposts = match (m.retweet_count, m.quote_count) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    Mention {
        url: Some(url),
        author: Author {
            url: username.as_ref().map(|u| format!("https://x.com/{u}")),
            handle: username,
            display_name: user.and_then(|u| u.name.clone()).filter(|n| !n.is_empty()),
            reach: user
                .and_then(|u| u.public_metrics.as_ref())
                .and_then(|m| m.followers_count),
        },
        title: None,
        text: html_escape::decode_html_entities(&t.text)
            .trim()
            .to_string(),
        created_at: t.created_at,
        kind: if parent.is_some() {
            MentionKind::Comment
        } else {
            MentionKind::Post
        },
        engagement: Engagement {
            score: None,
            likes: m.like_count,
            replies: m.reply_count,
            reposts,
        },
        conversation: Conversation {
            thread_id: t.conversation_id,
            parent_id: parent,
        },
        lang: t.lang.filter(|l| !l.is_empty() && l != "und"),
        rating: None,
        platform_id: t.id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(month_of(t("2026-11-30T23:59:59Z")), "2026-11");
        assert_eq!(month_of(t("2026-12-01T00:00:00Z")), "2026-12");
    }
}
