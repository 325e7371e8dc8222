package store

import (
	"context"
	"fmt"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/permissions"
)

var _ permissions.Store = (*Store)(nil)

// SavePermissionAudit writes an audit in one transaction: the report (as
// SavePermissionReport), its events, an alert for each rec.Lost check that has no open
// alert (lost since the report's time) and the end of the open alert of each rec.Regained
// check. Returns the report as stored; directory.ErrNotFound if the org does not exist.
func (q *Queries) SavePermissionAudit(ctx context.Context, orgID string, rec permissions.AuditRecord) (permissions.Report, error) {
	var saved permissions.Report
	err := q.inTx(ctx, func(tx *Queries) error {
		var err error
		if saved, err = tx.SavePermissionReport(ctx, orgID, rec.Report); err != nil {
			return err
		}
		for _, e := range rec.Events {
			e.OrgID = orgID
			if err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		for _, c := range rec.Lost {
			// The partial unique index keeps one open alert per check: a check that
			// stays lost keeps its first lost_since.
			_, err := tx.q.ExecContext(ctx, `INSERT INTO permission_alerts (org_id, check_name, lost_since, report_id)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, orgID, c, tm(saved.CreatedAt), saved.ID)
			if err != nil {
				return tx.wrap(err, "open permission alert %s in org %s", c, orgID)
			}
		}
		for _, c := range rec.Regained {
			_, err := tx.q.ExecContext(ctx, `UPDATE permission_alerts SET regained_at = $3
WHERE org_id = $1 AND check_name = $2 AND regained_at IS NULL`, orgID, c, tm(saved.CreatedAt))
			if err != nil {
				return tx.wrap(err, "close permission alert %s in org %s", c, orgID)
			}
		}
		return nil
	})
	if err != nil {
		return permissions.Report{}, fmt.Errorf("save permission audit of org %s: %w", orgID, err)
	}
	return saved, nil
}

// PendingPermissionAlerts returns the org's open alerts whose email has not been sent,
// oldest first.
func (q *Queries) PendingPermissionAlerts(ctx context.Context, orgID string) ([]permissions.Alert, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+alertColumns+` FROM permission_alerts
WHERE org_id = $1 AND regained_at IS NULL AND sent_at IS NULL ORDER BY lost_since, check_name`, orgID)
	if err != nil {
		return nil, q.wrap(err, "list pending permission alerts of org %s", orgID)
	}
	return collect(rows, scanAlert)
}

// OpenPermissionAlerts returns the org's open alerts (permissions lost and not regained
// since), whatever their delivery, oldest first.
func (q *Queries) OpenPermissionAlerts(ctx context.Context, orgID string) ([]permissions.Alert, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+alertColumns+` FROM permission_alerts
WHERE org_id = $1 AND regained_at IS NULL ORDER BY lost_since, check_name`, orgID)
	if err != nil {
		return nil, q.wrap(err, "list open permission alerts of org %s", orgID)
	}
	return collect(rows, scanAlert)
}

// teamConnectedCond holds for a team connection row a connect completed: only a
// completed connect stores the Salesforce account, and rows are never deleted. A row
// without one (a connect that never finished) does not count.
const teamConnectedCond = `c.kind = '` + string(connections.KindSalesforceTeam) + `' AND c.provider_account_id <> ''`

// TeamEverConnected reports whether the org's team-level Salesforce user was ever
// connected: it has a team connection row with a Salesforce account, whatever its state
// now. False for an org without the row or with one a connect never completed.
func (q *Queries) TeamEverConnected(ctx context.Context, orgID string) (bool, error) {
	var n int
	err := q.q.QueryRowContext(ctx, `SELECT count(*) FROM connections c WHERE c.org_id = $1 AND `+teamConnectedCond, orgID).Scan(&n)
	if err != nil {
		return false, q.wrap(err, "read whether org %s ever connected its team-level Salesforce user", orgID)
	}
	return n > 0, nil
}

// alertColumns ends with never_connected: the connection check's alert of an org that
// never connected its team user (see TeamEverConnected; permissions.Alert.NeverConnected).
// Derived at read, it turns into a lost connection's alert once the org connects.
const alertColumns = `org_id, check_name, lost_since, report_id, sent_at, attempted_at, unconfirmed,
CASE WHEN check_name = '` + permissions.CheckConnection + `' AND NOT EXISTS (SELECT 1 FROM connections c
WHERE c.org_id = permission_alerts.org_id AND ` + teamConnectedCond + `) THEN 1 ELSE 0 END`

func scanAlert(s scanner) (permissions.Alert, error) {
	var a permissions.Alert
	var unconfirmed, never int
	err := s.Scan(&a.OrgID, &a.Check, ts(&a.LostSince), &a.ReportID, ts(&a.SentAt), ts(&a.AttemptedAt), &unconfirmed, &never)
	a.Unconfirmed = unconfirmed != 0
	a.NeverConnected = never != 0
	return a, err
}

// BeginPermissionAlert records at as the start of the alert's one send attempt and
// reports whether this call did: false when it was attempted or sent before (a run that
// died mid-send, or a concurrent one). Returns directory.ErrNotFound if there is no such
// alert.
func (q *Queries) BeginPermissionAlert(ctx context.Context, orgID, check string, lostSince, at time.Time) (bool, error) {
	// One conditional UPDATE, so two concurrent audits cannot both begin it.
	res, err := q.q.ExecContext(ctx, `UPDATE permission_alerts SET attempted_at = $4
WHERE org_id = $1 AND check_name = $2 AND lost_since = $3 AND attempted_at IS NULL AND sent_at IS NULL`,
		orgID, check, tm(lostSince), tm(at))
	if err != nil {
		return false, q.wrap(err, "begin permission alert %s of org %s", check, orgID)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, q.wrap(err, "begin permission alert %s of org %s", check, orgID)
	} else if n == 1 {
		return true, nil
	}
	var one int
	err = q.q.QueryRowContext(ctx, `SELECT 1 FROM permission_alerts WHERE org_id = $1 AND check_name = $2 AND lost_since = $3`,
		orgID, check, tm(lostSince)).Scan(&one)
	if err != nil {
		return false, fmt.Errorf("begin permission alert %s of org %s: %w", check, orgID, q.wrap(err, "read it"))
	}
	return false, nil
}

// AbandonPermissionAlert clears the attempt of an alert not recorded sent: its send
// certainly did not reach the server, so a later run sends it.
func (q *Queries) AbandonPermissionAlert(ctx context.Context, orgID, check string, lostSince time.Time) error {
	_, err := q.q.ExecContext(ctx, `UPDATE permission_alerts SET attempted_at = NULL
WHERE org_id = $1 AND check_name = $2 AND lost_since = $3 AND sent_at IS NULL`, orgID, check, tm(lostSince))
	return q.wrap(err, "clear permission alert %s attempt of org %s", check, orgID)
}

// SettlePermissionAlerts marks the org's alerts attempted before before and not recorded
// sent as sent at their attempt, unconfirmed: their run died between the send and the
// record. Returns how many it settled.
func (q *Queries) SettlePermissionAlerts(ctx context.Context, orgID string, before time.Time) (int, error) {
	res, err := q.q.ExecContext(ctx, `UPDATE permission_alerts SET sent_at = attempted_at, unconfirmed = 1
WHERE org_id = $1 AND sent_at IS NULL AND attempted_at IS NOT NULL AND attempted_at < $2`, orgID, tm(before))
	if err != nil {
		return 0, q.wrap(err, "settle permission alert attempts of org %s", orgID)
	}
	n, err := res.RowsAffected()
	return int(n), q.wrap(err, "settle permission alert attempts of org %s", orgID)
}

// MarkPermissionAlertSent records that the alert (org, check, lostSince) was emailed at
// at. Returns directory.ErrNotFound if there is no such alert.
func (q *Queries) MarkPermissionAlertSent(ctx context.Context, orgID, check string, lostSince, at time.Time) error {
	return q.markPermissionAlert(ctx, orgID, check, lostSince, at, false)
}

// MarkPermissionAlertUnconfirmed records that the alert's email was handed over at at and
// the server's answer lost: sent as far as the audit is concerned (never emailed again),
// and unconfirmed. Returns directory.ErrNotFound if there is no such alert.
func (q *Queries) MarkPermissionAlertUnconfirmed(ctx context.Context, orgID, check string, lostSince, at time.Time) error {
	return q.markPermissionAlert(ctx, orgID, check, lostSince, at, true)
}

func (q *Queries) markPermissionAlert(ctx context.Context, orgID, check string, lostSince, at time.Time, unconfirmed bool) error {
	u := 0
	if unconfirmed {
		u = 1
	}
	res, err := q.q.ExecContext(ctx, `UPDATE permission_alerts SET sent_at = $4, unconfirmed = $5
WHERE org_id = $1 AND check_name = $2 AND lost_since = $3`, orgID, check, tm(lostSince), tm(at), u)
	if err != nil {
		return q.wrap(err, "mark permission alert %s of org %s sent", check, orgID)
	}
	if n, err := res.RowsAffected(); err != nil {
		return q.wrap(err, "mark permission alert %s of org %s sent", check, orgID)
	} else if n == 0 {
		return fmt.Errorf("mark permission alert %s of org %s sent: %w", check, orgID, directory.ErrNotFound)
	}
	return nil
}

// OrgAdminEmails returns the e-mail addresses of the org's active admins, sorted.
func (q *Queries) OrgAdminEmails(ctx context.Context, orgID string) ([]string, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.org_id = $1 AND m.role = 'admin' AND m.status = 'active' ORDER BY u.email`, orgID)
	if err != nil {
		return nil, q.wrap(err, "list admin emails of org %s", orgID)
	}
	return collect(rows, func(s scanner) (string, error) {
		var e string
		err := s.Scan(&e)
		return e, err
	})
}
