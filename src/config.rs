//! The TOML configuration: types with their defaults, loading, and one pure validation pass
//! that reports every problem at once, each with its key path and what to write instead.
//!
//! Every field's `///` comment is the user documentation; `config/earshot.example.toml` shows
//! every key and is loaded by a test so that it cannot rot.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::duration::Dur;
use crate::query::Query;
use crate::secret::Secret;
use crate::sentiment::SentimentBucket;
use crate::urgency::Level;
pub use earshot_connectors::Platform;

/// Where `--config` points when neither the flag nor `$EARSHOT_CONFIG` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/earshot/earshot.toml";

/// The whole configuration file.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub daemon: DaemonConfig,
    pub scoring: ScoringConfig,
    pub sources: Vec<SourceConfig>,
    pub watches: Vec<WatchConfig>,
    pub sinks: Vec<SinkConfig>,
    pub routes: Vec<RouteConfig>,
    /// `[[time_interval]]`: named windows routes mute themselves in, or are active only in.
    pub time_intervals: Vec<crate::quiet::TimeIntervalConfig>,
    /// `[http]`: earshot's own HTTP listener (acknowledge links).
    pub http: HttpConfig,
    /// `[[digest]]`: digests sent to chat on a schedule.
    pub digests: Vec<DigestConfig>,
    /// `[retention]`: how long mentions are kept.
    pub retention: RetentionConfig,
    /// `[spikes]`: alerts when a watch's volume or negative share jumps; off when left out.
    pub spikes: Option<SpikeConfig>,
}

/// `[spikes]`: each watch's mentions of the last `window` against its `baseline`; a spike
/// raises one alert through the routes and a notice when it ends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpikeConfig {
    /// The watches checked; all when left out.
    pub watches: Vec<String>,
    /// How many standard deviations above the baseline's mean a window must be. Default 4:
    /// a steady watch's window gets there by chance once in 31,600.
    pub k: f64,
    /// The span whose mentions are counted, in whole hours. Default 1 hour.
    pub window: Dur,
    /// The history the window is compared with. Default 7 days.
    pub baseline: Dur,
    /// Fewest mentions in the window for a spike, so a quiet watch's few posts are not one.
    /// Default 10.
    pub min_mentions: u32,
    /// Also alert when the share of negative mentions jumps, at the same volume. Default true.
    pub negative_share: bool,
}

impl Default for SpikeConfig {
    fn default() -> Self {
        SpikeConfig {
            watches: Vec::new(),
            k: 4.0,
            window: Dur::secs(3600),
            baseline: Dur::secs(7 * 86_400),
            min_mentions: 10,
            negative_share: true,
        }
    }
}

impl SpikeConfig {
    /// True when watch `name` is checked.
    pub fn covers(&self, name: &str) -> bool {
        self.watches.is_empty() || self.watches.iter().any(|w| w == name)
    }
}

/// One `[[digest]]` table: a digest of a period, sent to sinks on a schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// Unique; it keys the record of what was sent.
    pub name: String,
    /// When to send: a cron expression with seconds (`"0 0 8 * * *"`, every day at 08:00), in
    /// `location`.
    pub schedule: String,
    /// IANA time zone the schedule is read in; UTC when left out.
    #[serde(default = "crate::quiet::utc")]
    pub location: String,
    /// The span each digest covers, ending when it is sent. Default 24 hours.
    #[serde(default = "one_day")]
    pub period: Dur,
    /// The watches it summarises; all when left out.
    #[serde(default)]
    pub watches: Vec<String>,
    /// Sink ids to send it to.
    pub sinks: Vec<String>,
}

fn one_day() -> Dur {
    Dur::secs(86_400)
}

impl DigestConfig {
    /// The schedule's time zone (checked by `validate`; UTC if it does not parse).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.location.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The first time the schedule fires strictly after `t`.
    pub fn next_after(
        &self,
        t: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let local = t.with_timezone(&self.tz());
        parse_cron(&self.schedule)
            .ok()?
            .find_next_occurrence(&local, false)
            .ok()
            .map(|x| x.with_timezone(&chrono::Utc))
    }
}

/// `[retention]`: mentions older than `mentions` are deleted (their hourly aggregates stay
/// for `aggregates`, at least a year), once a day.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// How long mentions are kept; forever when left out.
    pub mentions: Option<Dur>,
    /// How long the hourly aggregates behind digests and charts are kept. Default 400 days.
    pub aggregates: Dur,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            mentions: None,
            aggregates: Dur::secs(400 * 86_400),
        }
    }
}

/// `[http]`: the listener that serves acknowledge links.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `host:port` to listen on, or `"off"`.
    pub listen: String,
    /// Where users reach the listener (a reverse proxy with TLS), for the links in alerts;
    /// `http://<listen>` when left out.
    pub public_url: Option<String>,
    /// How long an acknowledge link works.
    pub ack_link_ttl: Dur,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:9477".into(),
            public_url: None,
            ack_link_ttl: Dur(Duration::from_secs(7 * 86_400)),
        }
    }
}

impl HttpConfig {
    /// The address to listen on; `None` when off.
    pub fn listen_addr(&self) -> Option<std::net::SocketAddr> {
        if self.listen.trim().eq_ignore_ascii_case("off") {
            return None;
        }
        self.listen.trim().parse().ok()
    }

    /// The base of acknowledge links: `public_url` without a trailing slash, else the listener's
    /// own address. `None` when the listener is off.
    pub fn link_base(&self) -> Option<String> {
        let addr = self.listen_addr()?;
        Some(match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{addr}"),
        })
    }
}

/// `[daemon]`: process-wide settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Directory holding the SQLite database (`earshot.db`). Relative paths are taken from the
    /// directory the daemon runs in.
    pub state_dir: PathBuf,
    /// Sent with every request: platforms ask for a descriptive one with a way to reach you.
    pub user_agent: String,
    /// Longest wait to open a connection.
    pub connect_timeout: Dur,
    /// Longest wait for a whole request, body included.
    pub timeout: Dur,
    /// Largest reply accepted from a source, in bytes, counted after decompression.
    pub max_body: u64,
    /// Most redirects followed for one request.
    pub max_redirects: usize,
    /// Requests per second allowed to one host, across all sources on it.
    pub per_host_rps: f64,
    /// Longest back-off after repeated failures of a source (it never gives up).
    pub max_backoff: Dur,
    /// Random spread added to each source's schedule, so sources on one host do not poll in step.
    pub jitter: Dur,
    /// How long SIGTERM waits for deliveries in flight before exiting.
    pub shutdown_timeout: Dur,
    /// Deliveries that keep failing are parked as dead after this long (visible in `status`).
    pub delivery_give_up_after: Dur,
    /// Log filter when neither `--log-level` nor `RUST_LOG` is given (`info`, `debug`, `earshot=trace`).
    pub log: String,
    /// Let every source and sink reach loopback, private and link-local addresses (off: only
    /// public addresses, after DNS resolution, on every redirect hop). For one deliberate local
    /// target, prefer `allow_private = true` on that source or sink.
    pub allow_private_networks: bool,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            state_dir: PathBuf::from("/var/lib/earshot"),
            user_agent: concat!("earshot/", env!("CARGO_PKG_VERSION")).to_string(),
            connect_timeout: Dur::secs(10),
            timeout: Dur::secs(30),
            max_body: 15 * 1024 * 1024,
            max_redirects: 5,
            per_host_rps: 1.0,
            max_backoff: Dur::secs(6 * 3600),
            jitter: Dur::secs(30),
            shutdown_timeout: Dur::secs(20),
            delivery_give_up_after: Dur::secs(3 * 86_400),
            log: "info".to_string(),
            allow_private_networks: false,
        }
    }
}

/// `[scoring]`: how urgency is computed. `earshot score` shows the effect of each setting.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct ScoringConfig {
    /// Complaint and urgent phrases with their weight (points of urgency). Replaces the built-in
    /// list when given; leave it out to keep the defaults (see `earshot score --help`).
    pub phrases: Option<BTreeMap<String, u8>>,
    /// Phrases added to the list in use (built-in or `phrases`).
    pub extra_phrases: BTreeMap<String, u8>,
    /// Names of your brand: a question that names one of them is "aimed at the brand".
    /// Defaults to none; watches' names are added automatically.
    pub brands: Vec<String>,
    /// Urgency thresholds for each level.
    pub levels: LevelThresholds,
}

/// `[scoring.levels]`: the least urgency for each level (0-100, increasing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LevelThresholds {
    pub normal: u8,
    pub high: u8,
    pub critical: u8,
}

impl Default for LevelThresholds {
    fn default() -> Self {
        LevelThresholds {
            normal: 25,
            high: 50,
            critical: 75,
        }
    }
}

/// One `[[source]]` table: the keys every source has, and its platform's own part (chosen
/// by `kind`, see [`Platform`]).
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Stable name: the store keys this source's mentions and state by it. Renaming it makes a new source.
    pub id: String,
    /// Poll interval (`"10m"`). Give `every` or `cron`; neither means the platform's default.
    pub every: Option<Dur>,
    /// Six-field cron expression with seconds (`"0 */10 * * * *"`), in UTC.
    pub cron: Option<String>,
    /// Alert on what the first poll finds. Off by default: the first poll seeds history silently.
    pub backfill: bool,
    /// Set to false to keep the source configured but not polled.
    pub enabled: bool,
    /// May reach a loopback, private or link-local address (a deliberate local target).
    pub allow_private: bool,
    /// `kind` and the platform's keys.
    pub platform: Platform,
}

/// Every key some platform takes, found by asking each for the keys it expects.
pub fn all_platform_keys() -> &'static [&'static str] {
    static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys: Vec<&'static str> = Vec::new();
        for kind in earshot_connectors::KINDS {
            let mut probe = toml::Table::new();
            probe.insert("kind".into(), toml::Value::String(kind.to_string()));
            probe.insert("\u{1}".into(), toml::Value::Integer(0));
            if let Err(e) = toml::Value::Table(probe).try_into::<Platform>() {
                for f in expected_fields(e.message()) {
                    let f: &'static str = Box::leak(f.to_string().into_boxed_str());
                    if !keys.contains(&f) {
                        keys.push(f);
                    }
                }
            }
        }
        keys
    })
}

/// The keys every `[[source]]` has, whatever its kind.
const SOURCE_COMMON_KEYS: &[&str] = &[
    "id",
    "every",
    "cron",
    "backfill",
    "enabled",
    "allow_private",
];

impl SourceConfig {
    /// The platform's name (`feed`, `reddit`, ...).
    pub fn kind(&self) -> &'static str {
        self.platform.kind()
    }
}

