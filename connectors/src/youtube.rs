//! YouTube: `search.list` by date, with a daily search budget it never exceeds.
//!
//! # What it calls
//!
//! * `GET {root}/search?part=snippet&q=<query>&type=video&order=date&publishedAfter=<t>&maxResults=50&key=<key>`:
//!   one call per poll, one page (50 videos). `pageToken` is not followed: every page costs a
//!   search from the small daily bucket; a query busier than 50 videos per poll interval wants a
//!   shorter interval instead.
//! * With `statistics = true`, `GET {root}/videos?part=statistics&id=<ids>&key=<key>` once per poll
//!   for the videos of that search (at most 50 ids, 1 unit of the shared 10,000-unit bucket).
//!   A failure of that call does not fail the poll: the videos come without counts and the
//!   notice says so.
//! * With `statistics = true` too, `GET {root}/channels?part=statistics&id=<channel ids>&key=<key>`
//!   once per poll for the channels of those videos not already in memory (at most 50 ids,
//!   1 unit of the same 10,000-unit bucket, not the search bucket): `subscriberCount` becomes
//!   `author.reach`, unless `hiddenSubscriberCount` is true. Answers (a hidden or unknown channel
//!   as `None`) are kept for [`REACH_TTL`], so a poll whose channels are all known makes no call.
//!   A failure leaves reach empty, adds a note to the notice and does not fail the poll.
//!
//! # Ids and fields
//!
//! `platform_id` is `id.videoId`; the URL `https://www.youtube.com/watch?v=<id>`. Title and
//! description come with HTML entities (`&#39;`): both are decoded. The author is the channel
//! (`channelTitle`, `https://www.youtube.com/channel/<channelId>`), its subscriber count as reach
//! (see above). Engagement: `likes` = `likeCount`,
//! `replies` = `commentCount`, and `score` = `viewCount`, the one number YouTube gives for how
//! much attention a video has had (hidden counts stay `None`). Everything is a
//! [`MentionKind::Post`]: comments are searchable only per video.
//!
//! # Cursor
//!
//! `{"day":"2026-11-22","searches":37,"newest":"2026-11-22T10:00:00Z"}`: the newest `publishedAt`
//! seen (the next search asks from `newest - OVERLAP`, the first from `now - FIRST_WINDOW`) and
//! the searches made on the current Pacific day.
//!
//! # Budget
//!
//! `search.list` has its own bucket of 100 calls a day, reset at midnight Pacific time. The
//! connector counts its searches per Pacific day, in the cursor (so a restart remembers them)
//! and in memory (so a poll that failed after its search still counts it), and never makes
//! search number `daily_searches + 1`: the poll then returns nothing with a degraded notice
//! until the day ends. A 403 `quotaExceeded` / `dailyLimitExceeded` (the key is shared, or the
//! project's quota is lower) marks the day spent at once. `rateLimitExceeded` (too fast) is a
//! transient 429.
//!
//! The Pacific day is approximated as UTC−8 all year (no time-zone database in this crate):
//! in summer (UTC−7) our day starts an hour after Google's, so the count is reset an hour
//! late, never early.
//!
//! # The key
//!
//! Google wants the API key in the query string. The fetcher never prints URLs, and every error
//! this module returns is scrubbed of the key as well, in case a server echoes it in a page title.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::http::{ApiRequest, HttpFetcher};
use crate::secret::{Secret, SecretValue};
use crate::{
    Author, ConfigProblem, Engagement, FIRST_WINDOW, FetchError, FetchOutcome, Mention,
    MentionKind, Notice, OVERLAP, SourceState, api_root, check_base_url,
};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://www.googleapis.com/youtube/v3";

/// Results asked per search: the API's maximum.
const PAGE_SIZE: &str = "50";

/// Where a channel's page starts; the rest of `author.url` is its id.
const CHANNEL_URL: &str = "https://www.youtube.com/channel/";

/// How long a channel's subscriber count (or its absence) is kept.
pub const REACH_TTL: Duration = Duration::from_secs(24 * 3600);

