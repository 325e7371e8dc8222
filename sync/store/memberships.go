package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
)

const membershipCols = `id, org_id, user_id, role, custom_permissions, status, group_ids,
salesforce_user_id, photo_url, action_reasons, action_checked_at, deactivated_at, created_at, updated_at, activated_at, time_zone`

// membershipDest are the scan destinations of membershipCols for m, in order.
func membershipDest(m *directory.Membership) []any {
	return []any{&m.ID, &m.OrgID, &m.UserID, &m.Role, js(&m.CustomPermissions), &m.Status,
		js(&m.GroupIDs), &m.SalesforceUserID, &m.PhotoURL, js(&m.ActionRequired),
		ts(&m.ActionCheckedAt), ts(&m.DeactivatedAt), ts(&m.CreatedAt), ts(&m.UpdatedAt), ts(&m.ActivatedAt), &m.TimeZone}
}

func scanMembership(r scanner) (directory.Membership, error) {
	var m directory.Membership
	err := r.Scan(membershipDest(&m)...)
	return m, err
}

// membershipArgs are the values of membershipCols for m, in order.
func membershipArgs(m directory.Membership) ([]any, error) {
	perms, err := jsonArg(strs(m.CustomPermissions))
	if err != nil {
		return nil, err
	}
	groups, err := jsonArg(strs(m.GroupIDs))
	if err != nil {
		return nil, err
	}
	reasons, err := jsonArg(reasonsArg(m.ActionRequired))
	if err != nil {
		return nil, err
	}
	return []any{m.ID, m.OrgID, m.UserID, string(m.Role), perms, string(m.Status), groups,
		m.SalesforceUserID, m.PhotoURL, reasons, tm(m.ActionCheckedAt), tm(m.DeactivatedAt),
		tm(m.CreatedAt), tm(m.UpdatedAt), tm(m.ActivatedAt), m.TimeZone}, nil
}

// reasonsArg stores nil reasons as [], like the column's default.
func reasonsArg(rs []directory.ActionReason) []directory.ActionReason {
	if rs == nil {
		return []directory.ActionReason{}
	}
	return rs
}

// prepareMembership fills defaults and checks what the database cannot say clearly.
func prepareMembership(orgID string, m *directory.Membership, now time.Time) error {
	m.OrgID = orgID
	stamp(&m.ID, &m.CreatedAt, now)
	m.UpdatedAt = m.CreatedAt
	if m.Status == "" {
		m.Status = directory.MembershipActive
	}
	if m.Status == directory.MembershipActive && m.ActivatedAt.IsZero() {
		m.ActivatedAt = m.CreatedAt
	}
	if !m.Role.Valid() {
		return fmt.Errorf("membership %s: role %q: %w", m.ID, m.Role, directory.ErrInvalid)
	}
	return nil
}

// CreateMembership adds user m.UserID to orgID (m.OrgID is ignored). Defaults: a new ID,
// CreatedAt now, status active. Returns directory.ErrDuplicate if the user is already a member,
// directory.ErrNotFound if the org or user does not exist, directory.ErrInvalid for an unknown role.
func (q *Queries) CreateMembership(ctx context.Context, orgID string, m directory.Membership) (directory.Membership, error) {
	if err := requireOrg(orgID); err != nil {
		return directory.Membership{}, err
	}
	if err := prepareMembership(orgID, &m, time.Now()); err != nil {
		return directory.Membership{}, fmt.Errorf("create membership in org %s: %w", orgID, err)
	}
	args, err := membershipArgs(m)
	if err != nil {
		return directory.Membership{}, fmt.Errorf("create membership %s: %w", m.ID, err)
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO memberships (`+membershipCols+`, action_required, action_admin)
VALUES `+placeholders(1, len(args)+2), append(args, m.NeedsAction(), directory.AdminActs(m.ActionRequired))...)
	if err != nil {
		return directory.Membership{}, q.wrap(err, "create membership %s in org %s", m.ID, orgID)
	}
	return m, nil
}

// GetMembership returns the org's membership id. Returns directory.ErrNotFound if the org has none
// with that id.
func (q *Queries) GetMembership(ctx context.Context, orgID, id string) (directory.Membership, error) {
	m, err := scanMembership(q.q.QueryRowContext(ctx,
		`SELECT `+membershipCols+` FROM memberships WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return directory.Membership{}, q.wrap(err, "get membership %s in org %s", id, orgID)
	}
	return m, nil
}

