package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"tether/sync/directory"
	"tether/sync/invites"
)

// FindGroup returns the org's group named name (trimmed); ok is false if there is none.
func (q *Queries) FindGroup(ctx context.Context, orgID, name string) (g directory.Group, ok bool, err error) {
	g, err = scanGroup(q.q.QueryRowContext(ctx,
		`SELECT `+groupCols+` FROM org_groups WHERE org_id = $1 AND name = $2`, orgID, strings.TrimSpace(name)))
	if err != nil {
		err = q.wrap(err, "find group %q in org %s", name, orgID)
		if errors.Is(err, directory.ErrNotFound) {
			return directory.Group{}, false, nil
		}
		return directory.Group{}, false, err
	}
	return g, true, nil
}

// UnsentInvites returns the ids of the import's pending invites whose email was never
// attempted (none sent, unknown or in flight), in id order after afterID, at most limit
// (<= 0: 1000).
func (q *Queries) UnsentInvites(ctx context.Context, orgID, importID, afterID string, limit int) ([]string, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id FROM invites
WHERE org_id = $1 AND import_id = $2 AND status = 'pending' AND last_attempt = 0 AND id > $3
AND NOT EXISTS (SELECT 1 FROM invite_sends s WHERE s.invite_id = invites.id)
ORDER BY id LIMIT $4`, orgID, importID, afterID, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list unsent invites of import %s in org %s", importID, orgID)
	}
	return collect(rows, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	})
}

// Invites adapts a Store to invites.Store.
type Invites struct{ *Store }

var _ invites.Store = Invites{}

// WritePage implements invites.Store: in one transaction it locks the org's seats
// (LockOrgSeats), plans the page from them, expires its lapsed invites
// (ExpireLapsedInvites), inserts it (InsertImportPage, conflicting rows
// skipped) and saves the import finish returns, with updated_at = at.
func (s Invites) WritePage(ctx context.Context, orgID string, at time.Time,
	plan func(seats directory.Seats) (invites.Page, error),
	finish func(res invites.PageResult) (directory.Checkpoint, error)) error {
	return s.InTx(ctx, func(tx *Queries) error {
		seats, err := tx.LockOrgSeats(ctx, orgID, at)
		if err != nil {
			return err
		}
		p, err := plan(seats)
		if err != nil {
			return err
		}
		if err := tx.ExpireLapsedInvites(ctx, orgID, p.Expire, at); err != nil {
			return err
		}
		var res ImportPageResult
		if len(p.Invites) > 0 || len(p.Memberships) > 0 {
			res, err = tx.InsertImportPage(ctx, orgID, ImportPage{Memberships: p.Memberships, Invites: p.Invites})
			if err != nil {
				return err
			}
		}
		cp, err := finish(invites.PageResult{MembershipIDs: res.MembershipIDs, InviteIDs: res.InviteIDs})
		if err != nil {
			return err
		}
		return tx.SaveCheckpoint(ctx, orgID, cp, at)
	})
}

var _ invites.AdminStore = Invites{}
