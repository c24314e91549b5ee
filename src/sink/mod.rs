//! Chat targets. Each sink renders one [`Alert`] for one platform, within its limits, with the
//! mention's text escaped so that it can never ping anyone, inject markup or links; sends it;
//! and classifies a failure as "retry later" or "permanent". The outbox does the retrying.
//!
//! Adding a target: one module here, one variant of [`Sink`], one arm in each match, one row in
//! the conformance tests (`tests/sinks.rs`).
//!
//! Acknowledge: when an alert carries an ack link that [`ack_url`] accepts, every target shows it
//! its own way, whole (its room is reserved before the excerpt is cut): a button beside "Open"
//! where the platform has link buttons (Slack, Teams, Google Chat, Telegram, ntfy's actions), a
//! Markdown link `[Acknowledge](…)` elsewhere (Discord, Mattermost, Rocket.Chat, Zulip), the
//! field `ack_url` for machines (webhook, stdout json), `ack: …` in stdout text. Without one, the
//! output is exactly as before.
//!
//! Layouts: every target has three, by [`Alert::form`](crate::alert::Form). A mention (heading
//! "Critical mention · acme", with source, author, urgency and sentiment); a summary of several
//! mentions ("Summary · acme": the most urgent line's level as "Most urgent", no sentiment of
//! its own, one line per mention in the text); a notice from earshot itself ("Notice · acme": no
//! urgency, no sentiment). The shared pieces are [`heading`], [`urgency_fact`],
//! [`sentiment_fact`] and [`source_fact`].
//!
//! Follow-ups: [`Sent::message_ref`] is the target's id for a message (Discord, Telegram);
//! [`Sink::edit`] rewrites it (Discord, Telegram), [`Sink::send_reply`] answers it (Telegram),
//! [`Sink::followup`] says which a target does.
//!
//! Shared rules, so that each module only knows its platform:
//! * text goes through [`text`] (sanitize, escape, cut after escaping);
//! * every HTTP reply goes through [`check_reply`], every transport error through
//!   [`transport_error`]: both produce a [`SendError`] whose message has the status and a short,
//!   redacted snippet of the body, and never the URL ([`reqwest::Error::without_url`]).

pub mod discord;
pub mod googlechat;
pub mod mattermost;
pub mod ntfy;
pub mod rocketchat;
pub mod slack;
pub mod stdout;
pub mod teams;
pub mod telegram;
pub mod text;
pub mod webhook;
pub mod zulip;

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

use crate::alert::{Alert, EARSHOT_SOURCE, Form};
use crate::config::{SinkConfig, SinkKind};
use crate::runtime::Clock;
use crate::secret::{Secret, SecretValue};

pub use discord::Discord;
pub use googlechat::GoogleChat;
pub use mattermost::Mattermost;
pub use ntfy::Ntfy;
pub use rocketchat::RocketChat;
pub use slack::Slack;
pub use stdout::Stdout;
pub use teams::Teams;
pub use telegram::Telegram;
pub use webhook::Webhook;
pub use zulip::Zulip;

/// What sinks send with: the shared connection pool, and the clock that reads the time a reply
/// speaks of (`Retry-After` dates, rate-limit resets, the webhook's signed timestamp). The
/// runtime hands its own clock here, so that the outbox and its sinks agree on "now".
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    clock: Clock,
    /// Whether a target written as a non-public address is refused ([`Outbound::guarded`]).
    guard: bool,
}

impl Outbound {
    /// Sends through `client` as it is (a test's, or one built without the guard).
    pub fn new(client: reqwest::Client, clock: Clock) -> Outbound {
        Outbound {
            client,
            clock,
            guard: false,
        }
    }

    /// Sends through `client`, whose resolver keeps public addresses only, and refuses a
    /// target written as a non-public address (see [`earshot_connectors::netguard`]).
    pub fn guarded(client: reqwest::Client, clock: Clock) -> Outbound {
        Outbound {
            client,
            clock,
            guard: true,
        }
    }