impl<'de> Deserialize<'de> for SourceConfig {
    /// The common keys go to one struct, the rest to the platform's (which rejects keys it
    /// does not know); an unknown key's suggestions cover both.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Common {
            id: String,
            #[serde(default)]
            every: Option<Dur>,
            #[serde(default)]
            cron: Option<String>,
            #[serde(default)]
            backfill: bool,
            #[serde(default = "yes")]
            enabled: bool,
            #[serde(default)]
            allow_private: bool,
        }
        let mut rest = toml::Table::deserialize(d)?;
        let mut common = toml::Table::new();
        for key in SOURCE_COMMON_KEYS {
            if let Some(v) = rest.remove(*key) {
                common.insert(key.to_string(), v);
            }
        }
        let common: Common = toml::Value::Table(common)
            .try_into()
            .map_err(|e| D::Error::custom(e.message().trim()))?;
        let unknown = |key: &str, fields: &[&str]| {
            let mut known: Vec<&str> = vec!["kind"];
            known.extend(SOURCE_COMMON_KEYS);
            known.extend(fields);
            let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            D::Error::custom(format!(
                "unknown field `{key}`, expected one of {}",
                list.join(", ")
            ))
        };
        // Without a readable kind there is no platform to ask: keys no platform knows are
        // still reported, so that one bad `kind` does not hide them.
        let kind_known = rest
            .get("kind")
            .and_then(|k| k.as_str())
            .is_some_and(|k| earshot_connectors::KINDS.contains(&k));
        if !kind_known {
            let all = all_platform_keys();
            if let Some(key) = rest
                .keys()
                .find(|k| *k != "kind" && !all.contains(&k.as_str()))
            {
                return Err(unknown(key, all));
            }
        }
        let platform: Result<Platform, _> = toml::Value::Table(rest).try_into();
        let platform = platform.map_err(|e| {
            let msg = e.message().trim().to_string();
            match backticked(&msg, "unknown field `") {
                Some(key) => unknown(&key, &expected_fields(&msg)),
                None => D::Error::custom(msg),
            }
        })?;
        Ok(SourceConfig {
            id: common.id,
            every: common.every,
            cron: common.cron,
            backfill: common.backfill,
            enabled: common.enabled,
            allow_private: common.allow_private,
            platform,
        })
    }
}

fn yes() -> bool {
    true
}

/// Default poll interval.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(600);

/// One `[[watch]]` table: a named query over some sources.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    pub name: String,
    /// Query language: terms, "phrases", OR, NOT/-term, (), prefix*, title: author: site: lang: type:.
    pub query: String,
    /// Source ids this watch reads; all sources when left out.
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// Free labels: routes select watches by them (a route's `tags`).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Chat targets earshot can send to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    Slack,
    Discord,
    Webhook,
    Stdout,
    Teams,
    #[serde(rename = "googlechat")]
    GoogleChat,
    Mattermost,
    Telegram,
    Zulip,
    #[serde(rename = "rocketchat")]
    RocketChat,
    Ntfy,
}

/// Every sink kind, as written in the config.
pub const SINK_KINDS: &[SinkKind] = &[
    SinkKind::Slack,
    SinkKind::Discord,
    SinkKind::Webhook,
    SinkKind::Stdout,
    SinkKind::Teams,
    SinkKind::GoogleChat,
    SinkKind::Mattermost,
    SinkKind::Telegram,
    SinkKind::Zulip,
    SinkKind::RocketChat,
    SinkKind::Ntfy,
];

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Slack => "slack",
            SinkKind::Discord => "discord",
            SinkKind::Webhook => "webhook",
            SinkKind::Stdout => "stdout",
            SinkKind::Teams => "teams",
            SinkKind::GoogleChat => "googlechat",
            SinkKind::Mattermost => "mattermost",
            SinkKind::Telegram => "telegram",
            SinkKind::Zulip => "zulip",
            SinkKind::RocketChat => "rocketchat",
            SinkKind::Ntfy => "ntfy",
        }
    }

    /// The keys this kind must have, and what to write for each.
    pub fn required_keys(self) -> &'static [(&'static str, &'static str)] {
        const URL: (&str, &str) = ("url", "url = { env = \"NAME\" } (or { file = \"path\" })");
        match self {
            SinkKind::Stdout => &[],
            SinkKind::Telegram => &[
                (
                    "token",
                    "token = { file = \"telegram-token\" } (the bot token from @BotFather)",
                ),
                ("chat_id", "chat_id = -1001234567890 (or \"@channelname\")"),
            ],
            SinkKind::Zulip => &[
                ("base_url", "base_url = \"https://acme.zulipchat.com\""),
                ("email", "email = \"earshot-bot@acme.zulipchat.com\""),
                ("api_key", "api_key = { file = \"zulip-api-key\" }"),
                ("stream", "stream = \"support\""),
            ],
            SinkKind::Ntfy => &[(
                "topic",
                "topic = { file = \"ntfy-topic\" } (on ntfy.sh the topic name is the password)",
            )],
            _ => &[URL],
        }
    }

    /// The optional keys this kind also takes (besides `id`, `kind`, `max_per_second`).
    /// True for targets whose messages earshot can edit later (`Sink::can_edit`): an
    /// acknowledgement shows on them.
    pub fn can_edit(self) -> bool {
        matches!(self, SinkKind::Discord | SinkKind::Telegram)
    }

    pub fn optional_keys(self) -> &'static [&'static str] {
        match self {
            SinkKind::Discord | SinkKind::Mattermost | SinkKind::RocketChat => &["username"],
            SinkKind::Webhook => &["secret"],
            SinkKind::Stdout => &["format"],
            SinkKind::Telegram => &["topic_id", "base_url"],
            SinkKind::Ntfy => &["token", "base_url"],
            _ => &[],
        }
    }
}

/// A Telegram chat id: a number (`-1001234567890`) or a public `@channelname`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatId(pub String);

impl<'de> Deserialize<'de> for ChatId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Name(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("a chat id is a number (-1001234567890) or \"@channelname\"")
        })? {
            Raw::Number(n) => Ok(ChatId(n.to_string())),
            Raw::Name(s) => Ok(ChatId(s)),
        }
    }
}

/// How the stdout sink prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StdoutFormat {
    #[default]
    Text,
    Json,
}

/// One `[[sink]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Name used by routes and `earshot test-sink`.
    pub id: String,
    pub kind: SinkKind,
    /// Webhook URL (slack, discord, webhook). A secret: `{ env = "..." }` or `{ file = "..." }`.
    #[serde(default)]
    pub url: Option<Secret>,
    /// May reach a loopback, private or link-local address (a deliberate local target).
    #[serde(default)]
    pub allow_private: bool,
    /// Standard Webhooks signing key (`whsec_...`), for `kind = "webhook"`.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Name shown as the poster (Discord).
    #[serde(default)]
    pub username: Option<String>,
    /// `text` or `json` (stdout).
    #[serde(default)]
    pub format: StdoutFormat,
    /// Most messages per second to this target; defaults to the platform's documented pace.
    #[serde(default)]
    pub max_per_second: Option<f64>,
    /// Most alerts an hour (a rolling hour); more are held and sent as one summary when the
    /// budget allows again. [`DEFAULT_ALERTS_PER_HOUR`] when left out.
    #[serde(default)]
    pub max_alerts_per_hour: Option<u32>,
    /// Bot token (telegram) or access token (ntfy). A secret.
    #[serde(default)]
    pub token: Option<Secret>,
    /// Bot API key (zulip). A secret.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Server root of token-based APIs: telegram (`https://api.telegram.org`), zulip (your
    /// organisation, required), ntfy (`https://ntfy.sh`); self-hosted servers and tests.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The chat to post to (telegram).
    #[serde(default)]
    pub chat_id: Option<ChatId>,
    /// A forum topic of that chat (`message_thread_id`, telegram).
    #[serde(default)]
    pub topic_id: Option<i64>,
    /// The bot's email address (zulip).
    #[serde(default)]
    pub email: Option<String>,
    /// The channel (stream) to post to; each watch gets its own topic (zulip).
    #[serde(default)]
    pub stream: Option<String>,
    /// The topic to publish to (ntfy): on a public server its name is the password, so it is a secret.
    #[serde(default)]
    pub topic: Option<Secret>,
}

impl SinkConfig {
    /// A table with only `id` and `kind` (and every optional key left out), for code and tests
    /// that fill in the rest.
    pub fn new(id: &str, kind: SinkKind) -> SinkConfig {
        SinkConfig {
            id: id.to_string(),
            kind,
            url: None,
            allow_private: false,
            secret: None,
            username: None,
            format: StdoutFormat::Text,
            max_per_second: None,
            max_alerts_per_hour: None,
            token: None,
            api_key: None,
            base_url: None,
            chat_id: None,
            topic_id: None,
            email: None,
            stream: None,
            topic: None,
        }
    }

    /// The optional keys given in this table, by name.
    fn keys_given(&self) -> Vec<&'static str> {
        [
            ("url", self.url.is_some()),
            ("secret", self.secret.is_some()),
            ("username", self.username.is_some()),
            ("format", self.format != StdoutFormat::Text),
            ("token", self.token.is_some()),
            ("api_key", self.api_key.is_some()),
            ("base_url", self.base_url.is_some()),
            ("chat_id", self.chat_id.is_some()),
            ("topic_id", self.topic_id.is_some()),
            ("email", self.email.is_some()),
            ("stream", self.stream.is_some()),
            ("topic", self.topic.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, given)| given.then_some(k))
        .collect()
    }

    /// Every secret of this table, with its key.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        [
            ("url", self.url.as_mut()),
            ("secret", self.secret.as_mut()),
            ("token", self.token.as_mut()),
            ("api_key", self.api_key.as_mut()),
            ("topic", self.topic.as_mut()),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect()
    }
}

/// One `[[route]]` table: which mentions go to which sinks. Routes are tried in order for each
/// (mention, watch it matched); the first route whose matchers all hold sends, and the search
/// stops there unless the route says `continue = true`. A `default = true` route takes what no
/// other route took. A matcher left out matches everything.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Watch name; every watch when left out.
    #[serde(default)]
    pub watch: Option<String>,
    /// Only mentions of these sources (ids).
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// Only mentions of sources of these kinds (`reddit`, `hackernews`, ...).
    #[serde(default)]
    pub source_kinds: Option<Vec<String>>,
    /// Only mentions in these sentiment buckets (`positive`, `neutral`, `negative`).
    #[serde(default)]
    pub sentiment: Option<Vec<SentimentBucket>>,
    /// Only mentions in these languages (two-letter codes).
    #[serde(default)]
    pub lang: Option<Vec<String>>,
    /// Only mentions of watches carrying one of these tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Only while one of these `[[time_interval]]`s holds: at other times the route does not
    /// match (the next routes are tried), unlike `active_time_intervals`, which hold alerts.
    #[serde(default)]
    pub during: Option<Vec<String>>,
    /// Least urgency level (`low`, `normal`, `high`, `critical`).
    #[serde(default = "normal")]
    pub min_urgency: Level,
    /// Sink ids to send to.
    pub sinks: Vec<String>,
    /// Keep trying the routes after this one once it matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Takes the mentions no other route matched; it may only filter by `min_urgency`.
    #[serde(default)]
    pub default: bool,
    /// Names of `[[time_interval]]`s during which this route holds its alerts back; they are
    /// sent as one catch-up message when the window ends.
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    /// Names of `[[time_interval]]`s outside which this route holds its alerts back.
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    /// Critical mentions are sent at once, even when the route is muted.
    #[serde(default)]
    pub critical_breaks_through: bool,
    /// Mentions of one conversation (a thread, a story, an issue) that arrive within this long
    /// of the first go out as one message.
    #[serde(default)]
    pub group_wait: Option<Dur>,
    /// After a conversation's first message, its later mentions are sent (or edited in, or
    /// replied in thread) at most this often. Default 5 minutes.
    #[serde(default)]
    pub group_interval: Option<Dur>,
    /// A name, for `escalate_to` to point at.
    #[serde(default)]
    pub name: Option<String>,
    /// The route (by `name`) a critical mention is sent to again when nobody acknowledged it
    /// within `escalate_after`. That route receives only escalations.
    #[serde(default)]
    pub escalate_to: Option<String>,
    /// How long a critical mention may stay unacknowledged before it is escalated, and again
    /// between escalations. Default 30 minutes.
    #[serde(default)]
    pub escalate_after: Option<Dur>,
    /// Most times one mention is escalated. Default 3.
    #[serde(default)]
    pub escalate_times: Option<u32>,
}

