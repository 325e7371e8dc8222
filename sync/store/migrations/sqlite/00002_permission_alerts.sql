-- +goose Up
-- One row per lost permission of an org's team-level Salesforce user: the audit emails the
-- admins once per row. A permission that stays lost keeps its open row; regained and lost
-- again, it gets a new row (a new lost_since), hence a new email.
CREATE TABLE permission_alerts (
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    check_name  TEXT NOT NULL,
    lost_since  TEXT NOT NULL,
    report_id   TEXT NOT NULL,
    regained_at TEXT,
    sent_at     TEXT,
    PRIMARY KEY (org_id, check_name, lost_since)
);
-- At most one open alert per check, so concurrent audits open it once.
CREATE UNIQUE INDEX permission_alerts_open ON permission_alerts (org_id, check_name) WHERE regained_at IS NULL;

-- +goose Down
DROP TABLE permission_alerts;
