-- +goose Up
-- An import's seen set had been one text column that each page's checkpoint appended to,
-- which rewrote the whole growing value every page: quadratic in the import's size. Each
-- page's hashes (8 bytes each, big-endian) are now a row of their own, keyed by the
-- import's progress after that page, so a re-run of a checkpoint adds nothing twice.
CREATE TABLE import_seen (
    org_id    TEXT NOT NULL,
    import_id TEXT NOT NULL,
    done      INTEGER NOT NULL,
    hashes    BYTEA NOT NULL,
    PRIMARY KEY (org_id, import_id, done),
    FOREIGN KEY (org_id, import_id) REFERENCES imports (org_id, id) ON DELETE CASCADE
);
INSERT INTO import_seen (org_id, import_id, done, hashes)
SELECT org_id, id, 0, decode(seen, 'hex') FROM imports WHERE seen <> '';
ALTER TABLE imports DROP COLUMN seen;

-- +goose Down
ALTER TABLE imports ADD COLUMN seen TEXT NOT NULL DEFAULT '';
UPDATE imports SET seen = s.hex FROM (
    SELECT org_id, import_id, string_agg(encode(hashes, 'hex'), '' ORDER BY done) AS hex
    FROM import_seen GROUP BY org_id, import_id) s
WHERE imports.org_id = s.org_id AND imports.id = s.import_id;
DROP TABLE import_seen;
