//! Rocket.Chat incoming webhooks, with one attachment.
//!
//! Upstream: <https://docs.rocket.chat/use-rocket.chat/workspace-administration/integrations>,
//! message format <https://developer.rocket.chat/reference/api/rest-api/endpoints/messaging/chat-endpoints/postmessage>
//! (an incoming webhook takes the same attachments), Markdown escaping as the message parser
//! implements it <https://github.com/RocketChat/fuselage/pull/899>.
//!
//! Layout: `text` is one line (`Critical mention · acme`); one attachment carries the colour of
//! the level, the title linked to the mention (only a [`safe_url`]), the excerpt, the author with
//! reach (`author_name`) and fields (watch, source, urgency, sentiment, why, when). `alias` is
//! the optional `username`. Attachments have no link button without an integration script, so
//! the linked title is the way in, and the alert's ack link (a [`safe_url`]) is a Markdown link
//! `[Acknowledge](…)` on the line under `text`'s heading, counted before the excerpt's room.
//!
//! Escaping: `text`, the attachment's `text` and field values are Markdown (`mrkdwn_in` asks for
//! it where a server would otherwise show them plain), and `@all`, `@here` and `@user` in `text`
//! notify. Rocket.Chat's message parser honours a backslash only before `` * _ ~ ` # . ``, so those
//! get one; everything else is defused with a zero-width space, which works whether or not a
//! parser knows escapes: after every `@` (mentions), `#` (channel links), `<`, `>`, `[`, `]`, `|`
//! (links `[t](u)`, `<u|t>`, quotes, spoilers), `$` (KaTeX), `\` (a user's backslash then escapes
//! nothing and cannot start `\[` KaTeX) and a line-leading `-` or `+` (lists), the `.` of a domain
//! or of a line-leading `1.`, and before every `:` (so `https://`, `javascript:` and `:emoji:`
//! never form). `title` and `author_name` are plain text: they get only the mention and link
//! breakers ([`plain`]).
//!
//! Limits: the whole message is kept within 5,000 characters (the server's
//! `Message_MaxAllowedSize` default), counting every string of the payload after escaping; the
//! excerpt gets what is left, up to our cap.
//!
//! Rate: the REST rate limiter (when on) answers 429 with `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset`, which Rocket.Chat sends as epoch *milliseconds*. Success is
//! `200 {"success":true}`; a 200 with `"success":false` is a refusal and is not retried.

use std::time::Duration;

use chrono::{DateTime, Utc};
use earshot_connectors::ratelimit::{MAX_RETRY_AFTER, retry_after};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::mattermost::{check_username, color, has_hook_path};
use super::text::{
    Count, after_line_leading_digits, at_line_start, escape_fit, is_domain_dot, link_target,
    one_line, safe_url, tidy_block,
};
use super::{SendError, Sent, SinkError, post_json, reply_error, resolve_url};
use crate::alert::Alert;
use crate::config::SinkConfig;
use crate::secret::SecretValue;

/// Messages per second when `max_per_second` is not set. Rocket.Chat documents no pace for
/// incoming webhooks; its REST limiter, when on, allows about 10 calls a minute per endpoint and
/// user on some routes. One a second keeps a burst of alerts readable and well clear of it.
pub const DEFAULT_PACE: f64 = 1.0;

/// `Message_MaxAllowedSize`'s default, in characters: the whole message is kept within it.
pub const MESSAGE_MAX: usize = 5_000;

/// Our own caps, so a message stays readable and the excerpt keeps room.
const HEADING_CAP: usize = 200;
const TITLE_CAP: usize = 300;
const EXCERPT_CAP: usize = 2000;
const FIELD_VALUE_CAP: usize = 200;
const REASONS_CAP: usize = 500;
const AUTHOR_CAP: usize = 200;

/// A Rocket.Chat incoming webhook.
#[derive(Debug, Clone)]
pub struct RocketChat {
    pub(crate) id: String,
    /// `https://{server}/hooks/{id}/{token}`: the URL is the credential.
    url: SecretValue,
    /// Sent as `alias`: the name shown as the poster.
    username: Option<String>,
    pub(crate) pace: Option<f64>,
}

