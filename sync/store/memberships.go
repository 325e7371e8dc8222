package store

import (
	"context"
	"fmt"
	"time"

	"tether/sync/directory"
)

const membershipCols = `id, org_id, user_id, role, custom_permissions, status, group_ids,
salesforce_user_id, photo_url, action_reasons, created_at, updated_at`

func scanMembership(r scanner) (directory.Membership, error) {
	var m directory.Membership
	err := r.Scan(&m.ID, &m.OrgID, &m.UserID, &m.Role, js(&m.CustomPermissions), &m.Status,
		js(&m.GroupIDs), &m.SalesforceUserID, &m.PhotoURL, js(&m.ActionRequired),
		ts(&m.CreatedAt), ts(&m.UpdatedAt))
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
	reasons, err := jsonArg(strs(m.ActionRequired))
	if err != nil {
		return nil, err
	}
	return []any{m.ID, m.OrgID, m.UserID, string(m.Role), perms, string(m.Status), groups,
		m.SalesforceUserID, m.PhotoURL, reasons, tm(m.CreatedAt), tm(m.UpdatedAt)}, nil
}

// prepareMembership fills defaults and checks what the database cannot say clearly.
func prepareMembership(orgID string, m *directory.Membership, now time.Time) error {
	m.OrgID = orgID
	stamp(&m.ID, &m.CreatedAt, now)
	m.UpdatedAt = m.CreatedAt
	if m.Status == "" {
		m.Status = directory.MembershipActive
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
	_, err = q.q.ExecContext(ctx, `INSERT INTO memberships (`+membershipCols+`, action_required)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, append(args, len(m.ActionRequired) > 0)...)
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

// MembershipFilter selects memberships. Zero fields select everything.
type MembershipFilter struct {
	Status directory.MembershipStatus
	Role   directory.Role
	// ActionRequired selects only memberships with at least one reason.
	ActionRequired bool
	// AfterID pages: only ids greater than it (results are in id order).
	AfterID string
	// Limit caps the page; <= 0 means 1000.
	Limit int
}

// ListMemberships returns the org's memberships matching f, in id order.
func (q *Queries) ListMemberships(ctx context.Context, orgID string, f MembershipFilter) ([]directory.Membership, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+membershipCols+` FROM memberships
WHERE org_id = $1 AND id > $2
  AND ($3 = '' OR status = $3) AND ($4 = '' OR role = $4)
  AND (action_required OR $5 = 0)
ORDER BY id LIMIT $6`,
		orgID, f.AfterID, string(f.Status), string(f.Role), boolInt(f.ActionRequired), pageSize(f.Limit))
	if err != nil {
		return nil, q.wrap(err, "list memberships in org %s", orgID)
	}
	return collect(rows, scanMembership)
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
	res, err := q.q.ExecContext(ctx, `UPDATE memberships SET role = $3, custom_permissions = $4,
status = $5, group_ids = $6, salesforce_user_id = $7, photo_url = $8, updated_at = $9
WHERE org_id = $1 AND id = $2`,
		orgID, m.ID, string(m.Role), perms, string(m.Status), groups, m.SalesforceUserID, m.PhotoURL, tm(at))
	return q.affected(res, err, "update membership %s in org %s", m.ID, orgID)
}

// SetActionRequired replaces the membership's action-required reasons (empty: none).
// Returns directory.ErrNotFound if orgID has no membership id.
func (q *Queries) SetActionRequired(ctx context.Context, orgID, id string, reasons []string, at time.Time) error {
	r, err := jsonArg(strs(reasons))
	if err != nil {
		return fmt.Errorf("set action required on membership %s: %w", id, err)
	}
	res, err := q.q.ExecContext(ctx, `UPDATE memberships SET action_reasons = $3, action_required = $4, updated_at = $5
WHERE org_id = $1 AND id = $2`, orgID, id, r, len(reasons) > 0, tm(at))
	return q.affected(res, err, "set action required on membership %s in org %s", id, orgID)
}

// CountMemberships returns the org's membership counts per filter in one query.
func (q *Queries) CountMemberships(ctx context.Context, orgID string) (directory.MembershipCounts, error) {
	var c directory.MembershipCounts
	err := q.q.QueryRowContext(ctx, `SELECT
  count(*),
  coalesce(sum(CASE WHEN status = 'active' THEN 1 ELSE 0 END), 0),
  coalesce(sum(CASE WHEN role IN ('admin', 'custom_admin') THEN 1 ELSE 0 END), 0),
  coalesce(sum(CASE WHEN role = 'chat' THEN 1 ELSE 0 END), 0),
  coalesce(sum(CASE WHEN role = 'meetings' THEN 1 ELSE 0 END), 0),
  coalesce(sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0),
  coalesce(sum(CASE WHEN status = 'deactivated' THEN 1 ELSE 0 END), 0),
  coalesce(sum(CASE WHEN status = 'active' AND action_required THEN 1 ELSE 0 END), 0)
FROM memberships WHERE org_id = $1`, orgID).Scan(
		&c.All, &c.Active, &c.Admin, &c.Chat, &c.Meetings, &c.Pending, &c.Deactivated, &c.ActionRequired)
	if err != nil {
		return c, q.wrap(err, "count memberships in org %s", orgID)
	}
	return c, nil
}
