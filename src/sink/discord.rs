//! Discord webhooks with one embed.
//!
//! Upstream: <https://discord.com/developers/docs/resources/webhook#execute-webhook>, embed limits
//! <https://discord.com/developers/docs/resources/message#embed-object-embed-limits>, rate limits
//! <https://discord.com/developers/docs/topics/rate-limits>.
//!
//! Safety: `allowed_mentions: {"parse": []}` on every message, so nothing pings even if it
//! renders. On top, every user-text field is markdown-escaped (a backslash before `\ * _ ~ ` | >
//! < # - [ ] ( ) : +`, and before the `.` of a line-leading `1.`), so a mention cannot render a
//! header, a masked link `[trusted](https://evil)` or a spoiler; and a zero-width space goes after
//! the `@` of `@everyone`, `@here` and `<@…>`, so the text does not even look like a ping.
//!
//! Limits are counted in UTF-16 units (Discord measures JavaScript string lengths; an emoji is 2),
//! after escaping. The description is capped at 2,000 for readability, below the 4,096 limit,
//! and shrinks further if the 6,000 total across the embed would be exceeded.
//!
//! Acknowledge: webhook messages have no link buttons, so the alert's ack link (a [`safe_url`])
//! is a masked link `[Acknowledge](…)` on the last line of the description, whose room is
//! reserved before the excerpt is cut.
//!
//! Edits: `PATCH {webhook}/messages/{id}` (same query `thread_id`, no `wait`), upstream
//! <https://discord.com/developers/docs/resources/webhook#edit-webhook-message>, with the same
//! body less `username`. The id comes from the `?wait=true` reply's `id` and must be a
//! snowflake (digits). A deleted message is 404 Unknown Message: permanent.
//!
//! We post with `?wait=true` so that a 200 with the message confirms delivery, and read the
//! bucket headers: `X-RateLimit-Remaining: 0` plus `X-RateLimit-Reset-After` becomes
//! [`Sent::wait_before_next`]; a 429's JSON `retry_after` (float seconds) and `Retry-After` header
//! become the retry wait.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use earshot_connectors::ratelimit::{MAX_RETRY_AFTER, retry_after};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::text::{Count, escape_fit, link_target, one_line, safe_url, tidy_block};
use super::{
    MAX_SUCCESS_BODY, Retry, SendError, Sent, read_reply_max, reply_error, transport_error,
};
use crate::alert::Alert;
use crate::secret::SecretValue;
use crate::urgency::Level;

pub const CONTENT_MAX: usize = 2000;
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
pub const FOOTER_MAX: usize = 2048;
/// Across title, description, field names and values, footer and author of all embeds.
pub const EMBED_TOTAL_MAX: usize = 6000;
pub const USERNAME_MAX: usize = 80;

/// Our own caps, below the platform's, so a message stays readable.
const DESCRIPTION_CAP: usize = 2000;
const SHORT_FIELD_CAP: usize = 256;

/// A Discord webhook.
#[derive(Debug, Clone)]
pub struct Discord {
    pub(crate) id: String,
    /// The webhook URL (with its token), `wait=true` already added.
    url: SecretValue,
    /// Shown as the poster; the webhook's own name when unset.
    username: Option<String>,
    pub(crate) pace: Option<f64>,
}

impl Discord {
    /// Checks the username and adds `wait=true` to the URL, keeping any other query parameter
    /// (`thread_id`). Errors never quote the URL.
    pub fn new(
        id: &str,
        url: SecretValue,
        username: Option<String>,
        pace: Option<f64>,
    ) -> Result<Discord, String> {
        if let Some(u) = &username {
            check_username(u)?;
        }
        let url = with_wait(url.expose()).ok_or("`url` is not a valid URL")?;
        Ok(Discord {
            id: id.to_string(),
            url: SecretValue::new(url),
            username,
            pace,
        })
    }

