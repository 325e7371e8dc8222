-- +goose Up
-- Each page's seen hashes are a row of their own (see the PostgreSQL migration).
CREATE TABLE import_seen (
    org_id    TEXT NOT NULL,
    import_id TEXT NOT NULL,
    done      INTEGER NOT NULL,
    hashes    BLOB NOT NULL,
    PRIMARY KEY (org_id, import_id, done),
    FOREIGN KEY (org_id, import_id) REFERENCES imports (org_id, id) ON DELETE CASCADE
);
INSERT INTO import_seen (org_id, import_id, done, hashes)
SELECT org_id, id, 0, unhex(seen) FROM imports WHERE seen <> '';
ALTER TABLE imports DROP COLUMN seen;

-- +goose Down
ALTER TABLE imports ADD COLUMN seen TEXT NOT NULL DEFAULT '';
UPDATE imports SET seen = (
    SELECT group_concat(lower(hex(hashes)), '' ORDER BY done) FROM import_seen
    WHERE import_seen.org_id = imports.org_id AND import_seen.import_id = imports.id)
WHERE EXISTS (SELECT 1 FROM import_seen WHERE import_seen.org_id = imports.org_id AND import_seen.import_id = imports.id);
DROP TABLE import_seen;
