package store

import (
	"context"
	"time"

	"tether/sync/connections"
)

// SetPendingToken writes sealed into the connection's pending slot without a version
// check, bumping the version. It is the fallback of a token refresh whose full write
// keeps failing: the next attempt finds the rotated set there instead of replaying a
// refresh token the provider already retired. Returns ErrNotFound if the org has no
// connection id.
func (q *Queries) SetPendingToken(ctx context.Context, orgID, id string, sealed []byte, at time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE connections SET pending_token_enc = $3,
version = version + 1, updated_at = $4 WHERE org_id = $1 AND id = $2`, orgID, id, sealed, tm(at))
	return q.affected(res, err, "set pending token of connection %s in org %s", id, orgID)
}

var _ connections.TokenStore = (*Store)(nil)
