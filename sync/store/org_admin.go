package store

import (
	"context"
	"fmt"
	"time"

	"tether/sync/directory"
)

// maxOrgDepth bounds the walk up an org's parents; a longer chain is a corrupt table.
const maxOrgDepth = 100

// ListOrgs returns the orgs f selects, in id order, each with its seat usage at time at
// (as CountSeats counts it) and its number of client orgs, in one statement. This is a
// system-wide read for the operator, not scoped to one org.
func (q *Queries) ListOrgs(ctx context.Context, f directory.OrgFilter, at time.Time) ([]directory.OrgUsage, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+orgCols+`,
  (SELECT count(*) FROM memberships m WHERE m.org_id = o.id AND m.status = 'active'),
  (SELECT count(*) FROM invites i WHERE i.org_id = o.id AND i.status = 'pending' AND i.expires_at > $2),
  (SELECT count(*) FROM orgs c WHERE c.parent_org_id = o.id)
FROM orgs o WHERE o.id > $1 AND ($3 = '' OR o.parent_org_id = $3)
ORDER BY o.id LIMIT $4`, f.AfterID, tm(at), f.ParentID, pageSize(f.Limit))
	if err != nil {
		return nil, q.wrap(err, "list orgs")
	}
	return collect(rows, func(r scanner) (directory.OrgUsage, error) {
		var u directory.OrgUsage
		o := &u.Org
		var secs int64
		err := r.Scan(&o.ID, &o.Name, &o.SeatLimit, ns(&o.ParentOrgID), js(&o.Policy), ts(&o.CreatedAt), &o.SalesforceLogin,
			&secs, ts(&o.SalesforceSession.LearnedAt), ts(&o.SalesforceSession.CheckedAt),
			&u.Seats.Active, &u.Seats.PendingInvites, &u.Clients)
		o.SalesforceSession.Timeout = time.Duration(secs) * time.Second
		u.Seats.Limit = o.SeatLimit
		return u, err
	})
}

// lockOrg reads the org and, on PostgreSQL, locks its row until the transaction ends.
func (q *Queries) lockOrg(ctx context.Context, orgID string) (directory.Org, error) {
	o, err := scanOrg(q.q.QueryRowContext(ctx, `SELECT `+orgCols+` FROM orgs WHERE id = $1`+q.d.forUpdate, orgID))
	if err != nil {
		return directory.Org{}, q.wrap(err, "lock org %s", orgID)
	}
	return o, nil
}

// ChangeOrg applies ch to the org in one transaction and returns the org as stored. The
// org's row is locked first, so a new seat limit is compared with seats counted under the
// same lock that imports take (no import can slip in between). Returns directory.ErrNotFound if the
// org or the new parent does not exist, *directory.SeatsInUseError for a limit below the
// seats in use, *directory.ParentCycleError for a parent that is the org or one of its
// clients at any depth, directory.ErrInvalid for a negative limit or an unknown Salesforce login.
//
// The parents on the path are locked too (PostgreSQL), so two changes that would close a
// cycle between them cannot both commit: one waits, and then sees the other's parent (or,
// if PostgreSQL picks it as a deadlock victim, fails and can be retried).
func (q *Queries) ChangeOrg(ctx context.Context, orgID string, ch directory.OrgChange, at time.Time) (directory.Org, error) {
	if err := requireOrg(orgID); err != nil {
		return directory.Org{}, err
	}
	var out directory.Org
	err := q.inTx(ctx, func(tx *Queries) error {
		o, err := tx.lockOrg(ctx, orgID)
		if err != nil {
			return err
		}
		if ch.Name != nil {
			o.Name = *ch.Name
		}
		if ch.SalesforceLogin != nil {
			o.SalesforceLogin = *ch.SalesforceLogin
		}
		if ch.Policy != nil {
			if err := ch.Policy.Validate(); err != nil {
				return fmt.Errorf("change org %s: %v: %w", orgID, err, directory.ErrInvalid)
			}
			o.Policy = o.Policy.Merge(ch.Policy)
		}
		if ch.SeatLimit != nil {
			limit := *ch.SeatLimit
			if limit < 0 {
				return fmt.Errorf("change org %s: seat limit %d: %w", orgID, limit, directory.ErrInvalid)
			}
			seats, err := tx.CountSeats(ctx, orgID, at)
			if err != nil {
				return err
			}
			if limit > 0 && limit < seats.Used() {
				return &directory.SeatsInUseError{OrgID: orgID, Limit: limit, Seats: seats}
			}
			o.SeatLimit = limit
		}
		if ch.ParentOrgID != nil {
			parent := *ch.ParentOrgID
			for id, depth := parent, 0; id != ""; depth++ {
				if id == orgID {
					return &directory.ParentCycleError{OrgID: orgID, ParentID: parent}
				}
				if depth > maxOrgDepth {
					return fmt.Errorf("change org %s: parents of %s are more than %d deep: %w", orgID, parent, maxOrgDepth, directory.ErrInvalid)
				}
				p, err := tx.lockOrg(ctx, id)
				if err != nil {
					return fmt.Errorf("parent org: %w", err)
				}
				id = p.ParentOrgID
			}
			o.ParentOrgID = parent
		}
		if err := tx.UpdateOrg(ctx, o); err != nil {
			return err
		}
		out = o
		return nil
	})
	if err != nil {
		return directory.Org{}, err
	}
	return out, nil
}

// PendingImports returns the org's imports that are not finished (queued, running or
// paused), oldest first.
func (q *Queries) PendingImports(ctx context.Context, orgID string) ([]directory.Import, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+importCols+` FROM imports
WHERE org_id = $1 AND status IN ('queued', 'running', 'paused')
ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, q.wrap(err, "list pending imports in org %s", orgID)
	}
	return collect(rows, scanImport)
}
