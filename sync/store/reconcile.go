package store

import (
	"context"
	"time"

	"tether/sync/directory"
)

// UnfinishedImports returns imports of every org that are queued, running or paused, in
// (org id, id) order after after, at most limit (<= 0: 1000). The reconciler checks each
// has a live task.
func (q *Queries) UnfinishedImports(ctx context.Context, after directory.Ref, limit int) ([]directory.Import, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+importCols+` FROM imports
WHERE status IN ('queued', 'running', 'paused') AND (org_id > $1 OR (org_id = $1 AND id > $2))
ORDER BY org_id, id LIMIT $3`, after.OrgID, after.ID, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list unfinished imports")
	}
	return collect(rows, scanImport)
}

// UnsentInviteRefs returns pending, unexpired invites of every org whose first email was
// never attempted (no attempt sent, unknown or in flight) and has not failed for good, in
// (org id, id) order after after, at most limit (<= 0: 1000). The reconciler checks each
// has a live send task.
func (q *Queries) UnsentInviteRefs(ctx context.Context, after directory.Ref, at time.Time, limit int) ([]directory.Ref, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT org_id, id FROM invites
WHERE status = 'pending' AND last_attempt = 0 AND send_failed_at IS NULL AND expires_at > $3
AND NOT EXISTS (SELECT 1 FROM invite_sends s WHERE s.invite_id = invites.id)
AND (org_id > $1 OR (org_id = $1 AND id > $2))
ORDER BY org_id, id LIMIT $4`, after.OrgID, after.ID, tm(at), pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list unsent invites")
	}
	return collect(rows, func(s scanner) (directory.Ref, error) {
		var r directory.Ref
		return r, s.Scan(&r.OrgID, &r.ID)
	})
}

// MarkInviteSendFailed records why the org's invite could not be sent (reason, a sentence
// for the operator) at at. Returns directory.ErrNotFound if the org has no such invite.
func (q *Queries) MarkInviteSendFailed(ctx context.Context, orgID, inviteID, reason string, at time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE invites SET send_error = $3, send_failed_at = $4, send_unknown_at = NULL, last_send_error = '', updated_at = $4
WHERE org_id = $1 AND id = $2`, orgID, inviteID, reason, tm(at))
	return q.affected(res, err, "mark send of invite %s failed in org %s", inviteID, orgID)
}

// NoteInviteSendError records reason (a sentence without secrets) as why attempt of the
// org's invite failed while its task retries: shown until a send is recorded, settled
// unknown or failed for good, or a resend is asked. A note for an attempt already settled
// (a later one was sent or is unknown) is dropped. Returns directory.ErrNotFound if the
// org has no such invite.
func (q *Queries) NoteInviteSendError(ctx context.Context, orgID, inviteID string, attempt int, reason string, at time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE invites SET last_send_error = $4, updated_at = $5
WHERE org_id = $1 AND id = $2 AND last_attempt < $3 AND send_failed_at IS NULL`, orgID, inviteID, attempt, reason, tm(at))
	if err != nil {
		return q.wrap(err, "note send error of invite %s in org %s", inviteID, orgID)
	}
	if n, err := res.RowsAffected(); err != nil {
		return q.wrap(err, "note send error of invite %s in org %s", inviteID, orgID)
	} else if n == 0 {
		// Settled, or no such invite: only the latter is an error.
		_, err := q.GetInvite(ctx, orgID, inviteID)
		return err
	}
	return nil
}

// RequestInviteSend records that attempt of the org's invite was asked for (a resend),
// keeping the highest attempt asked, and clears an earlier send failure: the reconciler
// queues the attempt again if its task is lost before it is sent. Returns
// directory.ErrNotFound if the org has no such invite.
func (q *Queries) RequestInviteSend(ctx context.Context, orgID, inviteID string, attempt int, at time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE invites SET send_requested = CASE WHEN send_requested < $3 THEN $3 ELSE send_requested END,
send_error = '', send_failed_at = NULL, last_send_error = '', updated_at = $4 WHERE org_id = $1 AND id = $2`, orgID, inviteID, attempt, tm(at))
	return q.affected(res, err, "record resend %d of invite %s in org %s", attempt, inviteID, orgID)
}

// RequestedResends returns the resends asked for (RequestInviteSend) of pending, unexpired
// invites of every org that were not settled yet (sent or unknown), are not in flight and
// have not failed for good, in (org id, id) order after after, at most limit (<= 0:
// 1000). The reconciler checks each has a live send task.
func (q *Queries) RequestedResends(ctx context.Context, after directory.Ref, at time.Time, limit int) ([]directory.SendAttempt, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT org_id, id, last_attempt + 1 FROM invites
WHERE status = 'pending' AND send_requested > last_attempt AND send_failed_at IS NULL AND expires_at > $3
AND NOT EXISTS (SELECT 1 FROM invite_sends s WHERE s.invite_id = invites.id AND s.status = 'attempting')
AND (org_id > $1 OR (org_id = $1 AND id > $2))
ORDER BY org_id, id LIMIT $4`, after.OrgID, after.ID, tm(at), pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list requested resends")
	}
	return collect(rows, func(s scanner) (directory.SendAttempt, error) {
		var a directory.SendAttempt
		return a, s.Scan(&a.OrgID, &a.InviteID, &a.Attempt)
	})
}
