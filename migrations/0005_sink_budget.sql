-- One row per message a sink accepted, for per-sink budgets (`max_alerts_per_hour`); rows older
-- than a day are pruned. `delivery.held` now says why a row was held: 1 quiet hours, 2 budget.
CREATE TABLE sink_send (
    sink_id TEXT NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX sink_send_by_sink ON sink_send (sink_id, at);
