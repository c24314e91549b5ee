//! The digest as a web page, and the query strings of the listener's digest and CSV endpoints.
//!
//! Everything here is a pure function except [`daily`], which reads the hourly aggregates. The
//! page is one HTML5 document with inline CSS and no script (the listener's CSP forbids any):
//! the charts are SVG drawn here, on the server. Each chart carries its numbers as `data-*`
//! attributes on its marks, so a test (or a curious reader) can check a chart against the
//! [`Digest`] behind it without reading pixels.
//!
//! The charts scale with the page without stretching their text: horizontal positions are
//! percentages of the chart's width, vertical ones are pixels. So one SVG reads on a laptop
//! and on a phone, and prints.
//!
//! User text (titles, authors, source and watch names) is always escaped with
//! [`escape_html`]; links to mentions are made only of URLs [`safe_url`] accepts.
//!
//! To add a chart: a pub fn returning an `<svg>` with a `<title>`, an `aria-label`, and the
//! data attributes a test can count; one call in [`render_page`]; one check in `tests/web.rs`.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::digest::{Count, Digest, Hour, Line, Request, pct, watches_label, when};
use crate::http::escape_html;
use crate::sink::text::{Count as Units, one_line, safe_url, truncate};
use crate::store::{MentionFilter, MentionRow, SentimentBucket, Store, StoreError};
use crate::urgency::Level;

/// Days in the sentiment-per-day chart.
pub const DAYS: usize = 30;
/// Longest period the page and the JSON cover, as `earshot digest` allows.
pub const MAX_PERIOD_DAYS: i64 = 3660;
/// Most rows one CSV download holds.
pub const MAX_CSV_ROWS: usize = 10_000;
/// Rows in a CSV download when `limit` is left out, as `earshot mentions` lists.
pub const DEFAULT_CSV_ROWS: usize = 50;
/// Periods longer than this many hours are charted by day: a bar per hour would be thinner
/// than a pixel on a phone.
pub const MAX_HOURLY_BARS: usize = 14 * 24;

/// What the listener needs to serve the digest endpoints; built once at start.
pub struct WebState {
    /// Read on a blocking thread: a query may wait on SQLite.
    pub store: std::sync::Arc<Store>,
    /// The configured watch names: a name not among them is refused rather than answered with
    /// an empty digest, which would look like silence.
    pub watches: Vec<String>,
    /// The configured source ids, for the same reason.
    pub sources: Vec<String>,
}

/// One day of the sentiment-per-day chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DayPoint {
    /// The day's start (midnight UTC).
    pub day: DateTime<Utc>,
    pub mentions: i64,
    /// The mean compound of the day's mentions; `None` without mentions.
    pub average_compound: Option<f64>,
}

/// The [`DAYS`] UTC days up to the one holding the instant just before `to`, oldest first,
/// empty days included.
pub fn daily(
    store: &Store,
    watches: &[String],
    to: DateTime<Utc>,
) -> Result<Vec<DayPoint>, StoreError> {
    // The day of the last second of the period: a period ending at midnight ends that day.
    let end_ts = to.timestamp() + i64::from(to.timestamp_subsec_nanos() > 0);
    let last_day = (end_ts - 1).div_euclid(86_400) * 86_400;
    let first_day = last_day - (DAYS as i64 - 1) * 86_400;
    let rows = store.hour_aggs(watches, first_day, end_ts)?;
    let mut sums = vec![(0i64, 0.0f64); DAYS];
    for (_, r) in rows {
        let i = (r.hour - first_day).div_euclid(86_400);
        if let Some(s) = usize::try_from(i).ok().and_then(|i| sums.get_mut(i)) {
            s.0 += r.mentions;
            s.1 += r.compound_sum;
        }
    }
    Ok(sums
        .into_iter()
        .enumerate()
        .map(|(i, (n, sum))| DayPoint {
            day: DateTime::from_timestamp(first_day + i as i64 * 86_400, 0).unwrap_or_default(),
            mentions: n,
            average_compound: (n > 0).then(|| sum / n as f64),
        })
        .collect())
}

/// A query string the digest or CSV endpoints refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// Malformed or unknown parameters; the message says what to write instead.
    #[error("{0}")]
    Invalid(String),
    /// A watch or source the config does not have (the store would answer with nothing).
    #[error("{what} {name:?}: no such {what} (configured: {known})")]
    Unknown {
        what: &'static str,
        name: String,
        known: String,
    },
}

/// The parameters of one request, in order, with empty values dropped (an HTML form sends
/// `watch=` for "all watches").
fn params(query: &str, allowed: &[&str]) -> Result<Vec<(String, String)>, QueryError> {
    let mut out = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(QueryError::Invalid(format!(
                "unknown parameter {k:?}: use {}",
                allowed.join(", ")
            )));
        }
        if v.is_empty() {
            continue;
        }
        if k != "watch" && out.iter().any(|(x, _): &(String, String)| *x == k) {
            return Err(QueryError::Invalid(format!(
                "{k} is given twice: give it once"
            )));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
}

fn time(s: &str, name: &str) -> Result<i64, QueryError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|_| {
            QueryError::Invalid(format!(
                "{name}={s:?}: write an RFC 3339 time such as 2026-05-01T00:00:00Z"
            ))
        })
}

fn duration(s: &str) -> Result<i64, QueryError> {
    let d = crate::duration::parse_duration(s)
        .map_err(|e| QueryError::Invalid(format!("since: {e}")))?;
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    if secs == 0 || secs > MAX_PERIOD_DAYS * 86_400 {
        return Err(QueryError::Invalid(format!(
            "since={s:?}: give a period between 1s and {MAX_PERIOD_DAYS}d, e.g. 24h or 7d"
        )));
    }
    Ok(secs)
}

fn watches(p: &[(String, String)], known: &[String]) -> Result<Vec<String>, QueryError> {
    let mut out: Vec<String> = Vec::new();
    for w in p.iter().filter(|(k, _)| k == "watch").map(|(_, v)| v) {
        if !known.contains(w) {
            return Err(QueryError::Unknown {
                what: "watch",
                name: w.clone(),
                known: known.join(", "),
            });
        }
        if !out.contains(w) {
            out.push(w.clone());
        }
    }
    Ok(out)
}

