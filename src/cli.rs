//! The command line: parsing, and one small function per command. The work itself lives in
//! the library modules; this file only wires them to the terminal.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::alert::Alert;
use crate::config::{Config, DEFAULT_CONFIG_PATH, Loaded};
use crate::duration::parse_duration;
use crate::pipeline;
use crate::pipeline::SilenceChange;
use crate::runtime::{self, Clock, Runtime};
use crate::sink::text::one_line;
use crate::store::{MentionFilter, SentimentBucket, Store};
use crate::urgency::{Level, Rules};

/// earshot hears what people say about your product and tells your team in chat.
#[derive(Debug, Parser)]
#[command(name = "earshot", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file [default: $EARSHOT_CONFIG, else /etc/earshot/earshot.toml]
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "EARSHOT_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Log filter, e.g. `debug` or `earshot=trace` [default: RUST_LOG, else daemon.log]
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Log format: `text` for people, `json` for collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll every source on its schedule, alert, deliver. Stops on SIGTERM/SIGINT.
    Run,
    /// Poll every source once, deliver what is due, and exit.
    Once {
        /// Send nothing and write nothing: print what would be sent.
        #[arg(long)]
        dry_run: bool,
    },
    /// Validate the config (like `nginx -t`): a summary and exit 0, or the problems and exit 1.
    Check,
    /// Show each source's health and each sink's deliveries and dead letters.
    Status {
        /// One JSON document instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// List stored mentions, newest first.
    Mentions {
        #[command(flatten)]
        select: MentionArgs,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// A digest of a period: mentions and their change, the sentiment split, hourly volume,
    /// the most negative and urgent mentions, top sources and authors, acknowledgements.
    Digest {
        /// The period ending now: `24h`, `7d` [default: 24h].
        #[arg(long, conflicts_with_all = ["from", "to"])]
        since: Option<String>,
        /// The period's start (RFC 3339, e.g. 2026-05-01T00:00:00Z); with --to.
        #[arg(long, value_name = "TIME", requires = "to")]
        from: Option<String>,
        /// The period's end (RFC 3339); with --from.
        #[arg(long, value_name = "TIME", requires = "from")]
        to: Option<String>,
        /// Only these watches (repeat the flag); all watches when left out.
        #[arg(long)]
        watch: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = DigestFormat::Markdown)]
        format: DigestFormat,
    },
    /// Score text lines from stdin: sentiment, urgency, level and reasons. Tune your rules with it.
    /// Works without a config (default rules); with --config it uses [scoring] and the watch names.
    Score {
        /// One JSON object per line: compound, pos, neu, neg, urgency, level, reasons.
        #[arg(long)]
        json: bool,
    },
    /// Measure the scoring on a labelled set (JSON Lines: id, text, lang, needs, polarity):
    /// urgent and reply recall, false alarms, polarity, the confusion of levels, each miss.
    /// With --config, scores with its [scoring] (brands, phrases, levels).
    Eval {
        /// The labelled set, e.g. ../shared/judgement/dev.jsonl
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The report as one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Write a consistent copy of the database to a new file; safe while the daemon runs.
    Backup {
        /// The copy to write (never overwritten), e.g. /var/backups/earshot/earshot-2026-05-01.db
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// Send a sample alert to one sink.
    TestSink {
        /// The sink's id.
        id: String,
    },
    /// Queue dead deliveries again (all sinks, or one).
    RetryDead {
        /// Only this sink's.
        sink: Option<String>,
    },
    /// Hold back alerts for a while: silenced mentions are still stored and counted.
    Silence {
        #[command(subcommand)]
        action: SilenceAction,
    },
    /// Acknowledge mentions (ids from `earshot mentions` or the alert's link): their
    /// escalations stop, and Discord and Telegram messages are edited to show it.
    Ack {
        /// Mention ids.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<i64>,
        /// Who acknowledges [default: $USER]
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SilenceAction {
    /// Silence the mentions matching every matcher given (at least one), for a duration. The
    /// routes' sinks are told.
    Add {
        /// Only mentions of this watch.
        #[arg(long)]
        watch: Option<String>,
        /// Only mentions from this source (its id).
        #[arg(long)]
        source: Option<String>,
        /// Only mentions by this author (handle or display name, any case).
        #[arg(long)]
        author: Option<String>,
        /// Only mentions matching this query (the watch query language).
        #[arg(long)]
        query: Option<String>,
        /// How long: `30m`, `2h`, `3d` (at most 90 days).
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why, for the people who see it (announced on the sinks).
        #[arg(long)]
        comment: String,
        /// Who silences [default: $USER]
        #[arg(long)]
        by: Option<String>,
    },
    /// List the active silences (or all with --all), with how many mentions each held back.
    List {
        #[arg(long)]
        all: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// End a silence now. The routes' sinks are told.
    Expire {
        /// The silence's id (see `earshot silence list`).
        id: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SentimentArg {
    Positive,
    Neutral,
    Negative,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        // `earshot mentions | head` closes the pipe early: not an error worth a message.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_path(cli: &Cli) -> PathBuf {
    cli.config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

fn load(path: &Path) -> Result<Loaded> {
    Config::load(path).map_err(|e| {
        anyhow::anyhow!(
            "{e}\nfix these and run `earshot check --config {}` again",
            path.display()
        )
    })
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let path = config_path(&cli);
    match &cli.command {
        Command::Check => Ok(check(&path)),
        Command::Score { json } => {
            let rules = if cli.config.is_some() {
                let cfg = load(&path)?.config;
                let names: Vec<&str> = cfg.watches.iter().map(|w| w.name.as_str()).collect();
                Rules::new(&cfg.scoring, &names)
            } else {
                Rules::default()
            };
            score(&rules, *json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { file, json } => {
            let rules = if cli.config.is_some() {
                let cfg = load(&path)?.config;
                let names: Vec<&str> = cfg.watches.iter().map(|w| w.name.as_str()).collect();
                Rules::new(&cfg.scoring, &names)
            } else {
                Rules::default()
            };
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let items =
                crate::eval::read(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let report = crate::eval::evaluate(&items, |item| {
                let m = earshot_connectors::Mention {
                    text: item.text.clone(),
                    lang: item.lang.clone(),
                    ..Default::default()
                };
                pipeline::score(&m, &rules, None)
            });
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", crate::eval::render(&report));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run => {
            let loaded = load(&path)?;
            init_logging(&cli, &loaded.config.daemon.log);
            warn_all(&loaded);
            let rt = tokio_runtime()?;
            rt.block_on(async {
                let mut runtime = Runtime::new(loaded.config, Clock::System)?;
                runtime.set_notifier(crate::notify::Notifier::from_env());
                let shutdown = CancellationToken::new();
                let (hup, reloads) = tokio::sync::mpsc::unbounded_channel();
                tokio::spawn(signals(shutdown.clone(), hup));
                let reload = || {
                    Config::load(&path)
                        .map(|l| {
                            warn_all(&l);
                            l.config
                        })
                        .map_err(|e| e.to_string())
                };
                runtime::run_reloading(Arc::new(runtime), shutdown, reloads, reload).await?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Once { dry_run } => {
            let loaded = load(&path)?;
            init_logging(&cli, &loaded.config.daemon.log);
            warn_all(&loaded);
            tokio_runtime()?.block_on(once(loaded.config, *dry_run))
        }
        Command::Status { json } => {
            let cfg = load(&path)?.config;
            status(&cfg, *json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { path: dest } => {
            let cfg = load(&path)?.config;
            backup(&cfg, dest)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Mentions { select, json } => {
            let cfg = load(&path)?.config;
            let filter = mentions_filter(&cfg, select, Clock::System.now().timestamp())?;
            mentions(&cfg, &filter, *json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Digest {
            since,
            from,
            to,
            watch,
            format,
        } => {
            let cfg = load(&path)?.config;
            digest(&cfg, since, from, to, watch, *format, Clock::System.now())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::TestSink { id } => {
            let loaded = load(&path)?;
            init_logging(&cli, &loaded.config.daemon.log);
            tokio_runtime()?.block_on(test_sink(loaded.config, id))
        }
        Command::Silence { action } => {
            let cfg = load(&path)?.config;
            silence(&cfg, action)
        }
        Command::Ack { ids, by } => {
            let cfg = load(&path)?.config;
            ack(&cfg, ids, by.as_deref())
        }
        Command::RetryDead { sink } => {
            let cfg = load(&path)?.config;
            if let Some(s) = sink
                && cfg.sink(s).is_none()
            {
                bail!("no sink has id {s:?}");
            }
            let store = Store::open_unchecked(&cfg.db_path())?;
            let n = store.retry_dead(sink.as_deref(), Clock::System.now().timestamp())?;
            println!(
                "{n} dead deliver{} queued again; a running daemon sends them within a minute",
                if n == 1 { "y" } else { "ies" }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `earshot backup PATH`: reads through its own read-only connection, so it runs beside the
/// daemon (which goes on writing) and as any user who may read the database.
fn backup(cfg: &Config, dest: &Path) -> Result<()> {
    let db = cfg.db_path();
    let store = Store::open_read_only(&db)?;
    let report = store.backup(dest)?;
    println!(
        "backed up {} to {}: {} bytes ({:.1} MiB), {} mention{}",
        db.display(),
        dest.display(),
        report.bytes,
        report.bytes as f64 / 1_048_576.0,
        report.mentions,
        if report.mentions == 1 { "" } else { "s" }
    );
    Ok(())
}

/// `earshot ack ID...`: works beside a running daemon (SQLite serialises the writes), which
/// sends the edits it enqueues within a minute.
fn ack(cfg: &Config, ids: &[i64], by: Option<&str>) -> Result<ExitCode> {
    let store = Store::open_unchecked(&cfg.db_path())?;
    let by = by
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".into());
    let editable = cfg.editable_sinks();
    let known = store.acks(ids)?;
    let done = store.ack(ids, &by, Clock::System.now().timestamp(), &editable)?;
    let mut code = ExitCode::SUCCESS;
    for id in ids {
        match known.iter().find(|(k, _)| k == id) {
            None => {
                eprintln!("no mention has id {id}: see `earshot mentions`");
                code = ExitCode::FAILURE;
            }
            Some(_) if done.contains(id) => println!("mention {id} acknowledged by {by}"),
            Some((_, Some((at, who)))) => {
                println!(
                    "mention {id} was already acknowledged by {who} at {}",
                    ts_label(*at)
                )
            }
            Some((_, None)) => println!("mention {id} acknowledged"),
        }
    }
    Ok(code)
}

/// `earshot silence ...`.
fn silence(cfg: &Config, action: &SilenceAction) -> Result<ExitCode> {
    let now = Clock::System.now().timestamp();
    match action {
        SilenceAction::Add {
            watch,
            source,
            author,
            query,
            duration,
            comment,
            by,
        } => {
            if watch.is_none() && source.is_none() && author.is_none() && query.is_none() {
                bail!("say what to silence: --watch, --source, --author and/or --query");
            }
            if let Some(w) = watch
                && !cfg.watches.iter().any(|x| &x.name == w)
            {
                bail!("no watch is named {w:?}");
            }
            if let Some(s) = source
                && cfg.source(s).is_none()
            {
                bail!("no source has id {s:?}");
            }
            if let Some(q) = query {
                crate::query::Query::parse(q).map_err(|e| anyhow::anyhow!("--query: {e}"))?;
            }
            let d = crate::duration::parse_duration(duration)
                .map_err(|e| anyhow::anyhow!("--for: {e}"))?;
            if d < std::time::Duration::from_secs(60)
                || d > std::time::Duration::from_secs(90 * 86_400)
            {
                bail!("--for must be between 1m and 90d");
            }
            if comment.trim().is_empty() {
                bail!("--comment must say why (it is shown on the sinks)");
            }
            let new = crate::store::NewSilence {
                watch: watch.clone(),
                source_id: source.clone(),
                author: author.clone(),
                query: query.clone(),
                comment: comment.trim().to_string(),
                created_by: by
                    .clone()
                    .or_else(|| std::env::var("USER").ok())
                    .unwrap_or_else(|| "cli".into()),
                ends_at: now + d.as_secs() as i64,
            };
            let store = Store::open_unchecked(&cfg.db_path())?;
            let s = store.add_silence(&new, now, |s| {
                crate::pipeline::silence_announcement(cfg, s, SilenceChange::Added, now)
            })?;
            println!(
                "silence {} added: {} until {}; matching mentions are stored, not sent",
                s.id,
                s.matchers(),
                ts_label(s.ends_at)
            );
            Ok(ExitCode::SUCCESS)
        }
        SilenceAction::List { all, json } => {
            let store = Store::open_read_only(&cfg.db_path())?;
            let counts = store.silenced_counts()?;
            let held = |id: i64| counts.iter().find(|(s, _)| *s == id).map_or(0, |(_, n)| *n);
            let mut out = std::io::stdout().lock();
            let list = store.silences(now, *all)?;
            if *json {
                for s in &list {
                    let mut v = serde_json::to_value(s)?;
                    v["active"] = serde_json::json!(s.is_active(now));
                    v["held"] = serde_json::json!(held(s.id));
                    writeln!(out, "{v}")?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            if list.is_empty() {
                writeln!(out, "no {}silences", if *all { "" } else { "active " })?;
            }
            for s in &list {
                writeln!(
                    out,
                    "{:>4}  {:<8} {:<40} until {}  held {}  by {}: {}",
                    s.id,
                    if s.is_active(now) { "active" } else { "ended" },
                    one_line(&s.matchers()),
                    ts_label(s.expired_at.unwrap_or(s.ends_at)),
                    held(s.id),
                    one_line(&s.created_by),
                    one_line(&s.comment)
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        SilenceAction::Expire { id } => {
            let store = Store::open_unchecked(&cfg.db_path())?;
            match store.expire_silence(*id, now, |s| {
                crate::pipeline::silence_announcement(cfg, s, SilenceChange::Expired, now)
            })? {
                Some(s) => {
                    println!("silence {} expired: {}", s.id, s.matchers());
                    Ok(ExitCode::SUCCESS)
                }
                None => bail!("no active silence has id {id}: see `earshot silence list --all`"),
            }
        }
    }
}

fn ts_label(t: i64) -> String {
    crate::duration::utc_minute(t)
}

/// The flags of `earshot mentions` that select rows.
#[derive(Debug, clap::Args)]
pub struct MentionArgs {
    #[arg(long)]
    watch: Option<String>,
    #[arg(long)]
    source: Option<String>,
    /// Only mentions seen within this long (`24h`, `7d`).
    #[arg(long, value_name = "DURATION")]
    since: Option<String>,
    /// Only mentions seen at or after this time (RFC 3339, e.g. 2026-05-01T00:00:00Z).
    #[arg(long, value_name = "TIME", conflicts_with = "since")]
    from: Option<String>,
    /// Only mentions seen before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Least urgency level: low, normal, high, critical.
    #[arg(long, value_name = "LEVEL")]
    min_urgency: Option<String>,
    #[arg(long, value_enum)]
    sentiment: Option<SentimentArg>,
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

/// Checks the flags of `earshot mentions` against the config and turns them into a store
/// query. Names are checked here, because the store would silently return no rows.
fn mentions_filter(cfg: &Config, args: &MentionArgs, now: i64) -> Result<MentionFilter> {
    let MentionArgs {
        watch,
        source,
        since,
        from,
        to,
        min_urgency,
        sentiment,
        limit,
    } = args;
    let limit = *limit;
    if limit == 0 {
        bail!("--limit 0: give a positive number of mentions to list (default 50)");
    }
    if let Some(w) = watch
        .as_deref()
        .filter(|w| !cfg.watches.iter().any(|x| x.name == *w))
    {
        return Err(not_configured(
            format!("--watch {w:?}: no such watch"),
            cfg.watches.iter().map(|x| x.name.as_str()),
        ));
    }
    if let Some(x) = source.as_deref().filter(|x| cfg.source(x).is_none()) {
        return Err(not_configured(
            format!("--source {x:?}: no such source"),
            cfg.sources.iter().map(|x| x.id.as_str()),
        ));
    }
    let since = match (since, from) {
        (Some(s), _) => {
            let d = parse_duration(s).map_err(|e| anyhow::anyhow!("--since: {e}"))?;
            Some(now - d.as_secs().min(i64::MAX as u64 / 2) as i64)
        }
        (None, Some(f)) => Some(parse_time(f, "--from")?),
        (None, None) => None,
    };
    let until = to.as_deref().map(|t| parse_time(t, "--to")).transpose()?;
    let min_level =
        match min_urgency {
            Some(l) => Some(Level::parse(l).with_context(|| {
                format!("--min-urgency {l:?}: use low, normal, high or critical")
            })?),
            None => None,
        };
    Ok(MentionFilter {
        watch: watch.clone(),
        source: source.clone(),
        since,
        until,
        min_level,
        sentiment: sentiment.map(|s| match s {
            SentimentArg::Positive => SentimentBucket::Positive,
            SentimentArg::Neutral => SentimentBucket::Neutral,
            SentimentArg::Negative => SentimentBucket::Negative,
        }),
        limit,
        ..Default::default()
    })
}

/// "`what` (configured: a, b)": an unknown name, with the names that would have worked.
/// How `earshot digest` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DigestFormat {
    Markdown,
    Json,
    Csv,
    /// The web page, charts included, as one self-contained file.
    Html,
}

fn digest(
    cfg: &Config,
    since: &Option<String>,
    from: &Option<String>,
    to: &Option<String>,
    watches: &[String],
    format: DigestFormat,
    now: DateTime<Utc>,
) -> Result<()> {
    let at = |t: i64| DateTime::from_timestamp(t, 0).unwrap_or_default();
    let (start, end) = match (from, to) {
        (Some(f), Some(t)) => (at(parse_time(f, "--from")?), at(parse_time(t, "--to")?)),
        _ => {
            let d = parse_duration(since.as_deref().unwrap_or("24h"))
                .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
            let d = chrono::Duration::from_std(d)
                .ok()
                .filter(|d| *d <= chrono::Duration::days(3660))
                .context("--since: at most 3660d")?;
            (now - d, now)
        }
    };
    if end <= start {
        bail!("--to must be after --from");
    }
    for w in watches {
        if !cfg.watches.iter().any(|x| x.name == *w) {
            return Err(not_configured(
                format!("--watch {w:?}: no such watch"),
                cfg.watches.iter().map(|x| x.name.as_str()),
            ));
        }
    }
    let store = Store::open_read_only(&cfg.db_path())?;
    let d = crate::digest::compute(
        &store,
        &crate::digest::Request {
            from: start,
            to: end,
            watches: watches.to_vec(),
        },
    )?;
    let text = match format {
        DigestFormat::Markdown => crate::digest::render_markdown(&d),
        DigestFormat::Json => crate::digest::render_json(&d),
        DigestFormat::Csv => crate::digest::render_csv(&d),
        DigestFormat::Html => {
            let days = crate::web::daily(&store, &d.watches, d.to)?;
            let title = format!(
                "earshot digest: {}",
                crate::digest::watches_label(&d.watches)
            );
            let known: Vec<String> = cfg.watches.iter().map(|w| w.name.clone()).collect();
            crate::web::render_page(
                &d,
                &days,
                &crate::web::PageContext {
                    title: &title,
                    known_watches: &known,
                    since: since.as_deref().or(Some("24h")).filter(|_| from.is_none()),
                },
            )
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

fn not_configured<'a>(what: String, known: impl Iterator<Item = &'a str>) -> anyhow::Error {
    let known: Vec<&str> = known.collect();
    anyhow::anyhow!("{what} (configured: {})", known.join(", "))
}

fn parse_time(s: &str, flag: &str) -> Result<i64> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .with_context(|| {
            format!("{flag} {s:?}: write an RFC 3339 time such as 2026-05-01T00:00:00Z")
        })
}

fn tokio_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn init_logging(cli: &Cli, default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = cli
        .log_level
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| default.to_string());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Under systemd the journal stamps each line already: no second timestamp.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    // Colours for a person at a terminal only: not in a file, a pipe or the journal, and not
    // when NO_COLOR (https://no-color.org) is set.
    let colour = {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match (cli.log_format, journald) {
        (LogFormat::Json, _) => builder.json().try_init(),
        (LogFormat::Text, true) => builder.without_time().with_ansi(false).try_init(),
        (LogFormat::Text, false) => builder.with_ansi(colour).try_init(),
    };
}

fn warn_all(loaded: &Loaded) {
    for w in &loaded.warnings {
        tracing::warn!(problem = %w, "Config warning");
    }
}

/// SIGTERM and SIGINT stop the daemon (a second one: at once); SIGHUP asks for a reload.
async fn signals(shutdown: CancellationToken, reload: tokio::sync::mpsc::UnboundedSender<()>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::error!("Cannot listen for signals; stop earshot with SIGKILL");
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: re-reading the config");
                    let _ = reload.send(());
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = reload;
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    shutdown.cancel();
    // A second signal means "now": deliveries in flight are retried at the next start.
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            eprintln!("second signal: exiting now");
            std::process::exit(130);
        }
    }
}

fn check(path: &Path) -> ExitCode {
    let loaded = match Config::load(path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("configuration test failed");
            return ExitCode::FAILURE;
        }
    };
    let cfg = &loaded.config;
    // Build every sink as `run` will, secrets read and URLs checked: a config that passes
    // here must not fail at start.
    let mut problems = Vec::new();
    for s in &cfg.sources {
        if let Err(e) = earshot_connectors::Connector::new(&s.platform) {
            problems.push(format!("source {:?}: {}", s.id, runtime::source_error(&e)));
        }
    }
    for s in &cfg.sinks {
        if let Err(e) = crate::sink::Sink::from_config(s) {
            problems.push(e.to_string());
            continue;
        }
        // A target written as a non-public address is refused at every send: say so now.
        if !(s.allow_private || cfg.daemon.allow_private_networks) {
            let url = s.url.as_ref().and_then(|u| u.resolve().ok());
            let targets = [
                ("url", url.as_ref().map(|u| u.expose().to_string())),
                ("base_url", s.base_url.clone()),
            ];
            for (key, target) in targets {
                if let Some(Err(m)) = target
                    .and_then(|t| url::Url::parse(&t).ok())
                    .map(|u| earshot_connectors::netguard::check_url(&u))
                {
                    problems.push(format!("sink {}: {key}: {m}", s.id));
                }
            }
        }
    }
    if !problems.is_empty() {
        eprintln!(
            "{}: {} problem{}",
            path.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        for p in problems {
            eprintln!("  - {p}");
        }
        eprintln!("configuration test failed");
        return ExitCode::FAILURE;
    }
    println!("{}: configuration is valid", path.display());
    println!("  state:   {}", cfg.db_path().display());
    println!("  sources: {}", cfg.sources.len());
    for s in &cfg.sources {
        let when = match runtime::Schedule::of(s) {
            runtime::Schedule::Every(d) => format!("every {}", crate::duration::format_duration(d)),
            runtime::Schedule::Cron(c) => format!("cron {c}"),
        };
        let flags = [
            (!s.enabled).then_some("disabled"),
            s.backfill.then_some("backfill"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        println!(
            "    {:<20} {:<13} {when}{}",
            s.id,
            s.kind(),
            if flags.is_empty() {
                String::new()
            } else {
                format!(" ({flags})")
            }
        );
    }
    println!("  watches: {}", cfg.watches.len());
    for w in &cfg.watches {
        let tags = if w.tags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", w.tags.join(", "))
        };
        println!("    {:<20} {}{tags}", w.name, w.query);
    }
    println!("  sinks:   {}", cfg.sinks.len());
    for s in &cfg.sinks {
        println!("    {:<20} {}", s.id, s.kind.as_str());
    }
    println!("  routes:  {}", cfg.routes.len());
    for r in &cfg.routes {
        let mut matchers: Vec<String> = Vec::new();
        let mut list = |name: &str, values: Option<Vec<String>>| {
            if let Some(v) = values {
                matchers.push(format!("{name} {}", v.join(",")));
            }
        };
        list("sources", r.sources.clone());
        list("kinds", r.source_kinds.clone());
        list(
            "sentiment",
            r.sentiment
                .as_ref()
                .map(|s| s.iter().map(|b| b.as_str().to_string()).collect()),
        );
        list("lang", r.lang.clone());
        list("tags", r.tags.clone());
        let what = if r.default {
            "default".to_string()
        } else {
            r.watch.clone().unwrap_or_else(|| "*".into())
        };
        println!(
            "    {what}{} -> {} (min {}){}",
            if matchers.is_empty() {
                String::new()
            } else {
                format!(" [{}]", matchers.join("; "))
            },
            r.sinks.join(", "),
            r.min_urgency.as_str(),
            if r.continue_matching {
                ", continue"
            } else {
                ""
            }
        );
    }
    for w in &loaded.warnings {
        println!("warning: {w}");
    }
    println!("configuration test is successful");
    ExitCode::SUCCESS
}

fn score(rules: &Rules, json: bool) -> Result<()> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).context("reading stdin")? == 0 {
            break;
        }
        // Text from anywhere: invalid UTF-8 is replaced, never fatal.
        let line = String::from_utf8_lossy(&buf)
            .trim_end_matches(['\n', '\r'])
            .to_string();
        if line.trim().is_empty() {
            continue;
        }
        let m = earshot_connectors::Mention {
            text: line.clone(),
            ..Default::default()
        };
        let s = pipeline::score(&m, rules, None);
        if json {
            let v = serde_json::json!({
                "text": line,
                "compound": s.sentiment.compound,
                "pos": s.sentiment.pos,
                "neu": s.sentiment.neu,
                "neg": s.sentiment.neg,
                "urgency": s.urgency,
                "level": s.level,
                "reasons": s.reasons,
            });
            writeln!(out, "{v}")?;
        } else {
            writeln!(
                out,
                "{:>7.4}  {:>3} {:<8}  {}  [{}]",
                s.sentiment.compound,
                s.urgency,
                s.level.as_str(),
                line,
                s.reasons.join("; ")
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

async fn once(cfg: Config, dry_run: bool) -> Result<ExitCode> {
    if dry_run {
        return dry_run_once(cfg).await;
    }
    let rt = Runtime::new(cfg, Clock::System)?;
    let now = rt.now();
    let mut failed = 0;
    for s in rt.config.sources.iter().filter(|s| s.enabled) {
        let r = rt.poll(s, now).await?;
        match &r.error {
            Some(e) => {
                failed += 1;
                eprintln!("{}: failed: {e}", r.source_id);
            }
            None if r.seeding => eprintln!(
                "{}: first poll: recorded {} item(s), {} matching, without alerting (set backfill = true to alert)",
                r.source_id, r.commit.new_items, r.commit.new_mentions
            ),
            None => eprintln!(
                "{}: {} item(s){}, {} new, {} matching, {} alert(s) queued",
                r.source_id,
                r.fetched,
                if r.not_modified {
                    " (not modified)"
                } else {
                    ""
                },
                r.commit.new_items,
                r.commit.new_mentions,
                r.commit.enqueued
            ),
        }
    }
    // Escalations whose time came (a cron'd `once` escalates as the daemon would).
    rt.escalate_due(rt.now())?;
    rt.end_silences(rt.now())?;
    rt.send_due_digests(rt.now())?;
    rt.check_spikes(rt.now())?;
    let d = rt
        .deliver_all_due(rt.now(), &CancellationToken::new())
        .await?;
    eprintln!(
        "delivered {}, retrying later {}, dead {}",
        d.sent, d.retrying, d.dead
    );
    Ok(if failed > 0 || d.dead > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Fetches and judges like `once`, but writes nothing and sends nothing.
async fn dry_run_once(cfg: Config) -> Result<ExitCode> {
    // Read what is stored, if anything, without creating or changing a thing.
    let store = if cfg.db_path().exists() {
        Store::open_read_only(&cfg.db_path())?
    } else {
        Store::open_in_memory()?
    };
    let rt = Runtime::with_store(cfg, Arc::new(store), Clock::System)?;
    let now = rt.now();
    let mut out = std::io::stdout().lock();
    for s in rt.config.sources.iter().filter(|s| s.enabled) {
        let (_, state, alert) = rt.poll_state(s)?;
        let Some(connector) = rt.connector(&s.id) else {
            continue;
        };
        let outcome = match connector.fetch(&rt.fetcher_for(s), &state).await {
            Ok(o) => o,
            Err(e) => {
                writeln!(out, "# {}: fetch failed: {e}", s.id)?;
                continue;
            }
        };
        if let Some(n) = &outcome.notice {
            let what = if n.degraded { "degraded" } else { "note" };
            writeln!(out, "# {}: {what}: {}", s.id, n.message)?;
        }
        let judged = rt.judge(s, outcome.mentions, alert, now)?;
        writeln!(
            out,
            "# {}: {} new item(s), {} matching{}",
            s.id,
            judged.new_items,
            judged.mentions.len(),
            if alert {
                ""
            } else {
                " (first poll: would record without alerting)"
            }
        )?;
        for m in judged.mentions {
            for d in m.deliveries {
                let preview = rt
                    .sink(&d.sink_id)
                    .map(|k| k.preview(&d.alert, now))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "## would send to {} ({} {}):\n{preview}",
                    d.sink_id,
                    d.alert.level.as_str(),
                    d.alert.urgency
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn test_sink(cfg: Config, id: &str) -> Result<ExitCode> {
    if cfg.sink(id).is_none() {
        return Err(not_configured(
            format!("no sink has id {id:?}"),
            cfg.sinks.iter().map(|s| s.id.as_str()),
        ));
    }
    let store = Arc::new(Store::open_in_memory()?);
    let rt = Runtime::with_store(cfg, store, Clock::System)?;
    let sink = rt.sink(id).context("sink vanished")?;
    let mut alert = Alert::sample();
    alert.title = Some("earshot test alert: if you can read this, the sink works".into());
    match sink.send(rt.http_client(id), &alert).await {
        Ok(_) => {
            println!("sent a sample alert to {id}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("sending to {id} failed: {}", e.message);
            Ok(ExitCode::FAILURE)
        }
    }
}

fn ago(now: i64, t: Option<i64>) -> String {
    match t {
        None => "never".into(),
        Some(t) if (t - now).abs() < 1 => "just now".into(),
        Some(t) if t > now => format!(
            "in {}",
            crate::duration::format_duration(std::time::Duration::from_secs((t - now) as u64))
        ),
        Some(t) => format!(
            "{} ago",
            crate::duration::format_duration(std::time::Duration::from_secs((now - t) as u64))
        ),
    }
}

/// Deliveries `status` lists per sink, newest first.
const RECENT_PER_SINK: usize = 5;

fn status(cfg: &Config, json: bool) -> Result<()> {
    let store = Store::open_read_only(&cfg.db_path())?;
    let now = Clock::System.now().timestamp();
    let health = crate::health::Health::read(cfg, &store, now);
    if let Some(e) = &health.store.error {
        anyhow::bail!("cannot read the database {}: {e}", cfg.db_path().display());
    }
    let daemon = Daemon::ask(cfg);
    let dead = store.dead_letters(10)?;
    let mut recent = Vec::new();
    for s in &health.sinks {
        recent.push((
            s.id.clone(),
            store.recent_deliveries(&s.id, RECENT_PER_SINK)?,
        ));
    }
    let delivery = |d: &crate::store::Delivery| {
        serde_json::json!({
            "id": d.id, "sink_id": d.sink_id, "watch": d.watch, "status": d.status,
            "attempts": d.attempts, "created_at": d.created_at, "sent_at": d.sent_at,
            "error": d.last_error, "title": d.alert.title, "url": d.alert.url,
        })
    };
    if json {
        let mut v = serde_json::to_value(&health)?;
        v["running"] = serde_json::json!(daemon.pid.is_some());
        v["pid"] = serde_json::json!(daemon.pid);
        if let Some(d) = &daemon.health {
            v["daemon"] = d.clone();
        }
        v["recent_deliveries"] = recent
            .iter()
            .map(|(id, rows)| (id.clone(), rows.iter().map(delivery).collect()))
            .collect::<serde_json::Map<String, serde_json::Value>>()
            .into();
        v["dead_letters"] = dead.iter().map(delivery).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{}", daemon.line(now));
    println!("\nSOURCES");
    println!(
        "  {:<20} {:<13} {:<14} {:<14} {:<14} NOTE",
        "ID", "KIND", "HEALTH", "LAST SUCCESS", "NEXT POLL"
    );
    for (s, h) in cfg.sources.iter().zip(&health.sources) {
        let state = match h.state {
            crate::health::State::Failing => format!("failing ({})", h.consecutive_failures),
            crate::health::State::Waiting => "not polled".to_string(),
            other => other.as_str().to_string(),
        };
        let next = match runtime::Schedule::of(s) {
            _ if h.consecutive_failures > 0 || !s.enabled => ago(now, h.next_poll_at),
            runtime::Schedule::Cron(c) => format!("cron {c}"),
            _ => ago(now, h.next_poll_at),
        };
        // The failure if failing, else what the connector said (a degraded mode, a budget).
        let note = if h.consecutive_failures > 0 {
            h.last_error.as_deref()
        } else {
            h.notice.as_deref()
        };
        println!(
            "  {:<20} {:<13} {:<14} {:<14} {:<14} {}",
            h.id,
            h.kind,
            state,
            ago(now, h.last_success_at),
            next,
            one_line(note.unwrap_or(""))
        );
    }
    println!("\nSINKS");
    println!(
        "  {:<20} {:<8} {:<9} {:>8} {:>8} {:>8} {:>6} {:<14} OLDEST PENDING",
        "ID", "KIND", "HEALTH", "PENDING", "RETRYING", "SENT", "DEAD", "LAST SENT"
    );
    for h in &health.sinks {
        println!(
            "  {:<20} {:<8} {:<9} {:>8} {:>8} {:>8} {:>6} {:<14} {}",
            h.id,
            h.kind.as_deref().unwrap_or("?"),
            h.state.as_str(),
            h.pending,
            h.retrying,
            h.sent,
            h.dead,
            ago(now, h.last_sent_at),
            h.oldest_pending_at
                .map(|t| ago(now, Some(t)))
                .unwrap_or_else(|| "-".into())
        );
        if h.kind.is_none() {
            println!("      no longer configured: its deliveries wait for it to return");
        }
        if let Some(e) = h.last_error.as_deref().filter(|_| h.retrying + h.dead > 0) {
            println!("      last error: {}", one_line(e));
        }
    }
    if recent.iter().any(|(_, rows)| !rows.is_empty()) {
        println!("\nRECENT DELIVERIES (newest first, {RECENT_PER_SINK} per sink)");
        for (id, rows) in recent.iter().filter(|(_, rows)| !rows.is_empty()) {
            println!("  {id}");
            for d in rows {
                let state = match d.status {
                    crate::store::DeliveryStatus::Sent => format!("sent {}", ago(now, d.sent_at)),
                    crate::store::DeliveryStatus::Dead => "dead".to_string(),
                    crate::store::DeliveryStatus::Pending if d.attempts > 0 => {
                        format!("retrying ({} failed)", d.attempts)
                    }
                    crate::store::DeliveryStatus::Pending => "pending".to_string(),
                };
                let error = match d.status {
                    crate::store::DeliveryStatus::Sent => "",
                    _ => d.last_error.as_deref().unwrap_or(""),
                };
                // Stored text came from the outside: no escape sequence reaches the terminal.
                let title = d
                    .alert
                    .title
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .unwrap_or(&d.alert.text);
                let title: String = one_line(title).chars().take(50).collect();
                println!(
                    "    #{:<6} {:<18} {:<12} {title}  {}",
                    d.id,
                    state,
                    d.watch,
                    one_line(error)
                );
            }
        }
    }
    if !dead.is_empty() {
        println!("\nDEAD LETTERS (newest first; `earshot retry-dead` sends them again)");
        for d in &dead {
            println!(
                "  #{:<6} {:<16} {:<12} {}  {}",
                d.id,
                d.sink_id,
                d.watch,
                one_line(d.last_error.as_deref().unwrap_or("")),
                one_line(d.alert.url.as_deref().unwrap_or(""))
            );
        }
    }
    Ok(())
}

/// What `status` learns of a running daemon: its pid from the state directory's lock file,
/// and its own account (`/healthz`) when its listener answers.
struct Daemon {
    pid: Option<u32>,
    /// The `daemon` part of its `/healthz`.
    health: Option<serde_json::Value>,
    /// Where it was asked, when it was.
    asked: Option<std::net::SocketAddr>,
}

impl Daemon {
    fn ask(cfg: &Config) -> Daemon {
        let pid = runtime::state_dir_holder(&cfg.daemon.state_dir);
        let asked = cfg.http.listen_addr().map(|mut a| {
            // A listener on every address is reached on this machine's loopback.
            if a.ip().is_unspecified() {
                a.set_ip(match a {
                    std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            a
        });
        let health = match (pid, asked) {
            (Some(_), Some(addr)) => fetch_health(addr),
            _ => None,
        };
        Daemon { pid, health, asked }
    }

    /// One line: running or not, ready, since when, how its reloads went.
    fn line(&self, now: i64) -> String {
        let version = env!("CARGO_PKG_VERSION");
        let Some(pid) = self.pid else {
            return format!(
                "earshot {version} · not running (figures below are from the database)"
            );
        };
        let mut out = format!("earshot {version} · running (pid {pid})");
        let Some(d) = &self.health else {
            match self.asked {
                Some(a) => out.push_str(&format!(" · its listener on {a} did not answer")),
                None => out.push_str(" · listener off, so readiness and reloads are not shown"),
            }
            return out;
        };
        let ts = |v: &serde_json::Value| {
            v.as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp())
        };
        out.push_str(if d["ready"] == true {
            " · ready"
        } else {
            " · not ready"
        });
        if let Some(t) = ts(&d["started_at"]) {
            out.push_str(&format!(" · started {}", ago(now, Some(t))));
        }
        let (ok, failed) = (&d["reloads_ok"], &d["reloads_failed"]);
        out.push_str(&format!(" · reloads: {ok} ok, {failed} refused"));
        let last = &d["last_reload"];
        if last.is_object() {
            let when = ago(now, ts(&last["at"]));
            match last["error"].as_str() {
                Some(e) => out.push_str(&format!(
                    "\n  the last reload ({when}) was refused, the config before it runs: {}",
                    one_line(e)
                )),
                None => out.push_str(&format!(" (last {when})")),
            }
        }
        out
    }
}

/// The daemon's `/healthz`, `daemon` part; `None` when it does not answer within 2 s.
fn fetch_health(addr: std::net::SocketAddr) -> Option<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    // reqwest is built without a TLS provider of its own (see `Runtime::with_store`); this
    // plain-HTTP request needs one installed all the same. An error means one is already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(2))
            .no_proxy()
            .build()
            .ok()?;
        let v: serde_json::Value = client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(v.get("daemon")?.clone())
    })
}

fn mentions(cfg: &Config, f: &MentionFilter, json: bool) -> Result<()> {
    let store = Store::open_read_only(&cfg.db_path())?;
    let rows = store.mentions(f)?;
    let mut out = std::io::stdout().lock();
    if json {
        for r in rows {
            writeln!(out, "{}", serde_json::to_string(&r)?)?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<17} {:<14} {:<12} {:>9} {:>3} {:<8} TEXT",
        "SEEN (UTC)", "SOURCE", "WATCH", "SENTIMENT", "URG", "LEVEL"
    )?;
    for r in rows {
        let seen = DateTime::from_timestamp(r.seen_at, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        let text: String = one_line(
            r.title
                .as_deref()
                .filter(|t| !t.is_empty())
                .unwrap_or(&r.text),
        )
        .chars()
        .take(70)
        .collect();
        let text = match r.silenced_by {
            Some(id) => format!("[silenced by {id}] {text}"),
            None => text,
        };
        writeln!(
            out,
            "{seen:<17} {:<14} {:<12} {:>9.3} {:>3} {:<8} {text}",
            r.source_id,
            r.watches.join(","),
            r.compound,
            r.urgency,
            r.level
        )?;
    }
    Ok(())
}
