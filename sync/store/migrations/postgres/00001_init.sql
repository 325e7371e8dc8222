-- +goose Up
-- Ids are TEXT (UUIDv7 made in Go, so callers know a row's id before insert). Every tenant
-- table carries org_id and a UNIQUE (org_id, id), so composite foreign keys make a row of
-- one org unable to point at a row of another.

CREATE TABLE orgs (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    seat_limit    INTEGER NOT NULL DEFAULT 0 CHECK (seat_limit >= 0),
    parent_org_id TEXT REFERENCES orgs (id),
    policy        JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    email            TEXT NOT NULL UNIQUE CHECK (email = lower(email) AND email <> ''),
    name             TEXT NOT NULL DEFAULT '',
    favourite_org_id TEXT REFERENCES orgs (id),
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE org_groups (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

CREATE TABLE memberships (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id            TEXT NOT NULL REFERENCES users (id),
    role               TEXT NOT NULL CHECK (role IN ('admin', 'custom_admin', 'chat', 'meetings')),
    custom_permissions JSONB NOT NULL DEFAULT '[]',
    status             TEXT NOT NULL CHECK (status IN ('pending', 'active', 'deactivated')),
    group_ids          JSONB NOT NULL DEFAULT '[]',
    salesforce_user_id TEXT NOT NULL DEFAULT '',
    photo_url          TEXT NOT NULL DEFAULT '',
    action_required    BOOLEAN NOT NULL DEFAULT FALSE,
    action_reasons     JSONB NOT NULL DEFAULT '[]',
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, user_id),
    UNIQUE (org_id, id)
);
CREATE INDEX memberships_user ON memberships (user_id);
CREATE INDEX memberships_org_status_role ON memberships (org_id, status, role);
CREATE INDEX memberships_action_required ON memberships (org_id) WHERE action_required;

CREATE TABLE imports (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    requested_by  TEXT NOT NULL DEFAULT '',
    selection     JSONB NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'custom_admin', 'chat', 'meetings')),
    group_id      TEXT,
    dry_run       BOOLEAN NOT NULL DEFAULT FALSE,
    status        TEXT NOT NULL CHECK (status IN ('queued', 'running', 'paused', 'done', 'failed')),
    counts        JSONB NOT NULL,
    progress      JSONB NOT NULL,
    refused       JSONB NOT NULL DEFAULT '[]',
    errors        JSONB NOT NULL DEFAULT '[]',
    paused_until  TIMESTAMPTZ,
    paused_reason TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, group_id) REFERENCES org_groups (org_id, id)
);
CREATE INDEX imports_org_created ON imports (org_id, created_at DESC);

CREATE TABLE invites (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    email                TEXT NOT NULL CHECK (email = lower(email) AND email <> ''),
    role                 TEXT NOT NULL CHECK (role IN ('admin', 'custom_admin', 'chat', 'meetings')),
    group_id             TEXT,
    source               TEXT NOT NULL CHECK (source IN ('email', 'salesforce')),
    salesforce_user_id   TEXT NOT NULL DEFAULT '',
    token_hash           TEXT NOT NULL UNIQUE,
    status               TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'expired', 'revoked')),
    expires_at           TIMESTAMPTZ NOT NULL,
    sent_count           INTEGER NOT NULL DEFAULT 0,
    resend_count         INTEGER NOT NULL DEFAULT 0,
    last_send_attempt_id TEXT,
    last_sent_at         TIMESTAMPTZ,
    import_id            TEXT,
    accepted_at          TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, group_id) REFERENCES org_groups (org_id, id),
    FOREIGN KEY (org_id, import_id) REFERENCES imports (org_id, id)
);
-- One pending invite per (org, email); the import's ON CONFLICT relies on it.
CREATE UNIQUE INDEX invites_pending_email ON invites (org_id, email) WHERE status = 'pending';
CREATE INDEX invites_org_import ON invites (org_id, import_id);
CREATE INDEX invites_pending_expiry ON invites (expires_at) WHERE status = 'pending';