// GetMembershipByUser returns userID's membership in orgID. Returns directory.ErrNotFound if the
// user is not a member of the org.
func (q *Queries) GetMembershipByUser(ctx context.Context, orgID, userID string) (directory.Membership, error) {
	m, err := scanMembership(q.q.QueryRowContext(ctx,
		`SELECT `+membershipCols+` FROM memberships WHERE org_id = $1 AND user_id = $2`, orgID, userID))
	if err != nil {
		return directory.Membership{}, q.wrap(err, "get membership of user %s in org %s", userID, orgID)
	}
	return m, nil
}

// MembershipFilter selects memberships (see directory.MembershipFilter).
type MembershipFilter = directory.MembershipFilter

// filterSQL is the WHERE condition of each members page filter, on alias m.
func filterSQL(f directory.MemberFilter) string {
	switch f {
	case directory.FilterActive:
		return `m.status = 'active'`
	case directory.FilterAdmin:
		return `m.role IN ('admin', 'custom_admin') AND m.status <> 'deactivated'`
	case directory.FilterChat:
		return `m.role = 'chat' AND m.status <> 'deactivated'`
	case directory.FilterMeetings:
		return `m.role = 'meetings' AND m.status <> 'deactivated'`
	case directory.FilterPending:
		return `m.status = 'pending'`
	case directory.FilterDeactivated:
		return `m.status = 'deactivated'`
	}
	return `TRUE`
}

// membersWhere is the shared WHERE of ListMemberships and ListMembers; $1 org, $2 after,
// $3 status, $4 role, $5 action required.
func membersWhere(f MembershipFilter) (string, error) {
	if f.Filter != "" && !f.Filter.Valid() {
		return "", fmt.Errorf("members filter %q: %w", f.Filter, directory.ErrInvalid)
	}
	return `m.org_id = $1 AND m.id > $2
  AND ($3 = '' OR m.status = $3) AND ($4 = '' OR m.role = $4)
  AND (m.action_required OR $5 = 0) AND ` + filterSQL(f.Filter), nil
}

// ListMemberships returns the org's memberships matching f, in id order.
func (q *Queries) ListMemberships(ctx context.Context, orgID string, f MembershipFilter) ([]directory.Membership, error) {
	where, err := membersWhere(f)
	if err != nil {
		return nil, err
	}
	rows, err := q.q.QueryContext(ctx, `SELECT `+qualify(membershipCols, "m")+` FROM memberships m
WHERE `+where+` ORDER BY m.id LIMIT $6`,
		orgID, f.AfterID, string(f.Status), string(f.Role), boolInt(f.ActionRequired), pageSize(f.Limit))
	if err != nil {
		return nil, q.wrap(err, "list memberships in org %s", orgID)
	}
	return collect(rows, scanMembership)
}

// ListMembers is ListMemberships with each member's email and name, in one query.
func (q *Queries) ListMembers(ctx context.Context, orgID string, f MembershipFilter) ([]directory.Member, error) {
	where, err := membersWhere(f)
	if err != nil {
		return nil, err
	}
	rows, err := q.q.QueryContext(ctx, `SELECT `+qualify(membershipCols, "m")+`, u.email, u.name
FROM memberships m JOIN users u ON u.id = m.user_id
WHERE `+where+` ORDER BY m.id LIMIT $6`,
		orgID, f.AfterID, string(f.Status), string(f.Role), boolInt(f.ActionRequired), pageSize(f.Limit))
	if err != nil {
		return nil, q.wrap(err, "list members in org %s", orgID)
	}
	return collect(rows, func(r scanner) (directory.Member, error) {
		var mb directory.Member
		err := r.Scan(append(membershipDest(&mb.Membership), &mb.Email, &mb.Name)...)
		return mb, err
	})
}

