//! Telegram Bot API `sendMessage` in HTML mode.
//!
//! Upstream: <https://core.telegram.org/bots/api#sendmessage>, formatting
//! <https://core.telegram.org/bots/api#html-style>, errors and `ResponseParameters`
//! <https://core.telegram.org/bots/api#responseparameters>, limits
//! <https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this>.
//!
//! We `POST {base_url}/bot{token}/sendMessage` with `chat_id` (a number when it parses as one,
//! else the `@channelname` string), `message_thread_id` for a forum topic, `parse_mode: "HTML"`,
//! link previews off, and an inline keyboard with an "Open" URL button when the alert's URL is
//! safe ([`text::safe_url`]), and an "Acknowledge" one for its ack link.
//!
//! Layout of `text`: a bold header (level, watch), the title (a link to the alert's URL when it is
//! safe), the excerpt in a `<blockquote>`, bold-labelled lines (source, author and reach, urgency,
//! sentiment), and the reasons and time in italics.
//!
//! Escaping: only our own tags (`b`, `i`, `a`, `blockquote`) ever appear. In user text `&`, `<`
//! and `>` become `&amp;`, `&lt;`, `&gt;`, so a literal `&lt;b&gt;` or `&#x202E;` in a mention
//! shows as typed and can never decode to a tag or a character we removed; in the one `href`
//! `"` becomes `&quot;` too. Telegram also finds entities in plain text on its own, so user text
//! gets a zero-width space (U+200B, which TDLib's matchers do not take as part of a name or a
//! domain):
//! * after every `@`: `@username` would notify that user in a group, and `/cmd@bot` would address
//!   a bot;
//! * after a `.` followed by a letter or digit, and before a `:` that ends a word and does not
//!   end a phrase (a URI scheme): a bare `evil.example/login`, `https://…`, `t.me/…`,
//!   `tg://resolve?…` or an e-mail address would otherwise become a live link, and no
//!   `javascript:` or `data:` is passed on verbatim. `Re: x` and `20:26` are left alone;
//! * after `|`, which means nothing here, so that a Slack-style spoof `<https://evil|trusted>`
//!   is not passed on verbatim, as no target may.
//!
//! A `/command` at a word start is left alone: in a bot's message it is only a tappable shortcut.
//! Telegram never delivers bots' messages to other bots, so nothing runs unless a person taps
//! it, and then it is that person's own command. `#hashtags` and `$CASHTAGS` only open a search.
//!
//! Limits: `text` must be 1–4,096 characters *after entity parsing*, counted in UTF-16 code units
//! (an emoji outside the BMP is 2). [`visible_len`] computes that length (tags removed, entities
//! decoded) and [`cut_visible`] cuts HTML to a visible length without splitting a tag or an
//! entity, closing any tag it leaves open. Each part has its own cap; the excerpt gets what is
//! left of 4,096. We emit at most [`MAX_TAGS`] formatting entities, far below the 100 allowed.
//!
//! Replies: `200 {"ok":true,"result":{…}}` is delivered; a 200 whose body says `"ok":false` is a
//! permanent failure carrying its `description`. A 429's wait comes from the body's
//! `parameters.retry_after` (Telegram sends no header), or `Retry-After` if a proxy adds one.
//! A 400 with `parameters.migrate_to_chat_id` (a group upgraded to a supergroup) names the new
//! id in the error, so the operator can fix `chat_id`. The token sits in the URL path: every
//! error is redacted with it.
//!
//! Acknowledge: the alert's ack link (a [`safe_url`]) is an "Acknowledge" URL button beside
//! "Open". Telegram refuses a button whose host is not a public-looking domain
//! (`BUTTON_URL_INVALID` for `localhost`), and that would lose the whole alert, so an ack link to
//! an IP address or a single-label host is an `<a>` "Acknowledge" line at the end of `text`
//! instead, its length reserved before the excerpt is cut.
//!
//! Message ids, replies, edits: a 2xx's `result.message_id` becomes [`Sent::message_ref`]
//! (enough of a success body is read to find it). A reply adds `reply_parameters`
//! (`message_id`, `allow_sending_without_reply: true`, so a deleted original does not lose the
//! alert). An edit is `editMessageText` <https://core.telegram.org/bots/api#editmessagetext>
//! with the same text, parse mode, previews and keyboard; "message is not modified" is success,
//! "message to edit not found" is permanent with status 404.
//!
//! Pace: about 1 message/s per chat, but only 20 messages per minute in a group, and most
//! alert targets are groups or channels, so the default is 0.33/s (one every 3 s). Set
//! `max_per_second = 1.0` for a private chat.

