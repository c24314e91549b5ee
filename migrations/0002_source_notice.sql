-- What `earshot status` says about a source that works but not fully: a degraded mode
-- (Reddit without credentials) or a budget (Stack Exchange quota, YouTube searches left).
ALTER TABLE source_state ADD COLUMN notice TEXT;
ALTER TABLE source_state ADD COLUMN degraded INTEGER NOT NULL DEFAULT 0;