    /// The JSON body for one alert. Pure.
    pub fn render(&self, alert: &Alert) -> Value {
        let mut body = render(alert);
        if let (Some(u), Some(obj)) = (&self.username, body.as_object_mut()) {
            obj.insert("username".into(), Value::String(u.clone()));
        }
        body
    }

    pub(crate) async fn send(
        &self,
        client: &super::Outbound,
        alert: &Alert,
    ) -> Result<Sent, SendError> {
        let req = client
            .to(self.url.expose())?
            .post(self.url.expose())
            .json(&self.render(alert));
        self.finish(req, client.now()).await
    }

    /// `PATCH {webhook}/messages/{id}` with the same render, less `username` (an edit may not
    /// change the poster). `message_ref` must be a snowflake: anything else is refused before any
    /// request, as it would go into the URL.
    pub(crate) async fn edit(
        &self,
        client: &super::Outbound,
        message_ref: &str,
        alert: &Alert,
    ) -> Result<Sent, SendError> {
        if !is_snowflake(message_ref) {
            return Err(SendError {
                retry: Retry::Never,
                status: None,
                message: "not a Discord message id (a snowflake: digits only)".into(),
            });
        }
        let Some(url) = edit_url(self.url.expose(), message_ref) else {
            return Err(SendError {
                retry: Retry::Never,
                status: None,
                message: "the webhook URL cannot take a message path".into(),
            });
        };
        let req = client.to(&url)?.patch(&url).json(&render(alert));
        self.finish(req, client.now()).await
    }

    /// Sends `req` and reads the reply: the message id and the bucket on success, the wait and
    /// the classification on failure. Shared by send and edit, which have the same limits.
    async fn finish(
        &self,
        req: reqwest::RequestBuilder,
        now: DateTime<Utc>,
    ) -> Result<Sent, SendError> {
        let secret = self.url.expose();
        let resp = req.send().await.map_err(|e| transport_error(e, secret))?;
        let reply = read_reply_max(resp, secret, MAX_SUCCESS_BODY).await?;
        if reply.is_success() {
            return Ok(Sent {
                wait_before_next: bucket_wait(&reply.headers),
                message_ref: message_id(&reply.body),
            });
        }
        let wait = if reply.status == 429 {
            rate_limited_wait(&reply.headers, &reply.body, now)
        } else {
            retry_after(&reply.headers, now)
        };
        Err(reply_error(&reply, wait, secret))
    }
}

/// A Discord snowflake as text: 1 to 20 ASCII digits (a `u64`).
pub fn is_snowflake(s: &str) -> bool {
    (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The `id` of the message in a `?wait=true` reply body, when it is a snowflake.
pub fn message_id(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let id = v.get("id")?.as_str()?;
    is_snowflake(id).then(|| id.to_string())
}

/// `{webhook URL without query}/messages/{id}`, keeping `thread_id` (a message in a thread is
/// only found with it) and dropping `wait` and anything else.
pub fn edit_url(webhook: &str, message_id: &str) -> Option<String> {
    let mut u = url::Url::parse(webhook).ok()?;
    let thread: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k == "thread_id")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    u.set_query(None);
    u.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(["messages", message_id]);
    if !thread.is_empty() {
        u.query_pairs_mut().extend_pairs(thread);
    }
    Some(u.into())
}

/// Discord refuses webhook names containing "discord" or "clyde", and longer than 80.
pub fn check_username(u: &str) -> Result<(), String> {
    let lower = u.to_lowercase();
    let n = u.trim().chars().count();
    if n == 0 || n > USERNAME_MAX {
        return Err(format!("`username` must be 1 to {USERNAME_MAX} characters"));
    }
    if lower.contains("discord") || lower.contains("clyde") {
        return Err(
            "`username` may not contain \"discord\" or \"clyde\" (Discord rejects it)".into(),
        );
    }
    if matches!(lower.trim(), "everyone" | "here") {
        return Err("`username` may not be \"everyone\" or \"here\"".into());
    }
    Ok(())
}

/// The URL with `wait=true` (replacing any other `wait`), other parameters kept in order.
pub fn with_wait(url: &str) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != "wait")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        q.append_pair("wait", "true");
    }
    Some(u.into())
}

