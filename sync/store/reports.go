package store

import (
	"context"
	"fmt"
	"time"

	"tether/sync/directory"
	"tether/sync/permissions"
)

// SavePermissionReport stores r for orgID (r.OrgID is ignored) and returns it as stored.
// Defaults: a new ID, CreatedAt now. Returns directory.ErrNotFound if the org does not exist.
func (q *Queries) SavePermissionReport(ctx context.Context, orgID string, r permissions.Report) (permissions.Report, error) {
	if err := requireOrg(orgID); err != nil {
		return permissions.Report{}, err
	}
	r.OrgID = orgID
	stamp(&r.ID, &r.CreatedAt, time.Now())
	// Evidence quotes what Salesforce answered: clipped, not refused (directory.Clip).
	checks := make([]permissions.Check, len(r.Checks))
	for i, c := range r.Checks {
		c.Evidence = directory.Clip(c.Evidence, directory.MaxProviderText)
		checks[i] = c
	}
	r.Checks = checks
	enc, err := jsonArg(r.Checks)
	if err != nil {
		return permissions.Report{}, fmt.Errorf("save permission report %s: %w", r.ID, err)
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO permission_reports (id, org_id, connection_id, created_at, checks)
VALUES ($1, $2, $3, $4, $5)`, r.ID, orgID, nullStr(r.ConnectionID), tm(r.CreatedAt), enc)
	if err != nil {
		return permissions.Report{}, q.wrap(err, "save permission report %s in org %s", r.ID, orgID)
	}
	return r, nil
}

// LatestPermissionReports returns the org's newest reports, newest first, at most limit
// (<= 0 means 1000): [0] is the latest, [1] the previous one to diff against.
func (q *Queries) LatestPermissionReports(ctx context.Context, orgID string, limit int) ([]permissions.Report, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id, org_id, connection_id, created_at, checks
FROM permission_reports WHERE org_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, orgID, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list permission reports of org %s", orgID)
	}
	return collect(rows, func(s scanner) (permissions.Report, error) {
		var r permissions.Report
		err := s.Scan(&r.ID, &r.OrgID, ns(&r.ConnectionID), ts(&r.CreatedAt), js(&r.Checks))
		return r, err
	})
}

// LatestPermissionReport returns the org's newest report. Returns directory.ErrNotFound if the org
// has none.
func (q *Queries) LatestPermissionReport(ctx context.Context, orgID string) (permissions.Report, error) {
	rs, err := q.LatestPermissionReports(ctx, orgID, 1)
	if err != nil {
		return permissions.Report{}, err
	}
	if len(rs) == 0 {
		return permissions.Report{}, fmt.Errorf("latest permission report of org %s: %w", orgID, directory.ErrNotFound)
	}
	return rs[0], nil
}