-- One row per recorded send attempt, so a re-run of an attempt counts once.
CREATE TABLE invite_sends (
    invite_id  TEXT NOT NULL REFERENCES invites (id) ON DELETE CASCADE,
    attempt_id TEXT NOT NULL,
    sent_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (invite_id, attempt_id)
);

CREATE TABLE connections (
    id                     TEXT PRIMARY KEY,
    org_id                 TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    membership_id          TEXT,
    kind                   TEXT NOT NULL CHECK (kind IN ('salesforce_team', 'salesforce', 'google_calendar', 'microsoft_calendar', 'zoom', 'teams')),
    access_token_enc       BYTEA,
    refresh_token_enc      BYTEA,
    pending_token_enc      BYTEA,
    expires_at             TIMESTAMPTZ,
    scopes                 JSONB NOT NULL DEFAULT '[]',
    provider_account_id    TEXT NOT NULL DEFAULT '',
    provider_org_id        TEXT NOT NULL DEFAULT '',
    instance_url           TEXT NOT NULL DEFAULT '',
    login_url              TEXT NOT NULL DEFAULT '',
    state                  TEXT NOT NULL CHECK (state IN ('missing', 'healthy', 'refreshing', 'degraded', 'error', 'needs_reconnect', 'revoked')),
    consecutive_failures   INTEGER NOT NULL DEFAULT 0,
    last_error_code        TEXT NOT NULL DEFAULT '',
    last_error_description TEXT NOT NULL DEFAULT '',
    last_refreshed_at      TIMESTAMPTZ,
    last_verified_at       TIMESTAMPTZ,
    next_refresh_at        TIMESTAMPTZ,
    version                BIGINT NOT NULL DEFAULT 1,
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, membership_id) REFERENCES memberships (org_id, id) ON DELETE CASCADE,
    CHECK ((kind = 'salesforce_team') = (membership_id IS NULL))
);
CREATE UNIQUE INDEX connections_org_kind ON connections (org_id, kind) WHERE membership_id IS NULL;
CREATE UNIQUE INDEX connections_membership_kind ON connections (membership_id, kind) WHERE membership_id IS NOT NULL;
CREATE INDEX connections_due ON connections (next_refresh_at, id) WHERE next_refresh_at IS NOT NULL;

CREATE TABLE salesforce_api_usage (
    org_id      TEXT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    used        BIGINT NOT NULL,
    max         BIGINT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE permission_reports (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    connection_id TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    -- connection_id is informational: a report outlives the connection it audited.
    checks        JSONB NOT NULL
);
CREATE INDEX permission_reports_org_created ON permission_reports (org_id, created_at DESC, id DESC);

CREATE TABLE reminders (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    membership_id TEXT NOT NULL,
    reasons       JSONB NOT NULL DEFAULT '[]',
    channel       TEXT NOT NULL CHECK (channel IN ('email', 'slack')),
    sequence      INTEGER NOT NULL CHECK (sequence >= 1),
    sent_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (membership_id, channel, sequence),
    FOREIGN KEY (org_id, membership_id) REFERENCES memberships (org_id, id) ON DELETE CASCADE
);
CREATE INDEX reminders_org_membership ON reminders (org_id, membership_id, sent_at DESC);

CREATE TABLE events (
    id      TEXT PRIMARY KEY,
    org_id  TEXT REFERENCES orgs (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    detail  JSONB NOT NULL DEFAULT '{}',
    at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_org_at ON events (org_id, at DESC, id DESC);
CREATE INDEX events_at ON events (at);

-- +goose Down
DROP TABLE events;
DROP TABLE reminders;
DROP TABLE permission_reports;
DROP TABLE salesforce_api_usage;
DROP TABLE connections;
DROP TABLE invite_sends;
DROP TABLE invites;
DROP TABLE imports;
DROP TABLE memberships;
DROP TABLE org_groups;
DROP TABLE users;
DROP TABLE orgs;
