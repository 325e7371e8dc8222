package store

import (
	"context"
	"fmt"
	"time"

	"tether/sync/directory"
)

const orgCols = `id, name, seat_limit, parent_org_id, policy, created_at, salesforce_login, ` +
	`salesforce_session_seconds, salesforce_session_learned_at, salesforce_session_checked_at`

type scanner interface{ Scan(dest ...any) error }

func scanOrg(r scanner) (directory.Org, error) {
	var o directory.Org
	var secs int64
	err := r.Scan(&o.ID, &o.Name, &o.SeatLimit, ns(&o.ParentOrgID), js(&o.Policy), ts(&o.CreatedAt), &o.SalesforceLogin,
		&secs, ts(&o.SalesforceSession.LearnedAt), ts(&o.SalesforceSession.CheckedAt))
	o.SalesforceSession.Timeout = time.Duration(secs) * time.Second
	return o, err
}

// CreateOrg inserts o and returns it as stored. An empty ID gets a new one, a zero
// CreatedAt is now, a nil Policy is directory.DefaultPolicy(), an empty SalesforceLogin is
// production. Returns directory.ErrDuplicate if the id exists, directory.ErrNotFound if ParentOrgID does not,
// directory.ErrInvalid for a negative seat limit or an unknown Salesforce login.
func (q *Queries) CreateOrg(ctx context.Context, o directory.Org) (directory.Org, error) {
	stamp(&o.ID, &o.CreatedAt, time.Now())
	if err := checkTexts(text{"org name", o.Name, directory.MaxOrgName}); err != nil {
		return directory.Org{}, fmt.Errorf("create org %s: %w", o.ID, err)
	}
	if o.Policy == nil {
		o.Policy = directory.DefaultPolicy()
	}
	if o.SalesforceLogin == "" {
		o.SalesforceLogin = directory.SalesforceProduction
	}
	pol, err := jsonArg(o.Policy)
	if err != nil {
		return directory.Org{}, fmt.Errorf("create org %s: %w", o.ID, err)
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO orgs (id, name, seat_limit, parent_org_id, policy, created_at, salesforce_login) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		o.ID, o.Name, o.SeatLimit, nullStr(o.ParentOrgID), pol, tm(o.CreatedAt), string(o.SalesforceLogin))
	if err != nil {
		return directory.Org{}, q.wrap(err, "create org %s", o.ID)
	}
	return o, nil
}

// GetOrg returns the org with id orgID. Returns directory.ErrNotFound if there is none.
func (q *Queries) GetOrg(ctx context.Context, orgID string) (directory.Org, error) {
	o, err := scanOrg(q.q.QueryRowContext(ctx, `SELECT `+orgCols+` FROM orgs WHERE id = $1`, orgID))
	if err != nil {
		return directory.Org{}, q.wrap(err, "get org %s", orgID)
	}
	return o, nil
}

// UpdateOrg changes the org's name, seat limit, parent, policy and Salesforce login as
// given, with no checks of seats or cycles (ChangeOrg makes them). Returns directory.ErrNotFound if
// the org does not exist.
func (q *Queries) UpdateOrg(ctx context.Context, o directory.Org) error {
	if err := checkTexts(text{"org name", o.Name, directory.MaxOrgName}); err != nil {
		return fmt.Errorf("update org %s: %w", o.ID, err)
	}
	if o.Policy == nil {
		o.Policy = directory.DefaultPolicy()
	}
	if o.SalesforceLogin == "" {
		o.SalesforceLogin = directory.SalesforceProduction
	}
	pol, err := jsonArg(o.Policy)
	if err != nil {
		return fmt.Errorf("update org %s: %w", o.ID, err)
	}
	res, err := q.q.ExecContext(ctx,
		`UPDATE orgs SET name = $2, seat_limit = $3, parent_org_id = $4, policy = $5, salesforce_login = $6 WHERE id = $1`,
		o.ID, o.Name, o.SeatLimit, nullStr(o.ParentOrgID), pol, string(o.SalesforceLogin))
	return q.affected(res, err, "update org %s", o.ID)
}

// ListOrgsWithTeamConnection returns, in id order, up to limit ids of orgs that have a
// salesforce_team connection, starting after afterID ("" for the first page). This is a
// system-wide read for the daily audit, not scoped to one org. limit <= 0 means 1000.
func (q *Queries) ListOrgsWithTeamConnection(ctx context.Context, afterID string, limit int) ([]string, error) {
	rows, err := q.q.QueryContext(ctx, `
SELECT DISTINCT org_id FROM connections
WHERE kind = 'salesforce_team' AND org_id > $1
ORDER BY org_id LIMIT $2`, afterID, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list orgs with team connection")
	}
	return collect(rows, func(r scanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
}

// affected turns an UPDATE/DELETE result into directory.ErrNotFound when no row matched.
func (q *Queries) affected(res interface{ RowsAffected() (int64, error) }, err error, format string, args ...any) error {
	if err != nil {
		return q.wrap(err, format, args...)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return q.wrap(err, format, args...)
	}
	if n == 0 {
		return fmt.Errorf(format+": %w", append(args, directory.ErrNotFound)...)
	}
	return nil
}

// pageSize resolves a caller's limit: <= 0 means 1000, and no page exceeds 10000.
func pageSize(limit int) int {
	if limit <= 0 {
		return 1000
	}
	return min(limit, 10000)
}

// collect scans every row with scan and closes rows.
func collect[T any](rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ClaimSalesforceSessionCheck records at as the org's last attempt to learn its Salesforce
// session timeout, but only when the previous attempt is at least every old (every <= 0:
// always). It reports whether this caller won the claim: of concurrent callers, one does,
// so the org is introspected at most once per every across all workers. Returns
// directory.ErrNotFound if the org does not exist.
func (q *Queries) ClaimSalesforceSessionCheck(ctx context.Context, orgID string, at time.Time, every time.Duration) (bool, error) {
	res, err := q.q.ExecContext(ctx, `UPDATE orgs SET salesforce_session_checked_at = $2
WHERE id = $1 AND (salesforce_session_checked_at IS NULL OR salesforce_session_checked_at <= $3)`,
		orgID, tm(at), tm(at.Add(-max(every, 0))))
	if err != nil {
		return false, q.wrap(err, "claim salesforce session check of org %s", orgID)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, q.wrap(err, "claim salesforce session check of org %s", orgID)
	}
	if n == 1 {
		return true, nil
	}
	if _, err := q.GetOrg(ctx, orgID); err != nil {
		return false, err
	}
	return false, nil
}

// SetSalesforceSession stores the org's learned Salesforce session timeout (whole
// seconds, at least one) and when it was learned. Returns directory.ErrNotFound if the org
// does not exist, directory.ErrInvalid for a timeout under a second.
func (q *Queries) SetSalesforceSession(ctx context.Context, orgID string, timeout time.Duration, learnedAt time.Time) error {
	secs := int64(timeout / time.Second)
	if secs < 1 || learnedAt.IsZero() {
		return fmt.Errorf("set salesforce session of org %s: timeout %s learned at %v: %w", orgID, timeout, learnedAt, directory.ErrInvalid)
	}
	res, err := q.q.ExecContext(ctx, `UPDATE orgs SET salesforce_session_seconds = $2, salesforce_session_learned_at = $3 WHERE id = $1`,
		orgID, secs, tm(learnedAt))
	return q.affected(res, err, "set salesforce session of org %s", orgID)
}
