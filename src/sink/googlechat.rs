//! Google Chat incoming webhooks: a cardsV2 message, one thread per conversation (`threadKey`).
//!
//! Upstream: incoming webhooks <https://developers.google.com/workspace/chat/quickstart/webhooks>,
//! `spaces.messages.create` <https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages/create>,
//! cardsV2 <https://developers.google.com/workspace/chat/api/reference/rest/v1/cards>, text
//! formatting <https://developers.google.com/workspace/chat/format-messages>.
//!
//! Layout: `text` (the notification line: level, watch, title), `thread.threadKey` when the alert
//! belongs to a conversation, and one card: a header (level and watch, the source as subtitle),
//! the title (a link only to a [`safe_url`]) and the excerpt, `decoratedText` rows (author and
//! reach, urgency, sentiment, reasons, time), and an "Open" button, with an
//! "Acknowledge" one beside it when the alert has an ack link (a [`safe_url`]).
//!
//! Threading: we POST with `messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD` added to the
//! webhook's own query (its `key` and `token` kept byte for byte; a deprecated `threadKey`
//! parameter is dropped, the body's key rules). Without the option every message starts a thread.
//! The key is `earshot-` and 32 hex digits of SHA-256 of [`Alert::thread`]: stable, short (the
//! limit is 4,000) and free of spaces and special characters whatever the thread id holds. An
//! alert without a thread sends no key and starts a new thread.
//!
//! Escaping: `text` uses Chat formatting, where `<users/all>` pings everyone and `<url|label>` is
//! a link: `&`, `<`, `>` become entities, and a zero-width space follows `*`, `_`, `~` and
//! `` ` `` so user text cannot format. Card texts take an HTML subset (`<b>`, `<a href>`,
//! `<font>`, `<br>`): `&`, `<`, `>`, `"` become entities. In both, a zero-width space goes before
//! the `:` of a URL scheme (`https:`, `javascript:`) and after a domain's dot (`evil.example`,
//! `www.evil.example`: Chat links bare domains too) so Chat does not auto-link user text, and
//! after `|` so no `<url|label>` survives even as text. The alert's own URL (the title's `href`,
//! the buttons) is never escaped. A plain `@all` is text: only `<users/…>` mentions.
//!
//! Limits: the whole message at most 32,000 bytes (kept under [`BODY_BUDGET`], 1,000 below, by
//! cutting the excerpt first, counted in bytes), `text` at most 4,096 characters (ours is capped
//! far below). Our own caps are in characters, after escaping.
//!
//! Rate: about one message a second per space; beyond it 429 `RESOURCE_EXHAUSTED`.

use earshot_connectors::ratelimit::retry_after;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::text::{Count, defang_link, escape_fit, one_line, safe_url, tidy_block};
use super::{Reply, SendError, Sent, SinkError, post_json, redact, reply_error, resolve_url};
use crate::alert::Alert;
use crate::config::SinkConfig;
use crate::secret::SecretValue;

/// Messages per second when `max_per_second` is not set: about 60 a minute per space.
pub const DEFAULT_PACE: f64 = 1.0;

/// The whole message, cards included.
pub const MAX_BODY_BYTES: usize = 32_000;
/// What we allow ourselves, with headroom for how Google measures.
pub const BODY_BUDGET: usize = MAX_BODY_BYTES - 1000;
/// `text`, in characters.
pub const TEXT_MAX: usize = 4096;
/// `thread.threadKey`.
pub const THREAD_KEY_MAX: usize = 4000;

/// The query parameter that makes `threadKey` reply in a thread.
const REPLY_OPTION: &str = "messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD";

/// Our own caps (characters, after escaping), so a message stays readable.
const TEXT_CAP: usize = 400;
const HEADER_CAP: usize = 200;
const TITLE_CAP: usize = 400;
const EXCERPT_CAP: usize = 3000;
const FIELD_CAP: usize = 300;
const REASONS_CAP: usize = 600;

