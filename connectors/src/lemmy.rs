//! Lemmy: search (API v3, or v4 on Lemmy 1.0).
//!
//! # What it calls
//!
//! * Once per connector (with `api = "auto"`): `GET {base}/api/v4/site`, and if the instance
//!   does not know it (a 4xx other than 429), `GET {base}/api/v3/site`. The answer is kept in
//!   memory; `api = "v3"` or `"v4"` skips the question.
//! * v3 (Lemmy 0.19): `GET {base}/api/v3/search?q=&type_=All|Posts|Comments&sort=New&listing_type=All&limit=50&page=N`,
//!   replying `{posts: [PostView], comments: [CommentView]}`.
//! * v4 (Lemmy 1.0): `GET {base}/api/v4/search?q=&type_=...&sort=New&listing_type=All&limit=50[&page_cursor=]`,
//!   replying one combined list (`search`, or `results` in some 1.0 pre-releases) of items
//!   tagged by `type_` (`Post`, `Comment`; others are skipped) with `next_page` as the cursor.
//!   Counts are read from `counts` or, where 1.0 moved them, from the post or comment itself.
//!
//! `community_name` is added when `community` is set; `Authorization: Bearer <token>` when a
//! token is. Up to [`MAX_PAGES`] pages are read per poll, and reading stops at the first page
//! whose oldest item is older than the window (`newest_seen - OVERLAP`, first poll
//! `now - FIRST_WINDOW`), or that is not full.
//!
//! # Ids and fields
//!
//! `platform_id` and `url` are the item's `ap_id`, the same on every instance. Posts: title
//! `name`, text the markdown `body` as text (plus the link of a link post), score and comment
//! count. Comments are [`MentionKind::Comment`]s: text the markdown `content`, thread the
//! post's `ap_id`, score and child count as replies; the parent is the post's `ap_id` for a
//! top-level comment, else this instance's address of the parent comment
//! (`{base}/comment/<id>`, from `comment.path`), as Lemmy gives no parent `ap_id`. The author
//! is `name@instance` (instance from the creator's `actor_id`); Lemmy has no follower count,
//! so there is no reach.
//!
//! # Cursor
//!
//! `{"newest":"2026-05-01T12:00:00Z"}`, the newest `published` seen.
//!
//! # Rate limits
//!
//! Lemmy sends no rate-limit headers. Its per-IP buckets are set by the admin (search: about
//! 60 per 10 minutes by default); going over gives a 400 (or 429) with `rate_limit_error`,
//! reported as a 429 that waits [`RATE_LIMIT_WAIT`] unless the server said otherwise.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::http::{ApiReply, ApiRequest, HttpFetcher};
use crate::secret::{Secret, SecretValue};
use crate::text::markdown_to_text;
use crate::{
    Author, ConfigProblem, Conversation, Engagement, FIRST_WINDOW, FetchError, FetchOutcome,
    Mention, MentionKind, OVERLAP, SourceState, check_base_url,
};

/// Pages read at most per poll.
pub const MAX_PAGES: usize = 3;

/// Items asked per page: Lemmy's maximum.
const PAGE_SIZE: usize = 50;

/// Wait after a `rate_limit_error` that came without `Retry-After`.
pub const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// The `[[source]]` keys of `kind = "lemmy"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LemmyConfig {
    /// Search query.
    pub query: String,
    /// Only this community (`rust@programming.dev`, or a local name).
    #[serde(default)]
    pub community: Option<String>,
    /// What to search: `all`, `posts` or `comments`.
    #[serde(default)]
    pub search: LemmyType,
    /// Which API: `auto` (ask the instance), `v3` or `v4`.
    #[serde(default)]
    pub api: LemmyApi,
    /// A login JWT, for instances that require one.
    #[serde(default)]
    pub token: Option<Secret>,
    /// The instance or forum (`https://lemmy.world`).
    pub base_url: String,
}

/// What a Lemmy source searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LemmyType {
    #[default]
    All,
    Posts,
    Comments,
}

impl LemmyType {
    fn param(self) -> &'static str {
        match self {
            LemmyType::All => "All",
            LemmyType::Posts => "Posts",
            LemmyType::Comments => "Comments",
        }
    }
}