/// The `[[source]]` keys of `kind = "youtube"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YouTubeConfig {
    /// Search query.
    pub query: String,
    /// A YouTube Data API v3 key (Google Cloud console → Credentials).
    pub api_key: Secret,
    /// `search.list` calls allowed per day (Pacific time), the API's own bucket: 100 by default.
    #[serde(default = "default_daily_searches")]
    pub daily_searches: u32,
    /// Fetch view, like and comment counts (`videos.list`, 1 unit per poll).
    #[serde(default = "yes")]
    pub statistics: bool,
    /// Replaces the API root (`https://www.googleapis.com/youtube/v3`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

fn default_daily_searches() -> u32 {
    100
}

fn yes() -> bool {
    true
}

impl YouTubeConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        crate::check_query(&self.query, "acme", &mut p);
        if !(1..=10_000).contains(&self.daily_searches) {
            p.push(ConfigProblem::new(
                "daily_searches",
                format!(
                    "{} is out of range: write 1 to 10000 (the default bucket is 100 a day)",
                    self.daily_searches
                ),
            ));
        }
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [Some(("api_key", &mut self.api_key))]
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
    /// The Pacific day `searches` counts (`2026-11-22`).
    #[serde(default)]
    day: Option<NaiveDate>,
    /// `search.list` calls made that day.
    #[serde(default)]
    searches: u32,
    /// The newest `publishedAt` seen.
    #[serde(default)]
    newest: Option<DateTime<Utc>>,
}

/// Searches made on one Pacific day, as remembered in memory.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DayCount {
    day: NaiveDate,
    searches: u32,
}

/// A `youtube` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct YouTube {
    config: YouTubeConfig,
    root: String,
    key: SecretValue,
    /// Searches made today, also when the poll that made them failed (its cursor is lost).
    used: Mutex<Option<DayCount>>,
    /// Subscribers per channel id (`None`: hidden or unknown), with when it was looked up.
    reach: Mutex<HashMap<String, (Option<u64>, Instant)>>,
}

/// The Pacific day of `now`, approximated as UTC−8 (see the module doc).
pub fn pacific_day(now: DateTime<Utc>) -> NaiveDate {
    (now - chrono::Duration::hours(8)).date_naive()
}

/// Time from `now` to the next midnight at UTC−8.
fn until_pacific_midnight(now: DateTime<Utc>) -> Duration {
    let next = pacific_day(now)
        .succ_opt()
        .and_then(|d| d.and_hms_opt(8, 0, 0))
        .map(|t| t.and_utc());
    next.and_then(|t| (t - now).to_std().ok())
        .unwrap_or(Duration::from_secs(24 * 3600))
}