use std::time::Duration;

use chrono::{DateTime, Utc};
use earshot_connectors::ratelimit::{MAX_RETRY_AFTER, retry_after};
use serde_json::{Value, json};

use super::text::{self, Count, Escaper, one_line, safe_url, tidy_block};
use super::{
    MAX_SUCCESS_BODY, Reply, Retry, SendError, Sent, SinkError, read_reply_max, redact,
    reply_error, resolve, transport_error,
};
use crate::alert::Alert;
use crate::config::SinkConfig;
use crate::secret::SecretValue;

/// Messages per second when `max_per_second` is not set: groups allow 20 per minute.
pub const DEFAULT_PACE: f64 = 0.33;

/// `text` length after entity parsing, in UTF-16 code units.
pub const TEXT_MAX: usize = 4096;
/// Most formatting entities in one message.
pub const ENTITIES_MAX: usize = 100;
/// Most tags [`Telegram::render`] opens: header, title link, blockquote, four labels, reasons,
/// and an ack link that cannot be a button.
pub const MAX_TAGS: usize = 9;
/// Where the Bot API lives unless `base_url` says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.telegram.org";

/// Our own caps (visible UTF-16 units), below the platform's, so a message stays readable.
const HEADER_CAP: usize = 200;
const TITLE_CAP: usize = 300;
const EXCERPT_CAP: usize = 2000;
const FIELD_CAP: usize = 300;
const FOOTER_CAP: usize = 600;

const ZWSP: char = '\u{200B}';

/// A configured telegram sink.
#[derive(Debug, Clone)]
pub struct Telegram {
    pub(crate) id: String,
    /// The bot token: the credential, and the redaction key for every error.
    token: SecretValue,
    /// `{base_url}/bot{token}/sendMessage`: holds the token, so it is a secret too.
    endpoint: SecretValue,
    /// `{base_url}/bot{token}/editMessageText`: a secret too.
    edit_endpoint: SecretValue,
    chat_id: Value,
    topic_id: Option<i64>,
    pub(crate) pace: Option<f64>,
}

impl Telegram {
    /// Builds the sink, reading its secrets now; errors name the key, never a secret's value.
    pub fn from_config(cfg: &SinkConfig) -> Result<Telegram, SinkError> {
        let err = |message: String| SinkError {
            id: cfg.id.clone(),
            message,
        };
        let Some(secret) = cfg.token.as_ref() else {
            return Err(err(
                "a telegram sink needs `token` (e.g. token = { file = \"telegram-token\" }, \
                 the bot token from @BotFather)"
                    .into(),
            ));
        };
        let token = resolve(cfg, "token", secret)?;
        if !valid_token(token.expose()) {
            return Err(err(format!(
                "`token` from {secret:?} is not a bot token (digits, `:`, then letters, \
                 digits, `_` or `-`, as @BotFather gives it)"
            )));
        }
        let chat_id = match cfg.chat_id.as_ref() {
            Some(c) => chat_id_value(&c.0).map_err(err)?,
            None => {
                return Err(err(
                    "a telegram sink needs `chat_id` (e.g. chat_id = -1001234567890 or \
                     \"@channelname\")"
                        .into(),
                ));
            }
        };
        if let Some(t) = cfg.topic_id
            && t <= 0
        {
            return Err(err(
                "`topic_id` must be a positive forum topic id (message_thread_id)".into(),
            ));
        }
        let base = cfg.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let base = base_url(base).ok_or_else(|| {
            err(format!(
                "`base_url` {base:?} is not an http(s) URL (default {DEFAULT_BASE_URL})"
            ))
        })?;
        let endpoint = SecretValue::new(format!("{base}/bot{}/sendMessage", token.expose()));
        let edit_endpoint =
            SecretValue::new(format!("{base}/bot{}/editMessageText", token.expose()));
        Ok(Telegram {
            id: cfg.id.clone(),
            token,
            endpoint,
            edit_endpoint,
            chat_id,
            topic_id: cfg.topic_id,
            pace: cfg.max_per_second,
        })
    }