/// Later mentions of a conversation already sent wait at least this long after its last message.
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(300);
/// A critical mention not acknowledged within this long is escalated.
pub const DEFAULT_ESCALATE_AFTER: Duration = Duration::from_secs(1800);
/// Most escalations of one mention.
pub const DEFAULT_ESCALATE_TIMES: u32 = 3;

impl RouteConfig {
    /// `group_interval`, or its default.
    pub fn group_interval(&self) -> Duration {
        self.group_interval.map_or(DEFAULT_GROUP_INTERVAL, |d| d.0)
    }

    /// `escalate_after`, or its default.
    pub fn escalate_after(&self) -> Duration {
        self.escalate_after.map_or(DEFAULT_ESCALATE_AFTER, |d| d.0)
    }

    /// `escalate_times`, or its default.
    pub fn escalate_times(&self) -> u32 {
        self.escalate_times.unwrap_or(DEFAULT_ESCALATE_TIMES)
    }

    /// The matchers given, by key (`min_urgency` aside).
    fn matchers_given(&self) -> Vec<&'static str> {
        [
            ("watch", self.watch.is_some()),
            ("sources", self.sources.is_some()),
            ("source_kinds", self.source_kinds.is_some()),
            ("sentiment", self.sentiment.is_some()),
            ("lang", self.lang.is_some()),
            ("tags", self.tags.is_some()),
            ("during", self.during.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, given)| given.then_some(k))
        .collect()
    }
}

fn normal() -> Level {
    Level::Normal
}

/// Names given in the file, including entries that failed to load, and where each loaded
/// entry stands in the file, so that problems name the right `[[table]]`.
#[derive(Default)]
struct KnownNames {
    sources: HashSet<String>,
    watches: HashSet<String>,
    sinks: HashSet<String>,
    source_at: Vec<usize>,
    watch_at: Vec<usize>,
    sink_at: Vec<usize>,
    route_at: Vec<usize>,
    interval_at: Vec<usize>,
    intervals: HashSet<String>,
    digest_at: Vec<usize>,
}

/// The index in the file of the `i`-th loaded entry.
fn at(positions: &[usize], i: usize) -> usize {
    positions.get(i).copied().unwrap_or(i)
}

