//! Microsoft Teams through a Workflows webhook: an Adaptive Card in the `message` envelope.
//!
//! Upstream: Workflows "Post to a channel when a webhook request is received"
//! <https://support.microsoft.com/en-us/office/create-incoming-webhooks-with-workflows-for-microsoft-teams-8ae491c7-0394-4861-ba59-055e33f75498>,
//! Adaptive Cards in Teams <https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-reference#adaptive-card>,
//! text formatting <https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-format>.
//! The old Office 365 connector webhooks (`*.webhook.office.com`, MessageCard) are retired.
//!
//! Layout: `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
//! "contentUrl":null,"content":<card>}]}`. The envelope is mandatory: a bare card fails in the
//! flow with "Property 'type' must be 'AdaptiveCard'". The card (version 1.4, full width) holds a
//! header line (level, watch), the title (a Markdown link only to a [`safe_url`]), the excerpt, a
//! FactSet (watch, source, author + reach, urgency, sentiment), a small line of reasons and time,
//! and an `Action.OpenUrl` "Open" button, with an "Acknowledge" one beside it when the alert has
//! an ack link (a [`safe_url`]).
//!
//! Escaping: TextBlocks and fact values render a Markdown subset, so user text gets a backslash
//! before every character that formats anywhere (`\ * _ ~ | < > [ ] &` and `` ` ``), before
//! those that format at a line start (`# - + =`, the `.` or `)` of `1.`), and before the `:` of
//! a scheme (`https:`, `javascript:`). So no bold, list, heading, link `[x](https://evil)`,
//! autolink `<https://…>` or `https://…`, and no entity (`&#x202E;` would decode to a bidi
//! override). Raw HTML is not rendered. Teams also links a bare domain (`www.evil.example`,
//! `evil.example/login`) on its own, so a zero-width space follows a domain's dot
//! ([`super::text::is_domain_dot`]) in user text; the alert's own URL (the title link and the
//! buttons) is never escaped. A mention needs `<at>…</at>` plus a `msteams.entities` entry; we
//! never send entities, so nothing can ping, and `<` is escaped anyway so `<at>` stays visible
//! text. A plain `@everyone` is only text in Teams.
//!
//! Limits: the flow rejects a message over 28,672 bytes (`MessageSizeExceeded`) — but only in its
//! run history, because the trigger answers 202 Accepted before it runs. So the serialized body is
//! kept under [`BODY_BUDGET`] bytes (1 KiB below the limit): fields have their own caps (in
//! characters, after escaping), and the excerpt, cut first, gets what is left, counted in bytes.
//!
//! Status: 202 (and any 2xx) is success; a bad card only shows in the flow's run history, which
//! is why the card's shape is checked by unit tests here. Power Automate may throttle with 429
//! and `Retry-After`.

use earshot_connectors::ratelimit::retry_after;
use serde_json::{Value, json};

use super::text::{Count, ZWSP, escape_fit, is_domain_dot, one_line, safe_url, tidy_block};
use super::{SendError, Sent, SinkError, post_json, reply_error, resolve_url};
use crate::alert::Alert;
use crate::config::SinkConfig;
use crate::secret::SecretValue;

/// Messages per second when `max_per_second` is not set. Microsoft documents no number for
/// Workflows triggers; the retired connector webhooks allowed about 4 requests/s, each message is
/// a flow run posting through the Teams connector (throttled per connection), and throttling
/// shows only in the run history, never in our 202. One a second stays well clear of all of it
/// and keeps alerts in order in the channel.
pub const DEFAULT_PACE: f64 = 1.0;

/// The flow's limit for the whole message (`MessageSizeExceeded`).
pub const MAX_BODY_BYTES: usize = 28_672;
/// What we allow ourselves: 1 KiB of headroom for what the flow adds around the card.
pub const BODY_BUDGET: usize = MAX_BODY_BYTES - 1024;

/// Our own caps (characters, after escaping), so a card stays readable.
const HEADER_CAP: usize = 200;
const TITLE_CAP: usize = 400;
const EXCERPT_CAP: usize = 3000;
const FACT_CAP: usize = 300;
const CONTEXT_CAP: usize = 600;

/// A Teams Workflows webhook.
#[derive(Debug, Clone)]
pub struct Teams {
    pub(crate) id: String,
    /// The whole signed trigger URL (`sig=` is the credential).
    url: SecretValue,
    pub(crate) pace: Option<f64>,
}

