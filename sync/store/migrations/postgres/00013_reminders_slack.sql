-- +goose Up
-- A Slack message to a rep Slack does not know (users_not_found) is recorded 'skipped':
-- settled, listed for the admins, never retried.
ALTER TABLE reminders DROP CONSTRAINT reminders_status_check;
ALTER TABLE reminders ADD CONSTRAINT reminders_status_check
    CHECK (status IN ('attempting', 'sent', 'unconfirmed', 'skipped'));
-- An org's Slack bot token for reminders, sealed with the key ring ('reminder-slack:' ||
-- org_id is the associated data), never stored in clear. problem is the token's last
-- refusal (invalid_auth, token_revoked, ...): the admin's to fix, shown in the settings.
CREATE TABLE reminder_slack (
    org_id     TEXT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    token_enc  BYTEA NOT NULL,
    problem    TEXT NOT NULL DEFAULT '',
    problem_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
-- The rep's Salesforce TimeZoneSidKey as the import read it, carried to the membership
-- when the invite is accepted (quiet hours in the rep's own zone).
ALTER TABLE invites ADD COLUMN time_zone TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE invites DROP COLUMN time_zone;
DROP TABLE reminder_slack;
DELETE FROM reminders WHERE status = 'skipped';
ALTER TABLE reminders DROP CONSTRAINT reminders_status_check;
ALTER TABLE reminders ADD CONSTRAINT reminders_status_check
    CHECK (status IN ('attempting', 'sent', 'unconfirmed'));