    /// The connection pool for a request to `url`: refused when the guard is on and `url`
    /// names a non-public address (the error names the address, never the URL).
    pub fn to(&self, url: &str) -> Result<&reqwest::Client, SendError> {
        self.check(url)?;
        Ok(&self.client)
    }

    /// Refuses `url` when the guard is on and it names a non-public address.
    pub fn check(&self, url: &str) -> Result<(), SendError> {
        if !self.guard {
            return Ok(());
        }
        match url::Url::parse(url) {
            Ok(u) => earshot_connectors::netguard::check_url(&u).map_err(|message| SendError {
                retry: Retry::Never,
                status: None,
                message,
            }),
            Err(_) => Ok(()),
        }
    }

    /// The time now, as the runtime's clock reads it.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The same pool on another clock.
    pub fn with_clock(mut self, clock: Clock) -> Outbound {
        self.clock = clock;
        self
    }
}

/// A configured sink with its secrets resolved.
#[derive(Debug, Clone)]
pub enum Sink {
    Slack(Slack),
    Discord(Discord),
    Webhook(Webhook),
    Stdout(Stdout),
    Teams(Teams),
    GoogleChat(GoogleChat),
    Mattermost(Mattermost),
    Telegram(Telegram),
    Zulip(Zulip),
    RocketChat(RocketChat),
    Ntfy(Ntfy),
}

/// A delivery the target accepted (2xx).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sent {
    /// How long to wait before the next message to this target, when its headers say so.
    pub wait_before_next: Option<Duration>,
    /// The target's id for the message it stored (Discord's message id, Telegram's
    /// `message_id`), on targets that can edit or reply to it later; validated so that it can
    /// be put in a URL or body as is.
    pub message_ref: Option<String>,
}

/// How a target shows later mentions of a conversation it already has a message for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followup {
    /// The first message is edited to hold them all (Discord).
    Edit,
    /// They are sent as a reply in the first message's thread (Telegram `reply_parameters`,
    /// Google Chat's `threadKey`).
    Reply,
    /// They are sent as a new summary message, at most one per route's `group_interval`.
    Separate,
}

/// Whether a failed delivery is worth trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again later; at least after the given wait when the target said so.
    Later(Option<Duration>),
    /// Will not succeed as it is (400, 401, 403, 404, 410): park it as dead.
    Never,
}

/// A failed delivery. `message` never holds the webhook URL or a token.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub retry: Retry,
    pub status: Option<u16>,
    pub message: String,
}

/// A sink that could not be built from its config.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("sink {id}: {message}")]
pub struct SinkError {
    pub id: String,
    pub message: String,
}

impl Sink {
    /// Builds a sink, reading its secrets now. Errors name the sink and the problem, never a
    /// secret's value.
    pub fn from_config(cfg: &SinkConfig) -> Result<Sink, SinkError> {
        let err = |message: String| SinkError {
            id: cfg.id.clone(),
            message,
        };
        let pace = cfg.max_per_second;
        if let Some(p) = pace
            && !(p.is_finite() && p > 0.0)
        {
            return Err(err("max_per_second must be a positive number".into()));
        }
        match cfg.kind {
            SinkKind::Slack => {
                let url = resolve_url(cfg, "slack")?;
                Ok(Sink::Slack(Slack::new(&cfg.id, url, pace)))
            }
            SinkKind::Discord => {
                let url = resolve_url(cfg, "discord")?;
                Discord::new(&cfg.id, url, cfg.username.clone(), pace)
                    .map(Sink::Discord)
                    .map_err(err)
            }
            SinkKind::Webhook => {
                let url = resolve_url(cfg, "webhook")?;
                let secret = cfg
                    .secret
                    .as_ref()
                    .map(|s| resolve(cfg, "secret", s))
                    .transpose()?;
                Webhook::new(&cfg.id, url, secret.as_ref(), pace, cfg.allow_private)
                    .map(Sink::Webhook)
                    .map_err(err)
            }
            SinkKind::Stdout => Ok(Sink::Stdout(Stdout::new(&cfg.id, cfg.format, pace))),
            SinkKind::Teams => Teams::from_config(cfg).map(Sink::Teams),
            SinkKind::GoogleChat => GoogleChat::from_config(cfg).map(Sink::GoogleChat),
            SinkKind::Mattermost => Mattermost::from_config(cfg).map(Sink::Mattermost),
            SinkKind::Telegram => Telegram::from_config(cfg).map(Sink::Telegram),
            SinkKind::Zulip => Zulip::from_config(cfg).map(Sink::Zulip),
            SinkKind::RocketChat => RocketChat::from_config(cfg).map(Sink::RocketChat),
            SinkKind::Ntfy => Ntfy::from_config(cfg).map(Sink::Ntfy),
        }
    }

