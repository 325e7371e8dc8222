package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"tether/sync/directory"
)

const inviteCols = `id, org_id, email, role, group_id, source, salesforce_user_id, token_hash, status,
expires_at, sent_count, resend_count, last_send_attempt_id, last_sent_at, import_id, accepted_at,
created_at, updated_at, send_error, send_failed_at, time_zone, last_attempt, send_unknown_at, salesforce_username,
last_send_error`

const inviteNCols = 25

func scanInvite(r scanner) (directory.Invite, error) {
	var i directory.Invite
	err := r.Scan(&i.ID, &i.OrgID, &i.Email, &i.Role, ns(&i.GroupID), &i.Source, &i.SalesforceUserID,
		&i.TokenHash, &i.Status, ts(&i.ExpiresAt), &i.SentCount, &i.ResendCount, ns(&i.LastSendAttemptID),
		ts(&i.LastSentAt), ns(&i.ImportID), ts(&i.AcceptedAt), ts(&i.CreatedAt), ts(&i.UpdatedAt),
		&i.SendError, ts(&i.SendFailedAt), &i.TimeZone, &i.LastAttempt, ts(&i.SendUnknownAt), &i.SalesforceUsername,
		&i.LastSendError)
	return i, err
}

// prepareInvite fills defaults and checks what the database cannot say clearly.
func prepareInvite(orgID string, i *directory.Invite, now time.Time) error {
	i.OrgID = orgID
	i.Email = directory.NormalizeEmail(i.Email)
	if i.Status == "" {
		i.Status = directory.InvitePending
	}
	if i.Source == "" {
		i.Source = directory.SourceEmail
	}
	stamp(&i.ID, &i.CreatedAt, now)
	if err := checkTexts(text{"email", i.Email, directory.MaxEmail}); err != nil {
		return fmt.Errorf("invite %s: %w", i.ID, err)
	}
	i.UpdatedAt = i.CreatedAt
	i.ExpiresAt = i.ExpiresAt.UTC().Truncate(time.Microsecond)
	switch {
	case !i.Role.Valid():
		return fmt.Errorf("invite %s: role %q: %w", i.ID, i.Role, directory.ErrInvalid)
	case i.TokenHash == "":
		return fmt.Errorf("invite %s: empty token hash: %w", i.ID, directory.ErrInvalid)
	case i.ExpiresAt.IsZero():
		return fmt.Errorf("invite %s: no expiry: %w", i.ID, directory.ErrInvalid)
	}
	return nil
}

func inviteArgs(i directory.Invite) []any {
	return []any{i.ID, i.OrgID, i.Email, string(i.Role), nullStr(i.GroupID), string(i.Source),
		i.SalesforceUserID, i.TokenHash, string(i.Status), tm(i.ExpiresAt), i.SentCount, i.ResendCount,
		nullStr(i.LastSendAttemptID), tm(i.LastSentAt), nullStr(i.ImportID), tm(i.AcceptedAt),
		tm(i.CreatedAt), tm(i.UpdatedAt), i.SendError, tm(i.SendFailedAt), i.TimeZone, i.LastAttempt, tm(i.SendUnknownAt), i.SalesforceUsername,
		i.LastSendError}
}

// CreateInvite inserts inv into orgID (inv.OrgID is ignored) and returns it as stored.
// Defaults: a new ID, status pending, source email, CreatedAt now; the email is
// normalised. Returns directory.ErrDuplicate if the org already has a pending invite for the email
// or the token hash is taken, directory.ErrNotFound if the org, group or import does not exist in
// the org, directory.ErrInvalid for an unknown role, empty token hash or no expiry.
func (q *Queries) CreateInvite(ctx context.Context, orgID string, inv directory.Invite) (directory.Invite, error) {
	if err := requireOrg(orgID); err != nil {
		return directory.Invite{}, err
	}
	if err := prepareInvite(orgID, &inv, time.Now()); err != nil {
		return directory.Invite{}, fmt.Errorf("create invite in org %s: %w", orgID, err)
	}
	_, err := q.q.ExecContext(ctx, `INSERT INTO invites (`+inviteCols+`) VALUES `+placeholders(1, inviteNCols),
		inviteArgs(inv)...)
	if err != nil {
		return directory.Invite{}, q.wrap(err, "create invite %s in org %s", inv.ID, orgID)
	}
	return inv, nil
}