/// `since`, or `from` and `to`: the period, as `earshot digest` takes it (default the last 24h).
fn period(p: &[(String, String)], now: i64) -> Result<(i64, i64), QueryError> {
    let (from, to) = match (get(p, "since"), get(p, "from"), get(p, "to")) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(QueryError::Invalid(
                "give either since (e.g. since=7d) or from and to, not both".into(),
            ));
        }
        (None, Some(f), Some(t)) => (time(f, "from")?, time(t, "to")?),
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(QueryError::Invalid(
                "give from and to together (RFC 3339 times), or since (e.g. since=7d)".into(),
            ));
        }
        (s, None, None) => (now - duration(s.unwrap_or("24h"))?, now),
    };
    if to <= from {
        return Err(QueryError::Invalid("to must be after from".into()));
    }
    if to - from > MAX_DIGEST_DAYS * 86_400 {
        return Err(QueryError::Invalid(format!(
            "the period is longer than {MAX_DIGEST_DAYS}d: choose a shorter one (for more, \
             ask for one period after another)"
        )));
    }
    Ok((from, to))
}

/// Longest period one digest covers (a quarter): its hourly series stays a few hundred KiB,
/// so a request for ten years cannot make the listener build megabytes.
pub const MAX_DIGEST_DAYS: i64 = 92;

/// The parameters `GET /digest` and `/digest.json` take.
pub const DIGEST_PARAMS: [&str; 4] = ["since", "from", "to", "watch"];

/// The digest a `/digest` query string asks for: `since=24h` (the default) or `from=..&to=..`
/// (RFC 3339), and `watch=` (repeat for several; all when left out).
pub fn digest_request(
    query: &str,
    known_watches: &[String],
    now: i64,
) -> Result<Request, QueryError> {
    let p = params(query, &DIGEST_PARAMS)?;
    let (from, to) = period(&p, now)?;
    Ok(Request {
        from: DateTime::from_timestamp(from, 0).unwrap_or_default(),
        to: DateTime::from_timestamp(to, 0).unwrap_or_default(),
        watches: watches(&p, known_watches)?,
    })
}

/// The parameters `GET /mentions.csv` takes: the flags of `earshot mentions`.
pub const CSV_PARAMS: [&str; 8] = [
    "watch",
    "source",
    "since",
    "from",
    "to",
    "min_urgency",
    "sentiment",
    "limit",
];

/// The store query a `/mentions.csv` query string asks for, with the checks of `earshot
/// mentions`. Unlike the digest, no period means all time; `from` and `to` may come alone.
pub fn mention_filter(
    query: &str,
    known_watches: &[String],
    known_sources: &[String],
    now: i64,
) -> Result<MentionFilter, QueryError> {
    let p = params(query, &CSV_PARAMS)?;
    let mut watches = watches(&p, known_watches)?;
    let source = get(&p, "source").map(str::to_owned);
    if let Some(s) = source.as_ref().filter(|s| !known_sources.contains(s)) {
        return Err(QueryError::Unknown {
            what: "source",
            name: s.clone(),
            known: known_sources.join(", "),
        });
    }
    let since = match (get(&p, "since"), get(&p, "from")) {
        (Some(_), Some(_)) => {
            return Err(QueryError::Invalid(
                "give either since (e.g. since=7d) or from, not both".into(),
            ));
        }
        (Some(s), None) => Some(now - duration(s)?),
        (None, Some(f)) => Some(time(f, "from")?),
        (None, None) => None,
    };
    let until = get(&p, "to").map(|t| time(t, "to")).transpose()?;
    let min_level = get(&p, "min_urgency")
        .map(|l| {
            Level::parse(l).ok_or_else(|| {
                QueryError::Invalid(format!(
                    "min_urgency={l:?}: use low, normal, high or critical"
                ))
            })
        })
        .transpose()?;
    let sentiment = get(&p, "sentiment")
        .map(|s| {
            [
                SentimentBucket::Positive,
                SentimentBucket::Neutral,
                SentimentBucket::Negative,
            ]
            .into_iter()
            .find(|b| b.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                QueryError::Invalid(format!(
                    "sentiment={s:?}: use positive, neutral or negative"
                ))
            })
        })
        .transpose()?;
    let limit = match get(&p, "limit") {
        None => DEFAULT_CSV_ROWS,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_CSV_ROWS).contains(n))
            .ok_or_else(|| {
                QueryError::Invalid(format!(
                    "limit={l:?}: give a number of rows from 1 to {MAX_CSV_ROWS} (default {DEFAULT_CSV_ROWS})"
                ))
            })?,
    };
    // One watch is `earshot mentions --watch`; several mean any of them.
    let watch = (watches.len() == 1).then(|| watches.remove(0));
    Ok(MentionFilter {
        watch,
        source,
        since,
        until,
        min_level,
        sentiment,
        limit,
        watches,
        ..Default::default()
    })
}

/// The query string of `req` as `/digest` takes it (`from`, `to`, each `watch`), for links
/// that must show the same period later.
pub fn digest_query(req: &Request) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("from", &rfc3339(req.from));
    s.append_pair("to", &rfc3339(req.to));
    for w in &req.watches {
        s.append_pair("watch", w);
    }
    s.finish()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Mentions as CSV (RFC 4180: CRLF line ends, fields quoted when needed, quotes doubled). A
/// text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so a
/// spreadsheet shows it rather than running it as a formula. Numbers are ours and left as is.
pub fn mentions_csv(rows: &[MentionRow]) -> String {
    let mut o = String::from(
        "id,seen_at,source_id,watches,level,urgency,compound,sentiment,author,title,text,url\r\n",
    );
    for m in rows {
        let cells = [
            m.id.to_string(),
            DateTime::from_timestamp(m.seen_at, 0)
                .map(rfc3339)
                .unwrap_or_default(),
            csv_text(&m.source_id),
            csv_text(&m.watches.join(" ")),
            csv_text(&m.level),
            m.urgency.to_string(),
            format!("{:.4}", m.compound),
            SentimentBucket::of(m.compound).as_str().to_owned(),
            csv_text(m.author.as_deref().unwrap_or("")),
            csv_text(m.title.as_deref().unwrap_or("")),
            csv_text(&m.text),
            csv_text(m.url.as_deref().unwrap_or("")),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_quote(c)).collect();
        o.push_str(&line.join(","));
        o.push_str("\r\n");
    }
    o
}

