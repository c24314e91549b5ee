//! The store: SQLite in WAL mode, the single source of truth. It is the only module that
//! knows SQL, and its interface stays narrow so that another backend (PostgreSQL with
//! `SKIP LOCKED` leases, see DESIGN.md) would be a new implementation, not a rewrite.
//!
//! Promise 1 lives here: a poll's new mentions, the source's new state and their deliveries are
//! written in one `BEGIN IMMEDIATE` transaction ([`Store::commit_poll`]), so a kill at any moment
//! either keeps all of it or none of it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use earshot_connectors::{Mention, Notice, SourceState};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::alert::Alert;
use crate::sentiment::Sentiment;
use crate::urgency::Level;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_source_notice.sql"),
    include_str!("../migrations/0003_silences.sql"),
    include_str!("../migrations/0004_quiet_hours.sql"),
    include_str!("../migrations/0005_sink_budget.sql"),
    include_str!("../migrations/0006_grouping.sql"),
    include_str!("../migrations/0007_followups_acks.sql"),
    include_str!("../migrations/0008_silence_end.sql"),
    include_str!("../migrations/0009_aggregates.sql"),
    include_str!("../migrations/0010_digest_runs.sql"),
    include_str!("../migrations/0011_source_outages.sql"),
    include_str!("../migrations/0012_digest_indexes.sql"),
    include_str!("../migrations/0013_spikes.sql"),
    include_str!("../migrations/0014_delivery_sent_index.sql"),
    include_str!("../migrations/0015_sink_hold.sql"),
];

