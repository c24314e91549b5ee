//! Stack Exchange: `search/advanced` with `fromdate`, bodies included, `backoff` obeyed.
//!
//! Each poll calls the Stack Exchange API 2.3 (`https://api.stackexchange.com/2.3`):
//!
//! `GET /search/advanced?site=<site>&q=<query>&sort=creation&order=desc&fromdate=<epoch>&pagesize=100&page=N&filter=<filter>[&tagged=a;b][&key=<key>]`
//!
//! paged while the wrapper says `has_more`, at most [`MAX_PAGES`] pages a poll. Replies are
//! gzip-compressed; the HTTP client decompresses them.
//!
//! # Ids
//!
//! A question is `q<question_id>` (`q79012345`): ids are per site, and a source reads one site.
//! `url` is the question's `link`. Titles and display names come HTML-encoded
//! (`&quot;`, `&#39;`): they are decoded; bodies (the `withbody` filter) become plain text.
//! Reach is the owner's reputation; engagement is the score and the answer count.
//!
//! # Cursor
//!
//! `{"since": <newest creation_date seen>}`; a poll asks `fromdate = since - OVERLAP` (the first
//! one the last [`FIRST_WINDOW`]). When the daily quota runs out, `paused_until` (the next UTC
//! midnight) is kept too, and polls before then send nothing.
//!
//! # Limits
//!
//! 300 requests a day per IP without a `key`, 10,000 with one. Every reply carries
//! `quota_remaining` / `quota_max`: the poll's notice shows them ("quota 9,850 of 10,000 left
//! today"); at 0 the notice is degraded and the source pauses until UTC midnight (the reset time
//! is not in the reply; midnight UTC is Stack Exchange's day). A `backoff` in a reply holds the
//! whole host in the fetcher; the connector stops paging then, and keeps its cursor so that the
//! next poll reads the window again. Errors come in the wrapper (`error_id`, `error_name`,
//! `error_message`): `throttle_violation` is a 429 with the wait its message gives, other
//! refusals (`bad_parameter`, `access_denied`, `key_required`, ...) a [`FetchError::Config`]
//! naming the error and its message (never the key), server trouble (`internal_error`,
//! `temporarily_unavailable`) the HTTP status, transient.
//!
//! Answers are not read (`search/advanced` returns questions only); `search/excerpts` would.

use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use serde::{Deserialize, Serialize};

use crate::http::{ApiRequest, HttpFetcher};
use crate::secret::{Secret, SecretValue};
use crate::text::html_to_text;
use crate::{
    Author, ConfigProblem, Conversation, Engagement, FIRST_WINDOW, FetchError, FetchOutcome,
    Mention, MentionKind, Notice, OVERLAP, SourceState, api_root, check_base_url,
};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://api.stackexchange.com/2.3";

/// Pages (of 100 questions) read per poll at most.
pub const MAX_PAGES: u32 = 5;

/// What a `throttle_violation` waits when its message gives no number.
const THROTTLE_WAIT: Duration = Duration::from_secs(60);

/// The `[[source]]` keys of `kind = "stackexchange"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackExchangeConfig {
    /// Free-text query (`q`).
    pub query: String,
    /// The site (`stackoverflow`, `superuser`, `serverfault`, ...).
    #[serde(default = "default_site")]
    pub site: String,
    /// Only questions with all these tags.
    #[serde(default)]
    pub tagged: Vec<String>,
    /// An app key from stackapps.com: 10,000 requests a day instead of 300.
    #[serde(default)]
    pub key: Option<Secret>,
    /// The filter that includes bodies (`withbody`, or one you created).
    #[serde(default = "default_filter")]
    pub filter: String,
    /// Replaces the API root (`https://api.stackexchange.com/2.3`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

fn default_site() -> String {
    "stackoverflow".to_string()
}

fn default_filter() -> String {
    "withbody".to_string()
}

impl StackExchangeConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        if self.query.trim().is_empty() && self.tagged.is_empty() {
            p.push(ConfigProblem::new(
                "query",
                "is empty: write the words to search for (or give `tagged`)",
            ));
        }
        let word = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        };
        if !word(&self.site) {
            p.push(ConfigProblem::new(
                "site",
                format!(
                    "{:?} is not a site name: write its API name, e.g. \"stackoverflow\" or \"superuser\"",
                    self.site
                ),
            ));
        }
        for tag in &self.tagged {
            if tag.is_empty() || tag.contains([';', ' ', ',']) {
                p.push(ConfigProblem::new(
                    "tagged",
                    format!(
                        "{tag:?} is not a tag: write one tag per string, e.g. [\"rust\", \"tokio\"]"
                    ),
                ));
            }
        }
        if self.filter.trim().is_empty() {
            p.push(ConfigProblem::new(
                "filter",
                "is empty: leave it out for \"withbody\", or write a filter id you created",
            ));
        }
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [self.key.as_mut().map(|s| ("key", s))]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The API root polled.
    pub fn endpoint(&self) -> String {
        api_root(self.base_url.as_deref(), DEFAULT_ROOT)
    }
}

