//! Zulip: a message to a channel (stream), one topic per watch, through the REST API as a bot.
//!
//! Upstream: send a message <https://zulip.com/api/send-message>, HTTP basics and auth
//! <https://zulip.com/api/http-headers>, rate limits <https://zulip.com/api/rest-error-handling>,
//! message formatting <https://zulip.com/help/format-your-message-using-markdown>.
//!
//! Request: `POST {base_url}/api/v1/messages`, HTTP Basic `email:api_key`, form-encoded
//! `type=stream`, `to=<channel>`, `topic=<watch>`, `content=<Markdown>`. `type=stream` rather than
//! `channel` so that servers before Zulip 9 accept it too. [`Zulip::render`] shows those fields
//! as a JSON object.
//!
//! Layout of `content`: a bold line with the level and watch and the mention's title, linked to it
//! (only a [`safe_url`]); the excerpt as a block quote; a list of source, author and reach,
//! urgency, sentiment, reasons, and the mention's time as `<time:…>` (shown in each reader's own
//! time zone), and the alert's ack link (a [`safe_url`]) as a last item `[Acknowledge](…)`. The
//! topic is the watch name, sanitized and cut to 60 characters; topics are not Markdown.
//!
//! Escaping of user text: Zulip pings on `@**Name**`, `@*group*`, `@**all**`, `@**everyone**`,
//! `@**channel**`, `@**topic**` and their silent `@_**` forms: a zero-width space goes after
//! every `@`. A backslash goes before every character Zulip's Markdown lets one escape
//! (`` \ ` * _ { } [ ] ( ) > # + - ! ``, and the `.` of a line-leading `1.`), so no emphasis, link,
//! image, heading, list, quote, code or ```` ```spoiler ```` fence forms; `#**channel**` links die
//! with their `*`. Characters it cannot escape get a zero-width space after them: `$` (no `$$`
//! LaTeX), `~` (no `~~~` fence or strike-through), `|` (no table); before every `:` (no
//! `https://`, `javascript:` or `:emoji:`), and after the `.` of a domain (Zulip links bare
//! domains). `&` becomes `&amp;`, so `&#x202E;` shows as text instead of decoding into a bidi
//! control. An organisation's own linkifiers (patterns it configured, like `#123`) may still
//! match plain words: those are links the organisation chose.
//!
//! Limits: `content` at most 10,000 bytes, counted in UTF-8 bytes after escaping (the excerpt gets
//! what is left, up to our cap); topic at most 60 characters.
//!
//! Rate: 200 requests a minute per user by default. Every reply carries `X-RateLimit-Limit`,
//! `-Remaining` and `-Reset` (epoch seconds): a spent budget becomes
//! [`Sent::wait_before_next`]. A 429 says `{"result":"error","code":"RATE_LIMIT_HIT",
//! "retry-after":0.6}` plus `Retry-After`: the longer wait wins. A 200 with `"result":"error"` is
//! a refusal and is not retried. The API key is redacted from every error, and so is the Basic
//! `Authorization` value built from it.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use earshot_connectors::ratelimit::{MAX_RETRY_AFTER, parse_rate_limit, retry_after};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value};

use super::text::{
    Count, after_line_leading_digits, escape_fit, is_domain_dot, link_target, one_line, safe_url,
    tidy_block,
};
use super::{
    Reply, SendError, Sent, SinkError, read_reply, redact, reply_error, resolve, transport_error,
};
use crate::alert::Alert;
use crate::config::SinkConfig;
use crate::secret::SecretValue;

/// Messages per second when `max_per_second` is not set: Zulip allows 200 requests a minute per
/// user (3.3/s); 3/s stays under it, and the rate-limit headers slow us further if needed.
pub const DEFAULT_PACE: f64 = 3.0;

/// `content`, in UTF-8 bytes.
pub const CONTENT_MAX: usize = 10_000;
/// `topic`, in characters.
pub const TOPIC_MAX: usize = 60;
/// A channel name, in characters.
pub const STREAM_MAX: usize = 60;

