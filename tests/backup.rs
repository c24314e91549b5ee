//! Keeping the data safe on a small VM: backups taken while the daemon writes, the integrity
//! check at start, and what a full disk or a read-only database does (a clear message, the
//! database intact, nothing lost).

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use earshot::store::{CommitReport, NewMention, PollCommit, Scores, Store, StoreError};
use earshot_connectors::{Mention, SourceState};

/// A mention of `id`, its text padded to `len` characters so tests can fill pages quickly.
fn new_mention(id: &str, len: usize) -> NewMention {
    let mut text = format!("acme is down again, says {id} ");
    while text.len() < len {
        text.push_str("and again ");
    }
    NewMention {
        mention: Mention {
            platform_id: id.into(),
            text,
            url: Some(format!("https://example.com/{id}")),
            ..Default::default()
        },
        lang: Some("en".into()),
        scores: Scores::default(),
        watches: vec!["acme".into()],
        deliveries: Vec::new(),
        silenced_by: None,
        escalation: None,
    }
}

/// Commits one poll of source "blog" with cursor `cursor`, whose items are `ids`.
fn poll(
    store: &Store,
    now: i64,
    cursor: &str,
    ids: &[String],
    len: usize,
) -> earshot::store::Result<CommitReport> {
    let state = SourceState {
        cursor: Some(cursor.into()),
        ..Default::default()
    };
    store.commit_poll(&PollCommit {
        source_id: "blog",
        source_kind: "feed",
        now,
        state: &state,
        seen_ids: ids.to_vec(),
        mentions: ids.iter().map(|id| new_mention(id, len)).collect(),
        next_poll_at: now + 600,
        notice: None,
    })
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn mention_count(store: &Store) -> usize {
    store
        .mentions(&earshot::store::MentionFilter {
            limit: 1_000_000,
            ..Default::default()
        })
        .unwrap()
        .len()
}

fn cursor(store: &Store) -> Option<String> {
    store.source("blog").unwrap().and_then(|r| r.state.cursor)
}

#[test]
fn a_backup_from_a_read_only_store_beside_the_writer_has_everything() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("earshot.db");
    let writer = Store::open(&db).unwrap();
    poll(&writer, 1_000, "c1", &ids("a", 40), 200).unwrap();
    poll(&writer, 2_000, "c2", &ids("b", 25), 200).unwrap();

    // As `earshot backup` does beside a running daemon: its own read-only connection, while
    // the writer keeps its connection (and its write-ahead log, not yet checkpointed).
    let reader = Store::open_read_only(&db).unwrap();
    let dest = dir.path().join("copy.db");
    let report = reader.backup(&dest).unwrap();
    assert_eq!(report.mentions, 65);
    assert_eq!(report.bytes, std::fs::metadata(&dest).unwrap().len());
    assert!(report.bytes > 0);

    // Written after the backup: not in the copy, which is one snapshot.
    poll(&writer, 3_000, "c3", &ids("c", 5), 200).unwrap();
    assert_eq!(mention_count(&writer), 70);

    let copy = Store::open(&dest).unwrap();
    assert_eq!(mention_count(&copy), 65);
    let source = copy.source("blog").unwrap().unwrap();
    assert_eq!(source.state.cursor.as_deref(), Some("c2"));
    assert_eq!(source.polls, 2);
    // Items seen are copied too, so a restored daemon does not alert on them again.
    assert!(copy.unseen("blog", &ids("b", 25)).unwrap().is_empty());
    copy.quick_check().unwrap();
}

#[test]
fn a_backup_from_the_writing_store_works_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("earshot.db")).unwrap();
    poll(&store, 1_000, "c1", &ids("a", 3), 50).unwrap();
    let dest = dir.path().join("copy.db");
    assert_eq!(store.backup(&dest).unwrap().mentions, 3);
    assert_eq!(mention_count(&Store::open(&dest).unwrap()), 3);
}

