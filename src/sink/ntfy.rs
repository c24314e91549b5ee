//! ntfy: a JSON publish to a topic.
//!
//! Upstream: publishing <https://docs.ntfy.sh/publish/> (JSON publishing, priorities, tags,
//! click action, action buttons), access tokens <https://docs.ntfy.sh/publish/#access-tokens>,
//! ntfy.sh limits <https://docs.ntfy.sh/publish/#limitations>.
//!
//! Layout: `POST {base_url}/` with `{"topic","title","message","tags","priority","click",
//! "actions"}`. The title is `Critical mention of acme: Re: …`; the message is the excerpt, a
//! blank line, and one line each for watch, source, author and reach, urgency, sentiment, reasons
//! and time. The priority follows the level (critical 5, high 4, normal 3, low 2), the tag is an
//! emoji by level, `click` and a "view" action open the mention (only a [`safe_url`]); a second
//! "view" action, "Acknowledge", opens the alert's ack link when it has one. JSON rather than the
//! plain publish, because header values (`Title:`) must be ASCII or RFC 2047: the actions go in
//! the body's `actions` array, which is what the `Actions` header carries in a plain publish.
//!
//! The topic is a secret (on ntfy.sh, anyone who knows the name can read and write it), so
//! [`Ntfy::render`], which feeds `earshot once --dry-run`, shows it as [`TOPIC_SHOWN`]; `send`
//! puts the real topic in. A token goes in `Authorization: Bearer`. Both are redacted from every
//! error, since a server may echo the body (the topic) or the request.
//!
//! Escaping: the message is plain text (no `markdown`), and ntfy has no mentions, so `@everyone`
//! and friends need no neutralising and Markdown or HTML in user text stays literal. Text is only
//! sanitized (bidi, invisible and control characters dropped), and defanged: a zero-width space
//! before the `:` of a URL scheme (`https:`, `javascript:`), after a domain's dot
//! (`evil.example/login`, `www.evil.example`: linkifiers such as Android's take a bare domain
//! for a link too) and after `|`, so clients that turn URLs in text into links do not link the mention's
//! (the "Open" action is the link, and `click` and the actions are never defanged).
//!
//! Limits: on ntfy.sh a message body over 4,096 bytes becomes an attachment, so `message` is kept
//! to [`MESSAGE_MAX`] bytes, cut on a char boundary: the fact lines are capped first (in
//! characters), and the excerpt, cut last, gets the bytes left. The title is capped at
//! [`TITLE_CAP`] characters.
//!
//! Rate: ntfy.sh gives each visitor a burst of 60 requests, then one every 5 seconds, and a daily
//! message cap; beyond it 429 `{"code":42901,"http":429,"error":"limit reached: too many
//! requests"}`, usually without `Retry-After`. A 429 is "later" either way.

use earshot_connectors::ratelimit::retry_after;
use serde_json::{Value, json};

use super::text::{Count, defang_link, escape_fit, one_line, safe_url, tidy_block};
use super::{Reply, SendError, Sent, SinkError, read_reply, redact, reply_error, transport_error};
use crate::alert::Alert;
use crate::config::SinkConfig;
use crate::secret::SecretValue;
use crate::urgency::Level;

/// Messages per second when `max_per_second` is not set: ntfy.sh refills one request every 5 s
/// after a burst of 60.
pub const DEFAULT_PACE: f64 = 0.2;

/// The public server.
pub const DEFAULT_BASE_URL: &str = "https://ntfy.sh";
/// `message`, in bytes: above it ntfy.sh turns the body into an attachment.
pub const MESSAGE_MAX: usize = 4096;
/// `title`, in characters: ntfy sets no limit; a notification shows one or two lines.
pub const TITLE_CAP: usize = 250;
/// What [`Ntfy::render`] shows instead of the secret topic.
pub const TOPIC_SHOWN: &str = "[topic]";

/// Our own caps, in characters, so a notification stays readable.
const EXCERPT_CAP: usize = 2000;
const FIELD_CAP: usize = 300;
const REASONS_CAP: usize = 600;

