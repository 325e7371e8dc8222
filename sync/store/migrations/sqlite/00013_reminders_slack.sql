-- +goose Up
-- A Slack message to a rep Slack does not know (users_not_found) is recorded 'skipped':
-- settled, listed for the admins, never retried. SQLite cannot change a CHECK, so the
-- column is rebuilt (a column CHECK goes with its column).
ALTER TABLE reminders ADD COLUMN status_v2 TEXT NOT NULL DEFAULT 'sent'
    CHECK (status_v2 IN ('attempting', 'sent', 'unconfirmed', 'skipped'));
UPDATE reminders SET status_v2 = status;
ALTER TABLE reminders DROP COLUMN status;
ALTER TABLE reminders RENAME COLUMN status_v2 TO status;
-- An org's Slack bot token for reminders, sealed with the key ring ('reminder-slack:' ||
-- org_id is the associated data), never stored in clear. problem is the token's last
-- refusal (invalid_auth, token_revoked, ...): the admin's to fix, shown in the settings.
CREATE TABLE reminder_slack (
    org_id     TEXT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    token_enc  BLOB NOT NULL,
    problem    TEXT NOT NULL DEFAULT '',
    problem_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- The rep's Salesforce TimeZoneSidKey as the import read it, carried to the membership
-- when the invite is accepted (quiet hours in the rep's own zone).
ALTER TABLE invites ADD COLUMN time_zone TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE invites DROP COLUMN time_zone;
DROP TABLE reminder_slack;
DELETE FROM reminders WHERE status = 'skipped';
ALTER TABLE reminders ADD COLUMN status_v1 TEXT NOT NULL DEFAULT 'sent'
    CHECK (status_v1 IN ('attempting', 'sent', 'unconfirmed'));
UPDATE reminders SET status_v1 = status;
ALTER TABLE reminders DROP COLUMN status;
ALTER TABLE reminders RENAME COLUMN status_v1 TO status;
