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
        }
    }
}
