-- +goose Up
-- Why an invite's invitation email could not be sent (an undeliverable address, retries
-- spent), so the failure is visible and the reconciler does not queue that send again.
-- A later successful send clears both.
ALTER TABLE invites ADD COLUMN send_error TEXT NOT NULL DEFAULT '';
ALTER TABLE invites ADD COLUMN send_failed_at TIMESTAMPTZ;
-- The reconciler's scan of pending invites never sent.
CREATE INDEX invites_unsent ON invites (org_id, id) WHERE status = 'pending' AND sent_count = 0;

-- +goose Down
DROP INDEX invites_unsent;
ALTER TABLE invites DROP COLUMN send_failed_at;
ALTER TABLE invites DROP COLUMN send_error;
