package store

import (
	"context"

	"tether/sync/keys"
)

var _ keys.Store = (*Queries)(nil)

// ListSealed returns up to limit connections with at least one sealed column, in id
// order after afterID ("" for the start): the key tools walk the table in batches with
// it.
func (q *Queries) ListSealed(ctx context.Context, afterID string, limit int) ([]keys.Row, error) {
	rows, err := q.q.QueryContext(ctx, `
SELECT id, org_id, access_token_enc, refresh_token_enc, pending_token_enc FROM connections
WHERE id > $1 AND (access_token_enc IS NOT NULL OR refresh_token_enc IS NOT NULL OR pending_token_enc IS NOT NULL)
ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, q.wrap(err, "list sealed connections after %q", afterID)
	}
	defer rows.Close()
	var out []keys.Row
	for rows.Next() {
		var r keys.Row
		if err := rows.Scan(&r.ID, &r.OrgID, &r.Access, &r.Refresh, &r.Pending); err != nil {
			return nil, q.wrap(err, "list sealed connections")
		}
		out = append(out, r)
	}
	return out, q.wrap(rows.Err(), "list sealed connections")
}

// ReplaceSealed writes next's sealed columns over the row if they still hold old's, and
// reports whether it did. It leaves version alone: the plaintext is unchanged, so a
// refresh that read the row before stays valid, and a refresh that wrote since makes the
// comparison fail (the caller reads the row again later).
func (q *Queries) ReplaceSealed(ctx context.Context, old, next keys.Row) (bool, error) {
	res, err := q.q.ExecContext(ctx, `
UPDATE connections SET access_token_enc = $3, refresh_token_enc = $4, pending_token_enc = $5
WHERE id = $1 AND org_id = $2
  AND (access_token_enc = $6 OR (access_token_enc IS NULL AND $6 IS NULL))
  AND (refresh_token_enc = $7 OR (refresh_token_enc IS NULL AND $7 IS NULL))
  AND (pending_token_enc = $8 OR (pending_token_enc IS NULL AND $8 IS NULL))`,
		old.ID, old.OrgID, next.Access, next.Refresh, next.Pending, old.Access, old.Refresh, old.Pending)
	if err != nil {
		return false, q.wrap(err, "reseal connection %s", old.ID)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, q.wrap(err, "reseal connection %s", old.ID)
	}
	return n == 1, nil
}
