//! Mastodon: hashtag timelines on a list of instances, keyword search where a user token is given.
//!
//! # Requests
//!
//! For every configured instance (the `instances` list, plus `base_url` when given) and every
//! hashtag: `GET {instance}/api/v1/timelines/tag/{tag}?limit=40&min_id=<newest id seen>`. The
//! first poll of a tag on an instance sends no `min_id` and reads the newest page; later polls
//! read what is immediately newer than the cursor, 40 at a time (`min_id` pages forward, so a
//! burst of more than 40 posts is read over the next polls rather than skipped). Hashtag
//! timelines are public on most instances and need no token.
//!
//! With a `query`, `GET {instance}/api/v2/search?q=..&type=statuses&limit=40` runs on the
//! instances that have a token in `tokens` (sent as `Authorization: Bearer`), and only there:
//! anonymous status search returns next to nothing. Search results are not filtered by the
//! cursor: the store absorbs what comes twice.
//!
//! Requests run one after the other; the fetcher spaces them per host and holds a host on
//! `X-RateLimit-Remaining: 0` until `X-RateLimit-Reset` (an ISO timestamp), and on a 429.
//!
//! # Ids
//!
//! A status's `id` is local to the instance that serves it: the same federated post has a
//! different id on each instance. `platform_id` is the status `uri` (its ActivityPub id, the
//! same everywhere; `url` when a server sends no `uri`), so a post seen on several instances or
//! under two hashtags is one mention (its engagement counts are the largest seen, since remote
//! copies carry stale counts). A boost (a status with `reblog`) is replaced by the boosted
//! status. `conversation.parent_id` is the parent's `uri` when the parent came in the same poll,
//! else the instance-local `in_reply_to_id`. A reply's `thread_id` is that parent, so the
//! replies to one post are grouped as one conversation (a reply to a reply starts its own).
//!
//! # Cursor
//!
//! `{"min_id":{"<instance host[:port]>":{"<tag>":"<newest status id>"}}}`: one cursor per
//! instance and tag, since ids are per instance. Ids are compared as numbers (by length, then
//! digit by digit), never as plain strings: `"99" < "100"`. A cursor only moves forward, and
//! the cursor of an instance that failed is kept as it was.
//!
//! # Degraded
//!
//! One instance failing (a 401 on a public timeline, a 404, an HTML block page, a timeout)
//! does not lose the others: the poll returns what the others gave, with a
//! [`Notice::degraded`] naming the failing instances and why. Only when every request failed
//! is the poll an error (the first one).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::http::{ApiRequest, HttpFetcher};
use crate::secret::{Secret, SecretValue};
use crate::text::html_to_text;
use crate::{
    Author, ConfigProblem, Conversation, Engagement, FetchError, FetchOutcome, Mention,
    MentionKind, Notice, SourceState, check_base_url,
};

/// Statuses asked for per request (the API's maximum).
pub const PAGE: u32 = 40;

/// The `[[source]]` keys of `kind = "mastodon"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MastodonConfig {
    /// Instances to read: host names (`mastodon.social`) or URLs (`https://fosstodon.org`).
    #[serde(default)]
    pub instances: Vec<String>,
    /// Hashtags to follow on every instance, without `#`.
    #[serde(default)]
    pub hashtags: Vec<String>,
    /// Keyword search (`/api/v2/search`), on the instances that have a token in `tokens`.
    #[serde(default)]
    pub query: Option<String>,
    /// User tokens (scope `read:search`) by instance host name, for keyword search.
    #[serde(default)]
    pub tokens: BTreeMap<String, Secret>,
    /// Replaces the API root (the instances): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

/// One instance to read, from `instances` or `base_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    /// `scheme://host[:port][/path]`, without a trailing `/`.
    root: String,
    /// `host[:port]`, lowercase: the key of the cursor and of `tokens`.
    key: String,
    /// The host alone, for handles (`@user@host`).
    host: String,
}

