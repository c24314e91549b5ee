-- Indexes a digest over a long period reads instead of the whole mention table: the most
-- negative and most urgent mentions, the most active authors, and acknowledgements of urgent
-- ones (measured in BENCHMARKS.md: a year of a million mentions).
CREATE INDEX mention_seen_scores ON mention (seen_at, compound, urgency);
CREATE INDEX mention_seen_author ON mention (seen_at, author);
CREATE INDEX mention_urgent_seen ON mention (seen_at, acked_at) WHERE level IN ('high', 'critical');