/// Which Lemmy API an instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LemmyApi {
    #[default]
    Auto,
    V3,
    V4,
}

impl LemmyConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(Some(&self.base_url), &mut p);
        crate::check_query(&self.query, "acme", &mut p);
        if let Some(c) = &self.community {
            let ok = !c.trim().is_empty()
                && !c.starts_with(['!', '@'])
                && !c.contains(char::is_whitespace)
                && !c.contains('/');
            if !ok {
                p.push(ConfigProblem::new(
                    "community",
                    format!("{c:?} is not a community name: write \"name\" or \"name@instance\""),
                ));
            }
        }
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [self.token.as_mut().map(|s| ("token", s))]
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
    /// The newest `published` seen.
    #[serde(default)]
    newest: Option<DateTime<Utc>>,
}

/// A `lemmy` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct Lemmy {
    config: LemmyConfig,
    base: String,
    token: Option<SecretValue>,
    /// The API version, once known (configured, or asked of the instance once).
    api: Mutex<Option<LemmyApi>>,
}

impl Lemmy {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &LemmyConfig) -> Result<Lemmy, FetchError> {
        let token = crate::resolve_opt("token", config.token.as_ref())?;
        let known = (config.api != LemmyApi::Auto).then_some(config.api);
        Ok(Lemmy {
            config: config.clone(),
            base: config.endpoint(),
            token,
            api: Mutex::new(known),
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
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Bearer {}", t.expose()));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        let api = self.api(http, &headers).await?;
        let window = old
            .newest
            .map(|t| t - OVERLAP)
            .unwrap_or_else(|| http.now() - FIRST_WINDOW);

        let mut mentions: Vec<Mention> = Vec::new();
        let mut page_cursor: Option<String> = None;
        for page in 1..=MAX_PAGES {
            let url = self.search_url(api, page, page_cursor.as_deref())?;
            let reply = http
                .api(ApiRequest::get(url.as_str()).headers(&headers))
                .await?;
            if !reply.is_success() {
                return Err(error(&reply));
            }
            let json = reply.into_json()?;
            let (items, full, next) = match api {
                LemmyApi::V4 => parse_v4(json, &self.base)?,
                _ => parse_v3(json, &self.base)?,
            };
            let oldest = items.iter().filter_map(|m| m.created_at).min();
            mentions.extend(items);
            let reached_window = oldest.is_some_and(|t| t < window);
            page_cursor = next;
            let more = match api {
                LemmyApi::V4 => page_cursor.is_some(),
                _ => full,
            };
            if reached_window || !more {
                break;
            }
        }

        let newest = mentions
            .iter()
            .filter_map(|m| m.created_at)
            .chain(old.newest)
            .max();
        Ok(FetchOutcome {
            mentions,
            state: SourceState {
                cursor: serde_json::to_string(&Cursor { newest }).ok(),
                ..state.clone()
            },
            not_modified: false,
            notice: None,
        })
    }

    /// The API version: configured, remembered, or asked of the instance.
    async fn api(
        &self,
        http: &HttpFetcher,
        headers: &[(&str, &str)],
    ) -> Result<LemmyApi, FetchError> {
        if let Some(a) = *self.api.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(a);
        }
        let mut found = None;
        for (api, version) in [(LemmyApi::V4, "v4"), (LemmyApi::V3, "v3")] {
            let url = format!("{}/api/{version}/site", self.base);
            let reply = http.api(ApiRequest::get(&url).headers(headers)).await?;
            if reply.is_success() {
                found = Some(api);
                break;
            }
            let unknown = (400..500).contains(&reply.status)
                && reply.status != 429
                && !is_rate_limited(&reply);
            if api == LemmyApi::V3 || !unknown {
                return Err(error(&reply));
            }
        }
        let api = found.unwrap_or(LemmyApi::V3);
        *self.api.lock().unwrap_or_else(|e| e.into_inner()) = Some(api);
        Ok(api)
    }