/// User text for a CSV cell: defused against formula injection.
fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// RFC 4180 quoting: a field with a comma, quote, CR or LF is quoted and its quotes doubled.
fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// What the page shows besides the digest itself.
#[derive(Debug, Clone, Copy)]
pub struct PageContext<'a> {
    /// The page's heading and `<title>`; escaped here.
    pub title: &'a str,
    /// Watches offered in the page's form.
    pub known_watches: &'a [String],
    /// The `since` to show selected in the form; `None` when the period came as `from`/`to`.
    pub since: Option<&'a str>,
}

const POSITIVE: &str = "#2e7d32";
const NEUTRAL: &str = "#8d8d8d";
const NEGATIVE: &str = "#c62828";
/// Source colours, in order; the sixth is "other".
const PALETTE: [&str; 6] = [
    "#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#9e9e9e",
];

const PAGE_STYLE: &str = "\
*{box-sizing:border-box}\
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}\
body{font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;\
background:#fff;max-width:64rem;margin:0 auto;padding:1rem}\
h1{font-size:1.5rem;margin:.5rem 0 .25rem;overflow-wrap:anywhere}\
h2{font-size:1.15rem;margin:2rem 0 .5rem}\
.warn{border-left:4px solid #b45309;background:#fef3c7;padding:.25rem 1rem;margin-top:1rem}\
.warn h2{margin-top:.5rem}\
.period{color:#57606a;margin:0 0 1rem}\
form{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end;margin:0 0 1rem}\
label{display:flex;flex-direction:column;font-size:.85rem;color:#57606a}\
select,button{font:inherit;padding:.3rem .5rem;min-height:2.25rem}\
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9.5rem,1fr));gap:.75rem;margin:1rem 0}\
.card{border:1px solid #d0d7de;border-radius:6px;padding:.6rem .8rem}\
.card b{display:block;font-size:1.6rem;line-height:1.2}\
.card span{display:block;font-weight:600}\
.card small{display:block;font-size:.82rem;color:#57606a;line-height:1.35}\
figure{margin:0}\
svg.chart{display:block;width:100%;overflow:visible}\
svg text{font-size:11px;fill:#57606a}\
.grid{stroke:#d0d7de;stroke-width:1}\
.zero{stroke:#57606a;stroke-width:1}\
.trend{stroke:#1565c0;stroke-width:2}\
.legend{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;padding:0;margin:.5rem 0 0;font-size:.9rem}\
.sw{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.35em;vertical-align:-.05em}\
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}\
table{border-collapse:collapse;width:100%;font-size:.92rem}\
table.counts{width:auto;min-width:min(100%,24rem)}\
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}\
th{font-weight:600;white-space:nowrap}\
td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\
td.what{min-width:15rem;overflow-wrap:anywhere}\
td.nowrap{white-space:nowrap}\
.neg{color:#b71c1c}.pos{color:#1b5e20}\
.downloads{margin-top:2rem;font-size:.9rem}\
a{color:#0969da}\
@media (max-width:40rem){body{padding:.75rem}h1{font-size:1.25rem}.card b{font-size:1.3rem}}\
@media print{\
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}\
body{max-width:none;padding:0;font-size:10.5pt}\
form,.downloads{display:none}\
a{color:inherit;text-decoration:none}\
section,figure,tr{break-inside:avoid}\
h2{break-after:avoid}\
.scroll{overflow:visible}\
td.what{min-width:0}\
}";

/// The whole page: heading, period form, summary, the three charts, then the tables.
pub fn render_page(d: &Digest, days: &[DayPoint], ctx: &PageContext<'_>) -> String {
    let mut o = String::with_capacity(32 * 1024);
    let title = escape_html(ctx.title);
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{title} · earshot</title><style>{PAGE_STYLE}</style></head><body>\
         <header><h1>{title}</h1><p class=\"period\">{} to {} · {}</p>",
        when(d.from),
        when(d.to),
        escape_html(&watches_label(&d.watches)),
    );
    form(&mut o, d, ctx);
    o.push_str("</header><main>");
    // A quiet period is not a good one when earshot could not see: said before anything else.
    if !d.gaps.is_empty() {
        let _ = write!(
            o,
            "<section id=\"gaps\" class=\"warn\"><h2>Coverage gaps</h2><p>Fewer mentions may mean \
             earshot could not see them:</p><ul>"
        );
        for g in &d.gaps {
            let _ = write!(o, "<li>{}</li>", escape_html(&crate::digest::gap_line(g)));
        }
        o.push_str("</ul></section>");
    }
    if !d.spikes.is_empty() {
        o.push_str("<section id=\"spikes\"><h2>Spikes</h2><ul>");
        for s in &d.spikes {
            let _ = write!(o, "<li>{}</li>", escape_html(&crate::digest::spike_line(s)));
        }
        o.push_str("</ul></section>");
    }
    summary(&mut o, d);

    let (buckets, unit) = volume_buckets(&d.hourly);
    let _ = write!(
        o,
        "<section id=\"volume\"><h2>Mentions per {unit}</h2><figure>{}\
         <ul class=\"legend\">{}{}{}</ul></figure></section>",
        volume_chart(&buckets, unit),
        swatch(NEGATIVE, "negative"),
        swatch(NEUTRAL, "neutral"),
        swatch(POSITIVE, "positive"),
    );
    let _ = write!(
        o,
        "<section id=\"sentiment\"><h2>Average sentiment per day, last {} days</h2><figure>{}\
         <figcaption class=\"legend\">From −1 (most negative) to +1 (most positive); days \
         without mentions have no point.</figcaption></figure></section>",
        days.len(),
        sentiment_chart(days),
    );
    let _ = write!(
        o,
        "<section id=\"sources\"><h2>Mentions by source</h2><figure>{}<ul class=\"legend\">",
        source_chart(&d.top_sources, d.current.mentions),
    );
    for (i, (name, n)) in source_parts(&d.top_sources, d.current.mentions)
        .iter()
        .enumerate()
    {
        let _ = write!(
            o,
            "<li><span class=\"sw\" style=\"background:{}\"></span>{} · {n} ({})</li>",
            PALETTE[i.min(PALETTE.len() - 1)],
            escape_html(name),
            pct(*n, d.current.mentions),
        );
    }
    o.push_str("</ul></figure></section>");

    mentions_table(&mut o, "negative", "Most negative", &d.most_negative);
    mentions_table(&mut o, "urgent", "Most urgent", &d.most_urgent);
    counts_table(
        &mut o,
        "top-sources",
        "Top sources",
        "Source",
        &d.top_sources,
    );
    counts_table(
        &mut o,
        "top-authors",
        "Most active authors",
        "Author",
        &d.top_authors,
    );
    let _ = write!(o, "<section id=\"rising\"><h2>Rising terms</h2>");
    if d.rising_terms.is_empty() {
        o.push_str("<p>None.</p></section>");
    } else {
        o.push_str(
            "<div class=\"scroll\"><table class=\"counts\"><thead><tr><th>Term</th>\
             <th class=\"num\">Mentions</th><th class=\"num\">Before</th></tr></thead><tbody>",
        );
        for t in &d.rising_terms {
            let _ = write!(
                o,
                "<tr><td class=\"what\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape_html(&truncate(&one_line(&t.term), 80, Units::Chars)),
                t.mentions,
                t.previous
            );
        }
        o.push_str("</tbody></table></div></section>");
    }
    let _ = write!(
        o,
        "<section id=\"acks\"><h2>Acknowledgements</h2><p>{}.</p></section>",
        escape_html(&crate::digest::acks_line(&d.acks))
    );
    let q = escape_html(&digest_query(&Request {
        from: d.from,
        to: d.to,
        watches: d.watches.clone(),
    }));
    let csv = escape_html(&csv_query(d));
    let _ = writeln!(
        o,
        "</main><footer class=\"downloads\">Download: <a href=\"digest.json?{q}\">digest (JSON)</a> · \
         <a href=\"mentions.csv?{csv}\">the period's mentions (CSV)</a> · generated by earshot</footer>\
         </body></html>"
    );
    o
}

