-- +goose Up
-- Connection upkeep (issue 14). A failure keeps its class (who acts), the provider's
-- sub-code and tether's sentence, besides last_error_code/description; failure_cause
-- separates "lost during refresh" (a rotated grant consumed by a refresh whose answer was
-- lost) from a revoke. next_attempt_at is the earliest provider call allowed (Retry-After,
-- backoff); failing_since starts the streak that turns a connection to error. needs_admin
-- joins the states.
ALTER TABLE connections DROP CONSTRAINT IF EXISTS connections_state_check;
ALTER TABLE connections ADD CONSTRAINT connections_state_check CHECK (state IN ('missing', 'healthy',
    'refreshing', 'degraded', 'error', 'needs_reconnect', 'needs_admin', 'revoked'));
ALTER TABLE connections ADD COLUMN failure_class TEXT NOT NULL DEFAULT '';
ALTER TABLE connections ADD COLUMN failure_subcode TEXT NOT NULL DEFAULT '';
ALTER TABLE connections ADD COLUMN failure_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE connections ADD COLUMN failure_cause TEXT NOT NULL DEFAULT '';
ALTER TABLE connections ADD COLUMN next_attempt_at TIMESTAMPTZ;
ALTER TABLE connections ADD COLUMN failing_since TIMESTAMPTZ;
-- The sweep reads due rows only: next_refresh_at holds the earliest of the next refresh,
-- verification and retry, and the partial index matches the sweep's predicate exactly, so
-- the read costs what is due, not the table's size.
DROP INDEX IF EXISTS connections_due;
CREATE INDEX connections_due ON connections (next_refresh_at, id)
    WHERE next_refresh_at IS NOT NULL AND state <> 'revoked';

-- +goose Down
DROP INDEX IF EXISTS connections_due;
CREATE INDEX connections_due ON connections (next_refresh_at, id) WHERE next_refresh_at IS NOT NULL;
ALTER TABLE connections DROP COLUMN failing_since;
ALTER TABLE connections DROP COLUMN next_attempt_at;
ALTER TABLE connections DROP COLUMN failure_cause;
ALTER TABLE connections DROP COLUMN failure_reason;
ALTER TABLE connections DROP COLUMN failure_subcode;
ALTER TABLE connections DROP COLUMN failure_class;
UPDATE connections SET state = 'error' WHERE state = 'needs_admin';
ALTER TABLE connections DROP CONSTRAINT IF EXISTS connections_state_check;
ALTER TABLE connections ADD CONSTRAINT connections_state_check CHECK (state IN ('missing', 'healthy',
    'refreshing', 'degraded', 'error', 'needs_reconnect', 'revoked'));
