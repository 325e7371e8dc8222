package store

import (
	"context"
	"time"

	"tether/sync/apitokens"
	"tether/sync/directory"
)

var _ apitokens.Store = (*Queries)(nil)

const apiTokenCols = `id, name, secret_hash, org_ids, read_only, created_at, revoked_at`

func scanAPIToken(r scanner) (apitokens.Token, error) {
	var t apitokens.Token
	err := r.Scan(&t.ID, &t.Name, &t.SecretHash, js(&t.OrgIDs), &t.ReadOnly, ts(&t.CreatedAt), ts(&t.RevokedAt))
	return t, err
}

// CreateAPIToken stores t (its secret's hash only).
func (q *Queries) CreateAPIToken(ctx context.Context, t apitokens.Token) error {
	if err := checkTexts(text{"token name", t.Name, directory.MaxOrgName}); err != nil {
		return err
	}
	orgs, err := jsonArg(t.OrgIDs)
	if err != nil {
		return err
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO api_tokens (`+apiTokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, NULL)`,
		t.ID, t.Name, t.SecretHash, orgs, t.ReadOnly, tm(t.CreatedAt))
	return q.wrap(err, "create api token %s", t.ID)
}

// GetAPITokenByHash returns the live token with the secret hash; directory.ErrNotFound
// when none (revoked tokens are not found).
func (q *Queries) GetAPITokenByHash(ctx context.Context, hash string) (apitokens.Token, error) {
	t, err := scanAPIToken(q.q.QueryRowContext(ctx,
		`SELECT `+apiTokenCols+` FROM api_tokens WHERE secret_hash = $1 AND revoked_at IS NULL`, hash))
	if err != nil {
		return apitokens.Token{}, q.wrap(err, "get api token")
	}
	return t, nil
}

// ListAPITokens returns every token in creation order.
func (q *Queries) ListAPITokens(ctx context.Context) ([]apitokens.Token, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+apiTokenCols+` FROM api_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, q.wrap(err, "list api tokens")
	}
	defer rows.Close()
	var out []apitokens.Token
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, q.wrap(err, "list api tokens")
		}
		out = append(out, t)
	}
	return out, q.wrap(rows.Err(), "list api tokens")
}

// RevokeAPIToken marks token id revoked at at; directory.ErrNotFound if it is unknown or
// already revoked.
func (q *Queries) RevokeAPIToken(ctx context.Context, id string, at time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, tm(at))
	return q.affected(res, err, "revoke api token %s", id)
}
