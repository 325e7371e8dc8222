package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tether/sync/directory"
)

const importCols = `id, org_id, requested_by, selection, role, group_id, dry_run, status, counts, progress,
refused, errors, paused_until, paused_reason, created_at, updated_at, started_at, finished_at`

func scanImport(r scanner) (directory.Import, error) {
	var i directory.Import
	err := r.Scan(&i.ID, &i.OrgID, &i.RequestedBy, js(&i.Selection), &i.Role, ns(&i.GroupID), &i.DryRun,
		&i.Status, js(&i.Counts), js(&i.Progress), js(&i.Refused), js(&i.Errors), ts(&i.PausedUntil),
		&i.PausedReason, ts(&i.CreatedAt), ts(&i.UpdatedAt), ts(&i.StartedAt), ts(&i.FinishedAt))
	return i, err
}

// importState encodes the mutable JSON columns, capping the refused rows and errors.
func importState(i *directory.Import) (counts, progress, refused, errs any, err error) {
	if len(i.Refused) > directory.MaxRefusedRows {
		i.Refused = i.Refused[:directory.MaxRefusedRows]
	}
	if len(i.Errors) > directory.MaxImportErrors {
		i.Errors = i.Errors[:directory.MaxImportErrors]
	}
	// Error text and pause reasons come from Salesforce: clipped, not refused.
	for k, e := range i.Errors {
		i.Errors[k] = directory.Clip(e, directory.MaxProviderText)
	}
	i.PausedReason = directory.Clip(i.PausedReason, directory.MaxProviderText)
	for k, r := range i.Refused {
		i.Refused[k] = directory.RefusedRow{SalesforceUserID: directory.Clip(r.SalesforceUserID, directory.MaxProviderID),
			Email: directory.Clip(r.Email, directory.MaxProviderID), Name: directory.Clip(r.Name, directory.MaxProviderID), Reason: r.Reason}
	}
	if i.Refused == nil {
		i.Refused = []directory.RefusedRow{}
	}
	if counts, err = jsonArg(i.Counts); err != nil {
		return
	}
	if progress, err = jsonArg(i.Progress); err != nil {
		return
	}
	if refused, err = jsonArg(i.Refused); err != nil {
		return
	}
	errs, err = jsonArg(strs(i.Errors))
	return
}

// CreateImport inserts imp into orgID (imp.OrgID is ignored) and returns it as stored.
// Defaults: a new ID, status queued, CreatedAt now. Refused rows and errors beyond their
// caps are dropped. Returns directory.ErrNotFound if the org or group does not exist in the org,
// directory.ErrInvalid for an unknown role.
func (q *Queries) CreateImport(ctx context.Context, orgID string, imp directory.Import) (directory.Import, error) {
	if err := requireOrg(orgID); err != nil {
		return directory.Import{}, err
	}
	imp.OrgID = orgID
	if imp.Status == "" {
		imp.Status = directory.ImportQueued
	}
	stamp(&imp.ID, &imp.CreatedAt, time.Now())
	imp.UpdatedAt = imp.CreatedAt
	if !imp.Role.Valid() {
		return directory.Import{}, fmt.Errorf("create import %s: role %q: %w", imp.ID, imp.Role, directory.ErrInvalid)
	}
	if err := checkSelection(imp.Selection); err != nil {
		return directory.Import{}, fmt.Errorf("create import %s: %w", imp.ID, err)
	}
	sel, err := jsonArg(imp.Selection)
	if err != nil {
		return directory.Import{}, fmt.Errorf("create import %s: %w", imp.ID, err)
	}
	counts, progress, refused, errs, err := importState(&imp)
	if err != nil {
		return directory.Import{}, fmt.Errorf("create import %s: %w", imp.ID, err)
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO imports (`+importCols+`) VALUES `+placeholders(1, 18),
		imp.ID, orgID, imp.RequestedBy, sel, string(imp.Role), nullStr(imp.GroupID), imp.DryRun,
		string(imp.Status), counts, progress, refused, errs, tm(imp.PausedUntil), imp.PausedReason,
		tm(imp.CreatedAt), tm(imp.UpdatedAt), tm(imp.StartedAt), tm(imp.FinishedAt))
	if err != nil {
		return directory.Import{}, q.wrap(err, "create import %s in org %s", imp.ID, orgID)
	}
	return imp, nil
}

// GetImport returns the org's import id. Returns directory.ErrNotFound if the org has none with
// that id.
func (q *Queries) GetImport(ctx context.Context, orgID, id string) (directory.Import, error) {
	i, err := scanImport(q.q.QueryRowContext(ctx,
		`SELECT `+importCols+` FROM imports WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return directory.Import{}, q.wrap(err, "get import %s in org %s", id, orgID)
	}
	return i, nil
}

// ListImports returns the org's most recent imports, newest first; limit <= 0 means 1000.
func (q *Queries) ListImports(ctx context.Context, orgID string, limit int) ([]directory.Import, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+importCols+` FROM imports WHERE org_id = $1
ORDER BY created_at DESC, id DESC LIMIT $2`, orgID, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list imports in org %s", orgID)
	}
	return collect(rows, scanImport)
}

// UpdateImport writes imp's status, counts, progress, refused rows, errors, pause and
// start/finish times in one statement, with updated_at = at. Writing absolute values
// (not increments) with the progress cursor keeps a re-run after a crash from counting a
// page twice. A cancelled import is never overwritten. Returns directory.ErrNotFound if orgID has
// no import imp.ID, an error wrapping directory.ErrImportCancelled if it was cancelled.
func (q *Queries) UpdateImport(ctx context.Context, orgID string, imp directory.Import, at time.Time) error {
	counts, progress, refused, errs, err := importState(&imp)
	if err != nil {
		return fmt.Errorf("update import %s: %w", imp.ID, err)
	}
	res, err := q.q.ExecContext(ctx, `UPDATE imports SET status = $3, counts = $4, progress = $5,
refused = $6, errors = $7, paused_until = $8, paused_reason = $9, started_at = $10, finished_at = $11,
updated_at = $12
WHERE org_id = $1 AND id = $2 AND status <> 'cancelled'`,
		orgID, imp.ID, string(imp.Status), counts, progress, refused, errs, tm(imp.PausedUntil),
		imp.PausedReason, tm(imp.StartedAt), tm(imp.FinishedAt), tm(at))
	err = q.affected(res, err, "update import %s in org %s", imp.ID, orgID)
	if errors.Is(err, directory.ErrNotFound) {
		// Only a second read tells a cancelled import from a missing one; it is rare.
		if cur, gerr := q.GetImport(ctx, orgID, imp.ID); gerr == nil && cur.Status == directory.ImportCancelled {
			return fmt.Errorf("update import %s in org %s: %w", imp.ID, orgID, directory.ErrImportCancelled)
		}
	}
	return err
}

// checkSelection refuses a selection entry the store cannot keep: a person typed it.
func checkSelection(sel directory.ImportSelection) error {
	for _, l := range []struct {
		field string
		vals  []string
		max   int
	}{
		{"selection profile name", sel.ProfileNames, directory.MaxSelectedProfileName},
		{"selection profile id", sel.ProfileIDs, directory.MaxSalesforceID},
		{"selection user id", sel.UserIDs, directory.MaxSalesforceID},
		{"selection email", sel.Emails, directory.MaxEmail},
	} {
		for _, v := range l.vals {
			if err := checkTexts(text{l.field, v, l.max}); err != nil {
				return err
			}
		}
	}
	return nil
}