/// A Google Chat incoming webhook.
#[derive(Debug, Clone)]
pub struct GoogleChat {
    pub(crate) id: String,
    /// The webhook URL (its `key` and `token` are the credential), the reply option added.
    url: SecretValue,
    /// `key` and `token` decoded, in case a reply echoes them decoded.
    parts: Vec<SecretValue>,
    pub(crate) pace: Option<f64>,
}

impl GoogleChat {
    /// Builds the sink, reading its secrets now; errors name the key, never a secret's value.
    pub fn from_config(cfg: &SinkConfig) -> Result<GoogleChat, SinkError> {
        let err = |message: &str| SinkError {
            id: cfg.id.clone(),
            message: message.to_string(),
        };
        let raw = resolve_url(cfg, "googlechat")?;
        let parsed = url::Url::parse(raw.expose()).map_err(|_| err("`url` is not a URL"))?;
        let parts: Vec<SecretValue> = parsed
            .query_pairs()
            .filter(|(k, v)| matches!(k.as_ref(), "key" | "token") && !v.is_empty())
            .map(|(_, v)| SecretValue::new(v.into_owned()))
            .collect();
        if parts.len() < 2 {
            return Err(err(
                "`url` has no `key=` and `token=`: copy the whole webhook URL from the space's \
                 Apps & integrations → Webhooks",
            ));
        }
        let url = with_reply_option(raw.expose()).ok_or_else(|| err("`url` is not a URL"))?;
        Ok(GoogleChat {
            id: cfg.id.clone(),
            url: SecretValue::new(url),
            parts,
            pace: cfg.max_per_second,
        })
    }

    pub(crate) async fn send(
        &self,
        client: &super::Outbound,
        alert: &Alert,
    ) -> Result<Sent, SendError> {
        let reply = post_json(client, &self.url, &self.render(alert)).await?;
        if reply.is_success() {
            return Ok(Sent::default());
        }
        let wait = retry_after(&reply.headers, client.now());
        // The URL is redacted by `reply_error`; the key and token also in decoded form.
        let mut body = String::from_utf8_lossy(&reply.body).into_owned();
        for p in &self.parts {
            body = redact(&body, p.expose());
        }
        let reply = Reply {
            status: reply.status,
            headers: reply.headers,
            body: body.into_bytes(),
        };
        Err(reply_error(&reply, wait, self.url.expose()))
    }

    /// Exactly the body `send` posts.
    pub fn render(&self, alert: &Alert) -> Value {
        render_within(alert, BODY_BUDGET)
    }
}

/// The URL with the reply option, every other query parameter kept as written (no re-encoding of
/// the token), any earlier `messageReplyOption` or deprecated `threadKey` dropped.
pub fn with_reply_option(url: &str) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    let mut query: Vec<String> = u
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| {
            let name = p.split('=').next().unwrap_or("");
            !p.is_empty() && name != "messageReplyOption" && name != "threadKey"
        })
        .map(str::to_string)
        .collect();
    query.push(REPLY_OPTION.to_string());
    u.set_query(Some(&query.join("&")));
    Some(u.into())
}

/// `earshot-` and 32 hex digits of SHA-256 of the conversation id: stable, 40 characters of
/// `[a-z0-9-]`.
pub fn thread_key(thread: &str) -> String {
    let digest = Sha256::digest(thread.as_bytes());
    format!("earshot-{}", hex::encode(&digest[..16]))
}

/// Escapes one character for `text` (Chat formatting).
pub fn chat_text(chars: &[char], i: usize, out: &mut String) {
    match chars[i] {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c @ ('*' | '_' | '~' | '`' | '|') => {
            out.push(c);
            out.push('\u{200B}');
        }
        // A scheme's `:` or a domain's `.`: no auto-link.
        _ if defang_link(chars, i, out) => {}
        c => out.push(c),
    }
}

/// Escapes one character for a card text (HTML subset).
pub fn html(chars: &[char], i: usize, out: &mut String) {
    match chars[i] {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '|' => out.push_str("|\u{200B}"),
        _ if defang_link(chars, i, out) => {}
        c => out.push(c),
    }
}