    pub(crate) async fn send(
        &self,
        client: &super::Outbound,
        alert: &Alert,
    ) -> Result<Sent, SendError> {
        self.send_reply(client, alert, None).await
    }

    /// `sendMessage`, as a reply to the message `reply_to` when it is a message id (digits):
    /// `reply_parameters` with `allow_sending_without_reply`, so a deleted original still lets
    /// the alert through. A `reply_to` that is not an id is ignored: the alert goes out alone.
    pub(crate) async fn send_reply(
        &self,
        client: &super::Outbound,
        alert: &Alert,
        reply_to: Option<&str>,
    ) -> Result<Sent, SendError> {
        let mut body = self.render(alert);
        if let Some(id) = reply_to.and_then(parse_message_id) {
            body["reply_parameters"] =
                json!({"message_id": id, "allow_sending_without_reply": true});
        }
        let (reply, api) = self.post(client, &self.endpoint, &body).await?;
        self.finish(reply, api, client.now())
    }

    /// `editMessageText` of the message `message_ref` with the same render (text, parse mode,
    /// link previews, keyboard). "message is not modified" is success: the message already
    /// shows this. "message to edit not found" is `Never` with status 404, so the caller knows
    /// the message is gone. A `message_ref` that is not an id is refused before any request.
    pub(crate) async fn edit(
        &self,
        client: &super::Outbound,
        message_ref: &str,
        alert: &Alert,
    ) -> Result<Sent, SendError> {
        let Some(id) = parse_message_id(message_ref) else {
            return Err(SendError {
                retry: Retry::Never,
                status: None,
                message: "not a Telegram message id (a positive integer)".into(),
            });
        };
        let body = self.render_edit(alert, id);
        let (reply, api) = self.post(client, &self.edit_endpoint, &body).await?;
        if !reply.is_success() || api.as_ref().is_some_and(|a| a.ok == Some(false)) {
            let description = api
                .as_ref()
                .and_then(|a| a.description.as_deref())
                .unwrap_or_default()
                .to_ascii_lowercase();
            if description.contains("message is not modified") {
                return Ok(Sent::default());
            }
            if description.contains("message to edit not found") {
                let mut e = reply_error(&reply, None, self.token.expose());
                e.retry = Retry::Never;
                e.status = Some(404);
                return Err(e);
            }
        }
        self.finish(reply, api, client.now())
    }

    /// POSTs `body` to one Bot API method and reads the reply (enough of a success body to
    /// find `result.message_id`).
    async fn post(
        &self,
        client: &super::Outbound,
        endpoint: &SecretValue,
        body: &Value,
    ) -> Result<(Reply, Option<ApiReply>), SendError> {
        let secret = self.token.expose();
        let resp = client
            .to(endpoint.expose())?
            .post(endpoint.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| transport_error(e, secret))?;
        let reply = read_reply_max(resp, secret, MAX_SUCCESS_BODY).await?;
        let api = ApiReply::parse(&reply.body);
        Ok((reply, api))
    }

    /// Success with the message id, or the error with its wait and any migration hint.
    fn finish(
        &self,
        reply: Reply,
        api: Option<ApiReply>,
        now: DateTime<Utc>,
    ) -> Result<Sent, SendError> {
        let secret = self.token.expose();
        if reply.is_success() {
            // Delivered unless the body says otherwise. A `result` cut off by the read cap does
            // not parse; the 2xx alone says it was accepted, only the id is then unknown.
            if api.as_ref().is_some_and(|a| a.ok == Some(false)) {
                return Err(reply_error(&reply, None, secret));
            }
            return Ok(Sent {
                wait_before_next: None,
                message_ref: api.and_then(|a| a.message_id).map(|id| id.to_string()),
            });
        }
        let from_body = api.as_ref().and_then(|a| a.retry_after);
        let wait = [from_body, retry_after(&reply.headers, now)]
            .into_iter()
            .flatten()
            .max();
        let mut e = reply_error(&reply, wait, secret);
        if let Some(new_id) = api.and_then(|a| a.migrate_to_chat_id) {
            e.message = redact(
                &format!(
                    "the group became a supergroup: set chat_id = {new_id}; {}",
                    e.message
                ),
                secret,
            );
        }
        Err(e)
    }

