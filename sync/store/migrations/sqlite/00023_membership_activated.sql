-- +goose Up
-- When the membership last became active (its Join, or a deactivated member's Join of a
-- new invitation): a deactivation asked before it is stale and must not undo the return.
-- NULL: active since before this column.
ALTER TABLE memberships ADD COLUMN activated_at TEXT;

-- +goose Down
ALTER TABLE memberships DROP COLUMN activated_at;
