//! What a sink renders: one mention, for one watch, with its scores. Stored as JSON in the
//! outbox, so a delivery can be retried after a restart exactly as it was enqueued.

use chrono::{DateTime, Utc};
use earshot_connectors::MentionKind;
use serde::{Deserialize, Serialize};

use crate::sentiment::Sentiment;
use crate::urgency::Level;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable for one (mention, route, sink): the idempotency key (`webhook-id`) across retries.
    pub id: String,
    pub watch: String,
    pub source_id: String,
    /// The source's kind (`feed`, `reddit`, ...).
    pub source_kind: String,
    pub url: Option<String>,
    pub title: Option<String>,
    /// Full plain text: each sink cuts it to its platform's limits.
    pub text: String,
    /// Handle or display name.
    pub author: Option<String>,
    /// Followers, karma or reputation.
    pub author_reach: Option<u64>,
    pub created_at: Option<DateTime<Utc>>,
    pub kind: MentionKind,
    pub sentiment: Sentiment,
    /// 0-100.
    pub urgency: u8,
    pub level: Level,
    /// Why it is urgent, most important first ("negative (-0.81)", "'charged twice'").
    pub reasons: Vec<String>,
    /// The conversation it belongs to (`source:thread root`), for targets that thread messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// A signed link that acknowledges the mention (urgent alerts, when earshot's HTTP listener
    /// is on): added at send time, never stored. Sinks show it as an "Acknowledge" link or button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_url: Option<String>,
    /// What the message is: one mention, a summary of several, or a notice from earshot itself.
    /// Sinks lay each out differently (a summary has no sentiment of its own, a notice no
    /// urgency). Absent in stored JSON means a mention.
    #[serde(default, skip_serializing_if = "Form::is_mention")]
    pub form: Form,
}

/// The `source_id` and `source_kind` of a message earshot writes itself (a catch-up across
/// sources, a notice).
pub const EARSHOT_SOURCE: &str = "earshot";

/// The three layouts a sink renders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// One mention (also a cross-posted text with its count): urgency, sentiment, author.
    #[default]
    Mention,
    /// Several mentions in one message (a conversation, a catch-up after quiet hours, what
    /// exceeded a budget): one line each, the most urgent first; the message shows the most
    /// urgent one's level and no sentiment.
    Summary,
    /// A message from earshot itself (a silence added or expired): no urgency, no sentiment.
    Notice,
    /// A `[[digest]]`: a period's figures in its text; no urgency, no sentiment of its own.
    Digest,
    /// A spike in a watch's volume or negative share (`[spikes]`): its figures, the terms and
    /// the mentions behind it in its text; no urgency or sentiment of its own.
    Spike,
}

impl Form {
    pub fn is_mention(&self) -> bool {
        *self == Form::Mention
    }
}

impl Alert {
    /// A realistic alert for `earshot test-sink` and tests.
    pub fn sample() -> Alert {
        Alert {
            id: "msg_sample0000000000000000".into(),
            watch: "acme".into(),
            source_id: "acme-blog".into(),
            source_kind: "feed".into(),
            url: Some("https://example.com/blog/launch#comment-42".into()),
            title: Some("Re: Acme Cloud launch".into()),
            text: "I was charged twice for Acme Cloud this month and support has not answered in three days. Is anyone there?".into(),
            author: Some("dana".into()),
            author_reach: Some(1200),
            created_at: Some(DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default()),
            kind: MentionKind::Comment,
            sentiment: Sentiment { compound: -0.4767, pos: 0.0, neu: 0.85, neg: 0.15 },
            urgency: 78,
            level: Level::Critical,
            reasons: vec!["'charged twice'".into(), "negative (-0.48)".into(), "question to the brand".into()],
            thread: Some("acme-blog:https://example.com/blog/launch".into()),
            ack_url: None,
            form: Form::Mention,
        }
    }
}

/// Most alerts listed one by one in a catch-up message; the rest are counted.
pub const CATCH_UP_LISTED: usize = 25;

impl Alert {
    /// One message for the alerts held back on one sink (by quiet hours, or its budget: `why`
    /// ends the title, "during quiet hours"), the most urgent first: its level and link are the
    /// most urgent one's, its text one line per alert.
    pub fn catch_up(held: &[Alert], why: &str) -> Alert {
        let n = held.len();
        Alert::summary(
            held,
            format!("{n} mention{} held {why}", if n == 1 { "" } else { "s" }),
            format!("held {why}"),
            false,
        )
    }