#[test]
fn a_backup_never_overwrites_and_says_why_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("earshot.db");
    let store = Store::open(&db).unwrap();
    poll(&store, 1_000, "c1", &ids("a", 3), 50).unwrap();

    let older = dir.path().join("older.db");
    std::fs::write(&older, b"yesterday's backup").unwrap();
    let e = store.backup(&older).unwrap_err();
    assert!(matches!(e, StoreError::Backup { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("already there"), "{msg}");
    assert!(msg.contains("choose a new name"), "{msg}");
    assert_eq!(std::fs::read(&older).unwrap(), b"yesterday's backup");

    // Not even the live database itself.
    let msg = store.backup(&db).unwrap_err().to_string();
    assert!(msg.contains("already there"), "{msg}");
    store.quick_check().unwrap();
    assert_eq!(mention_count(&store), 3);

    let missing = dir.path().join("no/such/dir/copy.db");
    let msg = store.backup(&missing).unwrap_err().to_string();
    assert!(msg.contains("does not exist"), "{msg}");
    assert!(msg.contains("mkdir -p"), "{msg}");
    assert!(!missing.exists());

    // A directory where a file should be is neither overwritten nor written into.
    let msg = store.backup(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("already there"), "{msg}");
}

/// A real database of about 300 pages, closed (its write-ahead log folded in and removed).
fn closed_db(dir: &Path) -> PathBuf {
    let db = dir.join("earshot.db");
    let store = Store::open(&db).unwrap();
    for round in 0..4 {
        poll(
            &store,
            1_000 + round,
            "c",
            &ids(&format!("r{round}-"), 50),
            4_000,
        )
        .unwrap();
    }
    drop(store);
    assert!(!dir.join("earshot.db-wal").exists());
    db
}

#[test]
fn a_backup_with_the_daemon_stopped_leaves_the_original_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = closed_db(dir.path());
    let before = std::fs::read(&db).unwrap();
    let dest = dir.path().join("copy.db");
    let report = Store::open_read_only(&db).unwrap().backup(&dest).unwrap();
    assert_eq!(report.mentions, 200);
    // The original is untouched, and the copy is one self-contained file, with no -wal or
    // -journal of its own. (A read-only connection leaves the original's empty -wal and -shm
    // behind, as `status` does; the daemon uses them as they are.)
    assert_eq!(std::fs::read(&db).unwrap(), before);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("copy"))
        .collect();
    names.sort();
    assert_eq!(names, ["copy.db"]);
    assert_eq!(mention_count(&Store::open(&dest).unwrap()), 200);
    assert_eq!(mention_count(&Store::open(&db).unwrap()), 200);
}