impl YouTube {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &YouTubeConfig) -> Result<YouTube, FetchError> {
        Ok(YouTube {
            config: config.clone(),
            root: config.endpoint(),
            key: crate::resolve("api_key", &config.api_key)?,
            used: Mutex::new(None),
            reach: Mutex::new(HashMap::new()),
        })
    }

    pub async fn fetch(
        &self,
        http: &HttpFetcher,
        state: &SourceState,
    ) -> Result<FetchOutcome, FetchError> {
        self.fetch_at(http, state, http.now())
            .await
            .map_err(|e| scrub(e, self.key.expose()))
    }

    /// Searches made on `day`: the larger of the cursor's and memory's count.
    fn used_on(&self, day: NaiveDate, cursor: &Cursor) -> u32 {
        let from_cursor = if cursor.day == Some(day) {
            cursor.searches
        } else {
            0
        };
        let from_memory = match *self.used.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(c) if c.day == day => c.searches,
            _ => 0,
        };
        from_cursor.max(from_memory)
    }

    fn set_used(&self, day: NaiveDate, searches: u32) {
        *self.used.lock().unwrap_or_else(|e| e.into_inner()) = Some(DayCount { day, searches });
    }

    async fn fetch_at(
        &self,
        http: &HttpFetcher,
        state: &SourceState,
        now: DateTime<Utc>,
    ) -> Result<FetchOutcome, FetchError> {
        let old: Cursor = state
            .cursor
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let day = pacific_day(now);
        let limit = self.config.daily_searches;
        let used = self.used_on(day, &old);
        if used >= limit {
            let cursor = Cursor {
                day: Some(day),
                searches: used,
                newest: old.newest,
            };
            return Ok(FetchOutcome {
                mentions: Vec::new(),
                state: state_with(state, &cursor),
                not_modified: false,
                notice: Notice::degraded(format!(
                    "daily search budget of {limit} spent; resumes after midnight Pacific"
                )),
            });
        }

        let since = old
            .newest
            .map(|t| t - OVERLAP)
            .unwrap_or_else(|| now - FIRST_WINDOW);
        let url = self.url(
            "search",
            &[
                ("part", "snippet"),
                ("q", self.config.query.trim()),
                ("type", "video"),
                ("order", "date"),
                (
                    "publishedAfter",
                    &since.to_rfc3339_opts(SecondsFormat::Secs, true),
                ),
                ("maxResults", PAGE_SIZE),
            ],
        )?;
        // Counted before it is sent: a search that times out may still have been charged.
        let used = used + 1;
        self.set_used(day, used);
        let reply = http.api(ApiRequest::get(url.as_str())).await?;
        if !reply.is_success() {
            return Err(self.error(&reply, day, now));
        }
        let body: SearchReply = serde_json::from_value(reply.into_json()?).map_err(|e| {
            FetchError::Parse(format!(
                "search.list reply: {e}: check that base_url is the YouTube Data API v3 root"
            ))
        })?;

        let mut mentions: Vec<Mention> = body.items.into_iter().filter_map(to_mention).collect();
        let mut notice = Notice::info(format!("{used} of {limit} searches used today"));
        let stats = if self.config.statistics && !mentions.is_empty() {
            self.add_statistics(http, &mut mentions).await
        } else {
            Ok(())
        };
        if let Err(e) = stats {
            let e = scrub(e, self.key.expose());
            tracing::warn!(error = %e, "youtube: videos.list failed; videos kept without counts");
            notice = Notice::degraded(format!(
                "{used} of {limit} searches used today; view, like and comment counts missing this poll ({e})"
            ));
        }
        let reach = if self.config.statistics && !mentions.is_empty() {
            self.add_reach(http, &mut mentions).await
        } else {
            Ok(())
        };
        if let Err(e) = reach {
            let e = scrub(e, self.key.expose());
            tracing::warn!(error = %e, "youtube: channels.list failed; authors kept without subscriber counts");
            let before = notice.map(|n| n.message).unwrap_or_default();
            notice = Notice::degraded(format!(
                "{before}; subscriber counts missing this poll ({e})"
            ));
        }

        let newest = mentions
            .iter()
            .filter_map(|m| m.created_at)
            .chain(old.newest)
            .max();
        let cursor = Cursor {
            day: Some(day),
            searches: used,
            newest,
        };
        Ok(FetchOutcome {
            mentions,
            state: state_with(state, &cursor),
            not_modified: false,
            notice,
        })
    }

    /// `{root}/{method}?{params}&key=<key>`.
    fn url(&self, method: &str, params: &[(&str, &str)]) -> Result<Url, FetchError> {
        let mut url = Url::parse(&format!("{}/{method}", self.root)).map_err(|_| {
            FetchError::Config("base_url is not a valid URL: write the API root".to_string())
        })?;
        url.query_pairs_mut()
            .extend_pairs(params)
            .append_pair("key", self.key.expose());
        Ok(url)
    }

    /// The error for a failed search, reading Google's own reasons.
    fn error(
        &self,
        reply: &crate::http::ApiReply,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> FetchError {
        let reasons = error_reasons(reply.json.as_ref());
        let has = |r: &str| reasons.iter().any(|x| x == r);
        if has("quotaExceeded") || has("dailyLimitExceeded") {
            self.set_used(day, self.config.daily_searches);
            let wait = until_pacific_midnight(now);
            return FetchError::Unexpected(format!(
                "YouTube says the API key's daily quota is spent (HTTP {}, quotaExceeded): \
                 no more searches until midnight Pacific (in about {} h); \
                 lower daily_searches if the key is shared",
                reply.status,
                wait.as_secs().div_ceil(3600)
            ));
        }
        if has("rateLimitExceeded") || has("userRateLimitExceeded") {
            return FetchError::Status {
                status: 429,
                retry_after: reply.retry_after.or(Some(Duration::from_secs(60))),
            };
        }
        reply.status_error()
    }

    /// Fills engagement from one `videos.list` call.
    async fn add_statistics(
        &self,
        http: &HttpFetcher,
        mentions: &mut [Mention],
    ) -> Result<(), FetchError> {
        let ids: Vec<&str> = mentions
            .iter()
            .take(50)
            .map(|m| m.platform_id.as_str())
            .collect();
        let url = self.url("videos", &[("part", "statistics"), ("id", &ids.join(","))])?;
        let body: VideosReply =
            serde_json::from_value(http.api(ApiRequest::get(url.as_str())).await?.into_json()?)
                .map_err(|e| FetchError::Parse(format!("videos.list reply: {e}")))?;
        for video in body.items {
            let Some(stats) = video.statistics else {
                continue;
            };
            if let Some(m) = mentions.iter_mut().find(|m| m.platform_id == video.id) {
                m.engagement = Engagement {
                    score: stats
                        .view_count
                        .as_ref()
                        .and_then(count)
                        .and_then(|v| i64::try_from(v).ok()),
                    likes: stats.like_count.as_ref().and_then(count),
                    replies: stats.comment_count.as_ref().and_then(count),
                    reposts: None,
                };
            }
        }
        Ok(())
    }
}

