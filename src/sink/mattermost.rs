//! Mattermost incoming webhooks, with one Slack-style attachment.
//!
//! Upstream: <https://developers.mattermost.com/integrate/webhooks/incoming/>, attachments
//! <https://developers.mattermost.com/integrate/reference/message-attachments/>, formatting
//! <https://docs.mattermost.com/collaborate/format-messages.html>, rate limiting
//! <https://docs.mattermost.com/configure/environment-configuration-settings.html#rate-limiting>.
//!
//! Layout: `text` is a small heading (`#### Critical mention · acme`); one attachment carries the
//! colour of the level, the title linked to the mention (only a [`safe_url`]), the excerpt, the
//! author (`author_name`, with reach), fields (watch, source, urgency, sentiment, reasons), a
//! footer and `ts` (the mention's time). Mattermost's attachment buttons need an interactive
//! integration behind them, so there is no "Open" button: the linked title is the way in. For the
//! same reason the alert's ack link (a [`safe_url`]) is a Markdown link `[Acknowledge](…)` on the
//! line under the heading.
//! `username` only shows when the admin turned on EnablePostUsernameOverride.
//!
//! Escaping: `text`, the attachment's `text`, `title` and field values are Markdown, and
//! `@channel`, `@all`, `@here` and `@user` in `text` and attachment `text` DO notify. Every
//! Markdown-special ASCII character of user text gets a backslash (`` \ * _ ` | > < [ ] ( ) ! - +
//! = $ & # ~ ``; `\&` keeps `&#x202E;` from decoding into a bidi control), and a zero-width space
//! goes after every `@` (mentions), `~` (channel links), `#` (hashtags) and the `.` of a domain
//! or of a line-leading `1.`, and before every `:` (so `javascript:`, `https://` and `:emoji:`
//! never form). Mattermost finds
//! mentions, channel links and hashtags in the text *after* Markdown, where a backslash is gone:
//! the zero-width space is what stops them. `author_name` and `fallback` are plain text: they get
//! only the zero-width spaces ([`plain`]), so a name like `dana_smith` shows as written.
//!
//! Limits: post `text` 16,383 characters (Mattermost 5.0+; 4,000 before); older servers refused
//! attachments over 7,900 characters in all (`Maximum attachments length is 7900 characters`).
//! Both are counted in characters after escaping, the attachments as their serialized JSON
//! (keys, quotes and the backslashes JSON adds included): a safe over-count. The excerpt takes
//! what room is left, up to our own cap.
//!
//! Rate: only when the admin turned RateLimitSettings on (default 10 requests/s per IP, burst
//! 100); then replies carry `X-RateLimit-*`, and a 429 `Retry-After` and `X-RateLimit-Reset`.
//! Success is `200` with the body `ok`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use earshot_connectors::ratelimit::{parse_rate_limit, retry_after};
use serde_json::{Value, json};

use super::text::{
    self, Count, after_line_leading_digits, escape_fit, is_domain_dot, link_target, one_line,
    safe_url, tidy_block,
};
use super::{SendError, Sent, SinkError, post_json, reply_error, resolve_url};
use crate::alert::Alert;
use crate::config::SinkConfig;
use crate::secret::SecretValue;

/// Messages per second when `max_per_second` is not set. Mattermost only limits when the admin
/// turns RateLimitSettings on, and its default then is 10 per second per IP (burst 100). One
/// sink posting alerts needs nothing near that, but other integrations on the same host share
/// the budget: the default stays at Mattermost's own number and `max_per_second` lowers it.
pub const DEFAULT_PACE: f64 = 10.0;

/// Post `text`, in characters (Mattermost 5.0 and later).
pub const TEXT_MAX: usize = 16_383;
/// All attachments together, in characters (older servers refuse more).
pub const ATTACHMENTS_MAX: usize = 7_900;
/// `username` override: Mattermost's username length.
pub const USERNAME_MAX: usize = 64;

/// Our own caps, below the platform's, so a message stays readable.
const HEADING_CAP: usize = 300;
const TITLE_CAP: usize = 300;
const EXCERPT_CAP: usize = 3000;
const FIELD_VALUE_CAP: usize = 300;
const REASONS_CAP: usize = 600;
const AUTHOR_CAP: usize = 200;
const FALLBACK_CAP: usize = 300;

