//! Spike alerts (`[spikes]`): each watch's mentions in the last window against its baseline,
//! the mean and standard deviation of the same-length windows of the days before. A jump in
//! volume, or in the share of negative mentions, raises one alert through the routes (however
//! long it lasts) with the mentions and the terms behind it; its end is announced. Spikes are
//! rows of the store, so a restart neither repeats nor forgets one.

use chrono::{DateTime, Utc};

use crate::alert::{Alert, EARSHOT_SOURCE, Form};
use crate::config::{Config, SpikeConfig};
use crate::digest::{self, Term};
use crate::pipeline::Pipeline;
use crate::sentiment::SentimentBucket;
use crate::store::{
    Announcement, MentionFilter, MentionOrder, MentionRow, Spike, Store, StoreError,
};
use crate::urgency::Level;

/// Hours of history a watch needs before it can spike, so that a new watch (or a new
/// install) is not one spike.
pub const MIN_HISTORY_HOURS: usize = 24;
/// A mention posted up to this long before the window opened still counts in it (feeds
/// publish late); older ones (a new source's first poll, the backlog after downtime) do not.
pub const POSTED_SLACK: i64 = 3600;
/// The least rise of the negative share that is a spike, however steady it was.
pub const MIN_SHARE_RISE: f64 = 0.10;
/// Fewest negative mentions in a window for a negative-share spike.
pub const MIN_NEGATIVE: i64 = 3;
/// Mentions listed in a spike's alert.
pub const LISTED: usize = 5;
/// Rising terms listed in a spike's alert.
pub const TERMS: usize = 5;

/// A watch's history, as windows of the spike's length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    /// Hours of history behind it.
    pub hours: usize,
    /// The mean and standard deviation of mentions per window (every window: they overlap).
    pub mean: f64,
    pub sd: f64,
    /// All mentions and negative mentions of the history.
    pub mentions: i64,
    pub negative: i64,
}

impl Baseline {
    /// From `hourly` (mentions, negative mentions) of consecutive hours, oldest first, as
    /// windows of `window` hours. `None` with less than a day (or two windows) of history.
    pub fn of(hourly: &[(i64, i64)], window: usize) -> Option<Baseline> {
        let window = window.max(1);
        if hourly.len() < MIN_HISTORY_HOURS.max(2 * window) {
            return None;
        }
        let sums: Vec<f64> = hourly
            .windows(window)
            .map(|w| w.iter().map(|h| h.0).sum::<i64>() as f64)
            .collect();
        let n = sums.len() as f64;
        let mean = sums.iter().sum::<f64>() / n;
        let sd = (sums.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        Some(Baseline {
            hours: hourly.len(),
            mean,
            sd,
            mentions: hourly.iter().map(|h| h.0).sum(),
            negative: hourly.iter().map(|h| h.1).sum(),
        })
    }

    /// The share of negative mentions over the whole history (0 without mentions).
    pub fn share(&self) -> f64 {
        if self.mentions == 0 {
            0.0
        } else {
            self.negative as f64 / self.mentions as f64
        }
    }
}

/// What a window is against its baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finding {
    /// More mentions than `threshold`.
    pub volume: bool,
    /// A larger negative share than `share_threshold`.
    pub negative: bool,
    /// Mentions per window above which volume spikes (see [`check`]).
    pub threshold: f64,
    /// The negative share above which it spikes, at this window's volume.
    pub share_threshold: f64,
}

impl Finding {
    /// Either rose.
    pub fn any(&self) -> bool {
        self.volume || self.negative
    }

    /// What rose: `volume`, `negative`, both, or none.
    pub fn kinds(&self) -> Vec<String> {
        let mut k = Vec::new();
        if self.volume {
            k.push("volume".to_string());
        }
        if self.negative {
            k.push("negative".to_string());
        }
        k
    }
}

