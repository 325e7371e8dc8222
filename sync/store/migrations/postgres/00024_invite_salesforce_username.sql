-- +goose Up
-- The Salesforce Username of the user an import invited: Join's sign-in is pre-filled with
-- it (Salesforce's login_hint is a username, and a user's Email is often not one; in a
-- Salesforce sandbox it never is). '' for email invites and rows from before this column.
ALTER TABLE invites ADD COLUMN salesforce_username TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE invites DROP COLUMN salesforce_username;
