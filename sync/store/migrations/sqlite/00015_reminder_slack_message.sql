-- +goose Up
-- A Slack reminder records where Slack put it (the DM channel and the message's ts, its
-- id there), so an admin can find the very message. links_at is when an email's connect
-- links were issued: with the link ids derived from (membership, sequence, kind), a
-- retried Slack twin re-issues the same links as its email instead of new ones; the
-- links themselves (bearer credentials) are never stored.
ALTER TABLE reminders ADD COLUMN slack_channel TEXT NOT NULL DEFAULT '';
ALTER TABLE reminders ADD COLUMN slack_ts TEXT NOT NULL DEFAULT '';
ALTER TABLE reminders ADD COLUMN links_at TEXT;

-- +goose Down
ALTER TABLE reminders DROP COLUMN links_at;
ALTER TABLE reminders DROP COLUMN slack_ts;
ALTER TABLE reminders DROP COLUMN slack_channel;