/// An ntfy topic on ntfy.sh or a self-hosted server.
#[derive(Debug, Clone)]
pub struct Ntfy {
    pub(crate) id: String,
    /// `{base_url}/`: JSON publishing goes to the root.
    endpoint: String,
    /// The topic name: on a public server, the password.
    topic: SecretValue,
    /// An access token (`tk_…`) for a protected topic.
    token: Option<SecretValue>,
    pub(crate) pace: Option<f64>,
}

impl Ntfy {
    /// Builds the sink, reading its secrets now; errors name the key, never a secret's value.
    pub fn from_config(cfg: &SinkConfig) -> Result<Ntfy, SinkError> {
        let err = |message: String| SinkError {
            id: cfg.id.clone(),
            message,
        };
        let base = cfg.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let parsed = url::Url::parse(base).ok().filter(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some_and(|h| !h.is_empty())
                && u.query().is_none()
                && u.fragment().is_none()
        });
        let Some(parsed) = parsed else {
            return Err(err(
                "`base_url` must be an http(s) URL without query, such as \"https://ntfy.sh\""
                    .into(),
            ));
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(err(
                "`base_url` must not hold a user or password: use `token`".into(),
            ));
        }
        let Some(topic) = cfg.topic.as_ref() else {
            return Err(err(
                "a ntfy sink needs `topic` (e.g. topic = { file = \"ntfy-topic\" })".into(),
            ));
        };
        let topic = super::resolve(cfg, "topic", topic)?;
        if !valid_topic(topic.expose()) {
            return Err(err(
                "`topic` must be 1 to 64 letters, digits, `-` or `_`".into()
            ));
        }
        let token = cfg
            .token
            .as_ref()
            .map(|t| super::resolve(cfg, "token", t))
            .transpose()?;
        if let Some(t) = &token
            && (t.expose().is_empty() || t.expose().chars().any(|c| !c.is_ascii_graphic()))
        {
            return Err(err(
                "`token` must be one word of printable ASCII (an access token, tk_…)".into(),
            ));
        }
        Ok(Ntfy {
            id: cfg.id.clone(),
            endpoint: format!("{}/", base.trim_end_matches('/')),
            topic,
            token,
            pace: cfg.max_per_second,
        })
    }

    pub(crate) async fn send(
        &self,
        client: &super::Outbound,
        alert: &Alert,
    ) -> Result<Sent, SendError> {
        let mut body = self.render(alert);
        body["topic"] = Value::String(self.topic.expose().to_string());
        let mut req = client.to(&self.endpoint)?.post(&self.endpoint).json(&body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error(e, self.topic.expose()))?;
        let reply = read_reply(resp, self.topic.expose()).await?;
        if reply.is_success() {
            return Ok(Sent::default());
        }
        // 429 `{"code":42901,…}` comes with or without `Retry-After`: `classify` makes it
        // "later" either way.
        let wait = retry_after(&reply.headers, client.now());
        let mut text = String::from_utf8_lossy(&reply.body).into_owned();
        if let Some(t) = &self.token {
            text = redact(&text, t.expose());
        }
        let reply = Reply {
            status: reply.status,
            headers: reply.headers,
            body: text.into_bytes(),
        };
        Err(reply_error(&reply, wait, self.topic.expose()))
    }

    /// The body `send` posts, with the secret topic shown as [`TOPIC_SHOWN`].
    pub fn render(&self, alert: &Alert) -> Value {
        render(alert)
    }
}

/// ntfy's topic rule: `^[-_A-Za-z0-9]{1,64}$`.
pub fn valid_topic(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// ntfy's priority (1 min … 5 max) for a level.
pub fn priority(level: Level) -> u8 {
    match level {
        Level::Critical => 5,
        Level::High => 4,
        Level::Normal => 3,
        Level::Low => 2,
    }
}

/// The emoji tag for a level (ntfy shows a tag matching an emoji short code as that emoji).
pub fn tag(level: Level) -> &'static str {
    match level {
        Level::Critical => "rotating_light",
        Level::High => "warning",
        Level::Normal => "mega",
        Level::Low => "speech_balloon",
    }
}

