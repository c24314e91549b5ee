//! The pure middle of the pipeline: given a fetched mention, which watches match it, how it
//! scores, and which deliveries it needs. No I/O: the runtime fetches before and stores after.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use earshot_connectors::Mention;
use sha2::{Digest, Sha256};

use crate::alert::Alert;
use crate::config::{Config, RouteConfig, SourceConfig};
use crate::query::{DocFields, Document, Query};
use crate::sentiment::{Sentiment, polarity_scores};
use crate::store::{NewDelivery, NewMention, Scores};
use crate::urgency::{self, Context, Rules};

/// A watch with its query parsed.
#[derive(Debug, Clone)]
pub struct Watch {
    pub name: String,
    pub query: Query,
    /// Source ids it reads; `None` for all.
    pub sources: Option<HashSet<String>>,
}

/// Everything needed to judge mentions, built once per config.
#[derive(Debug, Clone)]
pub struct Pipeline {
    watches: Vec<Watch>,
    routes: Vec<RouteConfig>,
    rules: Rules,
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
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let names: Vec<&str> = cfg.watches.iter().map(|w| w.name.as_str()).collect();
        Ok(Pipeline {
            watches,
            routes: cfg.routes.clone(),
            rules: Rules::new(&cfg.scoring, &names),
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
        let title = mention.title.as_deref().unwrap_or("");
        let lang = mention
            .lang
            .clone()
            .or_else(|| crate::lang::detect(&format!("{title}\n{}", mention.text)));
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
        let scores = score(&mention, &self.rules, Some(now));
        let mut deliveries: Vec<NewDelivery> = Vec::new();
        if alert {
            for w in &watches {
                for r in self
                    .routes
                    .iter()
                    .filter(|r| r.watch.as_ref().is_none_or(|rw| *rw == w.name))
                {
                    if scores.level < r.min_urgency {
                        continue;
                    }
                    for sink in &r.sinks {
                        // One message per (mention, sink), whichever watch and route got there first.
                        if deliveries.iter().any(|d| &d.sink_id == sink) {
                            continue;
                        }
                        deliveries.push(NewDelivery {
                            sink_id: sink.clone(),
                            watch: w.name.clone(),
                            alert: make_alert(source, &w.name, sink, &mention, &scores),
                        });
                    }
                }
            }
        }
        Some(NewMention {
            watches: watches.iter().map(|w| w.name.clone()).collect(),
            mention,
            lang,
            scores,
            deliveries,
        })
    }
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
    }
}