/// Judges a window of `mentions`, `negative` of them negative, against `b`.
///
/// Volume spikes above the baseline's mean plus k standard deviations. Counts are not
/// normal, though: a steady five an hour has no spread at all, and a quiet watch's few
/// mentions jump by chance far more often than a normal curve says. So the count must also
/// be as unlikely for a Poisson count of that mean as k standard deviations of a normal one
/// (k = 4: one window in 31,600), and at least `min_mentions`. The negative share spikes when
/// that many negatives out of this window's mentions are as unlikely at the usual share (a
/// binomial count), and the share is at least [`MIN_SHARE_RISE`] above usual.
pub fn check(mentions: i64, negative: i64, b: &Baseline, cfg: &SpikeConfig) -> Finding {
    let min = i64::from(cfg.min_mentions);
    let alpha = normal_tail(cfg.k);
    let threshold = (b.mean + cfg.k * b.sd)
        .max(poisson_critical(b.mean, alpha) as f64 - 1.0)
        .max(min as f64 - 1.0);
    let p = b.share();
    // Smoothed, so that a history without a negative mention still allows for some.
    let q = (b.negative as f64 + 1.0) / (b.mentions as f64 + 2.0);
    let needed = binomial_critical(mentions.max(1), q, alpha);
    let share_threshold = ((needed - 1) as f64 / mentions.max(1) as f64).max(p + MIN_SHARE_RISE);
    Finding {
        volume: mentions as f64 > threshold,
        negative: cfg.negative_share
            && mentions >= min
            && negative >= MIN_NEGATIVE
            && negative as f64 / mentions as f64 > share_threshold,
        threshold,
        share_threshold,
    }
}