/// Our own caps (bytes, after escaping), below the platform's, so a message stays readable.
const HEADING_CAP: usize = 300;
const TITLE_CAP: usize = 600;
const EXCERPT_CAP: usize = 4000;
const FIELD_VALUE_CAP: usize = 300;
const REASONS_CAP: usize = 1000;
/// The linked title's URL after percent-encoding `(`, `)` and `\`; longer, the title is shown
/// without a link.
const LINK_MAX: usize = 2000;

/// A Zulip bot posting to one channel.
#[derive(Debug, Clone)]
pub struct Zulip {
    pub(crate) id: String,
    /// `{base_url}/api/v1/messages`.
    endpoint: String,
    /// The bot's API key: redacted from every error.
    api_key: SecretValue,
    /// `Basic base64(email:api_key)`: the header, kept whole so that it can be redacted too.
    authorization: SecretValue,
    /// The channel (stream) name.
    stream: String,
    pub(crate) pace: Option<f64>,
}

impl Zulip {
    /// Builds the sink, reading its secrets now; errors name the key, never a secret's value.
    pub fn from_config(cfg: &SinkConfig) -> Result<Zulip, SinkError> {
        let err = |message: String| SinkError {
            id: cfg.id.clone(),
            message,
        };
        let hint = |key: &str| {
            cfg.kind
                .required_keys()
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(String::new(), |(_, h)| format!(" (e.g. {h})"))
        };
        let missing = |key: &str| err(format!("a zulip sink needs `{key}`{}", hint(key)));

        let base = cfg.base_url.as_deref().ok_or_else(|| missing("base_url"))?;
        let endpoint = endpoint(base).ok_or_else(|| {
            err("`base_url` must be your organisation's http(s) URL, like https://acme.zulipchat.com, without user info, query or fragment".into())
        })?;
        let email = cfg.email.as_deref().ok_or_else(|| missing("email"))?;
        if one_line(email) != email || !email.contains('@') {
            return Err(err(
                "`email` must be the bot's email address, as on its profile".into(),
            ));
        }
        let secret = cfg.api_key.as_ref().ok_or_else(|| missing("api_key"))?;
        let api_key = resolve(cfg, "api_key", secret)?;
        let key = api_key.expose().trim();
        if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err(format!(
                "`api_key` from {secret:?} is empty or has spaces in it"
            )));
        }
        let stream = cfg.stream.as_deref().ok_or_else(|| missing("stream"))?;
        let n = stream.chars().count();
        if n == 0 || n > STREAM_MAX || one_line(stream) != stream {
            return Err(err(format!(
                "`stream` must be a channel name of 1 to {STREAM_MAX} characters on one line"
            )));
        }
        let authorization =
            SecretValue::new(format!("Basic {}", BASE64.encode(format!("{email}:{key}"))));
        Ok(Zulip {
            id: cfg.id.clone(),
            endpoint,
            api_key: SecretValue::new(key),
            authorization,
            stream: stream.to_string(),
            pace: cfg.max_per_second,
        })
    }

    pub(crate) async fn send(
        &self,
        client: &super::Outbound,
        alert: &Alert,
    ) -> Result<Sent, SendError> {
        let fields = self.fields(alert);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let mut auth =
            HeaderValue::from_str(self.authorization.expose()).map_err(|_| SendError {
                retry: super::Retry::Never,
                status: None,
                message: "`email` or `api_key` cannot go in an HTTP header".into(),
            })?;
        auth.set_sensitive(true);
        let resp = client
            .to(&self.endpoint)?
            .post(&self.endpoint)
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| self.scrub(transport_error(e, self.api_key.expose())))?;
        let reply = read_reply(resp, self.api_key.expose())
            .await
            .map_err(|e| self.scrub(e))?;
        let reply = self.scrub_reply(reply);
        let now = client.now();
        let budget = parse_rate_limit(&reply.headers, now).and_then(|r| r.wait());
        if reply.is_success() {
            if refused(&reply.body) {
                return Err(self.scrub(reply_error(&reply, None, self.api_key.expose())));
            }
            return Ok(Sent {
                wait_before_next: budget,
                message_ref: None,
            });
        }
        let wait = [
            retry_after(&reply.headers, now),
            body_retry_after(&reply.body),
            if reply.status == 429 { budget } else { None },
        ]
        .into_iter()
        .flatten()
        .max();
        Err(self.scrub(reply_error(&reply, wait, self.api_key.expose())))
    }

    /// The form fields `send` posts, in order.
    fn fields(&self, alert: &Alert) -> [(&'static str, String); 4] {
        [
            ("type", "stream".to_string()),
            ("to", self.stream.clone()),
            ("topic", topic(&alert.watch)),
            ("content", content(alert)),
        ]
    }

    /// Exactly the form `send` posts, as a JSON object of its fields.
    pub fn render(&self, alert: &Alert) -> Value {
        let map: Map<String, Value> = self
            .fields(alert)
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect();
        Value::Object(map)
    }

    /// The Basic credential (and the base64 inside it) out of an error message.
    fn scrub(&self, mut e: SendError) -> SendError {
        e.message = self.redact_all(&e.message);
        e
    }

    /// The body with both secrets redacted *before* it is cut to a snippet, so that no prefix of
    /// the Basic value survives a cut.
    fn scrub_reply(&self, reply: Reply) -> Reply {
        let text = String::from_utf8_lossy(&reply.body);
        let clean = self.redact_all(&text);
        Reply {
            body: if clean == text {
                reply.body
            } else {
                clean.into_bytes()
            },
            ..reply
        }
    }

    fn redact_all(&self, s: &str) -> String {
        let b64 = self
            .authorization
            .expose()
            .strip_prefix("Basic ")
            .unwrap_or_default();
        redact(&redact(s, self.api_key.expose()), b64)
    }
}

