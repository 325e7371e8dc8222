-- +goose Up
-- Why the latest attempt of an invite's email failed while its task is still retrying (a
-- sentence without secrets, as the worker records it), so the invites list shows it before
-- the retries are spent. send_error is only for a send that failed for good. A recorded,
-- unknown or failed-for-good send, or a resend, clears it.
ALTER TABLE invites ADD COLUMN last_send_error TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE invites DROP COLUMN last_send_error;
