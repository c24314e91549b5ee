//! Bluesky: `app.bsky.feed.searchPosts` with an app-password session.
//!
//! # Requests
//!
//! * `POST {root}/xrpc/com.atproto.server.createSession` with `{identifier, password}` (the app
//!   password), once: the session (`accessJwt`, `refreshJwt`, `did`) is kept in memory for the
//!   connector's life, never in the database. Bluesky allows 30 logins per 5 minutes and 300 a
//!   day per account, so a poll never logs in again by itself.
//! * When the access token has expired (its JWT `exp`, read without verifying) or a call
//!   answers 400/401 `ExpiredToken`, `POST com.atproto.server.refreshSession` (empty body,
//!   `Authorization: Bearer <refreshJwt>`) renews it. Only when the refresh is refused (400/401)
//!   is a new session created.
//! * `GET {root}/xrpc/app.bsky.feed.searchPosts?q=..&sort=latest&limit=100&since=<RFC 3339>`
//!   (and `lang=` when configured) with `Authorization: Bearer <accessJwt>`. A full page is
//!   followed by its `cursor`, at most [`MAX_PAGES`] pages per poll.
//! * `GET {root}/xrpc/app.bsky.actor.getProfiles?actors=<did>&actors=..`, at most 25 DIDs per
//!   request, for follower counts, cached in memory for [`PROFILE_TTL`]: a known author costs
//!   nothing. When it fails, mentions come without reach and the poll is degraded.
//!
//! `public.api.bsky.app` answers searchPosts with a 403 HTML page: the fetcher turns it into a
//! long-lived [`FetchError::Unexpected`]. Use `bsky.social` (the default) or `api.bsky.app`.
//! The PDS allows 3,000 requests per 5 minutes per IP and says so in `RateLimit-*` headers
//! (reset as a Unix epoch), which the fetcher reads to hold the host once the budget is spent.
//!
//! # Ids
//!
//! `platform_id` is the post's `uri` (`at://<did>/app.bsky.feed.post/<rkey>`), the same on every
//! poll; `url` is `https://bsky.app/profile/<handle>/post/<rkey>` (the DID when the handle is
//! invalid). Authors are keyed by DID, as handles change: `author.url` is the profile by DID.
//! A post with `record.reply` is a [`MentionKind::Comment`] whose thread is the reply's root
//! and whose parent is the reply's parent (both `at://` uris).
//!
//! # Cursor
//!
//! `{"since":"<newest indexedAt seen>"}`. Each poll asks from that minus [`crate::OVERLAP`]
//! (`since` is compared against the time the post was indexed); the first poll from
//! now minus [`crate::FIRST_WINDOW`]. It never moves backwards.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use crate::http::{ApiReply, ApiRequest, Body, HttpFetcher};
use crate::secret::{Secret, SecretValue};
use crate::{
    Author, ConfigProblem, Conversation, Engagement, FIRST_WINDOW, FetchError, FetchOutcome,
    Mention, MentionKind, Notice, OVERLAP, SourceState, api_root, check_base_url,
};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://bsky.social";

/// Posts per searchPosts page (the API's maximum).
pub const PAGE: usize = 100;

/// Most searchPosts pages read in one poll.
pub const MAX_PAGES: usize = 5;

/// Most actors in one getProfiles request (the API's maximum).
pub const PROFILE_BATCH: usize = 25;

/// How long a follower count is reused.
pub const PROFILE_TTL: Duration = Duration::from_secs(24 * 3600);

/// An access token this close to its `exp` is refreshed before use.
const EXPIRY_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// The `[[source]]` keys of `kind = "bluesky"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueskyConfig {
    /// Search query (Lucene-like; `"exact phrase"`).
    pub query: String,
    /// The account's handle or DID (`acme.bsky.social`).
    pub identifier: String,
    /// An app password (Settings → Privacy and security → App passwords), never the account password.
    pub app_password: Secret,
    /// Only posts in this language (`en`).
    #[serde(default)]
    pub lang: Option<String>,
    /// Replaces the API root (`https://bsky.social`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

