//! The store on a real SQLite file: one transaction per poll, dedupe, the outbox life cycle.

use earshot::alert::Alert;
use earshot::store::{
    DeliveryStatus, MentionFilter, NewDelivery, NewMention, PollCommit, Scores, SentimentBucket,
    Store,
};
use earshot::urgency::Level;
use earshot_connectors::{Mention, SourceState};

fn mention(id: &str, text: &str) -> Mention {
    Mention {
        platform_id: id.into(),
        text: text.into(),
        url: Some(format!("https://example.com/{id}")),
        ..Default::default()
    }
}

fn new_mention(id: &str, compound: f64, level: Level, sinks: &[&str]) -> NewMention {
    let mut alert = Alert::sample();
    alert.id = format!("msg_{id}");
    NewMention {
        mention: mention(id, &format!("text of {id}")),
        lang: Some("en".into()),
        scores: Scores {
            sentiment: earshot::sentiment::Sentiment {
                compound,
                ..Default::default()
            },
            urgency: 50,
            level,
            reasons: vec!["r".into()],
        },
        silenced_by: None,
        escalation: None,
        watches: vec!["acme".into()],
        deliveries: sinks
            .iter()
            .map(|s| NewDelivery {
                sink_id: s.to_string(),
                watch: "acme".into(),
                alert: alert.clone(),
                held_until: None,
                group: None,
                fingerprint: None,
            })
            .collect(),
    }
}

fn commit(
    store: &Store,
    now: i64,
    seen: &[&str],
    mentions: Vec<NewMention>,
) -> earshot::store::CommitReport {
    let state = SourceState {
        etag: Some(format!("\"e{now}\"")),
        ..Default::default()
    };
    store
        .commit_poll(&PollCommit {
            source_id: "blog",
            source_kind: "feed",
            now,
            state: &state,
            seen_ids: seen.iter().map(|s| s.to_string()).collect(),
            mentions,
            next_poll_at: now + 600,
            notice: None,
        })
        .unwrap()
}

#[test]
fn a_poll_is_committed_once_and_items_dedupe() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("sub/earshot.db")).unwrap();
    let r = commit(
        &store,
        1000,
        &["a", "b", "c"],
        vec![new_mention("a", -0.5, Level::High, &["slack", "discord"])],
    );
    assert_eq!((r.new_items, r.new_mentions, r.enqueued), (3, 1, 2));
    let unseen = store.unseen("blog", &["a".into(), "d".into()]).unwrap();
    assert_eq!(
        unseen.into_iter().collect::<Vec<_>>(),
        vec!["d".to_string()]
    );
    // The same mention again (a re-poll racing, an edit): nothing new, nothing enqueued.
    let r = commit(
        &store,
        1100,
        &["a", "d"],
        vec![new_mention("a", -0.5, Level::High, &["slack"])],
    );
    assert_eq!((r.new_items, r.new_mentions, r.enqueued), (1, 0, 0));
    let src = store.source("blog").unwrap().unwrap();
    assert_eq!(src.polls, 2);
    assert!(src.seeded);
    assert_eq!(src.state.etag.as_deref(), Some("\"e1100\""));
    assert_eq!(src.next_poll_at, Some(1700));
    // Reopening keeps everything (migrations are not re-run).
    drop(store);
    let store = Store::open(&dir.path().join("sub/earshot.db")).unwrap();
    assert_eq!(store.mentions(&MentionFilter::default()).unwrap().len(), 1);
}