/// `{base}/api/v1/messages` for an http(s) organisation URL (a sub-path is kept).
pub fn endpoint(base: &str) -> Option<String> {
    let u = url::Url::parse(base.trim()).ok()?;
    let ok = matches!(u.scheme(), "http" | "https")
        && u.host_str().is_some_and(|h| !h.is_empty())
        && u.username().is_empty()
        && u.password().is_none()
        && u.query().is_none()
        && u.fragment().is_none();
    ok.then(|| format!("{}/api/v1/messages", u.as_str().trim_end_matches('/')))
}

/// A 2xx whose JSON says `"result": "error"`.
pub fn refused(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("result")
                .and_then(Value::as_str)
                .map(|r| r == "error")
        })
        .unwrap_or(false)
}

/// The `retry-after` (float seconds) of a `RATE_LIMIT_HIT` body, capped like `Retry-After`.
pub fn body_retry_after(body: &[u8]) -> Option<Duration> {
    let s = serde_json::from_slice::<Value>(body)
        .ok()?
        .get("retry-after")?
        .as_f64()?;
    (s.is_finite() && s >= 0.0)
        .then(|| Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64())))
}

/// The topic: the watch name on one line, at most [`TOPIC_MAX`] characters, never empty.
pub fn topic(watch: &str) -> String {
    let t = escape_fit(
        &one_line(watch),
        TOPIC_MAX,
        Count::Chars,
        super::text::plain,
    );
    if t.is_empty() { "earshot".into() } else { t }
}

const ZWSP: char = '\u{200B}';

/// Escapes one character of user text for Zulip Markdown.
pub fn markdown(chars: &[char], i: usize, out: &mut String) {
    let c = chars[i];
    match c {
        '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '>' | '#' | '+' | '-'
        | '!' => {
            out.push('\\');
            out.push(c);
        }
        '.' if after_line_leading_digits(chars, i) => out.push_str("\\."),
        '.' if is_domain_dot(chars, i) => {
            out.push('.');
            out.push(ZWSP);
        }
        '@' | '$' | '~' | '|' => {
            out.push(c);
            out.push(ZWSP);
        }
        ':' => {
            out.push(ZWSP);
            out.push(':');
        }
        '&' => out.push_str("&amp;"),
        _ => out.push(c),
    }
}

/// Like [`markdown`], and every new line continues the block quote.
fn markdown_quoted(chars: &[char], i: usize, out: &mut String) {
    match chars[i] {
        '\n' => out.push_str("\n> "),
        _ => markdown(chars, i, out),
    }
}