/// The `/mentions.csv` query for the digest's period and watches, as many rows as allowed.
fn csv_query(d: &Digest) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("from", &rfc3339(d.from));
    s.append_pair("to", &rfc3339(d.to));
    for w in &d.watches {
        s.append_pair("watch", w);
    }
    s.append_pair("limit", &MAX_CSV_ROWS.to_string());
    s.finish()
}

/// The period and watch pickers: a plain GET form back to this page, no script.
fn form(o: &mut String, d: &Digest, ctx: &PageContext<'_>) {
    o.push_str("<form method=\"get\" action=\"digest\"><label>Period<select name=\"since\">");
    let mut found = false;
    for (v, label) in [
        ("24h", "last 24 hours"),
        ("7d", "last 7 days"),
        ("30d", "last 30 days"),
    ] {
        let sel = ctx.since == Some(v);
        found |= sel;
        let _ = write!(
            o,
            "<option value=\"{v}\"{}>{label}</option>",
            if sel { " selected" } else { "" }
        );
    }
    if let (false, Some(s)) = (found, ctx.since) {
        let s = escape_html(s);
        let _ = write!(o, "<option value=\"{s}\" selected>last {s}</option>");
    }
    o.push_str("</select></label><label>Watch<select name=\"watch\"><option value=\"\">all watches</option>");
    for w in ctx.known_watches {
        let sel = d.watches.len() == 1 && d.watches[0] == *w;
        let w = escape_html(w);
        let _ = write!(
            o,
            "<option value=\"{w}\"{}>{w}</option>",
            if sel { " selected" } else { "" }
        );
    }
    o.push_str("</select></label><button type=\"submit\">Show</button></form>");
}

fn summary(o: &mut String, d: &Digest) {
    let c = &d.current;
    let p = &d.previous;
    let before = " against the period before";
    let avg_change = match (c.average_compound, p.average_compound) {
        (Some(a), Some(b)) => format!("{:+.2}{before}", a - b),
        _ => "nothing to compare with".into(),
    };
    let acked = match d.acks.median_seconds {
        Some(s) => format!(
            "high or critical · {} acknowledged, median {}",
            d.acks.acknowledged,
            crate::digest::human_secs(s)
        ),
        None => format!("high or critical · {} acknowledged", d.acks.acknowledged),
    };
    let cards = [
        (
            c.mentions.to_string(),
            "mentions",
            format!("{}{before}", crate::digest::change(c.mentions, p.mentions)),
        ),
        (
            c.average_compound
                .map_or("none".to_string(), |v| format!("{v:+.2}")),
            "average sentiment",
            avg_change,
        ),
        (
            pct(c.negative, c.mentions),
            "negative",
            format!(
                "{} positive · {} neutral · {} negative",
                c.positive, c.neutral, c.negative
            ),
        ),
        (c.urgent.to_string(), "urgent", acked),
    ];
    o.push_str("<section class=\"cards\" id=\"summary\">");
    for (big, label, detail) in cards {
        let _ = write!(
            o,
            "<div class=\"card\"><b>{}</b><span>{label}</span><small>{}</small></div>",
            escape_html(&big),
            escape_html(&detail)
        );
    }
    o.push_str("</section>");
}

fn swatch(colour: &str, label: &str) -> String {
    format!("<li><span class=\"sw\" style=\"background:{colour}\"></span>{label}</li>")
}

fn mentions_table(o: &mut String, id: &str, title: &str, lines: &[Line]) {
    let _ = write!(o, "<section id=\"{id}\"><h2>{title}</h2>");
    if lines.is_empty() {
        o.push_str("<p>None.</p></section>");
        return;
    }
    o.push_str(
        // The mention first: on a phone it is what shows before the table scrolls.
        "<div class=\"scroll\"><table><thead><tr><th>Mention</th><th class=\"num\">Sentiment</th>\
         <th>Urgency</th><th>Source</th><th>Author</th><th>Seen (UTC)</th><th class=\"num\">Id</th>\
         </tr></thead><tbody>",
    );
    for l in lines {
        let what = l
            .title
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or(&l.text);
        let what = escape_html(&truncate(&one_line(what), 160, Units::Chars));
        let what = match l.url.as_deref().and_then(safe_url) {
            Some(u) => format!(
                "<a href=\"{}\" rel=\"noopener noreferrer nofollow\">{what}</a>",
                escape_html(u)
            ),
            None => what,
        };
        let class = match SentimentBucket::of(l.compound) {
            SentimentBucket::Negative => "num neg",
            SentimentBucket::Positive => "num pos",
            SentimentBucket::Neutral => "num",
        };
        let _ = write!(
            o,
            "<tr><td class=\"what\">{what}</td><td class=\"{class}\">{:+.2}</td>\
             <td class=\"nowrap\">{} {}</td><td>{}</td><td>{}</td><td class=\"nowrap\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            l.compound,
            escape_html(&l.level),
            l.urgency,
            escape_html(&truncate(&one_line(&l.source_id), 60, Units::Chars)),
            escape_html(&truncate(
                &one_line(l.author.as_deref().unwrap_or("")),
                60,
                Units::Chars
            )),
            l.seen_at.format("%Y-%m-%d %H:%M"),
            l.id,
        );
    }
    o.push_str("</tbody></table></div></section>");
}