/// Pushes one character of plain text, defanged: a zero-width space before the `:` of
/// `https:x` / `javascript:x` (a letter before, no space after), after a domain's dot
/// (`evil.example`) and after `|`.
pub fn defang(chars: &[char], i: usize, out: &mut String) {
    if defang_link(chars, i, out) {
        return;
    }
    let c = chars[i];
    out.push(c);
    if c == '|' {
        out.push('\u{200B}');
    }
}

fn line(label: &str, value: &str, cap: usize) -> String {
    format!("{label}: {}", escape_fit(value, cap, Count::Chars, defang))
}

/// The body for one alert, topic shown as [`TOPIC_SHOWN`]. Pure.
pub fn render(alert: &Alert) -> Value {
    let watch = one_line(&alert.watch);
    let title = alert
        .title
        .as_deref()
        .map(one_line)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("New {} on {}", alert.kind.as_str(), alert.source_kind));
    let shown_title = escape_fit(
        &format!("{}: {title}", super::heading_of(alert)),
        TITLE_CAP,
        Count::Chars,
        defang,
    );

    let (author, reach) = super::author_parts(alert);
    let mut facts = vec![line("Watch", &watch, FIELD_CAP)];
    facts.extend(super::source_fact(alert).map(|s| line("Source", &s, FIELD_CAP)));
    if let Some(a) = author {
        let shown = match reach {
            Some(r) => format!("{a} · {r}"),
            None => a,
        };
        facts.push(line("Author", &shown, FIELD_CAP));
    }
    facts.extend(super::urgency_fact(alert).map(|(name, v)| line(name, &v, FIELD_CAP)));
    facts.extend(super::sentiment_fact(alert).map(|v| line("Sentiment", &v, FIELD_CAP)));
    let reasons: Vec<String> = alert
        .reasons
        .iter()
        .map(|r| one_line(r))
        .filter(|r| !r.is_empty())
        .collect();
    if !reasons.is_empty() {
        facts.push(line("Why", &reasons.join(" · "), REASONS_CAP));
    }
    if let Some(t) = super::when(alert) {
        facts.push(format!("When: {t}"));
    }
    let facts = facts.join("\n");

    // The excerpt gets the bytes the facts leave (and the blank line between), up to our cap.
    let room = MESSAGE_MAX.saturating_sub(facts.len() + 2);
    let excerpt = escape_fit(&tidy_block(&alert.text), EXCERPT_CAP, Count::Chars, defang);
    let excerpt = escape_fit(&excerpt, room, Count::Bytes, super::text::plain);
    let message = if excerpt.is_empty() {
        facts
    } else {
        format!("{excerpt}\n\n{facts}")
    };
    // Only a huge watch name or source id (config, not the mention) can make the facts alone
    // exceed the limit: then their end is cut.
    let message = super::text::truncate(&message, MESSAGE_MAX, Count::Bytes);

    let mut body = json!({
        "topic": TOPIC_SHOWN,
        "title": shown_title,
        "message": message,
        "tags": [tag(alert.level)],
        "priority": priority(alert.level),
    });
    let mut actions = Vec::new();
    if let Some(u) = alert.url.as_deref().and_then(safe_url) {
        body["click"] = json!(u);
        actions.push(json!({"action": "view", "label": "Open", "url": u}));
    }
    if let Some(u) = super::ack_url(alert) {
        actions.push(json!({"action": "view", "label": super::ACK_LABEL, "url": u}));
    }
    if !actions.is_empty() {
        body["actions"] = Value::Array(actions);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defang_table() {
        let cases: &[(&str, &str)] = &[
            ("@everyone **b** <b> [x](y)", "@everyone **b** <b> [x](y)"),
            (
                "https://evil.example",
                "https\u{200B}://evil.\u{200B}example",
            ),
            (
                "www.evil.example t.me/x",
                "www.\u{200B}evil.\u{200B}example t.\u{200B}me/x",
            ),
            ("v1.2 end. Next", "v1.2 end. Next"),
            ("JAVASCRIPT:alert(1)", "JAVASCRIPT\u{200B}:alert(1)"),
            ("Re: x at 20:26", "Re: x at 20:26"),
            (
                "<https://evil|trusted>",
                "<https\u{200B}://evil|\u{200B}trusted>",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                escape_fit(input, 1000, Count::Chars, defang),
                *want,
                "{input:?}"
            );
        }
    }

    #[test]
    fn priority_and_tag_by_level() {
        let cases = [
            (Level::Critical, 5, "rotating_light"),
            (Level::High, 4, "warning"),
            (Level::Normal, 3, "mega"),
            (Level::Low, 2, "speech_balloon"),
        ];
        for (level, p, t) in cases {
            assert_eq!((priority(level), tag(level)), (p, t), "{level:?}");
            let mut a = Alert::sample();
            a.level = level;
            let v = render(&a);
            assert_eq!(v["priority"], p);
            assert_eq!(v["tags"], json!([t]));
        }
    }

    #[test]
    fn topic_rule() {
        let cases: &[(&str, bool)] = &[
            ("acme-mentions_x7Kq", true),
            ("a", true),
            (&"a".repeat(64), true),
            (&"a".repeat(65), false),
            ("", false),
            ("has space", false),
            ("slash/topic", false),
            ("ümlaut", false),
        ];
        for (t, ok) in cases {
            assert_eq!(valid_topic(t), *ok, "{t:?}");
        }
    }

    #[test]
    fn sample_body() {
        let v = render(&Alert::sample());
        assert_eq!(v["topic"], TOPIC_SHOWN);
        assert!(v.get("markdown").is_none());
        assert_eq!(
            v["title"],
            "Critical mention of acme: Re: Acme Cloud launch"
        );
        let m = v["message"].as_str().unwrap();
        assert!(m.starts_with("I was charged twice"), "{m}");
        assert!(
            m.contains("\n\nWatch: acme\nSource: feed · acme-blog · comment\n"),
            "{m}"
        );
        assert!(m.ends_with("When: 2026-05-28 20:26 UTC"), "{m}");
        assert_eq!(v["click"], "https://example.com/blog/launch#comment-42");
        assert_eq!(v["actions"][0]["url"], v["click"]);
        let mut a = Alert::sample();
        a.url = Some("javascript:alert(1)".into());
        let v = render(&a);
        assert!(v.get("click").is_none() && v.get("actions").is_none());
    }

    #[test]
    fn message_fits_4096_bytes_cutting_the_excerpt() {
        let cases = [
            "😀日本語🎉".repeat(10 * 1024 / 14 + 1),
            "𝕏".repeat(10_000),
            "é".repeat(10_000),
            "x".repeat(10_000),
        ];
        for s in cases {
            let mut a = Alert::sample();
            a.text = s.clone();
            let m = render(&a)["message"].as_str().unwrap().to_string();
            assert!(m.len() <= MESSAGE_MAX, "{} bytes", m.len());
            let (excerpt, facts) = m.split_once("\n\n").unwrap();
            assert!(excerpt.ends_with('…'));
            assert!(facts.starts_with("Watch: acme"));
            // Every field huge too: the facts take their caps, the excerpt what is left.
            a.title = Some(s.clone());
            a.author = Some(s.clone());
            a.reasons = vec![s.clone(); 10];
            let v = render(&a);
            let m = v["message"].as_str().unwrap();
            assert!(m.len() <= MESSAGE_MAX, "{} bytes", m.len());
            assert!(m.contains("\n\nWatch: acme\n"), "excerpt kept: {m}");
            assert!(v["title"].as_str().unwrap().chars().count() <= TITLE_CAP);
            // Even a huge watch name and source id.
            a.watch = s.clone();
            a.source_id = s.clone();
            let m = render(&a)["message"].as_str().unwrap().to_string();
            assert!(m.len() <= MESSAGE_MAX, "{} bytes", m.len());
        }
    }
}