fn esc(s: &str, limit: usize) -> String {
    escape_fit(s, limit, Count::Bytes, markdown)
}

/// `content` for one alert. Pure.
pub fn content(alert: &Alert) -> String {
    let title = alert
        .title
        .as_deref()
        .map(one_line)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("New {} on {}", alert.kind.as_str(), alert.source_kind));

    let mut head = format!("**{}**: ", esc(&super::heading(alert), HEADING_CAP));
    let link = alert
        .url
        .as_deref()
        .and_then(safe_url)
        .map(link_target)
        .filter(|u| u.len() <= LINK_MAX);
    match link {
        Some(u) => head.push_str(&format!("[{}]({u})", esc(&title, TITLE_CAP))),
        None => head.push_str(&esc(&title, TITLE_CAP)),
    }

    let mut list: Vec<String> = super::source_fact(alert)
        .map(|s| format!("- **Source**: {}", esc(&s, FIELD_VALUE_CAP)))
        .into_iter()
        .collect();
    let (author, reach) = super::author_parts(alert);
    if let Some(a) = author {
        let shown = match reach {
            Some(r) => format!("{a} · {r}"),
            None => a,
        };
        list.push(format!("- **Author**: {}", esc(&shown, FIELD_VALUE_CAP)));
    }
    list.extend(
        super::urgency_fact(alert)
            .map(|(name, v)| format!("- **{name}**: {}", esc(&v, FIELD_VALUE_CAP))),
    );
    list.extend(
        super::sentiment_fact(alert)
            .map(|v| format!("- **Sentiment**: {}", esc(&v, FIELD_VALUE_CAP))),
    );
    let reasons: Vec<String> = alert
        .reasons
        .iter()
        .map(|r| one_line(r))
        .filter(|r| !r.is_empty())
        .collect();
    if !reasons.is_empty() {
        list.push(format!(
            "- **Why**: {}",
            esc(&reasons.join(" · "), REASONS_CAP)
        ));
    }
    if let Some(t) = alert.created_at {
        list.push(format!("- **When**: {}", time(t)));
    }
    // The ack link last, as a list item of its own, counted before the excerpt's room.
    if let Some(u) = super::ack_url(alert) {
        list.push(format!("- [{}]({})", super::ACK_LABEL, link_target(u)));
    }
    let list = list.join("\n");

    // head, "\n> " excerpt, "\n\n", list: the excerpt gets what is left, up to our cap.
    let fixed = head.len() + 3 + 2 + list.len();
    let room = CONTENT_MAX.saturating_sub(fixed).min(EXCERPT_CAP);
    let excerpt = escape_fit(
        &tidy_block(&alert.text),
        room,
        Count::Bytes,
        markdown_quoted,
    );
    if excerpt.is_empty() {
        format!("{head}\n\n{list}")
    } else {
        format!("{head}\n> {excerpt}\n\n{list}")
    }
}

