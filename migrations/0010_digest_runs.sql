-- What each [[digest]] did for each period it covers, so that a digest is sent once per period,
-- also across restarts. `armed` marks when the digest was first configured (nothing before it
-- is owed); `skipped` periods were missed so long ago that only the latest ones were sent late.
CREATE TABLE digest_run (
    name       TEXT NOT NULL,
    period_end INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('armed', 'sent', 'skipped')),
    at         INTEGER NOT NULL,
    late       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, period_end)
) WITHOUT ROWID;
