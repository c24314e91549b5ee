-- Quiet hours: a delivery held back by a muted route waits in the outbox until the window opens
-- (`next_attempt_at`); then the held rows due on one sink go out as one catch-up message.
ALTER TABLE delivery ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
