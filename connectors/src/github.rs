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
//! * With a `token` only: `GET /users/{login}` for the author's `followers` (`author.reach`),
//!   at most [`MAX_LOOKUPS`] per poll, each distinct login once, bots (`type: "Bot"`, a login
//!   ending in `[bot]`) never. Answers, a `404` included (reach unknown), are kept in memory
//!   for [`REACH_TTL`], so a returning author costs nothing for a day; authors beyond the cap
//!   come without reach and are looked up on a later poll. A failed lookup (network, `5xx`,
//!   HTML) never fails the poll: that author's reach stays empty; a rate-limit answer stops
//!   the lookups for the rest of the poll. These calls count against the 5,000-an-hour core
//!   limit (at most 10 a poll: 2,880 a day at one poll every 5 minutes).
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
//! counts are then not fetched (60 core requests an hour would not last): `author.reach` stays
//! empty.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

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

/// Follower lookups (`GET /users/{login}`) made per poll at most.
pub const MAX_LOOKUPS: usize = 10;

/// How long a looked-up follower count (or its absence) is kept.
pub const REACH_TTL: Duration = Duration::from_secs(24 * 3600);

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
    /// Followers per login (`None`: not found or not given), with when it was looked up.
    reach: Mutex<HashMap<String, (Option<u64>, Instant)>>,
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
    /// `"User"`, `"Bot"`, `"Organization"`.
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

impl User {
    /// The login of a bot account, whose follower count means nothing.
    fn bot_login(&self) -> Option<&str> {
        let login = self.login.as_deref()?;
        (self.kind.as_deref() == Some("Bot") || login.ends_with("[bot]")).then_some(login)
    }
}

/// `GET /users/{login}`, only what is read.
#[derive(Debug, Deserialize)]
struct Profile {
    #[serde(default)]
    followers: Option<u64>,
}

/// What one follower lookup gave.
enum Lookup {
    /// An answer to keep: the count, or `None` (not found, not given).
    Found(Option<u64>),
    /// Failed this time (network, `5xx`, HTML, a reply of another shape): ask again later.
    Failed,
    /// Rate limited: no more lookups this poll.
    Limited,
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
            reach: Mutex::new(HashMap::new()),
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
        let now = http.now();
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
        let mut bots = HashSet::new();
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
                note_bot(issue.user.as_ref(), &mut bots);
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
                    note_bot(c.user.as_ref(), &mut bots);
                    mentions.push(comment_mention(c));
                }
                if n < PER_PAGE {
                    break;
                }
            }
        }

        let notice = if self.token.is_none() {
            Notice::info(
                "no token: 10 searches a minute and 60 other requests an hour, no follower \
                 counts; add `token` for 30 and 5,000",
            )
        } else {
            self.add_reach(http, &root, &headers, &bots, &mut mentions)
                .await;
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
        if let Some(wait) = rate_limited(&reply, http.now()) {
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

    /// Sets `author.reach` from the cache and from at most [`MAX_LOOKUPS`] new lookups.
    async fn add_reach(
        &self,
        http: &HttpFetcher,
        root: &str,
        headers: &[(&str, &str)],
        bots: &HashSet<String>,
        mentions: &mut [Mention],
    ) {
        let mut logins: Vec<String> = Vec::new();
        for m in mentions.iter() {
            if let Some(login) = m.author.handle.as_deref()
                && !login.is_empty()
                && !login.ends_with("[bot]")
                && !bots.contains(login)
                && !logins.iter().any(|l| l == login)
            {
                logins.push(login.to_string());
            }
        }
        let mut known: HashMap<String, Option<u64>> = HashMap::new();
        let mut lookups = 0;
        for login in logins {
            let now = Instant::now();
            if let Some(reach) = self.cached(&login, now) {
                known.insert(login, reach);
                continue;
            }
            if lookups == MAX_LOOKUPS {
                continue;
            }
            lookups += 1;
            match self.lookup(http, root, headers, &login).await {
                Lookup::Found(reach) => {
                    self.lock_reach().insert(login.clone(), (reach, now));
                    known.insert(login, reach);
                }
                Lookup::Failed => {}
                Lookup::Limited => break,
            }
        }
        for m in mentions.iter_mut() {
            if let Some(reach) = m.author.handle.as_deref().and_then(|l| known.get(l)) {
                m.author.reach = *reach;
            }
        }
    }

    fn lock_reach(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<u64>, Instant)>> {
        self.reach.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A cached answer younger than [`REACH_TTL`] (expired ones are dropped).
    fn cached(&self, login: &str, now: Instant) -> Option<Option<u64>> {
        let mut cache = self.lock_reach();
        match cache.get(login) {
            Some(&(reach, at)) if now.saturating_duration_since(at) < REACH_TTL => Some(reach),
            Some(_) => {
                cache.remove(login);
                None
            }
            None => None,
        }
    }

    /// One `GET /users/{login}`; never an error.
    async fn lookup(
        &self,
        http: &HttpFetcher,
        root: &str,
        headers: &[(&str, &str)],
        login: &str,
    ) -> Lookup {
        let Ok(mut url) = url::Url::parse(root) else {
            return Lookup::Failed;
        };
        match url.path_segments_mut() {
            Ok(mut p) => {
                p.pop_if_empty().extend(["users", login]);
            }
            Err(()) => return Lookup::Failed,
        }
        let reply = match http
            .api(ApiRequest::get(url.as_str()).headers(headers))
            .await
        {
            Ok(r) => r,
            Err(FetchError::Status { status: 429, .. }) => return Lookup::Limited,
            Err(e) => {
                tracing::debug!(error = %e, "github: follower lookup failed");
                return Lookup::Failed;
            }
        };
        if reply.is_success() {
            return match reply.into_json().map(serde_json::from_value::<Profile>) {
                Ok(Ok(p)) => Lookup::Found(p.followers),
                _ => Lookup::Failed,
            };
        }
        if rate_limited(&reply, http.now()).is_some() {
            return Lookup::Limited;
        }
        if reply.status == 404 {
            return Lookup::Found(None);
        }
        Lookup::Failed
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
fn rate_limited(reply: &ApiReply, now: DateTime<Utc>) -> Option<Duration> {
    if !matches!(reply.status, 403 | 429) {
        return None;
    }
    let retry = crate::ratelimit::retry_after(&reply.headers, now);
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

/// Remembers a bot's login, which gets no follower lookup.
fn note_bot(user: Option<&User>, bots: &mut HashSet<String>) {
    if let Some(login) = user.and_then(User::bot_login) {
        bots.insert(login.to_string());
    }
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
        kind: None,
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
    fn cached_reach_expires_after_a_day() {
        let gh = GitHub::new(&config("acme", &[])).unwrap();
        let at = Instant::now();
        gh.lock_reach().insert("octocat".to_string(), (Some(5), at));
        gh.lock_reach().insert("ghost".to_string(), (None, at));
        assert_eq!(gh.cached("octocat", at + REACH_TTL / 2), Some(Some(5)));
        assert_eq!(
            gh.cached("ghost", at + REACH_TTL / 2),
            Some(None),
            "not found is kept"
        );
        assert_eq!(gh.cached("nobody", at), None);
        assert_eq!(gh.cached("octocat", at + REACH_TTL), None, "expired");
        assert!(!gh.lock_reach().contains_key("octocat"), "and dropped");
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