impl YouTube {
    fn lock_reach(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<u64>, Instant)>> {
        self.reach.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets `author.reach` from the cache and from one `channels.list` call for the channels
    /// not in it (none when all are known).
    async fn add_reach(
        &self,
        http: &HttpFetcher,
        mentions: &mut [Mention],
    ) -> Result<(), FetchError> {
        let now = Instant::now();
        let mut known: HashMap<String, Option<u64>> = HashMap::new();
        let mut missing: Vec<String> = Vec::new();
        {
            let mut cache = self.lock_reach();
            cache.retain(|_, (_, at)| now.saturating_duration_since(*at) < REACH_TTL);
            for id in mentions.iter().filter_map(channel_id) {
                if let Some((reach, _)) = cache.get(id) {
                    known.insert(id.to_string(), *reach);
                } else if missing.len() < 50 && !missing.iter().any(|m| m == id) {
                    missing.push(id.to_string());
                }
            }
        }
        let result = if missing.is_empty() {
            Ok(())
        } else {
            self.lookup_channels(http, &missing).await.map(|found| {
                let mut cache = self.lock_reach();
                for id in missing {
                    let reach = found.get(&id).copied().flatten();
                    cache.insert(id.clone(), (reach, now));
                    known.insert(id, reach);
                }
            })
        };
        for m in mentions.iter_mut() {
            if let Some(reach) = channel_id(m).and_then(|id| known.get(id)).copied() {
                m.author.reach = reach;
            }
        }
        result
    }

    /// One `channels.list` call: subscribers per channel id, `None` when hidden.
    async fn lookup_channels(
        &self,
        http: &HttpFetcher,
        ids: &[String],
    ) -> Result<HashMap<String, Option<u64>>, FetchError> {
        let url = self.url(
            "channels",
            &[("part", "statistics"), ("id", &ids.join(","))],
        )?;
        let reply = http.api(ApiRequest::get(url.as_str())).await?;
        if !reply.is_success() {
            return Err(reply.status_error());
        }
        let body: ChannelsReply = serde_json::from_value(reply.into_json()?)
            .map_err(|e| FetchError::Parse(format!("channels.list reply: {e}")))?;
        Ok(body
            .items
            .into_iter()
            .map(|c| {
                let reach = c
                    .statistics
                    .filter(|s| !s.hidden_subscriber_count)
                    .and_then(|s| s.subscriber_count.as_ref().and_then(count));
                (c.id, reach)
            })
            .collect())
    }
}

/// The channel id of a video's author, from its channel URL.
fn channel_id(m: &Mention) -> Option<&str> {
    m.author
        .url
        .as_deref()?
        .strip_prefix(CHANNEL_URL)
        .filter(|id| !id.is_empty())
}

fn state_with(state: &SourceState, cursor: &Cursor) -> SourceState {
    SourceState {
        cursor: serde_json::to_string(cursor).ok(),
        ..state.clone()
    }
}

/// `error.errors[].reason` of a Google error body.
fn error_reasons(json: Option<&serde_json::Value>) -> Vec<String> {
    json.and_then(|j| j.pointer("/error/errors"))
        .and_then(|e| e.as_array())
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e.get("reason").and_then(|r| r.as_str()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces the key wherever a message could carry it.
fn scrub(e: FetchError, key: &str) -> FetchError {
    crate::http::redact(e, &[key])
}

/// A count Google sends as a string (`"1234"`), or as a number.
fn count(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        v => v.as_u64(),
    }
}

#[derive(Debug, Deserialize)]
struct SearchReply {
    #[serde(default)]
    items: Vec<SearchItem>,
}

#[derive(Debug, Deserialize)]
struct SearchItem {
    #[serde(default)]
    id: Option<ItemId>,
    #[serde(default)]
    snippet: Option<Snippet>,
}

#[derive(Debug, Deserialize)]
struct ItemId {
    #[serde(default, rename = "videoId")]
    video_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Snippet {
    #[serde(default)]
    published_at: Option<DateTime<Utc>>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    channel_title: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VideosReply {
    #[serde(default)]
    items: Vec<Video>,
}

#[derive(Debug, Deserialize)]
struct Video {
    #[serde(default)]
    id: String,
    #[serde(default)]
    statistics: Option<Statistics>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Statistics {
    #[serde(default)]
    view_count: Option<serde_json::Value>,
    #[serde(default)]
    like_count: Option<serde_json::Value>,
    #[serde(default)]
    comment_count: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct ChannelsReply {
    #[serde(default)]
    items: Vec<Channel>,
}

#[derive(Debug, Deserialize)]
struct Channel {
    #[serde(default)]
    id: String,
    #[serde(default)]
    statistics: Option<ChannelStatistics>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChannelStatistics {
    #[serde(default)]
    subscriber_count: Option<serde_json::Value>,
    #[serde(default)]
    hidden_subscriber_count: bool,
}

/// One search result as a mention; `None` for a result that is not a video.
fn to_mention(item: SearchItem) -> Option<Mention> {
    let id = item.id?.video_id.filter(|v| !v.is_empty())?;
    let s = item.snippet.unwrap_or_default();
    let decode = |t: Option<String>| {
        t.map(|t| html_escape::decode_html_entities(&t).trim().to_string())
            .filter(|t| !t.is_empty())
    };
    Some(Mention {
        url: Some(format!("https://www.youtube.com/watch?v={id}")),
        author: Author {
            handle: decode(s.channel_title),
            display_name: None,
            reach: None,
            url: s
                .channel_id
                .filter(|c| !c.is_empty())
                .map(|c| format!("{CHANNEL_URL}{c}")),
        },
        title: decode(s.title),
        text: decode(s.description).unwrap_or_default(),
        created_at: s.published_at,
        kind: MentionKind::Post,
        platform_id: id,
        ..Mention::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacific_day_is_utc_minus_eight() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(pacific_day(t("2026-11-22T07:59:59Z")), d("2026-11-21"));
        assert_eq!(pacific_day(t("2026-11-22T08:00:00Z")), d("2026-11-22"));
        assert_eq!(pacific_day(t("2026-11-23T07:00:00Z")), d("2026-11-22"));
        assert_eq!(
            until_pacific_midnight(t("2026-11-22T07:00:00Z")),
            Duration::from_secs(3600)
        );
        assert_eq!(
            until_pacific_midnight(t("2026-11-22T08:00:00Z")),
            Duration::from_secs(24 * 3600)
        );
    }

    #[test]
    fn keys_are_scrubbed_from_every_message() {
        let e = scrub(
            FetchError::Unexpected("title Denied AIzaKEY123".to_string()),
            "AIzaKEY123",
        );
        assert_eq!(
            e,
            FetchError::Unexpected("title Denied [redacted]".to_string())
        );
    }

    #[test]
    fn counts_come_as_strings_or_numbers() {
        assert_eq!(count(&serde_json::json!("1234")), Some(1234));
        assert_eq!(count(&serde_json::json!(12)), Some(12));
        assert_eq!(count(&serde_json::json!("n/a")), None);
    }
}
