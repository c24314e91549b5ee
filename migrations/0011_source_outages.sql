-- When each source failed and for how long, so that a digest can say a quiet period was a
-- blind one. An outage starts at the first failed poll and ends at the next successful one.
CREATE TABLE source_outage (
    source_id  TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,           -- NULL while it lasts
    failures   INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    PRIMARY KEY (source_id, started_at)
) WITHOUT ROWID;

-- Sources failing at the upgrade: their outage is known to have started by their last error.
INSERT INTO source_outage (source_id, started_at, ended_at, failures, last_error)
SELECT source_id, coalesce(last_error_at, 0), NULL, error_count, coalesce(last_error, '')
  FROM source_state WHERE error_count > 0;
