-- Hourly aggregates for digests, charts and spike alerts: kept when old mentions are pruned.
-- One row per (watch, source, hour); watch '' counts each mention once, whatever it matched.
-- Hours are Unix seconds at the start of the hour (UTC), by when earshot stored the mention.
CREATE TABLE agg_hour (
    watch        TEXT NOT NULL,
    source_id    TEXT NOT NULL,
    hour         INTEGER NOT NULL,
    mentions     INTEGER NOT NULL,
    positive     INTEGER NOT NULL,  -- compound >= 0.05
    neutral      INTEGER NOT NULL,
    negative     INTEGER NOT NULL,  -- compound <= -0.05
    compound_sum REAL NOT NULL,
    urgent       INTEGER NOT NULL,  -- level high or critical
    PRIMARY KEY (watch, hour, source_id)
) WITHOUT ROWID;

INSERT INTO agg_hour
SELECT mw.watch, m.source_id, m.seen_at - (m.seen_at % 3600), count(*),
       sum(m.compound >= 0.05), sum(m.compound > -0.05 AND m.compound < 0.05), sum(m.compound <= -0.05),
       sum(m.compound), sum(m.level IN ('high', 'critical'))
  FROM mention m JOIN mention_watch mw ON mw.mention_id = m.id
 GROUP BY mw.watch, m.source_id, m.seen_at - (m.seen_at % 3600);

INSERT INTO agg_hour
SELECT '', m.source_id, m.seen_at - (m.seen_at % 3600), count(*),
       sum(m.compound >= 0.05), sum(m.compound > -0.05 AND m.compound < 0.05), sum(m.compound <= -0.05),
       sum(m.compound), sum(m.level IN ('high', 'critical'))
  FROM mention m
 GROUP BY m.source_id, m.seen_at - (m.seen_at % 3600);
