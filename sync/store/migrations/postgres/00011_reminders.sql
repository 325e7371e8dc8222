-- +goose Up
-- Reminders record what each message was (a reminder, the all-set note, an admin alert)
-- and whether its send is confirmed: a row is written as 'attempting' before the send,
-- keyed by (membership, channel, sequence), so a retry or a crash never sends it twice.
ALTER TABLE reminders ADD COLUMN kind TEXT NOT NULL DEFAULT 'reminder' CHECK (kind IN ('reminder', 'all_set', 'admin'));
ALTER TABLE reminders ADD COLUMN status TEXT NOT NULL DEFAULT 'sent' CHECK (status IN ('attempting', 'sent', 'unconfirmed'));
ALTER TABLE reminders ADD COLUMN message_id TEXT NOT NULL DEFAULT '';
ALTER TABLE reminders ADD COLUMN admin_key TEXT NOT NULL DEFAULT '';
ALTER TABLE reminders ADD COLUMN recipients JSONB NOT NULL DEFAULT '[]';
-- The rep's own time zone (Salesforce TimeZoneSidKey) for quiet hours; '' = the org's.
ALTER TABLE memberships ADD COLUMN time_zone TEXT NOT NULL DEFAULT '';
-- Per-org reminder policy (sync/reminders.Settings as JSON; absent = the defaults).
CREATE TABLE reminder_settings (
    org_id     TEXT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    settings   JSONB NOT NULL DEFAULT '{}',
    updated_at TIMESTAMPTZ NOT NULL
);
-- The admins' daily digest: one row per org and UTC day, written before the send.
CREATE TABLE reminder_digests (
    org_id     TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    day        TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('attempting', 'sent', 'unconfirmed')),
    message_id TEXT NOT NULL,
    members    INTEGER NOT NULL DEFAULT 0,
    at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, day)
);

-- +goose Down
DROP TABLE reminder_digests;
DROP TABLE reminder_settings;
ALTER TABLE memberships DROP COLUMN time_zone;
ALTER TABLE reminders DROP COLUMN recipients;
ALTER TABLE reminders DROP COLUMN admin_key;
ALTER TABLE reminders DROP COLUMN message_id;
ALTER TABLE reminders DROP COLUMN status;
ALTER TABLE reminders DROP COLUMN kind;
