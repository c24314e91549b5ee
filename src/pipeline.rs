//! The pure middle of the pipeline: given a fetched mention, which watches match it, how it
//! scores, and which deliveries it needs. No I/O: the runtime fetches before and stores after.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use earshot_connectors::Mention;
use sha2::{Digest, Sha256};

use crate::alert::Alert;
use crate::config::{Config, RouteConfig, SourceConfig};
use crate::query::{DocFields, Document, Query};
use crate::sentiment::{Sentiment, SentimentBucket, polarity_scores};
use crate::store::{Group, NewDelivery, NewEscalation, NewMention, Scores};
use crate::urgency::{self, Context, Level, Rules};

/// A watch with its query parsed.
#[derive(Debug, Clone)]
pub struct Watch {
    pub name: String,
    pub query: Query,
    /// Source ids it reads; `None` for all.
    pub sources: Option<HashSet<String>>,
    /// Free labels, matched by routes' `tags`.
    pub tags: Vec<String>,
}

/// Everything needed to judge mentions, built once per config.
#[derive(Debug, Clone)]
pub struct Pipeline {
    watches: Vec<Watch>,
    routes: Vec<RouteConfig>,
    rules: Rules,
    /// `[[time_interval]]`s by name.
    intervals: std::collections::HashMap<String, crate::quiet::TimeInterval>,
    /// Names of the routes some route escalates to: they take part in no matching.
    escalation_routes: HashSet<String>,
    /// Some watch filters on `lang:`, so an item's language is detected before matching.
    match_needs_lang: bool,
}

