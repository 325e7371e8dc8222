-- +goose Up
-- An import can be cancelled by an admin; its run notices at its next page and stops.
ALTER TABLE imports DROP CONSTRAINT imports_status_check;
ALTER TABLE imports ADD CONSTRAINT imports_status_check
    CHECK (status IN ('queued', 'running', 'paused', 'done', 'failed', 'cancelled'));
-- The 64-bit hashes (16 hex digits each) of the emails the import has seen, appended with
-- each page's checkpoint, so a resumed run still counts duplicates within the import.
ALTER TABLE imports ADD COLUMN seen TEXT NOT NULL DEFAULT '';

-- Every row an import did not invite, with its reason, so they can be listed and
-- downloaded, not only counted. seq is the row's position in the import, which makes a
-- re-run of a page after a crash insert nothing twice.
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
ALTER TABLE imports DROP COLUMN seen;
ALTER TABLE imports DROP CONSTRAINT imports_status_check;
ALTER TABLE imports ADD CONSTRAINT imports_status_check
    CHECK (status IN ('queued', 'running', 'paused', 'done', 'failed'));
