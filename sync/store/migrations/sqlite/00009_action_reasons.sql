-- +goose Up
-- Action Required reasons become objects naming the requirement, the connection and who
-- acts (written by sync/members). Nothing wrote the old string form but tests, so it is
-- cleared; action_checked_at NULL marks a membership never computed (tether members
-- recompute ORG fills it). action_admin marks reasons waiting on an admin, for the list.
ALTER TABLE memberships ADD COLUMN action_admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN action_checked_at TEXT;
ALTER TABLE memberships ADD COLUMN deactivated_at TEXT;
UPDATE memberships SET action_reasons = '[]', action_required = 0;
-- The members page pages through an org's action-required members in id order.
DROP INDEX memberships_action_required;
CREATE INDEX memberships_action_required ON memberships (org_id, id) WHERE action_required;
-- The members page's counts (every filter, with its action-required count) read only
-- these columns: an index-only scan of the org's range, never the rows' JSON.
CREATE INDEX memberships_counts ON memberships (org_id, status, role, action_required);

-- +goose Down
DROP INDEX memberships_counts;
DROP INDEX memberships_action_required;
CREATE INDEX memberships_action_required ON memberships (org_id) WHERE action_required;
ALTER TABLE memberships DROP COLUMN deactivated_at;
ALTER TABLE memberships DROP COLUMN action_checked_at;
ALTER TABLE memberships DROP COLUMN action_admin;
