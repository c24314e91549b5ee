//! Prints alerts: a readable block per alert (`format = "text"`), or one JSON object per line
//! (`format = "json"`, the alert itself, for `jq` and log shippers).
//!
//! Both forms have user text sanitized first: bidi overrides, invisible characters and control
//! characters (an ESC starts a terminal escape sequence) never reach the terminal. JSON lines keep
//! the full text (they are data: a reader's own tool decides what to link); the text form cuts
//! the excerpt to stay readable, and defangs what a terminal would make a clickable link: a
//! zero-width space before the `:` of a URL scheme and after a domain's dot in user text
//! ([`super::text::defang_link`]). The alert's own URL and ack link are printed as they are, on
//! lines of their own.
//!
//! An alert's ack link (only a [`super::ack_url`]) is an `ack: …` line in the text form and the
//! `ack_url` field in JSON.
//!
//! The writer is injectable ([`Stdout::with_writer`]) so tests can read what was printed.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};

use super::text::{Count, defanged, escape_fit, one_line, tidy_block};
use super::{Retry, SendError, Sent, clean_alert};
use crate::alert::{Alert, Form};
use crate::config::StdoutFormat;

/// Longest excerpt in the text form, in characters (after defanging).
pub const EXCERPT_CAP: usize = 1000;
/// Longest title line, in characters.
pub const TITLE_CAP: usize = 300;
/// Longest author name, in characters.
pub const AUTHOR_CAP: usize = 100;
/// Longest line of reasons, in characters.
pub const REASONS_CAP: usize = 1000;

/// Where printed alerts go.
pub type SharedWriter = Arc<Mutex<dyn Write + Send>>;

/// The stdout sink.
#[derive(Clone)]
pub struct Stdout {
    pub(crate) id: String,
    format: StdoutFormat,
    /// Shared so that clones print to the same place, one whole alert at a time.
    writer: SharedWriter,
    pub(crate) pace: Option<f64>,
}

impl fmt::Debug for Stdout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stdout")
            .field("id", &self.id)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Stdout {
    /// Prints to the process's standard output.
    pub fn new(id: &str, format: StdoutFormat, pace: Option<f64>) -> Stdout {
        Stdout::with_writer(id, format, Arc::new(Mutex::new(std::io::stdout())), pace)
    }

    /// Prints to `writer` (tests, or a file).
    pub fn with_writer(
        id: &str,
        format: StdoutFormat,
        writer: SharedWriter,
        pace: Option<f64>,
    ) -> Stdout {
        Stdout {
            id: id.to_string(),
            format,
            writer,
            pace,
        }
    }

    /// Exactly what [`Stdout::send`] prints for `alert`, trailing newline included.
    pub fn render(&self, alert: &Alert) -> String {
        match self.format {
            StdoutFormat::Json => render_json(alert),
            StdoutFormat::Text => render_text(alert),
        }
    }

    /// Writing to stdout only fails when it is closed or full; that may pass, so it is `Later`.
    pub(crate) fn send(&self, alert: &Alert) -> Result<Sent, SendError> {
        let out = self.render(alert);
        // A writer poisoned by a panic elsewhere is still a usable writer.
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.write_all(out.as_bytes())
            .and_then(|()| w.flush())
            .map_err(|e| SendError {
                retry: Retry::Later(None),
                status: None,
                message: format!("cannot write to stdout: {e}"),
            })?;
        Ok(Sent::default())
    }
}

/// One line: the sanitized alert as compact JSON.
pub fn render_json(alert: &Alert) -> String {
    let mut line = serde_json::to_string(&clean_alert(alert))
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    line.push('\n');
    line
}

/// User text for the text form: defanged ([`defanged`]) and cut to `cap` characters.
fn user_text(s: &str, cap: usize) -> String {
    escape_fit(s, cap, Count::Chars, defanged)
}

