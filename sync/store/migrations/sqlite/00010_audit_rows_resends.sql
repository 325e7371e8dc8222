-- +goose Up
-- A permission audit someone asked for (or the daily sweep queued) is a row, so the
-- reconciler can give a queued or running audit its task back when Redis lost it, and a
-- task that gave up leaves the audit failed with its reason rather than pending forever.
CREATE TABLE permission_audits (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    -- day is YYYYMMDD for the daily sweep's audit, '' for one asked for.
    day          TEXT NOT NULL DEFAULT '',
    requested_by TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    report_id    TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
-- One pending on-demand audit per org (a second request joins it), one audit per org and day.
CREATE UNIQUE INDEX permission_audits_pending ON permission_audits (org_id)
    WHERE day = '' AND status IN ('queued', 'running');
CREATE UNIQUE INDEX permission_audits_day ON permission_audits (org_id, day) WHERE day <> '';
CREATE INDEX permission_audits_unfinished ON permission_audits (org_id, id)
    WHERE status IN ('queued', 'running');

-- The attempt a resend asked for: a resend whose task Redis lost (send_requested above
-- sent_count) is queued again by the reconciler, like a first send.
ALTER TABLE invites ADD COLUMN send_requested INTEGER NOT NULL DEFAULT 0;
CREATE INDEX invites_resend_requested ON invites (org_id, id)
    WHERE status = 'pending' AND send_requested > sent_count;

-- +goose Down
DROP INDEX invites_resend_requested;
ALTER TABLE invites DROP COLUMN send_requested;
DROP TABLE permission_audits;
