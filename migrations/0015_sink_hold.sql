-- A sink that failed or was told to wait (Retry-After, back-off) is held until `until`: every
-- one of its deliveries waits, those queued after the failure too, and the hold survives a
-- restart. A success releases it.
CREATE TABLE sink_hold (
    sink_id TEXT PRIMARY KEY,
    until INTEGER NOT NULL
);