impl Pipeline {
    /// Builds from a validated config (queries are known to parse).
    pub fn new(cfg: &Config) -> Result<Pipeline, String> {
        let watches = cfg
            .watches
            .iter()
            .map(|w| {
                Ok(Watch {
                    name: w.name.clone(),
                    query: Query::parse(&w.query)
                        .map_err(|e| format!("watch {:?}: {e}", w.name))?,
                    sources: w.sources.as_ref().map(|s| s.iter().cloned().collect()),
                    tags: w.tags.clone(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let names: Vec<&str> = cfg.watches.iter().map(|w| w.name.as_str()).collect();
        let intervals = cfg
            .time_intervals
            .iter()
            .map(|t| {
                crate::quiet::TimeInterval::new(t)
                    .map(|i| (t.name.clone(), i))
                    .map_err(|(k, e)| format!("time interval {:?}.{k}: {e}", t.name))
            })
            .collect::<Result<_, String>>()?;
        let match_needs_lang = watches.iter().any(|w| w.query.uses_lang());
        Ok(Pipeline {
            match_needs_lang,
            watches,
            routes: cfg.routes.clone(),
            rules: Rules::new(&cfg.scoring, &names),
            intervals,
            escalation_routes: cfg
                .routes
                .iter()
                .filter_map(|r| r.escalate_to.clone())
                .collect(),
        })
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Judges one new item of `source`. `None` when no watch matches. With `alert == false`
    /// (a source's first poll without backfill) the mention is kept without deliveries.
    pub fn evaluate(
        &self,
        source: &SourceConfig,
        mention: Mention,
        now: DateTime<Utc>,
        alert: bool,
    ) -> Option<NewMention> {
        self.evaluate_with(source, mention, now, alert, &[])
    }

    /// As [`Pipeline::evaluate`], with the silences active now: a watch a silence matches sends
    /// nothing for this mention, which is still stored, marked with the silence.
    pub fn evaluate_with(
        &self,
        source: &SourceConfig,
        mention: Mention,
        now: DateTime<Utc>,
        alert: bool,
        silences: &[SilenceMatcher],
    ) -> Option<NewMention> {
        let title = mention.title.as_deref().unwrap_or("");
        // Language detection is most of the cost of an item that matches nothing: done before
        // matching only when a watch or a silence filters on `lang:`, otherwise once a watch
        // matched (routes and the store want it).
        let detect = || crate::lang::detect(&format!("{title}\n{}", mention.text));
        let mut lang = mention.lang.clone();
        if lang.is_none()
            && (self.match_needs_lang
                || silences
                    .iter()
                    .any(|s| s.query.as_ref().is_some_and(Query::uses_lang)))
        {
            lang = detect();
        }
        let author = [
            mention.author.handle.as_deref(),
            mention.author.display_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let site = mention
            .url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let doc = Document::new(DocFields {
            title,
            text: &mention.text,
            author: &author,
            site: &site,
            lang: lang.as_deref(),
            kind: mention.kind,
        });
        let watches: Vec<&Watch> = self
            .watches
            .iter()
            .filter(|w| w.sources.as_ref().is_none_or(|s| s.contains(&source.id)))
            .filter(|w| w.query.matches(&doc))
            .collect();
        if watches.is_empty() {
            return None;
        }
        if lang.is_none() {
            lang = detect();
        }
        let scores = score(&mention, &self.rules, Some(now));
        let mut deliveries: Vec<NewDelivery> = Vec::new();
        let mut silenced_by = None;
        let mut escalation = None;
        if alert {
            let fp = fingerprint(&mention.text);
            let seen = Seen {
                source,
                lang: lang.as_deref(),
                sentiment: SentimentBucket::of(scores.sentiment.compound),
                level: scores.level,
                now,
            };
            for w in &watches {
                if let Some(s) = silences
                    .iter()
                    .find(|s| s.matches(&source.id, &w.name, &author, &doc))
                {
                    silenced_by.get_or_insert(s.id);
                    continue;
                }
                for r in self.routes_for(w, &seen) {
                    if let Some(to) = &r.escalate_to
                        && scores.level == Level::Critical
                        && escalation.is_none()
                    {
                        escalation = Some(NewEscalation {
                            route: to.clone(),
                            after: r.escalate_after().as_secs() as i64,
                            times: r.escalate_times(),
                        });
                    }
                    let held_until = self.hold(r, scores.level, now).map(|t| t.timestamp());
                    for sink in &r.sinks {
                        // One message per (mention, sink), whichever watch and route got there first.
                        if deliveries.iter().any(|d| &d.sink_id == sink) {
                            continue;
                        }
                        deliveries.push(NewDelivery {
                            sink_id: sink.clone(),
                            watch: w.name.clone(),
                            alert: make_alert(source, &w.name, sink, &mention, &scores),
                            held_until,
                            group: r.group_wait.map(|g| Group {
                                key: thread_key(&source.id, &mention),
                                wait: g.0.as_secs() as i64,
                                interval: r.group_interval().as_secs() as i64,
                            }),
                            fingerprint: fp.clone(),
                        });
                    }
                }
            }
        }
        Some(NewMention {
            // No alert went out (silenced, or no route took it): nothing to escalate.
            escalation: escalation.filter(|_| !deliveries.is_empty()),
            silenced_by,
            watches: watches.iter().map(|w| w.name.clone()).collect(),
            mention,
            lang,
            scores,
            deliveries,
        })
    }
}

/// An active silence, ready to match mentions.
#[derive(Debug, Clone)]
pub struct SilenceMatcher {
    pub id: i64,
    watch: Option<String>,
    source_id: Option<String>,
    /// Lowercased.
    author: Option<String>,
    query: Option<Query>,
}

impl SilenceMatcher {
    /// Compiles a stored silence; its query was checked when it was created.
    pub fn new(s: &crate::store::Silence) -> Result<SilenceMatcher, String> {
        Ok(SilenceMatcher {
            id: s.id,
            watch: s.watch.clone(),
            source_id: s.source_id.clone(),
            author: s.author.as_ref().map(|a| a.trim().to_lowercase()),
            query: s
                .query
                .as_deref()
                .map(Query::parse)
                .transpose()
                .map_err(|e| format!("silence {}: {e}", s.id))?,
        })
    }

    /// True when every matcher it gives holds for this mention through watch `watch`.
    /// `author` is the handle and display name, space-separated.
    fn matches(&self, source_id: &str, watch: &str, author: &str, doc: &Document) -> bool {
        self.watch.as_deref().is_none_or(|w| w == watch)
            && self.source_id.as_deref().is_none_or(|s| s == source_id)
            && self.author.as_deref().is_none_or(|a| {
                author
                    .split_whitespace()
                    .any(|part| part.to_lowercase() == a)
                    || author.to_lowercase() == a
            })
            && self.query.as_ref().is_none_or(|q| q.matches(doc))
    }
}

/// What routes look at besides the watch.
struct Seen<'a> {
    source: &'a SourceConfig,
    lang: Option<&'a str>,
    sentiment: SentimentBucket,
    level: Level,
    now: DateTime<Utc>,
}

impl Pipeline {
    /// True when route `r` holds its alerts back at `t`: inside one of its mute intervals, or
    /// outside all of its active intervals.
    pub fn muted(&self, r: &RouteConfig, t: DateTime<Utc>) -> bool {
        let inside = |names: &[String]| {
            names
                .iter()
                .any(|n| self.intervals.get(n).is_some_and(|i| i.contains(t)))
        };
        inside(&r.mute_time_intervals)
            || (!r.active_time_intervals.is_empty() && !inside(&r.active_time_intervals))
    }

    /// Until when route `r` holds an alert of `level` found at `now`: `None` to send at once.
    /// A route that never opens within eight days holds for eight days.
    pub fn hold(&self, r: &RouteConfig, level: Level, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.muted(r, now) || (r.critical_breaks_through && level == Level::Critical) {
            return None;
        }
        Some(
            crate::quiet::next_open(now, |t| self.muted(r, t))
                .unwrap_or(now + chrono::Duration::days(8)),
        )
    }

    /// The routes a mention matched through watch `w`: in order, the first match and those
    /// after it while each says `continue`; the default route when none matched.
    fn routes_for<'r>(&'r self, w: &Watch, seen: &Seen<'_>) -> Vec<&'r RouteConfig> {
        self.pick(|r| route_matches(r, w, seen), seen.level, seen.now)
    }

    /// The routes for which `matches` holds (and whose `during` holds at `now`), tried in
    /// order: the first and those after it while each says `continue`; else the default
    /// route, when `level` reaches its `min_urgency`. Escalation routes take part in none.
    fn pick(
        &self,
        matches: impl Fn(&RouteConfig) -> bool,
        level: Level,
        now: DateTime<Utc>,
    ) -> Vec<&RouteConfig> {
        let mut out = Vec::new();
        let routable = |r: &&RouteConfig| {
            r.name
                .as_ref()
                .is_none_or(|n| !self.escalation_routes.contains(n))
        };
        let in_time = |r: &RouteConfig| {
            r.during.as_ref().is_none_or(|names| {
                names
                    .iter()
                    .any(|n| self.intervals.get(n).is_some_and(|i| i.contains(now)))
            })
        };
        for r in self.routes.iter().filter(routable).filter(|r| !r.default) {
            if matches(r) && in_time(r) {
                out.push(r);
                if !r.continue_matching {
                    break;
                }
            }
        }
        if out.is_empty() {
            out.extend(
                self.routes
                    .iter()
                    .filter(|r| r.default && level >= r.min_urgency),
            );
        }
        out
    }

    /// Where a spike of watch `watch` goes at `now`: each route it matches with its sinks
    /// (each sink once) and until when that route holds it (quiet hours). A spike is `high`
    /// and of the sentiment `bucket`; routes for single mentions of some sources, source kinds
    /// or languages do not take it, since it spans the watch.
    pub fn spike_routes(
        &self,
        watch: &str,
        bucket: SentimentBucket,
        now: DateTime<Utc>,
    ) -> Vec<(Vec<String>, Option<DateTime<Utc>>)> {
        let Some(w) = self.watches.iter().find(|w| w.name == watch) else {
            return Vec::new();
        };
        let matches = |r: &RouteConfig| {
            Level::High >= r.min_urgency
                && r.watch.as_ref().is_none_or(|name| *name == w.name)
                && r.sources.is_none()
                && r.source_kinds.is_none()
                && r.lang.is_none()
                && r.sentiment.as_ref().is_none_or(|l| l.contains(&bucket))
                && r.tags
                    .as_ref()
                    .is_none_or(|l| l.iter().any(|t| w.tags.contains(t)))
        };
        let mut seen: HashSet<&str> = HashSet::new();
        self.pick(matches, Level::High, now)
            .into_iter()
            .filter_map(|r| {
                let sinks: Vec<String> = r
                    .sinks
                    .iter()
                    .filter(|s| seen.insert(s.as_str()))
                    .cloned()
                    .collect();
                (!sinks.is_empty()).then(|| (sinks, self.hold(r, Level::High, now)))
            })
            .collect()
    }
}

impl Pipeline {
    /// The deliveries of escalation number `seq` of a critical mention whose first alert was
    /// `alert`, on the sinks of route `route` (held if that route is muted and does not let
    /// critical through). Empty when no route has that name.
    pub fn escalation_deliveries(
        &self,
        route: &str,
        alert: &Alert,
        seq: u32,
        of: u32,
        waited: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Vec<NewDelivery> {
        let Some(r) = self
            .routes
            .iter()
            .find(|r| r.name.as_deref() == Some(route))
        else {
            return Vec::new();
        };
        let held_until = self.hold(r, alert.level, now).map(|t| t.timestamp());
        let why = format!(
            "not acknowledged for {} (escalation {seq} of {of})",
            crate::duration::format_duration(waited)
        );
        r.sinks
            .iter()
            .map(|sink| {
                let mut a = alert.clone();
                a.id = alert_id("escalation", &format!("{}:{seq}", alert.id), sink);
                a.title = Some(format!(
                    "Unacknowledged: {}",
                    a.title.as_deref().unwrap_or(&a.watch)
                ));
                a.reasons.insert(0, why.clone());
                NewDelivery {
                    sink_id: sink.clone(),
                    watch: alert.watch.clone(),
                    alert: a,
                    held_until,
                    group: None,
                    fingerprint: None,
                }
            })
            .collect()
    }
}

/// The fingerprint of a text for spotting near-duplicates (the same post cross-posted, with
/// other links, mentions, case or punctuation): its words, lowercased, without links and
/// @handles, hashed. `None` for texts under six words, which repeat by chance.
pub fn fingerprint(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .filter(|w| {
            let l = w.to_lowercase();
            !(l.starts_with("http://")
                || l.starts_with("https://")
                || l.starts_with("www.")
                || l.starts_with('@'))
        })
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() < 6 {
        return None;
    }
    let mut h = Sha256::new();
    h.update(words.join(" ").as_bytes());
    Some(hex::encode(&h.finalize()[..12]))
}

/// True when every matcher the route gives holds.
fn route_matches(r: &RouteConfig, w: &Watch, seen: &Seen<'_>) -> bool {
    fn any_of<T: PartialEq>(list: &Option<Vec<T>>, pred: impl Fn(&T) -> bool) -> bool {
        list.as_ref().is_none_or(|l| l.iter().any(pred))
    }
    seen.level >= r.min_urgency
        && r.watch.as_ref().is_none_or(|name| *name == w.name)
        && any_of(&r.sources, |s| *s == seen.source.id)
        && any_of(&r.source_kinds, |k| k == seen.source.kind())
        && any_of(&r.sentiment, |b| *b == seen.sentiment)
        && any_of(&r.lang, |l| Some(l.as_str()) == seen.lang)
        && any_of(&r.tags, |t| w.tags.contains(t))
}

/// Sentiment and urgency of a mention: title and text read as one.
pub fn score(mention: &Mention, rules: &Rules, now: Option<DateTime<Utc>>) -> Scores {
    let full = match &mention.title {
        Some(t) if !t.is_empty() && !mention.text.starts_with(t.as_str()) => {
            format!("{t}. {}", mention.text)
        }
        _ => mention.text.clone(),
    };
    let sentiment: Sentiment = polarity_scores(&full);
    let ctx = Context {
        engagement: Some(&mention.engagement),
        reach: mention.author.reach,
        rating: mention.rating,
        created_at: mention.created_at,
        now,
    };
    let u = urgency::urgency(&full, &sentiment, &ctx, rules);
    Scores {
        sentiment,
        urgency: u.score,
        level: u.level,
        reasons: u.reasons,
    }
}

/// The idempotency key of one (mention, sink): constant across retries and restarts.
pub fn alert_id(source_id: &str, platform_id: &str, sink_id: &str) -> String {
    let mut h = Sha256::new();
    for part in [source_id, platform_id, sink_id] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("msg_{}", &hex::encode(h.finalize())[..24])
}

/// The conversation a mention belongs to, as one key: its thread's root within its source, or
/// the mention itself when it starts a thread. Chat targets that thread messages (Google Chat's
/// `threadKey`) group by it.
pub fn thread_key(source_id: &str, m: &Mention) -> String {
    let root = m
        .conversation
        .thread_id
        .as_deref()
        .unwrap_or(&m.platform_id);
    format!("{source_id}:{root}")
}

fn make_alert(source: &SourceConfig, watch: &str, sink: &str, m: &Mention, s: &Scores) -> Alert {
    Alert {
        id: alert_id(&source.id, &m.platform_id, sink),
        watch: watch.to_string(),
        source_id: source.id.clone(),
        source_kind: source.kind().to_string(),
        url: m.url.clone(),
        title: m.title.clone(),
        text: m.text.clone(),
        author: m
            .author
            .handle
            .clone()
            .or_else(|| m.author.display_name.clone()),
        author_reach: m.author.reach,
        created_at: m.created_at,
        kind: m.kind,
        sentiment: s.sentiment,
        urgency: s.urgency,
        level: s.level,
        reasons: s.reasons.clone(),
        thread: Some(thread_key(&source.id, m)),
        ack_url: None,
        form: crate::alert::Form::Mention,
    }
}

/// What happened to a silence, for its announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceChange {
    Added,
    /// Expired by hand (`earshot silence expire`).
    Expired,
    /// Ran its course.
    Ended,
}

/// The notice that tells a silence's routes it started or stopped: on the sinks of every route
/// that could carry what it matches (a route for another watch or source could not). An
/// escalation route receives only escalations, so not this.
pub fn silence_announcement(
    cfg: &Config,
    s: &crate::store::Silence,
    change: SilenceChange,
    now: i64,
) -> crate::store::Announcement {
    let mut sink_ids: Vec<String> = Vec::new();
    for r in cfg.routes.iter().filter(|r| !cfg.is_escalation_route(r)) {
        let watch_ok = match (&s.watch, &r.watch) {
            (Some(sw), Some(rw)) => sw == rw,
            _ => true,
        };
        let source_ok = match (&s.source_id, &r.sources) {
            (Some(ss), Some(rs)) => rs.contains(ss),
            _ => true,
        };
        if watch_ok && source_ok {
            for sink in &r.sinks {
                if !sink_ids.contains(sink) {
                    sink_ids.push(sink.clone());
                }
            }
        }
    }
    let what = s.matchers();
    let (verb, text) = match change {
        SilenceChange::Added => (
            "added",
            format!(
                "{}. Until {}, matching mentions are stored but not sent. Set by {}; \
                 `earshot silence expire {}` ends it.",
                s.comment,
                crate::duration::utc_minute(s.ends_at),
                s.created_by,
                s.id
            ),
        ),
        SilenceChange::Expired => (
            "expired",
            format!("{}. Matching mentions are sent again.", s.comment),
        ),
        SilenceChange::Ended => (
            "ended",
            format!(
                "{}. It ran its course at {}; matching mentions are sent again.",
                s.comment,
                crate::duration::utc_minute(s.ends_at)
            ),
        ),
    };
    crate::store::Announcement {
        sink_ids,
        watch: s.watch.clone().unwrap_or_else(|| "*".into()),
        alert: Alert::notice(
            format!("silence-{}-{verb}", s.id),
            s.watch.as_deref().unwrap_or("all watches"),
            format!("Silence {} {verb}: {what}", s.id),
            text,
            now,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use earshot_connectors::{Author, Engagement};

    /// Support by day, on-call for critical, marketing gets praise, the rest to a catch-all.
    const ROUTES: &str = r#"
        [[source]]
        id = "hn"
        kind = "hackernews"
        query = "acme"
        [[source]]
        id = "reviews"
        kind = "appstore"
        app_id = 1
        [[watch]]
        name = "acme"
        query = "acme"
        tags = ["brand"]
        [[watch]]
        name = "rival"
        query = "globex"
        tags = ["competitor"]
        [[sink]]
        id = "oncall"
        kind = "stdout"
        [[sink]]
        id = "support"
        kind = "stdout"
        [[sink]]
        id = "marketing"
        kind = "stdout"
        [[sink]]
        id = "archive"
        kind = "stdout"
        [[sink]]
        id = "german"
        kind = "stdout"
        [[route]]
        min_urgency = "critical"
        sinks = ["oncall"]
        continue = true
        [[route]]
        watch = "acme"
        lang = ["de"]
        min_urgency = "low"
        sinks = ["german"]
        [[route]]
        tags = ["brand"]
        source_kinds = ["hackernews"]
        min_urgency = "normal"
        sinks = ["support"]
        [[route]]
        sentiment = ["positive"]
        min_urgency = "low"
        sinks = ["marketing"]
        [[route]]
        default = true
        min_urgency = "low"
        sinks = ["archive"]
    "#;

    /// The language is found for every matched mention, before matching only where a query
    /// needs it, and a `lang:` filter still sees it.
    #[test]
    fn the_language_is_detected_when_it_is_needed() {
        const GERMAN: &str = "Acme ist seit heute Morgen nicht erreichbar und unsere Kunden \
                              können nicht bezahlen, bitte helft uns schnell";
        let text = |query: &str| {
            format!(
                "[[source]]\nid = \"hn\"\nkind = \"hackernews\"\nquery = \"acme\"\n\
                 [[watch]]\nname = \"w\"\nquery = '{query}'\n"
            )
        };
        let mention = |t: &str| Mention {
            platform_id: "1".into(),
            text: t.into(),
            lang: None,
            ..Default::default()
        };
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        // No `lang:` anywhere: matched, then detected.
        let cfg = Config::parse(&text("acme")).unwrap().config;
        let p = Pipeline::new(&cfg).unwrap();
        assert!(!p.match_needs_lang);
        let got = p
            .evaluate(cfg.source("hn").unwrap(), mention(GERMAN), now, false)
            .unwrap();
        assert_eq!(got.lang.as_deref(), Some("de"));
        // A `lang:` filter: detected before matching, so it matches German and only German.
        let cfg = Config::parse(&text("acme lang:de")).unwrap().config;
        let p = Pipeline::new(&cfg).unwrap();
        assert!(p.match_needs_lang);
        let src = cfg.source("hn").unwrap();
        assert!(p.evaluate(src, mention(GERMAN), now, false).is_some());
        let english = "Acme has been down since this morning and our customers cannot pay at all";
        assert!(p.evaluate(src, mention(english), now, false).is_none());
    }

    fn sinks_for(source: &str, text: &str, lang: &str, rating: Option<u8>) -> Vec<String> {
        let cfg = Config::parse(ROUTES).unwrap().config;
        let pipeline = Pipeline::new(&cfg).unwrap();
        let source = cfg.source(source).unwrap();
        let m = Mention {
            platform_id: "1".into(),
            text: text.into(),
            author: Author::default(),
            engagement: Engagement::default(),
            lang: Some(lang.into()),
            rating,
            ..Default::default()
        };
        let judged = pipeline
            .evaluate(
                source,
                m,
                DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
                true,
            )
            .unwrap();
        let mut sinks: Vec<String> = judged.deliveries.into_iter().map(|d| d.sink_id).collect();
        sinks.sort();
        sinks
    }

    #[test]
    fn routes_are_tried_in_order_and_the_first_match_wins() {
        // (source, text, language, stars, sinks it reaches)
        type Case<'a> = (&'a str, &'a str, &'a str, Option<u8>, &'a [&'a str]);
        let cases: &[Case] = &[
            // Critical: on-call, and (continue) the next match, support.
            (
                "hn",
                "Acme is down, outage, we lost data, scam, lawyer, refund now!",
                "en",
                None,
                &["oncall", "support"],
            ),
            // German, whatever the urgency: the German desk only (first match, no continue).
            ("hn", "Acme ist toll", "de", None, &["german"]),
            // A brand complaint on HN: support.
            (
                "hn",
                "acme is broken and not working, terrible",
                "en",
                None,
                &["support"],
            ),
            // Praise on HN is below support's normal: it falls through to marketing.
            (
                "hn",
                "I love acme, great work, wonderful",
                "en",
                None,
                &["marketing"],
            ),
            // A 2-star review: brand tag but not hackernews, not positive: the default route.
            ("reviews", "acme app", "en", Some(2), &["archive"]),
            // A competitor mention, neutral: nothing but the default.
            ("hn", "globex released a thing", "en", None, &["archive"]),
        ];
        for (source, text, lang, rating, want) in cases {
            assert_eq!(
                sinks_for(source, text, lang, *rating),
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{source}: {text}"
            );
        }
    }

    #[test]
    fn silences_hold_back_the_watches_they_match() {
        let cfg = Config::parse(ROUTES).unwrap().config;
        let pipeline = Pipeline::new(&cfg).unwrap();
        let silence = |watch: Option<&str>, author: Option<&str>, query: Option<&str>| {
            SilenceMatcher::new(&crate::store::Silence {
                id: 7,
                watch: watch.map(str::to_string),
                source_id: Some("hn".into()),
                author: author.map(str::to_string),
                query: query.map(str::to_string),
                comment: String::new(),
                created_by: String::new(),
                created_at: 0,
                ends_at: i64::MAX,
                expired_at: None,
            })
            .unwrap()
        };
        let judge = |silences: &[SilenceMatcher]| {
            let m = Mention {
                platform_id: "1".into(),
                text: "acme is broken and not working, terrible; globex too".into(),
                author: Author {
                    handle: Some("Dana".into()),
                    ..Default::default()
                },
                lang: Some("en".into()),
                ..Default::default()
            };
            let j = pipeline
                .evaluate_with(
                    cfg.source("hn").unwrap(),
                    m,
                    DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
                    true,
                    silences,
                )
                .unwrap();
            let mut sinks: Vec<String> = j.deliveries.iter().map(|d| d.sink_id.clone()).collect();
            sinks.sort();
            (sinks, j.silenced_by)
        };
        // Unsilenced: support through acme, archive (default) through rival.
        assert_eq!(judge(&[]), (vec!["archive".into(), "support".into()], None));
        // The acme watch silenced: only the rival watch's route is left.
        assert_eq!(
            judge(&[silence(Some("acme"), None, None)]),
            (vec!["archive".into()], Some(7))
        );
        // By author (any case) and query: everything held, still stored.
        assert_eq!(
            judge(&[silence(None, Some("dana"), None)]),
            (vec![], Some(7))
        );
        assert_eq!(
            judge(&[silence(None, None, Some("terrible"))]),
            (vec![], Some(7))
        );
        // Matchers that do not hold silence nothing.
        assert_eq!(
            judge(&[silence(None, Some("someone-else"), Some("terrible"))]).1,
            None
        );
    }

    #[test]
    fn a_route_during_an_interval_matches_only_then() {
        // On-call only at night (Berlin); by day critical mentions go on to support.
        let cfg_text = ROUTES.replace(
            "[[route]]\n        min_urgency = \"critical\"",
            "[[time_interval]]\n        name = \"night\"\n        times = [{ start = \"22:00\", end = \"07:00\" }]\n        location = \"Europe/Berlin\"\n        [[route]]\n        during = [\"night\"]\n        min_urgency = \"critical\"",
        );
        let cfg = Config::parse(&cfg_text).unwrap().config;
        let pipeline = Pipeline::new(&cfg).unwrap();
        let sinks_at = |t: &str| {
            let m = Mention {
                platform_id: "1".into(),
                text: "Acme is down, outage, we lost data, scam, lawyer, refund now!".into(),
                lang: Some("en".into()),
                ..Default::default()
            };
            let now = DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
            let j = pipeline
                .evaluate(cfg.source("hn").unwrap(), m, now, true)
                .unwrap();
            let mut sinks: Vec<String> = j.deliveries.into_iter().map(|d| d.sink_id).collect();
            sinks.sort();
            sinks
        };
        // 23:30 in Berlin (winter, UTC+1): on-call, and support after it (continue).
        assert_eq!(sinks_at("2026-11-23T22:30:00Z"), ["oncall", "support"]);
        // Noon: the night route does not match, and holds nothing for later.
        assert_eq!(sinks_at("2026-11-23T11:00:00Z"), ["support"]);
    }

    #[test]
    fn the_default_route_honours_its_level_and_no_default_sends_nothing() {
        let cfg_text = ROUTES.replace(
            "default = true\n        min_urgency = \"low\"",
            "default = true\n        min_urgency = \"high\"",
        );
        let cfg = Config::parse(&cfg_text).unwrap().config;
        let pipeline = Pipeline::new(&cfg).unwrap();
        let m = Mention {
            platform_id: "1".into(),
            text: "globex released a thing".into(),
            lang: Some("en".into()),
            ..Default::default()
        };
        let judged = pipeline
            .evaluate(
                cfg.source("hn").unwrap(),
                m,
                DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
                true,
            )
            .unwrap();
        assert!(judged.deliveries.is_empty(), "{:?}", judged.deliveries);
    }
}
