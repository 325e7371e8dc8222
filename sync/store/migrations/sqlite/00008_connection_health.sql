-- +goose Up
-- Connection upkeep (issue 14); see the PostgreSQL migration for the columns. SQLite cannot
-- change a CHECK constraint (needs_admin joins the states), so the table is rebuilt.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE connections_copy AS SELECT * FROM connections;
DROP TABLE connections;
CREATE TABLE connections (
    id                     TEXT PRIMARY KEY,
    org_id                 TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    membership_id          TEXT,
    kind                   TEXT NOT NULL CHECK (kind IN ('salesforce_team', 'salesforce', 'google_calendar', 'microsoft_calendar', 'zoom', 'teams')),
    access_token_enc       BLOB,
    refresh_token_enc      BLOB,
    pending_token_enc      BLOB,
    expires_at             TEXT,
    scopes                 TEXT NOT NULL DEFAULT '[]',
    provider_account_id    TEXT NOT NULL DEFAULT '',
    provider_org_id        TEXT NOT NULL DEFAULT '',
    instance_url           TEXT NOT NULL DEFAULT '',
    login_url              TEXT NOT NULL DEFAULT '',
    state                  TEXT NOT NULL CHECK (state IN ('missing', 'healthy', 'refreshing', 'degraded', 'error', 'needs_reconnect', 'needs_admin', 'revoked')),
    consecutive_failures   INTEGER NOT NULL DEFAULT 0,
    last_error_code        TEXT NOT NULL DEFAULT '',
    last_error_description TEXT NOT NULL DEFAULT '',
    last_refreshed_at      TEXT,
    last_verified_at       TEXT,
    next_refresh_at        TEXT,
    version                INTEGER NOT NULL DEFAULT 1,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    refresh_fence          INTEGER NOT NULL DEFAULT 0,
    failure_class          TEXT NOT NULL DEFAULT '',
    failure_subcode        TEXT NOT NULL DEFAULT '',
    failure_reason         TEXT NOT NULL DEFAULT '',
    failure_cause          TEXT NOT NULL DEFAULT '',
    next_attempt_at        TEXT,
    failing_since          TEXT,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, membership_id) REFERENCES memberships (org_id, id) ON DELETE CASCADE,
    CHECK ((kind = 'salesforce_team') = (membership_id IS NULL))
);
INSERT INTO connections (id, org_id, membership_id, kind, access_token_enc, refresh_token_enc,
    pending_token_enc, expires_at, scopes, provider_account_id, provider_org_id, instance_url,
    login_url, state, consecutive_failures, last_error_code, last_error_description,
    last_refreshed_at, last_verified_at, next_refresh_at, version, created_at, updated_at, refresh_fence)
SELECT id, org_id, membership_id, kind, access_token_enc, refresh_token_enc,
    pending_token_enc, expires_at, scopes, provider_account_id, provider_org_id, instance_url,
    login_url, state, consecutive_failures, last_error_code, last_error_description,
    last_refreshed_at, last_verified_at, next_refresh_at, version, created_at, updated_at, refresh_fence
FROM connections_copy;
DROP TABLE connections_copy;
CREATE UNIQUE INDEX connections_org_kind ON connections (org_id, kind) WHERE membership_id IS NULL;
CREATE UNIQUE INDEX connections_membership_kind ON connections (membership_id, kind) WHERE membership_id IS NOT NULL;
-- The sweep's predicate exactly, so its read costs what is due, not the table's size.
CREATE INDEX connections_due ON connections (next_refresh_at, id)
    WHERE next_refresh_at IS NOT NULL AND state <> 'revoked';

-- +goose Down
DROP INDEX connections_due;
CREATE INDEX connections_due ON connections (next_refresh_at, id) WHERE next_refresh_at IS NOT NULL;
ALTER TABLE connections DROP COLUMN failing_since;
ALTER TABLE connections DROP COLUMN next_attempt_at;
ALTER TABLE connections DROP COLUMN failure_cause;
ALTER TABLE connections DROP COLUMN failure_reason;
ALTER TABLE connections DROP COLUMN failure_subcode;
ALTER TABLE connections DROP COLUMN failure_class;