// ListMemberConnections returns the personal connections of the org's memberships ids,
// in (membership, id) order: one query for a page of members.
func (q *Queries) ListMemberConnections(ctx context.Context, orgID string, ids []string) ([]connections.Connection, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	set, err := jsonArg(ids)
	if err != nil {
		return nil, err
	}
	// Driven by the ids: each is one probe of the partial (membership_id, kind) index,
	// whatever the org's size. CROSS JOIN keeps SQLite from scanning the org's rows
	// through (org_id, id) instead; PostgreSQL plans it as any join.
	rows, err := q.q.QueryContext(ctx, `SELECT `+qualify(connectionCols, "c")+`
FROM `+q.d.textSet("$2")+` e CROSS JOIN connections c
WHERE c.membership_id = e.value AND c.membership_id IS NOT NULL AND c.org_id = $1
ORDER BY c.membership_id, c.id`, orgID, set)
	if err != nil {
		return nil, q.wrap(err, "list connections of %d members in org %s", len(ids), orgID)
	}
	return collect(rows, scanConnection)
}

// MemberEmails maps the org's memberships ids to their users' emails (an id the org does
// not have is left out): one query, driven by the ids as ListMemberConnections is.
func (q *Queries) MemberEmails(ctx context.Context, orgID string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	set, err := jsonArg(ids)
	if err != nil {
		return nil, err
	}
	rows, err := q.q.QueryContext(ctx, `SELECT m.id, u.email
FROM `+q.d.textSet("$2")+` e CROSS JOIN memberships m JOIN users u ON u.id = m.user_id
WHERE m.id = e.value AND m.org_id = $1`, orgID, set)
	if err != nil {
		return nil, q.wrap(err, "read the emails of %d members in org %s", len(ids), orgID)
	}
	defer rows.Close()
	for rows.Next() {
		var id, email string
		if err := rows.Scan(&id, &email); err != nil {
			return nil, q.wrap(err, "read the emails of %d members in org %s", len(ids), orgID)
		}
		out[id] = email
	}
	if err := rows.Err(); err != nil {
		return nil, q.wrap(err, "read the emails of %d members in org %s", len(ids), orgID)
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// UpdateMembership writes m's role, custom permissions, status, groups, Salesforce user
// id and photo URL, with updated_at = at. Action-required reasons are written by
// SetActionRequired only. Returns directory.ErrNotFound if orgID has no membership m.ID.
func (q *Queries) UpdateMembership(ctx context.Context, orgID string, m directory.Membership, at time.Time) error {
	if !m.Role.Valid() {
		return fmt.Errorf("update membership %s: role %q: %w", m.ID, m.Role, directory.ErrInvalid)
	}
	perms, err := jsonArg(strs(m.CustomPermissions))
	if err != nil {
		return fmt.Errorf("update membership %s: %w", m.ID, err)
	}
	groups, err := jsonArg(strs(m.GroupIDs))
	if err != nil {
		return fmt.Errorf("update membership %s: %w", m.ID, err)
	}
	// Only DeactivateMembership sets deactivated_at; any other status (a re-invited member's
	// Join) clears it. Becoming active stamps activated_at (SET reads the old status).
	res, err := q.q.ExecContext(ctx, `UPDATE memberships SET role = $3, custom_permissions = $4,
status = $5, group_ids = $6, salesforce_user_id = $7, photo_url = $8, updated_at = $9,
deactivated_at = CASE WHEN $5 = 'deactivated' THEN deactivated_at ELSE NULL END,
activated_at = CASE WHEN $5 = 'active' AND status <> 'active' THEN $9 ELSE activated_at END
WHERE org_id = $1 AND id = $2`,
		orgID, m.ID, string(m.Role), perms, string(m.Status), groups, m.SalesforceUserID, m.PhotoURL, tm(at))
	return q.affected(res, err, "update membership %s in org %s", m.ID, orgID)
}

// SetActionRequired replaces the membership's action-required reasons (empty: none) and
// records that they were computed at at. Returns directory.ErrNotFound if orgID has no
// membership id.
func (q *Queries) SetActionRequired(ctx context.Context, orgID, id string, reasons []directory.ActionReason, at time.Time) error {
	r, err := jsonArg(reasonsArg(reasons))
	if err != nil {
		return fmt.Errorf("set action required on membership %s: %w", id, err)
	}
	res, err := q.q.ExecContext(ctx, `UPDATE memberships SET action_reasons = $3, action_required = $4,
action_admin = $5, action_checked_at = $6
WHERE org_id = $1 AND id = $2`, orgID, id, r, directory.Counted(reasons), directory.AdminActs(reasons), tm(at))
	return q.affected(res, err, "set action required on membership %s in org %s", id, orgID)
}

// RecomputeActionRequired reads the membership, its org (for the policy) and its
// connections and stores the reasons compute returns, in one transaction holding the membership's row (SQLite:
// the write lock), so two recomputes racing cannot leave the older reading stored. The
// reasons are written only when they changed or were never computed. Returns the
// membership as stored, and directory.ErrNotFound if orgID has no membership id.
func (q *Queries) RecomputeActionRequired(ctx context.Context, orgID, id string, at time.Time,
	compute func(org directory.Org, m directory.Membership, conns []connections.Connection) []directory.ActionReason) (directory.Membership, error) {
	var out directory.Membership
	err := q.inTx(ctx, func(tx *Queries) error {
		m, err := scanMembership(tx.q.QueryRowContext(ctx,
			`SELECT `+membershipCols+` FROM memberships WHERE org_id = $1 AND id = $2`+tx.d.forUpdate, orgID, id))
		if err != nil {
			return tx.wrap(err, "recompute action required of membership %s in org %s", id, orgID)
		}
		org, err := tx.GetOrg(ctx, orgID)
		if err != nil {
			return err
		}
		conns, err := tx.ListConnections(ctx, orgID, id)
		if err != nil {
			return err
		}
		reasons := compute(org, m, conns)
		out = m
		if !m.ActionCheckedAt.IsZero() && sameReasons(m.ActionRequired, reasons) {
			return nil
		}
		if err := tx.SetActionRequired(ctx, orgID, id, reasons, at); err != nil {
			return err
		}
		out.ActionRequired = reasons
		out.ActionCheckedAt = at.UTC().Truncate(time.Microsecond)
		return nil
	})
	return out, err
}

func sameReasons(a, b []directory.ActionReason) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Requirement != y.Requirement || x.Kind != y.Kind || x.ConnectionID != y.ConnectionID || x.State != y.State ||
			x.Actor != y.Actor || x.Code != y.Code || x.SubCode != y.SubCode || x.Cause != y.Cause || x.Message != y.Message || x.Recommended != y.Recommended ||
			!slices.Equal(x.AnyOf, y.AnyOf) {
			return false
		}
	}
	return true
}

