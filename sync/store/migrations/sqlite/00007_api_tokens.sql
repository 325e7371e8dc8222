-- +goose Up
-- API tokens for programs: stored as the SHA-256 of the secret only, limited to a list of
-- orgs (empty: every org) and optionally to reading.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    org_ids     TEXT NOT NULL DEFAULT '[]',
    read_only   INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

-- +goose Down
DROP TABLE api_tokens;