/// Reads an `instances` entry, a `tokens` key or `base_url`: a host name (`mastodon.social`,
/// `https` assumed) or an http(s) URL.
fn parse_place(entry: &str) -> Result<Place, String> {
    let e = entry.trim().trim_end_matches('/');
    let full = if e.contains("://") {
        e.to_string()
    } else {
        format!("https://{e}")
    };
    let url = url::Url::parse(&full).map_err(|_| {
        format!("{entry:?} is not a host name or URL: write \"mastodon.social\" or \"https://mastodon.social\"")
    })?;
    let host = match url.host_str() {
        Some(h) if matches!(url.scheme(), "http" | "https") && !e.is_empty() => h.to_lowercase(),
        _ => {
            return Err(format!(
                "{entry:?} is not an http(s) host: write \"mastodon.social\" or \"https://mastodon.social\""
            ));
        }
    };
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{entry:?} has a query or fragment: write the instance only, e.g. \"https://mastodon.social\""
        ));
    }
    let key = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let root = format!(
        "{}://{key}{}",
        url.scheme(),
        url.path().trim_end_matches('/')
    );
    Ok(Place { root, key, host })
}

/// The configured instances, `base_url` last, without duplicates.
fn places(config: &MastodonConfig) -> Vec<Result<Place, String>> {
    let mut out: Vec<Result<Place, String>> = Vec::new();
    for entry in config.instances.iter().chain(config.base_url.as_ref()) {
        let p = parse_place(entry);
        let dup = matches!(&p, Ok(p) if out.iter().any(|q| matches!(q, Ok(q) if q.key == p.key)));
        if !dup {
            out.push(p);
        }
    }
    out
}

/// A hashtag as Mastodon accepts it: letters, digits and `_`.
fn tag_is_well_formed(tag: &str) -> bool {
    !tag.is_empty() && tag.chars().all(|c| c.is_alphanumeric() || c == '_')
}

impl MastodonConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        if self.instances.is_empty() && self.base_url.is_none() {
            p.push(ConfigProblem::new(
                "instances",
                "no instance to read: write instances = [\"mastodon.social\", \"fosstodon.org\"]",
            ));
        }
        let mut keys = Vec::new();
        for entry in &self.instances {
            match parse_place(entry) {
                Ok(place) => keys.push(place.key),
                Err(e) => p.push(ConfigProblem::new("instances", e)),
            }
        }
        if let Some(Ok(place)) = self.base_url.as_deref().map(parse_place) {
            keys.push(place.key);
        }
        let query = self.query.as_deref().map(str::trim);
        if self.hashtags.is_empty() && query.is_none() {
            p.push(ConfigProblem::new(
                "hashtags",
                "nothing to read: write hashtags = [\"acme\"] (without '#'), or a query with a token",
            ));
        }
        for tag in &self.hashtags {
            if let Some(bare) = tag.strip_prefix('#') {
                p.push(ConfigProblem::new(
                    "hashtags",
                    format!("{tag:?} starts with '#': write {bare:?}"),
                ));
            } else if !tag_is_well_formed(tag) {
                p.push(ConfigProblem::new(
                    "hashtags",
                    format!(
                        "{tag:?} is not a hashtag: letters, digits and '_' only, e.g. \"acme\""
                    ),
                ));
            }
        }
        match query {
            Some("") => p.push(ConfigProblem::new(
                "query",
                "query is empty: write the words to search for, or remove the key",
            )),
            Some(_) if self.tokens.is_empty() => p.push(ConfigProblem::new(
                "tokens",
                "keyword search needs a user token (scope read:search) on at least one instance: \
                 write tokens = { \"mastodon.social\" = { file = \"mastodon-token\" } }, or remove `query`",
            )),
            _ => {}
        }
        for name in self.tokens.keys() {
            let known = parse_place(name).is_ok_and(|t| keys.contains(&t.key));
            if !known {
                p.push(ConfigProblem::new(
                    "tokens",
                    format!(
                        "{name:?} is not one of the configured instances: name an entry of `instances`"
                    ),
                ));
            }
        }
        p
    }

    /// The credentials in this table, with their keys.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        self.tokens.values_mut().map(|s| ("tokens", s)).collect()
    }

    /// The API root polled: `base_url`, else the first instance.
    pub fn endpoint(&self) -> String {
        let first = self.base_url.as_ref().or(self.instances.first());
        match first.map(|e| parse_place(e)) {
            Some(Ok(place)) => place.root,
            Some(Err(_)) => first.cloned().unwrap_or_default(),
            None => String::new(),
        }
    }
}

/// An instance, ready to be polled.
#[derive(Debug)]
struct Instance {
    place: Place,
    /// A user token, for keyword search.
    token: Option<SecretValue>,
}

