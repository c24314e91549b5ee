//! GitHub: issue and pull-request search, and new comments per repository.
//!
//! Each poll makes two kinds of call to the REST API (`https://api.github.com`):
//!
//! * `GET /search/issues?q=<query> created:>=<since>&sort=created&order=desc&per_page=100`,
//!   paged while pages are full, up to the 1,000 results search ever returns. Issues and pull
//!   requests both come back (a pull request has a `pull_request` object); both are
//!   [`MentionKind::Post`]s. `incomplete_results: true` (a search timeout) is accepted as is:
//!   the next poll's overlap asks again.
//! * For each repository in `repos`:
//!   `GET /repos/{owner}/{repo}/issues/comments?since=<since>&sort=created&direction=asc&per_page=100`,
//!   paged while full (at most [`MAX_PAGES`] pages). Every new comment is returned, whether or
//!   not it matches `query`: the daemon's watches decide. These are [`MentionKind::Comment`]s.
//!
//! Headers: `Accept: application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28` and,
//! when a `token` is configured, `Authorization: Bearer <token>`.
//!
//! # Ids and threads
//!
//! An issue or pull request is its global `id` (`"2291234567"`), a comment is
//! `"comment:<id>"` (comment ids are another number space). `conversation.thread_id` is
//! `owner/repo#number` for both, so that a comment groups under its issue; a comment's
//! `parent_id` is the same issue.
//!
//! # Cursor
//!
//! `{"since": "<newest created_at seen by search>", "repos": {"owner/repo": "<newest comment
//! created_at>"}}`. Each call asks from that time minus [`OVERLAP`]; the first poll (or a new
//! repository) asks for the last [`FIRST_WINDOW`]. The times only move forward.
//!
//! # Limits
//!
//! Search allows 30 requests a minute with a token, 10 without; the other calls 5,000 an hour
//! with a token, 60 without. The fetcher holds the host on GitHub's `x-ratelimit-*` headers once
//! `remaining` is 0. GitHub's secondary limits answer `403` (or `429`) with `retry-after`, or a
//! `403` with `x-ratelimit-remaining: 0`: such a `403` is returned as a `429` with the wait, so
//! the daemon backs off rather than treating it as a permission problem.
//!
//! # Degraded
//!
//! Without a token it works at the lower limits: the poll's [`Notice::info`] says so. Follower
//! counts (`GET /users/{login}`) are not fetched: `author.reach` stays empty.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::http::{ApiReply, ApiRequest, HttpFetcher};
use crate::secret::{Secret, SecretValue};
use crate::text::markdown_to_text;
use crate::{
    Author, ConfigProblem, Conversation, Engagement, FIRST_WINDOW, FetchError, FetchOutcome,
    Mention, MentionKind, Notice, OVERLAP, SourceState, api_root, check_base_url,
};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://api.github.com";

/// Items per page (GitHub's maximum).
const PER_PAGE: usize = 100;

/// Search never returns more than this many results for one query.
const SEARCH_CAP: u64 = 1000;

/// Pages read per call and poll: 10 × 100 covers search's whole cap.
pub const MAX_PAGES: u32 = 10;

/// What a secondary-limit `403` without `retry-after` waits: GitHub asks for at least a minute.
const SECONDARY_WAIT: Duration = Duration::from_secs(60);

/// The `[[source]]` keys of `kind = "github"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubConfig {
    /// Issue search query, GitHub qualifiers allowed (`acme in:title,body org:acme`).
    pub query: String,
    /// Repositories (`owner/name`) whose new issue comments are read too (`/issues/comments?since=`).
    #[serde(default)]
    pub repos: Vec<String>,
    /// A personal access token (no scopes needed for public data): 30 searches a minute instead of 10.
    #[serde(default)]
    pub token: Option<Secret>,
    /// Replaces the API root (`https://api.github.com`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

