-- +goose Up
-- The member's last failed Slack reminder (Slack's own error word, such as
-- channel_not_found, and when): a retried failure leaves no reminder row, so without this
-- the admin could not see why the rep's Slack messages do not arrive.
ALTER TABLE memberships ADD COLUMN slack_failure TEXT NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN slack_failed_at TEXT;

-- +goose Down
ALTER TABLE memberships DROP COLUMN slack_failed_at;
ALTER TABLE memberships DROP COLUMN slack_failure;
