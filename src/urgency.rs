//! Urgency 0-100 with the reasons behind it: how soon somebody should answer a mention.
//!
//! A pure function of the mention, its sentiment and the rules ([`Rules`]), so `earshot score`
//! and the daemon agree, and every rule is testable with a table. Points add up, then the total
//! is clamped to 0-100 and mapped to a [`Level`] by configurable thresholds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use earshot_connectors::Engagement;
use serde::{Deserialize, Serialize};

use crate::config::{LevelThresholds, ScoringConfig};
use crate::sentiment::Sentiment;

/// Urgency levels, in order. Thresholds are configurable (`[scoring.levels]`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Low,
    Normal,
    High,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Normal => "normal",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// Parses `low`, `normal`, `high`, `critical` (any case).
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Some(Level::Low),
            "normal" => Some(Level::Normal),
            "high" => Some(Level::High),
            "critical" => Some(Level::Critical),
            _ => None,
        }
    }
}

/// Complaint and urgent phrases with the points each adds. Whole words, case-insensitive.
/// Chosen for what a support team must answer fast: money, outages, security, legal, churn.
pub const DEFAULT_PHRASES: &[(&str, u8)] = &[
    ("data breach", 45),
    ("hacked", 40),
    ("lawyer", 40),
    ("lawsuit", 40),
    ("security hole", 35),
    ("leaked", 30),
    ("charged twice", 35),
    ("double charged", 35),
    ("scam", 30),
    ("fraud", 30),
    ("outage", 30),
    ("is down", 30),
    ("went down", 25),
    ("not working", 25),
    ("doesn't work", 25),
    ("does not work", 25),
    ("stopped working", 25),
    ("lost my data", 35),
    ("data loss", 35),
    ("refund", 25),
    ("chargeback", 30),
    ("cancel", 20),
    ("cancelled", 20),
    ("canceling", 20),
    ("cancelling", 20),
    ("unsubscribe", 15),
    ("broken", 20),
    ("crash", 15),
    ("crashes", 15),
    ("bug", 10),
    ("error", 10),
    ("can't log in", 25),
    ("cannot log in", 25),
    ("locked out", 25),
    ("no response", 20),
    ("no reply", 20),
    ("still waiting", 20),
    ("worst", 15),
    ("terrible", 10),
    ("switching to", 20),
    ("avoid", 10),
];

/// Points for each cue other than phrases. Kept together so that the scale is easy to review.
mod points {
    /// Strongest negative sentiment (compound -1) is worth this much; scaled linearly.
    pub const NEGATIVE_MAX: f64 = 40.0;
    /// A question that names the brand: somebody is waiting for an answer.
    pub const QUESTION: i32 = 15;
    /// Most that engagement (replies, likes, score) can add.
    pub const ENGAGEMENT_MAX: i32 = 15;
    /// Most that the author's reach can add.
    pub const REACH_MAX: i32 = 15;
    /// A review's star rating: 1 star is a customer telling the store's readers to stay away.
    pub const ONE_STAR: i32 = 30;
    pub const TWO_STARS: i32 = 20;
    pub const THREE_STARS: i32 = 5;
    /// Posted within the last hour: still time to be first to answer.
    pub const FRESH: i32 = 5;
    /// Older than a day: the moment has mostly passed.
    pub const STALE: i32 = -15;
    /// Phrases together add at most this much, so a rant listing every keyword is not "more critical".
    pub const PHRASES_MAX: i32 = 60;
}

/// The rules in force: built once from `[scoring]`.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Lowercased phrase word lists with their points, longest first.
    phrases: Vec<(Vec<String>, String, u8)>,
    /// Lowercased brand names (single words or phrases as word lists).
    brands: Vec<Vec<String>>,
    thresholds: LevelThresholds,
}

impl Default for Rules {
    fn default() -> Self {
        Rules::new(&ScoringConfig::default(), &[])
    }
}