impl BlueskyConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        crate::check_query(&self.query, "acme", &mut p);
        let id = self.identifier.trim();
        if id.is_empty() || id.contains(char::is_whitespace) || id.contains('/') {
            p.push(ConfigProblem::new(
                "identifier",
                format!(
                    "{:?} is not a handle or DID: write the account's handle, e.g. \"acme.bsky.social\"",
                    self.identifier
                ),
            ));
        } else if let Some(bare) = id.strip_prefix('@') {
            p.push(ConfigProblem::new(
                "identifier",
                format!("{id:?} starts with '@': write {bare:?}"),
            ));
        }
        if let Some(lang) = self.lang.as_deref() {
            let ok = (2..=3).contains(&lang.split('-').next().unwrap_or_default().len())
                && lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                p.push(ConfigProblem::new(
                    "lang",
                    format!("{lang:?} is not a language code: write e.g. \"en\" or \"pt-BR\""),
                ));
            }
        }
        if self
            .base_url
            .as_deref()
            .is_some_and(|u| u.contains("public.api.bsky.app"))
        {
            p.push(ConfigProblem::new(
                "base_url",
                "public.api.bsky.app refuses searchPosts (403): leave base_url out, or write \"https://api.bsky.app\"",
            ));
        }
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [Some(("app_password", &mut self.app_password))]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        api_root(self.base_url.as_deref(), DEFAULT_ROOT)
    }
}

/// A logged-in session.
#[derive(Debug, Clone)]
struct Session {
    access: SecretValue,
    refresh: SecretValue,
    /// The `exp` of the access token, if it could be read.
    access_exp: Option<DateTime<Utc>>,
    /// The account's DID, as the server knows it.
    did: Option<String>,
}

/// A `bluesky` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct Bluesky {
    root: String,
    query: String,
    identifier: String,
    password: SecretValue,
    lang: Option<String>,
    session: tokio::sync::Mutex<Option<Session>>,
    /// Follower counts by DID, with when they were read.
    followers: std::sync::Mutex<HashMap<String, (Option<u64>, tokio::time::Instant)>>,
}

