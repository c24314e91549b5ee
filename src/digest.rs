//! Digests: how people felt about the product over a period, and whether anything is brewing.
//!
//! [`compute`] reads the store: totals, the sentiment split and the hourly volume come from the
//! hourly aggregates (migration 0009, kept when old mentions are pruned), and are compared with
//! the period just before; the most negative and most urgent mentions, the most active authors
//! and the acknowledgements come from the mentions themselves. Renderers are pure functions of
//! a [`Digest`]: Markdown for people, JSON and CSV for reports.
//!
//! Mentions are counted by when earshot stored them, so a digest sent for a period does not
//! change when a platform delivers an old post late.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{MentionFilter, MentionOrder, MentionRow, Store, StoreError};

/// Mentions listed in each "most negative" and "most urgent" table.
pub const LISTED: usize = 5;
/// Sources and authors listed.
pub const TOP: usize = 5;

/// What to summarise: `[from, to)`, for these watches (all when empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub watches: Vec<String>,
}

/// Counts over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    pub mentions: i64,
    pub positive: i64,
    pub neutral: i64,
    pub negative: i64,
    /// The mean VADER compound score; `None` without mentions.
    pub average_compound: Option<f64>,
    /// High or critical.
    pub urgent: i64,
}

/// Mentions stored in one hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Hour {
    /// The hour's start.
    pub hour: DateTime<Utc>,
    pub mentions: i64,
    pub positive: i64,
    pub neutral: i64,
    pub negative: i64,
}

/// One mention in a digest's tables.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// The id `earshot mentions` and `earshot ack` use.
    pub id: i64,
    pub watches: Vec<String>,
    pub source_id: String,
    pub url: Option<String>,
    pub title: Option<String>,
    pub text: String,
    pub author: Option<String>,
    pub compound: f64,
    pub urgency: i64,
    pub level: String,
    pub seen_at: DateTime<Utc>,
}

/// A name and how many mentions it had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub name: String,
    pub mentions: i64,
}

/// How fast urgent mentions were acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Acks {
    pub urgent: i64,
    pub acknowledged: i64,
    /// The median time to acknowledge, in seconds.
    pub median_seconds: Option<i64>,
}

/// A digest of one period, with the period before it for comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The watches it covers; empty for all.
    pub watches: Vec<String>,
    pub current: Totals,
    /// The period of the same length just before.
    pub previous: Totals,
    /// One entry per hour of the period, empty hours included.
    pub hourly: Vec<Hour>,
    pub most_negative: Vec<Line>,
    pub most_urgent: Vec<Line>,
    pub top_sources: Vec<Count>,
    pub top_authors: Vec<Count>,
    /// Terms and two-word phrases that rose most against the period before.
    pub rising_terms: Vec<Term>,
    pub acks: Acks,
    /// Sources that failed during the period: what earshot could not see.
    pub gaps: Vec<Gap>,
    /// Spikes (`[spikes]`) that went on during the period.
    pub spikes: Vec<SpikeLine>,
}

/// A spike that went on during a digest's period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpikeLine {
    pub watch: String,
    pub started_at: DateTime<Utc>,
    /// `None` while it lasts.
    pub ended_at: Option<DateTime<Utc>>,
    /// What rose: `volume`, `negative` (the negative share), or both.
    pub kinds: Vec<String>,
    /// Most mentions in a window while it lasted, and the usual then.
    pub peak: i64,
    pub usual: f64,
    /// The window, in seconds.
    pub window_secs: i64,
}

/// A term (or two-word phrase) and in how many mentions it appeared, now and before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Term {
    pub term: String,
    pub mentions: i64,
    pub previous: i64,
}

/// A source that kept failing during the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub source_id: String,
    /// When it started failing (before the period, if it was failing already).
    pub from: DateTime<Utc>,
    /// When it worked again; `None` while it still fails.
    pub to: Option<DateTime<Utc>>,
    /// How much of the period it was blind for, in seconds.
    pub seconds: i64,
    pub failures: i64,
    pub last_error: String,
}

