-- +goose Up
-- The reminder a membership has queued (its sequence and due time), recorded by the
-- notify that queued it, so the admin view shows when it will really go instead of
-- computing it from the moment of the read (the break's time is in the task only).
ALTER TABLE memberships ADD COLUMN reminder_queued_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN reminder_queued_at TEXT;

-- +goose Down
ALTER TABLE memberships DROP COLUMN reminder_queued_at;
ALTER TABLE memberships DROP COLUMN reminder_queued_seq;
