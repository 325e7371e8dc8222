package store

import (
	"context"
	"fmt"

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
