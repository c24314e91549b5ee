//! Slack incoming webhooks with Block Kit.
//!
//! Upstream: <https://api.slack.com/messaging/webhooks>, Block Kit reference
//! <https://api.slack.com/reference/block-kit/blocks>, formatting
//! <https://api.slack.com/reference/surfaces/formatting#escaping>.
//!
//! Layout: a `header` (plain text), a `section` with the linked title and a quoted excerpt plus
//! fields (watch, source, author, urgency, sentiment), a `context` line (reasons, time), and an
//! "Open" button, with an "Acknowledge" button beside it when the alert has an ack link (a
//! [`safe_url`]). Top-level `text` is the notification fallback.
//!
//! Escaping: in every `mrkdwn` string `&`, `<`, `>` become entities, which defuses `<!channel>`,
//! `<@U123>`, `<#C1>`, `<!subteam^S1>` and spoofed links `<https://evil|trusted>`. Slack has no
//! backslash escape, so a zero-width space goes after `*`, `_`, `~` and `` ` `` to keep user text
//! from formatting. `verbatim: true` stops auto-linking in the blocks; `link_names` is never
//! set, so a bare `@channel` does not ping. The top-level `text` (the notification fallback) is
//! not a text object and has no `verbatim`: Slack's automatic parsing links URLs there, and
//! `mrkdwn: false` only turns formatting off. So, in every string, a zero-width space also goes
//! before the `:` of a URL scheme and after a domain's dot ([`text::defang_link`]): no
//! `https://evil`, `evil.example/login` or `www.evil.example` is linked, whichever surface shows
//! it. The header is `plain_text` and holds only the level and the watch name (config). The
//! alert's own URL (the title link, the buttons) is never escaped. Limits are in characters,
//! checked after escaping.

use earshot_connectors::ratelimit::retry_after;
use serde_json::{Value, json};

use super::text::{self, Count, escape_fit, one_line, safe_url, tidy_block};
use super::{SendError, Sent, post_json, reply_error};
use crate::alert::Alert;
use crate::secret::SecretValue;

/// `header` text (plain_text), per Block Kit.
pub const HEADER_MAX: usize = 150;
/// `section.text`.
pub const SECTION_TEXT_MAX: usize = 3000;
/// One `section.fields` item.
pub const FIELD_MAX: usize = 2000;
/// One text object in a `context` block.
pub const CONTEXT_MAX: usize = 3000;
/// Top-level `text`: Slack truncates at 40,000; notifications want far less.
pub const FALLBACK_MAX: usize = 4000;
/// Button `url`.
pub const BUTTON_URL_MAX: usize = 3000;

/// Our own caps, below the platform's, so a message stays readable.
const TITLE_CAP: usize = 300;
const EXCERPT_CAP: usize = 1500;
const FIELD_VALUE_CAP: usize = 300;

/// A Slack incoming webhook.
#[derive(Debug, Clone)]
pub struct Slack {
    pub(crate) id: String,
    /// The webhook URL is the credential.
    url: SecretValue,
    pub(crate) pace: Option<f64>,
}

impl Slack {
    pub fn new(id: &str, url: SecretValue, pace: Option<f64>) -> Slack {
        Slack {
            id: id.to_string(),
            url,
            pace,
        }
    }

    pub(crate) async fn send(
        &self,
        client: &super::Outbound,
        alert: &Alert,
    ) -> Result<Sent, SendError> {
        let reply = post_json(client, &self.url, &render(alert)).await?;
        if reply.is_success() {
            return Ok(Sent::default());
        }
        let wait = retry_after(&reply.headers, client.now());
        Err(reply_error(&reply, wait, self.url.expose()))
    }
}

/// Escapes one character for a `mrkdwn` string.
pub fn mrkdwn(chars: &[char], i: usize, out: &mut String) {
    match chars[i] {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c @ ('*' | '_' | '~' | '`') => {
            out.push(c);
            out.push('\u{200B}');
        }
        // A scheme's `:` or a domain's `.`: no auto-link, verbatim or not.
        _ if text::defang_link(chars, i, out) => {}
        c => out.push(c),
    }
}

/// Like [`mrkdwn`], and every new line continues the block quote.
fn mrkdwn_quoted(chars: &[char], i: usize, out: &mut String) {
    match chars[i] {
        '\n' => out.push_str("\n>"),
        _ => mrkdwn(chars, i, out),
    }
}

/// Link text inside `<url|text>`: also drops `|` and `>`, which would end the text or the link.
fn mrkdwn_link_text(chars: &[char], i: usize, out: &mut String) {
    match chars[i] {
        '|' | '>' => {}
        _ => mrkdwn(chars, i, out),
    }
}

fn esc(s: &str, limit: usize) -> String {
    escape_fit(s, limit, Count::Chars, mrkdwn)
}

fn field(name: &str, value: &str) -> Value {
    let v = esc(
        value,
        FIELD_VALUE_CAP.min(FIELD_MAX - name.chars().count() - 3),
    );
    // verbatim: an author named `evil.example/login` or `#general` stays text, not a link.
    json!({"type": "mrkdwn", "text": format!("*{name}*\n{v}"), "verbatim": true})
}