impl Teams {
    /// Builds the sink, reading its secrets now; errors name the key, never a secret's value.
    pub fn from_config(cfg: &SinkConfig) -> Result<Teams, SinkError> {
        let url = resolve_url(cfg, "teams")?;
        Ok(Teams {
            id: cfg.id.clone(),
            url,
            pace: cfg.max_per_second,
        })
    }

    pub(crate) async fn send(
        &self,
        client: &super::Outbound,
        alert: &Alert,
    ) -> Result<Sent, SendError> {
        let reply = post_json(client, &self.url, &self.render(alert)).await?;
        // 202 Accepted: the flow is queued. Whether it posted is only in its run history.
        if reply.is_success() {
            return Ok(Sent::default());
        }
        let wait = retry_after(&reply.headers, client.now());
        Err(reply_error(&reply, wait, self.url.expose()))
    }

    /// Exactly the body `send` posts.
    pub fn render(&self, alert: &Alert) -> Value {
        render_within(alert, BODY_BUDGET)
    }
}

/// Escapes one character of user text for a TextBlock or fact value: a backslash before what
/// formats anywhere (`\ * _ ~ | < > [ ] &` and `` ` ``), before what formats at a line start
/// (`# - + =`, and the `.` or `)` of `1.`), and before the `:` of a URL scheme (`https:`,
/// `javascript:`: no autolink); a zero-width space after a domain's dot (`evil.example`: no
/// link to a bare domain). Other punctuation stays as it is, so ordinary text reads normally.
pub fn markdown(chars: &[char], i: usize, out: &mut String) {
    let c = chars[i];
    let escape = match c {
        '\\' | '*' | '_' | '~' | '`' | '|' | '<' | '>' | '[' | ']' | '&' => true,
        '#' | '-' | '+' | '=' => at_line_start(chars, i),
        '.' | ')' => after_line_leading_digits(chars, i),
        ':' => looks_like_scheme(chars, i),
        _ => false,
    };
    if escape {
        out.push('\\');
    }
    out.push(c);
    if c == '.' && is_domain_dot(chars, i) {
        out.push(ZWSP);
    }
}

/// Like [`markdown`], and a new line becomes a paragraph break: a single `\n` is a soft break
/// (a space) in Markdown, which would run the excerpt's lines together.
fn markdown_block(chars: &[char], i: usize, out: &mut String) {
    match chars[i] {
        '\n' => out.push_str("\n\n"),
        _ => markdown(chars, i, out),
    }
}

/// True for the `:` of `https:x`, `javascript:x`, `mailto:x`: a letter before, no space after.
/// `Re: x` and `20:26` stay as they are.
fn looks_like_scheme(chars: &[char], i: usize) -> bool {
    i > 0
        && chars[i - 1].is_ascii_alphabetic()
        && chars.get(i + 1).is_some_and(|c| !c.is_whitespace())
}

/// True when only spaces stand between `chars[i]` and the start of its line.
fn at_line_start(chars: &[char], i: usize) -> bool {
    chars[..i]
        .iter()
        .rev()
        .take_while(|&&c| c != '\n')
        .all(|&c| c == ' ')
}

/// True for the `.` in a line-leading `12.` (an ordered list).
fn after_line_leading_digits(chars: &[char], i: usize) -> bool {
    let mut j = i;
    while j > 0 && chars[j - 1].is_ascii_digit() {
        j -= 1;
    }
    j < i && at_line_start(chars, j)
}

fn esc(s: &str, limit: usize) -> String {
    escape_fit(s, limit, Count::Chars, markdown)
}

fn text_block(text: String) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true})
}