/// Like [`html`], with a new line as `<br>`.
fn html_block(chars: &[char], i: usize, out: &mut String) {
    match chars[i] {
        '\n' => out.push_str("<br>"),
        _ => html(chars, i, out),
    }
}

fn esc(s: &str, limit: usize) -> String {
    escape_fit(s, limit, Count::Chars, html)
}

fn row(label: &str, value: &str, limit: usize) -> Value {
    json!({"decoratedText": {"topLabel": label, "text": esc(value, limit), "wrapText": true}})
}

/// The body for one alert with its serialized size at most `budget` bytes: the excerpt is cut
/// first, then the reasons row is dropped. Pure.
fn render_within(alert: &Alert, budget: usize) -> Value {
    let url = alert.url.as_deref().and_then(safe_url);
    let title = alert
        .title
        .as_deref()
        .map(one_line)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("New {} on {}", alert.kind.as_str(), alert.source_kind));

    let text = escape_fit(
        &format!("{}: {title}", super::heading_of(alert)),
        TEXT_CAP.min(TEXT_MAX),
        Count::Chars,
        chat_text,
    );
    let mut header = json!({"title": esc(&super::heading(alert), HEADER_CAP)});
    if let Some(s) = super::source_fact(alert) {
        header["subtitle"] = Value::String(esc(&s, HEADER_CAP));
    }
    let heading = match url {
        // `safe_url` refuses `"`, `<`, `>`; `&` is the only character to encode in the attribute.
        Some(u) => format!(
            "<b><a href=\"{}\">{}</a></b>",
            u.replace('&', "&amp;"),
            esc(&title, TITLE_CAP)
        ),
        None => format!("<b>{}</b>", esc(&title, TITLE_CAP)),
    };

    let (author, reach) = super::author_parts(alert);
    let mut rows = Vec::new();
    if let Some(a) = author {
        let shown = match reach {
            Some(r) => format!("{a} · {r}"),
            None => a,
        };
        rows.push(row("Author", &shown, FIELD_CAP));
    }
    rows.extend(super::urgency_fact(alert).map(|(name, v)| row(name, &v, FIELD_CAP)));
    rows.extend(super::sentiment_fact(alert).map(|v| row("Sentiment", &v, FIELD_CAP)));
    let reasons: Vec<String> = alert
        .reasons
        .iter()
        .map(|r| one_line(r))
        .filter(|r| !r.is_empty())
        .collect();
    let reasons = (!reasons.is_empty()).then(|| row("Why", &reasons.join(" · "), REASONS_CAP));
    let when = super::when(alert).map(|t| row("When", &t, FIELD_CAP));

    let ack = super::ack_url(alert);
    let source = tidy_block(&alert.text);
    super::fit_bytes(
        budget,
        &source,
        EXCERPT_CAP,
        html_block,
        |excerpt, extra| {
            let mut top = vec![json!({"textParagraph": {"text": heading}})];
            if !excerpt.is_empty() {
                top.push(json!({"textParagraph": {"text": excerpt}}));
            }
            let mut facts = rows.clone();
            if extra {
                facts.extend(reasons.clone());
            }
            facts.extend(when.clone());
            let mut sections = vec![json!({"widgets": top}), json!({"widgets": facts})];
            let buttons: Vec<Value> = [("Open", url), (super::ACK_LABEL, ack)]
                .into_iter()
                .filter_map(|(text, u)| {
                    Some(json!({"text": text, "onClick": {"openLink": {"url": u?}}}))
                })
                .collect();
            if !buttons.is_empty() {
                sections.push(json!({"widgets": [{"buttonList": {"buttons": buttons}}]}));
            }
            let mut body = json!({
                "text": text,
                "cardsV2": [{"cardId": "mention", "card": {"header": header, "sections": sections}}],
            });
            if let Some(t) = &alert.thread {
                body["thread"] = json!({"threadKey": thread_key(t)});
            }
            body
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(v: &Value) -> usize {
        serde_json::to_vec(v).unwrap().len()
    }

    #[test]
    fn chat_text_table() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("<users/all>", "&lt;users/all&gt;"),
            (
                "<https://evil|Trusted>",
                "&lt;https\u{200B}://evil|\u{200B}Trusted&gt;",
            ),
            ("a & b &amp;", "a &amp; b &amp;amp;"),
            (
                "*b* _i_ ~s~ `c`",
                "*\u{200B}b*\u{200B} _\u{200B}i_\u{200B} ~\u{200B}s~\u{200B} `\u{200B}c`\u{200B}",
            ),
            (
                "javascript:x Re: y 20:26",
                "javascript\u{200B}:x Re: y 20:26",
            ),
            ("@all", "@all"),
            (
                "www.evil.example t.me/x",
                "www.\u{200B}evil.\u{200B}example t.\u{200B}me/x",
            ),
            ("v1.2 end. Next", "v1.2 end. Next"),
        ];
        for (input, want) in cases {
            assert_eq!(
                escape_fit(input, 1000, Count::Chars, chat_text),
                *want,
                "{input:?}"
            );
        }
    }

    #[test]
    fn html_table() {
        let cases: &[(&str, &str)] = &[
            ("<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"),
            (
                "<a href=\"https://evil\">",
                "&lt;a href=&quot;https\u{200B}://evil&quot;&gt;",
            ),
            ("&#x202E;", "&amp;#x202E;"),
            ("*not bold*", "*not bold*"),
            ("it's a|b", "it's a|\u{200B}b"),
            (
                "evil.example/login https://evil.example",
                "evil.\u{200B}example/login https\u{200B}://evil.\u{200B}example",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(esc(input, 1000), *want, "{input:?}");
        }
        assert_eq!(
            escape_fit("a\nb<", 100, Count::Chars, html_block),
            "a<br>b&lt;"
        );
        // Never a half entity.
        assert_eq!(esc("abc&def", 6), "abc…");
    }

    #[test]
    fn reply_option_is_added_and_the_token_kept_as_written() {
        let cases: &[(&str, &str)] = &[
            (
                "https://chat.googleapis.com/v1/spaces/AAA/messages?key=K1&token=abc%3D",
                "https://chat.googleapis.com/v1/spaces/AAA/messages?key=K1&token=abc%3D&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD",
            ),
            (
                "https://chat.googleapis.com/v1/spaces/AAA/messages?messageReplyOption=REPLY_MESSAGE_OR_FAIL&key=K1&threadKey=x&token=t",
                "https://chat.googleapis.com/v1/spaces/AAA/messages?key=K1&token=t&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD",
            ),
            (
                "https://chat.googleapis.com/v1/spaces/AAA/messages",
                "https://chat.googleapis.com/v1/spaces/AAA/messages?messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(with_reply_option(input).as_deref(), Some(*want));
        }
    }

    #[test]
    fn thread_key_is_stable_short_and_plain() {
        let a = thread_key("acme-blog:https://example.com/blog/launch");
        assert_eq!(a, thread_key("acme-blog:https://example.com/blog/launch"));
        assert_ne!(a, thread_key("acme-blog:https://example.com/blog/other"));
        let long = thread_key(&"x y/?&#<>".repeat(10_000));
        for k in [&a, &long] {
            assert_eq!(k.len(), 40);
            assert!(k.len() <= THREAD_KEY_MAX);
            assert!(
                k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{k}"
            );
        }
    }

    #[test]
    fn thread_follows_the_alert() {
        let mut a = Alert::sample();
        let first = render_within(&a, BODY_BUDGET)["thread"]["threadKey"].clone();
        a.id = "msg_other".into();
        a.title = Some("another comment".into());
        assert_eq!(render_within(&a, BODY_BUDGET)["thread"]["threadKey"], first);
        a.thread = Some("reddit:t3_abc".into());
        let other = render_within(&a, BODY_BUDGET)["thread"]["threadKey"].clone();
        assert!(other.is_string() && other != first);
        a.thread = None;
        assert!(render_within(&a, BODY_BUDGET).get("thread").is_none());
    }

    #[test]
    fn card_shape() {
        let v = render_within(&Alert::sample(), BODY_BUDGET);
        assert_eq!(v["text"], "Critical mention of acme: Re: Acme Cloud launch");
        let card = &v["cardsV2"][0]["card"];
        assert_eq!(card["header"]["title"], "Critical mention · acme");
        let sections = card["sections"].as_array().unwrap();
        assert_eq!(sections.len(), 3);
        assert_eq!(
            sections[0]["widgets"][0]["textParagraph"]["text"],
            "<b><a href=\"https://example.com/blog/launch#comment-42\">Re: Acme Cloud launch</a></b>"
        );
        assert_eq!(
            sections[2]["widgets"][0]["buttonList"]["buttons"][0]["onClick"]["openLink"]["url"],
            "https://example.com/blog/launch#comment-42"
        );
        let mut a = Alert::sample();
        a.url = Some("javascript:alert(1)".into());
        let v = render_within(&a, BODY_BUDGET);
        assert!(!v.to_string().contains("javascript"), "{v}");
        assert_eq!(
            v["cardsV2"][0]["card"]["sections"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    fn huge(s: &str) -> Alert {
        let mut a = Alert::sample();
        a.title = Some(s.into());
        a.text = s.into();
        a.author = Some(s.into());
        a.watch = s.into();
        a.reasons = vec![s.into(); 20];
        a.thread = Some(s.into());
        a
    }

    #[test]
    fn size_budget_cuts_the_excerpt_first() {
        let multibyte = "😀日本語🎉".repeat(10 * 1024 / 14 + 1);
        let four_byte = "𝕏".repeat(10_000);
        let entities = "<\n\"".repeat(10_000);
        for s in [&multibyte, &four_byte, &entities] {
            let full = render_within(&huge(s), BODY_BUDGET);
            assert!(size(&full) <= BODY_BUDGET, "{}", size(&full));
            let budget = size(&full) - 2000;
            let tight = render_within(&huge(s), budget);
            assert!(size(&tight) <= budget, "{} > {budget}", size(&tight));
            let (fw, tw) = (
                &full["cardsV2"][0]["card"]["sections"][0]["widgets"],
                &tight["cardsV2"][0]["card"]["sections"][0]["widgets"],
            );
            let (fe, te) = (
                fw[1]["textParagraph"]["text"].as_str().unwrap(),
                tw[1]["textParagraph"]["text"].as_str().unwrap(),
            );
            assert!(te.len() < fe.len() && te.ends_with('…'), "{te:?}");
            assert_eq!(fw[0], tw[0]);
            assert_eq!(
                full["cardsV2"][0]["card"]["sections"][1],
                tight["cardsV2"][0]["card"]["sections"][1]
            );
            assert_eq!(full["text"], tight["text"]);
        }
    }

    #[test]
    fn without_the_excerpt_the_message_is_far_below_the_limit() {
        let mut a = huge(&"\"".repeat(10_000));
        a.text = String::new();
        assert!(size(&render_within(&a, BODY_BUDGET)) < BODY_BUDGET / 2);
        // Too small for the excerpt: it goes, then the reasons.
        let mut a = huge("𝕏𝕏𝕏");
        a.text = String::new();
        a.reasons.clear();
        let bare = size(&render_within(&a, BODY_BUDGET));
        let small = render_within(&huge("𝕏𝕏𝕏"), bare);
        assert_eq!(size(&small), bare);
        let labels: Vec<&str> = small["cardsV2"][0]["card"]["sections"][1]["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["decoratedText"]["topLabel"].as_str().unwrap())
            .collect();
        assert_eq!(labels, ["Author", "Urgency", "Sentiment", "When"]);
    }
}