/// The chance a normal variable is more than `k` standard deviations above its mean.
pub fn normal_tail(k: f64) -> f64 {
    if k < 2.0 {
        // Abramowitz and Stegun 7.1.26 (error below 1.5e-7, small against these values).
        let x = k.abs() / std::f64::consts::SQRT_2;
        let t = 1.0 / (1.0 + 0.327_591_1 * x);
        let poly = t
            * (0.254_829_592
                + t * (-0.284_496_736
                    + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
        let erfc = poly * (-x * x).exp();
        if k >= 0.0 {
            0.5 * erfc
        } else {
            1.0 - 0.5 * erfc
        }
    } else {
        // The continued fraction of Mills' ratio, accurate far into the tail.
        let mut t = k;
        for j in (1..=80).rev() {
            t = k + f64::from(j) / t;
        }
        (-k * k / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt() / t
    }
}

/// ln(n!).
fn ln_factorial(n: i64) -> f64 {
    if n < 2 {
        return 0.0;
    }
    if n <= 30 {
        return (2..=n).map(|i| (i as f64).ln()).sum();
    }
    let x = n as f64;
    x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x.powi(3))
}

/// The smallest count `c` with P(X ≥ c) < `alpha` for a Poisson count X of mean `lambda`.
pub fn poisson_critical(lambda: f64, alpha: f64) -> i64 {
    if lambda <= 0.0 {
        return 1;
    }
    let top = (lambda + 40.0 * lambda.sqrt() + 60.0).ceil() as i64;
    critical(top, alpha, |i| {
        -lambda + i as f64 * lambda.ln() - ln_factorial(i)
    })
}

/// The smallest count `c` with P(X ≥ c) < `alpha` for a binomial count X of `n` trials of
/// chance `p` (0 < p < 1); `n + 1` when even all `n` are not that unlikely.
pub fn binomial_critical(n: i64, p: f64, alpha: f64) -> i64 {
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let ln_n = ln_factorial(n);
    critical(n, alpha, |i| {
        ln_n - ln_factorial(i) - ln_factorial(n - i) + i as f64 * lp + (n - i) as f64 * lq
    })
}

/// The smallest `c` whose upper tail, the sum of exp(`ln_pmf`) over `c..=top`, is below
/// `alpha` (`top + 1` when none is): summed from the top down, so the tail's tiny terms are
/// added first.
fn critical(top: i64, alpha: f64, ln_pmf: impl Fn(i64) -> f64) -> i64 {
    let mut tail = 0.0;
    let mut critical = top + 1;
    for i in (0..=top).rev() {
        tail += ln_pmf(i).exp();
        if tail >= alpha {
            break;
        }
        critical = i;
    }
    critical
}

/// What one round of checks changed: the watches whose spike started, and those whose ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub started: Vec<String>,
    pub ended: Vec<String>,
}

/// Checks every watch `[spikes]` covers at `now`: a spike that starts is recorded and its
/// alert enqueued on its routes' sinks; one that stayed below its thresholds for a whole
/// window ends, with a notice to the same sinks. Spikes of watches no longer checked end too.
pub fn check_all(
    store: &Store,
    config: &Config,
    pipeline: &Pipeline,
    now: DateTime<Utc>,
) -> Result<Changes, StoreError> {
    let ts = now.timestamp();
    let mut out = Changes::default();
    if let Some(cfg) = &config.spikes {
        for w in config.watches.iter().filter(|w| cfg.covers(&w.name)) {
            check_watch(store, config, cfg, pipeline, &w.name, now, &mut out)?;
        }
    }
    let checked = |watch: &str| {
        config.spikes.as_ref().is_some_and(|c| c.covers(watch))
            && config.watches.iter().any(|w| w.name == watch)
    };
    for s in store.spikes(ts, ts + 1)? {
        if s.ended_at.is_none() && !checked(&s.watch) {
            let notice = end_notice(&s, None, ts);
            if store.end_spike(s.id, ts, &notice)? {
                out.ended.push(s.watch);
            }
        }
    }
    Ok(out)
}

fn check_watch(
    store: &Store,
    config: &Config,
    cfg: &SpikeConfig,
    pipeline: &Pipeline,
    watch: &str,
    now: DateTime<Utc>,
    out: &mut Changes,
) -> Result<(), StoreError> {
    let ts = now.timestamp();
    let win = cfg.window.0.as_secs() as i64;
    let from = ts - win;
    let window = MentionFilter {
        watch: Some(watch.to_string()),
        since: Some(from),
        until: Some(ts + 1),
        posted_since: Some(from - POSTED_SLACK),
        ..Default::default()
    };
    let (n, positive, negative) = store.mention_counts(&window)?;
    // The baseline: whole hours before the window, from where the watch's history starts.
    let end_hour = from - from.rem_euclid(3600);
    let Some(first) = store.first_hour(watch)? else {
        return Ok(());
    };
    let start = (end_hour - cfg.baseline.0.as_secs() as i64).max(first);
    let hourly = hourly(store, watch, start, end_hour)?;
    let Some(b) = Baseline::of(&hourly, (win / 3600) as usize) else {
        return Ok(());
    };
    let f = check(n, negative, &b, cfg);
    match store.open_spike(watch)? {
        None if f.any() => {
            let order = if f.volume {
                MentionOrder::MostUrgent
            } else {
                MentionOrder::MostNegative
            };
            let behind = store.mentions(&MentionFilter {
                order,
                limit: LISTED,
                ..window.clone()
            })?;
            let terms = terms(store, &window, start, end_hour)?;
            let neutral = n - positive - negative;
            let bucket = if f.negative || (negative > positive && negative > neutral) {
                SentimentBucket::Negative
            } else if positive > neutral {
                SentimentBucket::Positive
            } else {
                SentimentBucket::Neutral
            };
            let a = alert(
                watch,
                &Seen {
                    finding: f,
                    mentions: n,
                    negative,
                    baseline: b,
                    window: win,
                    behind: &behind,
                    terms: &terms,
                },
                config.scoring.levels.high,
                now,
            );
            let messages: Vec<(Announcement, Option<i64>)> = pipeline
                .spike_routes(watch, bucket, now)
                .into_iter()
                .map(|(sink_ids, hold)| {
                    (
                        Announcement {
                            sink_ids,
                            watch: watch.to_string(),
                            alert: a.clone(),
                        },
                        hold.map(|t| t.timestamp()),
                    )
                })
                .collect();
            let spike = Spike {
                id: 0,
                watch: watch.to_string(),
                started_at: ts,
                kinds: f.kinds(),
                window_secs: win,
                mentions: n,
                negative,
                usual: b.mean,
                threshold: f.threshold,
                usual_share: b.share(),
                peak: n,
                last_above: ts,
                alert_id: a.id.clone(),
                sinks: Vec::new(),
                ended_at: None,
            };
            if store.start_spike(&spike, &messages, ts)?.is_some() {
                out.started.push(watch.to_string());
            }
        }
        Some(s) if f.any() => {
            let mut kinds = s.kinds.clone();
            for k in f.kinds() {
                if !kinds.contains(&k) {
                    kinds.push(k);
                }
            }
            store.spike_still_above(s.id, ts, n, &kinds)?;
        }
        Some(s) if ts - s.last_above >= win => {
            let notice = end_notice(&s, Some((n, b.mean)), ts);
            if store.end_spike(s.id, ts, &notice)? {
                out.ended.push(watch.to_string());
            }
        }
        _ => {}
    }
    Ok(())
}

/// (mentions, negative) of each hour in `[from, to)`, empty hours included.
fn hourly(store: &Store, watch: &str, from: i64, to: i64) -> Result<Vec<(i64, i64)>, StoreError> {
    let hours = ((to - from) / 3600).max(0) as usize;
    let mut out = vec![(0, 0); hours];
    for (_, h) in store.hour_aggs(&[watch.to_string()], from, to)? {
        if let Some(slot) = out.get_mut(((h.hour - from) / 3600) as usize) {
            slot.0 += h.mentions;
            slot.1 += h.negative;
        }
    }
    Ok(out)
}

/// The terms that rose most in the window against the baseline `[from, to)`, scaled to the
/// window's length.
fn terms(
    store: &Store,
    window: &MentionFilter,
    from: i64,
    to: i64,
) -> Result<Vec<Term>, StoreError> {
    let now = store.mentions(&MentionFilter {
        limit: digest::TERM_SAMPLE,
        ..window.clone()
    })?;
    let before = store.mentions(&MentionFilter {
        watch: window.watch.clone(),
        since: Some(from),
        until: Some(to),
        limit: digest::TERM_SAMPLE,
        ..Default::default()
    })?;
    // A sample that hit the limit covers less than the whole baseline.
    let covered = if before.len() >= digest::TERM_SAMPLE {
        before.last().map_or(to - from, |m| to - m.seen_at)
    } else {
        to - from
    };
    let win = window.until.unwrap_or(to) - window.since.unwrap_or(from) - 1;
    let scale = win as f64 / covered.max(win).max(1) as f64;
    Ok(digest::rising_against(
        &digest::term_texts(now),
        &digest::term_texts(before),
        scale,
        TERMS,
    ))
}

/// What a check saw when a spike started.
struct Seen<'a> {
    finding: Finding,
    mentions: i64,
    negative: i64,
    baseline: Baseline,
    /// Seconds.
    window: i64,
    behind: &'a [MentionRow],
    terms: &'a [Term],
}