/// One problem found in a config: where, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path, such as `source[2].url` or `watch "acme".query`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A config that cannot be used: every problem found, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{}: {n} problem{}",
            self.file,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// A loaded, valid config with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Problem>,
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            problems: vec![Problem {
                path: String::new(),
                message: format!(
                    "cannot read the config file ({e}): pass --config FILE or set EARSHOT_CONFIG"
                ),
            }],
        })?;
        let mut loaded = Config::parse(&text).map_err(|problems| ConfigError {
            file: path.display().to_string(),
            problems,
        })?;
        // Secret files named relatively are also looked for beside the config file.
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty());
        let sink_secrets = loaded
            .config
            .sinks
            .iter_mut()
            .flat_map(|sink| sink.secrets_mut().into_iter().map(|(_, secret)| secret));
        let source_secrets = loaded.config.sources.iter_mut().flat_map(|s| {
            s.platform
                .secrets_mut()
                .into_iter()
                .map(|(_, secret)| secret)
        });
        for secret in sink_secrets.chain(source_secrets) {
            if let Secret::File { base: b, .. } = secret {
                *b = base.clone();
            }
        }
        // Relative state_dir and feed paths are taken from the working directory, as with every
        // other daemon (systemd sets it to the state directory); secret files are also looked
        // for beside the config (set above).
        Ok(loaded)
    }

    /// Parses and validates config text. Pure: no file, network or environment access.
    pub fn parse(text: &str) -> Result<Loaded, Vec<Problem>> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            // Only the position and the reason: the offending line may hold an inline secret.
            let at = e
                .span()
                .map(|sp| line_col(text, sp.start))
                .map(|(l, c)| format!(" at line {l}, column {c}"))
                .unwrap_or_default();
            vec![Problem {
                path: String::new(),
                message: format!("not valid TOML{at}: {}", e.message().trim_end()),
            }]
        })?;
        let mut problems = Vec::new();
        let mut cfg = Config::default();
        let mut known = KnownNames::default();
        for (key, value) in &table {
            match key.as_str() {
                "daemon" => {
                    if let Some(v) = section(value, "daemon", &mut problems) {
                        cfg.daemon = v;
                    }
                }
                "scoring" => {
                    if let Some(v) = section(value, "scoring", &mut problems) {
                        cfg.scoring = v;
                    }
                }
                "source" => (cfg.sources, known.source_at) = array(value, "source", &mut problems),
                "watch" => (cfg.watches, known.watch_at) = array(value, "watch", &mut problems),
                "sink" => (cfg.sinks, known.sink_at) = array(value, "sink", &mut problems),
                "route" => (cfg.routes, known.route_at) = array(value, "route", &mut problems),
                "time_interval" => {
                    (cfg.time_intervals, known.interval_at) =
                        array(value, "time_interval", &mut problems)
                }
                "http" => {
                    if let Some(v) = section(value, "http", &mut problems) {
                        cfg.http = v;
                    }
                }
                "digest" => {
                    (cfg.digests, known.digest_at) = array(value, "digest", &mut problems)
                }
                "retention" => {
                    if let Some(v) = section(value, "retention", &mut problems) {
                        cfg.retention = v;
                    }
                }
                "spikes" => cfg.spikes = section(value, "spikes", &mut problems),
                other => problems.push(Problem {
                    path: other.to_string(),
                    message: format!(
                        "unknown section; expected one of [daemon], [scoring], [[source]], [[watch]], [[sink]], [[route]], [[time_interval]], [http], [[digest]], [retention], [spikes]{}",
                        suggest(other, &["daemon", "scoring", "source", "watch", "sink", "route", "time_interval", "http", "digest", "retention", "spikes"])
                    ),
                }),
            }
        }
        // Names of entries that failed to load still count for references, so that one broken
        // source does not also make every watch reading it look wrong.
        let raw_names = |section: &str, key: &str| -> HashSet<String> {
            table
                .get(section)
                .and_then(|v| v.as_array())
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i.get(key)?.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        known.sources = raw_names("source", "id");
        known.watches = raw_names("watch", "name");
        known.sinks = raw_names("sink", "id");
        known.intervals = raw_names("time_interval", "name");
        let mut warnings = cfg.validate(&known, &mut problems);
        // Secrets written into the file itself, sources' and sinks' alike.
        let source_secrets = cfg.sources.iter_mut().enumerate().map(|(i, s)| {
            let at = format!("source[{}] (id {:?})", at(&known.source_at, i), s.id);
            (at, s.platform.secrets_mut())
        });
        let sink_secrets = cfg.sinks.iter_mut().enumerate().map(|(i, s)| {
            let at = format!("sink[{}] (id {:?})", at(&known.sink_at, i), s.id);
            (at, s.secrets_mut())
        });
        for (at, secrets) in source_secrets.chain(sink_secrets) {
            for (key, secret) in secrets {
                if secret.is_inline() {
                    warnings.push(Problem {
                        path: format!("{at}.{key}"),
                        message: "written in the config file: move it to { env = \"NAME\" } or { file = \"path\" } so the file can be shared".into(),
                    });
                }
            }
        }
        if problems.is_empty() {
            Ok(Loaded {
                config: cfg,
                warnings,
            })
        } else {
            Err(problems)
        }
    }

    /// Checks what deserialising cannot: references, uniqueness, queries, ranges. Pure.
    /// Sections are checked in file order, so problems and warnings read top to bottom.
    fn validate(&self, known: &KnownNames, problems: &mut Vec<Problem>) -> Vec<Problem> {
        let mut warnings = Vec::new();
        self.validate_daemon(problems, &mut warnings);
        self.validate_scoring(problems);
        self.validate_sources(known, problems, &mut warnings);
        self.validate_watches(known, problems, &mut warnings);
        self.validate_sinks(known, problems);
        self.validate_time_intervals(known, problems);
        self.validate_routes(known, problems, &mut warnings);
        self.validate_http(problems, &mut warnings);
        self.validate_digests(known, problems);
        self.validate_retention(problems);
        self.validate_spikes(known, problems);
        warnings
    }

    /// `[[digest]]`: names, schedules, time zones, periods, watches and sinks.
    fn validate_digests(&self, known: &KnownNames, problems: &mut Vec<Problem>) {
        let mut p = |path: String, message: String| problems.push(Problem { path, message });
        let mut names = HashSet::new();
        for (i, d) in self.digests.iter().enumerate() {
            let i = at(&known.digest_at, i);
            let at = format!("digest[{i}] (name {:?})", d.name);
            check_id(&d.name, &format!("digest[{i}].name"), &mut p);
            if !names.insert(d.name.as_str()) {
                p(format!("{at}.name"), "duplicate digest name".into());
            }
            if let Err(e) = parse_cron(&d.schedule) {
                p(
                    format!("{at}.schedule"),
                    format!(
                        "{e}: write six fields with seconds, e.g. \"0 0 8 * * *\" for 08:00 every day"
                    ),
                );
            } else if let Err(e) = check_cron(&d.schedule) {
                p(format!("{at}.schedule"), e);
            }
            if d.location.parse::<chrono_tz::Tz>().is_err() {
                p(
                    format!("{at}.location"),
                    format!(
                        "{:?} is not a time zone: write an IANA name such as \"Europe/Berlin\" or \"UTC\"",
                        d.location
                    ),
                );
            }
            check_range(
                d.period,
                Duration::from_secs(3600),
                Duration::from_secs(31 * 86_400),
                &format!("{at}.period"),
                &mut p,
            );
            dangling_all(
                &d.watches,
                &known.watches,
                "no watch is named",
                &format!("{at}.watches"),
                &mut p,
            );
            if d.sinks.is_empty() {
                p(
                    format!("{at}.sinks"),
                    "list at least one sink id, e.g. sinks = [\"marketing\"]".into(),
                );
            }
            dangling_all(
                &d.sinks,
                &known.sinks,
                "no sink has id",
                &format!("{at}.sinks"),
                &mut p,
            );
        }
    }

    /// `[retention]`: mentions kept at least a day, aggregates at least a year.
    fn validate_retention(&self, problems: &mut Vec<Problem>) {
        let mut p = |path: String, message: String| problems.push(Problem { path, message });
        if let Some(m) = self.retention.mentions {
            check_range(
                m,
                Duration::from_secs(86_400),
                Duration::from_secs(100 * 365 * 86_400),
                "retention.mentions",
                &mut p,
            );
        }
        check_range(
            self.retention.aggregates,
            Duration::from_secs(366 * 86_400),
            Duration::from_secs(100 * 365 * 86_400),
            "retention.aggregates",
            &mut p,
        );
    }

    /// `[spikes]`: watches that exist, a sensible k, whole-hour windows inside the baseline.
    fn validate_spikes(&self, known: &KnownNames, problems: &mut Vec<Problem>) {
        let Some(s) = &self.spikes else { return };
        let mut p = |path: String, message: String| problems.push(Problem { path, message });
        dangling_all(
            &s.watches,
            &known.watches,
            "no watch is named",
            "spikes.watches",
            &mut p,
        );
        if !(s.k.is_finite() && (0.5..=20.0).contains(&s.k)) {
            p(
                "spikes.k".into(),
                format!(
                    "{} is out of range: write a number of standard deviations from 0.5 to 20, e.g. 3",
                    s.k
                ),
            );
        }
        check_range(
            s.window,
            Duration::from_secs(3600),
            Duration::from_secs(86_400),
            "spikes.window",
            &mut p,
        );
        if s.window.0.as_secs() % 3600 != 0 {
            p(
                "spikes.window".into(),
                format!(
                    "{} is not whole hours: write \"1h\", \"3h\" or \"24h\" (the baseline is kept per hour)",
                    s.window
                ),
            );
        }
        check_range(
            s.baseline,
            Duration::from_secs(86_400),
            Duration::from_secs(60 * 86_400),
            "spikes.baseline",
            &mut p,
        );
        if s.baseline.0 < s.window.0 * 4 {
            p(
                "spikes.baseline".into(),
                format!(
                    "{} is too short for a window of {}: make it at least four windows long",
                    s.baseline, s.window
                ),
            );
        }
        if s.min_mentions == 0 {
            p(
                "spikes.min_mentions".into(),
                "must be at least 1 (default 10)".into(),
            );
        }
    }

    /// `[http]`: an address to listen on and a public URL for the links.
    fn validate_http(&self, problems: &mut Vec<Problem>, warnings: &mut Vec<Problem>) {
        let h = &self.http;
        let off = h.listen.trim().eq_ignore_ascii_case("off");
        if !off && h.listen_addr().is_none() {
            problems.push(Problem {
                path: "http.listen".into(),
                message: format!(
                    "{:?} is not an address: write host:port with an IP, e.g. \"127.0.0.1:9477\", or \"off\"",
                    h.listen
                ),
            });
        }
        if let Some(u) = &h.public_url {
            let ok = url::Url::parse(u).is_ok_and(|p| {
                matches!(p.scheme(), "http" | "https")
                    && p.host_str().is_some()
                    && p.query().is_none()
                    && p.username().is_empty()
                    && p.password().is_none()
            });
            if !ok {
                problems.push(Problem {
                    path: "http.public_url".into(),
                    message: "write the http(s) URL users reach earshot at, without a query, e.g. \"https://earshot.example.com\"".into(),
                });
            }
        }
        let mut p = |path: String, message: String| problems.push(Problem { path, message });
        check_range(
            h.ack_link_ttl,
            Duration::from_secs(60),
            Duration::from_secs(90 * 86_400),
            "http.ack_link_ttl",
            &mut p,
        );
        let escalates = self.routes.iter().any(|r| r.escalate_to.is_some());
        if escalates && off {
            warnings.push(Problem {
                path: "http.listen".into(),
                message: "routes escalate, but the listener is off: alerts carry no acknowledge link (use `earshot ack ID`)".into(),
            });
        } else if escalates
            && h.public_url.is_none()
            && h.listen_addr().is_some_and(|a| a.ip().is_loopback())
        {
            warnings.push(Problem {
                path: "http.public_url".into(),
                message: "acknowledge links point at this machine's loopback address: set public_url to where your team reaches earshot".into(),
            });
        }
    }

    /// `[daemon]`: a reachable user agent, rates, timeouts and the log filter.
    fn validate_daemon(&self, problems: &mut Vec<Problem>, warnings: &mut Vec<Problem>) {
        let mut p = |path: String, message: String| problems.push(Problem { path, message });
        let d = &self.daemon;
        if !d.user_agent.trim().is_empty()
            && !d.user_agent.contains('@')
            && !d.user_agent.contains("http")
        {
            warnings.push(Problem {
                path: "daemon.user_agent".into(),
                message: "gives no way to reach you: platforms ask for one, e.g. \"earshot/0.1 (+https://your.site; you@your.site)\"".into(),
            });
        }
        if d.user_agent.trim().is_empty() {
            p(
                "daemon.user_agent".into(),
                "must not be empty: write e.g. \"earshot/0.1 (+https://your.site; you@your.site)\""
                    .into(),
            );
        }
        if d.state_dir.as_os_str().is_empty() {
            p(
                "daemon.state_dir".into(),
                "must not be empty: name the directory for the database, e.g. \"/var/lib/earshot\""
                    .into(),
            );
        }
        check_rate(d.per_host_rps, "daemon.per_host_rps", &mut p);
        const S: u64 = 1;
        const MIN: u64 = 60;
        const DAY: u64 = 86_400;
        let secs = Duration::from_secs;
        check_range(
            d.connect_timeout,
            Duration::from_millis(100),
            secs(10 * MIN),
            "daemon.connect_timeout",
            &mut p,
        );
        check_range(
            d.timeout,
            Duration::from_millis(100),
            secs(10 * MIN),
            "daemon.timeout",
            &mut p,
        );
        check_range(
            d.jitter,
            Duration::ZERO,
            secs(60 * MIN),
            "daemon.jitter",
            &mut p,
        );
        check_range(
            d.shutdown_timeout,
            secs(S),
            secs(10 * MIN),
            "daemon.shutdown_timeout",
            &mut p,
        );
        if d.shutdown_timeout.0 >= secs(30) {
            warnings.push(Problem {
                path: "daemon.shutdown_timeout".into(),
                message: format!(
                    "{} is not shorter than the systemd unit's TimeoutStopSec=30s: systemd would kill earshot before deliveries in flight finish; raise TimeoutStopSec above it too",
                    d.shutdown_timeout
                ),
            });
        }
        check_range(
            d.delivery_give_up_after,
            secs(10 * MIN),
            secs(30 * DAY),
            "daemon.delivery_give_up_after",
            &mut p,
        );
        check_range(
            d.max_backoff,
            secs(MIN),
            secs(7 * DAY),
            "daemon.max_backoff",
            &mut p,
        );
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&d.log) {
            p(
                "daemon.log".into(),
                format!(
                    "{:?} is not a log filter ({e}); write e.g. \"info\" or \"earshot=debug\"",
                    d.log
                ),
            );
        }
        if d.max_body < 1024 {
            p(
                "daemon.max_body".into(),
                "must be at least 1024 bytes; the default is 15728640 (15 MiB)".into(),
            );
        }
    }

    /// `[scoring]`: level thresholds and phrase weights.
    fn validate_scoring(&self, problems: &mut Vec<Problem>) {
        let mut p = |path: String, message: String| problems.push(Problem { path, message });
        let l = self.scoring.levels;
        if !(l.normal < l.high && l.high < l.critical && l.critical <= 100) {
            p(
                "scoring.levels".into(),
                format!(
                    "thresholds must rise and stay within 100 (normal < high < critical <= 100); got {}, {}, {}",
                    l.normal, l.high, l.critical
                ),
            );
        }
        for (phrase, w) in self
            .scoring
            .phrases
            .iter()
            .flatten()
            .chain(&self.scoring.extra_phrases)
        {
            if phrase.trim().is_empty() {
                p(
                    "scoring.phrases".into(),
                    "a phrase must not be empty".into(),
                );
            }
            if *w > 100 {
                p(
                    format!("scoring.phrases.{phrase:?}"),
                    format!("weight {w} is above 100"),
                );
            }
        }
    }

    /// `[[source]]`: ids, urls and schedules. The ids seen here only catch duplicates;
    /// references elsewhere are checked against `known`, which also holds entries that
    /// failed to load, so one broken source is reported once.
    fn validate_sources(
        &self,
        known: &KnownNames,
        problems: &mut Vec<Problem>,
        warnings: &mut Vec<Problem>,
    ) {
        let mut p = |path: String, message: String| problems.push(Problem { path, message });
        let mut source_ids = HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            let i = at(&known.source_at, i);
            let at = format!("source[{i}] (id {:?})", s.id);
            check_id(&s.id, &format!("source[{i}].id"), &mut p);
            if !source_ids.insert(s.id.as_str()) {
                p(
                    format!("{at}.id"),
                    "duplicate source id: each source needs its own".into(),
                );
            }
            for problem in s.platform.validate() {
                let path = if problem.key.is_empty() {
                    at.clone()
                } else {
                    format!("{at}.{}", problem.key)
                };
                p(path, problem.message);
            }
            // An address written in the URL is refused at every poll: say so now. Names are
            // checked once resolved, when the source polls.
            if !(s.allow_private || self.daemon.allow_private_networks)
                && let Ok(u) = url::Url::parse(&s.platform.endpoint())
                && let Err(m) = earshot_connectors::netguard::check_url(&u)
            {
                let key = if s.kind() == "feed" {
                    "url"
                } else {
                    "base_url"
                };
                p(format!("{at}.{key}"), m);
            }
            if s.every.is_some() && s.cron.is_some() {
                p(
                    at.to_string(),
                    "give either every = \"10m\" or cron = \"...\", not both".into(),
                );
            }
            if let Some(e) = s.every {
                if e.0 < Duration::from_secs(1) || e.0 > Duration::from_secs(30 * 86_400) {
                    p(
                        format!("{at}.every"),
                        format!(
                            "{e} is out of range: write between \"1s\" and \"30d\"; most sources want \"5m\" or more"
                        ),
                    );
                } else if e.0 < Duration::from_secs(60) && is_remote(&s.platform.endpoint()) {
                    warnings.push(Problem {
                        path: format!("{at}.every"),
                        message: "polling a remote server more often than once a minute is impolite; most want \"5m\" or more".into(),
                    });
                }
            }
            if let Some(c) = &s.cron
                && let Err(m) = check_cron(c)
            {
                p(format!("{at}.cron"), m);
            }
        }
    }

    /// `[[watch]]`: names, queries and the sources each one reads.
    fn validate_watches(
        &self,
        known: &KnownNames,
        problems: &mut Vec<Problem>,
        warnings: &mut Vec<Problem>,
    ) {
        let mut p = |path: String, message: String| problems.push(Problem { path, message });
        let mut watch_names = HashSet::new();
        for (i, w) in self.watches.iter().enumerate() {
            let i = at(&known.watch_at, i);
            let at = format!("watch[{i}] (name {:?})", w.name);
            check_id(&w.name, &format!("watch[{i}].name"), &mut p);
            if !watch_names.insert(w.name.as_str()) {
                p(format!("{at}.name"), "duplicate watch name".into());
            }
            if let Err(e) = Query::parse(&w.query) {
                p(format!("{at}.query"), format!("{e} in {:?}", w.query));
            }
            if w.sources.as_ref().is_some_and(Vec::is_empty) {
                p(format!("{at}.sources"), "an empty list reads nothing: name source ids, or leave `sources` out to read them all".into());
            }
            dangling_all(
                w.sources.iter().flatten(),
                &known.sources,
                "no source has id",
                &format!("{at}.sources"),
                &mut p,
            );
        }
        if self.watches.is_empty() && !self.sources.is_empty() {
            warnings.push(Problem {
                path: "watch".into(),
                message: "no [[watch]]: mentions are fetched but nothing matches".into(),
            });
        }
    }

    /// `[[sink]]`: ids, urls, secrets and the options only some kinds take.
    fn validate_sinks(&self, known: &KnownNames, problems: &mut Vec<Problem>) {
        let mut p = |path: String, message: String| problems.push(Problem { path, message });
        let mut sink_ids = HashSet::new();
        for (i, s) in self.sinks.iter().enumerate() {
            let i = at(&known.sink_at, i);
            let at = format!("sink[{i}] (id {:?})", s.id);
            check_id(&s.id, &format!("sink[{i}].id"), &mut p);
            if !sink_ids.insert(s.id.as_str()) {
                p(format!("{at}.id"), "duplicate sink id".into());
            }
            let given = s.keys_given();
            for (key, hint) in s.kind.required_keys() {
                let present = given.contains(key);
                if !present {
                    p(
                        format!("{at}.{key}"),
                        format!("a {} sink needs {hint}", s.kind.as_str()),
                    );
                }
            }
            for key in &given {
                let allowed = s.kind.required_keys().iter().any(|(k, _)| k == key)
                    || s.kind.optional_keys().contains(key);
                if !allowed {
                    let takers: Vec<&str> = SINK_KINDS
                        .iter()
                        .filter(|k| {
                            k.required_keys().iter().any(|(r, _)| r == key)
                                || k.optional_keys().contains(key)
                        })
                        .map(|k| k.as_str())
                        .collect();
                    p(
                        format!("{at}.{key}"),
                        format!(
                            "a {} sink takes no `{key}` (it belongs to {}): remove it",
                            s.kind.as_str(),
                            takers.join(", ")
                        ),
                    );
                }
            }
            if let Some(b) = &s.base_url
                && !url::Url::parse(b)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            {
                p(
                    format!("{at}.base_url"),
                    format!(
                        "{b:?} is not an http(s) URL: write the server's root, e.g. \"https://chat.example.com\""
                    ),
                );
            }
            if let Some(r) = s.max_per_second {
                check_rate(r, &format!("{at}.max_per_second"), &mut p);
            }
            if s.max_alerts_per_hour == Some(0) {
                p(
                    format!("{at}.max_alerts_per_hour"),
                    "0 would hold every alert forever: write at least 1 (120 when left out)".into(),
                );
            }
            if let Some(u) = &s.username {
                let lower = u.to_lowercase();
                if s.kind == SinkKind::Discord
                    && (lower.contains("discord")
                        || lower.contains("clyde")
                        || u.chars().count() > 80
                        || matches!(lower.trim(), "everyone" | "here" | ""))
                {
                    p(format!("{at}.username"), "Discord refuses names containing \"discord\" or \"clyde\", \"everyone\", \"here\", and names over 80 characters".into());
                }
            }
        }
    }

    /// `[[time_interval]]`: names, times, days and time zones.
    fn validate_time_intervals(&self, known: &KnownNames, problems: &mut Vec<Problem>) {
        let mut names = HashSet::new();
        for (i, t) in self.time_intervals.iter().enumerate() {
            let i = at(&known.interval_at, i);
            let at = format!("time_interval[{i}] (name {:?})", t.name);
            check_id(
                &t.name,
                &format!("time_interval[{i}].name"),
                &mut |path, message| problems.push(Problem { path, message }),
            );
            if !names.insert(t.name.as_str()) {
                problems.push(Problem {
                    path: format!("{at}.name"),
                    message: "duplicate time interval name".into(),
                });
            }
            if let Err((key, message)) = crate::quiet::TimeInterval::new(t) {
                problems.push(Problem {
                    path: format!("{at}.{key}"),
                    message,
                });
            }
        }
    }

    /// `[[route]]`: the watch and sinks each route names.
    fn validate_routes(
        &self,
        known: &KnownNames,
        problems: &mut Vec<Problem>,
        warnings: &mut Vec<Problem>,
    ) {
        let mut p = |path: String, message: String| problems.push(Problem { path, message });
        let tags: HashSet<&str> = self
            .watches
            .iter()
            .flat_map(|w| w.tags.iter().map(String::as_str))
            .collect();
        let mut defaults = 0;
        let mut catch_all: Option<String> = None;
        let mut names: HashSet<&str> = HashSet::new();
        let escalation_targets: HashSet<&str> = self
            .routes
            .iter()
            .filter_map(|r| r.escalate_to.as_deref())
            .collect();
        for (i, r) in self.routes.iter().enumerate() {
            let i = at(&known.route_at, i);
            let at = format!("route[{i}]");
            if let Some(m) = r
                .watch
                .as_ref()
                .and_then(|w| dangling(w, &known.watches, "no watch is named"))
            {
                p(format!("{at}.watch"), m);
            }
            if r.sinks.is_empty() {
                p(
                    format!("{at}.sinks"),
                    "list at least one sink id, e.g. sinks = [\"support\"]".into(),
                );
            }
            dangling_all(
                &r.sinks,
                &known.sinks,
                "no sink has id",
                &format!("{at}.sinks"),
                &mut p,
            );
            for (key, names) in [
                ("mute_time_intervals", &r.mute_time_intervals),
                ("active_time_intervals", &r.active_time_intervals),
                ("during", r.during.as_ref().unwrap_or(&Vec::new())),
            ] {
                dangling_all(
                    names,
                    &known.intervals,
                    "no time interval is named",
                    &format!("{at}.{key}"),
                    &mut p,
                );
            }
            if let Some(g) = r.group_wait {
                check_range(
                    g,
                    Duration::from_secs(1),
                    Duration::from_secs(3600),
                    &format!("{at}.group_wait"),
                    &mut p,
                );
            }
            if let Some(g) = r.group_interval {
                check_range(
                    g,
                    Duration::from_secs(10),
                    Duration::from_secs(86_400),
                    &format!("{at}.group_interval"),
                    &mut p,
                );
            }
            if let Some(n) = &r.name {
                if n.trim().is_empty() {
                    p(format!("{at}.name"), "a route name cannot be empty".into());
                } else if !names.insert(n.as_str()) {
                    p(
                        format!("{at}.name"),
                        format!("another route is named {n:?}: names must be unique"),
                    );
                }
            }
            if let Some(to) = &r.escalate_to {
                let targets: Vec<&str> = self
                    .routes
                    .iter()
                    .filter_map(|r| r.name.as_deref())
                    .collect();
                if !targets.contains(&to.as_str()) {
                    p(
                        format!("{at}.escalate_to"),
                        format!(
                            "no route is named {to:?}{}: give the on-call route `name = {to:?}`",
                            suggest(to, &targets)
                        ),
                    );
                } else if r.name.as_deref() == Some(to.as_str()) {
                    p(
                        format!("{at}.escalate_to"),
                        "a route cannot escalate to itself".into(),
                    );
                }
                if escalation_targets.contains(r.name.as_deref().unwrap_or("")) {
                    p(
                        format!("{at}.escalate_to"),
                        "an escalation route cannot escalate further: raise escalate_times instead"
                            .into(),
                    );
                }
            } else {
                for key in [
                    ("escalate_after", r.escalate_after.is_some()),
                    ("escalate_times", r.escalate_times.is_some()),
                ]
                .into_iter()
                .filter_map(|(k, given)| given.then_some(k))
                {
                    p(
                        format!("{at}.{key}"),
                        "only used with escalate_to: name the route to escalate to".into(),
                    );
                }
            }
            if let Some(e) = r.escalate_after {
                check_range(
                    e,
                    Duration::from_secs(60),
                    Duration::from_secs(7 * 86_400),
                    &format!("{at}.escalate_after"),
                    &mut p,
                );
            }
            if let Some(t) = r.escalate_times
                && !(1..=20).contains(&t)
            {
                p(
                    format!("{at}.escalate_times"),
                    "must be between 1 and 20".into(),
                );
            }
            let is_target = r
                .name
                .as_deref()
                .is_some_and(|n| escalation_targets.contains(n));
            if is_target {
                let given = r.matchers_given();
                if r.default || !given.is_empty() {
                    p(
                        at.clone(),
                        format!(
                            "an escalation route receives only escalations: remove {}",
                            if r.default {
                                "default".to_string()
                            } else {
                                given.join(", ")
                            }
                        ),
                    );
                }
                // It takes part in no matching, so it neither catches nor shadows.
                continue;
            }
            if r.critical_breaks_through
                && r.mute_time_intervals.is_empty()
                && r.active_time_intervals.is_empty()
            {
                warnings.push(Problem {
                    path: format!("{at}.critical_breaks_through"),
                    message: "this route is never muted: give mute_time_intervals or active_time_intervals, or remove it".into(),
                });
            }
            let lists: [(&str, Option<usize>); 6] = [
                ("during", r.during.as_ref().map(Vec::len)),
                ("sources", r.sources.as_ref().map(Vec::len)),
                ("source_kinds", r.source_kinds.as_ref().map(Vec::len)),
                ("sentiment", r.sentiment.as_ref().map(Vec::len)),
                ("lang", r.lang.as_ref().map(Vec::len)),
                ("tags", r.tags.as_ref().map(Vec::len)),
            ];
            for (key, len) in lists {
                if len == Some(0) {
                    p(
                        format!("{at}.{key}"),
                        "an empty list matches nothing: list values, or leave the key out to match all".into(),
                    );
                }
            }
            dangling_all(
                r.sources.iter().flatten(),
                &known.sources,
                "no source has id",
                &format!("{at}.sources"),
                &mut p,
            );
            for k in r.source_kinds.iter().flatten() {
                if !earshot_connectors::KINDS.contains(&k.as_str()) {
                    p(
                        format!("{at}.source_kinds"),
                        format!(
                            "unknown source kind {k:?}{}",
                            suggest(k, earshot_connectors::KINDS)
                        ),
                    );
                }
            }
            for l in r.lang.iter().flatten() {
                if l.len() != 2 || !l.chars().all(|c| c.is_ascii_lowercase()) {
                    p(
                        format!("{at}.lang"),
                        format!("{l:?} is not a two-letter language code: write e.g. \"en\""),
                    );
                }
            }
            for t in r.tags.iter().flatten() {
                if !tags.contains(t.as_str()) {
                    warnings.push(Problem {
                        path: format!("{at}.tags"),
                        message: format!("no watch has the tag {t:?}: this matcher never holds"),
                    });
                }
            }
            if r.default {
                defaults += 1;
                let given = r.matchers_given();
                if !given.is_empty() {
                    p(
                        at.clone(),
                        format!(
                            "a default route takes what no other route matched: remove {}",
                            given.join(", ")
                        ),
                    );
                }
                if r.continue_matching {
                    p(
                        format!("{at}.continue"),
                        "a default route is tried last: remove `continue`".into(),
                    );
                }
                if defaults == 2 {
                    p(
                        format!("{at}.default"),
                        "only one route can be the default".into(),
                    );
                }
            } else if let Some(first) = &catch_all {
                warnings.push(Problem {
                    path: at.clone(),
                    message: format!(
                        "never reached: {first} matches every mention and does not say continue = true"
                    ),
                });
            } else if r.matchers_given().is_empty()
                && r.min_urgency == Level::Low
                && !r.continue_matching
            {
                catch_all = Some(at.clone());
            }
        }
        if self.routes.is_empty() && !self.watches.is_empty() {
            warnings.push(Problem {
                path: "route".into(),
                message: "no [[route]]: matches are stored but no alert is sent".into(),
            });
        }
    }

    /// The path of the SQLite database.
    pub fn db_path(&self) -> PathBuf {
        self.daemon.state_dir.join("earshot.db")
    }

    pub fn source(&self, id: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.id == id)
    }

    /// True for a route another route escalates to: it receives only escalations.
    pub fn is_escalation_route(&self, r: &RouteConfig) -> bool {
        r.name.as_deref().is_some_and(|n| {
            self.routes
                .iter()
                .any(|o| o.escalate_to.as_deref() == Some(n))
        })
    }

    /// Ids of the sinks whose messages earshot can edit later (where acknowledgements show).
    pub fn editable_sinks(&self) -> Vec<&str> {
        self.sinks
            .iter()
            .filter(|s| s.kind.can_edit())
            .map(|s| s.id.as_str())
            .collect()
    }

    pub fn sink(&self, id: &str) -> Option<&SinkConfig> {
        self.sinks.iter().find(|s| s.id == id)
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..text.floor_char_boundary(offset.min(text.len()))];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Reports, at `path`, each of `names` that is not among the names in the file.
fn dangling_all<'a>(
    names: impl IntoIterator<Item = &'a String>,
    known: &HashSet<String>,
    what: &str,
    path: &str,
    p: &mut impl FnMut(String, String),
) {
    for n in names {
        if let Some(m) = dangling(n, known, what) {
            p(path.to_string(), m);
        }
    }
}

