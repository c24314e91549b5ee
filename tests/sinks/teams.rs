//! Conformance case for `kind = "teams"`: an Adaptive Card in the `message` envelope, posted to a
//! Workflows trigger URL that answers 202 Accepted.

use earshot::alert::Alert;
use earshot::config::{SinkConfig, SinkKind};
use earshot::secret::Secret;
use earshot::sink::Sink;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::{CANARY, SinkCase, chars, escaped_at};

pub struct Teams;

/// The flow's `MessageSizeExceeded` limit.
const MAX_BODY_BYTES: usize = 28_672;
/// The only link a card may carry, from [`crate::HOSTILE_URLS`] (or the sample's own).
const GOOD_URLS: [&str; 2] = [
    "https://example.com/post/1",
    "https://example.com/blog/launch#comment-42",
];

impl SinkCase for Teams {
    const KIND: SinkKind = SinkKind::Teams;
    const SNAPSHOT: &'static str = "teams.json";

    fn config(server: &str) -> SinkConfig {
        let url = format!(
            "{server}/workflows/0a1b2c3d/triggers/manual/paths/invoke?api-version=2016-06-01\
             &sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={CANARY}"
        );
        SinkConfig {
            url: Some(Secret::Plain(url)),
            ..SinkConfig::new("teams", SinkKind::Teams)
        }
    }

    /// Workflows triggers answer 202 with an empty body as soon as the flow is queued.
    fn ok() -> ResponseTemplate {
        ResponseTemplate::new(202)
    }

    fn check(case: &str, body: &Value) {
        let raw = serde_json::to_vec(body).unwrap().len();
        assert!(raw < MAX_BODY_BYTES, "teams/{case}: body {raw} bytes");
        assert_eq!(body["type"], "message", "teams/{case}: envelope");
        let atts = body["attachments"].as_array().unwrap();
        assert_eq!(atts.len(), 1);
        assert_eq!(
            atts[0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert!(atts[0]["contentUrl"].is_null());
        let card = &atts[0]["content"];
        assert_eq!(card["type"], "AdaptiveCard", "teams/{case}: not a card");
        assert_eq!(card["version"], "1.4");
        assert!(
            card["msteams"].get("entities").is_none(),
            "teams/{case}: entities could ping"
        );
        let blocks = card["body"].as_array().unwrap();
        assert!(blocks.len() >= 3, "teams/{case}: header, title, facts");
        for (n, b) in blocks.iter().enumerate() {
            match b["type"].as_str().unwrap() {
                "TextBlock" => {
                    let t = b["text"].as_str().unwrap();
                    assert!(!t.is_empty(), "teams/{case}: empty TextBlock");
                    // The title (element 1) may be our one link to the alert's safe URL.
                    let t = if n == 1 { unlink(t) } else { t };
                    check_text(case, t);
                    assert!(chars(t) <= 3000, "teams/{case}: TextBlock {n}");
                    if n != 2 {
                        assert!(!t.contains('\n'), "teams/{case}: new line in {t:?}");
                    }
                }
                "FactSet" => {
                    for f in b["facts"].as_array().unwrap() {
                        let v = f["value"].as_str().unwrap();
                        check_text(case, v);
                        assert!(chars(v) <= 300 && !v.contains('\n'), "teams/{case}: fact");
                    }
                }
                other => panic!("teams/{case}: unexpected element {other}"),
            }
        }
        if let Some(actions) = card.get("actions") {
            let a = &actions.as_array().unwrap()[0];
            assert_eq!(a["type"], "Action.OpenUrl");
            assert!(
                GOOD_URLS.contains(&a["url"].as_str().unwrap()),
                "teams/{case}: button to {}",
                a["url"]
            );
        }
    }
}

/// The text inside our `[title](url)` link, after checking the URL is the alert's safe one.
fn unlink(t: &str) -> &str {
    for u in GOOD_URLS {
        let tail = format!("]({u})");
        if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(&tail)) {
            return inner;
        }
    }
    t
}

/// User text in a TextBlock or fact: every character that formats anywhere escaped, and those
/// that format at a line start escaped there, so nothing formats, links (`[x](u)`, `<https://…>`,
/// `https://…`: the scheme's `:` is escaped), decodes (`&#…;`) or turns into `<at>`.
fn check_text(case: &str, s: &str) {
    for (i, c) in s.char_indices() {
        let line_start = s[..i]
            .rsplit('\n')
            .next()
            .is_some_and(|l| l.chars().all(|c| c == ' '));
        if "*_~`|<>[]&".contains(c) || (line_start && "#-+=".contains(c)) {
            assert!(escaped_at(s, i), "teams/{case}: unescaped {c:?} in {s:?}");
        }
    }
    // The `:` of a scheme (`https:`, `javascript:`), so nothing auto-links.
    for (i, _) in s.match_indices(':') {
        let letter_before = s[..i].ends_with(|c: char| c.is_ascii_alphabetic());
        let text_after = s[i + 1..].starts_with(|c: char| !c.is_whitespace());
        if letter_before && text_after {
            panic!("teams/{case}: live scheme in {s:?}");
        }
    }
    // Every backslash starts a pair: none dangles before a cut.
    let trailing = s.chars().rev().take_while(|&c| c == '\\').count();
    assert!(trailing % 2 == 0, "teams/{case}: dangling backslash in {s:?}");
}

#[test]
fn check_catches_a_bare_card_and_live_markdown() {
    let good: Value = serde_json::from_str(
        &Sink::from_config(&Teams::config("http://127.0.0.1:9"))
            .unwrap()
            .preview(&Alert::sample(), crate::now()),
    )
    .unwrap();
    Teams::check("good", &good);
    let bare = good["attachments"][0]["content"].clone();
    let mut live = good.clone();
    live["attachments"][0]["content"]["body"][2]["text"] = json!("**bold** <at>x</at>");
    let mut big = good.clone();
    big["attachments"][0]["content"]["body"][2]["text"] = json!("x".repeat(MAX_BODY_BYTES));
    let mut evil = good;
    evil["attachments"][0]["content"]["actions"][0]["url"] = json!("https://evil.example/");
    for bad in [bare, live, big, evil] {
        let r = std::panic::catch_unwind(|| Teams::check("bad", &bad));
        assert!(r.is_err(), "check let through {bad}");
    }
}

#[test]
fn ten_k_multibyte_text_fits_with_a_cut_excerpt() {
    let s = Sink::from_config(&Teams::config("http://127.0.0.1:9")).unwrap();
    let long = "😀日本語🎉".repeat(10 * 1024 / 14 + 1);
    let mut a = Alert::sample();
    a.text = long.clone();
    a.title = Some(long.clone());
    a.author = Some(long.clone());
    a.reasons = vec![long; 30];
    let body: Value = serde_json::from_str(&s.preview(&a, crate::now())).unwrap();
    Teams::check("10k multibyte everywhere", &body);
    let excerpt = body["attachments"][0]["content"]["body"][2]["text"]
        .as_str()
        .unwrap();
    assert!(excerpt.ends_with('…') && excerpt.starts_with("😀日本語🎉"));
}
