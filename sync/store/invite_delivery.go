package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"tether/sync/directory"
)

// RecordInviteDelivery records that the invitation email d describes was accepted by the
// mail server: in one transaction it marks attempt d.AttemptID sent (MarkInviteSent) and,
// if this call recorded it first, sets the invite's token hash and expiry to the ones that
// email carries. first reports whether this call recorded the attempt; a repeat changes
// nothing. Returns directory.ErrNotFound if the org has no such invite, directory.ErrConflict (and records
// nothing) if the invite is no longer pending, directory.ErrDuplicate if the hash is taken, directory.ErrInvalid
// for an empty attempt id or token hash.
func (q *Queries) RecordInviteDelivery(ctx context.Context, orgID string, d directory.InviteDelivery) (first bool, err error) {
	if d.TokenHash == "" || d.ExpiresAt.IsZero() {
		return false, fmt.Errorf("record delivery of invite %s: empty token hash or expiry: %w", d.InviteID, directory.ErrInvalid)
	}
	err = q.inTx(ctx, func(tx *Queries) error {
		var err error
		first, err = tx.MarkInviteSent(ctx, orgID, InviteSend{InviteID: d.InviteID, AttemptID: d.AttemptID, At: d.At, Resend: d.Resend})
		if err != nil || !first {
			return err
		}
		return tx.RenewInvite(ctx, orgID, d.InviteID, d.TokenHash, d.ExpiresAt, d.At)
	})
	if err != nil {
		return false, err
	}
	return first, nil
}

// FindPendingInvite returns the org's pending invite for email (normalised). Returns
// directory.ErrNotFound if there is none.
func (q *Queries) FindPendingInvite(ctx context.Context, orgID, email string) (directory.Invite, error) {
	i, err := scanInvite(q.q.QueryRowContext(ctx, `SELECT `+inviteCols+` FROM invites
WHERE org_id = $1 AND email = $2 AND status = 'pending'`, orgID, directory.NormalizeEmail(email)))
	if err != nil {
		return directory.Invite{}, q.wrap(err, "find pending invite for an email in org %s", orgID)
	}
	return i, nil
}

// AcceptedSalesforceUsername is the Salesforce Username kept with the newest invite to
// email (normalised) that the org's member accepted, "" when none has one (invites made
// by email, or before migration 00024): a personal Salesforce connect pre-fills it, since
// Salesforce's login hint is a Username and the email often is not one. No index covers
// the email of invites no longer pending, so it reads the org's invites: it runs once a
// connect press, never in a sweep.
func (q *Queries) AcceptedSalesforceUsername(ctx context.Context, orgID, email string) (string, error) {
	var u string
	err := q.q.QueryRowContext(ctx, `SELECT salesforce_username FROM invites
WHERE org_id = $1 AND email = $2 AND status = 'accepted' AND salesforce_username <> ''
ORDER BY accepted_at DESC LIMIT 1`, orgID, directory.NormalizeEmail(email)).Scan(&u)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", q.wrap(err, "read the Salesforce Username of an invite in org %s", orgID)
	}
	return u, nil
}

// BeginInviteAttempt records attempt a of the org's invite as attempting, before its email
// is handed to the mail server, and returns "" if this call recorded it. If the attempt
// was recorded before it changes nothing and returns that record's status: attempting (a
// run that died or is still sending), sent or unknown. Returns directory.ErrNotFound if
// the org has no such invite, directory.ErrInvalid for an attempt below 1.
func (q *Queries) BeginInviteAttempt(ctx context.Context, orgID string, a directory.InviteAttempt) (directory.AttemptStatus, error) {
	if a.Attempt < 1 {
		return "", fmt.Errorf("begin attempt %d of invite %s: %w", a.Attempt, a.InviteID, directory.ErrInvalid)
	}
	id := strconv.Itoa(a.Attempt)
	res, err := q.q.ExecContext(ctx, `INSERT INTO invite_sends (invite_id, attempt_id, sent_at, status, token_hash, expires_at)
SELECT id, $3, $4, 'attempting', $5, $6 FROM invites WHERE org_id = $1 AND id = $2
ON CONFLICT DO NOTHING`, orgID, a.InviteID, id, tm(a.At), a.TokenHash, tm(a.ExpiresAt))
	if err != nil {
		return "", q.wrap(err, "begin attempt %d of invite %s in org %s", a.Attempt, a.InviteID, orgID)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", q.wrap(err, "begin attempt %d of invite %s in org %s", a.Attempt, a.InviteID, orgID)
	} else if n == 1 {
		return "", nil
	}
	var st directory.AttemptStatus
	err = q.q.QueryRowContext(ctx, `SELECT s.status FROM invite_sends s JOIN invites i ON i.id = s.invite_id
WHERE i.org_id = $1 AND s.invite_id = $2 AND s.attempt_id = $3`, orgID, a.InviteID, id).Scan(&st)
	if err != nil {
		return "", q.wrap(err, "begin attempt %d of invite %s in org %s", a.Attempt, a.InviteID, orgID)
	}
	return st, nil
}

// AbandonInviteAttempt deletes the attempting record of attempt of the org's invite: its
// email certainly did not leave (the server refused it, or no connection), so a retry may
// send it. A record already settled is kept; a missing one is no error.
func (q *Queries) AbandonInviteAttempt(ctx context.Context, orgID, inviteID string, attempt int) error {
	_, err := q.q.ExecContext(ctx, `DELETE FROM invite_sends WHERE invite_id = $2 AND attempt_id = $3 AND status = 'attempting'
AND EXISTS (SELECT 1 FROM invites WHERE org_id = $1 AND id = $2)`, orgID, inviteID, strconv.Itoa(attempt))
	return q.wrap(err, "abandon attempt %d of invite %s in org %s", attempt, inviteID, orgID)
}