// GetInvite returns the org's invite id. Returns directory.ErrNotFound if the org has none with that
// id.
func (q *Queries) GetInvite(ctx context.Context, orgID, id string) (directory.Invite, error) {
	i, err := scanInvite(q.q.QueryRowContext(ctx,
		`SELECT `+inviteCols+` FROM invites WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return directory.Invite{}, q.wrap(err, "get invite %s in org %s", id, orgID)
	}
	return i, nil
}

// GetInviteByTokenHash returns the invite whose Join-link token hashes to tokenHash, in
// any status. This is the one read not scoped by org: the person following a Join link
// has no org yet, and the token hash is globally unique and unguessable, so it identifies
// one invite of one org. Returns directory.ErrNotFound if no invite has that hash.
func (q *Queries) GetInviteByTokenHash(ctx context.Context, tokenHash string) (directory.Invite, error) {
	i, err := scanInvite(q.q.QueryRowContext(ctx,
		`SELECT `+inviteCols+` FROM invites WHERE token_hash = $1`, tokenHash))
	if err != nil {
		return directory.Invite{}, q.wrap(err, "get invite by token hash")
	}
	return i, nil
}

// InviteFilter selects invites (directory.InviteFilter).
type InviteFilter = directory.InviteFilter

// deliveryOf is the SQL form of directory.Invite.Delivery.
const deliveryOf = `CASE WHEN send_failed_at IS NOT NULL THEN 'failed' WHEN send_unknown_at IS NOT NULL THEN 'unknown'
WHEN sent_count > 0 THEN 'sent' ELSE 'unsent' END`

// ListInvites returns the org's invites matching f, in id order. f.Delivery selects
// pending invites only.
func (q *Queries) ListInvites(ctx context.Context, orgID string, f InviteFilter) ([]directory.Invite, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+inviteCols+` FROM invites
WHERE org_id = $1 AND id > $2 AND ($3 = '' OR status = $3) AND ($4 = '' OR import_id = $4)
  AND ($5 = '' OR email = $5) AND ($7 = '' OR (status = 'pending' AND `+deliveryOf+` = $7))
ORDER BY id LIMIT $6`,
		orgID, f.AfterID, string(f.Status), f.ImportID, directory.NormalizeEmail(f.Email), pageSize(f.Limit), string(f.Delivery))
	if err != nil {
		return nil, q.wrap(err, "list invites in org %s", orgID)
	}
	return collect(rows, scanInvite)
}

// RevokeInvite marks the org's pending invite id revoked at time at. Returns directory.ErrNotFound
// if the org has no such invite, directory.ErrConflict if it is no longer pending.
func (q *Queries) RevokeInvite(ctx context.Context, orgID, id string, at time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE invites SET status = 'revoked', updated_at = $3
WHERE org_id = $1 AND id = $2 AND status = 'pending'`, orgID, id, tm(at))
	if err := q.affected(res, err, "revoke invite %s in org %s", id, orgID); err != nil {
		return q.notPendingOr(ctx, orgID, id, err)
	}
	return nil
}

// RenewInvite gives the org's pending invite id a new token hash and expiry (a resend with
// a fresh link). Only an invite that has not lapsed at at is renewed: it holds a seat,
// while a lapsed one must take one under the seat lock first (ReserveInviteSeat). Returns
// directory.ErrNotFound if the org has no such invite, directory.ErrConflict if it is no longer pending or
// has lapsed, directory.ErrDuplicate if the hash is taken.
func (q *Queries) RenewInvite(ctx context.Context, orgID, id, tokenHash string, expiresAt, at time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE invites SET token_hash = $3, expires_at = $4, updated_at = $5
WHERE org_id = $1 AND id = $2 AND status = 'pending' AND expires_at > $5`, orgID, id, tokenHash, tm(expiresAt), tm(at))
	if err := q.affected(res, err, "renew invite %s in org %s", id, orgID); err != nil {
		return q.notPendingOr(ctx, orgID, id, err)
	}
	return nil
}

// notPendingOr turns a not-found from a "WHERE status = 'pending'" update into
// directory.ErrConflict when the invite exists in another status.
func (q *Queries) notPendingOr(ctx context.Context, orgID, id string, err error) error {
	if !errors.Is(err, directory.ErrNotFound) {
		return err
	}
	inv, gerr := q.GetInvite(ctx, orgID, id)
	if gerr != nil {
		return gerr
	}
	if inv.Status == directory.InvitePending {
		return fmt.Errorf("invite %s in org %s lapsed at %s: %w", id, orgID, inv.ExpiresAt.Format(time.RFC3339), directory.ErrConflict)
	}
	return fmt.Errorf("invite %s in org %s is %s: %w", id, orgID, inv.Status, directory.ErrConflict)
}

// ExpireInvites marks every pending invite whose expiry is at or before before as expired
// and returns how many. A system-wide sweep, not scoped to one org.
func (q *Queries) ExpireInvites(ctx context.Context, before time.Time) (int64, error) {
	res, err := q.q.ExecContext(ctx, `UPDATE invites SET status = 'expired', updated_at = $1
WHERE status = 'pending' AND expires_at <= $1`, tm(before))
	if err != nil {
		return 0, q.wrap(err, "expire invites")
	}
	n, err := res.RowsAffected()
	return n, q.wrap(err, "expire invites")
}

// attemptNumber is the attempt number an attempt id names ("3"), or 0 for an id that is
// not a number (older callers named attempts by task id).
func attemptNumber(id string) int {
	n, err := strconv.Atoi(id)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// InviteSend records one send of an invitation email.
type InviteSend struct {
	InviteID string
	// AttemptID identifies the send attempt (for example the task id); recording the same
	// attempt twice counts once.
	AttemptID string
	At        time.Time
	// Resend also counts the send as a resend.
	Resend bool
}

// MarkInviteSent records s against the org's invite: it bumps the sent (and, for a
// resend, resend) count and the last-send fields, unless s.AttemptID was recorded before.
// first reports whether this call recorded it. Returns directory.ErrNotFound if the org has no such
// invite.
func (q *Queries) MarkInviteSent(ctx context.Context, orgID string, s InviteSend) (first bool, err error) {
	if s.AttemptID == "" {
		return false, fmt.Errorf("mark invite %s sent: empty attempt id: %w", s.InviteID, directory.ErrInvalid)
	}
	err = q.inTx(ctx, func(tx *Queries) error {
		// An attempting or unknown record of the attempt becomes sent: the server's
		// acceptance is the better truth.
		res, err := tx.q.ExecContext(ctx, `INSERT INTO invite_sends (invite_id, attempt_id, sent_at, status)
SELECT id, $3, $4, 'sent' FROM invites WHERE org_id = $1 AND id = $2
ON CONFLICT (invite_id, attempt_id) DO UPDATE SET status = 'sent', sent_at = excluded.sent_at
WHERE invite_sends.status <> 'sent'`, orgID, s.InviteID, s.AttemptID, tm(s.At))
		if err != nil {
			return tx.wrap(err, "mark invite %s sent in org %s", s.InviteID, orgID)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return tx.wrap(err, "mark invite %s sent in org %s", s.InviteID, orgID)
			}
			// Either a repeat of the attempt or no such invite in this org.
			_, err := tx.GetInvite(ctx, orgID, s.InviteID)
			return err
		}
		first = true
		// The unknown mark belongs to the latest attempt: a later one sent clears it.
		res, err = tx.q.ExecContext(ctx, `UPDATE invites SET sent_count = sent_count + 1,
resend_count = resend_count + $3, last_send_attempt_id = $4, last_sent_at = $5, updated_at = $5,
send_error = '', send_failed_at = NULL, last_send_error = '',
send_unknown_at = CASE WHEN $6 >= last_attempt THEN NULL ELSE send_unknown_at END,
last_attempt = CASE WHEN $6 > last_attempt THEN $6 ELSE last_attempt END
WHERE org_id = $1 AND id = $2`, orgID, s.InviteID, boolInt(s.Resend), s.AttemptID, tm(s.At), attemptNumber(s.AttemptID))
		return tx.affected(res, err, "mark invite %s sent in org %s", s.InviteID, orgID)
	})
	if err != nil {
		return false, err
	}
	return first, nil
}

// AcceptInvite accepts the pending invite whose token hashes to tokenHash, in one
// transaction: the invite becomes accepted, the user is created if the email is new
// (named name, landing in the invite's org), and the membership is created active or, if
// pending or deactivated, activated with the invite's role; an active membership keeps its
// role. The invite's group is added either way. Like GetInviteByTokenHash it is not
// org-scoped (see there). Returns directory.ErrNotFound if no invite has the hash, directory.ErrConflict if it
// is not pending, directory.ErrExpired if at is at or past its expiry.
func (q *Queries) AcceptInvite(ctx context.Context, tokenHash, name string, at time.Time) (directory.Membership, error) {
	var m directory.Membership
	if err := checkTexts(text{"name", name, directory.MaxPersonName}); err != nil {
		return m, fmt.Errorf("accept invite: %w", err)
	}
	err := q.inTx(ctx, func(tx *Queries) error {
		inv, err := scanInvite(tx.q.QueryRowContext(ctx,
			`SELECT `+inviteCols+` FROM invites WHERE token_hash = $1`+tx.d.forUpdate, tokenHash))
		if err != nil {
			return tx.wrap(err, "accept invite")
		}
		switch {
		case inv.Status != directory.InvitePending:
			return fmt.Errorf("accept invite %s: invite is %s: %w", inv.ID, inv.Status, directory.ErrConflict)
		case !at.Before(inv.ExpiresAt):
			return fmt.Errorf("accept invite %s: %w", inv.ID, directory.ErrExpired)
		}
		// A no-op DO UPDATE so RETURNING yields the id of an existing user too.
		var userID string
		err = tx.q.QueryRowContext(ctx, `INSERT INTO users (id, email, name, favourite_org_id, created_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (email) DO UPDATE SET email = excluded.email RETURNING id`,
			newID(), inv.Email, name, inv.OrgID, tm(at)).Scan(&userID)
		if err != nil {
			return tx.wrap(err, "accept invite %s: user", inv.ID)
		}
		m, err = tx.GetMembershipByUser(ctx, inv.OrgID, userID)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			m, err = tx.CreateMembership(ctx, inv.OrgID, directory.Membership{
				UserID: userID, Role: inv.Role, Status: directory.MembershipActive,
				GroupIDs: nonEmpty(inv.GroupID), SalesforceUserID: inv.SalesforceUserID, CreatedAt: at,
			})
			if err != nil {
				return fmt.Errorf("accept invite %s: %w", inv.ID, err)
			}
		case err != nil:
			return fmt.Errorf("accept invite %s: %w", inv.ID, err)
		default:
			if m.Status != directory.MembershipActive {
				m.Role = inv.Role
				m.Status = directory.MembershipActive
				m.DeactivatedAt = time.Time{} // a re-invited member is back
				m.ActivatedAt = at.UTC().Truncate(time.Microsecond)
			}
			if inv.GroupID != "" && !slices.Contains(m.GroupIDs, inv.GroupID) {
				m.GroupIDs = append(m.GroupIDs, inv.GroupID)
			}
			if m.SalesforceUserID == "" {
				m.SalesforceUserID = inv.SalesforceUserID
			}
			m.UpdatedAt = at.UTC().Truncate(time.Microsecond)
			if err := tx.UpdateMembership(ctx, inv.OrgID, m, at); err != nil {
				return fmt.Errorf("accept invite %s: %w", inv.ID, err)
			}
		}
		if inv.TimeZone != "" {
			// The rep's Salesforce zone, for quiet hours; a newer import's wins.
			if err := tx.SetMemberTimeZone(ctx, inv.OrgID, m.ID, inv.TimeZone); err != nil {
				return fmt.Errorf("accept invite %s: %w", inv.ID, err)
			}
		}
		res, err := tx.q.ExecContext(ctx, `UPDATE invites SET status = 'accepted', accepted_at = $3, updated_at = $3
WHERE org_id = $1 AND id = $2`, inv.OrgID, inv.ID, tm(at))
		return tx.affected(res, err, "accept invite %s", inv.ID)
	})
	if err != nil {
		return directory.Membership{}, err
	}
	return m, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// placeholders returns "($from, …, $from+n-1)".
func placeholders(from, n int) string {
	b := make([]byte, 0, n*5)
	b = append(b, '(')
	for i := range n {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = fmt.Appendf(b, "$%d", from+i)
	}
	return string(append(b, ')'))
}