/// After a success: wait for the bucket to reset when it is empty.
pub fn bucket_wait(headers: &HeaderMap) -> Option<Duration> {
    let remaining = header_str(headers, "x-ratelimit-remaining")?;
    if remaining.trim() != "0" {
        return None;
    }
    header_secs(headers, "x-ratelimit-reset-after")
}

/// After a 429: the longest of the body's `retry_after`, `Retry-After` and
/// `X-RateLimit-Reset-After`, so that we never come back too early.
pub fn rate_limited_wait(headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Option<Duration> {
    let from_body = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after").and_then(Value::as_f64))
        .and_then(secs);
    [
        from_body,
        retry_after(headers, now),
        header_secs(headers, "x-ratelimit-reset-after"),
    ]
    .into_iter()
    .flatten()
    .max()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn header_secs(headers: &HeaderMap, name: &str) -> Option<Duration> {
    header_str(headers, name)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(secs)
}

/// Seconds (float) as a duration, capped like `Retry-After`; nonsense is ignored.
fn secs(s: f64) -> Option<Duration> {
    (s.is_finite() && s >= 0.0)
        .then(|| Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64())))
}

/// Escapes one character of user text for Discord markdown.
pub fn markdown(chars: &[char], i: usize, out: &mut String) {
    let c = chars[i];
    match c {
        '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '#' | '-' | '[' | ']' | '(' | ')'
        | ':' | '+' => {
            out.push('\\');
            out.push(c);
        }
        '.' if after_line_leading_digits(chars, i) => out.push_str("\\."),
        '@' => {
            out.push('@');
            if looks_like_ping(chars, i) {
                out.push('\u{200B}');
            }
        }
        c => out.push(c),
    }
}

/// True for the `.` in a line-leading `12.` (an ordered list).
fn after_line_leading_digits(chars: &[char], i: usize) -> bool {
    let mut j = i;
    while j > 0 && chars[j - 1].is_ascii_digit() {
        j -= 1;
    }
    j < i && (j == 0 || chars[j - 1] == '\n')
}

/// True for the `@` of `@everyone`, `@here` (any case) or `<@…>`.
fn looks_like_ping(chars: &[char], i: usize) -> bool {
    let rest = |word: &str| {
        let mut k = i + 1;
        word.chars().all(|w| {
            let ok = chars.get(k).is_some_and(|c| c.to_ascii_lowercase() == w);
            k += 1;
            ok
        })
    };
    (i > 0 && chars[i - 1] == '<') || rest("everyone") || rest("here")
}

fn esc(s: &str, limit: usize) -> String {
    escape_fit(s, limit, Count::Utf16, markdown)
}

fn field(name: &str, value: &str, cap: usize, inline: bool) -> Value {
    json!({"name": name, "value": esc(value, cap.min(FIELD_VALUE_MAX)), "inline": inline})
}

/// Embed side colour by level.
pub fn color(level: Level) -> u32 {
    match level {
        Level::Low => 0x95A5A6,
        Level::Normal => 0x3498DB,
        Level::High => 0xF39C12,
        Level::Critical => 0xE74C3C,
    }
}

fn units(v: &Value) -> usize {
    v.as_str().map_or(0, |s| Count::Utf16.len(s))
}

