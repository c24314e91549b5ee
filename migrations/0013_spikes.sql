-- Spikes in a watch's volume or negative share (`[spikes]`): one row per spike, open while it
-- lasts, so that a spike raises one alert however long it lasts, also across restarts, and
-- its end is announced once.
CREATE TABLE spike (
    id            INTEGER PRIMARY KEY,
    watch         TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    kinds         TEXT NOT NULL,     -- what rose: 'volume', 'negative' or 'volume,negative'
    window_secs   INTEGER NOT NULL,
    mentions      INTEGER NOT NULL,  -- in the window that raised it
    negative      INTEGER NOT NULL,
    usual         REAL NOT NULL,     -- the baseline's mean mentions per window
    threshold     REAL NOT NULL,     -- mentions per window above which it is a spike
    usual_share   REAL NOT NULL,     -- the baseline's negative share
    peak          INTEGER NOT NULL,  -- most mentions in a window while it lasted
    last_above    INTEGER NOT NULL,  -- the last check that found it above a threshold
    alert_id      TEXT NOT NULL,     -- its alert's id: the end notice follows that message
    sinks         TEXT NOT NULL,     -- JSON list: the sinks told of its start, told of its end
    ended_at      INTEGER
);
CREATE UNIQUE INDEX spike_open ON spike (watch) WHERE ended_at IS NULL;
CREATE INDEX spike_started ON spike (started_at);
