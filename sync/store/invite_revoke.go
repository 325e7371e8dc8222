package store

import (
	"context"
	"time"

	"tether/sync/directory"
)

// emailDueCond holds for an invite whose invitation email is still to go
// (directory.ImportInviteCounts.EmailsDue), status aside; $3 is the time of the question.
const emailDueCond = `send_failed_at IS NULL AND expires_at > $3
AND (last_attempt = 0 OR send_requested > last_attempt)
AND NOT EXISTS (SELECT 1 FROM invite_sends s WHERE s.invite_id = invites.id AND s.status = 'attempting')`

// RevokeImportInvites revokes up to limit (<= 0: 1000) of the pending invites of the
// org's import importID at time at, in one statement, as RevokeInvite does one: the link
// stops working, the seat is free, a queued send task finds the invite revoked and sends
// nothing. Accepted, revoked and expired invites are never touched. Call it until it
// revokes none; a run stopped half-way is finished by calling it again. An unknown import
// (or one of another org) revokes nothing.
func (q *Queries) RevokeImportInvites(ctx context.Context, orgID, importID string, at time.Time, limit int) (directory.RevokedPage, error) {
	var p directory.RevokedPage
	// The status check is repeated outside the page's select: an invite accepted between
	// the two (PostgreSQL re-reads the row it waited for) stays accepted. RETURNING reads
	// the row after the update: only its status changed, so emailDueCond still holds.
	rows, err := q.q.QueryContext(ctx, `UPDATE invites SET status = 'revoked', updated_at = $3
WHERE org_id = $1 AND import_id = $2 AND status = 'pending' AND id `+
		q.d.inOnce(`SELECT id FROM invites WHERE org_id = $1 AND import_id = $2 AND status = 'pending' LIMIT $4`)+`
RETURNING CASE WHEN `+emailDueCond+` THEN 1 ELSE 0 END`, orgID, importID, tm(at), pageSize(limit))
	if err != nil {
		return p, q.wrap(err, "revoke invites of import %s in org %s", importID, orgID)
	}
	due, err := collect(rows, func(s scanner) (int, error) {
		var n int
		return n, s.Scan(&n)
	})
	if err != nil {
		return p, q.wrap(err, "revoke invites of import %s in org %s", importID, orgID)
	}
	p.Revoked = len(due)
	for _, n := range due {
		p.EmailsStopped += n
	}
	return p, nil
}

// CountImportInvites counts the invites of the org's import importID by status at time
// at, and those whose email is still due. An unknown import (or one of another org)
// counts nothing: check it exists first where that matters.
func (q *Queries) CountImportInvites(ctx context.Context, orgID, importID string, at time.Time) (directory.ImportInviteCounts, error) {
	var c directory.ImportInviteCounts
	rows, err := q.q.QueryContext(ctx, `SELECT status, COUNT(*), SUM(CASE WHEN status = 'pending' AND `+emailDueCond+` THEN 1 ELSE 0 END) FROM invites
WHERE org_id = $1 AND import_id = $2 GROUP BY status`, orgID, importID, tm(at))
	if err != nil {
		return c, q.wrap(err, "count invites of import %s in org %s", importID, orgID)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			st     directory.InviteStatus
			n, due int
		)
		if err := rows.Scan(&st, &n, &due); err != nil {
			return c, q.wrap(err, "count invites of import %s in org %s", importID, orgID)
		}
		switch st {
		case directory.InvitePending:
			c.Pending, c.EmailsDue = n, due
		case directory.InviteAccepted:
			c.Accepted = n
		case directory.InviteRevoked:
			c.Revoked = n
		case directory.InviteExpired:
			c.Expired = n
		}
	}
	return c, q.wrap(rows.Err(), "count invites of import %s in org %s", importID, orgID)
}