/// The body for one alert with its serialized size at most `budget` bytes: the excerpt is cut
/// first, then the line of reasons is dropped. Pure.
fn render_within(alert: &Alert, budget: usize) -> Value {
    let watch = one_line(&alert.watch);
    let url = alert.url.as_deref().and_then(safe_url);
    let title = alert
        .title
        .as_deref()
        .map(one_line)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("New {} on {}", alert.kind.as_str(), alert.source_kind));

    let mut header = text_block(esc(&super::heading(alert), HEADER_CAP));
    header["weight"] = json!("Bolder");
    header["size"] = json!("Medium");

    // A Markdown link needs a destination without parentheses, backslashes or spaces
    // (`safe_url` already refuses spaces and `<>`); otherwise the title is text and the button
    // still opens the URL.
    let heading = match url.filter(|u| !u.contains(['(', ')', '\\'])) {
        Some(u) => format!("[{}]({u})", esc(&title, TITLE_CAP)),
        None => esc(&title, TITLE_CAP),
    };
    let mut heading = text_block(heading);
    heading["weight"] = json!("Bolder");

    let (author, reach) = super::author_parts(alert);
    let mut facts = vec![("Watch", watch.clone())];
    facts.extend(super::source_fact(alert).map(|s| ("Source", s)));
    if let Some(a) = author {
        let shown = match reach {
            Some(r) => format!("{a} · {r}"),
            None => a,
        };
        facts.push(("Author", shown));
    }
    facts.extend(super::urgency_fact(alert));
    facts.extend(super::sentiment_fact(alert).map(|v| ("Sentiment", v)));
    let facts: Vec<Value> = facts
        .into_iter()
        .map(|(t, v)| json!({"title": t, "value": esc(&v, FACT_CAP)}))
        .collect();

    let mut context: Vec<String> = alert
        .reasons
        .iter()
        .map(|r| one_line(r))
        .filter(|r| !r.is_empty())
        .collect();
    context.extend(super::when(alert));
    let context = (!context.is_empty()).then(|| {
        let mut b = text_block(esc(&context.join(" · "), CONTEXT_CAP));
        b["isSubtle"] = json!(true);
        b["size"] = json!("Small");
        b
    });

    let ack = super::ack_url(alert);
    let source = tidy_block(&alert.text);
    // The buttons are in every try, so the excerpt is what gives way to them.
    super::fit_bytes(
        budget,
        &source,
        EXCERPT_CAP,
        markdown_block,
        |excerpt, extra| {
            let context = if extra { context.as_ref() } else { None };
            assemble(&header, &heading, excerpt, &facts, context, url, ack)
        },
    )
}

