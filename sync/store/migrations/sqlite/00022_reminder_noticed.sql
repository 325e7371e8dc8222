-- +goose Up
-- When the break behind a queued first reminder was seen: a change of the org's grace
-- re-times that reminder from it (the queued time alone may be the end of quiet hours).
ALTER TABLE memberships ADD COLUMN reminder_noticed_at TEXT;

-- +goose Down
ALTER TABLE memberships DROP COLUMN reminder_noticed_at;