/// "no sink has id "x" (did you mean "y"?)" when `name` is not among the names in the file.
fn dangling(name: &str, known: &HashSet<String>, what: &str) -> Option<String> {
    if known.contains(name) {
        return None;
    }
    let mut names: Vec<&str> = known.iter().map(String::as_str).collect();
    names.sort_unstable();
    Some(format!("{what} {name:?}{}", suggest(name, &names)))
}

/// " (did you mean `x`?)" when a known name is close, else a list of what exists.
fn suggest(got: &str, known: &[&str]) -> String {
    let close = known.iter().copied().min_by_key(|k| edit_distance(got, k));
    match close {
        Some(k) if edit_distance(got, k) <= 2 => format!(" (did you mean {k:?}?)"),
        _ if known.is_empty() => String::new(),
        _ if known.len() <= 8 => format!(" (known: {})", known.join(", ")),
        _ => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A sink's alert budget when `max_alerts_per_hour` is left out: a feed that suddenly matches
/// thousands of items costs a channel this many messages an hour and one summary of the rest,
/// not hours of a flood. Raise it per sink when a channel really wants more.
pub const DEFAULT_ALERTS_PER_HOUR: u32 = 120;

/// Longest id of a source, sink, watch or route: ids name things in logs, metric labels and
/// chat, and a longer one is a mistake.
pub const MAX_ID_LEN: usize = 64;

fn check_id(id: &str, path: &str, p: &mut impl FnMut(String, String)) {
    if id.len() > MAX_ID_LEN {
        p(
            path.to_string(),
            format!(
                "is {} characters long; a name has at most {MAX_ID_LEN}: shorten it",
                id.len()
            ),
        );
        return;
    }
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        p(
            path.to_string(),
            format!("{id:?} is not a valid name: use letters, digits, '-', '_' and '.'"),
        );
    }
}

/// True for an http(s) URL whose host is not this machine.
fn is_remote(u: &str) -> bool {
    url::Url::parse(u).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && !matches!(
                u.host_str(),
                Some("localhost" | "127.0.0.1" | "[::1]") | None
            )
    })
}

