-- +goose Up
-- API tokens for programs: stored as the SHA-256 of the secret only, limited to a list of
-- orgs (empty: every org) and optionally to reading.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    org_ids     JSONB NOT NULL DEFAULT '[]',
    read_only   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);

-- +goose Down
DROP TABLE api_tokens;