impl Bluesky {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &BlueskyConfig) -> Result<Bluesky, FetchError> {
        Ok(Bluesky {
            root: config.endpoint(),
            query: config.query.trim().to_string(),
            identifier: config.identifier.trim().to_string(),
            password: crate::resolve("app_password", &config.app_password)?,
            lang: config.lang.clone().filter(|l| !l.trim().is_empty()),
            session: tokio::sync::Mutex::new(None),
            followers: std::sync::Mutex::new(HashMap::new()),
        })
    }

    pub async fn fetch(
        &self,
        http: &HttpFetcher,
        state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        let old: Option<DateTime<Utc>> = state
            .cursor
            .as_deref()
            .and_then(|c| serde_json::from_str::<Cursor>(c).ok())
            .and_then(|c| DateTime::parse_from_rfc3339(&c.since).ok())
            .map(|t| t.with_timezone(&Utc));
        let since = match old {
            Some(t) => t - OVERLAP,
            None => http.now() - FIRST_WINDOW,
        };
        let since = since.to_rfc3339_opts(SecondsFormat::Millis, true);

        let mut posts: Vec<PostView> = Vec::new();
        let mut page_cursor: Option<String> = None;
        let mut notes: Vec<String> = Vec::new();
        for page in 0..MAX_PAGES {
            let url = self.search_url(&since, page_cursor.as_deref())?;
            let json = self.get_authed(http, &url).await?;
            let page_posts = parse_posts(json.get("posts"))?;
            let full = page_posts.len() >= PAGE;
            posts.extend(page_posts);
            page_cursor = json
                .get("cursor")
                .and_then(|c| c.as_str())
                .filter(|c| !c.is_empty())
                .map(String::from);
            if !full || page_cursor.is_none() {
                break;
            }
            if page + 1 == MAX_PAGES {
                notes.push(format!(
                    "more than {} posts since {since}: the oldest were not read",
                    MAX_PAGES * PAGE
                ));
            }
        }

        let mut dids: Vec<String> = posts
            .iter()
            .filter_map(|p| p.author.as_ref()?.did.clone())
            .collect();
        dids.sort();
        dids.dedup();
        if let Err(e) = self.load_followers(http, &dids).await {
            notes.push(format!("follower counts unavailable: {e}"));
        }
        let followers = self.followers.lock().expect("followers lock");
        let mut mentions = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in &posts {
            if let Some(m) = to_mention(p, &followers)
                && seen.insert(m.platform_id.clone())
            {
                mentions.push(m);
            }
        }
        drop(followers);

        let newest = posts
            .iter()
            .filter_map(|p| p.indexed_at.as_deref())
            .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .chain(old)
            .max();
        Ok(FetchOutcome {
            mentions,
            state: SourceState {
                cursor: newest.map(|t| {
                    serde_json::json!({"since": t.to_rfc3339_opts(SecondsFormat::Millis, true)})
                        .to_string()
                }),
                ..SourceState::default()
            },
            not_modified: false,
            notice: if notes.is_empty() {
                None
            } else {
                Notice::degraded(notes.join("; "))
            },
        })
    }

    fn xrpc(&self, method: &str) -> Result<url::Url, FetchError> {
        url::Url::parse(&format!("{}/xrpc/{method}", self.root)).map_err(|_| {
            FetchError::Config("base_url: not a URL: write e.g. \"https://bsky.social\"".into())
        })
    }

    fn search_url(&self, since: &str, cursor: Option<&str>) -> Result<String, FetchError> {
        let mut url = self.xrpc("app.bsky.feed.searchPosts")?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("q", &self.query)
                .append_pair("sort", "latest")
                .append_pair("limit", &PAGE.to_string())
                .append_pair("since", since);
            if let Some(lang) = &self.lang {
                q.append_pair("lang", lang);
            }
            if let Some(c) = cursor {
                q.append_pair("cursor", c);
            }
        }
        Ok(url.into())
    }

    /// A GET with the session's access token; renews the token once on `ExpiredToken`.
    async fn get_authed(
        &self,
        http: &HttpFetcher,
        url: &str,
    ) -> Result<serde_json::Value, FetchError> {
        let access = self.access_token(http).await?;
        let reply = get_with(http, url, &access).await?;
        let reply = if is_expired_token(&reply) {
            let access = self.renew(http, &access).await?;
            get_with(http, url, &access).await?
        } else {
            reply
        };
        if !reply.is_success() {
            return Err(reply.status_error());
        }
        reply.into_json()
    }

    /// The access token to use now: logs in on first use, refreshes an expired one.
    async fn access_token(&self, http: &HttpFetcher) -> Result<SecretValue, FetchError> {
        let mut guard = self.session.lock().await;
        let session = match guard.take() {
            None => self.create_session(http).await?,
            Some(s)
                if s.access_exp
                    .is_some_and(|exp| exp - EXPIRY_MARGIN <= http.now()) =>
            {
                self.refresh_or_login(http, &s).await?
            }
            Some(s) => s,
        };
        let access = session.access.clone();
        *guard = Some(session);
        Ok(access)
    }

    /// Renews a token the server called expired, unless another call already did.
    async fn renew(
        &self,
        http: &HttpFetcher,
        stale: &SecretValue,
    ) -> Result<SecretValue, FetchError> {
        let mut guard = self.session.lock().await;
        let session = match guard.take() {
            Some(s) if s.access != *stale => s,
            Some(s) => self.refresh_or_login(http, &s).await?,
            None => self.create_session(http).await?,
        };
        let access = session.access.clone();
        *guard = Some(session);
        Ok(access)
    }

    /// `refreshSession`; a new session only when the refresh token is refused.
    async fn refresh_or_login(
        &self,
        http: &HttpFetcher,
        s: &Session,
    ) -> Result<Session, FetchError> {
        let url = self.xrpc("com.atproto.server.refreshSession")?.to_string();
        let auth = format!("Bearer {}", s.refresh.expose());
        let reply = http
            .api(ApiRequest {
                url: &url,
                headers: &[("Authorization", auth.as_str())],
                // An empty POST: the procedure takes no input, and a body is refused.
                body: Body::Form(&[]),
                state: None,
            })
            .await?;
        if matches!(reply.status, 400 | 401) {
            tracing::debug!("bluesky: refresh token refused, logging in again");
            return self.create_session(http).await;
        }
        session_from(reply)
    }

    async fn create_session(&self, http: &HttpFetcher) -> Result<Session, FetchError> {
        let url = self.xrpc("com.atproto.server.createSession")?.to_string();
        let body = serde_json::json!({
            "identifier": self.identifier,
            "password": self.password.expose(),
        });
        let reply = http
            .api(ApiRequest {
                url: &url,
                headers: &[],
                body: Body::Json(&body),
                state: None,
            })
            .await?;
        let session = session_from(reply)?;
        tracing::debug!(did = session.did.as_deref(), "bluesky: session created");
        Ok(session)
    }

    /// Reads the follower counts of the DIDs not in the cache (or stale there).
    async fn load_followers(&self, http: &HttpFetcher, dids: &[String]) -> Result<(), FetchError> {
        let now = tokio::time::Instant::now();
        let missing: Vec<&String> = {
            let cache = self.followers.lock().expect("followers lock");
            dids.iter()
                .filter(|d| {
                    cache
                        .get(*d)
                        .is_none_or(|(_, at)| now.duration_since(*at) >= PROFILE_TTL)
                })
                .collect()
        };
        for batch in missing.chunks(PROFILE_BATCH) {
            let mut url = self.xrpc("app.bsky.actor.getProfiles")?;
            for did in batch {
                url.query_pairs_mut().append_pair("actors", did);
            }
            let json = self.get_authed(http, url.as_str()).await?;
            let profiles: Vec<Profile> = match json.get("profiles") {
                Some(serde_json::Value::Array(list)) => list
                    .iter()
                    .filter_map(|v| serde_json::from_value(v.clone()).ok())
                    .collect(),
                _ => {
                    return Err(FetchError::Parse(
                        "bluesky getProfiles: no `profiles` list: check base_url".to_string(),
                    ));
                }
            };
            let mut cache = self.followers.lock().expect("followers lock");
            // Asked for but not returned (deleted, suspended): cached as unknown, not asked again.
            for did in batch {
                cache.insert((*did).clone(), (None, now));
            }
            for p in profiles {
                if let Some(did) = p.did {
                    cache.insert(did, (p.followers_count, now));
                }
            }
        }
        Ok(())
    }
}