/// Checks that a duration lies within `[min, max]`, saying what to write otherwise.
fn check_range(
    d: Dur,
    min: Duration,
    max: Duration,
    path: &str,
    p: &mut impl FnMut(String, String),
) {
    if d.0 < min || d.0 > max {
        p(
            path.to_string(),
            format!(
                "{d} is out of range: write between {} and {}",
                crate::duration::format_duration(min),
                crate::duration::format_duration(max)
            ),
        );
    }
}

/// Checks a rate in messages or requests per second.
fn check_rate(r: f64, path: &str, p: &mut impl FnMut(String, String)) {
    if !(0.001..=1000.0).contains(&r) {
        p(
            path.to_string(),
            format!(
                "{r} is out of range: write a rate between 0.001 and 1000 per second, e.g. 1.0"
            ),
        );
    }
}

/// Validates a six-field (with seconds) cron expression the way the scheduler reads it.
pub fn check_cron(expr: &str) -> Result<(), String> {
    let fields = expr.split_whitespace().count();
    if !(6..=7).contains(&fields) {
        return Err(format!(
            "{expr:?} has {fields} fields; earshot's cron has six, starting with seconds: \"0 */10 * * * *\" is every 10 minutes"
        ));
    }
    let cron = parse_cron(expr).map_err(|e| {
        format!("{expr:?} is not a valid cron expression ({e}); e.g. \"0 */10 * * * *\"")
    })?;
    // A date that never comes (the 31st of February) parses but never fires. Searched from a
    // fixed leap year, so that the answer does not depend on today's date.
    let from = chrono::DateTime::from_timestamp(946_684_800, 0).unwrap_or_default();
    if cron.find_next_occurrence(&from, false).is_err() {
        return Err(format!(
            "{expr:?} never fires (no such date in any year): check the day of month and month"
        ));
    }
    Ok(())
}

/// Parses a cron expression exactly as tokio-cron-scheduler does (seconds required).
pub fn parse_cron(expr: &str) -> Result<croner::Cron, croner::errors::CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
}

/// Deserialises one table, recording every problem it has under `path`, each with its key.
///
/// serde stops at the first error, so on failure the offending key is found and set aside and
/// the rest is tried again: an unknown key is named by serde itself; for any other error, the
/// key whose removal makes it go away is the culprit. Tables are small, so this is cheap.
fn section<T: DeserializeOwned>(
    value: &toml::Value,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut table = match value {
        toml::Value::Table(t) => t.clone(),
        _ => {
            problems.push(Problem {
                path: path.to_string(),
                message: "must be a table of keys".into(),
            });
            return None;
        }
    };
    let mut failed = false;
    let mut set_aside: Vec<String> = Vec::new();
    for _ in 0..64 {
        let err = match toml::Value::Table(table.clone()).try_into::<T>() {
            Ok(v) if !failed => return Some(v),
            Ok(_) => return None,
            Err(e) => e,
        };
        failed = true;
        let msg = err.message().trim().to_string();
        if let Some(key) = backticked(&msg, "unknown field `") {
            let known = expected_fields(&msg);
            problems.push(Problem {
                path: format!("{path}.{key}"),
                message: format!(
                    "unknown key{}; remove it or fix its spelling",
                    suggest(&key, &known)
                ),
            });
            table.remove(&key);
            set_aside.push(key);
            continue;
        }
        if let Some(key) = backticked(&msg, "missing field `") {
            // Missing fields are checked last: nothing else is left to find in this table.
            if !set_aside.contains(&key) {
                problems.push(Problem {
                    path: format!("{path}.{key}"),
                    message: "missing; add it".into(),
                });
            }
            return None;
        }
        // serde quotes the bad value (`invalid type: integer `10``, `unknown variant `rss``):
        // the key holding it is the culprit. Failing that, the key whose removal helps.
        let quoted = |v: &toml::Value| match v {
            toml::Value::String(x) => Some(x.clone()),
            toml::Value::Integer(x) => Some(x.to_string()),
            toml::Value::Float(x) => Some(x.to_string()),
            toml::Value::Boolean(x) => Some(x.to_string()),
            _ => None,
        };
        let culprit = table
            .iter()
            .find(|(_, v)| {
                quoted(v).is_some_and(|q| {
                    msg.contains(&format!("`{q}`")) || msg.contains(&format!("\"{q}\""))
                })
            })
            .map(|(k, _)| k)
            .or_else(|| {
                table.keys().find(|k| {
                    let mut t = table.clone();
                    t.remove(*k);
                    match toml::Value::Table(t).try_into::<T>() {
                        Ok(_) => true,
                        // Missing-field errors come last in serde, so "missing `k`" after
                        // removing `k` means every other key was fine: `k` is the culprit.
                        Err(e) => e.message().trim() != msg,
                    }
                })
            });
        match culprit.cloned() {
            Some(key) => {
                problems.push(Problem {
                    path: format!("{path}.{key}"),
                    message: msg,
                });
                table.remove(&key);
                set_aside.push(key);
            }
            _ => {
                problems.push(Problem {
                    path: path.to_string(),
                    message: msg,
                });
                return None;
            }
        }
    }
    None
}

/// The name between `prefix` and the next backtick, if `msg` has one.
fn backticked(msg: &str, prefix: &str) -> Option<String> {
    let rest = &msg[msg.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('`')?].to_string())
}

/// The field names serde lists after "expected one of".
fn expected_fields(msg: &str) -> Vec<&str> {
    msg.split_once("expected")
        .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default()
}

/// Deserialises an array of tables one entry at a time, so that each entry's problems are reported.
fn array<T: DeserializeOwned>(
    value: &toml::Value,
    name: &str,
    problems: &mut Vec<Problem>,
) -> (Vec<T>, Vec<usize>) {
    let Some(items) = value.as_array() else {
        problems.push(Problem {
            path: name.to_string(),
            message: format!("must be a list of tables: write [[{name}]] above each one"),
        });
        return (Vec::new(), Vec::new());
    };
    let mut out = Vec::new();
    let mut positions = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let label = item
            .get("id")
            .or_else(|| item.get("name"))
            .and_then(|v| v.as_str())
            .map(|s| {
                format!(
                    "{name}[{i}] ({} {s:?})",
                    if item.get("id").is_some() {
                        "id"
                    } else {
                        "name"
                    }
                )
            })
            .unwrap_or_else(|| format!("{name}[{i}]"));
        if let Some(v) = section(item, &label, problems) {
            out.push(v);
            positions.push(i);
        }
    }
    (out, positions)
}

/// Problems (or warnings), one per line.
#[cfg(test)]
fn lines(problems: &[Problem]) -> String {
    let all: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    all.join("\n")
}

