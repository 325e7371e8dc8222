package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"tether/sync/directory"
)

const groupCols = `id, org_id, name, created_at`

func scanGroup(r scanner) (directory.Group, error) {
	var g directory.Group
	err := r.Scan(&g.ID, &g.OrgID, &g.Name, ts(&g.CreatedAt))
	return g, err
}

// GetOrCreateGroup returns the org's group named name (trimmed), creating it at time at if
// there is none. Safe to call concurrently with the same name: one group results.
// Returns directory.ErrInvalid for an empty name, directory.ErrNotFound if the org does not exist.
func (q *Queries) GetOrCreateGroup(ctx context.Context, orgID, name string, at time.Time) (directory.Group, error) {
	if err := requireOrg(orgID); err != nil {
		return directory.Group{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return directory.Group{}, q.wrap(directory.ErrInvalid, "get or create group in org %s: empty name", orgID)
	}
	if err := checkTexts(text{"group name", name, directory.MaxGroupName}); err != nil {
		return directory.Group{}, fmt.Errorf("get or create group in org %s: %w", orgID, err)
	}
	// DO UPDATE (a no-op write) rather than DO NOTHING so RETURNING yields the existing row.
	g, err := scanGroup(q.q.QueryRowContext(ctx, `
INSERT INTO org_groups (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (org_id, name) DO UPDATE SET name = excluded.name
RETURNING `+groupCols, newID(), orgID, name, tm(at)))
	if err != nil {
		return directory.Group{}, q.wrap(err, "get or create group %q in org %s", name, orgID)
	}
	return g, nil
}

// GetGroup returns the org's group id. Returns directory.ErrNotFound if the org has no such group.
func (q *Queries) GetGroup(ctx context.Context, orgID, id string) (directory.Group, error) {
	g, err := scanGroup(q.q.QueryRowContext(ctx,
		`SELECT `+groupCols+` FROM org_groups WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return directory.Group{}, q.wrap(err, "get group %s in org %s", id, orgID)
	}
	return g, nil
}

// ListGroups returns the org's groups by name.
func (q *Queries) ListGroups(ctx context.Context, orgID string) ([]directory.Group, error) {
	rows, err := q.q.QueryContext(ctx,
		`SELECT `+groupCols+` FROM org_groups WHERE org_id = $1 ORDER BY name`, orgID)
	if err != nil {
		return nil, q.wrap(err, "list groups in org %s", orgID)
	}
	return collect(rows, scanGroup)
}