/// Reads a digest of `req` from the store.
pub fn compute(store: &Store, req: &Request) -> Result<Digest, StoreError> {
    // Mentions carry whole seconds: a period ending within a second includes that second.
    let ceil = |t: DateTime<Utc>| t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0);
    let (from, to) = (req.from.timestamp(), ceil(req.to));
    let len = (to - from).max(0);
    let rows = store.hour_aggs(&req.watches, floor_hour(from), to)?;
    // Aggregates are whole hours: the hour `from` falls in belongs to this period only.
    let prev = store.hour_aggs(&req.watches, floor_hour(from - len), floor_hour(from))?;

    let mut current = Totals::default();
    let mut sum = 0.0;
    let mut by_hour: BTreeMap<i64, Hour> = BTreeMap::new();
    let mut by_source: BTreeMap<String, i64> = BTreeMap::new();
    for (source, r) in &rows {
        add(&mut current, &mut sum, r);
        let h = by_hour.entry(r.hour).or_default();
        h.mentions += r.mentions;
        h.positive += r.positive;
        h.neutral += r.neutral;
        h.negative += r.negative;
        *by_source.entry(source.clone()).or_default() += r.mentions;
    }
    current.average_compound = mean(sum, current.mentions);
    let mut previous = Totals::default();
    let mut prev_sum = 0.0;
    for (_, r) in &prev {
        add(&mut previous, &mut prev_sum, r);
    }
    previous.average_compound = mean(prev_sum, previous.mentions);

    let hourly = (0..)
        .map(|i| floor_hour(from) + i * 3600)
        .take_while(|h| *h < to)
        .map(|h| {
            let mut x = by_hour.get(&h).copied().unwrap_or_default();
            x.hour = DateTime::from_timestamp(h, 0).unwrap_or_default();
            x
        })
        .collect();
    let mut top_sources: Vec<Count> = by_source
        .into_iter()
        .map(|(name, mentions)| Count { name, mentions })
        .collect();
    top_sources.sort_by(|a, b| b.mentions.cmp(&a.mentions).then(a.name.cmp(&b.name)));
    top_sources.truncate(TOP);

    let listed = |order: MentionOrder| -> Result<Vec<Line>, StoreError> {
        Ok(store
            .mentions(&MentionFilter {
                since: Some(from),
                until: Some(to),
                watches: req.watches.clone(),
                order,
                limit: LISTED,
                ..Default::default()
            })?
            .into_iter()
            .map(line)
            .collect())
    };
    let mut most_negative = listed(MentionOrder::MostNegative)?;
    // Only what is negative at all belongs under "most negative".
    most_negative.retain(|l| l.compound <= -0.05);
    let most_urgent = listed(MentionOrder::MostUrgent)?;
    let top_authors = store
        .top_authors(&req.watches, from, to, TOP)?
        .into_iter()
        .map(|(name, mentions)| Count { name, mentions })
        .collect();
    let texts = |from: i64, to: i64| -> Result<Vec<String>, StoreError> {
        Ok(term_texts(store.mentions(&MentionFilter {
            since: Some(from),
            until: Some(to),
            watches: req.watches.clone(),
            limit: TERM_SAMPLE,
            ..Default::default()
        })?))
    };
    let rising_terms = rising(&texts(from, to)?, &texts(from - len, from)?, RISING);
    let gaps = store
        .outages(from, to)?
        .into_iter()
        .map(|o| {
            let end = o.ended_at.unwrap_or(to).min(to);
            Gap {
                seconds: (end - o.started_at.max(from)).max(0),
                from: DateTime::from_timestamp(o.started_at, 0).unwrap_or_default(),
                to: o.ended_at.and_then(|t| DateTime::from_timestamp(t, 0)),
                source_id: o.source_id,
                failures: o.failures,
                last_error: o.last_error,
            }
        })
        .collect();
    let spikes = store
        .spikes(from, to)?
        .into_iter()
        .filter(|s| req.watches.is_empty() || req.watches.contains(&s.watch))
        .map(|s| SpikeLine {
            started_at: DateTime::from_timestamp(s.started_at, 0).unwrap_or_default(),
            ended_at: s.ended_at.and_then(|t| DateTime::from_timestamp(t, 0)),
            watch: s.watch,
            kinds: s.kinds,
            peak: s.peak,
            usual: s.usual,
            window_secs: s.window_secs,
        })
        .collect();
    let a = store.ack_stats(&req.watches, from, to)?;
    let acks = Acks {
        urgent: a.urgent,
        acknowledged: a.acknowledged,
        median_seconds: (!a.delays.is_empty()).then(|| a.delays[a.delays.len() / 2]),
    };
    Ok(Digest {
        from: req.from,
        to: req.to,
        watches: req.watches.clone(),
        current,
        previous,
        hourly,
        most_negative,
        most_urgent,
        top_sources,
        top_authors,
        rising_terms,
        acks,
        gaps,
        spikes,
    })
}