/// The body for one alert, without the username. Pure.
pub fn render(alert: &Alert) -> Value {
    let watch = one_line(&alert.watch);
    let title = alert
        .title
        .as_deref()
        .map(one_line)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("New {} on {}", alert.kind.as_str(), alert.source_kind));

    let (author, reach) = super::author_parts(alert);
    let mut fields = vec![field("Watch", &watch, SHORT_FIELD_CAP, true)];
    fields.extend(super::source_fact(alert).map(|s| field("Source", &s, SHORT_FIELD_CAP, true)));
    if let Some(a) = author {
        let shown = match reach {
            Some(r) => format!("{a} · {r}"),
            None => a,
        };
        fields.push(field("Author", &shown, SHORT_FIELD_CAP, true));
    }
    fields
        .extend(super::urgency_fact(alert).map(|(name, v)| field(name, &v, SHORT_FIELD_CAP, true)));
    fields.extend(
        super::sentiment_fact(alert).map(|v| field("Sentiment", &v, SHORT_FIELD_CAP, true)),
    );
    let reasons: Vec<String> = alert
        .reasons
        .iter()
        .map(|r| one_line(r))
        .filter(|r| !r.is_empty())
        .collect();
    if !reasons.is_empty() {
        fields.push(field("Why", &reasons.join("\n"), FIELD_VALUE_MAX, false));
    }

    let mut embed = json!({
        "title": esc(&title, TITLE_MAX),
        "color": color(alert.level),
        "fields": fields,
        "footer": {"text": esc(&format!("earshot · {}", alert.id), SHORT_FIELD_CAP.min(FOOTER_MAX))},
    });
    // Whatever is left of the 6,000 total goes to the description, up to our cap.
    let used = units(&embed["title"])
        + units(&embed["footer"]["text"])
        + embed["fields"].as_array().map_or(0, |fs| {
            fs.iter()
                .map(|f| units(&f["name"]) + units(&f["value"]))
                .sum()
        });
    // The ack link is ours and goes last in the description, whole: the excerpt gives way to it.
    let ack = super::ack_url(alert).map(|u| format!("[{}]({})", super::ACK_LABEL, link_target(u)));
    let ack_units = ack.as_deref().map_or(0, |a| Count::Utf16.len(a) + 2);
    let room = EMBED_TOTAL_MAX
        .saturating_sub(used + ack_units)
        .min(DESCRIPTION_CAP)
        .min(DESCRIPTION_MAX.saturating_sub(ack_units));
    let excerpt = esc(&tidy_block(&alert.text), room);
    let description = match ack {
        Some(a) if excerpt.is_empty() => a,
        Some(a) => format!("{excerpt}\n\n{a}"),
        None => excerpt,
    };
    if let Some(obj) = embed.as_object_mut() {
        if !description.is_empty() {
            obj.insert("description".into(), Value::String(description));
        }
        if let Some(u) = alert.url.as_deref().and_then(safe_url) {
            obj.insert("url".into(), Value::String(u.to_string()));
        }
        if let Some(t) = alert.created_at {
            obj.insert(
                "timestamp".into(),
                Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            );
        }
    }

    json!({
        "content": esc(&super::heading_of(alert), CONTENT_MAX.min(200)),
        "allowed_mentions": {"parse": []},
        "embeds": [embed],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_link_is_whole_and_the_embed_within_its_limits() {
        let ack = "https://earshot.example.com/ack?m=12&exp=1&sig=".to_string() + &"a".repeat(1900);
        for text in ["😀".repeat(5000), "*".repeat(5000), String::new()] {
            let mut a = Alert::sample();
            a.text = text;
            a.reasons = vec!["r".repeat(2000); 3];
            a.ack_url = Some(ack.clone());
            let v = render(&a);
            let e = &v["embeds"][0];
            let d = e["description"].as_str().unwrap();
            assert!(d.ends_with(&format!("[Acknowledge]({ack})")), "{d}");
            assert!(Count::Utf16.len(d) <= DESCRIPTION_MAX);
            let fields: usize = e["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| units(&f["name"]) + units(&f["value"]))
                .sum();
            let total = units(&e["title"])
                + units(&e["description"])
                + units(&e["footer"]["text"])
                + fields;
            assert!(total <= EMBED_TOTAL_MAX, "{total}");
        }
    }

    #[test]
    fn edit_url_table() {
        let cases: &[(&str, &str)] = &[
            (
                "https://d.example/api/webhooks/1/tok?wait=true",
                "https://d.example/api/webhooks/1/tok/messages/99",
            ),
            (
                "https://d.example/api/webhooks/1/tok/?thread_id=5&wait=true",
                "https://d.example/api/webhooks/1/tok/messages/99?thread_id=5",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(edit_url(input, "99").as_deref(), Some(*want));
        }
        assert!(is_snowflake("1234567890123456789"));
        for bad in ["", "1a", "-1", "١٢", &"1".repeat(21)] {
            assert!(!is_snowflake(bad), "{bad:?}");
        }
    }

    #[test]
    fn markdown_table() {
        let cases: &[(&str, &str)] = &[
            ("@everyone", "@\u{200B}everyone"),
            ("@HERE now", "@\u{200B}HERE now"),
            ("dana@example.com", "dana@example.com"),
            ("<@123>", "\\<@\u{200B}123\\>"),
            ("<@&9>", "\\<@\u{200B}&9\\>"),
            ("<#1>", "\\<\\#1\\>"),
            ("[x](https://evil)", "\\[x\\]\\(https\\://evil\\)"),
            ("**b**", "\\*\\*b\\*\\*"),
            ("||s||", "\\|\\|s\\|\\|"),
            (
                "# h\n-# sub\n1. one\n> q",
                "\\# h\n\\-\\# sub\n1\\. one\n\\> q",
            ),
            ("v1.2", "v1.2"),
            ("a\\b", "a\\\\b"),
        ];
        for (input, want) in cases {
            assert_eq!(
                escape_fit(input, 1000, Count::Utf16, markdown),
                *want,
                "{input:?}"
            );
        }
    }

    #[test]
    fn cut_never_leaves_a_lone_backslash() {
        let got = esc("aaaa*bbbb", 6);
        assert_eq!(got, "aaaa…");
    }

    #[test]
    fn wait_true_keeps_other_params() {
        let cases: &[(&str, &str)] = &[
            (
                "https://d.example/api/webhooks/1/tok",
                "https://d.example/api/webhooks/1/tok?wait=true",
            ),
            (
                "https://d.example/api/webhooks/1/tok?thread_id=5",
                "https://d.example/api/webhooks/1/tok?thread_id=5&wait=true",
            ),
            (
                "https://d.example/api/webhooks/1/tok?wait=false&thread_id=5",
                "https://d.example/api/webhooks/1/tok?thread_id=5&wait=true",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(with_wait(input).as_deref(), Some(*want));
        }
    }

    #[test]
    fn username_rules() {
        let cases: &[(&str, bool)] = &[
            ("Mention Monitor", true),
            ("earshot", true),
            ("My Discord Bot", false),
            ("clyde", false),
            ("everyone", false),
            ("", false),
            (&"x".repeat(81), false),
        ];
        for (name, ok) in cases {
            assert_eq!(check_username(name).is_ok(), *ok, "{name:?}");
        }
    }

    #[test]
    fn rate_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert("x-ratelimit-reset-after", "1.5".parse().unwrap());
        assert_eq!(bucket_wait(&h), Some(Duration::from_millis(1500)));
        h.insert("x-ratelimit-remaining", "3".parse().unwrap());
        assert_eq!(bucket_wait(&h), None);

        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let body =
            br#"{"message":"You are being rate limited.","retry_after":64.57,"global":false}"#;
        let w = rate_limited_wait(&HeaderMap::new(), body, now).unwrap();
        assert_eq!(w.as_millis(), 64570);
        let mut h = HeaderMap::new();
        h.insert("retry-after", "65".parse().unwrap());
        assert_eq!(
            rate_limited_wait(&h, body, now),
            Some(Duration::from_secs(65))
        );
        assert_eq!(rate_limited_wait(&HeaderMap::new(), b"not json", now), None);
    }
}