impl Rules {
    /// Rules from the config; `extra_brands` are added to `scoring.brands` (the watches' names).
    pub fn new(cfg: &ScoringConfig, extra_brands: &[&str]) -> Rules {
        let mut map: BTreeMap<String, u8> = match &cfg.phrases {
            Some(p) => p.iter().map(|(k, v)| (k.to_lowercase(), *v)).collect(),
            None => DEFAULT_PHRASES
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        };
        for (k, v) in &cfg.extra_phrases {
            map.insert(k.to_lowercase(), *v);
        }
        let mut phrases: Vec<_> = map
            .into_iter()
            .map(|(k, v)| (words(&k), k, v))
            .filter(|(w, _, _)| !w.is_empty())
            .collect();
        phrases.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let brands = cfg
            .brands
            .iter()
            .map(String::as_str)
            .chain(extra_brands.iter().copied())
            .map(words)
            .filter(|w| !w.is_empty())
            .collect();
        Rules {
            phrases,
            brands,
            thresholds: cfg.levels,
        }
    }

    /// The level for an urgency score.
    pub fn level(&self, urgency: u8) -> Level {
        let t = self.thresholds;
        if urgency >= t.critical {
            Level::Critical
        } else if urgency >= t.high {
            Level::High
        } else if urgency >= t.normal {
            Level::Normal
        } else {
            Level::Low
        }
    }
}

/// What urgency looks at besides the text.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    pub engagement: Option<&'a Engagement>,
    pub reach: Option<u64>,
    /// A review's stars, 1 to 5 (App Store).
    pub rating: Option<u8>,
    pub created_at: Option<DateTime<Utc>>,
    pub now: Option<DateTime<Utc>>,
}

/// An urgency score with its level and reasons, most important first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Urgency {
    pub score: u8,
    pub level: Level,
    pub reasons: Vec<String>,
}

/// Scores how urgent a mention is.
pub fn urgency(text: &str, sentiment: &Sentiment, ctx: &Context<'_>, rules: &Rules) -> Urgency {
    let mut cues: Vec<(i32, String)> = Vec::new();
    if sentiment.compound <= -0.05 {
        let p = (-sentiment.compound * points::NEGATIVE_MAX).round() as i32;
        cues.push((p.max(1), format!("negative ({:.2})", sentiment.compound)));
    }

    let toks = words(text);
    let mut used = vec![false; toks.len()];
    let mut phrase_points = 0;
    for (pw, label, p) in &rules.phrases {
        if let Some(at) = find_words(&toks, pw, &used) {
            for u in &mut used[at..at + pw.len()] {
                *u = true;
            }
            // Past the cap a phrase still shows as a reason, worth nothing more.
            // A single phrase weighted above the cap still counts in full.
            let cap = points::PHRASES_MAX.max(i32::from(*p));
            let add = i32::from(*p).min(cap - phrase_points).max(0);
            phrase_points += add;
            cues.push((add, format!("'{label}'")));
        }
    }

    if text.contains('?')
        && rules
            .brands
            .iter()
            .any(|b| find_words(&toks, b, &[]).is_some())
    {
        cues.push((points::QUESTION, "question to the brand".into()));
    }

    if let Some(e) = ctx.engagement {
        let (n, what) = [
            (e.replies.unwrap_or(0), "replies"),
            (e.likes.unwrap_or(0), "likes"),
            (e.reposts.unwrap_or(0), "reposts"),
            (e.score.unwrap_or(0).max(0) as u64, "points"),
        ]
        .into_iter()
        .max_by_key(|(n, _)| *n)
        .unwrap_or((0, ""));
        let p = log_points(n, 10, points::ENGAGEMENT_MAX);
        if p > 0 {
            cues.push((p, format!("{} {what}", compact(n))));
        }
    }
    if let Some(r) = ctx.reach {
        let p = log_points(r, 1_000, points::REACH_MAX);
        if p > 0 {
            cues.push((p, format!("{} followers", compact(r))));
        }
    }
    let stars = match ctx.rating {
        Some(1) => Some(points::ONE_STAR),
        Some(2) => Some(points::TWO_STARS),
        Some(3) => Some(points::THREE_STARS),
        _ => None,
    };
    if let (Some(p), Some(r)) = (stars, ctx.rating) {
        cues.push((p, format!("{r}-star review")));
    }
    if let (Some(at), Some(now)) = (ctx.created_at, ctx.now) {
        let age = now - at;
        if age <= chrono::Duration::hours(1) && age >= chrono::Duration::minutes(-5) {
            cues.push((points::FRESH, "posted in the last hour".into()));
        } else if age > chrono::Duration::days(1) {
            cues.push((points::STALE, format!("posted {} days ago", age.num_days())));
        }
    }

    let total: i32 = cues.iter().map(|(p, _)| *p).sum();
    let score = total.clamp(0, 100) as u8;
    // Most important first; a tie keeps the order found (sentiment, then phrases, ...).
    cues.sort_by_key(|c| std::cmp::Reverse(c.0));
    Urgency {
        score,
        level: rules.level(score),
        reasons: cues.into_iter().map(|(_, r)| r).collect(),
    }
}