#[test]
fn outbox_life_cycle() {
    let store = Store::open_in_memory().unwrap();
    commit(
        &store,
        1000,
        &["a", "b"],
        vec![
            new_mention("a", -0.5, Level::High, &["slack"]),
            new_mention("b", 0.5, Level::Low, &["slack"]),
        ],
    );
    let due = store.due_deliveries("slack", 1000, 10).unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].alert.id, "msg_a");
    assert!(store.due_deliveries("slack", 999, 10).unwrap().is_empty());
    store.mark_sent(due[0].id, 1001, None).unwrap();
    store.mark_retry(due[1].id, 1060, "HTTP 503").unwrap();
    let stats = store.sink_stats().unwrap();
    assert_eq!((stats[0].pending, stats[0].retrying), (1, 1));
    assert_eq!(stats[0].last_error.as_deref(), Some("HTTP 503"));
    assert!(!stats[0].dead_since_sent);
    let recent = store.recent_deliveries("slack", 5).unwrap();
    assert_eq!(
        recent.iter().map(|d| d.status).collect::<Vec<_>>(),
        [DeliveryStatus::Pending, DeliveryStatus::Sent],
        "newest first, whatever their state"
    );
    assert!(store.recent_deliveries("teams", 5).unwrap().is_empty());
    assert!(store.due_deliveries("slack", 1059, 10).unwrap().is_empty());
    assert_eq!(store.next_due_at("slack").unwrap(), Some(1060));
    let again = store.due_deliveries("slack", 1060, 10).unwrap();
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].last_error.as_deref(), Some("HTTP 503"));
    store
        .mark_dead(again[0].id, "HTTP 404: no_service")
        .unwrap();
    let stats = store.sink_stats().unwrap();
    assert_eq!((stats[0].pending, stats[0].sent, stats[0].dead), (0, 1, 1));
    assert_eq!(stats[0].retrying, 0);
    assert_eq!(
        stats[0].last_error.as_deref(),
        Some("HTTP 404: no_service"),
        "the newest error of a row still failing"
    );
    assert!(
        stats[0].dead_since_sent,
        "its newest finished delivery is dead"
    );
    assert_eq!(
        store.dead_letters(5).unwrap()[0].last_error.as_deref(),
        Some("HTTP 404: no_service")
    );
    assert_eq!(store.retry_dead(Some("slack"), 2000).unwrap(), 1);
    assert_eq!(store.due_deliveries("slack", 2000, 10).unwrap().len(), 1);
}

#[test]
fn failures_are_counted_and_cleared_by_success() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(
        store
            .record_failure("blog", "feed", "HTTP 503", 100, 160)
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .record_failure("blog", "feed", "timed out", 160, 280)
            .unwrap(),
        2
    );
    let s = store.source("blog").unwrap().unwrap();
    assert_eq!(
        (
            s.error_count,
            s.last_error.as_deref(),
            s.next_poll_at,
            s.seeded
        ),
        (2, Some("timed out"), Some(280), false)
    );
    commit(&store, 300, &[], vec![]);
    let s = store.source("blog").unwrap().unwrap();
    assert_eq!(
        (s.error_count, s.last_success_at, s.seeded),
        (0, Some(300), true)
    );
}

#[test]
fn mentions_filter() {
    let store = Store::open_in_memory().unwrap();
    commit(
        &store,
        1000,
        &["a"],
        vec![new_mention("a", -0.6, Level::Critical, &[])],
    );
    commit(
        &store,
        2000,
        &["b"],
        vec![new_mention("b", 0.7, Level::Low, &[])],
    );
    commit(
        &store,
        3000,
        &["c"],
        vec![new_mention("c", 0.0, Level::Normal, &[])],
    );
    let ids = |f: MentionFilter| {
        store
            .mentions(&f)
            .unwrap()
            .into_iter()
            .map(|m| m.platform_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(MentionFilter::default()), ["c", "b", "a"]);
    assert_eq!(
        ids(MentionFilter {
            min_level: Some(Level::Normal),
            ..Default::default()
        }),
        ["c", "a"]
    );
    assert_eq!(
        ids(MentionFilter {
            sentiment: Some(SentimentBucket::Negative),
            ..Default::default()
        }),
        ["a"]
    );
    assert_eq!(
        ids(MentionFilter {
            sentiment: Some(SentimentBucket::Neutral),
            ..Default::default()
        }),
        ["c"]
    );
    assert_eq!(
        ids(MentionFilter {
            since: Some(2000),
            until: Some(3000),
            ..Default::default()
        }),
        ["b"]
    );
    assert_eq!(
        ids(MentionFilter {
            watch: Some("other".into()),
            ..Default::default()
        }),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(MentionFilter {
            source: Some("blog".into()),
            limit: 1,
            ..Default::default()
        }),
        ["c"]
    );
    let row = &store.mentions(&MentionFilter::default()).unwrap()[0];
    assert_eq!(row.watches, ["acme"]);
    assert_eq!(row.reasons, ["r"]);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let e = Store::open(&path).unwrap_err().to_string();
    assert!(e.contains("newer earshot"), "{e}");
}

#[test]
fn an_unreadable_outbox_row_is_parked_and_does_not_stall_the_sink() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.db");
    let store = Store::open(&path).unwrap();
    commit(
        &store,
        1000,
        &["a", "b"],
        vec![
            new_mention("a", -0.5, Level::High, &["slack"]),
            new_mention("b", -0.5, Level::High, &["slack"]),
        ],
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE delivery SET alert = '{not json' WHERE id = 1", [])
        .unwrap();
    let due = store.due_deliveries("slack", 1000, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].alert.id, "msg_b");
    let dead = store.dead_letters(10).unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("unreadable")
    );
}

