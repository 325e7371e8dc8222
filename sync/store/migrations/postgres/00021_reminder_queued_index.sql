-- +goose Up
-- The reconciler reads the memberships that say a reminder is queued, to give a task
-- Redis lost back; few have one at a time, so the index holds only those.
CREATE INDEX memberships_reminder_queued ON memberships (org_id, id) WHERE reminder_queued_at IS NOT NULL;

-- +goose Down
DROP INDEX memberships_reminder_queued;