fn counts_table(o: &mut String, id: &str, title: &str, what: &str, rows: &[Count]) {
    let _ = write!(o, "<section id=\"{id}\"><h2>{title}</h2>");
    if rows.is_empty() {
        o.push_str("<p>None.</p></section>");
        return;
    }
    let _ = write!(
        o,
        "<div class=\"scroll\"><table class=\"counts\"><thead><tr><th>{what}</th><th class=\"num\">Mentions</th></tr></thead><tbody>"
    );
    for r in rows {
        let _ = write!(
            o,
            "<tr><td class=\"what\">{}</td><td class=\"num\">{}</td></tr>",
            escape_html(&truncate(&one_line(&r.name), 80, Units::Chars)),
            r.mentions
        );
    }
    o.push_str("</tbody></table></div></section>");
}

/// The bars of the volume chart and their unit: the hours themselves, or days when the
/// period has more than [`MAX_HOURLY_BARS`] hours. A day starts at midnight UTC.
pub fn volume_buckets(hours: &[Hour]) -> (Vec<Hour>, &'static str) {
    if hours.len() <= MAX_HOURLY_BARS {
        return (hours.to_vec(), "hour");
    }
    let mut days: Vec<Hour> = Vec::new();
    for h in hours {
        let ts = h.hour.timestamp();
        let day = DateTime::from_timestamp(ts - ts.rem_euclid(86_400), 0).unwrap_or_default();
        match days.last_mut() {
            Some(d) if d.hour == day => {
                d.mentions += h.mentions;
                d.positive += h.positive;
                d.neutral += h.neutral;
                d.negative += h.negative;
            }
            _ => days.push(Hour { hour: day, ..*h }),
        }
    }
    (days, "day")
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `n` (at least 1): the top of a count axis.
pub fn nice_ceiling(n: i64) -> i64 {
    let mut step = 1i64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= n {
                return step.saturating_mul(m);
            }
        }
        if step > i64::MAX / 10 {
            return i64::MAX;
        }
        step *= 10;
    }
}

/// A percentage for an SVG coordinate: three decimals are finer than any screen.
fn p(x: f64) -> String {
    format!("{:.3}%", x)
}

const VOLUME_TOP: f64 = 14.0;
const VOLUME_PLOT: f64 = 160.0;
const VOLUME_HEIGHT: f64 = 196.0;

/// Mentions per bar (an hour or a day, see [`volume_buckets`]), stacked negative (bottom),
/// neutral, positive. Each bar is a `<g class="bar">` with `data-start`, `data-count`,
/// `data-positive`, `data-neutral` and `data-negative`, and a `<title>` for a tooltip.
pub fn volume_chart(bars: &[Hour], unit: &str) -> String {
    let max = bars.iter().map(|b| b.mentions).max().unwrap_or(0);
    let top = nice_ceiling(max);
    let total: i64 = bars.iter().map(|b| b.mentions).sum();
    let label = format!(
        "Mentions per {unit}: {total} in {} {unit}s, at most {max} in one",
        bars.len()
    );
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg class=\"chart\" id=\"chart-volume\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" \
         width=\"100%\" height=\"{VOLUME_HEIGHT}\" aria-label=\"{label}\" data-bars=\"{}\" data-max=\"{max}\">\
         <title>{label}</title>",
        bars.len(),
    );
    let base = VOLUME_TOP + VOLUME_PLOT;
    for (v, y) in [
        (top, VOLUME_TOP),
        (top / 2, VOLUME_TOP + VOLUME_PLOT / 2.0),
        (0, base),
    ] {
        // An odd top has no whole middle line.
        if v == top / 2 && top % 2 == 1 {
            continue;
        }
        let _ = write!(
            o,
            "<line class=\"grid\" x1=\"0\" x2=\"100%\" y1=\"{y}\" y2=\"{y}\"/>\
             <text x=\"0\" y=\"{}\">{v}</text>",
            y - 3.0
        );
    }
    let n = bars.len().max(1) as f64;
    let slot = 100.0 / n;
    let gap = if bars.len() > 60 { 0.1 } else { 0.2 };
    let fmt = if unit == "hour" {
        "%Y-%m-%d %H:00 UTC"
    } else {
        "%Y-%m-%d"
    };
    for (i, b) in bars.iter().enumerate() {
        let x = p(i as f64 * slot + slot * gap / 2.0);
        let w = p(slot * (1.0 - gap));
        let _ = write!(
            o,
            "<g class=\"bar\" data-start=\"{}\" data-count=\"{}\" data-positive=\"{}\" \
             data-neutral=\"{}\" data-negative=\"{}\"><title>{}: {} mention{} ({} positive, {} neutral, {} negative)</title>",
            rfc3339(b.hour),
            b.mentions,
            b.positive,
            b.neutral,
            b.negative,
            b.hour.format(fmt),
            b.mentions,
            if b.mentions == 1 { "" } else { "s" },
            b.positive,
            b.neutral,
            b.negative,
        );
        let mut y = base;
        for (count, colour, class) in [
            (b.negative, NEGATIVE, "negative"),
            (b.neutral, NEUTRAL, "neutral"),
            (b.positive, POSITIVE, "positive"),
        ] {
            if count <= 0 {
                continue;
            }
            let h = count as f64 / top as f64 * VOLUME_PLOT;
            y -= h;
            let _ = write!(
                o,
                "<rect class=\"{class}\" x=\"{x}\" width=\"{w}\" y=\"{y:.2}\" height=\"{h:.2}\" fill=\"{colour}\" data-count=\"{count}\"/>"
            );
        }
        o.push_str("</g>");
    }
    // Where the period starts, its middle and its end.
    if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
        let short = if unit == "hour" {
            "%d %b %H:00"
        } else {
            "%d %b"
        };
        let y = VOLUME_HEIGHT - 4.0;
        let _ = write!(
            o,
            "<text x=\"0\" y=\"{y}\">{}</text><text x=\"100%\" y=\"{y}\" text-anchor=\"end\">{}</text>",
            first.hour.format(short),
            last.hour.format(short)
        );
        if bars.len() >= 5 {
            let mid = &bars[bars.len() / 2];
            let _ = write!(
                o,
                "<text x=\"{}\" y=\"{y}\" text-anchor=\"middle\">{}</text>",
                p((bars.len() / 2) as f64 * slot + slot / 2.0),
                mid.hour.format(short)
            );
        }
    }
    o.push_str("</svg>");
    o
}