    fn search_url(
        &self,
        api: LemmyApi,
        page: usize,
        page_cursor: Option<&str>,
    ) -> Result<Url, FetchError> {
        let version = if api == LemmyApi::V4 { "v4" } else { "v3" };
        let mut url = Url::parse(&format!("{}/api/{version}/search", self.base)).map_err(|_| {
            FetchError::Config("base_url is not a valid URL: write the instance address".into())
        })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("q", self.config.query.trim())
                .append_pair("type_", self.config.search.param())
                .append_pair("sort", "New")
                .append_pair("listing_type", "All")
                .append_pair("limit", &PAGE_SIZE.to_string());
            if let Some(c) = &self.config.community {
                q.append_pair("community_name", c.trim());
            }
            match api {
                LemmyApi::V4 => {
                    if let Some(c) = page_cursor {
                        q.append_pair("page_cursor", c);
                    }
                }
                _ => {
                    q.append_pair("page", &page.to_string());
                }
            }
        }
        Ok(url)
    }
}

/// A `rate_limit_error` body (Lemmy says it with a 400).
fn is_rate_limited(reply: &ApiReply) -> bool {
    reply
        .json
        .as_ref()
        .and_then(|j| j.get("error"))
        .and_then(|e| e.as_str())
        .is_some_and(|e| e == "rate_limit_error")
}

/// The error for a failed reply: a rate limit is a 429 that waits.
fn error(reply: &ApiReply) -> FetchError {
    if reply.status == 429 || is_rate_limited(reply) {
        return FetchError::Status {
            status: 429,
            retry_after: reply.retry_after.or(Some(RATE_LIMIT_WAIT)),
        };
    }
    reply.status_error()
}

fn shape_error(e: serde_json::Error) -> FetchError {
    FetchError::Parse(format!(
        "Lemmy search reply: {e}: check base_url and `api` (v3 or v4)"
    ))
}

/// v3: `(mentions, whether a list was full, None)`.
fn parse_v3(
    json: serde_json::Value,
    base: &str,
) -> Result<(Vec<Mention>, bool, Option<String>), FetchError> {
    #[derive(Deserialize)]
    struct V3 {
        #[serde(default)]
        posts: Vec<PostView>,
        #[serde(default)]
        comments: Vec<CommentView>,
    }
    let r: V3 = serde_json::from_value(json).map_err(shape_error)?;
    let full = r.posts.len() >= PAGE_SIZE || r.comments.len() >= PAGE_SIZE;
    let mut out: Vec<Mention> = r.posts.into_iter().filter_map(post_mention).collect();
    out.extend(
        r.comments
            .into_iter()
            .filter_map(|c| comment_mention(c, base)),
    );
    Ok((out, full, None))
}

/// v4: `(mentions, whether the page was full, next_page)`.
fn parse_v4(
    json: serde_json::Value,
    base: &str,
) -> Result<(Vec<Mention>, bool, Option<String>), FetchError> {
    #[derive(Deserialize)]
    struct V4 {
        #[serde(default, alias = "results")]
        search: Vec<serde_json::Value>,
        #[serde(default)]
        next_page: Option<String>,
    }
    let r: V4 = serde_json::from_value(json).map_err(shape_error)?;
    let full = r.search.len() >= PAGE_SIZE;
    let mut out = Vec::new();
    for item in r.search {
        let kind = item.get("type_").and_then(|t| t.as_str()).unwrap_or("");
        let m = match kind {
            "Post" => post_mention(serde_json::from_value(item).map_err(shape_error)?),
            "Comment" => comment_mention(serde_json::from_value(item).map_err(shape_error)?, base),
            _ => None,
        };
        out.extend(m);
    }
    Ok((out, full, r.next_page.filter(|p| !p.is_empty())))
}

#[derive(Debug, Deserialize)]
struct PostView {
    post: Post,
    #[serde(default)]
    creator: Option<Person>,
    #[serde(default)]
    counts: Option<Counts>,
}

#[derive(Debug, Deserialize)]
struct CommentView {
    comment: Comment,
    #[serde(default)]
    post: Option<Post>,
    #[serde(default)]
    creator: Option<Person>,
    #[serde(default)]
    counts: Option<Counts>,
}

#[derive(Debug, Default, Deserialize)]
struct Post {
    #[serde(default)]
    ap_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    published: Option<String>,
    /// Lemmy 1.0 puts the counts on the post itself.
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Debug, Default, Deserialize)]
struct Comment {
    #[serde(default)]
    ap_id: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Debug, Default, Deserialize)]
