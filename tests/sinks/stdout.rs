//! Conformance for `kind = "stdout"`, which has no HTTP (so no status table, no credential) and is
//! not a [`crate::SinkCase`]: the whole hostile corpus (summaries included) in both formats,
//! and its caps with multibyte text. Its snapshot, layouts and ack line are in `main.rs`.
//!
//! Text goes to a terminal: no ESC, bidi or other control character may reach it, the excerpt
//! and the other user fields stay within their caps in characters, and a link in user text is
//! defanged like on a chat target (terminals make URLs clickable). JSON is one line of data per
//! alert, sanitized only.

use earshot::alert::Alert;
use earshot::config::StdoutFormat;
use earshot::sink::stdout::{AUTHOR_CAP, EXCERPT_CAP, REASONS_CAP, TITLE_CAP};
use serde_json::Value;

use crate::{
    Linker, chars, hostile_alert, hostile_alerts, no_bidi_controls_or_scripts, no_bidi_or_controls,
    no_live_link, stdout_sink,
};

/// What `render_text` prints: one `[…]` heading line, then title, byline, URLs, the excerpt
/// (indented two spaces), `why:` and `sentiment:` lines, and a blank line.
fn check_text(case: &str, out: &str) {
    assert!(
        out.ends_with("\n\n"),
        "stdout/{case}: no blank line after {out:?}"
    );
    let lines: Vec<&str> = out.trim_end_matches('\n').split('\n').collect();
    assert!(
        lines[0].starts_with('['),
        "stdout/{case}: heading {:?}",
        lines[0]
    );
    for l in &lines {
        no_bidi_or_controls(case, "stdout", l);
    }
    let excerpt: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix("  ")).collect();
    let excerpt = excerpt.join("\n");
    assert!(
        chars(&excerpt) <= EXCERPT_CAP,
        "stdout/{case}: excerpt of {} chars",
        chars(&excerpt)
    );
    // Every other line is ours or a capped field: the longest is `why: ` and the reasons.
    for l in lines.iter().filter(|l| !l.starts_with("  ")) {
        let longest = REASONS_CAP + "why: ".len();
        assert!(
            chars(l) <= longest,
            "stdout/{case}: a line of {} chars",
            chars(l)
        );
    }
    no_live_link(
        case,
        "stdout",
        Linker::BareDomains,
        &Value::String(out.into()),
    );
}

fn check_json(case: &str, out: &str) {
    assert!(
        out.ends_with('\n') && out.matches('\n').count() == 1,
        "stdout json/{case}: not one line"
    );
    let v: Value = serde_json::from_str(out.trim_end()).unwrap();
    no_bidi_controls_or_scripts(case, "stdout json", &v);
    no_live_link(case, "stdout json", Linker::Data, &v);
    let back: Alert = serde_json::from_value(v).unwrap();
    assert!(!back.id.is_empty(), "stdout json/{case}: {back:?}");
}

#[test]
fn hostile_corpus_in_text_and_json() {
    let (text, text_buf) = stdout_sink(StdoutFormat::Text);
    let (json, json_buf) = stdout_sink(StdoutFormat::Json);
    for (case, alert) in hostile_alerts() {
        // What `send` prints is what `preview` shows (checked in `stdout_capture`); rendering
        // through the preview keeps the corpus quick.
        check_text(&case, &text.preview(&alert, crate::now()));
        check_json(&case, &json.preview(&alert, crate::now()));
    }
    assert!(text_buf.lock().unwrap().is_empty() && json_buf.lock().unwrap().is_empty());
}

#[tokio::test]
async fn sends_print_what_the_corpus_checks() {
    // A few whole sends, so the corpus above is about the bytes the terminal gets.
    for (case, alert) in hostile_alerts().into_iter().step_by(97) {
        let out = crate::stdout_capture(StdoutFormat::Text, &alert).await;
        check_text(&case, &out);
        let out = crate::stdout_capture(StdoutFormat::Json, &alert).await;
        check_json(&case, &out);
    }
}

#[test]
fn ten_k_multibyte_text_is_cut_in_characters_and_kept_whole_in_json() {
    let long = "😀日本語🎉".repeat(10 * 1024 / 14 + 1);
    let mut a = hostile_alert(&long, Some("https://example.com/post/1"));
    a.reasons = vec![long.clone(); 3];
    let (text, _) = stdout_sink(StdoutFormat::Text);
    let out = text.preview(&a, crate::now());
    check_text("10k multibyte", &out);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(chars(lines[1]), TITLE_CAP, "the title fills its cap");
    assert!(lines[1].starts_with("😀日本語🎉") && lines[1].ends_with('…'));
    let excerpt = lines.iter().find_map(|l| l.strip_prefix("  ")).unwrap();
    assert_eq!(chars(excerpt), EXCERPT_CAP, "the excerpt fills its cap");
    assert!(excerpt.ends_with('…'));
    let author = lines[2]
        .strip_prefix("by ")
        .unwrap()
        .split(" · ")
        .next()
        .unwrap();
    assert_eq!(chars(author), AUTHOR_CAP);
    let why = lines.iter().find_map(|l| l.strip_prefix("why: ")).unwrap();
    assert_eq!(chars(why), REASONS_CAP);
    // A cut never splits a character: the output is valid UTF-8 by construction, and each cut
    // ends on a whole repeat unit or part of one, never on half an emoji.
    for cut in [lines[1], excerpt, author, why] {
        let body = cut.trim_end_matches('…');
        assert!(long.starts_with(body), "a cut mangled the text: {cut:?}");
    }

    let (json, _) = stdout_sink(StdoutFormat::Json);
    let out = json.preview(&a, crate::now());
    check_json("10k multibyte", &out);
    let back: Alert = serde_json::from_str(out.trim_end()).unwrap();
    assert_eq!(back.text, long, "JSON keeps the whole text");
}
