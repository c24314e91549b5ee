-- Grouping per conversation: deliveries of one route with `group_wait` carry their conversation
-- key; the rows of one key due together on a sink go out as one message.
ALTER TABLE delivery ADD COLUMN group_key TEXT;
CREATE INDEX delivery_group ON delivery (sink_id, group_key, status);