struct Counts {
    #[serde(default)]
    score: Option<i64>,
    #[serde(default)]
    comments: Option<u64>,
    #[serde(default)]
    child_count: Option<u64>,
}

impl Counts {
    /// `self`, with what it lacks taken from `other`.
    fn or(self, other: Counts) -> Counts {
        Counts {
            score: self.score.or(other.score),
            comments: self.comments.or(other.comments),
            child_count: self.child_count.or(other.child_count),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct Person {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default, alias = "ap_id")]
    actor_id: Option<String>,
}

/// `published` as Lemmy writes it: RFC 3339 (0.19), or without a zone (0.18, UTC).
fn published(s: Option<&str>) -> Option<DateTime<Utc>> {
    let s = s?.trim();
    s.parse::<DateTime<Utc>>()
        .ok()
        .or_else(|| s.parse::<NaiveDateTime>().ok().map(|t| t.and_utc()))
}

fn author(p: Option<Person>) -> Author {
    let Some(p) = p else {
        return Author::default();
    };
    let host = p
        .actor_id
        .as_deref()
        .and_then(|a| Url::parse(a).ok())
        .and_then(|u| u.host_str().map(str::to_string));
    let name = p.name.filter(|n| !n.is_empty());
    Author {
        handle: match (&name, host) {
            (Some(n), Some(h)) => Some(format!("{n}@{h}")),
            (n, _) => n.clone(),
        },
        display_name: p.display_name.filter(|d| !d.is_empty()),
        reach: None,
        url: p.actor_id.filter(|a| !a.is_empty()),
    }
}

fn post_mention(v: PostView) -> Option<Mention> {
    let PostView {
        post,
        creator,
        counts,
    } = v;
    if post.ap_id.is_empty() {
        return None;
    }
    let counts = counts.unwrap_or_default().or(post.counts);
    let mut text = post
        .body
        .as_deref()
        .map(markdown_to_text)
        .unwrap_or_default();
    if let Some(link) = post.url.filter(|u| !u.is_empty()) {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&link);
    }
    Some(Mention {
        url: Some(post.ap_id.clone()),
        author: author(creator),
        title: post.name.filter(|n| !n.is_empty()),
        text,
        created_at: published(post.published.as_deref()),
        kind: MentionKind::Post,
        engagement: Engagement {
            score: counts.score,
            replies: counts.comments,
            ..Engagement::default()
        },
        conversation: Conversation {
            thread_id: Some(post.ap_id.clone()),
            parent_id: None,
        },
        platform_id: post.ap_id,
        ..Mention::default()
    })
}

fn comment_mention(v: CommentView, base: &str) -> Option<Mention> {
    let CommentView {
        comment,
        post,
        creator,
        counts,
    } = v;
    if comment.ap_id.is_empty() {
        return None;
    }
    let counts = counts.unwrap_or_default().or(comment.counts);
    let thread = post.map(|p| p.ap_id).filter(|a| !a.is_empty());
    // `0.<ancestors>.<own id>`: the parent is the id before our own, or the post.
    let ids: Vec<&str> = comment
        .path
        .as_deref()
        .unwrap_or("")
        .split('.')
        .filter(|s| !s.is_empty() && *s != "0")
        .collect();
    let parent = match ids.len() {
        0 | 1 => thread.clone(),
        n => Some(format!("{base}/comment/{}", ids[n - 2])),
    };
    Some(Mention {
        url: Some(comment.ap_id.clone()),
        author: author(creator),
        title: None,
        text: markdown_to_text(&comment.content),
        created_at: published(comment.published.as_deref()),
        kind: MentionKind::Comment,
        engagement: Engagement {
            score: counts.score,
            replies: counts.child_count,
            ..Engagement::default()
        },
        conversation: Conversation {
            thread_id: thread,
            parent_id: parent,
        },
        platform_id: comment.ap_id,
        ..Mention::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_with_and_without_a_zone() {
        let want: DateTime<Utc> = "2024-05-01T12:00:00.5Z".parse().unwrap();
        assert_eq!(published(Some("2024-05-01T12:00:00.500000Z")), Some(want));
        assert_eq!(published(Some("2024-05-01T12:00:00.500000")), Some(want));
        assert_eq!(published(Some("yesterday")), None);
    }
}