impl RocketChat {
    /// Builds the sink, reading its secrets now; errors name the key, never a secret's value.
    pub fn from_config(cfg: &SinkConfig) -> Result<RocketChat, SinkError> {
        let err = |message: String| SinkError {
            id: cfg.id.clone(),
            message,
        };
        let url = resolve_url(cfg, "rocketchat")?;
        if !has_hook_path(url.expose(), 2) {
            return Err(err(
                "`url` is not a Rocket.Chat incoming webhook (https://<server>/hooks/<id>/<token>)"
                    .into(),
            ));
        }
        if let Some(u) = &cfg.username {
            check_username(u).map_err(err)?;
        }
        Ok(RocketChat {
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
        let now = client.now();
        let budget = budget_wait(&reply.headers, now);
        if reply.is_success() {
            if refused(&reply.body) {
                // `classify(200)` is `Never`: the same message would be refused again.
                return Err(reply_error(&reply, None, self.url.expose()));
            }
            return Ok(Sent {
                wait_before_next: budget,
                message_ref: None,
            });
        }
        let wait = [retry_after(&reply.headers, now), budget]
            .into_iter()
            .flatten()
            .max();
        Err(reply_error(&reply, wait, self.url.expose()))
    }

    /// Exactly the body `send` posts.
    pub fn render(&self, alert: &Alert) -> Value {
        render(alert, self.username.as_deref())
    }
}

/// A 2xx whose JSON says `"success": false` (an integration script refused it, a bad channel).
/// Anything else, even a body that is not JSON, is a delivery.
pub fn refused(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("success").and_then(Value::as_bool))
        == Some(false)
}

/// When `X-RateLimit-Remaining` is 0, the time until `X-RateLimit-Reset`. Rocket.Chat sends the
/// reset as epoch milliseconds; epoch seconds and plain seconds are read too. Capped like
/// `Retry-After`.
pub fn budget_wait(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|n| n.is_finite())
    };
    if get("x-ratelimit-remaining")? >= 1.0 {
        return None;
    }
    let reset = get("x-ratelimit-reset")?;
    let now_ms = now.timestamp_millis() as f64;
    let secs = if reset > 1e11 {
        (reset - now_ms) / 1000.0
    } else if reset > 1e9 {
        reset - now_ms / 1000.0
    } else {
        reset
    };
    Some(Duration::from_secs_f64(
        secs.clamp(0.0, MAX_RETRY_AFTER.as_secs_f64()),
    ))
}

const ZWSP: char = '\u{200B}';

/// Escapes one character of user text for Rocket.Chat Markdown.
pub fn markdown(chars: &[char], i: usize, out: &mut String) {
    let c = chars[i];
    match c {
        '*' | '_' | '~' | '`' => {
            out.push('\\');
            out.push(c);
        }
        '#' => {
            out.push_str("\\#");
            out.push(ZWSP);
        }
        '\\' | '<' | '>' | '[' | ']' | '|' | '$' => {
            out.push(c);
            out.push(ZWSP);
        }
        '-' | '+' if at_line_start(chars, i) => {
            out.push(c);
            out.push(ZWSP);
        }
        '.' if after_line_leading_digits(chars, i) => {
            out.push('.');
            out.push(ZWSP);
        }
        _ => plain(chars, i, out),
    }
}

/// Plain-text fields (`title`, `author_name`): no Markdown, but nothing that looks like a
/// mention, a channel, a link or a URL.
pub fn plain(chars: &[char], i: usize, out: &mut String) {
    let c = chars[i];
    match c {
        ':' => {
            out.push(ZWSP);
            out.push(':');
        }
        '@' | '#' | '|' | '<' => {
            out.push(c);
            out.push(ZWSP);
        }
        '.' if is_domain_dot(chars, i) => {
            out.push('.');
            out.push(ZWSP);
        }
        _ => out.push(c),
    }
}

fn esc(s: &str, limit: usize) -> String {
    escape_fit(s, limit, Count::Chars, markdown)
}

fn field(title: &str, value: &str, cap: usize, short: bool) -> Value {
    json!({"short": short, "title": title, "value": esc(value, cap)})
}

/// Characters of every string in `v`: what counts against [`MESSAGE_MAX`].
fn string_chars(v: &Value) -> usize {
    match v {
        Value::String(s) => Count::Chars.len(s),
        Value::Array(a) => a.iter().map(string_chars).sum(),
        Value::Object(o) => o
            .iter()
            .map(|(k, x)| Count::Chars.len(k) + string_chars(x))
            .sum(),
        _ => 0,
    }
}