    /// A message from earshot itself (`id` its idempotency key) on the sinks of `watch`
    /// ("all watches" when it concerns every watch): a notice, without urgency or sentiment.
    pub fn notice(id: String, watch: &str, title: String, text: String, at: i64) -> Alert {
        Alert {
            id,
            watch: watch.to_string(),
            source_id: EARSHOT_SOURCE.into(),
            source_kind: EARSHOT_SOURCE.into(),
            url: None,
            title: Some(title),
            text,
            author: None,
            author_reach: None,
            created_at: DateTime::from_timestamp(at, 0),
            kind: MentionKind::Post,
            sentiment: Sentiment::default(),
            urgency: 0,
            level: Level::Low,
            reasons: Vec::new(),
            thread: None,
            ack_url: None,
            form: Form::Notice,
        }
    }

    /// The chat message of digest `name` for `d` (`late` when it is sent after the daemon
    /// was down at the scheduled time).
    pub fn digest(name: &str, d: &crate::digest::Digest, late: bool) -> Alert {
        use crate::digest::when;
        let watch = crate::digest::watches_label(&d.watches);
        let mut a = Alert::notice(
            format!("digest-{name}-{}", d.to.timestamp()),
            &watch,
            format!(
                "{} digest: {} to {}{}",
                name,
                when(d.from),
                when(d.to),
                if late { " (late)" } else { "" }
            ),
            crate::digest::render_text(d),
            d.to.timestamp(),
        );
        a.form = Form::Digest;
        if late {
            a.reasons
                .push("sent late: earshot was not running when it was due".into());
        }
        a
    }

    /// One message for several alerts of one conversation (a route's `group_wait`), the most
    /// urgent first, threaded like them. The same text posted several times (a cross-post) is
    /// one alert with a count instead.
    pub fn group(alerts: &[Alert]) -> Alert {
        if let Some(d) = Alert::duplicates(alerts) {
            return d;
        }
        let n = alerts.len();
        Alert::conversation(
            alerts,
            format!("{n} mentions in one conversation{}", about(alerts)),
        )
    }

    /// The one alert, or [`Alert::group`] of several.
    pub fn one_or_group(alerts: &[Alert]) -> Alert {
        match alerts {
            [one] => one.clone(),
            _ => Alert::group(alerts),
        }
    }

    /// A list of mentions of one conversation titled `title`. One conversation is one source:
    /// the message keeps it, and is threaded like its mentions.
    fn conversation(alerts: &[Alert], title: String) -> Alert {
        let mut g = Alert::summary(alerts, title, "grouped by conversation".into(), true);
        if let Some(first) = alerts.first() {
            g.source_id = first.source_id.clone();
            g.source_kind = first.source_kind.clone();
        }
        g.thread = alerts.iter().find_map(|a| a.thread.clone());
        g
    }

    /// The message for `new` mentions of a conversation whose message the target already has
    /// (`earlier` alerts in it), sent as a reply or a new message: a count when they repeat its
    /// text, the one alert when there is one, else a list.
    pub fn followup(new: &[Alert], earlier: &[Alert]) -> Alert {
        let all: Vec<Alert> = earlier.iter().chain(new).cloned().collect();
        if let Some(mut d) = Alert::duplicates(&all) {
            d.id = crate::pipeline::alert_id("follow-up", &ids(new).join(","), "");
            return d;
        }
        let mut a = match new {
            [one] => one.clone(),
            _ => Alert::conversation(
                new,
                format!(
                    "{} more mentions in a conversation{}",
                    new.len(),
                    about(&all)
                ),
            ),
        };
        a.reasons.push(format!(
            "follows {} earlier mention{} of this conversation",
            earlier.len(),
            if earlier.len() == 1 { "" } else { "s" }
        ));
        a
    }

    /// When every alert carries the same text (by [`crate::pipeline::fingerprint`]): the
    /// most urgent one, titled with the count, listing where else it was posted.
    fn duplicates(alerts: &[Alert]) -> Option<Alert> {
        let first = crate::pipeline::fingerprint(&alerts.first()?.text)?;
        if alerts.len() < 2
            || alerts
                .iter()
                .any(|a| crate::pipeline::fingerprint(&a.text).as_ref() != Some(&first))
        {
            return None;
        }
        let mut sorted: Vec<&Alert> = alerts.iter().collect();
        sorted.sort_by(|a, b| most_urgent_first(a, b));
        let top = sorted[0];
        let n = alerts.len();
        let mut out = top.clone();
        out.id = crate::pipeline::alert_id("duplicates", &ids(alerts).join(","), "");
        out.title = Some(format!(
            "{} (posted {n} times)",
            top.title.as_deref().unwrap_or("The same text")
        ));
        let mut places: Vec<String> = sorted
            .iter()
            .skip(1)
            .take(CATCH_UP_LISTED)
            .map(|a| match &a.url {
                Some(u) => format!("{}: {u}", a.source_id),
                None => a.source_id.clone(),
            })
            .collect();
        if n - 1 > CATCH_UP_LISTED {
            places.push(format!("... and {} more", n - 1 - CATCH_UP_LISTED));
        }
        out.text = format!("{}\n\nAlso posted at:\n{}", top.text, places.join("\n"));
        let mut sources: Vec<&str> = sorted.iter().map(|a| a.source_id.as_str()).collect();
        sources.sort_unstable();
        sources.dedup();
        out.reasons.insert(
            0,
            format!("the same text {n} times ({})", sources.join(", ")),
        );
        Some(out)
    }