/// A `mastodon` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct Mastodon {
    instances: Vec<Instance>,
    /// Lowercase, as Mastodon treats them.
    hashtags: Vec<String>,
    query: Option<String>,
}

impl Mastodon {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &MastodonConfig) -> Result<Mastodon, FetchError> {
        let mut instances = Vec::new();
        for place in places(config) {
            let place = place.map_err(|e| FetchError::Config(format!("instances: {e}")))?;
            instances.push(Instance { place, token: None });
        }
        for (name, secret) in &config.tokens {
            let key = parse_place(name)
                .map_err(|e| FetchError::Config(format!("tokens: {e}")))?
                .key;
            let Some(inst) = instances.iter_mut().find(|i| i.place.key == key) else {
                return Err(FetchError::Config(format!(
                    "tokens: {name:?} is not one of the configured instances"
                )));
            };
            inst.token = Some(crate::resolve("tokens", secret)?);
        }
        let mut hashtags: Vec<String> = Vec::new();
        for tag in &config.hashtags {
            let tag = tag.trim_start_matches('#').to_lowercase();
            if !hashtags.contains(&tag) {
                hashtags.push(tag);
            }
        }
        Ok(Mastodon {
            instances,
            hashtags,
            query: config
                .query
                .as_deref()
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(String::from),
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
        let mut cursor = Cursor::default();
        // Every status read, with the instance that served it.
        let mut read: Vec<(&Place, Status)> = Vec::new();
        let mut failures: Vec<(String, FetchError)> = Vec::new();
        let mut successes = 0usize;
        for inst in &self.instances {
            let old_tags = old.min_id.get(&inst.place.key);
            let mut tags = BTreeMap::new();
            for tag in &self.hashtags {
                let since = old_tags.and_then(|t| t.get(tag)).cloned();
                let url = tag_url(&inst.place.root, tag, since.as_deref())?;
                match get_statuses(http, &url, None, Shape::Timeline).await {
                    Ok(statuses) => {
                        successes += 1;
                        let newest = statuses
                            .iter()
                            .filter_map(|s| s.id.clone())
                            .chain(since)
                            .max_by(|a, b| cmp_ids(a, b));
                        if let Some(newest) = newest {
                            tags.insert(tag.clone(), newest);
                        }
                        read.extend(statuses.into_iter().map(|s| (&inst.place, s)));
                    }
                    Err(e) => {
                        if let Some(since) = since {
                            tags.insert(tag.clone(), since);
                        }
                        failures.push((format!("{} #{tag}", inst.place.key), e));
                    }
                }
            }
            if !tags.is_empty() {
                cursor.min_id.insert(inst.place.key.clone(), tags);
            }
            if let (Some(query), Some(token)) = (&self.query, &inst.token) {
                let url = search_url(&inst.place.root, query)?;
                match get_statuses(http, &url, Some(token), Shape::Search).await {
                    Ok(statuses) => {
                        successes += 1;
                        read.extend(statuses.into_iter().map(|s| (&inst.place, s)));
                    }
                    Err(e) => failures.push((format!("{} search", inst.place.key), e)),
                }
            }
        }
        if successes == 0 && !failures.is_empty() {
            return Err(failures.swap_remove(0).1);
        }
        let notice = if failures.is_empty() {
            None
        } else {
            let list: Vec<String> = failures
                .iter()
                .map(|(what, e)| format!("{what}: {e}"))
                .collect();
            Notice::degraded(format!(
                "{} of {} requests failed, the other instances were read: {}",
                failures.len(),
                failures.len() + successes,
                list.join("; ")
            ))
        };
        Ok(FetchOutcome {
            mentions: normalise(read),
            state: SourceState {
                cursor: Some(serde_json::to_string(&cursor).expect("a map of strings serialises")),
                ..SourceState::default()
            },
            not_modified: false,
            notice,
        })
    }
}

/// What the source remembers between polls (see the module documentation).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// Newest status id seen, by instance key and tag.
    #[serde(default)]
    min_id: BTreeMap<String, BTreeMap<String, String>>,
}