    /// The `editMessageText` body: the send body's text, parse mode, link previews and
    /// keyboard, for message `message_id` (a topic needs no thread id: the message is in it).
    pub fn render_edit(&self, alert: &Alert, message_id: i64) -> Value {
        let sent = self.render(alert);
        let mut body = json!({
            "chat_id": self.chat_id,
            "message_id": message_id,
            "text": sent["text"],
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
        });
        if let Some(markup) = sent.get("reply_markup") {
            body["reply_markup"] = markup.clone();
        }
        body
    }

    /// Exactly the body [`Telegram::send`] posts.
    pub fn render(&self, alert: &Alert) -> Value {
        let url = alert.url.as_deref().and_then(safe_url);
        let ack = super::ack_url(alert);
        // Telegram refuses a button whose URL has no public-looking host (`BUTTON_URL_INVALID`
        // for `localhost`), which would lose the whole alert: such an ack link is a text link.
        let (ack_button, ack_link) = match ack {
            Some(u) if button_host(u) => (Some(u), None),
            other => (None, other),
        };
        let mut body = json!({
            "chat_id": self.chat_id,
            "text": render_text(alert, url, ack_link),
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
        });
        if let Some(obj) = body.as_object_mut() {
            if let Some(t) = self.topic_id {
                obj.insert("message_thread_id".into(), json!(t));
            }
            let row: Vec<Value> = [("Open", url), (super::ACK_LABEL, ack_button)]
                .into_iter()
                .filter_map(|(text, u)| Some(json!({"text": text, "url": u?})))
                .collect();
            if !row.is_empty() {
                obj.insert("reply_markup".into(), json!({"inline_keyboard": [row]}));
            }
        }
        body
    }
}

/// What we read from a Bot API reply body.
struct ApiReply {
    ok: Option<bool>,
    /// `result.message_id` of a sent or edited message.
    message_id: Option<i64>,
    /// Why it failed ("Bad Request: message is not modified: …").
    description: Option<String>,
    retry_after: Option<Duration>,
    migrate_to_chat_id: Option<i64>,
}

impl ApiReply {
    fn parse(body: &[u8]) -> Option<ApiReply> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let params = v.get("parameters");
        Some(ApiReply {
            ok: v.get("ok").and_then(Value::as_bool),
            message_id: v
                .get("result")
                .and_then(|r| r.get("message_id"))
                .and_then(Value::as_i64)
                .filter(|id| *id > 0),
            description: v
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            retry_after: params
                .and_then(|p| p.get("retry_after"))
                .and_then(Value::as_f64)
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64()))),
            migrate_to_chat_id: params
                .and_then(|p| p.get("migrate_to_chat_id"))
                .and_then(Value::as_i64),
        })
    }
}