const SENTIMENT_HEIGHT: f64 = 184.0;
/// The zero line's height and the pixels from it to ±1.
const SENTIMENT_ZERO: f64 = 86.0;
const SENTIMENT_HALF: f64 = 72.0;

/// The average compound per day: a point per day with mentions (`<circle class="day">` with
/// `data-day`, `data-average`, `data-count`), joined where days follow each other, over lines
/// at +1, 0 and −1.
pub fn sentiment_chart(days: &[DayPoint]) -> String {
    let with_data = days.iter().filter(|d| d.average_compound.is_some()).count();
    let label = format!(
        "Average sentiment per day over {} days; {with_data} days with mentions",
        days.len()
    );
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg class=\"chart\" id=\"chart-sentiment\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" \
         width=\"100%\" height=\"{SENTIMENT_HEIGHT}\" aria-label=\"{label}\" data-points=\"{with_data}\">\
         <title>{label}</title>"
    );
    for (v, text) in [(1.0, "+1"), (0.0, "0"), (-1.0, "−1")] {
        let y = SENTIMENT_ZERO - v * SENTIMENT_HALF;
        let class = if v == 0.0 { "zero" } else { "grid" };
        let _ = write!(
            o,
            "<line class=\"{class}\" x1=\"0\" x2=\"100%\" y1=\"{y}\" y2=\"{y}\"/>\
             <text x=\"0\" y=\"{}\">{text}</text>",
            y - 3.0
        );
    }
    let slot = 100.0 / days.len().max(1) as f64;
    let at = |i: usize, v: f64| {
        (
            p(i as f64 * slot + slot / 2.0),
            SENTIMENT_ZERO - v.clamp(-1.0, 1.0) * SENTIMENT_HALF,
        )
    };
    // Lines first, so the points sit on top of them.
    for (i, w) in days.windows(2).enumerate() {
        if let (Some(a), Some(b)) = (w[0].average_compound, w[1].average_compound) {
            let ((x1, y1), (x2, y2)) = (at(i, a), at(i + 1, b));
            let _ = write!(
                o,
                "<line class=\"trend\" x1=\"{x1}\" y1=\"{y1:.2}\" x2=\"{x2}\" y2=\"{y2:.2}\"/>"
            );
        }
    }
    for (i, d) in days.iter().enumerate() {
        let Some(v) = d.average_compound else {
            continue;
        };
        let (x, y) = at(i, v);
        let colour = match SentimentBucket::of(v) {
            SentimentBucket::Positive => POSITIVE,
            SentimentBucket::Neutral => NEUTRAL,
            SentimentBucket::Negative => NEGATIVE,
        };
        let _ = write!(
            o,
            "<circle class=\"day\" cx=\"{x}\" cy=\"{y:.2}\" r=\"4\" fill=\"{colour}\" data-day=\"{}\" \
             data-average=\"{v:.3}\" data-count=\"{}\"><title>{}: average {v:+.2} over {} mention{}</title></circle>",
            d.day.format("%Y-%m-%d"),
            d.mentions,
            d.day.format("%Y-%m-%d"),
            d.mentions,
            if d.mentions == 1 { "" } else { "s" },
        );
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let y = SENTIMENT_HEIGHT - 4.0;
        let _ = write!(
            o,
            "<text x=\"0\" y=\"{y}\">{}</text><text x=\"100%\" y=\"{y}\" text-anchor=\"end\">{}</text>",
            first.day.format("%d %b"),
            last.day.format("%d %b")
        );
    }
    o.push_str("</svg>");
    o
}

/// The parts of the source split: the top sources, then "other sources" for the rest.
fn source_parts(top: &[Count], total: i64) -> Vec<(String, i64)> {
    let mut parts: Vec<(String, i64)> = top
        .iter()
        .filter(|c| c.mentions > 0)
        .map(|c| (c.name.clone(), c.mentions))
        .collect();
    let rest = total - parts.iter().map(|x| x.1).sum::<i64>();
    if rest > 0 {
        parts.push(("other sources".into(), rest));
    }
    parts
}

