-- +goose Up
-- invites:send is at most once per attempt. A row of invite_sends is written 'attempting'
-- before the SMTP transaction and becomes 'sent' when the server's acceptance is recorded;
-- a run that finds its attempt still 'attempting' (the worker died after the server may
-- have accepted the email) settles it 'unknown' and never sends it again. token_hash and
-- expires_at are the link that attempt's email carries, so an unknown first email's link
-- can still work if it arrived.
ALTER TABLE invite_sends ADD COLUMN status TEXT NOT NULL DEFAULT 'sent' CHECK (status IN ('attempting', 'sent', 'unknown'));
ALTER TABLE invite_sends ADD COLUMN token_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE invite_sends ADD COLUMN expires_at TEXT;
CREATE INDEX invite_sends_attempting ON invite_sends (sent_at) WHERE status = 'attempting';
-- last_attempt is the highest attempt whose outcome is settled (sent or unknown): a resend
-- is attempt last_attempt + 1, so an unknown attempt is never retried under its own number.
-- send_unknown_at is set while the latest settled attempt's delivery is unknown.
ALTER TABLE invites ADD COLUMN last_attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invites ADD COLUMN send_unknown_at TEXT;
UPDATE invites SET last_attempt = sent_count;
DROP INDEX invites_unsent;
CREATE INDEX invites_unsent ON invites (org_id, id) WHERE status = 'pending' AND last_attempt = 0;
DROP INDEX invites_resend_requested;
CREATE INDEX invites_resend_requested ON invites (org_id, id)
    WHERE status = 'pending' AND send_requested > last_attempt;

-- +goose Down
DROP INDEX invites_resend_requested;
CREATE INDEX invites_resend_requested ON invites (org_id, id)
    WHERE status = 'pending' AND send_requested > sent_count;
DROP INDEX invites_unsent;
CREATE INDEX invites_unsent ON invites (org_id, id) WHERE status = 'pending' AND sent_count = 0;
ALTER TABLE invites DROP COLUMN send_unknown_at;
ALTER TABLE invites DROP COLUMN last_attempt;
DROP INDEX invite_sends_attempting;
DELETE FROM invite_sends WHERE status <> 'sent';
ALTER TABLE invite_sends DROP COLUMN expires_at;
ALTER TABLE invite_sends DROP COLUMN token_hash;
ALTER TABLE invite_sends DROP COLUMN status;
