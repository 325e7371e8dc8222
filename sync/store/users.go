package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"tether/sync/directory"
)

const userCols = `id, email, name, favourite_org_id, created_at`

func scanUser(r scanner) (directory.User, error) {
	var u directory.User
	err := r.Scan(&u.ID, &u.Email, &u.Name, ns(&u.FavouriteOrgID), ts(&u.CreatedAt))
	return u, err
}

// CreateUser inserts u with its email normalised (trimmed, lower-cased). An empty ID gets
// a new one; a zero CreatedAt is now. Returns directory.ErrDuplicate if the email is taken,
// directory.ErrInvalid if it is empty.
//
// Users are global (one person across orgs), so this and the other user methods are not
// org-scoped; what a user may see of an org goes through memberships.
func (q *Queries) CreateUser(ctx context.Context, u directory.User) (directory.User, error) {
	u.Email = directory.NormalizeEmail(u.Email)
	stamp(&u.ID, &u.CreatedAt, time.Now())
	if err := checkTexts(text{"email", u.Email, directory.MaxEmail}, text{"name", u.Name, directory.MaxPersonName}); err != nil {
		return directory.User{}, fmt.Errorf("create user %s: %w", u.ID, err)
	}
	_, err := q.q.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1, $2, $3, $4, $5)`,
		u.ID, u.Email, u.Name, nullStr(u.FavouriteOrgID), tm(u.CreatedAt))
	if err != nil {
		return directory.User{}, q.wrap(err, "create user %s", u.ID)
	}
	return u, nil
}

// GetUser returns the user with id. Returns directory.ErrNotFound if there is none.
func (q *Queries) GetUser(ctx context.Context, id string) (directory.User, error) {
	u, err := scanUser(q.q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if err != nil {
		return directory.User{}, q.wrap(err, "get user %s", id)
	}
	return u, nil
}

// GetUserByEmail returns the user with email (compared normalised). Returns directory.ErrNotFound
// if there is none.
func (q *Queries) GetUserByEmail(ctx context.Context, email string) (directory.User, error) {
	u, err := scanUser(q.q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = $1`,
		directory.NormalizeEmail(email)))
	if err != nil {
		return directory.User{}, q.wrap(err, "get user by email")
	}
	return u, nil
}

// SetFavouriteOrg sets the org a user lands in (their default org). Returns directory.ErrNotFound
// unless the user has a membership in orgID that is not deactivated.
func (q *Queries) SetFavouriteOrg(ctx context.Context, orgID, userID string) error {
	if err := requireOrg(orgID); err != nil {
		return err
	}
	res, err := q.q.ExecContext(ctx, `
UPDATE users SET favourite_org_id = $1
WHERE id = $2 AND EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = $1 AND m.user_id = $2 AND m.status <> 'deactivated')`,
		orgID, userID)
	return q.affected(res, err, "set favourite org %s of user %s", orgID, userID)
}

// ListUserMemberships returns every membership of userID across orgs, each with the org's
// name and whether it is the user's default (favourite) org, in org-name order. Like the
// other user methods it is scoped by user, not by org: it serves the user's own list of
// orgs. An unknown user has none.
func (q *Queries) ListUserMemberships(ctx context.Context, userID string) ([]directory.UserMembership, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+qualify(membershipCols, "m")+`, o.name,
  CASE WHEN u.favourite_org_id = m.org_id THEN 1 ELSE 0 END
FROM memberships m JOIN orgs o ON o.id = m.org_id JOIN users u ON u.id = m.user_id
WHERE m.user_id = $1
ORDER BY o.name, o.id`, userID)
	if err != nil {
		return nil, q.wrap(err, "list memberships of user %s", userID)
	}
	return collect(rows, func(r scanner) (directory.UserMembership, error) {
		var um directory.UserMembership
		m := &um.Membership
		var def int
		err := r.Scan(append(membershipDest(m), &um.OrgName, &def)...)
		um.Default = def == 1
		return um, err
	})
}

// qualify prefixes each of a comma-separated column list with alias.
func qualify(cols, alias string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