// SettleInviteAttempt marks attempt of the org's invite unknown if it is still
// attempting, and reports whether it did. The invite's delivery becomes unknown (unless a
// later attempt is already settled), its send failure is cleared, and the attempt counts
// as settled (LastAttempt), so no run and no reconciler sends it again. An invite never
// sent before takes the attempt's link, so the email works if it did arrive; an invite
// sent before keeps the link it has, which is known to be delivered.
func (q *Queries) SettleInviteAttempt(ctx context.Context, orgID, inviteID string, attempt int, at time.Time) (bool, error) {
	settled := false
	id := strconv.Itoa(attempt)
	err := q.inTx(ctx, func(tx *Queries) error {
		var hash string
		var exp time.Time
		err := tx.q.QueryRowContext(ctx, `SELECT s.token_hash, s.expires_at FROM invite_sends s JOIN invites i ON i.id = s.invite_id
WHERE i.org_id = $1 AND s.invite_id = $2 AND s.attempt_id = $3 AND s.status = 'attempting'`, orgID, inviteID, id).Scan(&hash, ts(&exp))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return tx.wrap(err, "settle attempt %d of invite %s in org %s", attempt, inviteID, orgID)
		}
		if _, err := tx.q.ExecContext(ctx, `UPDATE invite_sends SET status = 'unknown' WHERE invite_id = $1 AND attempt_id = $2`,
			inviteID, id); err != nil {
			return tx.wrap(err, "settle attempt %d of invite %s in org %s", attempt, inviteID, orgID)
		}
		adopt := hash != "" && !exp.IsZero()
		_, err = tx.q.ExecContext(ctx, `UPDATE invites SET send_unknown_at = $4, send_error = '', send_failed_at = NULL, last_send_error = '',
last_attempt = $3, updated_at = $4,
token_hash = CASE WHEN $5 AND sent_count = 0 AND status = 'pending' AND expires_at > $4 THEN $6 ELSE token_hash END,
expires_at = CASE WHEN $5 AND sent_count = 0 AND status = 'pending' AND expires_at > $4 THEN $7 ELSE expires_at END
WHERE org_id = $1 AND id = $2 AND last_attempt < $3`, orgID, inviteID, attempt, tm(at), adopt, hash, tm(exp))
		if err != nil {
			return tx.wrap(err, "settle attempt %d of invite %s in org %s", attempt, inviteID, orgID)
		}
		settled = true
		return nil
	})
	return settled, err
}

// StaleInviteAttempts returns attempts of every org still attempting since before
// (their run died; a run still sending is younger than a send task's timeout), oldest
// first, at most limit (<= 0: 1000). The reconciler settles them unknown.
func (q *Queries) StaleInviteAttempts(ctx context.Context, before time.Time, limit int) ([]directory.SendAttempt, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT i.org_id, s.invite_id, s.attempt_id FROM invite_sends s JOIN invites i ON i.id = s.invite_id
WHERE s.status = 'attempting' AND s.sent_at <= $1 ORDER BY s.sent_at LIMIT $2`, tm(before), pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list stale invite send attempts")
	}
	return collect(rows, func(s scanner) (directory.SendAttempt, error) {
		var a directory.SendAttempt
		var id string
		err := s.Scan(&a.OrgID, &a.InviteID, &id)
		a.Attempt = attemptNumber(id)
		return a, err
	})
}

// ResendableInvites returns the ids of the import's pending invites a bulk resend queues:
// never sent (never queued, lost with Redis, failed for good) or whose latest email's
// delivery is unknown, in id order after afterID, at most limit.
func (q *Queries) ResendableInvites(ctx context.Context, orgID, importID, afterID string, limit int) ([]string, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id FROM invites
WHERE org_id = $1 AND import_id = $2 AND status = 'pending' AND (sent_count = 0 OR send_unknown_at IS NOT NULL) AND id > $3
ORDER BY id LIMIT $4`, orgID, importID, afterID, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list resendable invites of import %s in org %s", importID, orgID)
	}
	return collect(rows, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	})
}

// InviteDeliveryCounts counts the import's invites (any status) by where their latest
// invitation email is (directory.Invite.Delivery).
func (q *Queries) InviteDeliveryCounts(ctx context.Context, orgID, importID string) (directory.DeliveryCounts, error) {
	var c directory.DeliveryCounts
	rows, err := q.q.QueryContext(ctx, `SELECT `+deliveryOf+` AS d, COUNT(*) FROM invites
WHERE org_id = $1 AND import_id = $2 GROUP BY d`, orgID, importID)
	if err != nil {
		return c, q.wrap(err, "count deliveries of import %s in org %s", importID, orgID)
	}
	defer rows.Close()
	for rows.Next() {
		var d directory.Delivery
		var n int
		if err := rows.Scan(&d, &n); err != nil {
			return c, q.wrap(err, "count deliveries of import %s in org %s", importID, orgID)
		}
		switch d {
		case directory.DeliverySent:
			c.Sent = n
		case directory.DeliveryFailed:
			c.Failed = n
		case directory.DeliveryUnknown:
			c.Unknown = n
		default:
			c.Unsent = n
		}
	}
	return c, q.wrap(rows.Err(), "count deliveries of import %s in org %s", importID, orgID)
}