// CountMemberships returns, for every members page filter, how many memberships it shows
// and how many of those are Action Required, in one query.
func (q *Queries) CountMemberships(ctx context.Context, orgID string) (directory.MembershipCounts, error) {
	var c directory.MembershipCounts
	var cols []string
	var dest []any
	for _, f := range directory.MemberFilters() {
		cond := filterSQL(f)
		cols = append(cols,
			`coalesce(sum(CASE WHEN `+cond+` THEN 1 ELSE 0 END), 0)`,
			`coalesce(sum(CASE WHEN `+cond+` AND m.action_required THEN 1 ELSE 0 END), 0)`)
		fc := c.Ref(f)
		dest = append(dest, &fc.Members, &fc.ActionRequired)
	}
	err := q.q.QueryRowContext(ctx, `SELECT `+strings.Join(cols, ",\n  ")+`
FROM memberships m WHERE m.org_id = $1`, orgID).Scan(dest...)
	if err != nil {
		return directory.MembershipCounts{}, q.wrap(err, "count memberships in org %s", orgID)
	}
	return c, nil
}

// DeactivateMembership marks the membership deactivated at at and clears its reasons; its
// seat is free from then on (seats count active memberships). It reports whether it
// changed anything: false when the membership was deactivated already. Returns
// directory.ErrNotFound if orgID has no membership id.
func (q *Queries) DeactivateMembership(ctx context.Context, orgID, id string, at time.Time) (bool, error) {
	res, err := q.q.ExecContext(ctx, `UPDATE memberships SET status = 'deactivated', deactivated_at = $3,
action_reasons = '[]', action_required = FALSE, action_admin = FALSE, action_checked_at = $3, updated_at = $3
WHERE org_id = $1 AND id = $2 AND status <> 'deactivated'`, orgID, id, tm(at))
	if err != nil {
		return false, q.wrap(err, "deactivate membership %s in org %s", id, orgID)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, q.wrap(err, "deactivate membership %s in org %s", id, orgID)
	} else if n == 1 {
		return true, nil
	}
	if _, err := q.GetMembership(ctx, orgID, id); err != nil {
		return false, err
	}
	return false, nil
}