    /// Sends one alert. The shared `client` is used by Slack and Discord; the webhook sink uses
    /// its own client that never follows redirects (see [`webhook`]).
    pub async fn send(&self, client: &Outbound, alert: &Alert) -> Result<Sent, SendError> {
        match self {
            Sink::Slack(s) => s.send(client, alert).await,
            Sink::Discord(s) => s.send(client, alert).await,
            Sink::Webhook(s) => s.send(client, alert).await,
            Sink::Stdout(s) => s.send(alert),
            Sink::Teams(s) => s.send(client, alert).await,
            Sink::GoogleChat(s) => s.send(client, alert).await,
            Sink::Mattermost(s) => s.send(client, alert).await,
            Sink::Telegram(s) => s.send(client, alert).await,
            Sink::Zulip(s) => s.send(client, alert).await,
            Sink::RocketChat(s) => s.send(client, alert).await,
            Sink::Ntfy(s) => s.send(client, alert).await,
        }
    }

    /// How this target shows later mentions of a conversation it already has a message for.
    pub fn followup(&self) -> Followup {
        match self {
            Sink::Discord(_) => Followup::Edit,
            Sink::Telegram(_) | Sink::GoogleChat(_) => Followup::Reply,
            _ => Followup::Separate,
        }
    }

    /// True when [`Sink::edit`] can change a message sent earlier (an acknowledgement is
    /// shown on it).
    pub fn can_edit(&self) -> bool {
        matches!(self, Sink::Discord(_) | Sink::Telegram(_))
    }

    /// Sends `alert` as a reply to the message `reply_to` (an earlier [`Sent::message_ref`]):
    /// Telegram's `reply_parameters`. Targets that thread by `alert.thread` (Google Chat) or
    /// cannot reply send it as [`Sink::send`] does.
    pub async fn send_reply(
        &self,
        client: &Outbound,
        alert: &Alert,
        reply_to: Option<&str>,
    ) -> Result<Sent, SendError> {
        match self {
            Sink::Telegram(s) => s.send_reply(client, alert, reply_to).await,
            _ => self.send(client, alert).await,
        }
    }

    /// Replaces the message `message_ref` (an earlier [`Sent::message_ref`]) with `alert`.
    /// A message that no longer exists is `Err` with `retry: Never` and `status: Some(404)`;
    /// targets that cannot edit answer `Err` with `retry: Never` and no status.
    pub async fn edit(
        &self,
        client: &Outbound,
        message_ref: &str,
        alert: &Alert,
    ) -> Result<Sent, SendError> {
        match self {
            Sink::Discord(s) => s.edit(client, message_ref, alert).await,
            Sink::Telegram(s) => s.edit(client, message_ref, alert).await,
            _ => Err(SendError {
                retry: Retry::Never,
                status: None,
                message: format!("a {} sink cannot edit messages", self.kind_name()),
            }),
        }
    }

    /// The configured id (used by routes and `earshot test-sink`).
    pub fn id(&self) -> &str {
        match self {
            Sink::Slack(s) => &s.id,
            Sink::Discord(s) => &s.id,
            Sink::Webhook(s) => &s.id,
            Sink::Stdout(s) => &s.id,
            Sink::Teams(s) => &s.id,
            Sink::GoogleChat(s) => &s.id,
            Sink::Mattermost(s) => &s.id,
            Sink::Telegram(s) => &s.id,
            Sink::Zulip(s) => &s.id,
            Sink::RocketChat(s) => &s.id,
            Sink::Ntfy(s) => &s.id,
        }
    }

