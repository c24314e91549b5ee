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
    pub acks: Acks,
}

/// Reads a digest of `req` from the store.
pub fn compute(store: &Store, req: &Request) -> Result<Digest, StoreError> {
    // Mentions carry whole seconds: a period ending within a second includes that second.
    let ceil = |t: DateTime<Utc>| t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0);
    let (from, to) = (req.from.timestamp(), ceil(req.to));
    let len = (to - from).max(0);
    let rows = store.hour_aggs(&req.watches, floor_hour(from), to)?;
    let prev = store.hour_aggs(&req.watches, floor_hour(from - len), from)?;

    let mut current = Totals::default();
    let mut sum = 0.0;
    let mut by_hour: BTreeMap<i64, Hour> = BTreeMap::new();
    let mut by_source: BTreeMap<String, i64> = BTreeMap::new();
    for (source, r) in rows.iter().filter(|(_, r)| r.hour >= floor_hour(from)) {
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
        acks,
    })
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

fn pct(n: i64, of: i64) -> String {
    if of == 0 {
        "0%".into()
    } else {
        format!("{}%", (n as f64 / of as f64 * 100.0).round())
    }
}

fn label(d: &Digest) -> String {
    if d.watches.is_empty() {
        "all watches".into()
    } else {
        d.watches.join(", ")
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The digest as Markdown.
pub fn render_markdown(d: &Digest) -> String {
    let mut o = String::new();
    let c = &d.current;
    let p = &d.previous;
    let _ = writeln!(
        o,
        "# earshot digest: {} · {} to {}\n",
        md_text(&label(d), 200),
        when(d.from),
        when(d.to)
    );
    let _ = writeln!(
        o,
        "**{} mentions** ({} against the period before)\n",
        c.mentions,
        change(c.mentions, p.mentions)
    );
    let avg = |a: Option<f64>| a.map_or("none".to_string(), |v| format!("{v:+.2}"));
    let avg_change = match (c.average_compound, p.average_compound) {
        (Some(a), Some(b)) => format!(" ({:+.2} against the period before)", a - b),
        _ => String::new(),
    };
    let _ = writeln!(
        o,
        "Sentiment: {} positive ({}), {} neutral ({}), {} negative ({}); average compound {}{avg_change}\n",
        c.positive,
        pct(c.positive, c.mentions),
        c.neutral,
        pct(c.neutral, c.mentions),
        c.negative,
        pct(c.negative, c.mentions),
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
    let _ = writeln!(o, "## Acknowledgements\n");
    let a = &d.acks;
    let _ = writeln!(
        o,
        "{} urgent mention{}, {} acknowledged{}",
        a.urgent,
        if a.urgent == 1 { "" } else { "s" },
        a.acknowledged,
        a.median_seconds
            .map(|s| format!(", median time to acknowledge {}", human_secs(s)))
            .unwrap_or_default()
    );
    o
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
    let _ = writeln!(
        o,
        "Sentiment: {} positive ({}) · {} neutral ({}) · {} negative ({}){avg}",
        c.positive,
        pct(c.positive, c.mentions),
        c.neutral,
        pct(c.neutral, c.mentions),
        c.negative,
        pct(c.negative, c.mentions),
    );
    let counts: Vec<i64> = d.hourly.iter().map(|h| h.mentions).collect();
    if d.hourly.len() <= 48 && !counts.is_empty() {
        let _ = writeln!(o, "By hour: {}", sparkline(&counts));
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
    fn markdown_text_cannot_make_markup() {
        assert_eq!(
            md_text("[click](https://evil) **now** # x | y", 100),
            "\\[click\\]\\(https\\://evil\\) \\*\\*now\\*\\* \\# x \\| y"
        );
        assert_eq!(md_text("line\nbreak", 100), "line break");
        assert_eq!(md_text("abcdef", 3), "abc…");
    }
}
