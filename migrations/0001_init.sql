-- earshot's first schema. Times are Unix seconds (UTC).

-- What the daemon remembers of each source between polls, and how it is doing.
CREATE TABLE source_state (
    source_id       TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    etag            TEXT,
    last_modified   TEXT,
    cursor          TEXT,
    seeded          INTEGER NOT NULL DEFAULT 0,  -- 1 once the first poll has recorded history
    polls           INTEGER NOT NULL DEFAULT 0,
    last_poll_at    INTEGER,
    last_success_at INTEGER,
    error_count     INTEGER NOT NULL DEFAULT 0,  -- consecutive failures; 0 when healthy
    last_error      TEXT,
    last_error_at   INTEGER,
    next_poll_at    INTEGER
);

-- Every item a source has shown, matching or not: an item is matched and scored once.
CREATE TABLE item_seen (
    source_id   TEXT NOT NULL,
    platform_id TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    PRIMARY KEY (source_id, platform_id)
) WITHOUT ROWID;

-- Items that matched at least one watch, with their scores.
CREATE TABLE mention (
    id           INTEGER PRIMARY KEY,
    source_id    TEXT NOT NULL,
    source_kind  TEXT NOT NULL,
    platform_id  TEXT NOT NULL,
    url          TEXT,
    title        TEXT,
    text         TEXT NOT NULL,
    author       TEXT,
    author_reach INTEGER,
    kind         TEXT NOT NULL,
    lang         TEXT,
    created_at   INTEGER,          -- as the platform says
    seen_at      INTEGER NOT NULL, -- when earshot stored it
    compound     REAL NOT NULL,
    pos          REAL NOT NULL,
    neu          REAL NOT NULL,
    neg          REAL NOT NULL,
    urgency      INTEGER NOT NULL,
    level        TEXT NOT NULL,
    reasons      TEXT NOT NULL,    -- JSON array of strings
    extra        TEXT NOT NULL,    -- JSON: engagement, conversation, author details
    UNIQUE (source_id, platform_id)
);
CREATE INDEX mention_seen ON mention (seen_at);

-- Which watches a mention matched.
CREATE TABLE mention_watch (
    mention_id INTEGER NOT NULL REFERENCES mention (id) ON DELETE CASCADE,
    watch      TEXT NOT NULL,
    PRIMARY KEY (mention_id, watch)
) WITHOUT ROWID;
CREATE INDEX mention_watch_by_watch ON mention_watch (watch, mention_id);

-- The outbox: one row per (mention, sink). A row is 'sent' only after the target answered 2xx.
CREATE TABLE delivery (
    id              INTEGER PRIMARY KEY,
    mention_id      INTEGER NOT NULL REFERENCES mention (id) ON DELETE CASCADE,
    sink_id         TEXT NOT NULL,
    watch           TEXT NOT NULL,
    alert           TEXT NOT NULL,  -- JSON Alert, rendered at send time
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT,
    UNIQUE (mention_id, sink_id)
);
CREATE INDEX delivery_due ON delivery (status, sink_id, next_attempt_at);