/// `123456789:AA…`: the bot id, a colon, then the secret part. Checked so that a stray `/`, `?`
/// or space cannot change the URL the token is pasted into.
fn valid_token(t: &str) -> bool {
    let Some((bot, key)) = t.split_once(':') else {
        return false;
    };
    !bot.is_empty()
        && bot.chars().all(|c| c.is_ascii_digit())
        && !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A message id from an earlier [`Sent::message_ref`]: a positive integer, digits only.
fn parse_message_id(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok().filter(|id| *id > 0)
}

/// True when Telegram takes `url` (a [`safe_url`]) in a URL button: its host is a domain name
/// with a dot, not an IP address or a single label like `localhost`.
fn button_host(url: &str) -> bool {
    matches!(
        url::Url::parse(url).ok().and_then(|u| u.host().map(|h| h.to_owned())),
        Some(url::Host::Domain(d)) if d.trim_end_matches('.').contains('.')
    )
}

/// A chat id as the API wants it: a number, or a public `@channelname` (5–32 letters, digits or
/// underscores, starting with a letter).
pub fn chat_id_value(raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    if let Ok(n) = raw.parse::<i64>() {
        return Ok(json!(n));
    }
    let ok = raw.strip_prefix('@').is_some_and(|name| {
        (5..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    if ok {
        Ok(json!(raw))
    } else {
        Err(format!(
            "`chat_id` {raw:?} is neither a number (-1001234567890) nor \"@channelname\""
        ))
    }
}

/// The API root without a trailing `/`, when it is an http(s) URL with a host and no query.
fn base_url(s: &str) -> Option<String> {
    let u = url::Url::parse(s).ok()?;
    let ok = matches!(u.scheme(), "http" | "https")
        && u.host_str().is_some_and(|h| !h.is_empty())
        && u.query().is_none()
        && u.fragment().is_none();
    ok.then(|| s.trim_end_matches('/').to_string())
}

/// Escapes one character of our own text for HTML mode.
pub fn html(chars: &[char], i: usize, out: &mut String) {
    match chars[i] {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

/// Escapes one character of user text: [`html`], plus a zero-width space after every `@`, after
/// a `.` followed by a letter or digit, and before a `:` between a letter and a non-space (a URI
/// scheme), so that Telegram finds
/// no mention, command target, URL or e-mail address in it; and after `|`.
pub fn user_html(chars: &[char], i: usize, out: &mut String) {
    let next = chars.get(i + 1).copied();
    match chars[i] {
        '@' => {
            out.push('@');
            out.push(ZWSP);
        }
        '.' if next.is_some_and(char::is_alphanumeric) => {
            out.push('.');
            out.push(ZWSP);
        }
        ':' if i > 0
            && chars[i - 1].is_ascii_alphabetic()
            && next.is_some_and(|n| !n.is_whitespace()) =>
        {
            out.push(ZWSP);
            out.push(':');
        }
        // No meaning in HTML mode; split so that a Slack-style spoof `<https://evil|trusted>`
        // is not passed on verbatim (the rule every target keeps).
        '|' => {
            out.push('|');
            out.push(ZWSP);
        }
        _ => html(chars, i, out),
    }
}

/// An `href` value: `&`, `<`, `>` and `"` escaped. Only ever given a [`safe_url`].
pub fn href(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` escaped with `escape`, then cut to `limit` visible units.
fn esc(s: &str, limit: usize, escape: Escaper) -> String {
    cut_visible(
        &text::escape_fit(s, usize::MAX, Count::Chars, escape),
        limit,
    )
}

/// One piece of HTML-mode text: a tag, an entity, or one character.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    /// `<b>`, `<a href="…">` (the tag name) and `</b>`: no visible length.
    Open(&'a str),
    Close(&'a str),
    /// A character or an entity, and its visible length in UTF-16 units.
    Text(usize),
}

/// Splits HTML-mode text into pieces, each with its byte range. A `<` with no `>` or an `&`
/// that is not a known entity is read as a plain character, as it would be shown.
fn pieces(html: &str) -> Vec<(usize, usize, Piece<'_>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        if rest.starts_with('<')
            && let Some(end) = rest.find('>')
        {
            let inner = &rest[1..end];
            let piece = match inner.strip_prefix('/') {
                Some(name) => Piece::Close(name.trim()),
                None => Piece::Open(inner.split_whitespace().next().unwrap_or_default()),
            };
            out.push((i, i + end + 1, piece));
            i += end + 1;
            continue;
        }
        if rest.starts_with('&')
            && let Some((len, c)) = entity(rest)
        {
            out.push((i, i + len, Piece::Text(c.len_utf16())));
            i += len;
            continue;
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push((i, i + c.len_utf8(), Piece::Text(c.len_utf16())));
        i += c.len_utf8().max(1);
    }
    out
}

/// The entity at the start of `s` (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#NN;`, `&#xHH;`): its byte
/// length and the character it decodes to.
fn entity(s: &str) -> Option<(usize, char)> {
    let end = s.get(..12.min(s.len())).unwrap_or(s).find(';')?;
    let name = &s[1..end];
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((end + 1, c))
}

/// The length Telegram counts for HTML-mode `text`: tags removed, entities decoded, in UTF-16
/// code units.
pub fn visible_len(html: &str) -> usize {
    pieces(html)
        .iter()
        .map(|(_, _, p)| match p {
            Piece::Text(n) => *n,
            _ => 0,
        })
        .sum()
}

/// Cuts HTML-mode text to at most `limit` visible UTF-16 units, appending `…` when it cuts. The
/// cut falls between pieces, never inside a tag or an entity, and every tag left open is closed
/// after the ellipsis. Trailing spaces and newlines before the ellipsis are dropped.
pub fn cut_visible(html: &str, limit: usize) -> String {
    let ps = pieces(html);
    let total: usize = ps
        .iter()
        .map(|(_, _, p)| if let Piece::Text(n) = p { *n } else { 0 })
        .sum();
    if total <= limit {
        return html.to_string();
    }
    if limit == 0 {
        return String::new();
    }
    let room = limit - text::ELLIPSIS.len_utf16();
    let mut units = 0;
    let mut end = 0;
    let mut open: Vec<&str> = Vec::new();
    for (start, stop, p) in &ps {
        match p {
            Piece::Text(n) => {
                if units + n > room {
                    break;
                }
                units += n;
            }
            Piece::Open(name) => open.push(name),
            Piece::Close(name) => {
                if let Some(pos) = open.iter().rposition(|o| o == name) {
                    open.truncate(pos);
                }
            }
        }
        debug_assert!(*start == end);
        end = *stop;
    }
    let mut out = html[..end].to_string();
    while out.ends_with([' ', '\n', ZWSP]) {
        out.pop();
    }
    out.push(text::ELLIPSIS);
    for name in open.iter().rev() {
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    out
}

/// `<b>Label:</b> value`, the value escaped with `escape` and capped.
fn labelled(label: &str, value: &str, escape: Escaper) -> String {
    format!("<b>{label}:</b> {}", esc(value, FIELD_CAP, escape))
}

/// The HTML `text` for one alert. Pure.
fn render_text(alert: &Alert, url: Option<&str>, ack: Option<&str>) -> String {
    let header = format!(
        "<b>{}</b>",
        cut_visible(
            &format!(
                "{} · {}",
                esc(&super::heading_label(alert), HEADER_CAP, html),
                esc(&one_line(&alert.watch), HEADER_CAP, user_html)
            ),
            HEADER_CAP
        )
    );
    let title = alert
        .title
        .as_deref()
        .map(one_line)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("New {} on {}", alert.kind.as_str(), alert.source_kind));
    let title = esc(&title, TITLE_CAP, user_html);
    let title = match url {
        Some(u) => format!("<a href=\"{}\">{title}</a>", href(u)),
        None => format!("<b>{title}</b>"),
    };

    // Source, urgency, sentiment and time are ours (config and numbers): HTML-escaped only.
    let mut after: Vec<String> = super::source_fact(alert)
        .map(|s| labelled("Source", &s, html))
        .into_iter()
        .collect();
    let (author, reach) = super::author_parts(alert);
    if let Some(a) = author {
        let shown = match reach {
            Some(r) => format!("{a} · {r}"),
            None => a,
        };
        after.push(labelled("Author", &shown, user_html));
    }
    after.extend(super::urgency_fact(alert).map(|(name, v)| labelled(name, &v, html)));
    after.extend(super::sentiment_fact(alert).map(|v| labelled("Sentiment", &v, html)));
    let mut footer: Vec<String> = alert
        .reasons
        .iter()
        .map(|r| one_line(r))
        .filter(|r| !r.is_empty())
        .map(|r| esc(&r, FOOTER_CAP, user_html))
        .collect();
    footer.extend(super::when(alert).map(|w| esc(&w, FOOTER_CAP, html)));
    if !footer.is_empty() {
        after.push(format!(
            "<i>{}</i>",
            cut_visible(&footer.join(" · "), FOOTER_CAP)
        ));
    }
    if let Some(u) = ack {
        after.push(format!("<a href=\"{}\">{}</a>", href(u), super::ACK_LABEL));
    }
    let after = after.join("\n");

    // The excerpt gets what the other parts leave of the limit (and the newlines between them).
    let used = visible_len(&header) + visible_len(&title) + visible_len(&after) + 3;
    let room = TEXT_MAX.saturating_sub(used).min(EXCERPT_CAP);
    let excerpt = esc(&tidy_block(&alert.text), room, user_html);

    let mut parts = vec![header, title];
    if !excerpt.is_empty() {
        parts.push(format!("<blockquote>{excerpt}</blockquote>"));
    }
    parts.push(after);
    // The caps above keep this within the limit; the cut is a guard, and closes what it cuts.
    cut_visible(&parts.join("\n"), TEXT_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ack_text_link_is_whole_within_the_limit() {
        let ack = "https://earshot.example.com/ack?m=12&exp=1&sig=".to_string() + &"a".repeat(1900);
        let mut a = Alert::sample();
        for t in ["😀".repeat(5000), "&".repeat(5000)] {
            a.text = t;
            let out = render_text(&a, Some("https://example.com/x"), Some(&ack));
            assert!(visible_len(&out) <= TEXT_MAX, "{}", visible_len(&out));
            let link = format!("<a href=\"{}\">Acknowledge</a>", href(&ack));
            assert!(out.ends_with(&link), "{out}");
            assert!(out.matches("</").count() <= MAX_TAGS);
        }
    }

    #[test]
    fn message_ids_and_button_hosts() {
        assert_eq!(parse_message_id("321"), Some(321));
        for bad in ["", "0", "-1", "+1", "1.5", "1e3", "99999999999999999999"] {
            assert_eq!(parse_message_id(bad), None, "{bad:?}");
        }
        let cases: &[(&str, bool)] = &[
            ("https://earshot.example.com/ack", true),
            ("https://example.com./a", true),
            ("http://127.0.0.1:9477/ack", false),
            ("http://[::1]:9477/ack", false),
            ("http://localhost:9477/ack", false),
            ("http://earshot:9477/ack", false),
        ];
        for (u, want) in cases {
            assert_eq!(button_host(u), *want, "{u}");
        }
    }

    fn user(s: &str) -> String {
        text::escape_fit(s, usize::MAX, Count::Chars, user_html)
    }

    #[test]
    fn user_html_table() {
        let z = ZWSP;
        let cases: Vec<(&str, String)> = vec![
            ("a & b", "a &amp; b".into()),
            ("<b>x</b>", "&lt;b&gt;x&lt;/b&gt;".into()),
            ("&amp; &#x202E;", "&amp;amp; &amp;#x202E;".into()),
            ("@durov hi", format!("@{z}durov hi")),
            ("/start@bot", format!("/start@{z}bot")),
            ("dana@example.com", format!("dana@{z}example.{z}com")),
            (
                "https://evil.example/x",
                format!("https{z}://evil.{z}example/x"),
            ),
            ("tg://resolve?domain=x", format!("tg{z}://resolve?domain=x")),
            ("t.me/joinchat", format!("t.{z}me/joinchat")),
            ("end. Next", "end. Next".into()),
            ("v1.2", format!("v1.{z}2")),
            ("Re: launch", "Re: launch".into()),
            ("at 20:26", "at 20:26".into()),
            ("javascript:alert(1)", format!("javascript{z}:alert(1)")),
            ("mailto:a", format!("mailto{z}:a")),
            ("\"quoted\"", "\"quoted\"".into()),
            (
                "<https://evil|trusted>",
                format!("&lt;https{z}://evil|{z}trusted&gt;"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(user(input), want, "{input:?}");
        }
    }

    #[test]
    fn own_text_is_only_html_escaped() {
        assert_eq!(
            text::escape_fit("a@b.c <x> &", 100, Count::Chars, html),
            "a@b.c &lt;x&gt; &amp;"
        );
        assert_eq!(
            href("https://a.example/?x=1&y=\"2\"<>"),
            "https://a.example/?x=1&amp;y=&quot;2&quot;&lt;&gt;"
        );
    }

    #[test]
    fn visible_len_table() {
        let cases: &[(&str, usize)] = &[
            ("", 0),
            ("hello", 5),
            ("<b>hello</b>", 5),
            ("<a href=\"https://a.example/?x=1&amp;y=2\">ab</a>", 2),
            ("&amp;&lt;&gt;&quot;", 4),
            ("&#x1F600;", 2),
            ("&#128512;", 2),
            ("&#233;", 1),
            ("😀", 2),
            ("𝕏", 2),
            ("日本語", 3),
            ("é", 1),
            ("e\u{301}", 2),
            ("a\nb", 3),
            ("@\u{200B}x", 3),
            // Not an entity or a tag: shown as typed.
            ("a & b", 5),
            ("&bogus;", 7),
            ("1 < 2", 5),
            ("<blockquote>q</blockquote>\n<i>i</i>", 3),
        ];
        for (html, want) in cases {
            assert_eq!(visible_len(html), *want, "{html:?}");
        }
    }

    #[test]
    fn cut_visible_table() {
        let cases: &[(&str, usize, &str)] = &[
            ("hello", 5, "hello"),
            ("hello", 4, "hel…"),
            ("hello", 1, "…"),
            ("hello", 0, ""),
            ("", 3, ""),
            // Entities count as one and are never split.
            ("a&amp;b", 3, "a&amp;b"),
            ("a&amp;bc", 3, "a&amp;…"),
            ("ab&amp;c", 3, "ab…"),
            ("&lt;&lt;&lt;", 2, "&lt;…"),
            // Tags count as nothing, are never split, and are closed after a cut.
            ("<b>bold text</b> after", 6, "<b>bold…</b>"),
            ("<b>ab</b>cd", 3, "<b>ab</b>…"),
            (
                "<blockquote><i>deep</i></blockquote>",
                3,
                "<blockquote><i>de…</i></blockquote>",
            ),
            (
                "<a href=\"https://a.example/?x=1&amp;y\">link text</a>",
                5,
                "<a href=\"https://a.example/?x=1&amp;y\">link…</a>",
            ),
            // UTF-16: a 4-byte character is 2 units and is not split.
            ("😀😀😀", 3, "😀…"),
            ("😀😀😀", 4, "😀…"),
            ("😀😀😀", 6, "😀😀😀"),
            ("𝕏𝕏𝕏", 5, "𝕏𝕏…"),
            ("日本語です", 3, "日本…"),
            ("&#x1F600;&#x1F600;", 3, "&#x1F600;…"),
            // No dangling space or newline before the ellipsis.
            ("word word", 6, "word…"),
            ("line\nnext", 6, "line…"),
        ];
        for (input, limit, want) in cases {
            let got = cut_visible(input, *limit);
            assert_eq!(got, *want, "cut_visible({input:?}, {limit})");
            assert!(visible_len(&got) <= *limit, "{got:?}");
        }
    }

    #[test]
    fn cut_never_breaks_an_escape_at_any_limit() {
        let escaped = user("a&b<c>😀@x.y 日本 &amp; 𝕏");
        for limit in 0..=visible_len(&escaped) + 1 {
            let got = cut_visible(&escaped, limit);
            assert!(visible_len(&got) <= limit, "{limit}: {got:?}");
            // Every `&` still starts a whole entity.
            for (i, _) in got.match_indices('&') {
                assert!(
                    entity(&got[i..]).is_some(),
                    "{limit}: broken entity in {got:?}"
                );
            }
            assert!(!got.contains('<') && !got.contains('>'), "{got:?}");
        }
    }

    #[test]
    fn chat_id_table() {
        let cases: &[(&str, Option<Value>)] = &[
            ("-1001234567890", Some(json!(-1001234567890_i64))),
            ("123456", Some(json!(123456))),
            ("@acme_alerts", Some(json!("@acme_alerts"))),
            ("@abc", None),
            ("@1abcde", None),
            ("acme_alerts", None),
            ("@acme alerts", None),
            ("@acme/alerts", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(chat_id_value(raw).ok(), *want, "{raw:?}");
        }
    }

    #[test]
    fn token_and_base_url() {
        assert!(valid_token("123456:ABC-def_123"));
        for bad in ["", "123456", ":abc", "12a:abc", "1:a/b", "1:a b", "1:a?b"] {
            assert!(!valid_token(bad), "{bad:?}");
        }
        assert_eq!(
            base_url("https://api.telegram.org/").as_deref(),
            Some("https://api.telegram.org")
        );
        assert_eq!(
            base_url("http://127.0.0.1:8081").as_deref(),
            Some("http://127.0.0.1:8081")
        );
        for bad in ["ftp://x", "api.telegram.org", "https://x/?a=1", ""] {
            assert!(base_url(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn reply_parameters() {
        let b = br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;
        let r = ApiReply::parse(b).unwrap();
        assert_eq!(r.ok, Some(false));
        assert_eq!(r.retry_after, Some(Duration::from_secs(7)));
        let b = br#"{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1009876543210}}"#;
        assert_eq!(
            ApiReply::parse(b).unwrap().migrate_to_chat_id,
            Some(-1009876543210)
        );
        assert!(ApiReply::parse(b"not json").is_none());
    }

    #[test]
    fn long_text_fills_the_limit_without_passing_it() {
        let mut a = Alert::sample();
        for t in ["😀".repeat(5000), "&".repeat(5000), "a".repeat(5000)] {
            a.text = t;
            let out = render_text(&a, Some("https://example.com/x"), None);
            let n = visible_len(&out);
            assert!(n <= TEXT_MAX, "{n}");
            assert!(out.contains("…</blockquote>"), "{out}");
            assert_eq!(out.matches('<').count() / 2, out.matches("</").count());
        }
    }
}