/// Compares two status ids as numbers: a longer id of digits is larger. Ids that are not plain
/// digits (some servers use other schemes) fall back to the same rule, which still orders
/// fixed-width ids.
pub fn cmp_ids(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn api_url(root: &str, segments: &[&str]) -> Result<url::Url, FetchError> {
    let mut url = url::Url::parse(root)
        .map_err(|_| FetchError::Config("instances: not a URL: write a host name".to_string()))?;
    url.path_segments_mut()
        .map_err(|_| FetchError::Config("instances: not a URL: write a host name".to_string()))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

fn tag_url(root: &str, tag: &str, min_id: Option<&str>) -> Result<String, FetchError> {
    let mut url = api_url(root, &["api", "v1", "timelines", "tag", tag])?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("limit", &PAGE.to_string());
        if let Some(id) = min_id {
            q.append_pair("min_id", id);
        }
    }
    Ok(url.into())
}

fn search_url(root: &str, query: &str) -> Result<String, FetchError> {
    let mut url = api_url(root, &["api", "v2", "search"])?;
    url.query_pairs_mut()
        .append_pair("q", query)
        .append_pair("type", "statuses")
        .append_pair("limit", &PAGE.to_string());
    Ok(url.into())
}

/// Where the statuses are in a reply.
#[derive(Clone, Copy)]
enum Shape {
    /// A JSON array of statuses.
    Timeline,
    /// `{accounts, statuses, hashtags}`.
    Search,
}

async fn get_statuses(
    http: &HttpFetcher,
    url: &str,
    token: Option<&SecretValue>,
    shape: Shape,
) -> Result<Vec<Status>, FetchError> {
    let auth = token.map(|t| format!("Bearer {}", t.expose()));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("Authorization", a))
        .into_iter()
        .collect();
    let reply = http.api(ApiRequest::get(url).headers(&headers)).await?;
    if !reply.is_success() {
        return Err(reply.status_error());
    }
    let json = reply.into_json()?;
    let list = match (shape, json) {
        (Shape::Timeline, serde_json::Value::Array(list)) => list,
        (Shape::Search, serde_json::Value::Object(mut o)) => match o.remove("statuses") {
            Some(serde_json::Value::Array(list)) => list,
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(_) => {
                return Err(FetchError::Parse(
                    "mastodon search: `statuses` is not a list: check that the URL is a Mastodon API"
                        .to_string(),
                ));
            }
        },
        (Shape::Timeline, _) => {
            return Err(FetchError::Parse(
                "mastodon timeline: expected a list of statuses: check that the instance runs Mastodon"
                    .to_string(),
            ));
        }
        (Shape::Search, _) => {
            return Err(FetchError::Parse(
                "mastodon search: expected an object with `statuses`: check that the instance runs Mastodon"
                    .to_string(),
            ));
        }
    };
    let total = list.len();
    let statuses: Vec<Status> = list
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    if statuses.len() < total {
        tracing::debug!(
            skipped = total - statuses.len(),
            "mastodon: statuses of an unexpected shape skipped"
        );
        if statuses.is_empty() {
            return Err(FetchError::Parse(
                "mastodon: no item of the reply is a status: check that the instance runs Mastodon"
                    .to_string(),
            ));
        }
    }
    Ok(statuses)
}

/// A status, as far as we read it. Every field may be missing.
#[derive(Debug, Clone, Deserialize)]
struct Status {
    #[serde(default, deserialize_with = "id_string")]
    id: Option<String>,
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default, deserialize_with = "id_string")]
    in_reply_to_id: Option<String>,
    #[serde(default)]
    spoiler_text: Option<String>,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    replies_count: Option<u64>,
    #[serde(default)]
    reblogs_count: Option<u64>,
    #[serde(default)]
    favourites_count: Option<u64>,
    #[serde(default)]
    account: Option<Account>,
    #[serde(default)]
    reblog: Option<Box<Status>>,
}

#[derive(Debug, Clone, Deserialize)]
struct Account {
    #[serde(default)]
    acct: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    followers_count: Option<u64>,
}