    /// The config's `kind`, as written there.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Sink::Slack(_) => "slack",
            Sink::Discord(_) => "discord",
            Sink::Webhook(_) => "webhook",
            Sink::Stdout(_) => "stdout",
            Sink::Teams(_) => "teams",
            Sink::GoogleChat(_) => "googlechat",
            Sink::Mattermost(_) => "mattermost",
            Sink::Telegram(_) => "telegram",
            Sink::Zulip(_) => "zulip",
            Sink::RocketChat(_) => "rocketchat",
            Sink::Ntfy(_) => "ntfy",
        }
    }

    /// Exactly what [`Sink::send`] would send, for `earshot once --dry-run`: the JSON body,
    /// pretty-printed, for HTTP sinks; the printed text for stdout. Never holds a URL or secret.
    /// `now` stands in for the time of a mention that has none (webhook).
    pub fn preview(&self, alert: &Alert, now: DateTime<Utc>) -> String {
        let body = match self {
            Sink::Slack(_) => slack::render(alert),
            Sink::Discord(s) => s.render(alert),
            Sink::Webhook(_) => webhook::render_at(alert, now),
            Sink::Stdout(s) => return s.render(alert),
            Sink::Teams(s) => s.render(alert),
            Sink::GoogleChat(s) => s.render(alert),
            Sink::Mattermost(s) => s.render(alert),
            Sink::Telegram(s) => s.render(alert),
            Sink::Zulip(s) => s.render(alert),
            Sink::RocketChat(s) => s.render(alert),
            Sink::Ntfy(s) => s.render(alert),
        };
        // Serializing a `serde_json::Value` cannot fail; fall back to compact form regardless.
        serde_json::to_string_pretty(&body).unwrap_or_else(|_| body.to_string())
    }

    /// Most messages per second to send to this target: `max_per_second` from the config, else
    /// the platform's documented pace (Slack about 1/s per webhook; Discord's observed webhook
    /// bucket is 5 per 2 s but 30/min per channel, so 0.5/s, with its headers read on top;
    /// a generic webhook 10/s as a courtesy). Stdout has no limit.
    pub fn default_pace(&self) -> Option<f64> {
        let (cfg, default) = match self {
            Sink::Slack(s) => (s.pace, Some(1.0)),
            Sink::Discord(s) => (s.pace, Some(0.5)),
            Sink::Webhook(s) => (s.pace, Some(10.0)),
            Sink::Stdout(s) => (s.pace, None),
            Sink::Teams(s) => (s.pace, Some(teams::DEFAULT_PACE)),
            Sink::GoogleChat(s) => (s.pace, Some(googlechat::DEFAULT_PACE)),
            Sink::Mattermost(s) => (s.pace, Some(mattermost::DEFAULT_PACE)),
            Sink::Telegram(s) => (s.pace, Some(telegram::DEFAULT_PACE)),
            Sink::Zulip(s) => (s.pace, Some(zulip::DEFAULT_PACE)),
            Sink::RocketChat(s) => (s.pace, Some(rocketchat::DEFAULT_PACE)),
            Sink::Ntfy(s) => (s.pace, Some(ntfy::DEFAULT_PACE)),
        };
        cfg.or(default)
    }
}