/// A `stackexchange` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct StackExchange {
    config: StackExchangeConfig,
    key: Option<SecretValue>,
}

/// The cursor kept between polls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Cursor {
    /// Newest `creation_date` seen (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<i64>,
    /// The daily quota ran out: no request before this (Unix seconds, UTC midnight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    paused_until: Option<i64>,
}

/// The common wrapper of every reply.
#[derive(Debug, Deserialize)]
struct Wrapper {
    #[serde(default)]
    items: Option<Vec<Question>>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    quota_max: Option<u64>,
    #[serde(default)]
    quota_remaining: Option<u64>,
    #[serde(default)]
    backoff: Option<f64>,
    #[serde(default)]
    error_id: Option<i64>,
    #[serde(default)]
    error_name: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Question {
    question_id: u64,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    owner: Option<Owner>,
    #[serde(default)]
    score: Option<i64>,
    #[serde(default)]
    answer_count: Option<u64>,
    #[serde(default)]
    creation_date: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Owner {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    reputation: Option<u64>,
    #[serde(default)]
    link: Option<String>,
}

impl StackExchange {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &StackExchangeConfig) -> Result<StackExchange, FetchError> {
        let key = crate::resolve_opt("key", config.key.as_ref())?;
        Ok(StackExchange {
            config: config.clone(),
            key,
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
        let now = http.now();
        if let Some(until) = old.paused_until.filter(|u| *u > now.timestamp()) {
            return Ok(FetchOutcome {
                state: state.clone(),
                notice: Notice::degraded(format!(
                    "daily quota used up: paused until {} UTC",
                    DateTime::from_timestamp(until, 0)
                        .unwrap_or(now)
                        .format("%Y-%m-%d %H:%M")
                )),
                ..FetchOutcome::default()
            });
        }

        let from = match old.since {
            Some(t) => t - OVERLAP.as_secs() as i64,
            None => (now - FIRST_WINDOW).timestamp(),
        };
        let mut cursor = Cursor {
            since: old.since,
            paused_until: None,
        };
        let mut mentions = Vec::new();
        let mut quota = None;
        let mut complete = true;
        for page in 1..=MAX_PAGES {
            let url = self.url(from, page)?;
            let reply = http.api(ApiRequest::get(&url)).await?;
            let Some(json) = reply.json.clone() else {
                return Err(reply.status_error());
            };
            let w: Wrapper = serde_json::from_value(json).map_err(|_| {
                FetchError::Parse(
                    "the reply is not a Stack Exchange wrapper of questions: check that base_url \
                     is the API root (https://api.stackexchange.com/2.3) and that the filter \
                     keeps the default fields"
                        .to_string(),
                )
            })?;
            if w.error_id.is_some() || w.error_name.is_some() || !reply.is_success() {
                return Err(self.wrapper_error(&w, reply.status, reply.status_error()));
            }
            let Some(items) = w.items else {
                return Err(FetchError::Parse(
                    "the reply has no `items`: check that the filter keeps `.items`".to_string(),
                ));
            };
            if let (Some(r), Some(m)) = (w.quota_remaining, w.quota_max) {
                quota = Some((r, m));
            }
            for q in items {
                if let Some(t) = q.creation_date {
                    cursor.since = cursor.since.max(Some(t));
                }
                mentions.push(question_mention(q));
            }
            if !w.has_more || w.quota_remaining == Some(0) {
                break;
            }
            if w.backoff.is_some() {
                // The fetcher now holds the host: the next page would fail. Read the window
                // again next time instead.
                complete = false;
                break;
            }
        }
        if !complete {
            cursor.since = old.since;
        }

        let notice = match quota {
            Some((0, max)) => {
                let midnight = next_utc_midnight(now);
                cursor.paused_until = Some(midnight.timestamp());
                Notice::degraded(format!(
                    "daily quota of {} used up: paused until {} UTC{}",
                    thousands(max),
                    midnight.format("%Y-%m-%d %H:%M"),
                    if self.key.is_none() {
                        "; add `key` for 10,000 a day"
                    } else {
                        ""
                    }
                ))
            }
            Some((rem, max)) => Notice::info(format!(
                "quota {} of {} left today{}",
                thousands(rem),
                thousands(max),
                if self.key.is_none() { " (no key)" } else { "" }
            )),
            None => None,
        };
        let cursor = if cursor == Cursor::default() {
            None
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

    fn url(&self, from: i64, page: u32) -> Result<String, FetchError> {
        let c = &self.config;
        let mut url = url::Url::parse(&format!("{}/search/advanced", c.endpoint())).map_err(|e| {
            FetchError::Config(format!(
                "base_url does not make a valid API address ({e}): write e.g. \"https://api.stackexchange.com/2.3\""
            ))
        })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("site", &c.site)
                .append_pair("sort", "creation")
                .append_pair("order", "desc")
                .append_pair("fromdate", &from.to_string())
                .append_pair("pagesize", "100")
                .append_pair("page", &page.to_string())
                .append_pair("filter", &c.filter);
            if !c.query.trim().is_empty() {
                q.append_pair("q", c.query.trim());
            }
            if !c.tagged.is_empty() {
                q.append_pair("tagged", &c.tagged.join(";"));
            }
            if let Some(k) = &self.key {
                q.append_pair("key", k.expose());
            }
        }
        Ok(url.to_string())
    }

    /// The error a wrapper's `error_*` fields (or a bare error status) stand for.
    fn wrapper_error(&self, w: &Wrapper, status: u16, fallback: FetchError) -> FetchError {
        let Some(name) = w.error_name.as_deref() else {
            return fallback;
        };
        let message = self.redact(w.error_message.as_deref().unwrap_or_default());
        let id = w.error_id.unwrap_or(i64::from(status));
        tracing::warn!(error_id = id, error_name = name, %message, "Stack Exchange error");
        match name {
            "throttle_violation" => FetchError::Status {
                status: 429,
                retry_after: Some(
                    seconds_in(&message)
                        .or(w.backoff.map(|b| Duration::from_secs_f64(b.max(0.0))))
                        .unwrap_or(THROTTLE_WAIT)
                        .min(crate::ratelimit::MAX_RETRY_AFTER),
                ),
            },
            "internal_error" | "temporarily_unavailable" => FetchError::Status {
                status: u16::try_from(id).unwrap_or(503),
                retry_after: None,
            },
            _ => FetchError::Config(format!(
                "Stack Exchange refused the request: {id} {name}: {message} (check query, site, \
                 tagged, filter and key)"
            )),
        }
    }

    /// A server's message, without the key should it have been echoed back.
    fn redact(&self, msg: &str) -> String {
        let msg: String = msg.chars().take(300).collect();
        match &self.key {
            Some(k) if !k.expose().is_empty() => msg.replace(k.expose(), "[redacted]"),
            _ => msg,
        }
    }
}

/// The number of seconds in "too many requests from this IP, more requests available in 3600 seconds".
fn seconds_in(msg: &str) -> Option<Duration> {
    let at = msg.find("available in ")? + "available in ".len();
    let n: String = msg[at..].chars().take_while(char::is_ascii_digit).collect();
    n.parse().ok().map(Duration::from_secs)
}

fn next_utc_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = now.date_naive() + Days::new(1);
    tomorrow.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// `9850` as `9,850`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn decode(s: &str) -> String {
    html_escape::decode_html_entities(s).trim().to_string()
}

fn question_mention(q: Question) -> Mention {
    let owner = q.owner.unwrap_or(Owner {
        display_name: None,
        reputation: None,
        link: None,
    });
    Mention {
        platform_id: format!("q{}", q.question_id),
        url: q.link,
        author: Author {
            handle: owner.display_name.as_deref().map(decode),
            display_name: None,
            reach: owner.reputation,
            url: owner.link,
        },
        title: q.title.as_deref().map(decode),
        text: html_to_text(q.body.as_deref().unwrap_or_default()),
        created_at: q.creation_date.and_then(|t| DateTime::from_timestamp(t, 0)),
        kind: MentionKind::Post,
        engagement: Engagement {
            score: q.score,
            likes: None,
            replies: q.answer_count,
            reposts: None,
        },
        conversation: Conversation {
            thread_id: Some(format!("q{}", q.question_id)),
            parent_id: None,
        },
        lang: None,
        rating: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> StackExchangeConfig {
        StackExchangeConfig {
            query: "acme".to_string(),
            site: default_site(),
            tagged: vec![],
            key: None,
            filter: default_filter(),
            base_url: None,
        }
    }

    #[test]
    fn validation_names_the_key() {
        assert!(config().validate().is_empty());
        let tags_only = StackExchangeConfig {
            query: String::new(),
            tagged: vec!["acme".to_string()],
            ..config()
        };
        assert!(tags_only.validate().is_empty());
        let bad = StackExchangeConfig {
            query: " ".to_string(),
            site: "stack overflow".to_string(),
            filter: String::new(),
            ..config()
        };
        let keys: Vec<_> = bad.validate().iter().map(|p| p.key).collect();
        assert_eq!(keys, ["query", "site", "filter"]);
        let bad_tags = StackExchangeConfig {
            tagged: vec!["a;b".to_string(), String::new(), "ok".to_string()],
            ..config()
        };
        let keys: Vec<_> = bad_tags.validate().iter().map(|p| p.key).collect();
        assert_eq!(keys, ["tagged", "tagged"]);
    }

    #[test]
    fn small_helpers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(300), "300");
        assert_eq!(thousands(9850), "9,850");
        assert_eq!(thousands(10000), "10,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(
            seconds_in("too many requests from this IP, more requests available in 3600 seconds"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(seconds_in("slow down"), None);
        let now: DateTime<Utc> = "2026-05-01T23:59:59Z".parse().unwrap();
        assert_eq!(
            next_utc_midnight(now),
            "2026-05-02T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