/// Why the store failed. Messages say what to do; none carries a secret (none is stored).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error(
        "the database {path} was written by a newer earshot (schema {found}, this one knows {known}): upgrade earshot"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    /// `PRAGMA quick_check` found damage, or the file is not an SQLite database at all.
    #[error(
        "the database {path} is damaged ({detail}): stop earshot, move the file (and its -wal and -shm) aside, and restore the latest backup (see \"Backups and restore\" in the README)"
    )]
    Damaged { path: String, detail: String },
    /// SQLITE_FULL: the transaction was rolled back, so what was stored before is intact.
    #[error(
        "the disk holding {dir} is full: free some space; earshot keeps what it has and retries (nothing new is lost: a poll that could not be written is fetched again)"
    )]
    Full { dir: String },
    /// SQLITE_READONLY: the file, its directory or its -wal/-shm cannot be written.
    #[error(
        "the database {path} is read-only: check the permissions of daemon.state_dir and its files (they belong to the user earshot runs as), and ReadWritePaths= if you changed the unit; earshot keeps what it has and retries"
    )]
    ReadOnly { path: String },
    /// SQLITE_IOERR: the operating system failed a read or a write.
    #[error(
        "the disk holding {path} failed a read or write ({detail}): check the disk and the kernel log (`journalctl -k`); earshot keeps what it has and retries"
    )]
    Io { path: String, detail: String },
    /// `Store::backup` could not write its copy.
    #[error("cannot back up to {path}: {reason}")]
    Backup { path: String, reason: String },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is unreadable: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What [`Store::backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupReport {
    /// The copy's size on disk.
    pub bytes: u64,
    /// The mentions it holds, counted in the copy itself.
    pub mentions: i64,
}

/// One SQLite database file.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// A source's stored state, as `earshot status` shows it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SourceRow {
    pub source_id: String,
    pub kind: String,
    /// Validators and cursor, handed back to the connector on the next poll.
    pub state: SourceState,
    /// True once the first poll recorded history (later polls alert).
    pub seeded: bool,
    pub polls: i64,
    pub last_poll_at: Option<i64>,
    pub last_success_at: Option<i64>,
    /// Consecutive failures; 0 when healthy.
    pub error_count: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub next_poll_at: Option<i64>,
    /// What the last successful poll said beyond ok (a degraded mode, a budget left).
    pub notice: Option<String>,
    /// True when that notice says the source runs in a reduced mode.
    pub degraded: bool,
}

/// Scores of one mention.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Scores {
    pub sentiment: Sentiment,
    pub urgency: u8,
    pub level: Level,
    pub reasons: Vec<String>,
}

/// One delivery to enqueue with a new mention.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub sink_id: String,
    pub watch: String,
    pub alert: Alert,
    /// A muted route holds it until then (Unix seconds): it goes out in the catch-up message.
    pub held_until: Option<i64>,
    /// Its conversation, when its route groups: it waits for the group's first row and goes
    /// out with it as one message; after that message, at most once per `interval`.
    pub group: Option<Group>,
    /// Its text, normalised and hashed ([`crate::pipeline::fingerprint`]): a near-duplicate
    /// of a delivery on the same sink within a day joins that delivery's group.
    pub fingerprint: Option<String>,
}

/// How a delivery groups with others of its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The conversation (`source:thread root`).
    pub key: String,
    /// `group_wait`, seconds: how long the first message waits for more.
    pub wait: i64,
    /// `group_interval`, seconds: how long later ones wait after the last message.
    pub interval: i64,
}

/// An alert a message carries: the alert, its mention, and who acknowledged that.
pub type CarriedAlert = (Alert, Option<i64>, Option<String>);

/// When and by whom a mention was acknowledged.
pub type Acked = (i64, String);

/// A critical mention's escalation timer, started with the mention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEscalation {
    /// The escalation route's name.
    pub route: String,
    /// Seconds without acknowledgement before each escalation.
    pub after: i64,
    pub times: u32,
}

/// An escalation timer that has run out.
#[derive(Debug, Clone, PartialEq)]
pub struct DueEscalation {
    pub mention_id: i64,
    pub route: String,
    /// Escalations sent so far.
    pub sent_times: u32,
    pub max_times: u32,
    pub every: i64,
    /// Someone acknowledged it meanwhile.
    pub acked: bool,
    /// The mention's first alert, to send again; `None` when it had none.
    pub alert: Option<Alert>,
}

/// The messages a sink already has for one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// The target's id of the conversation's first message, when it gave one.
    pub root_ref: Option<String>,
    pub last_sent_at: i64,
    /// Alerts sent so far in it, oldest first.
    pub sent: Vec<Alert>,
    /// The mentions they alert about.
    pub mentions: Vec<i64>,
}

/// Later mentions of a conversation sent within this long of its last message follow it
/// (an edit, a thread reply or a summary); after that, they start a new message.
pub const CONVERSATION_TTL: i64 = 86_400;

/// A mention that matched, with everything to store about it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMention {
    pub mention: Mention,
    pub lang: Option<String>,
    pub scores: Scores,
    pub watches: Vec<String>,
    pub deliveries: Vec<NewDelivery>,
    /// The active silence that holds its alerts back, if any (it has no deliveries then).
    pub silenced_by: Option<i64>,
    /// Its escalation timer, for a critical mention on a route that escalates.
    pub escalation: Option<NewEscalation>,
}

/// Everything a successful poll writes, in one transaction.
#[derive(Debug, Clone)]
pub struct PollCommit<'a> {
    pub source_id: &'a str,
    pub source_kind: &'a str,
    pub now: i64,
    pub state: &'a SourceState,
    /// Every platform id the poll returned (matching or not), so each item is judged once.
    pub seen_ids: Vec<String>,
    pub mentions: Vec<NewMention>,
    pub next_poll_at: i64,
    /// The connector's word on the source, replacing the last one (`None` clears it).
    pub notice: Option<&'a Notice>,
}

/// What a commit changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitReport {
    pub new_items: usize,
    pub new_mentions: usize,
    pub enqueued: usize,
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub id: i64,
    /// The mention it alerts about; `None` for a message about earshot itself (a silence
    /// announcement).
    pub mention_id: Option<i64>,
    pub sink_id: String,
    pub watch: String,
    pub alert: Alert,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
    /// Why it was held back (0 not held, 1 quiet hours, 2 the sink's budget): sent with the
    /// others held on its sink, as one catch-up message.
    pub held: i64,
    /// The conversation it is grouped by, if its route groups or it repeats another's text.
    pub group_key: Option<String>,
    pub kind: DeliveryKind,
    /// For escalations, which one (1, 2, ...).
    pub seq: i64,
    /// The target's id for the message that carried it, once sent (targets that edit or reply).
    pub message_ref: Option<String>,
    /// For updates: the message to edit.
    pub target_ref: Option<String>,
}

/// What an outbox row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryKind {
    /// A mention, through a route.
    Alert,
    /// A message about earshot itself (a silence created or expired).
    Announcement,
    /// A critical mention nobody acknowledged, sent to the escalation route.
    Escalation,
    /// An edit of a message sent earlier (`target_ref`), to show it was acknowledged.
    Update,
}

impl rusqlite::types::FromSql for DeliveryKind {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        match v.as_str()? {
            "alert" => Ok(DeliveryKind::Alert),
            "announcement" => Ok(DeliveryKind::Announcement),
            "escalation" => Ok(DeliveryKind::Escalation),
            "update" => Ok(DeliveryKind::Update),
            other => Err(rusqlite::types::FromSqlError::Other(
                format!("unknown delivery kind {other:?}").into(),
            )),
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting to be sent (again).
    Pending,
    /// The target answered 2xx.
    Sent,
    /// Failed for good; `retry-dead` queues it again.
    Dead,
}

impl rusqlite::types::FromSql for DeliveryStatus {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        match v.as_str()? {
            "pending" => Ok(DeliveryStatus::Pending),
            "sent" => Ok(DeliveryStatus::Sent),
            "dead" => Ok(DeliveryStatus::Dead),
            other => Err(rusqlite::types::FromSqlError::Other(
                format!("unknown delivery status {other:?}").into(),
            )),
        }
    }
}

/// Per-sink outbox figures for `earshot status`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SinkStats {
    pub sink_id: String,
    pub pending: i64,
    pub sent: i64,
    pub dead: i64,
    pub last_sent_at: Option<i64>,
    pub oldest_pending_at: Option<i64>,
    /// Pending deliveries that failed at least once and wait for their next attempt.
    pub retrying: i64,
    /// The newest error among the deliveries still retrying or dead.
    pub last_error: Option<String>,
    /// The newest finished delivery was given up on (dead): the target refused it, or kept
    /// failing, and took nothing since.
    pub dead_since_sent: bool,
}

/// A stored mention, as `earshot mentions` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MentionRow {
    pub id: i64,
    pub source_id: String,
    pub source_kind: String,
    pub platform_id: String,
    pub watches: Vec<String>,
    pub url: Option<String>,
    pub title: Option<String>,
    pub text: String,
    pub author: Option<String>,
    pub author_reach: Option<i64>,
    pub kind: String,
    pub lang: Option<String>,
    pub created_at: Option<i64>,
    pub seen_at: i64,
    pub compound: f64,
    pub pos: f64,
    pub neu: f64,
    pub neg: f64,
    pub urgency: i64,
    pub level: String,
    pub reasons: Vec<String>,
    /// The silence that held its alerts back, if one did.
    pub silenced_by: Option<i64>,
}

pub use crate::sentiment::SentimentBucket;

/// A silence: mentions it matches are stored and counted but not sent, until `ends_at`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Silence {
    pub id: i64,
    pub watch: Option<String>,
    pub source_id: Option<String>,
    pub author: Option<String>,
    pub query: Option<String>,
    pub comment: String,
    pub created_by: String,
    pub created_at: i64,
    pub ends_at: i64,
    /// When it was expired by hand, before `ends_at`.
    pub expired_at: Option<i64>,
}

impl Silence {
    /// "watch acme, author dana": what it matches.
    pub fn matchers(&self) -> String {
        [
            self.watch.as_ref().map(|w| format!("watch {w}")),
            self.source_id.as_ref().map(|x| format!("source {x}")),
            self.author.as_ref().map(|a| format!("author {a}")),
            self.query.as_ref().map(|q| format!("query {q}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ")
    }

    /// True while it holds alerts back.
    pub fn is_active(&self, now: i64) -> bool {
        self.expired_at.is_none() && now < self.ends_at
    }
}

/// A silence to create (see [`Store::add_silence`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewSilence {
    pub watch: Option<String>,
    pub source_id: Option<String>,
    pub author: Option<String>,
    pub query: Option<String>,
    pub comment: String,
    pub created_by: String,
    pub ends_at: i64,
}

/// A message about earshot itself to enqueue on some sinks, with the change that causes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub sink_ids: Vec<String>,
    pub watch: String,
    pub alert: Alert,
}

/// Filters for [`Store::mentions`]; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct MentionFilter {
    pub watch: Option<String>,
    pub source: Option<String>,
    /// Seen at or after (Unix seconds).
    pub since: Option<i64>,
    /// Seen before (Unix seconds).
    pub until: Option<i64>,
    /// Posted at or after (Unix seconds), by the platform's time, else when seen.
    pub posted_since: Option<i64>,
    pub min_level: Option<Level>,
    pub sentiment: Option<SentimentBucket>,
    pub limit: usize,
    /// Mentions of any of these watches (with `watch`, of that one too); empty: any.
    pub watches: Vec<String>,
    /// Newest first (the default), or the most negative or most urgent first.
    pub order: MentionOrder,
}

/// The order [`Store::mentions`] lists in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MentionOrder {
    #[default]
    Newest,
    MostNegative,
    MostUrgent,
}

/// One row of the hourly aggregates (see migration 0009), summed over the watches asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct HourAgg {
    /// Unix seconds at the start of the hour.
    pub hour: i64,
    pub mentions: i64,
    pub positive: i64,
    pub neutral: i64,
    pub negative: i64,
    pub compound_sum: f64,
    /// High or critical.
    pub urgent: i64,
}

/// A time a source kept failing: from its first failed poll to the next successful one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outage {
    pub source_id: String,
    pub started_at: i64,
    /// `None` while it lasts.
    pub ended_at: Option<i64>,
    pub failures: i64,
    pub last_error: String,
}

/// A spike in a watch's volume or negative share (see migration 0013).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spike {
    pub id: i64,
    pub watch: String,
    /// When a check first found it (Unix seconds).
    pub started_at: i64,
    /// What rose: `volume`, `negative` (the negative share), or both.
    pub kinds: Vec<String>,
    /// The span counted, in seconds.
    pub window_secs: i64,
    /// Mentions in the window that raised it, and how many of them were negative.
    pub mentions: i64,
    pub negative: i64,
    /// The baseline's mean mentions per window.
    pub usual: f64,
    /// Mentions per window above which it is a volume spike.
    pub threshold: f64,
    /// The baseline's negative share (0 to 1).
    pub usual_share: f64,
    /// Most mentions in a window while it lasted.
    pub peak: i64,
    /// The last check that found it above a threshold.
    pub last_above: i64,
    /// Its alert's id (before each sink's own): the end notice waits for that message.
    pub alert_id: String,
    /// The sinks told of its start: they are told of its end.
    pub sinks: Vec<String>,
    /// `None` while it lasts.
    pub ended_at: Option<i64>,
}

/// How urgent mentions of a period were acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AckStats {
    /// High and critical mentions.
    pub urgent: i64,
    pub acknowledged: i64,
    /// Seconds from storing to acknowledging, each acknowledged one, shortest first.
    pub delays: Vec<i64>,
}

/// Creates a new database file readable by its owner only (0600, like the backups), whatever
/// the umask: it holds every mention and the outbox. SQLite gives its `-wal` and `-shm` files
/// the database's mode. An existing file is left as it is.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl Store {
    /// Opens (creating if needed) the database, checks it for damage (`PRAGMA quick_check`)
    /// and brings its schema up to date: what the daemon and `earshot once` do at start.
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_with(path, true)
    }

    /// As [`Store::open`] without the damage check, which reads every page (seconds on a big
    /// database): for the short commands that write beside a running daemon (`ack`,
    /// `silence`, `retry-dead`), whose file the daemon checked when it started.
    pub fn open_unchecked(path: &Path) -> Result<Store> {
        Store::open_with(path, false)
    }

    fn open_with(path: &Path, check: bool) -> Result<Store> {
        let open_err = |reason: String| StoreError::Open {
            path: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if dir.exists() && !dir.is_dir() {
                return Err(open_err(format!(
                    "{} is a file, not a directory: daemon.state_dir must name a directory",
                    dir.display()
                )));
            }
            std::fs::create_dir_all(dir).map_err(|e| {
                open_err(format!(
                    "cannot create {} ({e}): check daemon.state_dir and its permissions",
                    dir.display()
                ))
            })?;
        }
        // Checked before anything writes to it: migrating or polling into a damaged file
        // would spread the damage. A new (or empty) file has nothing to check.
        let existing = check && std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        create_private(path).map_err(|e| {
            open_err(format!(
                "cannot create it ({e}): check daemon.state_dir and its permissions"
            ))
        })?;
        let conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        if existing {
            conn.busy_timeout(Duration::from_secs(10))?;
            quick_check(&conn, path)?;
        }
        Store::init(conn, path.to_path_buf()).map_err(|e| e.at(path))
    }

    /// Opens an existing database for reading only (`status`, `mentions`, `once --dry-run`):
    /// nothing is created or changed, and it works beside a running daemon.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        let open_err = |reason: String| StoreError::Open {
            path: path.display().to_string(),
            reason,
        };
        if !path.exists() {
            return Err(open_err(
                "no database there yet: check daemon.state_dir, or start earshot (`earshot run` or `earshot once`) to create it".into(),
            ));
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let (version, known) = schema_version(&conn, path)?;
        if version < known {
            return Err(open_err(
                "its schema is older than this earshot: start the daemon once to upgrade it".into(),
            ));
        }
        Ok(Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// A private in-memory database (tests, `earshot score`).
    pub fn open_in_memory() -> Result<Store> {
        Store::init(Connection::open_in_memory()?, PathBuf::from(":memory:"))
    }

    fn init(mut conn: Connection, path: PathBuf) -> Result<Store> {
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let (version, _) = schema_version(&conn, &path)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
            path,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back on
        // drop), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one write. Its failure names the file and says what to do ([`StoreError::at`]):
    /// a full disk, a read-only file or an I/O error reaches the log and the terminal in
    /// words, not as an SQLite code. A transaction that fails is rolled back whole.
    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        f(&mut self.conn()).map_err(|e| e.at(&self.path))
    }

    /// Runs `PRAGMA quick_check` (what [`Store::open`] does first): `Damaged` when it finds
    /// damage. It reads every page, so it takes a while on a big database.
    pub fn quick_check(&self) -> Result<()> {
        quick_check(&self.conn(), &self.path)
    }

    /// Writes a consistent copy of the database to `dest`, a new file, while the daemon keeps
    /// writing; it works on a store opened with [`Store::open_read_only`]. An existing file is
    /// never overwritten. The copy is a complete database that [`Store::open`] opens as is.
    ///
    /// `VACUUM INTO` rather than SQLite's online backup API (rusqlite's `backup` feature): it
    /// copies one snapshot inside a single read transaction, which in WAL mode neither blocks
    /// the daemon's writes nor is disturbed by them, whereas the backup API copies in steps and
    /// starts over whenever another connection writes between two steps, so a busy daemon
    /// could keep it from ever finishing (or it must hold the read lock throughout anyway, in
    /// one step). VACUUM INTO also leaves out free pages, so the copy is as small as it can be.
    pub fn backup(&self, dest: &Path) -> Result<BackupReport> {
        let fail = |reason: String| StoreError::Backup {
            path: dest.display().to_string(),
            reason,
        };
        let dir = dest
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(fail(format!(
                "the directory {} does not exist: create it first (`mkdir -p {}`)",
                dir.display(),
                dir.display()
            )));
        }
        let Some(name) = dest.file_name() else {
            return Err(fail("that names a directory, not a file".into()));
        };
        // An absolute path: SQLite never takes it for a `file:` URI.
        let target = dir
            .canonicalize()
            .map_err(|e| fail(format!("cannot resolve {} ({e})", dir.display())))?
            .join(name);
        let Some(target_str) = target.to_str() else {
            return Err(fail("the path is not UTF-8: choose a plainer name".into()));
        };
        // Claimed in one step (`create_new`), so an older backup, or the live database itself,
        // is never overwritten; VACUUM INTO accepts an empty file. Owner-only, like the
        // database: the copy holds everything.
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&target)
        }
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => fail(
                "a file is already there, and is left as it is: choose a new name (e.g. with the date: earshot-$(date +%F).db) or remove the old file first".into(),
            ),
            std::io::ErrorKind::PermissionDenied => fail(format!(
                "this user may not write in {} ({e}): run the backup as a user who may (e.g. `sudo -u earshot`), or choose another directory",
                dir.display()
            )),
            _ => fail(format!("cannot create it ({e})")),
        })?;
        let copied = self
            .conn()
            .execute("VACUUM INTO ?1", [target_str])
            .map_err(|e| match e.sqlite_error_code() {
                // The copy's disk, not the database's.
                Some(rusqlite::ErrorCode::DiskFull) => fail(format!(
                    "the disk holding {} is full: free some space there, or back up to another disk",
                    dir.display()
                )),
                _ => StoreError::from(e).at(&self.path),
            })
            .and_then(|_| {
                // VACUUM INTO does not sync what it wrote: the copy is on disk before we say so.
                file.sync_all()
                    .map_err(|e| fail(format!("cannot sync it to disk ({e})")))?;
                count_mentions(&target).map_err(|e| fail(format!("the copy cannot be read ({e})")))
            });
        match copied {
            Ok(mentions) => Ok(BackupReport {
                bytes: std::fs::metadata(&target).map_or(0, |m| m.len()),
                mentions,
            }),
            Err(e) => {
                // Only the file claimed above: a half-written copy must not pass for a backup.
                let _ = std::fs::remove_file(&target);
                Err(e)
            }
        }
    }

    /// Test support: caps the database at `pages` pages (SQLite keeps it at least as big as it
    /// is), so the next write that needs more fails as a full disk would. Returns the cap.
    #[doc(hidden)]
    pub fn set_max_page_count(&self, pages: i64) -> Result<i64> {
        let conn = self.conn();
        Ok(
            conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                r.get(0)
            })?,
        )
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored state of one source, if it was ever polled.
    pub fn source(&self, source_id: &str) -> Result<Option<SourceRow>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!("{SOURCE_SELECT} WHERE source_id = ?1"))?;
        Ok(st.query_row([source_id], source_row).optional()?)
    }

    /// Every source ever polled.
    pub fn sources(&self) -> Result<Vec<SourceRow>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!("{SOURCE_SELECT} ORDER BY source_id"))?;
        let rows = st
            .query_map([], source_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Of `ids`, those this source has never shown before.
    pub fn unseen(&self, source_id: &str, ids: &[String]) -> Result<HashSet<String>> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached("SELECT 1 FROM item_seen WHERE source_id = ?1 AND platform_id = ?2")?;
        let mut out = HashSet::new();
        for id in ids {
            if !st.exists(params![source_id, id])? {
                out.insert(id.clone());
            }
        }
        Ok(out)
    }

    /// Writes a successful poll: items seen, new mentions, their deliveries and the source's
    /// new state, all or nothing.
    pub fn commit_poll(&self, c: &PollCommit<'_>) -> Result<CommitReport> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut report = CommitReport::default();
            {
                let mut seen = tx.prepare_cached(
                    "INSERT OR IGNORE INTO item_seen (source_id, platform_id, first_seen) VALUES (?1, ?2, ?3)",
                )?;
                for id in &c.seen_ids {
                    report.new_items += seen.execute(params![c.source_id, id, c.now])?;
                }
                let mut ins = tx.prepare_cached(
                    "INSERT OR IGNORE INTO mention (source_id, source_kind, platform_id, url, title, text, author,
                        author_reach, kind, lang, created_at, seen_at, compound, pos, neu, neg, urgency, level,
                        reasons, extra, silenced_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
                )?;
                let mut watch = tx.prepare_cached(
                    "INSERT OR IGNORE INTO mention_watch (mention_id, watch) VALUES (?1, ?2)",
                )?;
                let mut agg = tx.prepare_cached(
                    "INSERT INTO agg_hour (watch, source_id, hour, mentions, positive, neutral, negative,
                        compound_sum, urgent)
                     VALUES (?1, ?2, ?3, 1, ?6 = 'positive', ?6 = 'neutral', ?6 = 'negative', ?4, ?5)
                     ON CONFLICT (watch, hour, source_id) DO UPDATE SET
                        mentions = mentions + 1,
                        positive = positive + excluded.positive,
                        neutral = neutral + excluded.neutral,
                        negative = negative + excluded.negative,
                        compound_sum = compound_sum + excluded.compound_sum,
                        urgent = urgent + excluded.urgent",
                )?;
                let mut group_due = tx.prepare_cached(
                    "SELECT min(next_attempt_at) FROM delivery
                     WHERE sink_id = ?1 AND group_key = ?2 AND status = 'pending' AND attempts = 0",
                )?;
                let mut group_sent = tx.prepare_cached(
                    "SELECT max(sent_at) FROM delivery
                     WHERE sink_id = ?1 AND group_key = ?2 AND status = 'sent' AND sent_at > ?3",
                )?;
                let mut twin = tx.prepare_cached(
                    "SELECT id, group_key FROM delivery
                     WHERE sink_id = ?1 AND fingerprint = ?2 AND created_at > ?3 AND kind = 'alert'
                     ORDER BY id LIMIT 1",
                )?;
                let mut set_group =
                    tx.prepare_cached("UPDATE delivery SET group_key = ?2 WHERE id = ?1")?;
                let mut deliver = tx.prepare_cached(
                    "INSERT OR IGNORE INTO delivery (mention_id, sink_id, watch, alert, status, created_at,
                        next_attempt_at, held, group_key, fingerprint)
                     VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8, ?9)",
                )?;
                let mut escalate = tx.prepare_cached(
                    "INSERT OR IGNORE INTO escalation (mention_id, route, every_secs, max_times, due_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for m in &c.mentions {
                    let mention = &m.mention;
                    let extra = serde_json::json!({
                        "author": mention.author,
                        "engagement": mention.engagement,
                        "conversation": mention.conversation,
                        "rating": mention.rating,
                    });
                    let inserted = ins.execute(params![
                        c.source_id,
                        c.source_kind,
                        mention.platform_id,
                        mention.url,
                        mention.title,
                        mention.text,
                        author_label(mention),
                        mention.author.reach.map(|r| r.min(i64::MAX as u64) as i64),
                        mention.kind.as_str(),
                        m.lang,
                        mention.created_at.map(|t| t.timestamp()),
                        c.now,
                        m.scores.sentiment.compound,
                        m.scores.sentiment.pos,
                        m.scores.sentiment.neu,
                        m.scores.sentiment.neg,
                        m.scores.urgency,
                        m.scores.level.as_str(),
                        serde_json::to_string(&m.scores.reasons)?,
                        extra.to_string(),
                        m.silenced_by,
                    ])?;
                    if inserted == 0 {
                        // Stored by an earlier poll: it has had its alerts already (promise 2).
                        continue;
                    }
                    report.new_mentions += 1;
                    let mention_id = tx.last_insert_rowid();
                    let hour = c.now - c.now.rem_euclid(3600);
                    let urgent = m.scores.level >= Level::High;
                    let bucket = SentimentBucket::of(m.scores.sentiment.compound).as_str();
                    for w in &m.watches {
                        watch.execute(params![mention_id, w])?;
                        agg.execute(params![
                            w,
                            c.source_id,
                            hour,
                            m.scores.sentiment.compound,
                            urgent,
                            bucket
                        ])?;
                    }
                    // Watch '': each mention once, for totals across watches.
                    agg.execute(params![
                        "",
                        c.source_id,
                        hour,
                        m.scores.sentiment.compound,
                        urgent,
                        bucket
                    ])?;
                    for d in &m.deliveries {
                        let mut key = d.group.as_ref().map(|g| g.key.clone());
                        let (wait, interval) = d.group.as_ref().map_or(
                            (0, crate::config::DEFAULT_GROUP_INTERVAL.as_secs() as i64),
                            |g| (g.wait, g.interval),
                        );
                        if let Some(fp) = &d.fingerprint {
                            // The same text on this sink within a day: one alert with a count.
                            let found: Option<(i64, Option<String>)> = twin
                                .query_row(params![d.sink_id, fp, c.now - CONVERSATION_TTL], |r| {
                                    Ok((r.get(0)?, r.get(1)?))
                                })
                                .optional()?;
                            if let Some((other, other_key)) = found {
                                key = Some(match other_key {
                                    Some(k) => k,
                                    None => {
                                        let k = format!("dup:{fp}");
                                        set_group.execute(params![other, k])?;
                                        k
                                    }
                                });
                            }
                        }
                        let mut next_at = d.held_until.unwrap_or(c.now).max(c.now);
                        if let Some(key) = &key {
                            let pending: Option<i64> =
                                group_due.query_row(params![d.sink_id, key], |r| r.get(0))?;
                            let sent: Option<i64> = group_sent
                                .query_row(params![d.sink_id, key, c.now - CONVERSATION_TTL], |r| {
                                    r.get(0)
                                })?;
                            next_at = next_at.max(match (pending, sent) {
                                // It joins the message being gathered.
                                (Some(p), _) => p,
                                // A follow-up: at most one per interval after the last message.
                                (None, Some(last)) => last + interval,
                                // The first: the group waits for more.
                                (None, None) => c.now + wait,
                            });
                        }
                        report.enqueued += deliver.execute(params![
                            mention_id,
                            d.sink_id,
                            d.watch,
                            serde_json::to_string(&d.alert)?,
                            c.now,
                            next_at,
                            d.held_until.is_some(),
                            key,
                            d.fingerprint,
                        ])?;
                    }
                    if let Some(e) = &m.escalation {
                        escalate.execute(params![
                            mention_id,
                            e.route,
                            e.after,
                            e.times,
                            c.now + e.after
                        ])?;
                    }
                }
                tx.execute(
                    "INSERT INTO source_state (source_id, kind, etag, last_modified, cursor, seeded, polls,
                        last_poll_at, last_success_at, error_count, next_poll_at, notice, degraded)
                     VALUES (?1, ?2, ?3, ?4, ?5, 1, 1, ?6, ?6, 0, ?7, ?8, ?9)
                     ON CONFLICT (source_id) DO UPDATE SET kind = ?2, etag = ?3, last_modified = ?4, cursor = ?5,
                        seeded = 1, polls = polls + 1, last_poll_at = ?6, last_success_at = ?6, error_count = 0,
                        next_poll_at = ?7, notice = ?8, degraded = ?9",
                    params![
                        c.source_id,
                        c.source_kind,
                        c.state.etag,
                        c.state.last_modified,
                        c.state.cursor,
                        c.now,
                        c.next_poll_at,
                        c.notice.map(|n| n.message.as_str()),
                        c.notice.is_some_and(|n| n.degraded),
                    ],
                )?;
                tx.execute(
                    "UPDATE source_outage SET ended_at = ?2 WHERE source_id = ?1 AND ended_at IS NULL",
                    params![c.source_id, c.now],
                )?;
            }
            tx.commit()?;
            Ok(report)
        })
    }

    /// Records a failed poll; returns the number of consecutive failures, this one included.
    pub fn record_failure(
        &self,
        source_id: &str,
        kind: &str,
        error: &str,
        now: i64,
        next_poll_at: i64,
    ) -> Result<i64> {
        self.write(|conn| {
            let n = conn.query_row(
                "INSERT INTO source_state (source_id, kind, polls, last_poll_at, error_count, last_error, last_error_at, next_poll_at)
                 VALUES (?1, ?2, 1, ?3, 1, ?4, ?3, ?5)
                 ON CONFLICT (source_id) DO UPDATE SET kind = ?2, polls = polls + 1, last_poll_at = ?3,
                    error_count = error_count + 1, last_error = ?4, last_error_at = ?3, next_poll_at = ?5
                 RETURNING error_count",
                params![source_id, kind, now, error, next_poll_at],
                |r| r.get(0),
            )?;
            // The outage this failure starts or continues.
            let open = conn.execute(
                "UPDATE source_outage SET failures = failures + 1, last_error = ?2
                 WHERE source_id = ?1 AND ended_at IS NULL",
                params![source_id, error],
            )?;
            if open == 0 {
                conn.execute(
                    "INSERT OR IGNORE INTO source_outage (source_id, started_at, failures, last_error)
                     VALUES (?1, ?2, 1, ?3)",
                    params![source_id, now, error],
                )?;
            }
            Ok(n)
        })
    }

    /// The outages of any source that overlap `[from, to)`, oldest first:
    /// (source id, started, ended (`None` while it lasts), failed polls, last error).
    pub fn outages(&self, from: i64, to: i64) -> Result<Vec<Outage>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT source_id, started_at, ended_at, failures, last_error FROM source_outage
              WHERE started_at < ?2 AND (ended_at IS NULL OR ended_at > ?1)
              ORDER BY started_at, source_id",
        )?;
        let rows = st
            .query_map(params![from, to], |r| {
                Ok(Outage {
                    source_id: r.get(0)?,
                    started_at: r.get(1)?,
                    ended_at: r.get(2)?,
                    failures: r.get(3)?,
                    last_error: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Sets when a source should next be polled (after a back-off or a schedule change).
    pub fn set_next_poll(&self, source_id: &str, next_poll_at: i64) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "UPDATE source_state SET next_poll_at = ?2 WHERE source_id = ?1",
                params![source_id, next_poll_at],
            )?;
            Ok(())
        })
    }

    /// Pending deliveries of one sink that are due at `now`, oldest first.
    pub fn due_deliveries(&self, sink_id: &str, now: i64, limit: usize) -> Result<Vec<Delivery>> {
        self.due_where(sink_id, now, limit, "")
    }

    /// Every held delivery of one sink due at `now` (quiet hours, its budget), oldest first:
    /// they go out as one catch-up, however many.
    pub fn due_held(&self, sink_id: &str, now: i64) -> Result<Vec<Delivery>> {
        self.due_where(sink_id, now, usize::MAX >> 1, "AND held != 0")
    }

    fn due_where(
        &self,
        sink_id: &str,
        now: i64,
        limit: usize,
        extra: &str,
    ) -> Result<Vec<Delivery>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "{DELIVERY_SELECT} WHERE status = 'pending' AND sink_id = ?1 AND next_attempt_at <= ?2 {extra}
             ORDER BY next_attempt_at, id LIMIT ?3"
        ))?;
        let raw: Vec<RawDelivery> = st
            .query_map(
                params![sink_id, now, i64::try_from(limit).unwrap_or(i64::MAX)],
                delivery_row,
            )?
            .collect::<rusqlite::Result<_>>()?;
        drop(st);
        let mut out = Vec::with_capacity(raw.len());
        for (mut d, json) in raw {
            match serde_json::from_str(&json) {
                Ok(alert) => {
                    d.alert = alert;
                    out.push(d);
                }
                // One unreadable row must not stall the whole sink: park it, visibly.
                Err(e) => {
                    conn.execute(
                        "UPDATE delivery SET status = 'dead', last_error = ?2 WHERE id = ?1",
                        params![
                            d.id,
                            format!("stored alert is unreadable ({e}); it cannot be sent")
                        ],
                    )?;
                }
            }
        }
        Ok(out)
    }

    /// When the next pending delivery of a sink falls due, if any is pending: not before the
    /// sink's hold ends.
    pub fn next_due_at(&self, sink_id: &str) -> Result<Option<i64>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT MAX(MIN(next_attempt_at),
                        COALESCE((SELECT until FROM sink_hold WHERE sink_id = ?1), 0))
               FROM delivery WHERE status = 'pending' AND sink_id = ?1
             HAVING COUNT(*) > 0",
        )?;
        Ok(st.query_row([sink_id], |r| r.get(0)).optional()?.flatten())
    }

    /// Holds a sink until `until` (Unix seconds): nothing is sent to it before, whenever it was
    /// queued. A later hold extends an earlier one, never shortens it.
    pub fn hold_sink(&self, sink_id: &str, until: i64) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "INSERT INTO sink_hold (sink_id, until) VALUES (?1, ?2)
                 ON CONFLICT (sink_id) DO UPDATE SET until = MAX(until, excluded.until)",
                params![sink_id, until],
            )?;
            Ok(())
        })
    }

    /// Until when a sink is held, if it is (a past time: the hold is over but not yet released).
    pub fn sink_held_until(&self, sink_id: &str) -> Result<Option<i64>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT until FROM sink_hold WHERE sink_id = ?1")?;
        Ok(st.query_row([sink_id], |r| r.get(0)).optional()?)
    }

    /// A sink took a message: its hold is over.
    pub fn release_sink(&self, sink_id: &str) -> Result<()> {
        self.write(|conn| {
            conn.execute("DELETE FROM sink_hold WHERE sink_id = ?1", [sink_id])?;
            Ok(())
        })
    }

    /// Parks as dead every pending delivery of a failing sink queued before `created_before`
    /// (its give-up time), attempted or not; rows held by quiet hours or a budget wait on.
    /// Returns how many.
    pub fn park_expired(&self, sink_id: &str, created_before: i64, error: &str) -> Result<usize> {
        self.write(|conn| {
            Ok(conn.execute(
                "UPDATE delivery SET status = 'dead', last_error = ?3
                 WHERE status = 'pending' AND sink_id = ?1 AND created_at < ?2 AND held = 0",
                params![sink_id, created_before, error],
            )?)
        })
    }

    /// Holds back every pending delivery of a sink until at least `until` (the target is down
    /// or rate-limiting); attempts are not counted. Returns how many rows moved.
    pub fn defer_sink(&self, sink_id: &str, until: i64) -> Result<usize> {
        self.write(|conn| {
            Ok(conn.execute(
                "UPDATE delivery SET next_attempt_at = ?2
                 WHERE status = 'pending' AND sink_id = ?1 AND next_attempt_at < ?2",
                params![sink_id, until],
            )?)
        })
    }

    /// Records one message a sink accepted (however many deliveries it carried), for budgets;
    /// forgets those older than a day.
    pub fn record_send(&self, sink_id: &str, now: i64) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "INSERT INTO sink_send (sink_id, at) VALUES (?1, ?2)",
                params![sink_id, now],
            )?;
            conn.execute(
                "DELETE FROM sink_send WHERE sink_id = ?1 AND at <= ?2",
                params![sink_id, now - 86_400],
            )?;
            Ok(())
        })
    }

    /// The times of the messages a sink accepted after `since`, oldest first.
    pub fn sends_since(&self, sink_id: &str, since: i64) -> Result<Vec<i64>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT at FROM sink_send WHERE sink_id = ?1 AND at > ?2 ORDER BY at",
        )?;
        let rows = st
            .query_map(params![sink_id, since], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        Ok(rows)
    }

    /// Holds every pending alert of a sink due by `now` until `until`, for its budget: they
    /// go out together as one summary then. Alerts already held (by quiet hours, or the budget
    /// before) wait with them and keep their reason. Escalations, edits and notices are not
    /// alerts: a budget never holds them. Returns how many.
    pub fn hold_for_budget(&self, sink_id: &str, now: i64, until: i64) -> Result<usize> {
        self.write(|conn| {
            Ok(conn.execute(
                "UPDATE delivery SET held = CASE WHEN held = 0 THEN 2 ELSE held END,
                    next_attempt_at = max(next_attempt_at, ?3)
                 WHERE status = 'pending' AND sink_id = ?1 AND kind = 'alert' AND next_attempt_at <= ?2",
                params![sink_id, now, until],
            )?)
        })
    }

    /// The target answered 2xx; `message_ref` is its id for the message, when it gave one.
    pub fn mark_sent(&self, id: i64, now: i64, message_ref: Option<&str>) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "UPDATE delivery SET status = 'sent', attempts = attempts + 1, sent_at = ?2, last_error = NULL,
                    message_ref = coalesce(?3, message_ref)
                 WHERE id = ?1",
                params![id, now, message_ref],
            )?;
            Ok(())
        })
    }

    /// What a sink already sent of conversation `group_key` after `since`: `None` when nothing.
    pub fn conversation(
        &self,
        sink_id: &str,
        group_key: &str,
        since: i64,
    ) -> Result<Option<Conversation>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT alert, message_ref, sent_at, mention_id FROM delivery
             WHERE sink_id = ?1 AND group_key = ?2 AND status = 'sent' AND kind = 'alert' AND sent_at > ?3
             ORDER BY sent_at, id",
        )?;
        let rows = st
            .query_map(params![sink_id, group_key, since], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(Conversation {
            root_ref: first.1.clone(),
            last_sent_at: rows.iter().map(|r| r.2).max().unwrap_or(first.2),
            sent: rows
                .iter()
                .filter_map(|r| serde_json::from_str(&r.0).ok())
                .collect(),
            mentions: rows.iter().filter_map(|r| r.3).collect(),
        }))
    }

    /// The alerts a sink's message `message_ref` carries (alerts and escalations sent in it),
    /// oldest first, with their mention and who acknowledged it.
    pub fn message_alerts(&self, sink_id: &str, message_ref: &str) -> Result<Vec<CarriedAlert>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT d.alert, d.mention_id, m.acked_by FROM delivery d LEFT JOIN mention m ON m.id = d.mention_id
             WHERE d.sink_id = ?1 AND d.message_ref = ?2 AND d.status = 'sent'
               AND d.kind IN ('alert', 'escalation')
             ORDER BY d.sent_at, d.id",
        )?;
        let rows = st
            .query_map(params![sink_id, message_ref], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(a, m, by)| serde_json::from_str(&a).ok().map(|a| (a, m, by)))
            .collect())
    }

    /// Acknowledges mentions (`by` says who: a user name, or "link"): their escalations stop,
    /// and each message that carried one on a sink in `editable` gets an update enqueued, to
    /// show it. Unknown and already acknowledged ids are left alone. Returns the ids
    /// acknowledged now.
    pub fn ack(&self, ids: &[i64], by: &str, now: i64, editable: &[&str]) -> Result<Vec<i64>> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut done = Vec::new();
            {
                let mut mark = tx.prepare_cached(
                    "UPDATE mention SET acked_at = ?2, acked_by = ?3 WHERE id = ?1 AND acked_at IS NULL",
                )?;
                let mut stop = tx.prepare_cached(
                    "UPDATE escalation SET done_at = ?2 WHERE mention_id = ?1 AND done_at IS NULL",
                )?;
                // An escalation still waiting (held by the on-call route's quiet hours, or for
                // its target) pages nobody about a handled mention.
                let mut cancel = tx.prepare_cached(
                    "DELETE FROM delivery WHERE mention_id = ?1 AND kind = 'escalation' AND status = 'pending'",
                )?;
                let mut carried = tx.prepare_cached(
                    "SELECT sink_id, watch, alert, message_ref FROM delivery
                     WHERE mention_id = ?1 AND status = 'sent' AND message_ref IS NOT NULL
                       AND kind IN ('alert', 'escalation')",
                )?;
                let mut queued = tx.prepare_cached(
                    "SELECT 1 FROM delivery WHERE sink_id = ?1 AND target_ref = ?2 AND kind = 'update'
                       AND status = 'pending'",
                )?;
                let mut update = tx.prepare_cached(
                    "INSERT INTO delivery (mention_id, kind, seq, sink_id, watch, alert, status, created_at,
                        next_attempt_at, target_ref)
                     VALUES (?1, 'update',
                        (SELECT coalesce(max(seq), 0) + 1 FROM delivery
                         WHERE mention_id = ?1 AND sink_id = ?2 AND kind = 'update'),
                        ?2, ?3, ?4, 'pending', ?5, ?5, ?6)",
                )?;
                for &id in ids {
                    if mark.execute(params![id, now, by])? == 0 {
                        continue;
                    }
                    done.push(id);
                    stop.execute(params![id, now])?;
                    cancel.execute([id])?;
                    let rows = carried
                        .query_map([id], |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, String>(3)?,
                            ))
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    for (sink, watch, alert, message_ref) in rows {
                        if !editable.contains(&sink.as_str())
                            || queued.exists(params![sink, message_ref])?
                        {
                            continue;
                        }
                        update.execute(params![id, sink, watch, alert, now, message_ref])?;
                    }
                }
            }
            tx.commit()?;
            Ok(done)
        })
    }

    /// Who acknowledged each of these mentions and when; `None` for those not acknowledged,
    /// missing ids left out.
    pub fn acks(&self, ids: &[i64]) -> Result<Vec<(i64, Option<Acked>)>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT acked_at, acked_by FROM mention WHERE id = ?1")?;
        let mut out = Vec::new();
        for &id in ids {
            let row: Option<(Option<i64>, Option<String>)> = st
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((at, by)) = row {
                out.push((id, at.zip(by)));
            }
        }
        Ok(out)
    }

    /// One line per known mention, for the acknowledge page: "critical · acme-blog: title: text…",
    /// with who acknowledged it.
    pub fn mention_lines(&self, ids: &[i64]) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT level, source_id, title, text, acked_by FROM mention WHERE id = ?1",
        )?;
        let mut out = Vec::new();
        for &id in ids {
            type Row = (String, String, Option<String>, String, Option<String>);
            let row: Option<Row> = st
                .query_row([id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            if let Some((level, source, title, text, by)) = row {
                let excerpt: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let excerpt: String = excerpt.chars().take(140).collect();
                let mut line = match title.filter(|t| !t.trim().is_empty()) {
                    Some(t) => format!("{level} · {source}: {t}: {excerpt}"),
                    None => format!("{level} · {source}: {excerpt}"),
                };
                if let Some(b) = by {
                    line.push_str(&format!(" (acknowledged by {b})"));
                }
                out.push(line);
            }
        }
        Ok(out)
    }

    /// Escalation timers that ran out by `now`, oldest first.
    pub fn due_escalations(&self, now: i64, limit: usize) -> Result<Vec<DueEscalation>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT e.mention_id, e.route, e.sent_times, e.max_times, e.every_secs,
                    m.acked_at IS NOT NULL,
                    (SELECT d.alert FROM delivery d WHERE d.mention_id = e.mention_id
                       AND d.kind = 'alert' ORDER BY d.id LIMIT 1)
             FROM escalation e JOIN mention m ON m.id = e.mention_id
             WHERE e.done_at IS NULL AND e.due_at <= ?1
             ORDER BY e.due_at, e.mention_id LIMIT ?2",
        )?;
        let rows = st
            .query_map(params![now, limit as i64], |r| {
                Ok(DueEscalation {
                    mention_id: r.get(0)?,
                    route: r.get(1)?,
                    sent_times: r.get(2)?,
                    max_times: r.get(3)?,
                    every: r.get(4)?,
                    acked: r.get(5)?,
                    alert: r
                        .get::<_, Option<String>>(6)?
                        .and_then(|a| serde_json::from_str(&a).ok()),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// When the next escalation timer runs out, if any runs.
    pub fn next_escalation_at(&self) -> Result<Option<i64>> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached("SELECT min(due_at) FROM escalation WHERE done_at IS NULL")?;
        Ok(st.query_row([], |r| r.get(0))?)
    }

    /// Records one escalation of `e` and enqueues its deliveries, in one transaction; the next
    /// is due `e.every` later, or none after the last (or when `deliveries` is empty because
    /// it was acknowledged or has nothing to send). A timer that moved meanwhile is left alone:
    /// each escalation is enqueued once. Returns how many deliveries were enqueued.
    pub fn record_escalation(
        &self,
        e: &DueEscalation,
        deliveries: &[NewDelivery],
        now: i64,
    ) -> Result<usize> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let seq = e.sent_times as i64 + 1;
            let last = deliveries.is_empty() || seq >= e.max_times as i64;
            let moved = tx.execute(
                "UPDATE escalation SET sent_times = ?3, due_at = ?4,
                    done_at = CASE WHEN ?5 THEN ?6 ELSE NULL END
                 WHERE mention_id = ?1 AND route = ?2 AND sent_times = ?7 AND done_at IS NULL",
                params![
                    e.mention_id,
                    e.route,
                    if deliveries.is_empty() {
                        e.sent_times as i64
                    } else {
                        seq
                    },
                    now + e.every,
                    last,
                    now,
                    e.sent_times
                ],
            )?;
            let mut n = 0;
            if moved == 1 {
                // The previous escalation still waiting on a sink (held by quiet hours) becomes
                // this one: on-call is paged once per mention, with the latest count.
                let mut replace = tx.prepare_cached(
                    "UPDATE delivery SET seq = ?2, alert = ?4
                     WHERE mention_id = ?1 AND sink_id = ?3 AND kind = 'escalation' AND status = 'pending'",
                )?;
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO delivery (mention_id, kind, seq, sink_id, watch, alert, status,
                        created_at, next_attempt_at, held)
                     VALUES (?1, 'escalation', ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8)",
                )?;
                for d in deliveries {
                    let alert = serde_json::to_string(&d.alert)?;
                    if replace.execute(params![e.mention_id, seq, d.sink_id, alert])? > 0 {
                        n += 1;
                        continue;
                    }
                    n += st.execute(params![
                        e.mention_id,
                        seq,
                        d.sink_id,
                        d.watch,
                        alert,
                        now,
                        d.held_until.unwrap_or(now).max(now),
                        d.held_until.is_some(),
                    ])?;
                }
            }
            tx.commit()?;
            Ok(n)
        })
    }

    /// A failure worth retrying at `next_attempt_at`.
    pub fn mark_retry(&self, id: i64, next_attempt_at: i64, error: &str) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "UPDATE delivery SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
                params![id, next_attempt_at, error],
            )?;
            Ok(())
        })
    }

    /// A failure that will not go away: parked, visible in `status`, retried only by `retry-dead`.
    pub fn mark_dead(&self, id: i64, error: &str) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "UPDATE delivery SET status = 'dead', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                params![id, error],
            )?;
            Ok(())
        })
    }

    /// Puts dead deliveries (of one sink, or all) back in the queue as if new (their give-up
    /// clock restarts); returns how many.
    pub fn retry_dead(&self, sink_id: Option<&str>, now: i64) -> Result<usize> {
        self.write(|conn| {
            // Whoever retries a sink's dead has fixed it: its hold is lifted too (only theirs).
            conn.execute(
                "DELETE FROM sink_hold WHERE sink_id IN
                   (SELECT DISTINCT sink_id FROM delivery
                     WHERE status = 'dead' AND (?1 IS NULL OR sink_id = ?1))",
                params![sink_id],
            )?;
            Ok(conn.execute(
                "UPDATE delivery SET status = 'pending', next_attempt_at = ?2, created_at = ?2, attempts = 0
                 WHERE status = 'dead' AND (?1 IS NULL OR sink_id = ?1)",
                params![sink_id, now],
            )?)
        })
    }

    /// Outbox figures per sink. Read at every `/metrics` scrape, so no query reads the sent
    /// rows themselves: those still waiting or dead are few and found through `delivery_due`,
    /// and the sent ones are counted in the partial index `delivery_sent`.
    pub fn sink_stats(&self) -> Result<Vec<SinkStats>> {
        let conn = self.conn();
        let mut by_sink: std::collections::BTreeMap<String, (SinkStats, Option<i64>)> =
            std::collections::BTreeMap::new();
        fn entry(
            map: &mut std::collections::BTreeMap<String, (SinkStats, Option<i64>)>,
            sink: String,
        ) -> &mut (SinkStats, Option<i64>) {
            map.entry(sink.clone()).or_insert_with(|| {
                let st = SinkStats {
                    sink_id: sink,
                    ..Default::default()
                };
                (st, None)
            })
        }
        let mut waiting = conn.prepare_cached(
            "SELECT sink_id, SUM(status = 'pending'), SUM(status = 'dead'),
                    MIN(CASE WHEN status = 'pending' THEN created_at END),
                    SUM(status = 'pending' AND attempts > 0),
                    MAX(CASE WHEN status = 'dead' THEN next_attempt_at END)
             FROM delivery WHERE status IN ('pending', 'dead') GROUP BY sink_id",
        )?;
        let mut rows = waiting.query([])?;
        while let Some(r) = rows.next()? {
            let (st, dead_at) = entry(&mut by_sink, r.get(0)?);
            st.pending = r.get(1)?;
            st.dead = r.get(2)?;
            st.oldest_pending_at = r.get(3)?;
            st.retrying = r.get(4)?;
            *dead_at = r.get(5)?;
        }
        let mut sent = conn.prepare_cached(
            "SELECT sink_id, COUNT(*), MAX(sent_at) FROM delivery
             WHERE status = 'sent' GROUP BY sink_id",
        )?;
        let mut rows = sent.query([])?;
        while let Some(r) = rows.next()? {
            let (st, _) = entry(&mut by_sink, r.get(0)?);
            st.sent = r.get(1)?;
            st.last_sent_at = r.get(2)?;
        }
        // Newest first: the first error met per sink is its last.
        let mut errors = conn.prepare_cached(
            "SELECT sink_id, last_error FROM delivery
             WHERE status IN ('pending', 'dead') AND last_error IS NOT NULL
               AND (status = 'dead' OR attempts > 0)
             ORDER BY id DESC",
        )?;
        let mut rows = errors.query([])?;
        while let Some(r) = rows.next()? {
            let (st, _) = entry(&mut by_sink, r.get(0)?);
            if st.last_error.is_none() {
                st.last_error = r.get(1)?;
            }
        }
        Ok(by_sink
            .into_values()
            .map(|(mut st, dead_at)| {
                // A dead row's last attempt was due at its next_attempt_at.
                st.dead_since_sent =
                    dead_at.is_some_and(|d| st.last_sent_at.is_none_or(|sent| d >= sent));
                st
            })
            .collect())
    }

    /// The newest deliveries of `sink_id`, whatever their state, newest first.
    pub fn recent_deliveries(&self, sink_id: &str, limit: usize) -> Result<Vec<Delivery>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "{DELIVERY_SELECT} WHERE sink_id = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = st.query_map(params![sink_id, limit as i64], delivery_row)?;
        collect_deliveries(rows)
    }

    /// The most recent dead deliveries, newest first.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<Delivery>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "{DELIVERY_SELECT} WHERE status = 'dead' ORDER BY id DESC LIMIT ?1"
        ))?;
        let rows = st.query_map([limit as i64], delivery_row)?;
        collect_deliveries(rows)
    }

    /// Stored mentions, newest first.
    pub fn mentions(&self, f: &MentionFilter) -> Result<Vec<MentionRow>> {
        // The rows are picked by id first (filters, order, limit: what the indexes cover), and
        // only the picked ones are read whole: a digest over a year sorts a million mentions.
        let (filters, args) = mention_where(f);
        let mut sql = format!("SELECT m.id FROM mention m WHERE 1 = 1{filters}");
        let order = match f.order {
            MentionOrder::Newest => " ORDER BY m.seen_at DESC, m.id DESC",
            MentionOrder::MostNegative => " ORDER BY m.compound ASC, m.urgency DESC, m.id",
            MentionOrder::MostUrgent => " ORDER BY m.urgency DESC, m.compound ASC, m.id",
        };
        sql.push_str(order);
        let limit = if f.limit == 0 { 100 } else { f.limit };
        sql.push_str(&format!(" LIMIT {limit}"));
        let sql = format!(
            "SELECT m.id, m.source_id, m.source_kind, m.platform_id,
                    (SELECT group_concat(watch, char(31)) FROM mention_watch w WHERE w.mention_id = m.id),
                    m.url, m.title, m.text, m.author, m.author_reach, m.kind, m.lang, m.created_at, m.seen_at,
                    m.compound, m.pos, m.neu, m.neg, m.urgency, m.level, m.reasons, m.silenced_by
             FROM mention m JOIN ({sql}) AS pick ON pick.id = m.id{order}"
        );
        let conn = self.conn();
        let mut st = conn.prepare(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args), |r| {
            let watches: Option<String> = r.get(4)?;
            let reasons: String = r.get(20)?;
            Ok(MentionRow {
                id: r.get(0)?,
                source_id: r.get(1)?,
                source_kind: r.get(2)?,
                platform_id: r.get(3)?,
                watches: watches
                    .map(|w| w.split('\u{1f}').map(str::to_string).collect())
                    .unwrap_or_default(),
                url: r.get(5)?,
                title: r.get(6)?,
                text: r.get(7)?,
                author: r.get(8)?,
                author_reach: r.get(9)?,
                kind: r.get(10)?,
                lang: r.get(11)?,
                created_at: r.get(12)?,
                seen_at: r.get(13)?,
                compound: r.get(14)?,
                pos: r.get(15)?,
                neu: r.get(16)?,
                neg: r.get(17)?,
                urgency: r.get(18)?,
                level: r.get(19)?,
                reasons: serde_json::from_str(&reasons).unwrap_or_default(),
                silenced_by: r.get(21)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The hourly aggregates of `[from, to)` per hour and source, for `watches` (summed; a
    /// mention of two of them counts twice), or each mention once when `watches` is empty.
    /// Returns (source id, row) in hour order.
    pub fn hour_aggs(
        &self,
        watches: &[String],
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, HourAgg)>> {
        let conn = self.conn();
        let list = if watches.is_empty() {
            json_list(&[String::new()])
        } else {
            json_list(watches)
        };
        let mut st = conn.prepare_cached(
            "SELECT source_id, hour, sum(mentions), sum(positive), sum(neutral), sum(negative),
                    sum(compound_sum), sum(urgent)
               FROM agg_hour
              WHERE watch IN (SELECT value FROM json_each(?1)) AND hour >= ?2 AND hour < ?3
              GROUP BY hour, source_id ORDER BY hour, source_id",
        )?;
        let rows = st
            .query_map(params![list, from, to], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    HourAgg {
                        hour: r.get(1)?,
                        mentions: r.get(2)?,
                        positive: r.get(3)?,
                        neutral: r.get(4)?,
                        negative: r.get(5)?,
                        compound_sum: r.get(6)?,
                        urgent: r.get(7)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The authors with the most mentions seen in `[from, to)` (of `watches`, or all), most first.
    pub fn top_authors(
        &self,
        watches: &[String],
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<Vec<(String, i64)>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT m.author, count(*) AS n FROM mention m
              WHERE m.seen_at >= ?2 AND m.seen_at < ?3 AND m.author IS NOT NULL AND m.author != ''
                AND {OF_WATCHES}
              GROUP BY m.author ORDER BY n DESC, m.author LIMIT ?4"
        ))?;
        let list = json_list(watches);
        let rows = st
            .query_map(
                params![list, from, to, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// How the urgent (high and critical) mentions seen in `[from, to)` were acknowledged.
    pub fn ack_stats(&self, watches: &[String], from: i64, to: i64) -> Result<AckStats> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT m.acked_at - m.seen_at FROM mention m
              WHERE m.seen_at >= ?2 AND m.seen_at < ?3 AND m.level IN ('high', 'critical')
                AND {OF_WATCHES}"
        ))?;
        let list = json_list(watches);
        let mut stats = AckStats::default();
        let delays = st
            .query_map(params![list, from, to], |r| r.get::<_, Option<i64>>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        stats.urgent = delays.len() as i64;
        stats.delays = delays.into_iter().flatten().map(|d| d.max(0)).collect();
        stats.delays.sort_unstable();
        stats.acknowledged = stats.delays.len() as i64;
        Ok(stats)
    }

    /// Deletes mentions seen before `mentions_before` (none when `None`) that have nothing left
    /// to do (no pending delivery, no running escalation), in batches of 5,000 so the daemon's
    /// writers never wait long, and hourly aggregates before `aggregates_before`. Returns how
    /// many mentions and aggregate rows went. `item_seen` is kept: an old item shown again by
    /// a source must not alert again.
    pub fn prune(
        &self,
        mentions_before: Option<i64>,
        aggregates_before: i64,
    ) -> Result<(usize, usize)> {
        let mut mentions = 0;
        if let Some(before) = mentions_before {
            loop {
                // One batch per lock, so polls and deliveries go on between batches.
                let n = self.write(|conn| {
                    Ok(conn.execute(
                        "DELETE FROM mention WHERE id IN (
                            SELECT m.id FROM mention m
                             WHERE m.seen_at < ?1
                               AND NOT EXISTS (SELECT 1 FROM delivery d
                                                WHERE d.mention_id = m.id AND d.status = 'pending')
                               AND NOT EXISTS (SELECT 1 FROM escalation e
                                                WHERE e.mention_id = m.id AND e.done_at IS NULL)
                             LIMIT 5000)",
                        [before],
                    )?)
                })?;
                mentions += n;
                if n < 5000 {
                    break;
                }
            }
        }
        let aggs = self.write(|conn| {
            let aggs = conn.execute("DELETE FROM agg_hour WHERE hour < ?1", [aggregates_before])?;
            conn.execute("DELETE FROM spike WHERE ended_at < ?1", [aggregates_before])?;
            Ok(aggs)
        })?;
        Ok((mentions, aggs))
    }

    /// Moves the write-ahead log into the database and truncates it, so the WAL stays small
    /// (SQLite's automatic checkpoints cannot truncate it, and cannot finish while a reader
    /// holds an old snapshot).
    pub fn checkpoint(&self) -> Result<()> {
        self.write(|conn| {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }

    /// The first hour watch `watch` has aggregates for: where its history starts.
    pub fn first_hour(&self, watch: &str) -> Result<Option<i64>> {
        Ok(self.conn().query_row(
            "SELECT min(hour) FROM agg_hour WHERE watch = ?1",
            [watch],
            |r| r.get(0),
        )?)
    }

    /// How many mentions `f` finds (its order and limit aside), and how many of them are
    /// positive and negative.
    pub fn mention_counts(&self, f: &MentionFilter) -> Result<(i64, i64, i64)> {
        let (sql, args) = mention_where(f);
        let sql = format!(
            "SELECT count(*), coalesce(sum(m.compound >= 0.05), 0), coalesce(sum(m.compound <= -0.05), 0)
               FROM mention m WHERE 1 = 1{sql}"
        );
        let conn = self.conn();
        let mut st = conn.prepare_cached(&sql)?;
        Ok(st.query_row(rusqlite::params_from_iter(args), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?)
    }

    /// The spike of `watch` still going on, if any.
    pub fn open_spike(&self, watch: &str) -> Result<Option<Spike>> {
        Ok(self
            .conn()
            .query_row(
                &format!("{SPIKE_SELECT} WHERE watch = ?1 AND ended_at IS NULL"),
                [watch],
                spike_row,
            )
            .optional()?)
    }

    /// Spikes that went on at some time in `[from, to)`, the earliest first.
    pub fn spikes(&self, from: i64, to: i64) -> Result<Vec<Spike>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "{SPIKE_SELECT} WHERE started_at < ?2 AND (ended_at IS NULL OR ended_at >= ?1)
              ORDER BY started_at, id"
        ))?;
        let rows = st
            .query_map(params![from, to], spike_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Records spike `s` (its id ignored) and enqueues its messages, each held until its time
    /// when given, in one transaction. `None` (and nothing enqueued) when the watch has a spike
    /// going on already.
    pub fn start_spike(
        &self,
        s: &Spike,
        messages: &[(Announcement, Option<i64>)],
        now: i64,
    ) -> Result<Option<i64>> {
        self.write(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let sinks: Vec<&String> = messages.iter().flat_map(|(a, _)| &a.sink_ids).collect();
                let n = tx.execute(
                "INSERT OR IGNORE INTO spike (watch, started_at, kinds, window_secs, mentions, negative,
                     usual, threshold, usual_share, peak, last_above, alert_id, sinks)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?5, ?2, ?10, ?11)",
                params![
                    s.watch,
                    s.started_at,
                    s.kinds.join(","),
                    s.window_secs,
                    s.mentions,
                    s.negative,
                    s.usual,
                    s.threshold,
                    s.usual_share,
                    s.alert_id,
                    serde_json::to_string(&sinks)?,
                ],
            )?;
                if n == 0 {
                    return Ok(None);
                }
                let id = tx.last_insert_rowid();
                for (a, held_until) in messages {
                    enqueue_held(&tx, a, now, *held_until)?;
                }
                tx.commit()?;
                Ok(Some(id))
        })
    }

    /// Records that spike `id` is still above its threshold at `now`, with `mentions` in the
    /// window and `kinds` rising.
    pub fn spike_still_above(
        &self,
        id: i64,
        now: i64,
        mentions: i64,
        kinds: &[String],
    ) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "UPDATE spike SET last_above = ?2, peak = max(peak, ?3), kinds = ?4
                  WHERE id = ?1 AND ended_at IS NULL",
                params![id, now, mentions, kinds.join(",")],
            )?;
            Ok(())
        })
    }

    /// Ends spike `id` at `now` and enqueues `notice` on the sinks told of its start, in one
    /// transaction. On a sink still holding the start's message (quiet hours), the notice is
    /// held with it, so it never arrives first. False (and nothing enqueued) when it had ended.
    pub fn end_spike(&self, id: i64, now: i64, notice: &Announcement) -> Result<bool> {
        self.write(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let start_id: Option<String> = tx
                    .query_row(
                        "SELECT alert_id FROM spike WHERE id = ?1 AND ended_at IS NULL",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(start_id) = start_id else {
                    return Ok(false);
                };
                tx.execute(
                    "UPDATE spike SET ended_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
                for sink in &notice.sink_ids {
                    let held: Option<i64> = tx.query_row(
                        "SELECT max(next_attempt_at) FROM delivery
                      WHERE sink_id = ?1 AND status = 'pending' AND held != 0 AND kind = 'announcement'
                        AND json_extract(alert, '$.id') = ?2",
                        params![sink, crate::pipeline::alert_id("earshot", &start_id, sink)],
                        |r| r.get(0),
                    )?;
                    let one = Announcement {
                        sink_ids: vec![sink.clone()],
                        ..notice.clone()
                    };
                    enqueue_held(&tx, &one, now, held)?;
                }
                tx.commit()?;
                Ok(true)
        })
    }

    /// The end of the latest period digest `name` sent, skipped or was armed at; `None` for a
    /// digest never seen.
    pub fn digest_last(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.conn().query_row(
            "SELECT max(period_end) FROM digest_run WHERE name = ?1",
            [name],
            |r| r.get(0),
        )?)
    }

    /// Records that digest `name` starts counting at `now`: no period before it is owed.
    pub fn arm_digest(&self, name: &str, now: i64) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "INSERT OR IGNORE INTO digest_run (name, period_end, state, at) VALUES (?1, ?2, 'armed', ?2)",
                params![name, now],
            )?;
            Ok(())
        })
    }

    /// Records a period missed long ago and not sent.
    pub fn skip_digest(&self, name: &str, period_end: i64, now: i64) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "INSERT OR IGNORE INTO digest_run (name, period_end, state, at) VALUES (?1, ?2, 'skipped', ?3)",
                params![name, period_end, now],
            )?;
            Ok(())
        })
    }

    /// Records the digest of the period ending at `period_end` and enqueues its message, in
    /// one transaction; false (and nothing enqueued) when that period was recorded already.
    pub fn record_digest(
        &self,
        name: &str,
        period_end: i64,
        late: bool,
        message: &Announcement,
        now: i64,
    ) -> Result<bool> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO digest_run (name, period_end, state, at, late)
                 VALUES (?1, ?2, 'sent', ?3, ?4)",
                params![name, period_end, now, late],
            )?;
            if n == 1 {
                enqueue_announcement(&tx, message, now)?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
    }

    /// Creates a silence and enqueues its announcement, in one transaction; returns its id.
    pub fn add_silence(
        &self,
        new: &NewSilence,
        now: i64,
        announce: impl FnOnce(&Silence) -> Announcement,
    ) -> Result<Silence> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO silence (watch, source_id, author, query, comment, created_by, created_at, ends_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    new.watch,
                    new.source_id,
                    new.author,
                    new.query,
                    new.comment,
                    new.created_by,
                    now,
                    new.ends_at
                ],
            )?;
            let silence = Silence {
                id: tx.last_insert_rowid(),
                watch: new.watch.clone(),
                source_id: new.source_id.clone(),
                author: new.author.clone(),
                query: new.query.clone(),
                comment: new.comment.clone(),
                created_by: new.created_by.clone(),
                created_at: now,
                ends_at: new.ends_at,
                expired_at: None,
            };
            enqueue_announcement(&tx, &announce(&silence), now)?;
            tx.commit()?;
            Ok(silence)
        })
    }

    /// Expires a silence now and enqueues its announcement; `None` if there is no such
    /// active silence.
    pub fn expire_silence(
        &self,
        id: i64,
        now: i64,
        announce: impl FnOnce(&Silence) -> Announcement,
    ) -> Result<Option<Silence>> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let changed = tx.execute(
                "UPDATE silence SET expired_at = ?2, end_announced = 1
                 WHERE id = ?1 AND expired_at IS NULL AND ends_at > ?2",
                params![id, now],
            )?;
            if changed == 0 {
                return Ok(None);
            }
            let silence = tx.query_row(
                &format!("{SILENCE_SELECT} WHERE id = ?1"),
                [id],
                silence_row,
            )?;
            enqueue_announcement(&tx, &announce(&silence), now)?;
            tx.commit()?;
            Ok(Some(silence))
        })
    }

    /// Announces the silences that ran their course by `now` (not those expired by hand,
    /// which were announced then): marks each and enqueues its announcement in one
    /// transaction, so each end is announced once. Returns them, oldest end first.
    pub fn end_silences(
        &self,
        now: i64,
        announce: impl Fn(&Silence) -> Announcement,
    ) -> Result<Vec<Silence>> {
        self.write(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let ended: Vec<Silence> = {
                    let mut st = tx.prepare_cached(&format!(
                    "{SILENCE_SELECT} WHERE end_announced = 0 AND ends_at <= ?1 ORDER BY ends_at, id"
                ))?;
                    st.query_map([now], silence_row)?
                        .collect::<rusqlite::Result<_>>()?
                };
                for s in &ended {
                    tx.execute("UPDATE silence SET end_announced = 1 WHERE id = ?1", [s.id])?;
                    enqueue_announcement(&tx, &announce(s), now)?;
                }
                tx.commit()?;
                Ok(ended)
        })
    }

    /// When the next silence ends that has yet to be announced.
    pub fn next_silence_end(&self) -> Result<Option<i64>> {
        Ok(self.conn().query_row(
            "SELECT MIN(ends_at) FROM silence WHERE end_announced = 0",
            [],
            |r| r.get(0),
        )?)
    }

    /// Silences, newest first: the active ones at `now`, or all with `all`.
    pub fn silences(&self, now: i64, all: bool) -> Result<Vec<Silence>> {
        let conn = self.conn();
        let sql = if all {
            format!("{SILENCE_SELECT} ORDER BY id DESC")
        } else {
            format!("{SILENCE_SELECT} WHERE expired_at IS NULL AND ends_at > ?1 ORDER BY id DESC")
        };
        let mut st = conn.prepare_cached(&sql)?;
        let rows = if all {
            st.query_map([], silence_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        } else {
            st.query_map([now], silence_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        };
        Ok(rows)
    }

    /// How many stored mentions each silence held back.
    pub fn silenced_counts(&self) -> Result<Vec<(i64, i64)>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT silenced_by, count(*) FROM mention WHERE silenced_by IS NOT NULL GROUP BY silenced_by",
        )?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

/// `PRAGMA quick_check`: the structure of every page and index, without the slower
/// cross-check of index contents that `integrity_check` adds.
fn quick_check(conn: &Connection, path: &Path) -> Result<()> {
    // The first few problems are enough to say it is damaged. Damage bad enough that SQLite
    // cannot even run the check comes back as an error, classified the same way.
    let found = conn
        .prepare("PRAGMA quick_check(5)")
        .and_then(|mut st| {
            st.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| StoreError::from(e).at(path))?;
    if found.len() == 1 && found[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Damaged {
        path: path.display().to_string(),
        detail: format!("quick_check: {}", found.join("; ")),
    })
}

/// The mentions in a database file, read without changing it (a fresh backup).
fn count_mentions(path: &Path) -> rusqlite::Result<i64> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.query_row("SELECT count(*) FROM mention", [], |r| r.get(0))
}

/// The directory holding `path`, as an error shows it.
fn dir_of(path: &Path) -> String {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .display()
        .to_string()
}

impl StoreError {
    /// An SQLite failure in words, naming the file: a full disk, a read-only file, an I/O
    /// error or damage says what to do. Anything else, and errors already in words, are kept.
    fn at(self, path: &Path) -> StoreError {
        let name = path.display().to_string();
        let StoreError::Sqlite(e) = self else {
            return self;
        };
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full { dir: dir_of(path) },
            Some(rusqlite::ErrorCode::ReadOnly) => StoreError::ReadOnly { path: name },
            Some(rusqlite::ErrorCode::SystemIoFailure) => StoreError::Io {
                path: name,
                detail: e.to_string(),
            },
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                StoreError::Damaged {
                    path: name,
                    detail: e.to_string(),
                }
            }
            _ => StoreError::Sqlite(e),
        }
    }
}

/// The schema version of a database and the one this earshot knows; a newer one is refused.
fn schema_version(conn: &Connection, path: &Path) -> Result<(i64, i64)> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            path: path.display().to_string(),
            found: version,
            known,
        });
    }
    Ok((version, known))
}

/// The author as shown: handle, else display name.
fn author_label(m: &Mention) -> Option<String> {
    m.author
        .handle
        .clone()
        .or_else(|| m.author.display_name.clone())
}

const SOURCE_SELECT: &str =
    "SELECT source_id, kind, etag, last_modified, cursor, seeded, polls, last_poll_at,
    last_success_at, error_count, last_error, last_error_at, next_poll_at, notice, degraded
    FROM source_state";

fn source_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SourceRow> {
    Ok(SourceRow {
        source_id: r.get(0)?,
        kind: r.get(1)?,
        state: SourceState {
            etag: r.get(2)?,
            last_modified: r.get(3)?,
            cursor: r.get(4)?,
        },
        seeded: r.get(5)?,
        polls: r.get(6)?,
        last_poll_at: r.get(7)?,
        last_success_at: r.get(8)?,
        error_count: r.get(9)?,
        last_error: r.get(10)?,
        last_error_at: r.get(11)?,
        next_poll_at: r.get(12)?,
        notice: r.get(13)?,
        degraded: r.get(14)?,
    })
}

/// A mention `m` of any of the watches in the JSON list `?1`, or any mention when it is `[]`.
const OF_WATCHES: &str =
    "(?1 = '[]' OR EXISTS (SELECT 1 FROM mention_watch w WHERE w.mention_id = m.id
     AND w.watch IN (SELECT value FROM json_each(?1))))";

/// A list of names as a JSON array, for `json_each(?)` in a query.
fn json_list(names: &[String]) -> String {
    serde_json::to_string(names).unwrap_or_else(|_| "[]".into())
}

const SILENCE_SELECT: &str = "SELECT id, watch, source_id, author, query, comment, created_by,
    created_at, ends_at, expired_at FROM silence";

fn silence_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Silence> {
    Ok(Silence {
        id: r.get(0)?,
        watch: r.get(1)?,
        source_id: r.get(2)?,
        author: r.get(3)?,
        query: r.get(4)?,
        comment: r.get(5)?,
        created_by: r.get(6)?,
        created_at: r.get(7)?,
        ends_at: r.get(8)?,
        expired_at: r.get(9)?,
    })
}

/// Enqueues a message about earshot itself on each of its sinks.
fn enqueue_announcement(tx: &rusqlite::Transaction<'_>, a: &Announcement, now: i64) -> Result<()> {
    enqueue_held(tx, a, now, None)
}

/// [`enqueue_announcement`], held back until `held_until` (a muted route's quiet hours) when
/// given: it then goes out with that sink's catch-up message.
fn enqueue_held(
    tx: &rusqlite::Transaction<'_>,
    a: &Announcement,
    now: i64,
    held_until: Option<i64>,
) -> Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO delivery (mention_id, kind, sink_id, watch, alert, status, created_at, next_attempt_at, held)
         VALUES (NULL, 'announcement', ?1, ?2, ?3, 'pending', ?4, ?5, ?6)",
    )?;
    for sink in &a.sink_ids {
        let mut alert = a.alert.clone();
        alert.id = crate::pipeline::alert_id("earshot", &a.alert.id, sink);
        st.execute(params![
            sink,
            a.watch,
            serde_json::to_string(&alert)?,
            now,
            held_until.unwrap_or(now).max(now),
            held_until.is_some()
        ])?;
    }
    Ok(())
}

/// The conditions of `f` (each starting " AND ", on `mention m`) and their arguments.
fn mention_where(f: &MentionFilter) -> (String, Vec<rusqlite::types::Value>) {
    let mut sql = String::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(w) = &f.watch {
        arg(
            &mut sql,
            " AND EXISTS (SELECT 1 FROM mention_watch w WHERE w.mention_id = m.id AND w.watch = ?)",
            w.clone().into(),
        );
    }
    if !f.watches.is_empty() {
        let list = json_list(&f.watches);
        arg(
            &mut sql,
            " AND EXISTS (SELECT 1 FROM mention_watch w WHERE w.mention_id = m.id
                 AND w.watch IN (SELECT value FROM json_each(?)))",
            list.into(),
        );
    }
    if let Some(s) = &f.source {
        arg(&mut sql, " AND m.source_id = ?", s.clone().into());
    }
    if let Some(t) = f.since {
        arg(&mut sql, " AND m.seen_at >= ?", t.into());
    }
    if let Some(t) = f.until {
        arg(&mut sql, " AND m.seen_at < ?", t.into());
    }
    if let Some(t) = f.posted_since {
        arg(
            &mut sql,
            " AND coalesce(m.created_at, m.seen_at) >= ?",
            t.into(),
        );
    }
    if let Some(l) = f.min_level {
        let levels: Vec<&str> = [Level::Low, Level::Normal, Level::High, Level::Critical]
            .into_iter()
            .filter(|x| *x >= l)
            .map(Level::as_str)
            .collect();
        sql.push_str(&format!(
            " AND m.level IN ({})",
            levels
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    match f.sentiment {
        Some(SentimentBucket::Positive) => sql.push_str(" AND m.compound >= 0.05"),
        Some(SentimentBucket::Negative) => sql.push_str(" AND m.compound <= -0.05"),
        Some(SentimentBucket::Neutral) => {
            sql.push_str(" AND m.compound > -0.05 AND m.compound < 0.05")
        }
        None => {}
    }
    (sql, args)
}

const SPIKE_SELECT: &str =
    "SELECT id, watch, started_at, kinds, window_secs, mentions, negative, usual, threshold,
            usual_share, peak, last_above, alert_id, sinks, ended_at
       FROM spike";

fn spike_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Spike> {
    let kinds: String = r.get(3)?;
    let sinks: String = r.get(13)?;
    Ok(Spike {
        id: r.get(0)?,
        watch: r.get(1)?,
        started_at: r.get(2)?,
        kinds: kinds.split(',').map(str::to_string).collect(),
        window_secs: r.get(4)?,
        mentions: r.get(5)?,
        negative: r.get(6)?,
        usual: r.get(7)?,
        threshold: r.get(8)?,
        usual_share: r.get(9)?,
        peak: r.get(10)?,
        last_above: r.get(11)?,
        alert_id: r.get(12)?,
        sinks: serde_json::from_str(&sinks).unwrap_or_default(),
        ended_at: r.get(14)?,
    })
}

const DELIVERY_SELECT: &str =
    "SELECT id, mention_id, sink_id, watch, alert, status, attempts, created_at,
    next_attempt_at, sent_at, last_error, held, group_key, kind, seq, message_ref, target_ref
    FROM delivery";

type RawDelivery = (Delivery, String);

fn delivery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawDelivery> {
    Ok((
        Delivery {
            id: r.get(0)?,
            mention_id: r.get(1)?,
            sink_id: r.get(2)?,
            watch: r.get(3)?,
            alert: unreadable_alert(),
            status: r.get(5)?,
            attempts: r.get(6)?,
            created_at: r.get(7)?,
            next_attempt_at: r.get(8)?,
            sent_at: r.get(9)?,
            last_error: r.get(10)?,
            held: r.get(11)?,
            group_key: r.get(12)?,
            kind: r.get(13)?,
            seq: r.get(14)?,
            message_ref: r.get(15)?,
            target_ref: r.get(16)?,
        },
        r.get(4)?,
    ))
}

/// Stands in for an alert whose stored JSON cannot be read.
fn unreadable_alert() -> Alert {
    Alert {
        id: String::new(),
        watch: String::new(),
        source_id: String::new(),
        source_kind: String::new(),
        url: None,
        title: Some("(stored alert unreadable)".into()),
        text: String::new(),
        author: None,
        author_reach: None,
        created_at: None,
        kind: Default::default(),
        sentiment: Default::default(),
        urgency: 0,
        level: Level::Low,
        reasons: Vec::new(),
        thread: None,
        ack_url: None,
        form: Default::default(),
    }
}

fn collect_deliveries(
    rows: impl Iterator<Item = rusqlite::Result<RawDelivery>>,
) -> Result<Vec<Delivery>> {
    let mut out = Vec::new();
    for row in rows {
        let (mut d, json) = row?;
        // Listing must not fail on one unreadable row: show it as such.
        d.alert = serde_json::from_str(&json).unwrap_or_else(|_| unreadable_alert());
        out.push(d);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {

    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_new_database_and_its_log_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("earshot.db");
        let store = Store::open(&path).unwrap();
        store.checkpoint().unwrap();
        for p in [
            path.clone(),
            dir.path().join("state").join("earshot.db-wal"),
        ] {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}: {mode:o}", p.display());
        }
    }

    /// SQLite's codes become errors in words naming the file; extended codes count as their
    /// primary code; anything else, and errors already in words, are kept as they are.
    #[test]
    fn sqlite_failures_are_classified_with_the_path() {
        use rusqlite::ffi;
        let path = Path::new("/var/lib/earshot/earshot.db");
        let sqlite =
            |code| StoreError::Sqlite(rusqlite::Error::SqliteFailure(ffi::Error::new(code), None));
        let table: &[(i32, &str)] = &[
            (
                ffi::SQLITE_FULL,
                "the disk holding /var/lib/earshot is full: free some space",
            ),
            (
                ffi::SQLITE_READONLY,
                "the database /var/lib/earshot/earshot.db is read-only",
            ),
            (
                ffi::SQLITE_READONLY_DBMOVED,
                "the database /var/lib/earshot/earshot.db is read-only",
            ),
            (
                ffi::SQLITE_READONLY_CANTINIT,
                "the database /var/lib/earshot/earshot.db is read-only",
            ),
            (
                ffi::SQLITE_IOERR,
                "the disk holding /var/lib/earshot/earshot.db failed a read or write",
            ),
            (
                ffi::SQLITE_IOERR_WRITE,
                "the disk holding /var/lib/earshot/earshot.db failed a read or write",
            ),
            (
                ffi::SQLITE_IOERR_FSYNC,
                "the disk holding /var/lib/earshot/earshot.db failed a read or write",
            ),
            (
                ffi::SQLITE_CORRUPT,
                "the database /var/lib/earshot/earshot.db is damaged",
            ),
            (
                ffi::SQLITE_NOTADB,
                "the database /var/lib/earshot/earshot.db is damaged",
            ),
            (ffi::SQLITE_BUSY, "database error: "),
            (ffi::SQLITE_CONSTRAINT, "database error: "),
        ];
        for &(code, want) in table {
            let got = sqlite(code).at(path).to_string();
            assert!(got.starts_with(want), "code {code}: {got}");
            assert!(!got.contains("SQLITE"), "code {code}: {got}");
        }
        let open = StoreError::Open {
            path: "x".into(),
            reason: "y".into(),
        };
        assert_eq!(open.at(path).to_string(), "cannot open the database x: y");
        // A database in the working directory: its disk is ".".
        let got = sqlite(ffi::SQLITE_FULL)
            .at(Path::new("earshot.db"))
            .to_string();
        assert!(got.starts_with("the disk holding . is full"), "{got}");
    }

    /// Migration 9 fills the hourly aggregates from the mentions already stored: per watch,
    /// and once per mention for all watches.
    #[test]
    fn migration_9_backfills_the_hourly_aggregates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..8] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 8).unwrap();
            for (id, seen, compound, level, watches) in [
                (1, 7_200 + 5, -0.5, "critical", &["acme", "rival"][..]),
                (2, 7_200 + 3_599, 0.5, "low", &["acme"][..]),
                (3, 10_800, 0.0, "high", &["acme"][..]),
            ] {
                conn.execute(
                    "INSERT INTO mention (id, source_id, source_kind, platform_id, text, kind, seen_at,
                        compound, pos, neu, neg, urgency, level, reasons, extra)
                     VALUES (?1, 'blog', 'feed', ?1, 't', 'post', ?2, ?3, 0, 0, 0, 50, ?4, '[]', '{}')",
                    params![id, seen, compound, level],
                )
                .unwrap();
                for w in watches {
                    conn.execute(
                        "INSERT INTO mention_watch (mention_id, watch) VALUES (?1, ?2)",
                        params![id, w],
                    )
                    .unwrap();
                }
            }
        }
        let store = Store::open(&path).unwrap();
        let rows = |w: &[&str]| -> Vec<(i64, i64, i64, i64, i64, i64)> {
            let w: Vec<String> = w.iter().map(|s| s.to_string()).collect();
            store
                .hour_aggs(&w, 0, 20_000)
                .unwrap()
                .into_iter()
                .map(|(_, a)| {
                    (
                        a.hour, a.mentions, a.positive, a.neutral, a.negative, a.urgent,
                    )
                })
                .collect()
        };
        assert_eq!(
            rows(&["acme"]),
            [(7_200, 2, 1, 0, 1, 1), (10_800, 1, 0, 1, 0, 1)]
        );
        assert_eq!(rows(&["rival"]), [(7_200, 1, 0, 0, 1, 1)]);
        assert_eq!(
            rows(&["acme", "rival"])[0].1,
            3,
            "summed over the watches asked for"
        );
        assert_eq!(rows(&[]), [(7_200, 2, 1, 0, 1, 1), (10_800, 1, 0, 1, 0, 1)]);
    }

    /// Silences that ended before the upgrade are not announced late; one still running is.
    #[test]
    fn migration_8_announces_only_silences_still_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..7] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 7).unwrap();
            let now = earshot_connectors::Clock::System.now().timestamp();
            for (id, ends, expired) in [
                (1, now - 3600, None),
                (2, now + 3600, Some(now - 60)),
                (3, now + 3600, None),
            ] {
                conn.execute(
                    "INSERT INTO silence (id, watch, comment, created_by, created_at, ends_at, expired_at)
                     VALUES (?1, 'acme', 'c', 'ops', 0, ?2, ?3)",
                    params![id, ends, expired],
                )
                .unwrap();
            }
        }
        let store = Store::open(&path).unwrap();
        let ended = store
            .end_silences(
                earshot_connectors::Clock::System.now().timestamp() + 7200,
                |s| Announcement {
                    sink_ids: vec!["a".into()],
                    watch: "acme".into(),
                    alert: Alert {
                        id: format!("silence-{}", s.id),
                        ..Alert::sample()
                    },
                },
            )
            .unwrap();
        assert_eq!(ended.iter().map(|s| s.id).collect::<Vec<_>>(), [3]);
    }
}