/// The Block Kit payload for one alert. Pure.
pub fn render(alert: &Alert) -> Value {
    let watch = one_line(&alert.watch);
    let title = alert
        .title
        .as_deref()
        .map(one_line)
        .filter(|t| !t.is_empty());
    let url = alert.url.as_deref().and_then(safe_url);

    let header = text::truncate(&super::heading(alert), HEADER_MAX, Count::Chars);

    // `*<url|title>*` (a link only for a safe URL), then the excerpt as a block quote.
    let shown_title = title
        .clone()
        .unwrap_or_else(|| format!("New {} on {}", alert.kind.as_str(), alert.source_kind));
    let heading = match url {
        Some(u) => {
            let link_text = escape_fit(&shown_title, TITLE_CAP, Count::Chars, mrkdwn_link_text);
            format!("*<{}|{link_text}>*", u.replace('&', "&amp;"))
        }
        None => format!("*{}*", esc(&shown_title, TITLE_CAP)),
    };
    let excerpt_room = SECTION_TEXT_MAX
        .saturating_sub(heading.chars().count() + 2)
        .min(EXCERPT_CAP);
    let excerpt = escape_fit(
        &tidy_block(&alert.text),
        excerpt_room,
        Count::Chars,
        mrkdwn_quoted,
    );
    let section_text = if excerpt.is_empty() {
        heading
    } else {
        format!("{heading}\n>{excerpt}")
    };

    let (author, reach) = super::author_parts(alert);
    let mut fields = vec![field("Watch", &watch)];
    fields.extend(super::source_fact(alert).map(|s| field("Source", &s)));
    if let Some(a) = author {
        let shown = match reach {
            Some(r) => format!("{a} · {r}"),
            None => a,
        };
        fields.push(field("Author", &shown));
    }
    fields.extend(super::urgency_fact(alert).map(|(name, v)| field(name, &v)));
    fields.extend(super::sentiment_fact(alert).map(|v| field("Sentiment", &v)));

    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": true}}),
        json!({"type": "section",
               "text": {"type": "mrkdwn", "text": section_text, "verbatim": true},
               "fields": fields}),
    ];

    let mut context: Vec<String> = alert
        .reasons
        .iter()
        .map(|r| one_line(r))
        .filter(|r| !r.is_empty())
        .collect();
    context.extend(super::when(alert));
    if !context.is_empty() {
        let line = esc(&context.join(" · "), CONTEXT_MAX);
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": line, "verbatim": true}]}));
    }
    // "Open" and "Acknowledge" side by side in one actions block.
    let buttons: Vec<Value> = [
        ("Open", url),
        (super::ACK_LABEL, super::ack_url(alert)),
    ]
    .into_iter()
    .filter_map(|(label, u)| Some((label, u.filter(|u| u.len() <= BUTTON_URL_MAX)?)))
    .map(|(label, u)| {
        json!({"type": "button", "text": {"type": "plain_text", "text": label}, "url": u})
    })
    .collect();
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }

    let fallback = esc(
        &format!("{}: {shown_title}", super::heading_of(alert)),
        FALLBACK_MAX.min(TITLE_CAP + 100),
    );
    json!({
        "text": fallback,
        // The fallback is for notifications only: plain, so that it cannot format or link.
        "mrkdwn": false,
        "unfurl_links": false,
        "unfurl_media": false,
        "blocks": blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_table() {
        let cases: &[(&str, &str)] = &[
            ("<!channel>", "&lt;!channel&gt;"),
            ("<@U123>", "&lt;@U123&gt;"),
            ("a & b", "a &amp; b"),
            ("&amp;", "&amp;amp;"),
            ("*b*", "*\u{200B}b*\u{200B}"),
            (
                "<https://evil|trusted>",
                "&lt;https\u{200B}://evil|trusted&gt;",
            ),
            (
                "evil.example/login www.evil.example",
                "evil.\u{200B}example/login www.\u{200B}evil.\u{200B}example",
            ),
            ("Re: v1.2 at 20:26", "Re: v1.2 at 20:26"),
        ];
        for (input, want) in cases {
            assert_eq!(
                escape_fit(input, 1000, Count::Chars, mrkdwn),
                *want,
                "{input:?}"
            );
        }
    }

    #[test]
    fn link_text_drops_pipe_and_gt() {
        assert_eq!(
            escape_fit("a|b>c<d", 100, Count::Chars, mrkdwn_link_text),
            "abc&lt;d"
        );
    }

    #[test]
    fn unsafe_url_is_not_a_link() {
        let mut a = Alert::sample();
        a.url = Some("javascript:alert(1)".into());
        let v = render(&a).to_string();
        assert!(!v.contains("javascript:"), "{v}");
        assert!(!v.contains("\"actions\""), "{v}");
    }

    #[test]
    fn quote_continues_on_each_line() {
        let mut a = Alert::sample();
        a.text = "one\ntwo".into();
        let v = render(&a);
        let t = v["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(t.ends_with("\n>one\n>two"), "{t}");
    }
}