/// A block like:
///
/// ```text
/// [CRITICAL 78] acme · feed · acme-blog · comment
/// Re: Acme Cloud launch
/// by dana · reach 1200 · 2026-05-28 20:26 UTC
/// https://example.com/blog/launch#comment-42
/// ack: https://earshot.example.com/ack?m=12&exp=1&sig=ab   (only with an ack link)
///   I was charged twice ...
/// why: 'charged twice'; negative (-0.48); question to the brand
/// sentiment: negative (-0.48)
/// ```
///
/// followed by a blank line. A summary's first line is `[SUMMARY · CRITICAL 78] acme` (the most
/// urgent line's level) and a notice's `[NOTICE] acme`; neither has a sentiment line.
pub fn render_text(alert: &Alert) -> String {
    let a = clean_alert(alert);
    let level = format!("{} {}", a.level.as_str().to_uppercase(), a.urgency);
    let tag = match a.form {
        Form::Mention => level,
        Form::Summary => format!("SUMMARY · {level}"),
        Form::Notice => "NOTICE".into(),
        Form::Digest => "DIGEST".into(),
        Form::Spike => "SPIKE".into(),
    };
    let mut head = format!("[{tag}] {}", a.watch);
    if let Some(s) = super::source_fact(&a) {
        head.push_str(&format!(" · {}", one_line(&s)));
    }
    let mut lines = vec![head];
    if let Some(t) = a.title.as_deref().filter(|t| !t.is_empty()) {
        lines.push(user_text(t, TITLE_CAP));
    }
    let (author, reach) = super::author_parts(&a);
    let byline: Vec<String> = [
        author.map(|x| format!("by {}", user_text(&x, AUTHOR_CAP))),
        reach,
        super::when(&a),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !byline.is_empty() {
        lines.push(byline.join(" · "));
    }
    if let Some(u) = &a.url {
        lines.push(u.clone());
    }
    // `clean_alert` kept it only when it is a safe URL.
    if let Some(u) = &a.ack_url {
        lines.push(format!("ack: {u}"));
    }
    let excerpt = user_text(&tidy_block(&a.text), EXCERPT_CAP);
    lines.extend(excerpt.lines().map(|l| format!("  {l}")));
    if !a.reasons.is_empty() {
        lines.push(format!(
            "why: {}",
            user_text(&a.reasons.join("; "), REASONS_CAP)
        ));
    }
    if let Some(v) = super::sentiment_fact(&a) {
        lines.push(format!("sentiment: {v}"));
    }
    let mut out = lines.join("\n");
    out.push_str("\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_block_for_sample() {
        let got = render_text(&Alert::sample());
        let want = "[CRITICAL 78] acme · feed · acme-blog · comment\n\
                    Re: Acme Cloud launch\n\
                    by dana · reach 1200 · 2026-05-28 20:26 UTC\n\
                    https://example.com/blog/launch#comment-42\n  \
                    I was charged twice for Acme Cloud this month and support has not answered in three days. Is anyone there?\n\
                    why: 'charged twice'; negative (-0.48); question to the brand\n\
                    sentiment: negative (-0.48)\n\n";
        assert_eq!(got, want);
    }

    #[test]
    fn text_defangs_user_links_but_not_the_alerts_own() {
        let mut a = Alert::sample();
        a.title = Some("see www.evil.example".into());
        a.text = "go to https://evil.example/login now".into();
        a.author = Some("t.me/x".into());
        a.reasons = vec!["links evil.example".into()];
        let got = render_text(&a);
        let z = '\u{200B}';
        for want in [
            format!("see www.{z}evil.{z}example\n"),
            format!("by t.{z}me/x · "),
            format!("  go to https{z}://evil.{z}example/login now\n"),
            format!("why: links evil.{z}example\n"),
            "\nhttps://example.com/blog/launch#comment-42\n".to_string(),
        ] {
            assert!(got.contains(&want), "{want:?} not in {got:?}");
        }
        assert!(!got.contains("evil.example"), "{got}");
        // JSON is data: the text as it was, sanitized only.
        assert!(render_json(&a).contains("https://evil.example/login"));
    }

    #[test]
    fn json_is_one_line_and_round_trips() {
        let mut a = Alert::sample();
        a.text = "two\nlines \u{202E}rtl".into();
        let line = render_json(&a);
        assert_eq!(line.matches('\n').count(), 1);
        let back: Alert = serde_json::from_str(&line).unwrap();
        assert_eq!(back.text, "two\nlines rtl");
    }
}