/// A Mattermost incoming webhook.
#[derive(Debug, Clone)]
pub struct Mattermost {
    pub(crate) id: String,
    /// `https://{server}/hooks/{key}`: the URL is the credential.
    url: SecretValue,
    /// Shown as the poster when the server allows overrides (EnablePostUsernameOverride).
    username: Option<String>,
    pub(crate) pace: Option<f64>,
}

impl Mattermost {
    /// Builds the sink, reading its secrets now; errors name the key, never a secret's value.
    pub fn from_config(cfg: &SinkConfig) -> Result<Mattermost, SinkError> {
        let err = |message: &str| SinkError {
            id: cfg.id.clone(),
            message: message.to_string(),
        };
        let url = resolve_url(cfg, "mattermost")?;
        if !has_hook_path(url.expose(), 1) {
            return Err(err(
                "`url` is not a Mattermost incoming webhook (https://<server>/hooks/<key>)",
            ));
        }
        if let Some(u) = &cfg.username {
            check_username(u).map_err(|m| err(&m))?;
        }
        Ok(Mattermost {
            id: cfg.id.clone(),
            url,
            username: cfg.username.clone(),
            pace: cfg.max_per_second,
        })
    }

    pub(crate) async fn send(
        &self,
        client: &super::Outbound,
        alert: &Alert,
    ) -> Result<Sent, SendError> {
        let reply = post_json(client, &self.url, &self.render(alert)).await?;
        let budget = budget_wait(&reply.headers, client.now());
        if reply.is_success() {
            return Ok(Sent {
                wait_before_next: budget,
                message_ref: None,
            });
        }
        // A 429 says `Retry-After` and `X-RateLimit-Reset`: wait for the longer.
        let wait = [retry_after(&reply.headers, client.now()), budget]
            .into_iter()
            .flatten()
            .max();
        Err(reply_error(&reply, wait, self.url.expose()))
    }

    /// Exactly the body `send` posts.
    pub fn render(&self, alert: &Alert) -> Value {
        let mut body = render(alert);
        if let (Some(u), Some(obj)) = (&self.username, body.as_object_mut()) {
            obj.insert("username".into(), Value::String(u.clone()));
        }
        body
    }
}

/// True when the URL's path has a `hooks` segment followed by at least `after` more segments.
/// Shared with Rocket.Chat (`/hooks/{id}/{token}`). Says nothing about the URL in errors.
pub(crate) fn has_hook_path(url: &str, after: usize) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let segs: Vec<&str> = u.path().split('/').filter(|s| !s.is_empty()).collect();
    segs.iter()
        .position(|s| *s == "hooks")
        .is_some_and(|p| segs.len() > p + after)
}

/// A poster name: 1 to [`USERNAME_MAX`] characters of one line.
pub fn check_username(u: &str) -> Result<(), String> {
    let n = u.trim().chars().count();
    if n == 0 || n > USERNAME_MAX || one_line(u) != u.trim() {
        return Err(format!(
            "`username` must be 1 to {USERNAME_MAX} characters on one line"
        ));
    }
    Ok(())
}

/// Escapes one character of user text for Mattermost Markdown.
pub fn markdown(chars: &[char], i: usize, out: &mut String) {
    let c = chars[i];
    match c {
        '\\' | '*' | '_' | '`' | '|' | '>' | '<' | '[' | ']' | '(' | ')' | '!' | '-' | '+'
        | '=' | '$' | '&' => {
            out.push('\\');
            out.push(c);
        }
        '#' | '~' => {
            out.push('\\');
            out.push(c);
            out.push('\u{200B}');
        }
        '.' if after_line_leading_digits(chars, i) => out.push_str(".\u{200B}"),
        '@' | ':' | '.' => plain(chars, i, out),
        _ => out.push(c),
    }
}

/// Plain-text fields (`author_name`, `fallback`): nothing is Markdown there, but a name must
/// still not look like a mention, channel link, hashtag, spoofed link or URL.
pub fn plain(chars: &[char], i: usize, out: &mut String) {
    let c = chars[i];
    match c {
        // Before the colon: `javascript:`, `https://` and `:emoji:` all lose their shape.
        ':' => out.push_str("\u{200B}:"),
        '@' | '~' | '#' | '|' => {
            out.push(c);
            out.push('\u{200B}');
        }
        '.' if is_domain_dot(chars, i) => out.push_str(".\u{200B}"),
        _ => out.push(c),
    }
}

fn esc(s: &str, limit: usize) -> String {
    escape_fit(s, limit, Count::Chars, markdown)
}