/// What rising terms are counted in: each mention's title and text (the title once, when the
/// text does not already start with it).
pub fn term_texts(rows: Vec<MentionRow>) -> Vec<String> {
    rows.into_iter()
        .map(|m| match m.title {
            Some(t) if !m.text.starts_with(&t) => format!("{t}. {}", m.text),
            _ => m.text,
        })
        .collect()
}

/// Mentions read per period for rising terms (the newest): enough for a signal, bounded work.
pub const TERM_SAMPLE: usize = 20_000;
/// Rising terms listed.
pub const RISING: usize = 10;

/// Words that say nothing about what rose.
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her", "was",
    "one", "our", "out", "has", "have", "his", "how", "its", "may", "new", "now", "old", "see",
    "two", "way", "who", "did", "get", "got", "let", "say", "she", "too", "use", "that", "with",
    "this", "they", "from", "what", "when", "your", "will", "just", "than", "then", "them", "been",
    "were", "into", "more", "some", "only", "also", "very", "about", "there", "their", "would",
    "could", "should", "which", "these", "those", "after", "again", "being", "here", "does",
    "dont", "don't", "it's", "i'm", "im", "because", "still", "even", "like", "really", "http",
    "https", "www", "com",
];

/// The words of a text worth counting: lowercase, letters and digits (an apostrophe inside a
/// word kept), at least three characters, not only digits, not a stopword.
fn words(text: &str) -> Vec<Option<String>> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.trim_matches('\'').to_lowercase();
            let keep = w.chars().count() >= 3
                && !w.chars().all(|c| c.is_ascii_digit())
                && !STOPWORDS.contains(&w.as_str());
            keep.then_some(w)
        })
        .collect()
}

/// In how many texts each term and two-word phrase (of adjacent kept words) appears.
fn term_counts(texts: &[String]) -> std::collections::HashMap<String, i64> {
    let mut counts = std::collections::HashMap::new();
    for t in texts {
        let ws = words(t);
        let mut seen = std::collections::HashSet::new();
        for (i, w) in ws.iter().enumerate() {
            let Some(w) = w else { continue };
            seen.insert(w.clone());
            if let Some(Some(next)) = ws.get(i + 1) {
                seen.insert(format!("{w} {next}"));
            }
        }
        for term in seen {
            *counts.entry(term).or_insert(0) += 1;
        }
    }
    counts
}

/// The terms that rose most from `before` to `now` (texts of two periods of the same length):
/// in at least 3 texts now and at least twice as many as before (counting one extra each, so
/// a term new this period must still be common). A phrase hides its words when it accounts for
/// (almost) all of their rise. Most risen first.
pub fn rising(now: &[String], before: &[String], n: usize) -> Vec<Term> {
    rising_against(now, before, 1.0, n)
}

/// [`rising`] against a period `1 / scale` times as long as now's: `before`'s counts are
/// scaled to now's length (a spike's hour against its week: `scale` 1/168).
pub fn rising_against(now: &[String], before: &[String], scale: f64, n: usize) -> Vec<Term> {
    let cur = term_counts(now);
    let prev = term_counts(before);
    let mut out: Vec<Term> = cur
        .iter()
        .map(|(term, &c)| Term {
            term: term.clone(),
            mentions: c,
            previous: (prev.get(term).copied().unwrap_or(0) as f64 * scale).round() as i64,
        })
        .filter(|t| t.mentions >= 3 && (t.mentions + 1) >= 2 * (t.previous + 1))
        .collect();
    let phrases: Vec<(String, i64)> = out
        .iter()
        .filter(|t| t.term.contains(' '))
        .map(|t| (t.term.clone(), t.mentions))
        .collect();
    out.retain(|t| {
        t.term.contains(' ')
            || !phrases.iter().any(|(p, c)| {
                p.split(' ').any(|w| w == t.term) && *c * 10 >= (t.mentions - t.previous) * 9
            })
    });
    let growth = |t: &Term| (t.mentions + 1) as f64 / (t.previous + 1) as f64;
    out.sort_by(|a, b| {
        growth(b)
            .total_cmp(&growth(a))
            .then(b.mentions.cmp(&a.mentions))
            .then(a.term.cmp(&b.term))
    });
    out.truncate(n);
    out
}