    /// This alert as its message should read once acknowledged (by `by`): marked in the
    /// title and first reason, without its acknowledge link.
    pub fn acknowledged(mut self, by: &str) -> Alert {
        self.title = Some(format!(
            "Acknowledged: {}",
            self.title.as_deref().unwrap_or(&self.watch)
        ));
        self.reasons.insert(0, format!("acknowledged by {by}"));
        self.ack_url = None;
        self
    }

    /// One message listing `alerts`, the most urgent first, with `title` and one reason; each
    /// line shows the mention's text with `by_text` (replies in one thread share a title), else
    /// its title.
    fn summary(held: &[Alert], title: String, reason: String, by_text: bool) -> Alert {
        let mut sorted: Vec<&Alert> = held.iter().collect();
        sorted.sort_by(|a, b| most_urgent_first(a, b));
        let top = sorted.first().copied();
        let ids: Vec<&str> = sorted.iter().map(|a| a.id.as_str()).collect();
        let mut lines: Vec<String> = sorted
            .iter()
            .take(CATCH_UP_LISTED)
            .map(|a| {
                list_line(
                    a.level.as_str(),
                    a.urgency,
                    &format!("{} · {}", a.watch, a.source_id),
                    a.title.as_deref().filter(|_| !by_text),
                    &a.text,
                    a.url.as_deref(),
                )
            })
            .collect();
        if sorted.len() > CATCH_UP_LISTED {
            lines.push(format!(
                "... and {} more: `earshot mentions` lists them",
                sorted.len() - CATCH_UP_LISTED
            ));
        }
        let mut watches: Vec<&str> = sorted.iter().map(|a| a.watch.as_str()).collect();
        watches.sort_unstable();
        watches.dedup();
        Alert {
            id: crate::pipeline::alert_id("catch-up", &ids.join(","), ""),
            watch: if watches.len() == 1 {
                watches[0].to_string()
            } else {
                watches.join(", ")
            },
            source_id: EARSHOT_SOURCE.into(),
            source_kind: EARSHOT_SOURCE.into(),
            url: top.and_then(|a| a.url.clone()),
            title: Some(title),
            text: lines.join("\n"),
            author: None,
            author_reach: None,
            created_at: sorted.iter().filter_map(|a| a.created_at).max(),
            kind: MentionKind::Post,
            sentiment: top.map(|a| a.sentiment).unwrap_or_default(),
            urgency: top.map_or(0, |a| a.urgency),
            level: top.map_or(Level::Low, |a| a.level),
            reasons: vec![reason],
            thread: None,
            ack_url: None,
            form: Form::Summary,
        }
    }
}

/// One mention as a line of a list (a summary's, a spike's): "critical 78/100 · `place`:
/// its title (else its text, on one line, cut to 120 characters) and its link".
pub fn list_line(
    level: &str,
    urgency: impl std::fmt::Display,
    place: &str,
    title: Option<&str>,
    text: &str,
    url: Option<&str>,
) -> String {
    let what: String = title
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(120)
        .collect();
    let link = url.map(|u| format!(" {u}")).unwrap_or_default();
    format!("{level} {urgency}/100 · {place}: {what}{link}")
}

/// ": <title>" of the first alert with a title, for summary titles.
fn about(alerts: &[Alert]) -> String {
    alerts
        .iter()
        .find_map(|a| a.title.as_deref().filter(|t| !t.trim().is_empty()))
        .map(|t| format!(": {t}"))
        .unwrap_or_default()
}

/// The most urgent first; equally urgent ones in the order they were posted, or else as
/// given (the outbox's order: the order they were stored). For a stable sort.
fn most_urgent_first(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    b.urgency
        .cmp(&a.urgency)
        .then(a.created_at.cmp(&b.created_at))
}

fn ids(alerts: &[Alert]) -> Vec<&str> {
    let mut v: Vec<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
    v.sort_unstable();
    v
}