fn assemble(
    header: &Value,
    heading: &Value,
    excerpt: &str,
    facts: &[Value],
    context: Option<&Value>,
    url: Option<&str>,
    ack: Option<&str>,
) -> Value {
    let mut body = vec![header.clone(), heading.clone()];
    if !excerpt.is_empty() {
        body.push(text_block(excerpt.to_string()));
    }
    body.push(json!({"type": "FactSet", "facts": facts}));
    body.extend(context.cloned());
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    });
    let actions: Vec<Value> = [("Open", url), (super::ACK_LABEL, ack)]
        .into_iter()
        .filter_map(|(title, u)| Some(json!({"type": "Action.OpenUrl", "title": title, "url": u?})))
        .collect();
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(v: &Value) -> usize {
        serde_json::to_vec(v).unwrap().len()
    }

    #[test]
    fn markdown_table() {
        let cases: &[(&str, &str)] = &[
            ("plain text", "plain text"),
            ("**b** _i_", "\\*\\*b\\*\\* \\_i\\_"),
            ("[x](https://evil)", "\\[x\\](https\\://evil)"),
            ("<at>Dana</at>", "\\<at\\>Dana\\</at\\>"),
            ("<https://evil>", "\\<https\\://evil\\>"),
            (
                "# h\n- a\n  + b\n1. c\n2) d\n> q\n===",
                "\\# h\n\\- a\n  \\+ b\n1\\. c\n2\\) d\n\\> q\n\\===",
            ),
            ("a-b c#d 1+1=2 (x)", "a-b c#d 1+1=2 (x)"),
            ("v1.2 and 3. Re: x at 20:26", "v1.2 and 3. Re: x at 20:26"),
            (
                "javascript:alert(1) mailto:a",
                "javascript\\:alert(1) mailto\\:a",
            ),
            ("&#x202E;", "\\&#x202E;"),
            ("a\\b", "a\\\\b"),
            ("![i](u) `c` ~s~ |t|", "!\\[i\\](u) \\`c\\` \\~s\\~ \\|t\\|"),
            ("dana@example.com", "dana@example.\u{200B}com"),
            (
                "www.evil.example t.me/x evil.example/login",
                "www.\u{200B}evil.\u{200B}example t.\u{200B}me/x evil.\u{200B}example/login",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(esc(input, 1000), *want, "{input:?}");
        }
    }

    #[test]
    fn cut_never_leaves_a_lone_backslash() {
        assert_eq!(esc("aaaa*bbbb", 6), "aaaa…");
    }

    #[test]
    fn card_has_the_required_shape() {
        let v = render_within(&Alert::sample(), BODY_BUDGET);
        assert_eq!(v["type"], "message");
        let atts = v["attachments"].as_array().unwrap();
        assert_eq!(atts.len(), 1);
        assert_eq!(
            atts[0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert!(atts[0]["contentUrl"].is_null());
        let card = &atts[0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        assert!(card["$schema"].as_str().unwrap().starts_with("http"));
        let body = card["body"].as_array().unwrap();
        assert!(!body.is_empty());
        for el in body {
            match el["type"].as_str().unwrap() {
                "TextBlock" => {
                    assert!(!el["text"].as_str().unwrap().is_empty());
                    assert_eq!(el["wrap"], true);
                }
                "FactSet" => {
                    for f in el["facts"].as_array().unwrap() {
                        assert!(f["title"].is_string() && f["value"].is_string(), "{f}");
                    }
                }
                other => panic!("unexpected element {other}"),
            }
        }
        let action = &card["actions"][0];
        assert_eq!(action["type"], "Action.OpenUrl");
        assert_eq!(action["title"], "Open");
        assert_eq!(action["url"], "https://example.com/blog/launch#comment-42");
        // No entities: nothing can ping.
        assert!(card["msteams"].get("entities").is_none());
        assert_eq!(
            body[1]["text"],
            "[Re: Acme Cloud launch](https://example.com/blog/launch#comment-42)"
        );
    }

    #[test]
    fn unsafe_url_is_neither_link_nor_button() {
        for bad in ["javascript:alert(1)", "https://evil|trusted"] {
            let mut a = Alert::sample();
            a.url = Some(bad.into());
            let v = render_within(&a, BODY_BUDGET);
            let s = v.to_string();
            assert!(!s.contains(bad), "{s}");
            assert!(v["attachments"][0]["content"].get("actions").is_none());
        }
        let mut a = Alert::sample();
        a.url = Some("https://example.com/wiki/Foo_(bar)".into());
        let v = render_within(&a, BODY_BUDGET);
        let card = &v["attachments"][0]["content"];
        assert_eq!(card["body"][1]["text"], "Re: Acme Cloud launch");
        assert_eq!(
            card["actions"][0]["url"],
            "https://example.com/wiki/Foo_(bar)"
        );
    }

    /// Every user field as long as the corpus' longest multibyte strings.
    fn huge(s: &str) -> Alert {
        let mut a = Alert::sample();
        a.title = Some(s.into());
        a.text = s.into();
        a.author = Some(s.into());
        a.watch = s.into();
        a.reasons = vec![s.into(); 20];
        a
    }

    #[test]
    fn size_budget_cuts_the_excerpt_first() {
        let multibyte = "😀日本語🎉".repeat(10 * 1024 / 14 + 1);
        let four_byte = "𝕏".repeat(10_000);
        let escapes = "*\n".repeat(10_000);
        for s in [&multibyte, &four_byte, &escapes] {
            let full = render_within(&huge(s), BODY_BUDGET);
            assert!(size(&full) <= BODY_BUDGET, "{}", size(&full));
            // A tight budget: the excerpt shrinks, nothing else changes.
            let budget = size(&full) - 2000;
            let tight = render_within(&huge(s), budget);
            assert!(size(&tight) <= budget, "{} > {budget}", size(&tight));
            let (fb, tb) = (
                full["attachments"][0]["content"]["body"]
                    .as_array()
                    .unwrap(),
                tight["attachments"][0]["content"]["body"]
                    .as_array()
                    .unwrap(),
            );
            assert_eq!(fb.len(), tb.len());
            let (fe, te) = (
                fb[2]["text"].as_str().unwrap(),
                tb[2]["text"].as_str().unwrap(),
            );
            assert!(te.len() < fe.len() && te.ends_with('…'), "{te:?}");
            assert!(!te.ends_with("\\…"), "a cut escape");
            for i in [0, 1, 3, 4] {
                assert_eq!(fb[i], tb[i], "element {i} changed");
            }
        }
    }

    #[test]
    fn without_the_excerpt_the_card_is_far_below_the_limit() {
        let mut a = huge(&"\\".repeat(10_000));
        a.text = String::new();
        let v = render_within(&a, BODY_BUDGET);
        assert!(size(&v) < BODY_BUDGET / 2, "{}", size(&v));
        // A budget too small for the excerpt: it goes, then the reasons.
        let mut a = huge("𝕏𝕏𝕏");
        a.text = String::new();
        a.reasons.clear();
        a.created_at = None;
        let bare = size(&render_within(&a, BODY_BUDGET));
        let a = huge("𝕏𝕏𝕏");
        let small = render_within(&a, bare);
        let body = small["attachments"][0]["content"]["body"]
            .as_array()
            .unwrap();
        assert_eq!(body.len(), 3, "header, title, facts: {body:?}");
        assert_eq!(size(&small), bare);
    }
}