/// Points on a log scale: `base` earns a third of `max`, ten times more two thirds, a hundred times all.
fn log_points(n: u64, base: u64, max: i32) -> i32 {
    if n < base {
        return 0;
    }
    let steps = ((n as f64 / base as f64).log10().floor() as i32 + 1).min(3);
    max * steps / 3
}

fn compact(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{}k", n / 1_000),
        _ => format!("{}M", n / 1_000_000),
    }
}

/// Lowercase words; apostrophes stay inside words so "doesn't" is one word.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '\u{2019}'))
        .map(|w| {
            w.trim_matches(|c| c == '\'' || c == '\u{2019}')
                .replace('\u{2019}', "'")
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Position of `needle` as consecutive words in `hay`, skipping words already `used`.
fn find_words(hay: &[String], needle: &[String], used: &[bool]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).find(|&i| {
        hay[i..i + needle.len()] == *needle
            && !used
                .get(i..i + needle.len())
                .is_some_and(|u| u.iter().any(|x| *x))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(compound: f64) -> Sentiment {
        Sentiment {
            compound,
            ..Default::default()
        }
    }

    #[test]
    fn table() {
        let rules = Rules::new(
            &ScoringConfig {
                brands: vec!["Acme".into()],
                ..Default::default()
            },
            &[],
        );
        // (text, compound, least score, most score, level, reason fragments)
        type Case<'a> = (&'a str, f64, u8, u8, Level, &'a [&'a str]);
        let cases: &[Case] = &[
            (
                "Love the new dashboard, great work",
                0.8,
                0,
                0,
                Level::Low,
                &[],
            ),
            (
                "Acme is down again and I was charged twice",
                -0.4,
                75,
                100,
                Level::Critical,
                &["'charged twice'", "'is down'", "negative (-0.40)"],
            ),
            (
                "Does Acme support SSO?",
                0.0,
                15,
                15,
                Level::Low,
                &["question to the brand"],
            ),
            (
                "Does anyone know a good editor?",
                0.0,
                0,
                0,
                Level::Low,
                &[],
            ),
            (
                "I want a refund",
                -0.1,
                25,
                35,
                Level::Normal,
                &["'refund'"],
            ),
            ("the trust issue", 0.0, 0, 0, Level::Low, &[]),
            (
                "It DOESN'T WORK",
                0.0,
                25,
                25,
                Level::Normal,
                &["'doesn't work'"],
            ),
            (
                "scam scam scam hacked data breach lawyer fraud",
                -0.9,
                90,
                100,
                Level::Critical,
                &["'data breach'"],
            ),
        ];
        for (text, c, lo, hi, level, reasons) in cases {
            let u = urgency(text, &s(*c), &Context::default(), &rules);
            assert!(
                (*lo..=*hi).contains(&u.score),
                "{text}: score {} not in {lo}..={hi} ({:?})",
                u.score,
                u.reasons
            );
            assert_eq!(u.level, *level, "{text}: {u:?}");
            for r in *reasons {
                assert!(
                    u.reasons.iter().any(|x| x == r),
                    "{text}: missing reason {r} in {:?}",
                    u.reasons
                );
            }
        }
    }

    #[test]
    fn phrases_are_whole_words_and_capped() {
        let rules = Rules::default();
        let u = urgency("discancel unbroken", &s(0.0), &Context::default(), &rules);
        assert_eq!(u.score, 0, "{u:?}");
        let all: String = DEFAULT_PHRASES
            .iter()
            .map(|(p, _)| *p)
            .collect::<Vec<_>>()
            .join(". ");
        let u = urgency(&all, &s(0.0), &Context::default(), &rules);
        assert_eq!(u.score, 60);
    }

    #[test]
    fn engagement_reach_and_recency() {
        let rules = Rules::default();
        let now = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let e = Engagement {
            replies: Some(40),
            likes: Some(3),
            ..Default::default()
        };
        let ctx = Context {
            engagement: Some(&e),
            reach: Some(12_000),
            rating: None,
            created_at: Some(now),
            now: Some(now),
        };
        let u = urgency("hello", &s(0.0), &ctx, &rules);
        assert_eq!(u.score, 5 + 10 + 5, "{u:?}");
        assert_eq!(
            u.reasons,
            vec!["12k followers", "40 replies", "posted in the last hour"]
        );
        let viral = Engagement {
            replies: Some(4_000),
            ..Default::default()
        };
        let ctx = Context {
            engagement: Some(&viral),
            reach: Some(2_000_000),
            ..Default::default()
        };
        assert_eq!(urgency("hello", &s(0.0), &ctx, &rules).score, 30);
        let old = Context {
            created_at: Some(now - chrono::Duration::days(3)),
            now: Some(now),
            ..Default::default()
        };
        let u = urgency("refund", &s(0.0), &old, &rules);
        assert_eq!(u.score, 10);
        assert!(u.reasons.contains(&"posted 3 days ago".to_string()));
    }

    #[test]
    fn low_star_ratings_raise_urgency() {
        let rules = Rules::default();
        let neutral = s(0.0);
        let score = |rating| {
            let ctx = Context {
                rating,
                ..Default::default()
            };
            urgency("the app", &neutral, &ctx, &rules)
        };
        assert_eq!(score(None).score, 0);
        assert_eq!(score(Some(5)).score, 0);
        assert_eq!(score(Some(3)).score, 5);
        assert_eq!(score(Some(2)).score, 20);
        let one = score(Some(1));
        assert_eq!(one.score, 30);
        assert_eq!(one.reasons, vec!["1-star review".to_string()]);
    }

    #[test]
    fn configured_phrases_replace_or_extend_defaults() {
        let mut phrases = BTreeMap::new();
        phrases.insert("on fire".to_string(), 50);
        let cfg = ScoringConfig {
            phrases: Some(phrases),
            ..Default::default()
        };
        let rules = Rules::new(&cfg, &[]);
        assert_eq!(
            urgency("refund please", &s(0.0), &Context::default(), &rules).score,
            0
        );
        assert_eq!(
            urgency(
                "the server is ON FIRE",
                &s(0.0),
                &Context::default(),
                &rules
            )
            .score,
            50
        );
        let mut extra = BTreeMap::new();
        extra.insert("on fire".to_string(), 50);
        let rules = Rules::new(
            &ScoringConfig {
                extra_phrases: extra,
                ..Default::default()
            },
            &[],
        );
        // Both count, within the cap on phrases.
        let u = urgency("refund, on fire", &s(0.0), &Context::default(), &rules);
        assert_eq!(u.score, 60);
        assert_eq!(u.reasons, vec!["'on fire'", "'refund'"]);
    }

    #[test]
    fn levels_follow_thresholds() {
        let cfg = ScoringConfig {
            levels: LevelThresholds {
                normal: 10,
                high: 20,
                critical: 30,
            },
            ..Default::default()
        };
        let r = Rules::new(&cfg, &[]);
        assert_eq!(
            [r.level(9), r.level(10), r.level(20), r.level(30)],
            [Level::Low, Level::Normal, Level::High, Level::Critical]
        );
    }
}
