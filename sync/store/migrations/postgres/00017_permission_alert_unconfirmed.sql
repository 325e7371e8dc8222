-- +goose Up
-- An alert whose email was handed over but whose answer was lost (the connection broke
-- after the final dot) is recorded sent and unconfirmed: never emailed again, and an
-- admin reading the record can tell it may not have arrived.
ALTER TABLE permission_alerts ADD COLUMN unconfirmed INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE permission_alerts DROP COLUMN unconfirmed;