fn field(title: &str, value: &str, cap: usize, short: bool) -> Value {
    json!({"short": short, "title": title, "value": esc(value, cap)})
}

/// Characters of the attachments as sent (serialized JSON).
fn attachments_len(attachments: &Value) -> usize {
    Count::Chars.len(&attachments.to_string())
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
    let url = alert.url.as_deref().and_then(safe_url);

    let heading = format!(
        "#### {}",
        esc(&super::heading(alert), HEADING_CAP.min(TEXT_MAX - 5))
    );

    let mut fields = vec![field("Watch", &watch, FIELD_VALUE_CAP, true)];
    fields.extend(super::source_fact(alert).map(|s| field("Source", &s, FIELD_VALUE_CAP, true)));
    fields
        .extend(super::urgency_fact(alert).map(|(name, v)| field(name, &v, FIELD_VALUE_CAP, true)));
    fields.extend(
        super::sentiment_fact(alert).map(|v| field("Sentiment", &v, FIELD_VALUE_CAP, true)),
    );
    let reasons: Vec<String> = alert
        .reasons
        .iter()
        .map(|r| one_line(r))
        .filter(|r| !r.is_empty())
        .collect();
    if !reasons.is_empty() {
        fields.push(field("Why", &reasons.join(" · "), REASONS_CAP, false));
    }

    let mut att = json!({
        "fallback": escape_fit(
            &format!("{}: {title}", super::heading_of(alert)),
            FALLBACK_CAP,
            Count::Chars,
            plain,
        ),
        "color": color(alert),
        "title": esc(&title, TITLE_CAP),
        "fields": fields,
        "footer": match alert.source_kind.as_str() {
            crate::alert::EARSHOT_SOURCE => crate::alert::EARSHOT_SOURCE.to_string(),
            kind => format!("earshot · {}", text::one_line(kind)),
        },
    });
    if let Some(obj) = att.as_object_mut() {
        if let Some(u) = url {
            obj.insert("title_link".into(), Value::String(u.to_string()));
        }
        let (author, reach) = super::author_parts(alert);
        if let Some(a) = author {
            let shown = match reach {
                Some(r) => format!("{a} · {r}"),
                None => a,
            };
            obj.insert(
                "author_name".into(),
                Value::String(escape_fit(&shown, AUTHOR_CAP, Count::Chars, plain)),
            );
        }
        if let Some(t) = alert.created_at {
            obj.insert("ts".into(), Value::from(t.timestamp()));
        }
    }

    // The excerpt gets what is left of the attachments' budget, up to our cap. Escaping and JSON
    // both grow it by amounts that depend on the text, so search for the largest room that fits.
    // Escaping never shrinks text: cap+1 input characters are enough to decide every cut.
    let block: String = tidy_block(&alert.text)
        .chars()
        .take(EXCERPT_CAP + 1)
        .collect();
    let with_excerpt = |room: usize| {
        let excerpt = esc(&block, room);
        let mut a = att.clone();
        if !excerpt.is_empty()
            && let Some(obj) = a.as_object_mut()
        {
            obj.insert("text".into(), Value::String(excerpt));
        }
        Value::Array(vec![a])
    };
    let fits = |v: &Value| attachments_len(v) <= ATTACHMENTS_MAX;
    let mut best = with_excerpt(EXCERPT_CAP);
    if !fits(&best) {
        // Invariant: room `lo` fits (0 always does: our own parts are capped well below), `hi`
        // does not.
        let (mut lo, mut hi) = (0, EXCERPT_CAP);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(&with_excerpt(mid)) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        best = with_excerpt(lo);
    }
    // No link buttons without an interactive integration: the ack link is a Markdown link under
    // the heading. Post text has room to spare (16,383), so it never competes with the excerpt.
    let text = match super::ack_url(alert) {
        Some(u) => format!("{heading}\n[{}]({})", super::ACK_LABEL, link_target(u)),
        None => heading,
    };
    json!({"text": text, "attachments": best})
}

/// `#E74C3C`: Discord's palette for the level, as Mattermost wants it.
pub(crate) fn color(alert: &Alert) -> String {
    format!("#{:06X}", super::discord::color(alert.level))
}