fn floor_hour(t: i64) -> i64 {
    t - t.rem_euclid(3600)
}

fn add(t: &mut Totals, sum: &mut f64, r: &crate::store::HourAgg) {
    t.mentions += r.mentions;
    t.positive += r.positive;
    t.neutral += r.neutral;
    t.negative += r.negative;
    t.urgent += r.urgent;
    *sum += r.compound_sum;
}

fn mean(sum: f64, n: i64) -> Option<f64> {
    (n > 0).then(|| sum / n as f64)
}

fn line(m: MentionRow) -> Line {
    Line {
        id: m.id,
        watches: m.watches,
        source_id: m.source_id,
        url: m.url,
        title: m.title,
        text: m.text,
        author: m.author,
        compound: m.compound,
        urgency: m.urgency,
        level: m.level,
        seen_at: DateTime::from_timestamp(m.seen_at, 0).unwrap_or_default(),
    }
}

/// Eight block characters, one per value, scaled to the largest: `▁▂▃█`. All zero is all `▁`.
pub fn sparkline(values: &[i64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0).max(0);
    values
        .iter()
        .map(|v| {
            if max == 0 || *v <= 0 {
                BARS[0]
            } else {
                BARS[((*v * 7 + max / 2) / max).clamp(0, 7) as usize]
            }
        })
        .collect()
}

/// "+12 (+10%)", "-3 (-20%)", "+5 (new)" or "±0": a count against the previous period's.
pub fn change(now: i64, before: i64) -> String {
    let d = now - before;
    let sign = if d > 0 {
        "+"
    } else if d < 0 {
        "-"
    } else {
        return "±0".into();
    };
    if before == 0 {
        return format!("{sign}{} (new)", d.abs());
    }
    let pct = (d as f64 / before as f64 * 100.0).round().abs();
    format!("{sign}{} ({sign}{pct}%)", d.abs())
}