async fn get_with(
    http: &HttpFetcher,
    url: &str,
    access: &SecretValue,
) -> Result<ApiReply, FetchError> {
    let auth = format!("Bearer {}", access.expose());
    http.api(ApiRequest::get(url).headers(&[("Authorization", auth.as_str())]))
        .await
}

/// A 400/401 whose XRPC error is `ExpiredToken`.
fn is_expired_token(reply: &ApiReply) -> bool {
    matches!(reply.status, 400 | 401)
        && reply
            .json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(|e| e.as_str())
            == Some("ExpiredToken")
}

/// The session in a createSession or refreshSession reply.
fn session_from(reply: ApiReply) -> Result<Session, FetchError> {
    if !reply.is_success() {
        return Err(reply.status_error());
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Reply {
        access_jwt: Option<String>,
        refresh_jwt: Option<String>,
        did: Option<String>,
    }
    let r: Reply = serde_json::from_value(reply.into_json()?).map_err(|_| {
        FetchError::Parse("bluesky session: not a session object: check base_url".to_string())
    })?;
    match (r.access_jwt, r.refresh_jwt) {
        (Some(access), Some(refresh)) if !access.is_empty() && !refresh.is_empty() => Ok(Session {
            access_exp: jwt_exp(&access),
            access: SecretValue::new(access),
            refresh: SecretValue::new(refresh),
            did: r.did,
        }),
        _ => Err(FetchError::Parse(
            "bluesky session: no accessJwt/refreshJwt in the reply: check base_url".to_string(),
        )),
    }
}

/// The `exp` claim of a JWT, read without verifying the signature (we only need to know
/// when to refresh: the server stays the judge).
pub fn jwt_exp(jwt: &str) -> Option<DateTime<Utc>> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

/// What the source remembers between polls.
#[derive(Debug, Deserialize)]
struct Cursor {
    since: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostView {
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    author: Option<ProfileView>,
    #[serde(default)]
    record: Option<Record>,
    #[serde(default)]
    reply_count: Option<u64>,
    #[serde(default)]
    repost_count: Option<u64>,
    #[serde(default)]
    like_count: Option<u64>,
    #[serde(default)]
    quote_count: Option<u64>,
    #[serde(default)]
    indexed_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileView {
    #[serde(default)]
    did: Option<String>,
    #[serde(default)]
    handle: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    langs: Option<Vec<String>>,
    #[serde(default)]
    reply: Option<ReplyRef>,
}

#[derive(Debug, Deserialize)]
struct ReplyRef {
    #[serde(default)]
    root: Option<StrongRef>,
    #[serde(default)]
    parent: Option<StrongRef>,
}

#[derive(Debug, Deserialize)]
struct StrongRef {
    #[serde(default)]
    uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    did: Option<String>,
    #[serde(default)]
    followers_count: Option<u64>,
}

fn parse_posts(v: Option<&serde_json::Value>) -> Result<Vec<PostView>, FetchError> {
    let list = match v {
        Some(serde_json::Value::Array(list)) => list,
        _ => {
            return Err(FetchError::Parse(
                "bluesky searchPosts: no `posts` list: check base_url (an XRPC server)".to_string(),
            ));
        }
    };
    Ok(list
        .iter()
        .filter_map(|p| serde_json::from_value(p.clone()).ok())
        .collect())
}

fn parse_time(t: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn to_mention(
    p: &PostView,
    followers: &HashMap<String, (Option<u64>, tokio::time::Instant)>,
) -> Option<Mention> {
    let uri = p.uri.clone().filter(|u| u.starts_with("at://"))?;
    let rkey = uri.rsplit('/').next().unwrap_or_default();
    let author = p.author.as_ref();
    let did = author.and_then(|a| a.did.clone()).or_else(|| {
        uri.trim_start_matches("at://")
            .split('/')
            .next()
            .map(String::from)
    });
    let handle = author
        .and_then(|a| a.handle.as_deref())
        .filter(|h| !h.is_empty() && *h != "handle.invalid");
    let who = handle.or(did.as_deref()).unwrap_or_default();
    let record = p.record.as_ref();
    let reply = record.and_then(|r| r.reply.as_ref());
    Some(Mention {
        url: Some(format!("https://bsky.app/profile/{who}/post/{rkey}")),
        author: Author {
            handle: handle.map(|h| format!("@{h}")),
            display_name: author
                .and_then(|a| a.display_name.as_deref())
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(String::from),
            reach: did
                .as_ref()
                .and_then(|d| followers.get(d))
                .and_then(|(n, _)| *n),
            url: did
                .as_ref()
                .map(|d| format!("https://bsky.app/profile/{d}")),
        },
        title: None,
        text: record
            .and_then(|r| r.text.as_deref())
            .unwrap_or_default()
            .trim()
            .to_string(),
        created_at: parse_time(record.and_then(|r| r.created_at.as_deref()))
            .or_else(|| parse_time(p.indexed_at.as_deref())),
        kind: if reply.is_some() {
            MentionKind::Comment
        } else {
            MentionKind::Post
        },
        engagement: Engagement {
            score: None,
            likes: p.like_count,
            replies: p.reply_count,
            reposts: match (p.repost_count, p.quote_count) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            },
        },
        conversation: Conversation {
            thread_id: reply.and_then(|r| r.root.as_ref()?.uri.clone()),
            parent_id: reply.and_then(|r| r.parent.as_ref()?.uri.clone()),
        },
        lang: record
            .and_then(|r| r.langs.as_ref()?.first().cloned())
            .filter(|l| !l.is_empty()),
        rating: None,
        platform_id: uri,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b(r#"{"alg":"ES256K"}"#), b(claims))
    }

    #[test]
    fn reads_the_exp_claim_without_verifying() {
        assert_eq!(
            jwt_exp(&jwt(r#"{"scope":"com.atproto.appPass","exp":1747676784}"#)),
            DateTime::from_timestamp(1747676784, 0)
        );
        assert_eq!(jwt_exp(&jwt(r#"{"sub":"x"}"#)), None);
        assert_eq!(jwt_exp("not-a-jwt"), None);
        assert_eq!(jwt_exp("a.!!!.c"), None);
    }
}