/// After a success: when the server's limiter says the budget is spent, how long to wait.
pub fn budget_wait(headers: &reqwest::header::HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    parse_rate_limit(headers, now).and_then(|r| r.wait())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_table() {
        let z = '\u{200B}';
        let cases: Vec<(&str, String)> = vec![
            ("@channel", format!("@{z}channel")),
            ("@ALL @here", format!("@{z}ALL @{z}here")),
            ("dana@example.com", format!("dana@{z}example.{z}com")),
            ("javascript:x", format!("javascript{z}:x")),
            ("~town-square", format!("\\~{z}town\\-square")),
            ("#general", format!("\\#{z}general")),
            ("**b** _i_", "\\*\\*b\\*\\* \\_i\\_".into()),
            ("[x](https://evil)", format!("\\[x\\]\\(https{z}://evil\\)")),
            ("<https://e|t>", format!("\\<https{z}://e\\|t\\>")),
            ("`c`", "\\`c\\`".into()),
            ("a\\b", "a\\\\b".into()),
            ("&#x202E;", format!("\\&\\#{z}x202E;")),
            ("$x$", "\\$x\\$".into()),
            ("1. one\n2. two", format!("1.{z} one\n2.{z} two")),
            ("www.evil.example", format!("www.{z}evil.{z}example")),
            ("It is 3.5 stars. Ok", "It is 3.5 stars. Ok".into()),
            (
                "- a\n+ b\n> q\n===",
                "\\- a\n\\+ b\n\\> q\n\\=\\=\\=".into(),
            ),
            (":mega:", format!("{z}:mega{z}:")),
        ];
        for (input, want) in cases {
            assert_eq!(esc(input, 1000), want, "{input:?}");
        }
    }

    #[test]
    fn plain_keeps_underscores_and_breaks_mentions() {
        let got = escape_fit("dana_smith @here ~x #y a|b c:d", 100, Count::Chars, plain);
        let z = '\u{200B}';
        assert_eq!(
            got,
            format!("dana_smith @{z}here ~{z}x #{z}y a|{z}b c{z}:d")
        );
    }

    #[test]
    fn cut_never_leaves_a_lone_backslash() {
        assert_eq!(esc("aaaa*bbbb", 6), "aaaa…");
        assert_eq!(esc("aaa@bbbb", 5), "aaa…");
    }

    #[test]
    fn hook_path_table() {
        let cases: &[(&str, usize, bool)] = &[
            ("https://mm.example.com/hooks/abc123", 1, true),
            ("https://mm.example.com/sub/hooks/abc123/", 1, true),
            ("https://mm.example.com/hooks/", 1, false),
            ("https://mm.example.com/api/v4/posts", 1, false),
            ("https://rc.example.com/hooks/id/token", 2, true),
            ("https://rc.example.com/hooks/id", 2, false),
        ];
        for (url, after, ok) in cases {
            assert_eq!(has_hook_path(url, *after), *ok, "{url}");
        }
    }

    #[test]
    fn limits_hold_for_long_and_hostile_text() {
        let inputs = [
            "*".repeat(20_000),
            "😀日本語@".repeat(5_000),
            "\\".repeat(9_000),
            "a".repeat(100_000),
        ];
        for s in inputs {
            let mut a = Alert::sample();
            a.title = Some(s.clone());
            a.text = s.clone();
            a.author = Some(s.clone());
            a.reasons = vec![s.clone(); 3];
            a.watch = s.clone();
            let v = render(&a);
            let text = v["text"].as_str().unwrap();
            assert!(Count::Chars.len(text) <= TEXT_MAX);
            let n = attachments_len(&v["attachments"]);
            assert!(n <= ATTACHMENTS_MAX, "{n}");
            // The excerpt still got a share of the room.
            let excerpt = v["attachments"][0]["text"].as_str().unwrap();
            assert!(
                excerpt.ends_with('…') && excerpt.chars().count() > 100,
                "{n} {}",
                excerpt.chars().count()
            );
        }
    }

    #[test]
    fn unsafe_url_is_not_a_link() {
        let mut a = Alert::sample();
        a.url = Some("javascript:alert(1)".into());
        let v = render(&a);
        assert!(v["attachments"][0].get("title_link").is_none(), "{v}");
        a.url = Some("https://example.com/x".into());
        assert_eq!(
            render(&a)["attachments"][0]["title_link"],
            "https://example.com/x"
        );
    }

    #[test]
    fn username_rules() {
        let cases: &[(&str, bool)] = &[
            ("earshot", true),
            ("Mention Monitor", true),
            ("", false),
            ("  ", false),
            ("a\nb", false),
            (&"x".repeat(65), false),
        ];
        for (name, ok) in cases {
            assert_eq!(check_username(name).is_ok(), *ok, "{name:?}");
        }
    }
}