/// Zulip's global time syntax: each reader sees it in their own time zone.
fn time(t: DateTime<Utc>) -> String {
    format!("<time:{}>", t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_link_is_whole_within_the_content_limit() {
        let ack = "https://earshot.example.com/ack?m=12&exp=1&sig=".to_string() + &"a".repeat(1900);
        let mut a = Alert::sample();
        a.text = "日本語*".repeat(5000);
        a.ack_url = Some(ack.clone());
        let c = content(&a);
        assert!(c.len() <= CONTENT_MAX, "{}", c.len());
        assert!(c.ends_with(&format!("\n- [Acknowledge]({ack})")), "{c}");
    }

    #[test]
    fn markdown_table() {
        let z = ZWSP;
        let cases: Vec<(&str, String)> = vec![
            ("@**all**", format!("@{z}\\*\\*all\\*\\*")),
            ("@_**Dana|12**", format!("@{z}\\_\\*\\*Dana|{z}12\\*\\*")),
            ("@*support*", format!("@{z}\\*support\\*")),
            ("#**general**", "\\#\\*\\*general\\*\\*".into()),
            ("$$x$$", format!("${z}${z}x${z}${z}")),
            ("```spoiler s", "\\`\\`\\`spoiler s".into()),
            ("~~~ x", format!("~{z}~{z}~{z} x")),
            ("[x](https://evil)", format!("\\[x\\]\\(https{z}://evil\\)")),
            ("![i](u)", "\\!\\[i\\]\\(u\\)".into()),
            ("&#x202E; &amp;", "&amp;\\#x202E; &amp;amp;".into()),
            ("a\\*b", "a\\\\\\*b".into()),
            ("evil.example 3.5", format!("evil.{z}example 3.5")),
            ("1. a\n- b\n> q", "1\\. a\n\\- b\n\\> q".into()),
            (":smile:", format!("{z}:smile{z}:")),
            ("{{x}}", "\\{\\{x\\}\\}".into()),
        ];
        for (input, want) in cases {
            assert_eq!(esc(input, 1000), want, "{input:?}");
        }
    }

    #[test]
    fn content_within_bytes_for_long_and_multibyte_text() {
        let inputs = [
            "😀日本語@".repeat(5_000),
            "*".repeat(20_000),
            "&".repeat(20_000),
            "a".repeat(100_000),
        ];
        for s in inputs {
            let mut a = Alert::sample();
            a.title = Some(s.clone());
            a.text = format!("{s}\n{s}");
            a.author = Some(s.clone());
            a.reasons = vec![s.clone(); 3];
            a.watch = s.clone();
            a.url = Some(format!("https://example.com/{}", "(".repeat(700)));
            let c = content(&a);
            assert!(c.len() <= CONTENT_MAX, "{}", c.len());
            assert!(c.contains("\n> ") && c.contains("…"));
            // The URL grew past LINK_MAX once encoded: no link, title as text.
            assert!(!c.contains("](https"), "{}", &c[..200]);
            assert!(topic(&a.watch).chars().count() <= TOPIC_MAX);
        }
    }

    #[test]
    fn quote_continues_and_link_is_encoded() {
        let mut a = Alert::sample();
        a.text = "one\n\ntwo".into();
        a.url = Some("https://example.com/a_(b)".into());
        let c = content(&a);
        assert!(c.contains("\n> one\n> \n> two\n"), "{c}");
        assert!(c.contains("](https://example.com/a_%28b%29)"), "{c}");
    }

    #[test]
    fn topic_table() {
        let cases: &[(&str, &str)] = &[
            ("acme", "acme"),
            ("  acme\ncloud ", "acme cloud"),
            ("", "earshot"),
            ("\u{202E}", "earshot"),
        ];
        for (watch, want) in cases {
            assert_eq!(topic(watch), *want, "{watch:?}");
        }
        let long = topic(&"é".repeat(100));
        assert_eq!(long.chars().count(), TOPIC_MAX);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn endpoint_table() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "https://acme.zulipchat.com",
                Some("https://acme.zulipchat.com/api/v1/messages"),
            ),
            (
                "https://chat.example.com/zulip/",
                Some("https://chat.example.com/zulip/api/v1/messages"),
            ),
            (
                "http://127.0.0.1:9",
                Some("http://127.0.0.1:9/api/v1/messages"),
            ),
            ("ftp://x.example", None),
            ("https://bot:key@x.example", None),
            ("https://x.example/?a=1", None),
            ("acme.zulipchat.com", None),
        ];
        for (base, want) in cases {
            assert_eq!(endpoint(base).as_deref(), *want, "{base}");
        }
    }

    #[test]
    fn replies() {
        assert!(refused(
            br#"{"result":"error","msg":"Invalid stream name","code":"BAD_REQUEST"}"#
        ));
        assert!(!refused(br#"{"result":"success","msg":"","id":42}"#));
        assert!(!refused(b"not json"));
        let body = br#"{"result":"error","code":"RATE_LIMIT_HIT","retry-after":0.6}"#;
        assert_eq!(body_retry_after(body), Some(Duration::from_millis(600)));
        assert_eq!(body_retry_after(br#"{"retry-after":-1}"#), None);
        assert_eq!(body_retry_after(b"{}"), None);
    }
}
