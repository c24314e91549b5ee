-- Silences: mentions matching an active silence are stored and counted, but not sent.
CREATE TABLE silence (
    id         INTEGER PRIMARY KEY,
    watch      TEXT,             -- each matcher is optional; those given must all hold
    source_id  TEXT,
    author     TEXT,             -- compared case-insensitively with the handle or display name
    query      TEXT,             -- earshot's query language, over the mention
    comment    TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    expired_at INTEGER           -- set when expired by hand before ends_at
);
CREATE INDEX silence_active ON silence (ends_at);

ALTER TABLE mention ADD COLUMN silenced_by INTEGER REFERENCES silence (id);

-- The outbox also carries messages that belong to no one mention (silence announcements, and
-- later summaries): `mention_id` may be NULL, and `kind` says what the row is.
CREATE TABLE delivery_v3 (
    id              INTEGER PRIMARY KEY,
    mention_id      INTEGER REFERENCES mention (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL DEFAULT 'alert' CHECK (kind IN ('alert', 'announcement')),
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
INSERT INTO delivery_v3 (id, mention_id, kind, sink_id, watch, alert, status, attempts, created_at,
    next_attempt_at, sent_at, last_error)
SELECT id, mention_id, 'alert', sink_id, watch, alert, status, attempts, created_at,
    next_attempt_at, sent_at, last_error FROM delivery;
DROP TABLE delivery;
ALTER TABLE delivery_v3 RENAME TO delivery;
CREATE INDEX delivery_due ON delivery (status, sink_id, next_attempt_at);