/// The body for one alert. Pure.
pub fn render(alert: &Alert, alias: Option<&str>) -> Value {
    let watch = one_line(&alert.watch);
    let title = alert
        .title
        .as_deref()
        .map(one_line)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("New {} on {}", alert.kind.as_str(), alert.source_kind));

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
    if let Some(w) = super::when(alert) {
        fields.push(field("When", &w, FIELD_VALUE_CAP, true));
    }

    let mut att = json!({
        "title": escape_fit(&title, TITLE_CAP, Count::Chars, plain),
        "color": color(alert),
        "fields": fields,
        // Servers that render attachment text and fields plain unless asked would show our
        // backslashes; this asks for Markdown, which is what the escaping is for.
        "mrkdwn_in": ["text", "fields"],
    });
    if let Some(obj) = att.as_object_mut() {
        if let Some(u) = alert.url.as_deref().and_then(safe_url) {
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
    }
    let mut text = esc(&super::heading(alert), HEADING_CAP);
    // The ack link under the heading, before the room for the excerpt is counted: it is whole.
    if let Some(u) = super::ack_url(alert) {
        text.push_str(&format!("\n[{}]({})", super::ACK_LABEL, link_target(u)));
    }
    let mut body = json!({ "text": text });
    if let (Some(a), Some(obj)) = (alias, body.as_object_mut()) {
        obj.insert("alias".into(), Value::String(a.to_string()));
    }

    // Counts are additive here (no serialization in the limit), so the room is exact: every
    // string and key, the excerpt's key "text" included.
    if let Some(obj) = body.as_object_mut() {
        obj.insert("attachments".into(), Value::Array(vec![att]));
    }
    let used = string_chars(&body) + "text".len();
    let room = MESSAGE_MAX.saturating_sub(used).min(EXCERPT_CAP);
    let excerpt = esc(&tidy_block(&alert.text), room);
    if !excerpt.is_empty()
        && let Some(obj) = body["attachments"][0].as_object_mut()
    {
        obj.insert("text".into(), Value::String(excerpt));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_link_is_whole_within_the_message_limit() {
        let ack = "https://earshot.example.com/ack?m=12&exp=1&sig=".to_string() + &"a".repeat(1900);
        let mut a = Alert::sample();
        a.text = "😀*".repeat(5000);
        a.ack_url = Some(ack.clone());
        let v = render(&a, None);
        assert!(string_chars(&v) <= MESSAGE_MAX, "{}", string_chars(&v));
        let text = v["text"].as_str().unwrap();
        assert!(text.ends_with(&format!("\n[Acknowledge]({ack})")), "{text}");
        assert!(v["attachments"][0]["text"].as_str().unwrap().ends_with('…'));
    }

    #[test]
    fn markdown_table() {
        let z = ZWSP;
        let cases: Vec<(&str, String)> = vec![
            ("@all @HERE @dana", format!("@{z}all @{z}HERE @{z}dana")),
            ("#general", format!("\\#{z}general")),
            ("*b* _i_ ~s~ `c`", "\\*b\\* \\_i\\_ \\~s\\~ \\`c\\`".into()),
            ("[x](https://evil)", format!("[{z}x]{z}(https{z}://evil)")),
            ("<https://e|t>", format!("<{z}https{z}://e|{z}t>{z}")),
            ("||spoiler||", format!("|{z}|{z}spoiler|{z}|{z}")),
            (
                "$$x$$ \\[x\\]",
                format!("${z}${z}x${z}${z} \\{z}[{z}x\\{z}]{z}"),
            ),
            ("a\\*b", format!("a\\{z}\\*b")),
            ("javascript:x", format!("javascript{z}:x")),
            (":mega:", format!("{z}:mega{z}:")),
            ("evil.example and 3.5", format!("evil.{z}example and 3.5")),
            ("- a\n1. b\n> q", format!("-{z} a\n1.{z} b\n>{z} q")),
            ("a - b + c", "a - b + c".into()),
        ];
        for (input, want) in cases {
            assert_eq!(esc(input, 1000), want, "{input:?}");
        }
    }

    #[test]
    fn plain_keeps_markdown_characters() {
        let got = escape_fit("dana_smith *x* @here #c", 100, Count::Chars, plain);
        assert_eq!(got, format!("dana_smith *x* @{ZWSP}here #{ZWSP}c"));
    }

    #[test]
    fn cut_never_splits_an_escape() {
        assert_eq!(esc("aaaa*bbbb", 6), "aaaa…");
        assert_eq!(esc("aaa@bbbb", 5), "aaa…");
    }

    #[test]
    fn message_stays_within_the_limit() {
        let inputs = [
            "*".repeat(20_000),
            "😀日本語@".repeat(5_000),
            ":".repeat(9_000),
            "a".repeat(100_000),
        ];
        for s in inputs {
            let mut a = Alert::sample();
            a.title = Some(s.clone());
            a.text = s.clone();
            a.author = Some(s.clone());
            a.reasons = vec![s.clone(); 3];
            a.watch = s.clone();
            a.url = Some(format!("https://example.com/{}", "x".repeat(1900)));
            let v = render(&a, Some("earshot"));
            let n = string_chars(&v);
            assert!(n <= MESSAGE_MAX, "{n}");
            let excerpt = v["attachments"][0]["text"].as_str().unwrap();
            assert!(excerpt.ends_with('…') && excerpt.chars().count() > 100);
        }
    }

    #[test]
    fn success_false_is_a_refusal() {
        assert!(refused(br#"{"success":false,"error":"invalid-channel"}"#));
        assert!(!refused(br#"{"success":true}"#));
        assert!(!refused(b"ok"));
        assert!(!refused(b""));
    }

    #[test]
    fn reset_in_milliseconds() {
        let now = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let cases: &[(&str, &str, Option<u64>)] = &[
            ("0", "1780000005000", Some(5000)),
            ("0", "1780000003", Some(3000)),
            ("0", "2", Some(2000)),
            ("0", "1779999999000", Some(0)),
            ("4", "1780000005000", None),
            (
                "0",
                "99999999999999999",
                Some(MAX_RETRY_AFTER.as_millis() as u64),
            ),
        ];
        for (remaining, reset, want) in cases {
            let mut h = HeaderMap::new();
            h.insert("x-ratelimit-remaining", remaining.parse().unwrap());
            h.insert("x-ratelimit-reset", reset.parse().unwrap());
            let got = budget_wait(&h, now).map(|d| d.as_millis() as u64);
            assert_eq!(got, *want, "{remaining} {reset}");
        }
        assert_eq!(budget_wait(&HeaderMap::new(), now), None);
    }
}
