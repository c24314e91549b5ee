//! App Store customer reviews, from the public per-country reviews feed.
//!
//! For each configured storefront country, and pages 1 to `pages`, a poll reads Apple's legacy
//! iTunes RSS feed in its JSON form (no auth, undocumented, no rate-limit headers):
//!
//! `GET https://itunes.apple.com/{cc}/rss/customerreviews/page={n}/id={app_id}/sortby=mostrecent/json`
//!
//! Apple serves at most 10 pages of 50 reviews per country, newest first.
//!
//! # Shape
//!
//! `feed.entry` is an array, a single object when the page holds one review, or missing when
//! there is none: all three are read. Older feeds put the app's own metadata (`im:name`) in the
//! first entry: entries without `im:rating` are skipped.
//!
//! # Fields
//!
//! * `platform_id` = `id.label` (review ids are global across countries).
//! * `author` = `author.name.label`, its `author.uri.label` as the profile; no reach.
//! * `title` = `title.label`, `text` = `content.label` (plain text already).
//! * `rating` = `im:rating.label`, 1 to 5 (anything else: none).
//! * `created_at` = `updated.label` (ISO 8601 with an offset; when the review was last edited,
//!   the only date Apple gives).
//! * `url` = `link.attributes.href` when present (Apple's link is to the app's reviews, not the
//!   single review; there is no per-review page).
//! * Engagement: `im:voteCount` counts every "was this helpful?" vote and `im:voteSum` the
//!   "yes" ones: `likes` = `im:voteSum`, `score` = yes minus no (`2 × voteSum − voteCount`).
//! * `lang` is not given (the storefront country is no language): the daemon detects it.
//!
//! # Cursor
//!
//! `{"us": "<newest updated seen in that country>", ...}`. It only saves requests: a country's
//! paging stops early at a page holding no review newer than the newest already seen, or at an
//! empty page. Every review read is returned; the store drops those it has.
//!
//! # Failures
//!
//! The feed sometimes answers 502 or an empty body: the poll then fails with that
//! [`FetchError`] (transient) and the next one reads everything again.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::http::{ApiRequest, HttpFetcher};
use crate::secret::Secret;
use crate::{
    Author, ConfigProblem, Engagement, FetchError, FetchOutcome, Mention, MentionKind, SourceState,
    api_root, check_base_url,
};

/// The API root used unless `base_url` replaces it.
pub const DEFAULT_ROOT: &str = "https://itunes.apple.com";

/// The `[[source]]` keys of `kind = "appstore"` (besides `id`, `every`, `cron`, `backfill`, `enabled`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppStoreConfig {
    /// The app's numeric id (the `id123456789` in its App Store link).
    pub app_id: u64,
    /// Storefront countries, two letters (`us`, `gb`, `de`).
    #[serde(default = "default_countries")]
    pub countries: Vec<String>,
    /// Pages of 50 reviews read per country and poll, 1 to 10 (Apple serves no more).
    #[serde(default = "one")]
    pub pages: u8,
    /// Replaces the API root (`https://itunes.apple.com`): a proxy, a self-hosted instance, a test server.
    #[serde(default)]
    pub base_url: Option<String>,
}

fn default_countries() -> Vec<String> {
    vec!["us".to_string()]
}

fn one() -> u8 {
    1
}