/// What to do about a non-2xx reply, from its status and any `Retry-After`.
///
/// * 408 Request Timeout, 425 Too Early, 429 Too Many Requests, and every 5xx: [`Retry::Later`],
///   with the server's wait when it gave one. These are about the moment, not the message.
/// * 409 Conflict: `Later` too. A receiver that dedupes on `webhook-id` may answer 409 while it
///   still processes an earlier attempt; the same id makes a retry safe.
/// * Every other 4xx (400 bad payload, 401/403 bad token, 404 deleted webhook, 410 archived
///   channel or disabled endpoint, 413 too large, ...): [`Retry::Never`]. Sending the same
///   message again gets the same answer, and for Discord repeated 401/403/404 lead to a ban.
/// * 3xx: `Never`. We do not follow redirects for webhooks (a signed payload must not go to a
///   place the operator did not configure), and a redirect repeats until the URL is fixed.
/// * 1xx and anything outside 100-599: `Never`, as a confused endpoint will stay confused.
///
/// A 2xx is success and never reaches this function; if it does, it is `Never` (nothing to redo).
pub fn classify(status: u16, retry_after: Option<Duration>) -> Retry {
    match status {
        408 | 409 | 425 | 429 | 500..=599 => Retry::Later(retry_after),
        _ => Retry::Never,
    }
}

/// Resolves the required `url` secret of an HTTP sink and checks it is an http(s) URL, without
/// ever putting the value in an error.
pub(crate) fn resolve_url(cfg: &SinkConfig, kind: &str) -> Result<SecretValue, SinkError> {
    let Some(secret) = cfg.url.as_ref() else {
        return Err(SinkError {
            id: cfg.id.clone(),
            message: format!(
                "a {kind} sink needs `url` (e.g. url = {{ env = \"EARSHOT_SLACK_URL\" }})"
            ),
        });
    };
    let url = resolve(cfg, "url", secret)?;
    let ok = url::Url::parse(url.expose())
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .unwrap_or(false);
    if !ok {
        return Err(SinkError {
            id: cfg.id.clone(),
            message: format!("`url` from {secret:?} is not an http(s) URL"),
        });
    }
    Ok(url)
}

pub(crate) fn resolve(
    cfg: &SinkConfig,
    key: &str,
    secret: &Secret,
) -> Result<SecretValue, SinkError> {
    secret.resolve().map_err(|e| SinkError {
        id: cfg.id.clone(),
        message: format!("`{key}`: {e}"),
    })
}

/// A payload within a byte budget (Teams' 28 KB card, Google Chat's 32 KB message).
/// `build(excerpt, with_extra)` assembles it; while its serialized size is over `budget`, the
/// excerpt is cut again from `source` (escaped by `escape`), then the optional extra part
/// (reasons, context) is dropped. Everything else a builder puts in must be capped well below
/// the budget.
pub(crate) fn fit_bytes(
    budget: usize,
    source: &str,
    excerpt_cap: usize,
    escape: text::Escaper,
    mut build: impl FnMut(&str, bool) -> serde_json::Value,
) -> serde_json::Value {
    let mut excerpt = text::escape_fit(source, excerpt_cap, text::Count::Chars, escape);
    let mut extra = true;
    loop {
        let body = build(&excerpt, extra);
        let size = serde_json::to_vec(&body).map_or(usize::MAX, |v| v.len());
        if size <= budget {
            return body;
        }
        let over = size - budget;
        if !excerpt.is_empty() {
            // JSON only grows a string (`\\`, `\n`), so cutting `over` bytes of it is enough,
            // or close: the loop checks again.
            let room = excerpt.len().saturating_sub(over);
            excerpt = text::escape_fit(source, room, text::Count::Bytes, escape);
            if excerpt.chars().all(|c| c == text::ELLIPSIS) {
                excerpt.clear();
            }
        } else if extra {
            extra = false;
        } else {
            return body;
        }
    }
}

/// What every target calls the acknowledge link or button.
pub const ACK_LABEL: &str = "Acknowledge";

/// The alert's acknowledge link when it may be rendered: [`text::safe_url`] accepts it (http(s),
/// a host, no user info, no space, `|`, `<`, `>` or `"`, at most 2,000 bytes). Anything else is
/// not shown at all, in any target: the link is ours, so a bad one is a bug, not a mention to
/// display.
pub fn ack_url(alert: &Alert) -> Option<&str> {
    alert.ack_url.as_deref().and_then(text::safe_url)
}