impl GitHubConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        crate::check_query(&self.query, "acme in:title,body", &mut p);
        for repo in &self.repos {
            if !is_repo_name(repo) {
                p.push(ConfigProblem::new(
                    "repos",
                    format!("{repo:?} is not a repository: write it as \"owner/name\""),
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
        api_root(self.base_url.as_deref(), DEFAULT_ROOT)
    }
}

/// `owner/name`, each part letters, digits, `-`, `_` or `.`.
fn is_repo_name(s: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(s.split_once('/'), Some((o, n)) if part(o) && part(n))
}

/// A `github` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct GitHub {
    config: GitHubConfig,
    token: Option<SecretValue>,
}

/// The cursor kept between polls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Cursor {
    /// Newest `created_at` seen by search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<DateTime<Utc>>,
    /// Newest comment `created_at` seen, per repository.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    repos: BTreeMap<String, DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct SearchPage {
    #[serde(default)]
    total_count: Option<u64>,
    items: Vec<Issue>,
}

#[derive(Debug, Deserialize)]
struct Issue {
    id: u64,
    #[serde(default)]
    number: Option<u64>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    repository_url: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    comments: Option<u64>,
    #[serde(default)]
    reactions: Option<Reactions>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct IssueComment {
    id: u64,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    issue_url: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    reactions: Option<Reactions>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct User {
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Reactions {
    #[serde(default)]
    total_count: Option<u64>,
}

impl GitHub {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &GitHubConfig) -> Result<GitHub, FetchError> {
        let token = crate::resolve_opt("token", config.token.as_ref())?;
        Ok(GitHub {
            config: config.clone(),
            token,
        })
    }

    pub async fn fetch(
        &self,
        http: &HttpFetcher,
        state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        let root = self.config.endpoint();
        let old: Cursor = state
            .cursor
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let now = Utc::now();
        let mut cursor = old.clone();
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Bearer {}", t.expose()));
        let mut headers = vec![
            ("Accept", "application/vnd.github+json"),
            ("X-GitHub-Api-Version", "2022-11-28"),
        ];
        if let Some(a) = auth.as_deref() {
            headers.push(("Authorization", a));
        }

        let mut mentions = Vec::new();
        let since = window_start(old.since, now);
        let q = format!("{} created:>={}", self.config.query.trim(), iso(since));
        for page in 1..=MAX_PAGES {
            let url = url_with(
                &format!("{root}/search/issues"),
                &[
                    ("q", q.as_str()),
                    ("sort", "created"),
                    ("order", "desc"),
                    ("per_page", "100"),
                    ("page", &page.to_string()),
                ],
            )?;
            let value = self.call(http, &url, &headers, "search").await?;
            let result: SearchPage = serde_json::from_value(value).map_err(|_| {
                FetchError::Parse(
                    "the search reply has no list of issues (`items`): check that base_url is \
                     GitHub's API root"
                        .to_string(),
                )
            })?;
            let n = result.items.len();
            for issue in result.items {
                if let Some(t) = issue.created_at {
                    cursor.since = cursor.since.max(Some(t));
                }
                mentions.push(issue_mention(issue));
            }
            let total = result.total_count.unwrap_or(0).min(SEARCH_CAP);
            if n < PER_PAGE || u64::from(page) * PER_PAGE as u64 >= total {
                break;
            }
        }

        for repo in &self.config.repos {
            let since = window_start(old.repos.get(repo).copied(), now);
            let since_iso = iso(since);
            for page in 1..=MAX_PAGES {
                let url = url_with(
                    &format!("{root}/repos/{repo}/issues/comments"),
                    &[
                        ("since", since_iso.as_str()),
                        ("sort", "created"),
                        ("direction", "asc"),
                        ("per_page", "100"),
                        ("page", &page.to_string()),
                    ],
                )?;
                let value = match self.call(http, &url, &headers, "comments").await {
                    Err(FetchError::Status { status: 404, .. }) => {
                        return Err(FetchError::Config(format!(
                            "repos: {repo} was not found (404): check the owner/name, or give a \
                             token that can read it"
                        )));
                    }
                    other => other?,
                };
                let comments: Vec<IssueComment> = serde_json::from_value(value).map_err(|_| {
                    FetchError::Parse(format!(
                        "the comments of {repo} are not a list of comments: check that base_url \
                         is GitHub's API root"
                    ))
                })?;
                let n = comments.len();
                for c in comments {
                    if let Some(t) = c.created_at {
                        let e = cursor.repos.entry(repo.clone()).or_insert(t);
                        *e = (*e).max(t);
                    }
                    mentions.push(comment_mention(c));
                }
                if n < PER_PAGE {
                    break;
                }
            }
        }

        let notice = if self.token.is_none() {
            Notice::info(
                "no token: 10 searches a minute and 60 other requests an hour; add `token` for \
                 30 and 5,000",
            )
        } else {
            None
        };
        let cursor = if cursor == Cursor::default() {
            state.cursor.clone()
        } else {
            serde_json::to_string(&cursor).ok()
        };
        Ok(FetchOutcome {
            mentions,
            state: SourceState {
                cursor,
                ..SourceState::default()
            },
            not_modified: false,
            notice,
        })
    }

    /// One GET; a rate-limit `403` becomes a `429`, a rejected query a clear configuration error.
    async fn call(
        &self,
        http: &HttpFetcher,
        url: &str,
        headers: &[(&str, &str)],
        what: &str,
    ) -> Result<serde_json::Value, FetchError> {
        let reply = http.api(ApiRequest::get(url).headers(headers)).await?;
        if reply.is_success() {
            return reply.into_json();
        }
        if let Some(wait) = rate_limited(&reply) {
            return Err(FetchError::Status {
                status: 429,
                retry_after: Some(wait),
            });
        }
        if reply.status == 422 {
            let msg = reply
                .json
                .as_ref()
                .map(|j| self.redact(&error_message(j)))
                .unwrap_or_default();
            return Err(FetchError::Config(format!(
                "query: GitHub rejected the {what} request (422 {msg}): check the qualifiers"
            )));
        }
        Err(reply.status_error())
    }

    /// A server's message, without the token should it have been echoed back.
    fn redact(&self, msg: &str) -> String {
        match &self.token {
            Some(t) if !t.expose().is_empty() => msg.replace(t.expose(), "[redacted]"),
            _ => msg.to_string(),
        }
    }
}

/// The wait a `403`/`429` asks for when it is a rate limit (primary or secondary), else `None`.
fn rate_limited(reply: &ApiReply) -> Option<Duration> {
    if !matches!(reply.status, 403 | 429) {
        return None;
    }
    let retry = crate::ratelimit::retry_after(&reply.headers, Utc::now());
    let spent = reply
        .header("x-ratelimit-remaining")
        .and_then(|v| v.parse::<f64>().ok())
        .is_some_and(|r| r < 1.0);
    let says_so = reply
        .json
        .as_ref()
        .and_then(|j| j.get("message"))
        .and_then(|m| m.as_str())
        .is_some_and(|m| m.to_ascii_lowercase().contains("rate limit"));
    if retry.is_none() && !spent && !says_so && reply.status == 403 {
        return None;
    }
    Some(
        retry
            .or(reply.retry_after)
            .filter(|w| !w.is_zero())
            .unwrap_or(SECONDARY_WAIT),
    )
}

/// `message` and the `errors[].message` of a GitHub error body, shortened.
fn error_message(j: &serde_json::Value) -> String {
    let mut parts: Vec<&str> = j
        .get("message")
        .and_then(|m| m.as_str())
        .into_iter()
        .collect();
    if let Some(errors) = j.get("errors").and_then(|e| e.as_array()) {
        parts.extend(
            errors
                .iter()
                .filter_map(|e| e.get("message").and_then(|m| m.as_str())),
        );
    }
    parts.join(": ").chars().take(300).collect()
}

/// Where a window starts: the newest time seen minus the overlap, or the first window.
fn window_start(newest: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    match newest {
        Some(t) => t - OVERLAP,
        None => now - FIRST_WINDOW,
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn url_with(base: &str, pairs: &[(&str, &str)]) -> Result<String, FetchError> {
    let mut url = url::Url::parse(base).map_err(|e| {
        FetchError::Config(format!(
            "base_url does not make a valid API address ({e}): write e.g. \"https://api.github.com\""
        ))
    })?;
    url.query_pairs_mut().extend_pairs(pairs);
    Ok(url.to_string())
}

/// `owner/repo#number` from an API issue URL (`.../repos/owner/repo/issues/7`).
fn thread_from_issue_url(u: &str) -> Option<String> {
    let rest = &u[u.find("/repos/")? + "/repos/".len()..];
    let mut parts = rest.split('/');
    let (owner, repo, kind, number) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (kind == "issues" && !number.is_empty()).then(|| format!("{owner}/{repo}#{number}"))
}

/// `owner/repo` from an API repository URL (`.../repos/owner/repo`).
fn repo_from_url(u: &str) -> Option<String> {
    let rest = &u[u.find("/repos/")? + "/repos/".len()..];
    let mut parts = rest.split('/');
    Some(format!("{}/{}", parts.next()?, parts.next()?))
}

fn author(user: Option<User>) -> Author {
    let user = user.unwrap_or(User {
        login: None,
        html_url: None,
    });
    Author {
        handle: user.login,
        display_name: None,
        reach: None,
        url: user.html_url,
    }
}

fn issue_mention(i: Issue) -> Mention {
    let thread = match (
        i.repository_url.as_deref().and_then(repo_from_url),
        i.number,
    ) {
        (Some(repo), Some(n)) => Some(format!("{repo}#{n}")),
        _ => None,
    };
    Mention {
        platform_id: i.id.to_string(),
        url: i.html_url,
        author: author(i.user),
        title: i.title.map(|t| t.trim().to_string()),
        text: markdown_to_text(i.body.as_deref().unwrap_or_default()),
        created_at: i.created_at,
        kind: MentionKind::Post,
        engagement: Engagement {
            score: None,
            likes: i.reactions.and_then(|r| r.total_count),
            replies: i.comments,
            reposts: None,
        },
        conversation: Conversation {
            thread_id: thread,
            parent_id: None,
        },
        lang: None,
        rating: None,
    }
}

fn comment_mention(c: IssueComment) -> Mention {
    let thread = c.issue_url.as_deref().and_then(thread_from_issue_url);
    Mention {
        platform_id: format!("comment:{}", c.id),
        url: c.html_url,
        author: author(c.user),
        title: None,
        text: markdown_to_text(c.body.as_deref().unwrap_or_default()),
        created_at: c.created_at,
        kind: MentionKind::Comment,
        engagement: Engagement {
            likes: c.reactions.and_then(|r| r.total_count),
            ..Engagement::default()
        },
        conversation: Conversation {
            thread_id: thread.clone(),
            parent_id: thread,
        },
        lang: None,
        rating: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(query: &str, repos: &[&str]) -> GitHubConfig {
        GitHubConfig {
            query: query.to_string(),
            repos: repos.iter().map(|r| r.to_string()).collect(),
            token: None,
            base_url: None,
        }
    }

    #[test]
    fn validation_names_the_key() {
        assert!(
            config("acme", &["acme/widget", "a-b.c/d_e"])
                .validate()
                .is_empty()
        );
        let keys = |c: GitHubConfig| c.validate().iter().map(|p| p.key).collect::<Vec<_>>();
        assert_eq!(keys(config("  ", &[])), ["query"]);
        assert_eq!(
            keys(config("acme", &["widget", "a/b/c", "/b", "a/", "a b/c"])),
            ["repos"; 5]
        );
    }

    #[test]
    fn threads_from_api_urls() {
        assert_eq!(
            thread_from_issue_url("https://api.github.com/repos/acme/widget/issues/42"),
            Some("acme/widget#42".to_string())
        );
        assert_eq!(
            thread_from_issue_url("https://api.github.com/repos/acme/widget/pulls/42"),
            None
        );
        assert_eq!(thread_from_issue_url("https://example.com/x"), None);
        assert_eq!(
            repo_from_url("https://api.github.com/repos/acme/widget"),
            Some("acme/widget".to_string())
        );
    }

    #[test]
    fn the_cursor_reads_back_and_tolerates_garbage() {
        let c = Cursor {
            since: Some("2026-05-01T12:00:00Z".parse().unwrap()),
            repos: BTreeMap::from([(
                "acme/widget".to_string(),
                "2026-05-01T11:00:00Z".parse().unwrap(),
            )]),
        };
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Cursor>(&s).unwrap(), c);
        assert!(serde_json::from_str::<Cursor>("{\"since\": 5}").is_err());
    }
}
