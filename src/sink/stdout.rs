//! Prints alerts: a readable block per alert (`format = "text"`), or one JSON object per line
//! (`format = "json"`, the alert itself, for `jq` and log shippers).
//!
//! Both forms have user text sanitized first: bidi overrides, invisible characters and control
//! characters (an ESC starts a terminal escape sequence) never reach the terminal. JSON lines keep
//! the full text; the text form cuts the excerpt to stay readable.
//!
//! An alert's ack link (only a [`super::ack_url`]) is an `ack: …` line in the text form and the
//! `ack_url` field in JSON.
//!
//! The writer is injectable ([`Stdout::with_writer`]) so tests can read what was printed.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};

use super::text::{Count, one_line, tidy_block, truncate};
use super::{Retry, SendError, Sent, clean_alert};
use crate::alert::{Alert, Form};
use crate::config::StdoutFormat;

/// Longest excerpt in the text form.
const EXCERPT_CAP: usize = 1000;

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
    };
    let mut head = format!("[{tag}] {}", a.watch);
    if let Some(s) = super::source_fact(&a) {
        head.push_str(&format!(" · {}", one_line(&s)));
    }
    let mut lines = vec![head];
    if let Some(t) = a.title.as_deref().filter(|t| !t.is_empty()) {
        lines.push(truncate(t, 300, Count::Chars));
    }
    let (author, reach) = super::author_parts(&a);
    let byline: Vec<String> = [
        author.map(|x| format!("by {}", truncate(&x, 100, Count::Chars))),
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
    let excerpt = truncate(&tidy_block(&a.text), EXCERPT_CAP, Count::Chars);
    lines.extend(excerpt.lines().map(|l| format!("  {l}")));
    if !a.reasons.is_empty() {
        lines.push(format!("why: {}", a.reasons.join("; ")));
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
    fn json_is_one_line_and_round_trips() {
        let mut a = Alert::sample();
        a.text = "two\nlines \u{202E}rtl".into();
        let line = render_json(&a);
        assert_eq!(line.matches('\n').count(), 1);
        let back: Alert = serde_json::from_str(&line).unwrap();
        assert_eq!(back.text, "two\nlines rtl");
    }
}