/// "12m", "3h05m", "2d4h": a delay for people.
pub fn human_secs(s: i64) -> String {
    let s = s.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Escapes user text for Markdown (one line, cut to `max` characters): every character that
/// could start markup gets a backslash, so a title cannot become a link, a heading or a table.
pub fn md_text(s: &str, max: usize) -> String {
    let one = crate::sink::text::one_line(s);
    let mut out = String::with_capacity(one.len());
    for (i, c) in one.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if "\\`*_{}[]()<>#+-.!|~:".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// "25%": `n` of `of`, rounded; "0%" of nothing.
pub fn pct(n: i64, of: i64) -> String {
    if of == 0 {
        "0%".into()
    } else {
        format!("{}%", (n as f64 / of as f64 * 100.0).round())
    }
}

/// "acme, rival", or "all watches" for none.
pub fn watches_label(watches: &[String]) -> String {
    if watches.is_empty() {
        "all watches".into()
    } else {
        watches.join(", ")
    }
}

/// "2026-11-21 08:00 UTC".
pub fn when(t: DateTime<Utc>) -> String {
    crate::duration::utc_minute(t.timestamp())
}

/// The digest as Markdown.
pub fn render_markdown(d: &Digest) -> String {
    let mut o = String::new();
    let c = &d.current;
    let p = &d.previous;
    let _ = writeln!(
        o,
        "# earshot digest: {} · {} to {}\n",
        md_text(&watches_label(&d.watches), 200),
        when(d.from),
        when(d.to)
    );
    let _ = writeln!(
        o,
        "**{} mentions** ({} against the period before)\n",
        c.mentions,
        change(c.mentions, p.mentions)
    );
    if !d.gaps.is_empty() {
        let _ = writeln!(
            o,
            "**Coverage gaps:** {} source outage{} during this period: fewer mentions may mean earshot could not see them (see below).\n",
            d.gaps.len(),
            if d.gaps.len() == 1 { "" } else { "s" }
        );
    }
    if !d.spikes.is_empty() {
        let _ = writeln!(o, "**Spikes:**\n");
        for s in &d.spikes {
            let _ = writeln!(o, "- {}", md_text(&spike_line(s), 400));
        }
        o.push('\n');
    }
    let avg = |a: Option<f64>| a.map_or("none".to_string(), |v| format!("{v:+.2}"));
    let avg_change = match (c.average_compound, p.average_compound) {
        (Some(a), Some(b)) => format!(" ({:+.2} against the period before)", a - b),
        _ => String::new(),
    };
    let _ = writeln!(
        o,
        "Sentiment: {}; average compound {}{avg_change}\n",
        split(c, p, ", "),
        avg(c.average_compound),
    );
    // By hour up to two days, by day beyond (a week of hours is too long a line).
    let (unit, format, points) = if d.hourly.len() <= 48 {
        let p: Vec<(DateTime<Utc>, i64)> = d.hourly.iter().map(|h| (h.hour, h.mentions)).collect();
        ("hour", "%Y-%m-%d %H:00 UTC", p)
    } else {
        let mut days: Vec<(DateTime<Utc>, i64)> = Vec::new();
        for h in &d.hourly {
            let day = h.hour - chrono::Duration::seconds(h.hour.timestamp().rem_euclid(86_400));
            match days.last_mut() {
                Some((t, n)) if *t == day => *n += h.mentions,
                _ => days.push((day, h.mentions)),
            }
        }
        ("day", "%Y-%m-%d", days)
    };
    let counts: Vec<i64> = points.iter().map(|p| p.1).collect();
    if let Some(peak) = points.iter().max_by_key(|p| (p.1, -p.0.timestamp())) {
        let _ = writeln!(
            o,
            "Volume by {unit}: `{}` (peak {} at {})\n",
            sparkline(&counts),
            peak.1,
            peak.0.format(format)
        );
    }
    for (title, lines) in [
        ("Most negative", &d.most_negative),
        ("Most urgent", &d.most_urgent),
    ] {
        let _ = writeln!(o, "## {title}\n");
        if lines.is_empty() {
            let _ = writeln!(o, "None.\n");
            continue;
        }
        for (i, l) in lines.iter().enumerate() {
            let what = md_text(
                l.title
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .unwrap_or(&l.text),
                120,
            );
            let what = match l.url.as_deref().and_then(crate::sink::text::safe_url) {
                Some(u) => format!("[{what}](<{u}>)"),
                None => what,
            };
            let _ = writeln!(
                o,
                "{}. {} {}/100 · {:+.2} · {} · {what} (#{})",
                i + 1,
                l.level,
                l.urgency,
                l.compound,
                md_text(&l.source_id, 60),
                l.id
            );
        }
        o.push('\n');
    }
    for (title, rows) in [
        ("Top sources", &d.top_sources),
        ("Most active authors", &d.top_authors),
    ] {
        let _ = writeln!(o, "## {title}\n");
        if rows.is_empty() {
            let _ = writeln!(o, "None.\n");
            continue;
        }
        let _ = writeln!(o, "| name | mentions |\n|---|---|");
        for r in rows {
            let _ = writeln!(o, "| {} | {} |", md_text(&r.name, 80), r.mentions);
        }
        o.push('\n');
    }
    let _ = writeln!(o, "## Rising terms\n");
    if d.rising_terms.is_empty() {
        let _ = writeln!(o, "None.\n");
    } else {
        let _ = writeln!(o, "| term | mentions | before |\n|---|---|---|");
        for t in &d.rising_terms {
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                md_text(&t.term, 80),
                t.mentions,
                t.previous
            );
        }
        o.push('\n');
    }
    let _ = writeln!(o, "## Coverage gaps\n");
    if d.gaps.is_empty() {
        let _ = writeln!(o, "None: every source worked throughout.\n");
    } else {
        for g in &d.gaps {
            let _ = writeln!(o, "- {}\n", md_text(&gap_line(g), 400));
        }
    }
    let _ = writeln!(o, "## Acknowledgements\n\n{}", acks_line(&d.acks));
    o
}

/// "12 positive (31%), 20 neutral (51%), 7 negative (18%)", joined by `sep`.
/// With the change of each share in points against `p`, the period before, when both had
/// mentions: "7 negative (18%, +4 pts)".
fn split(c: &Totals, p: &Totals, sep: &str) -> String {
    let share = |n: i64, of: i64| (n as f64 * 100.0 / of as f64).round() as i64;
    [
        (c.positive, p.positive, "positive"),
        (c.neutral, p.neutral, "neutral"),
        (c.negative, p.negative, "negative"),
    ]
    .iter()
    .map(|(n, before, what)| {
        let delta = if c.mentions > 0 && p.mentions > 0 {
            format!(
                ", {:+} pts",
                share(*n, c.mentions) - share(*before, p.mentions)
            )
        } else {
            String::new()
        };
        format!("{n} {what} ({}{delta})", pct(*n, c.mentions))
    })
    .collect::<Vec<_>>()
    .join(sep)
}

/// "5 urgent mentions, 4 acknowledged, median time to acknowledge 12m".
pub fn acks_line(a: &Acks) -> String {
    format!(
        "{} urgent mention{}, {} acknowledged{}",
        a.urgent,
        if a.urgent == 1 { "" } else { "s" },
        a.acknowledged,
        a.median_seconds
            .map(|s| format!(", median time to acknowledge {}", human_secs(s)))
            .unwrap_or_default()
    )
}

/// "reddit failed for 3h10m (since 2026-11-21 04:00 UTC, 12 failed polls): HTTP 503".
pub fn gap_line(g: &Gap) -> String {
    format!(
        "{} was blind for {} ({} failed poll{}, from {}{}): {}",
        g.source_id,
        human_secs(g.seconds),
        g.failures,
        if g.failures == 1 { "" } else { "s" },
        when(g.from),
        g.to.map(|t| format!(" to {}", when(t)))
            .unwrap_or_else(|| ", still failing".into()),
        crate::sink::text::one_line(&g.last_error)
    )
}

/// "acme: from 2026-11-21 14:10 UTC for 1h40m, volume and negative share; at its peak 64
/// mentions an hour (usually 7.5)".
pub fn spike_line(s: &SpikeLine) -> String {
    let lasted = match s.ended_at {
        Some(end) => format!("for {}", human_secs((end - s.started_at).num_seconds())),
        None => "still going on".into(),
    };
    let what: Vec<&str> = s
        .kinds
        .iter()
        .map(|k| {
            if k == "negative" {
                "negative share"
            } else {
                k.as_str()
            }
        })
        .collect();
    let per = match s.window_secs / 3600 {
        1 => "an hour".to_string(),
        h => format!("in {h} hours"),
    };
    format!(
        "{}: from {} {lasted}, {}; at its peak {} mentions {per} (usually {:.1})",
        s.watch,
        when(s.started_at),
        what.join(" and "),
        s.peak,
        s.usual
    )
}

/// The digest as plain text for chat: each target escapes it and cuts it to its limits, so the
/// most important lines come first.
pub fn render_text(d: &Digest) -> String {
    let mut o = String::new();
    let c = &d.current;
    let p = &d.previous;
    let _ = writeln!(
        o,
        "{} mentions ({} against the period before)",
        c.mentions,
        change(c.mentions, p.mentions)
    );
    let avg = c
        .average_compound
        .map(|a| {
            let delta = p
                .average_compound
                .map(|b| format!(" ({:+.2})", a - b))
                .unwrap_or_default();
            format!("; average {a:+.2}{delta}")
        })
        .unwrap_or_default();
    let _ = writeln!(o, "Sentiment: {}{avg}", split(c, p, " · "));
    let counts: Vec<i64> = d.hourly.iter().map(|h| h.mentions).collect();
    if d.hourly.len() <= 48 && !counts.is_empty() {
        let _ = writeln!(o, "By hour: {}", sparkline(&counts));
    }
    // A quiet period is not a good one when earshot could not see: this goes before the tables.
    if !d.gaps.is_empty() {
        let _ = writeln!(o, "\nCoverage gaps:");
        for g in &d.gaps {
            let _ = writeln!(o, "{}", gap_line(g));
        }
    }
    if !d.spikes.is_empty() {
        let _ = writeln!(o, "\nSpikes:");
        for s in &d.spikes {
            let _ = writeln!(o, "{}", spike_line(s));
        }
    }
    for (title, lines, urgent) in [
        ("Most negative", &d.most_negative, false),
        ("Most urgent", &d.most_urgent, true),
    ] {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(o, "\n{title}:");
        for l in lines.iter().take(3) {
            let what: String = crate::sink::text::one_line(
                l.title
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .unwrap_or(&l.text),
            )
            .chars()
            .take(100)
            .collect();
            let score = if urgent {
                format!("{} {}/100", l.level, l.urgency)
            } else {
                format!("{:+.2}", l.compound)
            };
            let link = l
                .url
                .as_deref()
                .map(|u| format!(" {u}"))
                .unwrap_or_default();
            let _ = writeln!(o, "{score} · {}: {what}{link}", l.source_id);
        }
    }
    if !d.rising_terms.is_empty() {
        let terms: Vec<String> = d
            .rising_terms
            .iter()
            .take(5)
            .map(|t| format!("{} ({} from {})", t.term, t.mentions, t.previous))
            .collect();
        let _ = writeln!(o, "\nRising: {}", terms.join(", "));
    }
    let list = |rows: &[Count]| -> String {
        rows.iter()
            .map(|r| format!("{} {}", r.name, r.mentions))
            .collect::<Vec<_>>()
            .join(", ")
    };
    o.push('\n');
    if !d.top_sources.is_empty() {
        let _ = writeln!(o, "Top sources: {}", list(&d.top_sources));
    }
    if !d.top_authors.is_empty() {
        let _ = writeln!(o, "Most active authors: {}", list(&d.top_authors));
    }
    if d.acks.urgent > 0 {
        let _ = writeln!(
            o,
            "Acknowledged: {} of {} urgent{}",
            d.acks.acknowledged,
            d.acks.urgent,
            d.acks
                .median_seconds
                .map(|s| format!(", median {}", human_secs(s)))
                .unwrap_or_default()
        );
    }
    o.trim_end().to_string()
}

/// The digest as one JSON document.
pub fn render_json(d: &Digest) -> String {
    serde_json::to_string_pretty(d).unwrap_or_else(|_| "{}".into()) + "\n"
}

/// The digest's hourly table as CSV: one row per hour, with the average compound of the hour
/// left out (the aggregates keep sums, and the JSON has the period's mean).
pub fn render_csv(d: &Digest) -> String {
    let mut o = String::from("hour,mentions,positive,neutral,negative\n");
    for h in &d.hourly {
        let _ = writeln!(
            o,
            "{},{},{},{},{}",
            h.hour.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            h.mentions,
            h.positive,
            h.neutral,
            h.negative
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_peak() {
        assert_eq!(sparkline(&[0, 1, 2, 4, 8]), "▁▂▃▅█");
        assert_eq!(sparkline(&[0, 0]), "▁▁");
        assert_eq!(sparkline(&[]), "");
        assert_eq!(sparkline(&[3, 3]), "██");
    }

    #[test]
    fn changes_and_delays_read_well() {
        assert_eq!(change(110, 100), "+10 (+10%)");
        assert_eq!(change(80, 100), "-20 (-20%)");
        assert_eq!(change(5, 0), "+5 (new)");
        assert_eq!(change(7, 7), "±0");
        assert_eq!(human_secs(42), "42s");
        assert_eq!(human_secs(720), "12m");
        assert_eq!(human_secs(3900), "1h05m");
        assert_eq!(human_secs(2 * 86_400 + 4 * 3600), "2d4h");
    }

    #[test]
    fn rising_terms_and_phrases() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let before = t(&[
            "acme login is slow",
            "acme pricing page",
            "acme login works",
            "the acme app",
        ]);
        let now = t(&[
            "acme invoice duplicate charge",
            "Duplicate charge on my acme invoice!",
            "another duplicate charge from acme",
            "acme login is slow",
            "duplicate charge again, acme",
            "acme acme acme",
        ]);
        let got = rising(&now, &before, 10);
        let terms: Vec<&str> = got.iter().map(|t| t.term.as_str()).collect();
        // The phrase rose, and carries its words' rise; "acme" is as common as before.
        // Its words are hidden by it, "acme" is as common as before, and "invoice" (in two)
        // is too rare.
        assert_eq!(terms, ["duplicate charge"], "{got:?}");
        assert_eq!((got[0].mentions, got[0].previous), (4, 0));
        // Fewer than three mentions never rise; nothing before and nothing now gives nothing.
        assert!(rising(&t(&["rare word", "rare word"]), &[], 10).is_empty());
        assert!(rising(&[], &[], 10).is_empty());
    }

    #[test]
    fn markdown_text_cannot_make_markup() {
        assert_eq!(
            md_text("[click](https://evil) **now** # x | y", 100),
            "\\[click\\]\\(https\\://evil\\) \\*\\*now\\*\\* \\# x \\| y"
        );
        assert_eq!(md_text("line\nbreak", 100), "line break");
        assert_eq!(md_text("abcdef", 3), "abc…");
    }
}