fn overwrite(path: &Path, at: u64, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn pages_damaged_in_the_middle_are_found_at_open_and_name_the_readme_section() {
    let dir = tempfile::tempdir().unwrap();
    let db = closed_db(dir.path());
    let len = std::fs::metadata(&db).unwrap().len();
    assert!(len > 100 * 4096, "{len}");
    // Ten pages in the middle, garbage: the header and the schema (page 1) stay readable,
    // so the file opens, and only the check finds the damage.
    let garbage: Vec<u8> = (0..10 * 4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    overwrite(&db, (len / 4096 / 2) * 4096, &garbage);

    let e = Store::open(&db).unwrap_err();
    let StoreError::Damaged { path, detail } = &e else {
        panic!("not Damaged: {e:?}");
    };
    assert_eq!(path, &db.display().to_string());
    assert!(detail.starts_with("quick_check: "), "{detail}");
    let msg = e.to_string();
    assert!(msg.contains("is damaged"), "{msg}");
    assert!(msg.contains("restore the latest backup"), "{msg}");
    assert!(
        msg.contains("\"Backups and restore\" in the README"),
        "{msg}"
    );
    // The short commands beside a running daemon skip the check (the daemon made it at its
    // start); the explicit check still finds the damage.
    let store = Store::open_unchecked(&db).expect("opens without reading every page");
    assert!(matches!(
        store.quick_check(),
        Err(StoreError::Damaged { .. })
    ));
}

#[test]
fn a_file_that_is_not_a_database_is_called_damaged_too() {
    let dir = tempfile::tempdir().unwrap();
    let db = closed_db(dir.path());
    // The header and first page, garbage.
    overwrite(&db, 0, &[0x5a; 4096]);

    let e = Store::open(&db).unwrap_err();
    let StoreError::Damaged { detail, .. } = &e else {
        panic!("not Damaged: {e:?}");
    };
    assert!(!detail.starts_with("quick_check"), "{detail}");
    assert!(detail.contains("not a database"), "{detail}");
    assert!(e.to_string().contains("Backups and restore"), "{e}");
}

#[test]
fn a_full_disk_fails_the_poll_clearly_keeps_the_database_and_the_next_poll_stores_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("earshot.db");
    let store = Store::open(&db).unwrap();
    poll(&store, 1_000, "c1", &ids("early", 5), 200).unwrap();

    // The disk is full: the database may not grow by a single page.
    let cap = store.set_max_page_count(1).unwrap();
    assert!(cap > 1, "capped at its current size, {cap} pages");
    let batch = ids("late", 60);
    let e = poll(&store, 2_000, "c2", &batch, 4_000).unwrap_err();
    assert!(matches!(e, StoreError::Full { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!(
            "the disk holding {} is full",
            dir.path().display()
        )),
        "{msg}"
    );
    assert!(msg.contains("free some space"), "{msg}");
    assert!(!msg.contains("SQLITE"), "{msg}");

    // Intact, with everything from before, and nothing of the failed poll: its items are
    // unseen and its cursor not advanced, so the next poll fetches them again.
    store.quick_check().unwrap();
    assert_eq!(mention_count(&store), 5);
    assert_eq!(cursor(&store).as_deref(), Some("c1"));
    assert_eq!(store.unseen("blog", &batch).unwrap().len(), 60);

    // Space freed: the same items are stored, all of them, and the cursor moves on.
    store.set_max_page_count(1 << 30).unwrap();
    let r = poll(&store, 3_000, "c2", &batch, 4_000).unwrap();
    assert_eq!(r.new_mentions, 60);
    assert_eq!(r.new_items, 60);
    assert_eq!(mention_count(&store), 65);
    assert_eq!(cursor(&store).as_deref(), Some("c2"));
    drop(store);
    Store::open(&db).unwrap().quick_check().unwrap();
}

#[test]
fn a_database_that_cannot_be_written_says_read_only_and_where_to_look() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("earshot.db");
    let store = Store::open(&db).unwrap();
    poll(&store, 1_000, "c1", &ids("a", 2), 50).unwrap();
    // Opened with SQLITE_OPEN_READ_ONLY: what a write meets when the file or its directory
    // is not writable (tests may run as root, where chmod changes nothing).
    let ro = Store::open_read_only(&db).unwrap();

    let e = poll(&ro, 2_000, "c2", &ids("b", 2), 50).unwrap_err();
    assert!(matches!(e, StoreError::ReadOnly { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&db.display().to_string()), "{msg}");
    assert!(msg.contains("is read-only"), "{msg}");
    assert!(msg.contains("daemon.state_dir"), "{msg}");
    assert!(msg.contains("ReadWritePaths="), "{msg}");

    // Every write says so, not only the poll's.
    let e = ro
        .record_failure("blog", "feed", "boom", 2_000, 2_600)
        .unwrap_err();
    assert!(matches!(e, StoreError::ReadOnly { .. }), "{e:?}");
    assert_eq!(cursor(&store).as_deref(), Some("c1"));
}

#[test]
fn a_state_dir_that_is_a_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state");
    std::fs::write(&file, b"not a directory").unwrap();

    let msg = Store::open(&file.join("earshot.db"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("is a file, not a directory"), "{msg}");
    assert!(msg.contains("daemon.state_dir"), "{msg}");

    // Below it, the directory cannot be created at all.
    let msg = Store::open(&file.join("sub/earshot.db"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("cannot create"), "{msg}");
    assert!(msg.contains("daemon.state_dir"), "{msg}");
    // The daemon takes the directory's lock first: it says the same.
    let msg = earshot::runtime::lock_state_dir(&file)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("is a file, not a directory"), "{msg}");
}

// The command, as ops run it from cron.

fn earshot(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_earshot"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("EARSHOT_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn config(dir: &Path) -> PathBuf {
    let p = dir.join("earshot.toml");
    std::fs::write(
        &p,
        format!(
            r#"
            [daemon]
            allow_private_networks = true
            state_dir = "{}"
            [[source]]
            id = "blog"
            kind = "feed"
            url = "http://127.0.0.1:9/feed.xml"
            [[watch]]
            name = "acme"
            query = "acme"
            [[sink]]
            id = "out"
            kind = "stdout"
            [[route]]
            sinks = ["out"]
            "#,
            dir.join("state").display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn earshot_backup_copies_beside_a_writer_and_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    // A daemon's connection stays open with its writes still in the write-ahead log.
    let daemon = Store::open(&dir.path().join("state/earshot.db")).unwrap();
    poll(&daemon, 1_000, "c1", &ids("a", 12), 100).unwrap();
    assert!(dir.path().join("state/earshot.db-wal").exists());

    let dest = dir.path().join("backups/earshot-2026-05-01.db");
    std::fs::create_dir(dest.parent().unwrap()).unwrap();
    let o = earshot(&cfg, &["backup", dest.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let bytes = std::fs::metadata(&dest).unwrap().len();
    assert!(out.contains(&dest.display().to_string()), "{out}");
    assert!(out.contains(&format!("{bytes} bytes")), "{out}");
    assert!(out.contains("12 mentions"), "{out}");
    assert_eq!(mention_count(&Store::open(&dest).unwrap()), 12);

    // Again to the same name: refused, the first copy left alone, exit 1.
    let o = earshot(&cfg, &["backup", dest.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("already there"), "{err}");
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), bytes);

    let o = earshot(
        &cfg,
        &["backup", dir.path().join("nope/x.db").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not exist"),
        "{}",
        text(&o)
    );
    drop(daemon);
}

#[test]
fn earshot_backup_before_any_database_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let dest = dir.path().join("copy.db");
    let o = earshot(&cfg, &["backup", dest.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no database there yet"),
        "{}",
        text(&o)
    );
    assert!(!dest.exists());
}