/// One horizontal bar split by source (`<rect class="source">` with `data-source` and
/// `data-count`), widths proportional to the mentions; the rest of `total` as "other sources".
pub fn source_chart(top: &[Count], total: i64) -> String {
    let parts = source_parts(top, total);
    let sum: i64 = parts.iter().map(|x| x.1).sum();
    let label = if parts.is_empty() {
        "Mentions by source: none".to_string()
    } else {
        format!(
            "Mentions by source: {}",
            parts
                .iter()
                .map(|(n, c)| format!("{} {c}", one_line(n)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let label = escape_html(&label);
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg class=\"chart\" id=\"chart-sources\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" \
         width=\"100%\" height=\"32\" aria-label=\"{label}\" data-parts=\"{}\"><title>{label}</title>",
        parts.len()
    );
    if sum == 0 {
        o.push_str(
            "<rect x=\"0\" y=\"2\" width=\"100%\" height=\"28\" fill=\"#eaeef2\"/>\
             <text x=\"50%\" y=\"21\" text-anchor=\"middle\">no mentions</text>",
        );
    }
    let mut x = 0.0;
    for (i, (name, n)) in parts.iter().enumerate() {
        let w = *n as f64 / sum.max(1) as f64 * 100.0;
        let name = escape_html(name);
        let _ = write!(
            o,
            "<rect class=\"source\" x=\"{}\" y=\"2\" width=\"{}\" height=\"28\" fill=\"{}\" \
             data-source=\"{name}\" data-count=\"{n}\"><title>{name}: {n}</title></rect>",
            p(x),
            p(w),
            PALETTE[i.min(PALETTE.len() - 1)],
        );
        x += w;
    }
    o.push_str("</svg>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nice_ceiling_table() {
        for (n, want) in [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 5),
            (5, 5),
            (6, 10),
            (11, 20),
            (99, 100),
            (101, 200),
            (4999, 5000),
        ] {
            assert_eq!(nice_ceiling(n), want, "{n}");
        }
    }

    #[test]
    fn csv_quotes_and_defuses() {
        for (input, want) in [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("a=b", "a=b"),
        ] {
            assert_eq!(csv_quote(&csv_text(input)), want, "{input:?}");
        }
    }

    #[test]
    fn digest_queries() {
        let now = t("2026-11-22T00:00:00Z").timestamp();
        let known = names(&["acme", "rival"]);
        let r = digest_request("", &known, now).unwrap();
        assert_eq!(
            (r.from, r.to),
            (t("2026-11-21T00:00:00Z"), t("2026-11-22T00:00:00Z"))
        );
        assert!(r.watches.is_empty());
        let r = digest_request("since=7d&watch=acme&watch=rival&watch=acme", &known, now).unwrap();
        assert_eq!(r.from, t("2026-11-15T00:00:00Z"));
        assert_eq!(r.watches, known);
        let r = digest_request(
            "from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00%2B01:00&watch=",
            &known,
            now,
        )
        .unwrap();
        assert_eq!(
            (r.from, r.to),
            (t("2026-11-01T00:00:00Z"), t("2026-11-01T23:00:00Z"))
        );
        assert!(r.watches.is_empty());
        assert_eq!(digest_request(&digest_query(&r), &known, now).unwrap(), r);

        for (q, needle) in [
            ("since=soon", "since"),
            ("since=0s", "between 1s"),
            ("since=4000d", "between 1s"),
            ("from=2026-11-01T00:00:00Z", "together"),
            ("since=1d&to=2026-11-01T00:00:00Z", "not both"),
            ("from=yesterday&to=2026-11-01T00:00:00Z", "RFC 3339"),
            ("from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "after"),
            ("since=1d&since=2d", "twice"),
            ("sinse=1d", "unknown parameter"),
        ] {
            match digest_request(q, &known, now) {
                Err(QueryError::Invalid(m)) => assert!(m.contains(needle), "{q}: {m}"),
                other => panic!("{q}: {other:?}"),
            }
        }
        assert_eq!(
            digest_request("watch=nope", &known, now)
                .unwrap_err()
                .to_string(),
            "watch \"nope\": no such watch (configured: acme, rival)"
        );
    }

    #[test]
    fn mention_queries() {
        let now = 1_000_000;
        let (w, s) = (names(&["acme", "rival"]), names(&["blog", "reddit"]));
        let f = mention_filter("", &w, &s, now).unwrap();
        assert_eq!(
            (f.watch, f.since, f.until, f.limit),
            (None, None, None, DEFAULT_CSV_ROWS)
        );
        let f = mention_filter(
            "watch=acme&source=blog&since=1h&min_urgency=HIGH&sentiment=negative&limit=7",
            &w,
            &s,
            now,
        )
        .unwrap();
        assert_eq!(f.watch.as_deref(), Some("acme"));
        assert!(f.watches.is_empty());
        assert_eq!(f.source.as_deref(), Some("blog"));
        assert_eq!(f.since, Some(now - 3600));
        assert_eq!(f.min_level, Some(Level::High));
        assert_eq!(f.sentiment, Some(SentimentBucket::Negative));
        assert_eq!(f.limit, 7);
        let f = mention_filter(
            "watch=acme&watch=rival&to=1970-01-01T00:00:10Z",
            &w,
            &s,
            now,
        )
        .unwrap();
        assert_eq!((f.watch, f.watches, f.until), (None, w.clone(), Some(10)));
        for (q, needle) in [
            ("limit=0", "from 1 to"),
            ("limit=lots", "from 1 to"),
            ("limit=10001", "from 1 to"),
            ("min_urgency=urgent", "low, normal, high or critical"),
            ("sentiment=angry", "positive, neutral or negative"),
            ("since=1d&from=1970-01-01T00:00:00Z", "not both"),
            ("format=json", "unknown parameter"),
        ] {
            match mention_filter(q, &w, &s, now) {
                Err(QueryError::Invalid(m)) => assert!(m.contains(needle), "{q}: {m}"),
                other => panic!("{q}: {other:?}"),
            }
        }
        assert!(matches!(
            mention_filter("source=twitter", &w, &s, now),
            Err(QueryError::Unknown { what: "source", .. })
        ));
    }

    fn hour(ts: &str, pos: i64, neu: i64, neg: i64) -> Hour {
        Hour {
            hour: t(ts),
            mentions: pos + neu + neg,
            positive: pos,
            neutral: neu,
            negative: neg,
        }
    }

    #[test]
    fn volume_chart_carries_its_data() {
        let bars = [
            hour("2026-11-21T09:00:00Z", 1, 0, 2),
            hour("2026-11-21T10:00:00Z", 0, 0, 0),
            hour("2026-11-21T11:00:00Z", 0, 1, 0),
        ];
        let svg = volume_chart(&bars, "hour");
        assert_eq!(svg.matches("<g class=\"bar\"").count(), 3);
        assert!(svg.contains("data-start=\"2026-11-21T09:00:00Z\" data-count=\"3\" data-positive=\"1\" data-neutral=\"0\" data-negative=\"2\""), "{svg}");
        // Top of the axis is 5 for a peak of 3: negative 2/5 of 160 px, positive 1/5.
        assert!(
            svg.contains(
                "class=\"negative\" x=\"3.333%\" width=\"26.667%\" y=\"110.00\" height=\"64.00\""
            ),
            "{svg}"
        );
        assert!(
            svg.contains(
                "class=\"positive\" x=\"3.333%\" width=\"26.667%\" y=\"78.00\" height=\"32.00\""
            ),
            "{svg}"
        );
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("<title>Mentions per hour: 4 in 3 hours, at most 3 in one</title>"));
    }

    #[test]
    fn long_periods_are_charted_by_day() {
        let hours: Vec<Hour> = (0..(15 * 24))
            .map(|i| Hour {
                hour: t("2026-11-01T00:00:00Z") + chrono::Duration::hours(i),
                mentions: 1,
                positive: 1,
                ..Default::default()
            })
            .collect();
        let (b, unit) = volume_buckets(&hours);
        assert_eq!((b.len(), unit), (15, "day"));
        assert!(b.iter().all(|d| d.mentions == 24 && d.positive == 24));
        assert_eq!(b[1].hour, t("2026-11-02T00:00:00Z"));
        let (b, unit) = volume_buckets(&hours[..14 * 24]);
        assert_eq!((b.len(), unit), (14 * 24, "hour"));
    }

    #[test]
    fn sentiment_chart_points_and_gaps() {
        let day = |i: i64, avg: Option<f64>| DayPoint {
            day: t("2026-11-01T00:00:00Z") + chrono::Duration::days(i),
            mentions: i64::from(avg.is_some()) * 2,
            average_compound: avg,
        };
        let days = [
            day(0, Some(0.5)),
            day(1, Some(-1.0)),
            day(2, None),
            day(3, Some(0.0)),
        ];
        let svg = sentiment_chart(&days);
        assert_eq!(svg.matches("<circle class=\"day\"").count(), 3);
        // Only days 0 and 1 follow each other.
        assert_eq!(svg.matches("class=\"trend\"").count(), 1);
        assert!(svg.contains("cx=\"12.500%\" cy=\"50.00\""), "{svg}");
        assert!(svg.contains("cx=\"37.500%\" cy=\"158.00\""), "{svg}");
        assert!(svg.contains("data-day=\"2026-11-02\" data-average=\"-1.000\" data-count=\"2\""));
        assert!(svg.contains("class=\"zero\""));
    }

    #[test]
    fn source_chart_splits_and_escapes() {
        let top = [
            Count {
                name: "blog".into(),
                mentions: 3,
            },
            Count {
                name: "<b>x</b>".into(),
                mentions: 1,
            },
        ];
        let svg = source_chart(&top, 8);
        assert_eq!(svg.matches("<rect class=\"source\"").count(), 3);
        assert!(
            svg.contains("x=\"0.000%\" y=\"2\" width=\"37.500%\""),
            "{svg}"
        );
        assert!(svg.contains("data-source=\"&lt;b&gt;x&lt;/b&gt;\" data-count=\"1\""));
        assert!(svg.contains("data-source=\"other sources\" data-count=\"4\""));
        assert!(!svg.contains("<b>"));
        assert!(source_chart(&[], 0).contains("no mentions"));
    }

    #[test]
    fn page_escapes_everything_a_user_wrote() {
        let line = Line {
            id: 7,
            watches: vec!["acme".into()],
            source_id: "<i>src</i>".into(),
            url: Some("javascript:alert(1)".into()),
            title: Some("<script>alert(1)</script>".into()),
            text: "x".into(),
            author: Some("\"><img src=x>".into()),
            compound: -0.8,
            urgency: 90,
            level: "critical".into(),
            seen_at: t("2026-11-21T09:00:00Z"),
        };
        let d = Digest {
            from: t("2026-11-21T00:00:00Z"),
            to: t("2026-11-22T00:00:00Z"),
            watches: vec!["a&b".into()],
            current: Default::default(),
            previous: Default::default(),
            hourly: vec![],
            most_negative: vec![line.clone()],
            most_urgent: vec![Line {
                url: Some("https://example.com/x?a=1&b='2'".into()),
                ..line
            }],
            top_sources: vec![],
            top_authors: vec![Count {
                name: "<u>dana</u>".into(),
                mentions: 1,
            }],
            rising_terms: vec![crate::digest::Term {
                term: "<i>rise</i>".into(),
                mentions: 3,
                previous: 0,
            }],
            acks: Default::default(),
            gaps: vec![crate::digest::Gap {
                source_id: "<b>src</b>".into(),
                from: t("2026-11-21T01:00:00Z"),
                to: None,
                seconds: 60,
                failures: 1,
                last_error: "<script>err</script>".into(),
            }],
            spikes: vec![crate::digest::SpikeLine {
                watch: "<b>acme</b>".into(),
                started_at: t("2026-11-21T14:10:00Z"),
                ended_at: Some(t("2026-11-21T15:50:00Z")),
                kinds: vec!["volume".into(), "negative".into()],
                peak: 64,
                usual: 7.5,
                window_secs: 3600,
            }],
        };
        let html = render_page(
            &d,
            &[],
            &PageContext {
                title: "<script>t</script>",
                known_watches: &names(&["a&b", "\"q\""]),
                since: Some("<x>"),
            },
        );
        for bad in [
            "<script",
            "<img",
            "<i>",
            "<b>src",
            "<u>",
            "javascript:",
            "\"q\"",
            "<x>",
        ] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("<h1>&lt;script&gt;t&lt;/script&gt;</h1>"));
        // Gaps come first, then the charts; rising terms are listed, escaped.
        let gaps = html.find("id=\"gaps\"").expect("a gaps section");
        assert!(gaps < html.find("id=\"volume\"").unwrap());
        let spikes = html.find("id=\"spikes\"").expect("a spikes section");
        assert!(gaps < spikes && spikes < html.find("id=\"volume\"").unwrap());
        assert!(html.contains(
            "&lt;b&gt;acme&lt;/b&gt;: from 2026-11-21 14:10 UTC for 1h40m, volume and negative \
             share; at its peak 64 mentions an hour (usually 7.5)"
        ));
        assert!(html.contains("&lt;b&gt;src&lt;/b&gt; was blind for 1m"));
        assert!(html.contains("<td class=\"what\">&lt;i&gt;rise&lt;/i&gt;</td>"));
        // A URL that is not http(s) is text only; a safe one is a link, escaped.
        assert_eq!(html.matches("<a href=\"https://example.com").count(), 1);
        assert!(html.contains("href=\"https://example.com/x?a=1&amp;b=&#39;2&#39;\""));
        assert!(html.contains("watch=a%26b"));
        assert!(html.contains("@media print"));
        assert!(html.contains("name=\"viewport\""));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn daily_series_covers_thirty_days() {
        let store = Store::open_in_memory().unwrap();
        let days = daily(&store, &[], t("2026-11-22T00:00:00Z")).unwrap();
        assert_eq!(days.len(), DAYS);
        assert_eq!(days[0].day, t("2026-10-23T00:00:00Z"));
        assert_eq!(days[DAYS - 1].day, t("2026-11-21T00:00:00Z"));
        assert!(
            days.iter()
                .all(|d| d.mentions == 0 && d.average_compound.is_none())
        );
        let days = daily(&store, &[], t("2026-11-22T00:00:01Z")).unwrap();
        assert_eq!(days[DAYS - 1].day, t("2026-11-22T00:00:00Z"));
    }
}
