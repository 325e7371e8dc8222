package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
)

// SetPendingToken writes sealed into the connection's pending slot without a version
// check, bumping the version, but only while the row's refresh token column still holds
// spent (the sealed refresh token the caller read and spent). It is the fallback of a
// token refresh whose full write keeps failing or is fenced off: the next attempt finds
// the rotated set there instead of replaying a refresh token the provider already
// retired; once the row holds another refresh token, someone refreshed since and the set
// is obsolete. Returns directory.ErrConflict if the row no longer holds spent, directory.ErrNotFound if the
// org has no connection id.
func (q *Queries) SetPendingToken(ctx context.Context, orgID, id string, sealed, spent []byte, at time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE connections SET pending_token_enc = $3,
version = version + 1, updated_at = $4 WHERE org_id = $1 AND id = $2 AND refresh_token_enc = $5`,
		orgID, id, sealed, tm(at), spent)
	err = q.affected(res, err, "set pending token of connection %s in org %s", id, orgID)
	if !errors.Is(err, directory.ErrNotFound) {
		return err
	}
	if _, gerr := q.GetConnection(ctx, orgID, id); gerr != nil {
		return gerr
	}
	return fmt.Errorf("set pending token of connection %s in org %s: the row holds another refresh token: %w",
		id, orgID, directory.ErrConflict)
}

var _ connections.TokenStore = (*Store)(nil)
