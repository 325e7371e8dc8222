-- +goose Up
-- An import can be cancelled by an admin; its run notices at its next page and stops.
-- SQLite cannot change a CHECK constraint, so the table is rebuilt. Invites reference
-- imports: with the foreign keys deferred, the rows copied back satisfy them again before
-- the commit.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE imports_copy AS SELECT * FROM imports;
DROP TABLE imports;
CREATE TABLE imports (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    requested_by  TEXT NOT NULL DEFAULT '',
    selection     TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'custom_admin', 'chat', 'meetings')),
    group_id      TEXT,
    dry_run       INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL CHECK (status IN ('queued', 'running', 'paused', 'done', 'failed', 'cancelled')),
    counts        TEXT NOT NULL,
    progress      TEXT NOT NULL,
    refused       TEXT NOT NULL DEFAULT '[]',
    errors        TEXT NOT NULL DEFAULT '[]',
    paused_until  TEXT,
    paused_reason TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    -- The 64-bit hashes (16 hex digits each) of the emails the import has seen, appended
    -- with each page's checkpoint, so a resumed run still counts duplicates within it.
    seen          TEXT NOT NULL DEFAULT '',
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, group_id) REFERENCES org_groups (org_id, id)
);
INSERT INTO imports (id, org_id, requested_by, selection, role, group_id, dry_run, status, counts,
    progress, refused, errors, paused_until, paused_reason, created_at, updated_at, started_at, finished_at)
SELECT id, org_id, requested_by, selection, role, group_id, dry_run, status, counts,
    progress, refused, errors, paused_until, paused_reason, created_at, updated_at, started_at, finished_at
FROM imports_copy;
DROP TABLE imports_copy;
CREATE INDEX imports_org_created ON imports (org_id, created_at DESC);

-- Every row an import did not invite, with its reason (see the PostgreSQL migration).
CREATE TABLE import_skipped (
    org_id             TEXT NOT NULL,
    import_id          TEXT NOT NULL,
    seq                INTEGER NOT NULL,
    salesforce_user_id TEXT NOT NULL DEFAULT '',
    email              TEXT NOT NULL DEFAULT '',
    name               TEXT NOT NULL DEFAULT '',
    reason             TEXT NOT NULL,
    PRIMARY KEY (org_id, import_id, seq),
    FOREIGN KEY (org_id, import_id) REFERENCES imports (org_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE import_skipped;