impl AppStoreConfig {
    /// What serde cannot check. Pure.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        check_base_url(self.base_url.as_deref(), &mut p);
        if self.app_id == 0 {
            p.push(ConfigProblem::new(
                "app_id",
                "must be the app's number: the 123456789 in https://apps.apple.com/us/app/name/id123456789",
            ));
        }
        if !(1..=10).contains(&self.pages) {
            p.push(ConfigProblem::new(
                "pages",
                format!(
                    "{} is out of range: write 1 to 10 (Apple serves 10 pages of 50 reviews at most)",
                    self.pages
                ),
            ));
        }
        if self.countries.is_empty() {
            p.push(ConfigProblem::new(
                "countries",
                "is empty: list storefront countries, e.g. [\"us\", \"gb\"]",
            ));
        }
        for cc in &self.countries {
            if cc.len() != 2 || !cc.chars().all(|c| c.is_ascii_alphabetic()) {
                p.push(ConfigProblem::new(
                    "countries",
                    format!("{cc:?} is not a country: write two letters, e.g. \"us\" or \"de\""),
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

/// A `appstore` source, built once; keeps what outlives a poll in memory.
#[derive(Debug)]
pub struct AppStore {
    config: AppStoreConfig,
}

/// Newest `updated` seen, per lowercase country code.
type Cursor = BTreeMap<String, DateTime<Utc>>;

impl AppStore {
    /// Reads the credentials now; fails with a [`FetchError::Config`] naming the key.
    pub fn new(config: &AppStoreConfig) -> Result<AppStore, FetchError> {
        Ok(AppStore {
            config: config.clone(),
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
        let mut cursor = old.clone();
        let mut mentions = Vec::new();
        for cc in &self.config.countries {
            let cc = cc.to_ascii_lowercase();
            let seen = old.get(&cc).copied();
            for page in 1..=self.config.pages.clamp(1, 10) {
                let url = format!(
                    "{root}/{cc}/rss/customerreviews/page={page}/id={}/sortby=mostrecent/json",
                    self.config.app_id
                );
                let reply = http.api(ApiRequest::get(&url)).await?;
                let json = reply.into_json()?;
                let reviews = parse_page(&json)?;
                if reviews.is_empty() {
                    break;
                }
                let any_new = reviews.iter().any(|m| match (m.created_at, seen) {
                    (Some(t), Some(s)) => t > s,
                    _ => true,
                });
                for m in reviews {
                    if let Some(t) = m.created_at {
                        let e = cursor.entry(cc.clone()).or_insert(t);
                        *e = (*e).max(t);
                    }
                    mentions.push(m);
                }
                if !any_new {
                    break;
                }
            }
        }
        let cursor = (!cursor.is_empty())
            .then(|| serde_json::to_string(&cursor).ok())
            .flatten();
        Ok(FetchOutcome {
            mentions,
            state: SourceState {
                cursor,
                ..SourceState::default()
            },
            not_modified: false,
            notice: None,
        })
    }
}

/// The reviews of one page of the feed (none when `entry` is missing).
fn parse_page(json: &Value) -> Result<Vec<Mention>, FetchError> {
    let Some(feed) = json.get("feed").filter(|f| f.is_object()) else {
        return Err(FetchError::Parse(
            "the reply has no `feed` object: check app_id and that base_url is https://itunes.apple.com"
                .to_string(),
        ));
    };
    let entries: Vec<&Value> = match feed.get("entry") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            return Err(FetchError::Parse(
                "`feed.entry` is neither a list nor one review".to_string(),
            ));
        }
    };
    Ok(entries.into_iter().filter_map(review).collect())
}

/// `x.label` of a field, trimmed, if it is a non-empty string.
fn label<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field)?
        .get("label")?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn count(v: &Value, field: &str) -> Option<u64> {
    label(v, field)?.parse().ok()
}

/// One review; `None` for an entry that is not one (app metadata, no id).
fn review(e: &Value) -> Option<Mention> {
    let rating = label(e, "im:rating")?;
    let id = label(e, "id")?;
    let author = e.get("author");
    let votes = count(e, "im:voteCount");
    let yes = count(e, "im:voteSum");
    let content = match e.get("content") {
        // Some storefronts have sent a text and an HTML variant: prefer the text.
        Some(Value::Array(parts)) => parts
            .iter()
            .find(|p| p.pointer("/attributes/type").and_then(Value::as_str) == Some("text"))
            .or(parts.first())
            .and_then(|p| p.get("label")?.as_str()),
        Some(c) => c.get("label").and_then(Value::as_str),
        None => None,
    };
    Some(Mention {
        platform_id: id.to_string(),
        url: e
            .pointer("/link/attributes/href")
            .and_then(Value::as_str)
            .map(str::to_string),
        author: Author {
            handle: author.and_then(|a| label(a, "name")).map(str::to_string),
            display_name: None,
            reach: None,
            url: author.and_then(|a| label(a, "uri")).map(str::to_string),
        },
        title: label(e, "title").map(str::to_string),
        text: content.unwrap_or_default().trim().to_string(),
        created_at: label(e, "updated")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        kind: MentionKind::Post,
        engagement: Engagement {
            score: match (yes, votes) {
                (Some(y), Some(v)) => i64::try_from(y.saturating_mul(2))
                    .ok()
                    .and_then(|s| s.checked_sub_unsigned(v)),
                _ => None,
            },
            likes: yes,
            replies: None,
            reposts: None,
        },
        conversation: Default::default(),
        lang: None,
        rating: rating.parse::<u8>().ok().filter(|r| (1..=5).contains(r)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> AppStoreConfig {
        AppStoreConfig {
            app_id: 1234567890,
            countries: default_countries(),
            pages: 1,
            base_url: None,
        }
    }

    #[test]
    fn validation_names_the_key() {
        assert!(config().validate().is_empty());
        let bad = AppStoreConfig {
            app_id: 0,
            countries: vec!["usa".into(), "u1".into(), "gb".into()],
            pages: 11,
            base_url: None,
        };
        let keys: Vec<_> = bad.validate().iter().map(|p| p.key).collect();
        assert_eq!(keys, ["app_id", "pages", "countries", "countries"]);
        let none = AppStoreConfig {
            countries: vec![],
            pages: 0,
            ..config()
        };
        let keys: Vec<_> = none.validate().iter().map(|p| p.key).collect();
        assert_eq!(keys, ["pages", "countries"]);
    }

    #[test]
    fn ratings_and_votes() {
        let e = |rating: &str, sum: &str, count: &str| {
            json!({"id": {"label": "1"}, "im:rating": {"label": rating},
                   "im:voteSum": {"label": sum}, "im:voteCount": {"label": count}})
        };
        let r = review(&e("4", "3", "5")).unwrap();
        assert_eq!(r.rating, Some(4));
        assert_eq!(r.engagement.likes, Some(3));
        assert_eq!(r.engagement.score, Some(1));
        assert_eq!(review(&e("0", "0", "2")).unwrap().rating, None);
        assert_eq!(review(&e("6", "", "")).unwrap().engagement.score, None);
        assert_eq!(review(&e("five", "0", "0")).unwrap().rating, None);
        assert!(review(&json!({"id": {"label": "1"}, "im:name": {"label": "Acme"}})).is_none());
    }

    #[test]
    fn entry_as_list_object_or_missing() {
        let one = json!({"id": {"label": "9"}, "im:rating": {"label": "1"}});
        assert_eq!(
            parse_page(&json!({"feed": {"entry": [one.clone()]}}))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            parse_page(&json!({"feed": {"entry": one}})).unwrap().len(),
            1
        );
        assert!(
            parse_page(&json!({"feed": {"author": {}}}))
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            parse_page(&json!({"feed": {"entry": "x"}})),
            Err(FetchError::Parse(_))
        ));
        assert!(matches!(
            parse_page(&json!({"results": []})),
            Err(FetchError::Parse(_))
        ));
    }
}
