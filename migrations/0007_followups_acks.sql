-- Follow-ups, near-duplicates, acknowledgements and escalations.
--
-- The outbox gains:
--   kind 'escalation' (a critical mention sent again to the escalation route; `seq` counts
--   them) and 'update' (an edit of a message sent earlier, `target_ref`, e.g. to show that it
--   was acknowledged);
--   fingerprint (its text, normalised and hashed: near-duplicates on one sink fold together);
--   message_ref (the target's id for the message that carried it, to edit or reply to later).
-- One row per (mention, sink, kind, seq) instead of per (mention, sink).
CREATE TABLE delivery_v7 (
    id              INTEGER PRIMARY KEY,
    mention_id      INTEGER REFERENCES mention (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL DEFAULT 'alert'
                    CHECK (kind IN ('alert', 'announcement', 'escalation', 'update')),
    seq             INTEGER NOT NULL DEFAULT 0,
    sink_id         TEXT NOT NULL,
    watch           TEXT NOT NULL,
    alert           TEXT NOT NULL,  -- JSON Alert, rendered at send time
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT,
    held            INTEGER NOT NULL DEFAULT 0,
    group_key       TEXT,
    fingerprint     TEXT,
    message_ref     TEXT,
    target_ref      TEXT,
    UNIQUE (mention_id, sink_id, kind, seq)
);
INSERT INTO delivery_v7 (id, mention_id, kind, sink_id, watch, alert, status, attempts, created_at,
    next_attempt_at, sent_at, last_error, held, group_key)
SELECT id, mention_id, kind, sink_id, watch, alert, status, attempts, created_at,
    next_attempt_at, sent_at, last_error, held, group_key FROM delivery;
DROP TABLE delivery;
ALTER TABLE delivery_v7 RENAME TO delivery;
CREATE INDEX delivery_due ON delivery (status, sink_id, next_attempt_at);
CREATE INDEX delivery_group ON delivery (sink_id, group_key, status);
CREATE INDEX delivery_fingerprint ON delivery (sink_id, fingerprint, created_at);
CREATE INDEX delivery_message ON delivery (sink_id, message_ref);
CREATE INDEX delivery_mention ON delivery (mention_id);

-- Who acknowledged a mention, and when (`earshot ack`, or an acknowledge link).
ALTER TABLE mention ADD COLUMN acked_at INTEGER;
ALTER TABLE mention ADD COLUMN acked_by TEXT;

-- A critical mention's escalation timer: when nobody acknowledged it by `due_at`, it is sent to
-- the escalation route (`route`, by name) again, up to `max_times`, every `every_secs`.
CREATE TABLE escalation (
    mention_id INTEGER NOT NULL REFERENCES mention (id) ON DELETE CASCADE,
    route      TEXT NOT NULL,
    every_secs INTEGER NOT NULL,
    max_times  INTEGER NOT NULL,
    sent_times INTEGER NOT NULL DEFAULT 0,
    due_at     INTEGER NOT NULL,
    done_at    INTEGER,          -- acknowledged, or escalated max_times
    PRIMARY KEY (mention_id, route)
);
CREATE INDEX escalation_due ON escalation (done_at, due_at);