/// An id sent as a string (Mastodon) or a number (some other servers).
fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Statuses (with the instance that served each) to mentions: boosts unwrapped, one mention
/// per `uri`, parents named by `uri` where known.
fn normalise(read: Vec<(&Place, Status)>) -> Vec<Mention> {
    let read: Vec<(&Place, Status)> = read
        .into_iter()
        .map(|(p, s)| match s.reblog {
            Some(inner) => (p, *inner),
            None => (p, s),
        })
        .collect();
    let uris: HashMap<(&str, &str), &str> = read
        .iter()
        .filter_map(|(p, s)| Some(((p.key.as_str(), s.id.as_deref()?), s.uri.as_deref()?)))
        .collect();
    let mut out: Vec<Mention> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (place, s) in &read {
        let Some(m) = to_mention(place, s, &uris) else {
            continue;
        };
        match index.get(&m.platform_id) {
            Some(&i) => {
                let e = &mut out[i].engagement;
                e.likes = e.likes.max(m.engagement.likes);
                e.replies = e.replies.max(m.engagement.replies);
                e.reposts = e.reposts.max(m.engagement.reposts);
                let a = &mut out[i].author;
                a.reach = a.reach.max(m.author.reach);
            }
            None => {
                index.insert(m.platform_id.clone(), out.len());
                out.push(m);
            }
        }
    }
    out
}

fn to_mention(place: &Place, s: &Status, uris: &HashMap<(&str, &str), &str>) -> Option<Mention> {
    let platform_id = s.uri.clone().or_else(|| s.url.clone())?;
    let account = s.account.as_ref();
    let handle = account
        .and_then(|a| a.acct.as_deref())
        .filter(|a| !a.is_empty())
        .map(|acct| {
            let acct = acct.trim_start_matches('@');
            if acct.contains('@') {
                format!("@{acct}")
            } else {
                format!("@{acct}@{}", place.host)
            }
        });
    let parent_id = s.in_reply_to_id.as_deref().map(|id| {
        uris.get(&(place.key.as_str(), id))
            .map_or_else(|| id.to_string(), |u| u.to_string())
    });
    Some(Mention {
        url: s.url.clone().or_else(|| s.uri.clone()),
        platform_id,
        author: Author {
            handle,
            display_name: account
                .and_then(|a| a.display_name.as_deref())
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(String::from),
            reach: account.and_then(|a| a.followers_count),
            url: account.and_then(|a| a.url.clone()),
        },
        title: s
            .spoiler_text
            .as_deref()
            .map(html_to_text)
            .filter(|t| !t.is_empty()),
        text: html_to_text(s.content.as_deref().unwrap_or_default()),
        created_at: s
            .created_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        kind: if parent_id.is_some() {
            MentionKind::Comment
        } else {
            MentionKind::Post
        },
        engagement: Engagement {
            score: None,
            likes: s.favourites_count,
            replies: s.replies_count,
            reposts: s.reblogs_count,
        },
        // Mastodon gives a reply only its parent, not the thread's root (that takes a
        // `/context` request per status): replies to one post are one conversation.
        conversation: Conversation {
            thread_id: parent_id.clone(),
            parent_id,
        },
        lang: s.language.clone().filter(|l| !l.is_empty()),
        rating: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_compare_as_numbers() {
        assert_eq!(cmp_ids("99", "100"), Ordering::Less);
        assert_eq!(
            cmp_ids("117020593741189701", "117020593741189700"),
            Ordering::Greater
        );
        assert_eq!(cmp_ids("5", "5"), Ordering::Equal);
        assert_eq!(cmp_ids("007", "7"), Ordering::Equal);
    }

    #[test]
    fn places_from_hosts_and_urls() {
        let p = parse_place("mastodon.social").unwrap();
        assert_eq!(
            (p.root.as_str(), p.key.as_str(), p.host.as_str()),
            (
                "https://mastodon.social",
                "mastodon.social",
                "mastodon.social"
            )
        );
        let p = parse_place("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            (p.root.as_str(), p.key.as_str(), p.host.as_str()),
            ("http://127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1")
        );
        let p = parse_place("https://Fosstodon.org").unwrap();
        assert_eq!(p.key, "fosstodon.org");
        assert!(parse_place("ftp://x.org").is_err());
        assert!(parse_place("").is_err());
        assert!(parse_place("https://x.org/?a=b").is_err());
    }

    #[test]
    fn urls_encode_the_tag_and_query() {
        assert_eq!(
            tag_url("https://m.example", "café", Some("12")).unwrap(),
            "https://m.example/api/v1/timelines/tag/caf%C3%A9?limit=40&min_id=12"
        );
        assert_eq!(
            search_url("https://m.example/sub", "acme widgets").unwrap(),
            "https://m.example/sub/api/v2/search?q=acme+widgets&type=statuses&limit=40"
        );
    }
}