#[test]
fn deferring_a_sink_moves_its_due_rows_without_counting_attempts() {
    let store = Store::open_in_memory().unwrap();
    commit(
        &store,
        1000,
        &["a", "b"],
        vec![
            new_mention("a", -0.5, Level::High, &["slack", "hook"]),
            new_mention("b", -0.5, Level::High, &["slack"]),
        ],
    );
    assert_eq!(store.defer_sink("slack", 1500).unwrap(), 2);
    assert!(store.due_deliveries("slack", 1499, 10).unwrap().is_empty());
    let due = store.due_deliveries("slack", 1500, 10).unwrap();
    assert_eq!(due.len(), 2);
    assert!(due.iter().all(|d| d.attempts == 0));
    assert_eq!(
        store.due_deliveries("hook", 1000, 10).unwrap().len(),
        1,
        "other sinks are not held back"
    );
}

#[test]
fn silences_end_on_time_or_by_hand_and_announce_in_the_same_transaction() {
    use earshot::store::{Announcement, NewSilence};
    let store = Store::open_in_memory().unwrap();
    let announce = |s: &earshot::store::Silence| Announcement {
        sink_ids: vec!["a".into(), "b".into()],
        watch: "acme".into(),
        alert: earshot::alert::Alert {
            id: format!("silence-{}", s.id),
            ..earshot::alert::Alert::sample()
        },
    };
    let s = store
        .add_silence(
            &NewSilence {
                watch: Some("acme".into()),
                comment: "outage".into(),
                created_by: "ops".into(),
                ends_at: 1_100,
                ..Default::default()
            },
            1_000,
            announce,
        )
        .unwrap();
    assert_eq!(s.id, 1);
    // Active until its end, then gone from the active list but kept in the history.
    assert_eq!(store.silences(1_099, false).unwrap().len(), 1);
    assert!(store.silences(1_100, false).unwrap().is_empty());
    assert_eq!(store.silences(1_100, true).unwrap().len(), 1);
    // Its announcement is one pending row per sink, tied to no mention.
    for sink in ["a", "b"] {
        let due = store.due_deliveries(sink, 1_000, 10).unwrap();
        assert_eq!(due.len(), 1, "{sink}");
        assert_eq!(due[0].mention_id, None);
    }
    // Expiring an ended silence does nothing; an active one is ended and announced.
    assert_eq!(store.expire_silence(1, 1_200, announce).unwrap(), None);
    let s2 = store
        .add_silence(
            &NewSilence {
                author: Some("dana".into()),
                comment: "troll".into(),
                created_by: "ops".into(),
                ends_at: 5_000,
                ..Default::default()
            },
            1_000,
            announce,
        )
        .unwrap();
    let ended = store
        .expire_silence(s2.id, 1_500, announce)
        .unwrap()
        .unwrap();
    assert_eq!(ended.expired_at, Some(1_500));
    assert!(!ended.is_active(1_501));
    assert!(store.silences(1_501, false).unwrap().is_empty());
    assert_eq!(store.due_deliveries("a", 2_000, 10).unwrap().len(), 3);

    // The first ran its course at 1,100: its end is announced once, the hand-expired one's
    // never again.
    assert_eq!(store.next_silence_end().unwrap(), Some(1_100));
    assert!(store.end_silences(1_099, announce).unwrap().is_empty());
    let ended = store.end_silences(2_000, announce).unwrap();
    assert_eq!(ended.iter().map(|s| s.id).collect::<Vec<_>>(), [1]);
    assert_eq!(store.due_deliveries("a", 2_000, 10).unwrap().len(), 4);
    assert!(store.end_silences(9_000, announce).unwrap().is_empty());
    assert_eq!(store.next_silence_end().unwrap(), None);
    assert_eq!(store.due_deliveries("b", 9_000, 10).unwrap().len(), 4);
}

#[test]
fn a_checkpoint_empties_the_write_ahead_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("earshot.db");
    let store = Store::open(&db).unwrap();
    let wal = dir.path().join("earshot.db-wal");
    for i in 0..50 {
        let id = format!("m{i}");
        commit(
            &store,
            1000 + i,
            &[&id],
            vec![new_mention(&id, -0.5, Level::High, &["slack"])],
        );
    }
    let before = std::fs::metadata(&wal).unwrap().len();
    assert!(before > 0, "writes went to the log");
    store.checkpoint().unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    // Nothing was lost on the way into the database.
    drop(store);
    let store = Store::open(&db).unwrap();
    let all = MentionFilter {
        limit: 1000,
        ..Default::default()
    };
    assert_eq!(store.mentions(&all).unwrap().len(), 50);
}
