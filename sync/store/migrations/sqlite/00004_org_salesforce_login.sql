-- +goose Up
-- Which Salesforce login host the org's team and personal connects use: production
-- (login.salesforce.com) or sandbox (test.salesforce.com). Existing orgs are production.
ALTER TABLE orgs ADD COLUMN salesforce_login TEXT NOT NULL DEFAULT 'production'
    CHECK (salesforce_login IN ('production', 'sandbox'));
-- Listing a parent's client orgs.
CREATE INDEX orgs_parent ON orgs (parent_org_id) WHERE parent_org_id IS NOT NULL;

-- +goose Down
DROP INDEX orgs_parent;
ALTER TABLE orgs DROP COLUMN salesforce_login;
