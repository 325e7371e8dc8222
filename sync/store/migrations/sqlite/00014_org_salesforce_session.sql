-- +goose Up
-- The org's Salesforce session timeout as tether learned it (introspecting a fresh access
-- token: exp - iat), since Salesforce token answers carry no expires_in. 0 seconds: not
-- known, the configured default applies. checked_at is the last attempt to learn it,
-- successful or not: the claim that keeps it to once a day per org across workers.
ALTER TABLE orgs ADD COLUMN salesforce_session_seconds INTEGER NOT NULL DEFAULT 0
    CHECK (salesforce_session_seconds >= 0);
ALTER TABLE orgs ADD COLUMN salesforce_session_learned_at TEXT;
ALTER TABLE orgs ADD COLUMN salesforce_session_checked_at TEXT;

-- +goose Down
ALTER TABLE orgs DROP COLUMN salesforce_session_checked_at;
ALTER TABLE orgs DROP COLUMN salesforce_session_learned_at;
ALTER TABLE orgs DROP COLUMN salesforce_session_seconds;