/// "hour", "3 hours".
fn span(secs: i64) -> String {
    match secs / 3600 {
        1 => "hour".into(),
        h => format!("{h} hours"),
    }
}

/// "13.3", "14".
fn num(x: f64) -> String {
    let s = format!("{x:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The spike's alert: what rose against what is usual, the terms that rose with it, and the
/// mentions behind it.
fn alert(watch: &str, s: &Seen<'_>, urgency: u8, now: DateTime<Utc>) -> Alert {
    let f = &s.finding;
    let b = &s.baseline;
    let span = span(s.window);
    let share = s.negative as f64 / s.mentions.max(1) as f64;
    let days = b.hours as f64 / 24.0;
    let history = if b.hours.is_multiple_of(24) {
        format!("the {} days before", num(days))
    } else {
        format!("the {} hours before", b.hours)
    };
    let volume_line = format!(
        "{} mentions in the last {span}; usually {} ± {} over {history} (a spike is above {})",
        s.mentions,
        num(b.mean),
        num(b.sd),
        num(f.threshold)
    );
    let share_line = format!(
        "{} of them negative; usually {} (a spike is above {})",
        pct(share),
        pct(b.share()),
        pct(f.share_threshold)
    );
    let title = match (f.volume, f.negative) {
        (true, true) => format!(
            "{} mentions of {watch} in the last {span}, {} negative (usually {}, {})",
            s.mentions,
            pct(share),
            num(b.mean),
            pct(b.share())
        ),
        (true, false) => format!(
            "{} mentions of {watch} in the last {span} (usually {})",
            s.mentions,
            num(b.mean)
        ),
        _ => format!(
            "{} of {watch}'s mentions negative in the last {span} (usually {})",
            pct(share),
            pct(b.share())
        ),
    };
    let mut reasons = Vec::new();
    if f.volume {
        let times = s.mentions as f64 / b.mean.max(1.0);
        reasons.push(format!(
            "volume {}× the usual ({} against {})",
            num(times),
            s.mentions,
            num(b.mean)
        ));
    }
    if f.negative {
        reasons.push(format!(
            "negative share {} against {}",
            pct(share),
            pct(b.share())
        ));
    }
    let mut lines = vec![volume_line, share_line];
    if !s.terms.is_empty() {
        let terms: Vec<String> = s
            .terms
            .iter()
            .map(|t| format!("\"{}\" {} (usually {})", t.term, t.mentions, t.previous))
            .collect();
        lines.push(format!("Rising: {}", terms.join(", ")));
    }
    if !s.behind.is_empty() {
        lines.push("Behind it:".into());
        for m in s.behind {
            lines.push(crate::alert::list_line(
                &m.level,
                m.urgency,
                &m.source_id,
                m.title.as_deref(),
                &m.text,
                m.url.as_deref(),
            ));
        }
    }
    lines.push(format!(
        "`earshot mentions --watch {watch} --since {}h` lists them all.",
        s.window / 3600
    ));
    Alert {
        id: format!("spike-{watch}-{}", now.timestamp()),
        watch: watch.to_string(),
        source_id: EARSHOT_SOURCE.into(),
        source_kind: EARSHOT_SOURCE.into(),
        url: s.behind.first().and_then(|m| m.url.clone()),
        title: Some(title),
        text: lines.join("\n"),
        author: None,
        author_reach: None,
        created_at: Some(now),
        kind: earshot_connectors::MentionKind::Post,
        sentiment: Default::default(),
        urgency,
        level: Level::High,
        reasons,
        thread: None,
        ack_url: None,
        form: Form::Spike,
    }
}

/// The notice that spike `s` ended at `now`: with the window's mentions and the usual then
/// (`None` when its watch is no longer checked).
fn end_notice(s: &Spike, now_usual: Option<(i64, f64)>, now: i64) -> Announcement {
    let lasted = digest::human_secs(now - s.started_at);
    let began = DateTime::from_timestamp(s.started_at, 0).unwrap_or_default();
    let text = match now_usual {
        Some((n, usual)) => format!(
            "The spike that began {} is over after {lasted}: {} mentions in the last {} (usually {}); {} at its peak.",
            digest::when(began),
            n,
            span(s.window_secs),
            num(usual),
            s.peak
        ),
        None => format!(
            "The spike that began {} is no longer followed after {lasted}: [spikes] does not check this watch any more.",
            digest::when(began)
        ),
    };
    Announcement {
        sink_ids: s.sinks.clone(),
        watch: s.watch.clone(),
        alert: Alert::notice(
            format!("{}-end", s.alert_id),
            &s.watch,
            format!("Spike over: {}", s.watch),
            text,
            now,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SpikeConfig {
        SpikeConfig::default()
    }

    #[test]
    fn normal_tails() {
        for (k, want) in [
            (0.5, 0.308_537_5),
            (1.0, 0.158_655_3),
            (2.0, 0.022_750_1),
            (3.0, 0.001_349_9),
            (4.0, 3.167_1e-5),
            (6.0, 9.865_9e-10),
        ] {
            let got = normal_tail(k);
            assert!(
                (got / want - 1.0).abs() < 1e-3,
                "k {k}: {got} against {want}"
            );
        }
    }

    #[test]
    fn critical_counts() {
        // P(X >= 10) = 0.0011 for a Poisson mean of 3; P(X >= 9) = 0.0038.
        assert_eq!(poisson_critical(3.0, 0.002), 10);
        // Mean 12, one in 31,600: 29 (P(X >= 29) = 2.3e-5, P(X >= 28) = 5.6e-5).
        assert_eq!(poisson_critical(12.0, normal_tail(4.0)), 29);
        assert_eq!(poisson_critical(0.0, 0.01), 1);
        // 14 trials at 0.2: P(X >= 8) = 0.0024, P(X >= 9) = 0.00042.
        assert_eq!(binomial_critical(14, 0.2, 0.001), 9);
        assert_eq!(binomial_critical(14, 0.2, 0.003), 8);
        // Not even all of 3 is that unlikely.
        assert_eq!(binomial_critical(3, 0.5, 0.001), 4);
    }

    #[test]
    fn a_baseline_needs_a_day_of_history() {
        assert_eq!(Baseline::of(&[(5, 1); 23], 1), None);
        let b = Baseline::of(&[(5, 1); 24], 1).unwrap();
        assert_eq!((b.hours, b.mean, b.sd), (24, 5.0, 0.0));
        assert_eq!((b.mentions, b.negative), (120, 24));
        assert!((b.share() - 0.2).abs() < 1e-9);
        // Windows of three hours: sums of three.
        let b = Baseline::of(&[(2, 0); 48], 3).unwrap();
        assert_eq!(b.mean, 6.0);
        assert_eq!(
            Baseline::of(&[(2, 0); 40], 24),
            None,
            "two windows at least"
        );
    }

    #[test]
    fn a_steady_count_still_varies_like_a_poisson_one() {
        // Exactly 25 an hour for a week: no spread, but 26 is no spike.
        let b = Baseline::of(&[(25, 5); 168], 1).unwrap();
        let f = check(26, 5, &b, &cfg());
        assert!(!f.any());
        let c = poisson_critical(25.0, normal_tail(4.0));
        assert_eq!(f.threshold, (c - 1) as f64);
        assert!(check(c, 5, &b, &cfg()).volume);
        assert!(!check(c - 1, 5, &b, &cfg()).volume);
    }

    #[test]
    fn a_spread_history_needs_k_standard_deviations() {
        // Alternating 2 and 22: mean 12, sd 10; 12 + 4 * 10 = 52 beats the Poisson bound.
        let hours: Vec<(i64, i64)> = (0..168)
            .map(|i| (if i % 2 == 0 { 2 } else { 22 }, 1))
            .collect();
        let b = Baseline::of(&hours, 1).unwrap();
        assert_eq!((b.mean, b.sd), (12.0, 10.0));
        let f = check(52, 5, &b, &cfg());
        assert_eq!(f.threshold, 52.0);
        assert!(!f.volume && check(53, 5, &b, &cfg()).volume);
        let loose = check(40, 5, &b, &SpikeConfig { k: 2.0, ..cfg() });
        assert!(loose.volume, "{loose:?}");
    }

    #[test]
    fn a_quiet_watch_needs_min_mentions() {
        let b = Baseline::of(&[(0, 0); 168], 1).unwrap();
        assert_eq!(check(9, 0, &b, &cfg()).threshold, 9.0);
        assert!(!check(9, 0, &b, &cfg()).volume);
        assert!(check(10, 0, &b, &cfg()).volume);
        let strict = SpikeConfig {
            min_mentions: 30,
            ..cfg()
        };
        assert!(!check(29, 0, &b, &strict).volume);
    }

    #[test]
    fn the_negative_share_spikes_at_the_same_volume() {
        // 20 an hour, 4 negative (20%).
        let b = Baseline::of(&[(20, 4); 168], 1).unwrap();
        let f = check(20, 16, &b, &cfg());
        assert!(f.negative && !f.volume, "{f:?}");
        assert_eq!(f.kinds(), ["negative"]);
        // 13 of 20 at 20% happens once in 66,000 windows; 12 of 20 once in 9,800.
        assert!(check(20, 13, &b, &cfg()).negative);
        assert!(!check(20, 12, &b, &cfg()).negative);
        let off = SpikeConfig {
            negative_share: false,
            ..cfg()
        };
        assert!(!check(20, 16, &b, &off).negative);
        // Too few mentions to say.
        assert!(!check(9, 9, &b, &cfg()).negative);
        // A large volume needs a smaller rise, but at least ten points.
        let big = Baseline::of(&[(1000, 200); 168], 1).unwrap();
        assert!((check(1000, 290, &big, &cfg()).share_threshold - 0.3).abs() < 1e-9);
        assert!(!check(1000, 300, &big, &cfg()).negative);
        assert!(check(1000, 310, &big, &cfg()).negative);
        let mid = Baseline::of(&[(100, 20); 168], 1).unwrap();
        assert!(check(100, 0, &mid, &cfg()).share_threshold > 0.35);
        let half = Baseline::of(&[(10_000, 5_000); 168], 1).unwrap();
        assert!(!check(10_000, 5_900, &half, &cfg()).negative);
        assert!(check(10_000, 6_100, &half, &cfg()).negative);
    }
}
