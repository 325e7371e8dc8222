package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tether/sync/directory"
	"tether/sync/permissions"
)

const auditRunCols = `id, org_id, day, requested_by, status, report_id, error, created_at, updated_at`

func scanAuditRun(s scanner) (permissions.AuditRun, error) {
	var r permissions.AuditRun
	err := s.Scan(&r.ID, &r.OrgID, &r.Day, &r.RequestedBy, &r.Status, &r.ReportID, &r.Error, ts(&r.CreatedAt), ts(&r.UpdatedAt))
	return r, err
}

// CreateAuditRun stores run as queued (a new id, CreatedAt now when unset) and returns it
// with created true; when the org has an on-demand run queued or running already (run.Day
// empty), or a run for run.Day, it returns that one with created false. Returns
// directory.ErrNotFound if the org does not exist.
func (q *Queries) CreateAuditRun(ctx context.Context, orgID string, run permissions.AuditRun) (permissions.AuditRun, bool, error) {
	if err := requireOrg(orgID); err != nil {
		return permissions.AuditRun{}, false, err
	}
	run.OrgID, run.Status = orgID, permissions.AuditQueued
	run.RequestedBy = directory.Clip(run.RequestedBy, directory.MaxProviderText)
	stamp(&run.ID, &run.CreatedAt, time.Now())
	run.UpdatedAt = run.CreatedAt
	// The pending one may finish between the conflict and the read: then insert again.
	for range 3 {
		res, err := q.q.ExecContext(ctx, `INSERT INTO permission_audits (`+auditRunCols+`)
VALUES ($1, $2, $3, $4, $5, '', '', $6, $6) ON CONFLICT DO NOTHING`,
			run.ID, orgID, run.Day, run.RequestedBy, string(run.Status), tm(run.CreatedAt))
		if err != nil {
			return permissions.AuditRun{}, false, q.wrap(err, "create permission audit of org %s", orgID)
		}
		if n, err := res.RowsAffected(); err != nil {
			return permissions.AuditRun{}, false, q.wrap(err, "create permission audit of org %s", orgID)
		} else if n == 1 {
			return run, true, nil
		}
		query := `SELECT ` + auditRunCols + ` FROM permission_audits WHERE org_id = $1 AND day = '' AND status IN ('queued', 'running')`
		args := []any{orgID}
		if run.Day != "" {
			query, args = `SELECT `+auditRunCols+` FROM permission_audits WHERE org_id = $1 AND day = $2`, []any{orgID, run.Day}
		}
		got, err := scanAuditRun(q.q.QueryRowContext(ctx, query, args...))
		if err == nil {
			return got, false, nil
		}
		if err = q.d.mapErr(err); !errors.Is(err, directory.ErrNotFound) {
			return permissions.AuditRun{}, false, q.wrap(err, "read pending permission audit of org %s", orgID)
		}
	}
	return permissions.AuditRun{}, false, fmt.Errorf("create permission audit of org %s: the pending one kept changing: %w", orgID, directory.ErrConflict)
}

// GetAuditRun returns the org's audit run id. Returns directory.ErrNotFound if there is none.
func (q *Queries) GetAuditRun(ctx context.Context, orgID, id string) (permissions.AuditRun, error) {
	r, err := scanAuditRun(q.q.QueryRowContext(ctx, `SELECT `+auditRunCols+` FROM permission_audits
WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return permissions.AuditRun{}, q.wrap(err, "get permission audit %s of org %s", id, orgID)
	}
	return r, nil
}

// UpdateAuditRun moves the org's unfinished audit run id to status, with reportID (done)
// or reason (failed), and returns the run; a finished run is returned unchanged. Returns
// directory.ErrNotFound if there is no such run.
func (q *Queries) UpdateAuditRun(ctx context.Context, orgID, id string, status permissions.AuditStatus, reportID, reason string, at time.Time) (permissions.AuditRun, error) {
	reason = directory.Clip(reason, directory.MaxProviderText)
	_, err := q.q.ExecContext(ctx, `UPDATE permission_audits SET status = $3, report_id = $4, error = $5, updated_at = $6
WHERE org_id = $1 AND id = $2 AND status IN ('queued', 'running')`, orgID, id, string(status), reportID, reason, tm(at))
	if err != nil {
		return permissions.AuditRun{}, q.wrap(err, "set permission audit %s of org %s %s", id, orgID, status)
	}
	return q.GetAuditRun(ctx, orgID, id)
}

// UnfinishedAuditRuns returns queued and running audit runs of every org in (org id, id)
// order after after, at most limit (<= 0: 1000). The reconciler checks each has a task.
func (q *Queries) UnfinishedAuditRuns(ctx context.Context, after directory.Ref, limit int) ([]permissions.AuditRun, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+auditRunCols+` FROM permission_audits
WHERE status IN ('queued', 'running') AND (org_id > $1 OR (org_id = $1 AND id > $2))
ORDER BY org_id, id LIMIT $3`, after.OrgID, after.ID, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list unfinished permission audits")
	}
	return collect(rows, scanAuditRun)
}