#[cfg(test)]
fn assert_mentions(joined: &str, needles: &[&str]) {
    for needle in needles {
        assert!(joined.contains(needle), "missing {needle:?} in:\n{joined}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [daemon]
        state_dir = "./data"
        user_agent = "earshot/0.1 (+https://example.com; ops@example.com)"
        [[source]]
        id = "blog"
        kind = "feed"
        url = "https://example.com/feed.xml"
        every = "10m"
        [[watch]]
        name = "acme"
        query = '("acme cloud" OR acmecloud) -anvil'
        [[sink]]
        id = "support"
        kind = "slack"
        url = { env = "SLACK_WEBHOOK_URL" }
        [[route]]
        watch = "acme"
        sinks = ["support"]
    "#;

    #[test]
    fn a_user_agent_without_contact_is_warned_about() {
        let text = MINIMAL.replace(
            "user_agent = \"earshot/0.1 (+https://example.com; ops@example.com)\"",
            "",
        );
        let l = Config::parse(&text).unwrap();
        assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
        assert_eq!(l.warnings[0].path, "daemon.user_agent");
    }

    #[test]
    fn minimal_config_loads_with_defaults() {
        let l = Config::parse(MINIMAL).unwrap();
        let c = l.config;
        assert_eq!(c.sources[0].every, Some(Dur::secs(600)));
        assert!(!c.sources[0].backfill);
        assert_eq!(c.routes[0].min_urgency, Level::Normal);
        assert_eq!(c.daemon.max_body, 15 * 1024 * 1024);
        assert_eq!(
            c.sinks[0].url,
            Some(Secret::Env {
                env: "SLACK_WEBHOOK_URL".into()
            })
        );
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let text = r#"
            [daemon]
            state_dri = "x"
            [[source]]
            id = "a"
            kind = "feed"
            url = "ftp://x"
            every = "10 minutes"
            [[source]]
            id = "b"
            kind = "rss"
            [[watch]]
            name = "w"
            query = '(acme'
            sources = ["nope"]
            [[sink]]
            id = "s"
            kind = "discord"
            [[route]]
            watch = "ww"
            sinks = ["s", "t"]
            [extra]
        "#;
        let problems = Config::parse(text).unwrap_err();
        let joined = lines(&problems);
        assert_mentions(
            &joined,
            &[
                "daemon.state_dri: unknown key (did you mean \"state_dir\"?)",
                "source[0] (id \"a\").every: invalid duration",
                "source[1] (id \"b\").kind: unknown variant `rss`",
                "watch[0] (name \"w\").query: column",
                "watch[0] (name \"w\").sources: no source has id \"nope\"",
                "sink[0] (id \"s\").url: a discord sink needs url",
                "route[0].watch: no watch is named \"ww\" (did you mean \"w\"?)",
                "route[0].sinks: no sink has id \"t\"",
                "extra: unknown section",
            ],
        );
    }

    #[test]
    fn inline_secret_is_accepted_with_a_warning() {
        let text = MINIMAL.replace(
            "{ env = \"SLACK_WEBHOOK_URL\" }",
            "\"https://hooks.slack.com/services/T/B/CANARY\"",
        );
        let l = Config::parse(&text).unwrap();
        assert_eq!(l.warnings.len(), 1);
        assert!(l.warnings[0].message.contains("env"));
        assert!(!format!("{:?}", l.config).contains("CANARY"));
    }

    #[test]
    fn bad_secret_shape_says_what_to_write() {
        let text = MINIMAL.replace("{ env = \"SLACK_WEBHOOK_URL\" }", "{ envv = \"X\" }");
        let p = Config::parse(&text).unwrap_err();
        assert!(p[0].message.contains("{ env = \"NAME\" }"), "{p:?}");
    }

    #[test]
    fn an_empty_state_dir_and_an_overlong_id_are_refused() {
        let empty = MINIMAL.replace("state_dir = \"./data\"", "state_dir = \"\"");
        let p = Config::parse(&empty).unwrap_err();
        assert!(
            p.iter()
                .any(|p| p.path == "daemon.state_dir" && p.message.contains("must not be empty")),
            "{p:?}"
        );
        let long = "b".repeat(MAX_ID_LEN + 1);
        let text = MINIMAL.replace("id = \"blog\"", &format!("id = \"{long}\""));
        let p = Config::parse(&text).unwrap_err();
        assert!(p.iter().any(|p| p.message.contains("at most 64")), "{p:?}");
        assert!(
            p.iter().all(|p| !p.message.contains(&long)),
            "the id is not repeated back whole: {p:?}"
        );
        let at_cap = MINIMAL.replace(
            "id = \"blog\"",
            &format!("id = \"{}\"", "b".repeat(MAX_ID_LEN)),
        );
        assert!(Config::parse(&at_cap).is_ok());
    }

    #[test]
    fn cron_is_checked() {
        assert!(check_cron("0 */10 * * * *").is_ok());
        assert!(check_cron("*/10 * * * *").unwrap_err().contains("six"));
        assert!(check_cron("0 */10 * * * nope").is_err());
        // Parses, but the 31st of February never comes; the 29th does, in leap years.
        let never = check_cron("0 0 0 31 2 *").unwrap_err();
        assert!(never.contains("never fires"), "{never}");
        assert!(check_cron("0 0 0 29 2 *").is_ok());
        let digest = MINIMAL.to_string()
            + "\n[[digest]]\nname = \"d\"\nschedule = \"0 0 0 30 2 *\"\nsinks = [\"support\"]\n";
        let p = Config::parse(&digest).unwrap_err();
        assert!(
            p.iter()
                .any(|p| p.path.ends_with(".schedule") && p.message.contains("never fires")),
            "{p:?}"
        );
        let text = MINIMAL.replace("every = \"10m\"", "every = \"10m\"\ncron = \"0 * * * * *\"");
        assert!(
            Config::parse(&text).unwrap_err()[0]
                .message
                .contains("not both")
        );
    }

    #[test]
    fn syntax_error_is_one_problem_with_location_and_no_snippet() {
        let p = Config::parse("[daemon\nx=1").unwrap_err();
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("line 1"), "{}", p[0].message);
        let p = Config::parse(
            "[[sink]]\nid = \"s\"\nurl = \"https://hooks.slack.com/services/T/B/CANARY\" oops\n",
        )
        .unwrap_err();
        assert!(p[0].message.contains("line 3"), "{}", p[0].message);
        assert!(!p[0].message.contains("CANARY"), "{}", p[0].message);
    }
}

#[cfg(test)]
mod table_problem_tests {
    use super::*;

    #[test]
    fn every_bad_key_of_a_table_is_named() {
        let text = r#"
            [daemon]
            state_dri = "x"
            timout = "5s"
            max_body = "big"
            [[source]]
            id = "blog"
            kind = 5
            evry = "10m"
            url = "https://example.com/f.xml"
            every = 10
            [[watch]]
            name = "acme"
            query = "acme"
            sources = ["blog"]
        "#;
        let problems = Config::parse(text).unwrap_err();
        let joined = lines(&problems);
        assert_mentions(
            &joined,
            &[
                "daemon.state_dri: unknown key (did you mean \"state_dir\"?)",
                "daemon.timout: unknown key (did you mean \"timeout\"?)",
                "daemon.max_body: invalid type",
                "source[0] (id \"blog\").evry: unknown key (did you mean \"every\"?)",
                "source[0] (id \"blog\").kind: invalid type",
                "source[0] (id \"blog\").every: invalid type",
            ],
        );
        // The source failed, but the watch's reference to it is not a second, false problem.
        assert!(!joined.contains("no source has id"), "{joined}");
        assert_eq!(problems.len(), 6, "{joined}");
    }

    #[test]
    fn a_source_of_every_kind_loads() {
        let tables = [
            ("feed", "url = \"https://example.com/feed.xml\""),
            ("hackernews", "query = \"acme\""),
            ("reddit", "subreddits = [\"acme\"]"),
            (
                "mastodon",
                "instances = [\"mastodon.social\"]\nhashtags = [\"acme\"]",
            ),
            (
                "bluesky",
                "query = \"acme\"\nidentifier = \"acme.bsky.social\"\napp_password = { env = \"BSKY\" }",
            ),
            ("github", "query = \"acme\""),
            ("stackexchange", "query = \"acme\""),
            (
                "lemmy",
                "base_url = \"https://lemmy.world\"\nquery = \"acme\"",
            ),
            ("discourse", "base_url = \"https://forum.example.com\""),
            ("youtube", "query = \"acme\"\napi_key = { env = \"YT\" }"),
            (
                "x",
                "query = \"acme\"\nbearer_token = { env = \"XT\" }\nmonthly_budget = 10000",
            ),
            ("appstore", "app_id = 284882215"),
        ];
        assert_eq!(tables.len(), earshot_connectors::KINDS.len());
        for (kind, keys) in tables {
            let text = format!(
                "[[source]]\nid = \"s\"\nkind = \"{kind}\"\nevery = \"15m\"\n{keys}\n[[watch]]\nname = \"w\"\nquery = \"acme\"\n"
            );
            let loaded = Config::parse(&text).unwrap_or_else(|p| panic!("{kind}: {p:?}"));
            let s = &loaded.config.sources[0];
            assert_eq!(s.kind(), kind);
            assert_eq!(s.every, Some(Dur::secs(900)));
            // A key of another platform is named, with what this kind takes.
            let bad = text.replace("every = \"15m\"", "monthly_budgets = 1");
            let p = Config::parse(&bad).unwrap_err();
            assert!(
                p.iter()
                    .any(|p| p.path == "source[0] (id \"s\").monthly_budgets"
                        && p.message.starts_with("unknown key")),
                "{kind}: {p:?}"
            );
        }
    }

    #[test]
    fn inline_source_credentials_are_warned_about() {
        let text = "[[source]]\nid = \"yt\"\nkind = \"youtube\"\nquery = \"acme\"\napi_key = \"AIza-inline\"\n[[watch]]\nname = \"w\"\nquery = \"acme\"\n";
        let loaded = Config::parse(text).unwrap();
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.path == "source[0] (id \"yt\").api_key"
                    && w.message.contains("written in the config file")),
            "{:?}",
            loaded.warnings
        );
        assert!(!format!("{:?}", loaded.config).contains("AIza-inline"));
        // Sinks' secrets the same way.
        let with_sink = format!(
            "{text}[[sink]]\nid = \"tg\"\nkind = \"telegram\"\ntoken = \"123:inline\"\nchat_id = 1\n"
        );
        let loaded = Config::parse(&with_sink).unwrap();
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.path == "sink[0] (id \"tg\").token"
                    && w.message.contains("written in the config file")),
            "{:?}",
            loaded.warnings
        );
    }

    #[test]
    fn route_matchers_are_checked() {
        let text = r#"
            [[source]]
            id = "hn"
            kind = "hackernews"
            query = "acme"
            [[watch]]
            name = "acme"
            query = "acme"
            tags = ["brand"]
            [[sink]]
            id = "out"
            kind = "stdout"
            [[route]]
            source_kinds = ["hackernew"]
            lang = ["EN"]
            sources = []
            tags = ["nope"]
            sinks = ["out"]
            [[route]]
            min_urgency = "low"
            sinks = ["out"]
            [[route]]
            watch = "acme"
            sinks = ["out"]
            [[route]]
            default = true
            watch = "acme"
            continue = true
            sinks = ["out"]
            [[route]]
            default = true
            sinks = ["out"]
        "#;
        let problems = Config::parse(text).unwrap_err();
        let joined = lines(&problems);
        assert_mentions(
            &joined,
            &[
                "route[0].source_kinds: unknown source kind \"hackernew\" (did you mean \"hackernews\"?)",
                "route[0].lang: \"EN\" is not a two-letter language code",
                "route[0].sources: an empty list matches nothing",
                "route[3]: a default route takes what no other route matched: remove watch",
                "route[3].continue: a default route is tried last",
                "route[4].default: only one route can be the default",
            ],
        );
        assert_eq!(problems.len(), 6, "{joined}");
        let fixed = text
            .replace("[\"hackernew\"]", "[\"hackernews\"]")
            .replace("[\"EN\"]", "[\"en\"]")
            .replace("sources = []\n", "")
            .replace(
                "default = true\n            watch = \"acme\"\n            continue = true\n",
                "",
            );
        let loaded = Config::parse(&fixed).unwrap();
        let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        let warnings = warnings.join("\n");
        assert!(
            warnings.contains("route[0].tags: no watch has the tag \"nope\""),
            "{warnings}"
        );
        assert!(
            warnings.contains("route[2]: never reached: route[1] matches every mention"),
            "{warnings}"
        );
    }

    #[test]
    fn digests_and_retention_are_checked() {
        let text = r#"
            [[watch]]
            name = "acme"
            query = "acme"
            [[sink]]
            id = "out"
            kind = "stdout"
            [[digest]]
            name = "daily"
            schedule = "0 8 * * *"
            location = "Europe/Berln"
            period = "10m"
            watches = ["acmee"]
            sinks = ["outt"]
            [[digest]]
            name = "daily"
            schedule = "0 0 8 * * 1"
            sinks = []
            [retention]
            mentions = "1h"
            aggregates = "30d"
        "#;
        let problems = Config::parse(text).unwrap_err();
        let joined = lines(&problems);
        assert_mentions(
            &joined,
            &[
                "digest[0] (name \"daily\").schedule: ",
                "write six fields with seconds",
                "digest[0] (name \"daily\").location: \"Europe/Berln\" is not a time zone",
                "digest[0] (name \"daily\").period: ",
                "digest[0] (name \"daily\").watches: no watch is named \"acmee\" (did you mean \"acme\"?)",
                "digest[0] (name \"daily\").sinks: no sink has id \"outt\" (did you mean \"out\"?)",
                "digest[1] (name \"daily\").name: duplicate digest name",
                "digest[1] (name \"daily\").sinks: list at least one sink id",
                "retention.mentions: ",
                "retention.aggregates: ",
            ],
        );
        let ok = Config::parse(
            r#"
            [[sink]]
            id = "out"
            kind = "stdout"
            [[digest]]
            name = "weekly"
            schedule = "0 0 9 * * MON"
            location = "Europe/Berlin"
            period = "7d"
            sinks = ["out"]
            [retention]
            mentions = "180d"
            "#,
        )
        .unwrap()
        .config;
        let d = &ok.digests[0];
        assert!(d.watches.is_empty());
        // Monday 2026-11-23 09:00 in Berlin is 08:00 UTC.
        let sat = chrono::DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            d.next_after(sat).unwrap().to_rfc3339(),
            "2026-11-23T08:00:00+00:00"
        );
        assert_eq!(ok.retention.mentions, Some(Dur::secs(180 * 86_400)));
        assert_eq!(ok.retention.aggregates, Dur::secs(400 * 86_400));
    }

    #[test]
    fn a_drain_longer_than_the_units_stop_timeout_is_a_warning() {
        let w = Config::parse("[daemon]\nshutdown_timeout = \"30s\"")
            .unwrap()
            .warnings;
        assert_mentions(
            &lines(&w),
            &[
                "daemon.shutdown_timeout: 30s is not shorter than the systemd unit's TimeoutStopSec=30s",
            ],
        );
        let w = Config::parse("[daemon]\nshutdown_timeout = \"29s\"")
            .unwrap()
            .warnings;
        assert!(!lines(&w).contains("shutdown_timeout"), "{w:?}");
    }

    #[test]
    fn spikes_are_checked() {
        let text = r#"
            [[watch]]
            name = "acme"
            query = "acme"
            [spikes]
            watches = ["acmee"]
            k = 0.1
            window = "90m"
            baseline = "2h"
            min_mentions = 0
        "#;
        let problems = Config::parse(text).unwrap_err();
        assert_mentions(
            &lines(&problems),
            &[
                "spikes.watches: no watch is named \"acmee\" (did you mean \"acme\"?)",
                "spikes.k: 0.1 is out of range",
                "spikes.window: 1h30m is not whole hours",
                "spikes.baseline: 2h is out of range",
                "spikes.baseline: 2h is too short for a window of 1h30m",
                "spikes.min_mentions: must be at least 1",
            ],
        );
        let bad = Config::parse("[spikes]\nwindow = \"2d\"\nsensitivity = 3").unwrap_err();
        assert_mentions(&lines(&bad), &["spikes", "sensitivity"]);
        let ok = Config::parse("[spikes]").unwrap().config;
        let s = ok.spikes.unwrap();
        assert_eq!((s.k, s.min_mentions, s.negative_share), (4.0, 10, true));
        assert_eq!(
            (s.window, s.baseline),
            (Dur::secs(3600), Dur::secs(7 * 86_400))
        );
        assert!(s.covers("anything"));
        assert!(
            Config::parse("").unwrap().config.spikes.is_none(),
            "off unless asked for"
        );
    }

    #[test]
    fn time_intervals_and_their_routes_are_checked() {
        let text = r#"
            [[sink]]
            id = "out"
            kind = "stdout"
            [[time_interval]]
            name = "night"
            times = [{ start = "22:00", end = "7am" }]
            location = "Europe/Londn"
            [[time_interval]]
            name = "night"
            weekdays = ["funday"]
            [[route]]
            sinks = ["out"]
            mute_time_intervals = ["nigth"]
            active_time_intervals = ["office"]
            [[route]]
            during = ["nite"]
            sinks = ["out"]
            [[route]]
            during = []
            sinks = ["out"]
        "#;
        let problems = Config::parse(text).unwrap_err();
        let joined = lines(&problems);
        assert_mentions(
            &joined,
            &[
                "time_interval[0] (name \"night\").location: \"Europe/Londn\" is not a time zone",
                "time_interval[1] (name \"night\").weekdays: unknown variant `funday`",
                "route[0].mute_time_intervals: no time interval is named \"nigth\" (did you mean \"night\"?)",
                "route[0].active_time_intervals: no time interval is named \"office\"",
                "route[1].during: no time interval is named \"nite\" (known: night)",
                "route[2].during: an empty list matches nothing",
            ],
        );
        let ok = text
            .replace("Europe/Londn", "Europe/London")
            .replace("\"7am\"", "\"07:00\"")
            .replace("[[time_interval]]\n            name = \"night\"\n            weekdays = [\"funday\"]\n", "")
            .replace("\"nigth\"", "\"night\"")
            .replace("\"nite\"", "\"night\"")
            .replace("            during = []\n", "")
            .replace("            active_time_intervals = [\"office\"]\n", "            critical_breaks_through = true\n");
        let loaded = Config::parse(&ok).unwrap_or_else(|p| panic!("{p:?}\n{ok}"));
        assert_eq!(loaded.config.time_intervals.len(), 1);
    }

    #[test]
    fn escalation_routes_and_the_listener_are_checked() {
        let text = r#"
            [http]
            listen = "localhost:9477"
            public_url = "ftp://x"
            ack_link_ttl = "10s"
            [[watch]]
            name = "w"
            query = "a"
            [[sink]]
            id = "s"
            kind = "stdout"
            [[route]]
            sinks = ["s"]
            escalate_to = "oncal"
            escalate_times = 0
            [[route]]
            sinks = ["s"]
            escalate_after = "1h"
            [[route]]
            name = "oncall"
            watch = "w"
            sinks = ["s"]
            escalate_to = "oncall"
            [[route]]
            name = "oncall"
            sinks = ["s"]
            group_interval = "1s"
        "#;
        let problems = Config::parse(text).unwrap_err();
        let joined = lines(&problems);
        assert_mentions(
            &joined,
            &[
                "route[0].escalate_to: no route is named \"oncal\" (did you mean \"oncall\"?)",
                "route[0].escalate_times: must be between 1 and 20",
                "route[1].escalate_after: only used with escalate_to",
                "route[2].escalate_to: a route cannot escalate to itself",
                "route[2]: an escalation route receives only escalations: remove watch",
                "route[3].group_interval:",
                "route[3].name: another route is named \"oncall\"",
                "http.listen: \"localhost:9477\" is not an address",
                "http.public_url: write the http(s) URL",
                "http.ack_link_ttl:",
            ],
        );
        let ok = r#"
            [[watch]]
            name = "w"
            query = "a"
            [[sink]]
            id = "s"
            kind = "stdout"
            [[route]]
            sinks = ["s"]
            escalate_to = "oncall"
            [[route]]
            name = "oncall"
            sinks = ["s"]
        "#;
        let loaded = Config::parse(ok).unwrap_or_else(|p| panic!("{p:?}"));
        let warnings = lines(&loaded.warnings);
        assert!(
            warnings.contains(
                "http.public_url: acknowledge links point at this machine's loopback address"
            ),
            "{warnings}"
        );
        // The escalation route neither catches nor shadows: no "never reached" for it.
        assert!(!warnings.contains("never reached"), "{warnings}");
        let r = &loaded.config.routes[0];
        assert_eq!(r.escalate_after(), DEFAULT_ESCALATE_AFTER);
        assert_eq!(r.escalate_times(), DEFAULT_ESCALATE_TIMES);
        assert_eq!(
            loaded.config.http.link_base().as_deref(),
            Some("http://127.0.0.1:9477")
        );
    }

    #[test]
    fn sink_keys_are_checked_per_kind() {
        let text = r#"
            [[sink]]
            id = "tg"
            kind = "telegram"
            token = { env = "TG" }
            [[sink]]
            id = "sl"
            kind = "slack"
            url = { env = "SL" }
            chat_id = 42
            username = "bot"
            [[sink]]
            id = "z"
            kind = "zulip"
            base_url = "zulip.example.com"
            email = "bot@example.com"
            api_key = { env = "Z" }
            stream = "support"
            [[sink]]
            id = "n"
            kind = "ntfy"
            topic = { env = "NTFY_TOPIC" }
            token = { env = "NTFY_TOKEN" }
            base_url = "https://ntfy.example.com"
        "#;
        let problems = Config::parse(text).unwrap_err();
        let joined = lines(&problems);
        assert_mentions(
            &joined,
            &[
                "sink[0] (id \"tg\").chat_id: a telegram sink needs chat_id = -1001234567890",
                "sink[1] (id \"sl\").chat_id: a slack sink takes no `chat_id` (it belongs to telegram): remove it",
                "sink[1] (id \"sl\").username: a slack sink takes no `username` (it belongs to discord, mattermost, rocketchat): remove it",
                "sink[2] (id \"z\").base_url: \"zulip.example.com\" is not an http(s) URL",
            ],
        );
        assert!(!joined.contains("sink[3]"), "{joined}");
        assert_eq!(problems.len(), 4, "{joined}");
        // A number or a name is a chat id.
        let ok = "[[sink]]\nid = \"t\"\nkind = \"telegram\"\ntoken = { env = \"T\" }\nchat_id = \"@acme_alerts\"\ntopic_id = 7\n";
        let c = Config::parse(ok).unwrap().config;
        assert_eq!(c.sinks[0].chat_id, Some(ChatId("@acme_alerts".into())));
    }

    #[test]
    fn every_platform_key_is_known_without_a_kind() {
        let keys = all_platform_keys();
        for k in [
            "url",
            "query",
            "subreddits",
            "instances",
            "app_id",
            "base_url",
            "monthly_budget",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
        let problems =
            Config::parse("[[source]]\nid = \"a\"\nsubreddits = [\"rust\"]\nsubredits = 1\n")
                .unwrap_err();
        let joined = lines(&problems);
        assert!(
            joined.contains(
                "source[0] (id \"a\").subredits: unknown key (did you mean \"subreddits\"?)"
            ),
            "{joined}"
        );
        assert!(
            joined.contains("source[0] (id \"a\").kind: missing"),
            "{joined}"
        );
    }

    #[test]
    fn problems_name_the_entry_as_it_stands_in_the_file() {
        let text = "[[source]]\nid = \"first\"\nkind = \"rss\"\n[[source]]\nid = \"second\"\nkind = \"feed\"\nurl = \"f.xml\"\ncron = \"bad\"\n";
        let joined: Vec<String> = Config::parse(text)
            .unwrap_err()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert!(
            joined
                .iter()
                .any(|p| p.starts_with("source[0] (id \"first\").kind")),
            "{joined:?}"
        );
        assert!(
            joined
                .iter()
                .any(|p| p.starts_with("source[1] (id \"second\").cron")),
            "{joined:?}"
        );
    }

    #[test]
    fn a_missing_required_key_is_named() {
        let p = Config::parse("[[sink]]\nkind = \"stdout\"\n").unwrap_err();
        assert_eq!(p[0].to_string(), "sink[0].id: missing; add it");
    }
}
