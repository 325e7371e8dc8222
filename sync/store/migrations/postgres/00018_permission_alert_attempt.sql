-- +goose Up
-- An alert's email is at most once: attempted_at is written before the SMTP transaction
-- and sent_at after the server's acceptance is recorded. An alert attempted but not sent
-- (its worker died in between, or a concurrent audit is sending it) is never sent again;
-- once older than permissions.StaleAlertAttempt, an audit settles it sent and unconfirmed.
ALTER TABLE permission_alerts ADD COLUMN attempted_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE permission_alerts DROP COLUMN attempted_at;
