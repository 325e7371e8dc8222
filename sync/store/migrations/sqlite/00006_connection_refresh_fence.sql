-- +goose Up
-- The fencing token of the lock lease under which the row's tokens were last refreshed: a
-- refresh whose lease lapsed (a slow provider call, a paused worker) carries an older
-- token and cannot overwrite a newer refresh (ARCHITECTURE.md, invariant 2).
ALTER TABLE connections ADD COLUMN refresh_fence INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE connections DROP COLUMN refresh_fence;
