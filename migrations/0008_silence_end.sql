-- A silence that runs its course is announced once, like one expired by hand: `end_announced`
-- records that its end was announced (or needs no announcement). Silences that ended before
-- this migration are not announced late.
ALTER TABLE silence ADD COLUMN end_announced INTEGER NOT NULL DEFAULT 0;
UPDATE silence SET end_announced = 1
 WHERE expired_at IS NOT NULL OR ends_at <= CAST(strftime('%s', 'now') AS INTEGER);
CREATE INDEX silence_end ON silence (end_announced, ends_at);