/// "negative (-0.48)": VADER's usual ±0.05 thresholds on the compound score.
pub(crate) fn sentiment_label(alert: &Alert) -> String {
    let c = alert.sentiment.compound;
    let word = if c >= 0.05 {
        "positive"
    } else if c <= -0.05 {
        "negative"
    } else {
        "neutral"
    };
    format!("{word} ({c:+.2})")
}

/// "Critical" for a level.
pub(crate) fn level_title(alert: &Alert) -> String {
    let s = alert.level.as_str();
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// "78/100 · Critical".
pub(crate) fn urgency_line(alert: &Alert) -> String {
    format!("{}/100 · {}", alert.urgency, level_title(alert))
}

/// The message's heading (plain text: the caller escapes it): "Critical mention · acme" for a
/// mention, "Summary · acme" for several, "Notice · acme" for a message from earshot.
pub(crate) fn heading(alert: &Alert) -> String {
    format!(
        "{} · {}",
        heading_label(alert),
        text::one_line(&alert.watch)
    )
}

/// [`heading`] without the watch: "Critical mention", "Summary", "Notice".
pub(crate) fn heading_label(alert: &Alert) -> String {
    match alert.form {
        Form::Mention => format!("{} mention", level_title(alert)),
        Form::Summary => "Summary".into(),
        Form::Notice => "Notice".into(),
        Form::Digest => "Digest".into(),
        Form::Spike => "Spike".into(),
    }
}

/// [`heading`] as a phrase, for notifications and fallbacks: "Critical mention of acme",
/// "Summary for acme", "Notice for acme".
pub(crate) fn heading_of(alert: &Alert) -> String {
    let watch = text::one_line(&alert.watch);
    match alert.form {
        Form::Mention => format!("{} mention of {watch}", level_title(alert)),
        Form::Summary => format!("Summary for {watch}"),
        Form::Notice => format!("Notice for {watch}"),
        Form::Digest => format!("Digest for {watch}"),
        Form::Spike => format!("Spike in {watch}"),
    }
}

/// The urgency fact with its label: ("Urgency", "78/100 · Critical") for a mention, ("Most
/// urgent", ...) for a summary, none for a notice (it has no urgency).
pub(crate) fn urgency_fact(alert: &Alert) -> Option<(&'static str, String)> {
    match alert.form {
        Form::Mention => Some(("Urgency", urgency_line(alert))),
        Form::Summary => Some(("Most urgent", urgency_line(alert))),
        Form::Notice | Form::Digest | Form::Spike => None,
    }
}

/// The sentiment fact, for a mention only: a summary's lines each have their own, and a notice
/// has none.
pub(crate) fn sentiment_fact(alert: &Alert) -> Option<String> {
    alert.form.is_mention().then(|| sentiment_label(alert))
}

/// The source fact: [`source_line`] for a mention, "feed · acme-blog" for a summary of one
/// conversation, none when the message is earshot's own (a catch-up across sources, a notice).
pub(crate) fn source_fact(alert: &Alert) -> Option<String> {
    match alert.form {
        Form::Mention => Some(source_line(alert)),
        _ if alert.source_kind == EARSHOT_SOURCE => None,
        Form::Summary => Some(format!("{} · {}", alert.source_kind, alert.source_id)),
        Form::Notice | Form::Digest | Form::Spike => None,
    }
}

/// "feed · acme-blog · comment".
pub(crate) fn source_line(alert: &Alert) -> String {
    format!(
        "{} · {} · {}",
        alert.source_kind,
        alert.source_id,
        alert.kind.as_str()
    )
}

/// "2026-05-28 20:26 UTC", when the mention's time is known.
pub(crate) fn when(alert: &Alert) -> Option<String> {
    alert
        .created_at
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// The author's name (user text: the caller escapes it) and reach ("reach 1200").
pub(crate) fn author_parts(alert: &Alert) -> (Option<String>, Option<String>) {
    let name = alert
        .author
        .as_deref()
        .map(text::one_line)
        .filter(|a| !a.is_empty());
    (name, alert.author_reach.map(|r| format!("reach {r}")))
}

/// The alert with its user text sanitized ([`text::sanitize`]) and an unsafe URL dropped, for the
/// sinks that pass the alert on as data (webhook, stdout json). Nothing is escaped or cut here: a
/// machine reader gets the text, minus what could spoof a human reader later.
pub(crate) fn clean_alert(alert: &Alert) -> Alert {
    let mut a = alert.clone();
    a.url = a
        .url
        .as_deref()
        .and_then(text::safe_url)
        .map(str::to_string);
    a.ack_url = ack_url(alert).map(str::to_string);
    a.title = a.title.as_deref().map(text::one_line);
    a.text = text::sanitize(&a.text);
    a.author = a.author.as_deref().map(text::one_line);
    a.watch = text::one_line(&a.watch);
    a.reasons = a.reasons.iter().map(|r| text::one_line(r)).collect();
    a
}

/// POSTs a JSON body and reads the reply. `secret` is the URL, for redaction.
pub(crate) async fn post_json(
    client: &Outbound,
    secret: &SecretValue,
    body: &serde_json::Value,
) -> Result<Reply, SendError> {
    let resp = client
        .to(secret.expose())?
        .post(secret.expose())
        .json(body)
        .send()
        .await
        .map_err(|e| transport_error(e, secret.expose()))?;
    read_reply(resp, secret.expose()).await
}

impl Reply {
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Longest body snippet kept in an error message.
const SNIPPET_CHARS: usize = 200;
/// Most bytes of an error body read: enough for Slack's `invalid_blocks` or Discord's JSON.
const MAX_ERROR_BODY: usize = 4096;

/// A reply as the sinks need it: status, headers and the start of the body.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Reads the status, headers and at most [`MAX_ERROR_BODY`] bytes of the body: a hostile or
/// broken endpoint cannot make us buffer a huge reply.
pub(crate) async fn read_reply(resp: reqwest::Response, secret: &str) -> Result<Reply, SendError> {
    read_reply_max(resp, secret, MAX_ERROR_BODY).await
}

/// Most bytes of a success body read by the sinks that take the message id from it: Discord
/// echoes the whole message (embed included) before its `id`, well past [`MAX_ERROR_BODY`].
pub(crate) const MAX_SUCCESS_BODY: usize = 64 * 1024;

/// [`read_reply`], keeping up to `success_max` bytes of a 2xx body (an error body is still
/// capped at [`MAX_ERROR_BODY`]).
pub(crate) async fn read_reply_max(
    mut resp: reqwest::Response,
    secret: &str,
    success_max: usize,
) -> Result<Reply, SendError> {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let max = if (200..300).contains(&status) {
        success_max.max(MAX_ERROR_BODY)
    } else {
        MAX_ERROR_BODY
    };
    let mut body = Vec::new();
    while body.len() < max {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            // A 2xx whose body broke off is still delivered; for an error the status says enough.
            Err(_) if (200..300).contains(&status) => break,
            Err(e) => return Err(transport_error(e, secret)),
        }
    }
    body.truncate(max);
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// Turns a non-2xx reply into a [`SendError`], with `retry_after` from the target (already read
/// by the caller: headers or, for Discord, the body).
pub(crate) fn reply_error(reply: &Reply, retry_after: Option<Duration>, secret: &str) -> SendError {
    let snippet = body_snippet(&reply.body, secret);
    let message = if snippet.is_empty() {
        format!("HTTP {}", reply.status)
    } else {
        format!("HTTP {}: {snippet}", reply.status)
    };
    SendError {
        retry: classify(reply.status, retry_after),
        status: Some(reply.status),
        message,
    }
}

/// A transport failure (connect, timeout, TLS, body): always worth retrying later. The URL is
/// removed from the error and the secret redacted from the whole source chain.
/// The first wait after a request that timed out once it was sent: the target may have taken
/// it and be slow to answer, so an early retry would post a copy.
pub const MAYBE_DELIVERED_BACKOFF: Duration = Duration::from_secs(120);

pub(crate) fn transport_error(e: reqwest::Error, secret: &str) -> SendError {
    let e = e.without_url();
    // A timeout after connecting: the request went out, and may have been delivered.
    let maybe_delivered = e.is_timeout() && !e.is_connect();
    let mut message = if maybe_delivered {
        "request timed out after it was sent (the target may have received it)".to_string()
    } else if e.is_timeout() {
        "request timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    let message = text::truncate(
        &redact(&text::one_line(&message), secret),
        500,
        text::Count::Chars,
    );
    // A target whose name resolves to private addresses only will not change by waiting.
    let mut cause: Option<&dyn std::error::Error> = Some(&e);
    let mut not_public = false;
    while let Some(c) = cause {
        not_public |= c.is::<earshot_connectors::netguard::NotPublic>();
        cause = c.source();
    }
    SendError {
        retry: if not_public {
            Retry::Never
        } else {
            Retry::Later(maybe_delivered.then_some(MAYBE_DELIVERED_BACKOFF))
        },
        status: None,
        message,
    }
}

/// A one-line, sanitized, redacted start of a reply body.
fn body_snippet(body: &[u8], secret: &str) -> String {
    let s = String::from_utf8_lossy(body);
    text::truncate(
        &redact(&text::one_line(&s), secret),
        SNIPPET_CHARS,
        text::Count::Chars,
    )
}

/// Replaces the secret URL, and each long path or query piece of it (the token part), with
/// `[redacted]`: a server that echoes the request must not leak it into our logs.
pub(crate) fn redact(s: &str, secret: &str) -> String {
    if secret.is_empty() {
        return s.to_string();
    }
    let mut out = s.replace(secret, "[redacted]");
    let pieces = secret
        .split(['/', '?', '&', '=', '#', ':', '.'])
        .filter(|p| p.len() >= 12);
    for piece in pieces {
        out = out.replace(piece, "[redacted]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let wait = Some(Duration::from_secs(7));
        let cases: &[(u16, Option<Duration>, Retry)] = &[
            (400, None, Retry::Never),
            (401, None, Retry::Never),
            (403, None, Retry::Never),
            (404, None, Retry::Never),
            (410, None, Retry::Never),
            (413, None, Retry::Never),
            (422, None, Retry::Never),
            (408, None, Retry::Later(None)),
            (409, None, Retry::Later(None)),
            (425, None, Retry::Later(None)),
            (429, wait, Retry::Later(wait)),
            (429, None, Retry::Later(None)),
            (500, None, Retry::Later(None)),
            (502, None, Retry::Later(None)),
            (503, wait, Retry::Later(wait)),
            (504, None, Retry::Later(None)),
            (301, None, Retry::Never),
            (302, None, Retry::Never),
            (307, None, Retry::Never),
            (101, None, Retry::Never),
            (200, None, Retry::Never),
            (600, None, Retry::Never),
        ];
        for (status, ra, want) in cases {
            assert_eq!(classify(*status, *ra), *want, "classify({status})");
        }
    }

    #[test]
    fn redact_removes_url_and_token() {
        let secret = "https://hooks.example.com/services/T000/B000/CANARYSECRETTOKEN123";
        let cases: &[&str] = &[
            "posting to https://hooks.example.com/services/T000/B000/CANARYSECRETTOKEN123 failed",
            "token CANARYSECRETTOKEN123 invalid",
        ];
        for c in cases {
            let r = redact(c, secret);
            assert!(!r.contains("CANARYSECRETTOKEN123"), "{r}");
            assert!(r.contains("[redacted]"), "{r}");
        }
        assert_eq!(redact("nothing here", secret), "nothing here");
        assert_eq!(redact("x", ""), "x");
    }

    #[test]
    fn snippet_is_short_and_one_line() {
        let body = format!("invalid_blocks\n\u{1b}[31m{}", "x".repeat(1000));
        let s = body_snippet(body.as_bytes(), "");
        assert!(s.starts_with("invalid_blocks [31m"), "{s}");
        assert!(s.chars().count() <= SNIPPET_CHARS);
    }
}
