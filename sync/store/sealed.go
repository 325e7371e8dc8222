package store

import (
	"context"
	"fmt"

	"tether/sync/keys"
)

var _ keys.Store = (*Queries)(nil)

// sealedTables are the sealed columns of each table the key tools walk: its table, key
// column (also the org id for reminder_slack) and sealed columns in keys.Row.Sealed's
// order.
var sealedTables = map[keys.Table]struct {
	name, id, org string
	cols          []string
}{
	keys.Connections: {"connections", "id", "org_id", []string{"access_token_enc", "refresh_token_enc", "pending_token_enc"}},
	keys.SlackTokens: {"reminder_slack", "org_id", "org_id", []string{"token_enc"}},
}

// ListSealed returns up to limit rows of table t with at least one sealed column, in id
// order after afterID ("" for the start): the key tools walk each table in batches with
// it.
func (q *Queries) ListSealed(ctx context.Context, t keys.Table, afterID string, limit int) ([]keys.Row, error) {
	tb, ok := sealedTables[t]
	if !ok {
		return nil, fmt.Errorf("list sealed values: unknown table %q", t)
	}
	cols, nonNull := "", ""
	for i, c := range tb.cols {
		cols += ", " + c
		if i > 0 {
			nonNull += " OR "
		}
		nonNull += c + " IS NOT NULL"
	}
	rows, err := q.q.QueryContext(ctx, `SELECT `+tb.id+`, `+tb.org+cols+` FROM `+tb.name+`
WHERE `+tb.id+` > $1 AND (`+nonNull+`) ORDER BY `+tb.id+` LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, q.wrap(err, "list sealed %s after %q", tb.name, afterID)
	}
	defer rows.Close()
	var out []keys.Row
	for rows.Next() {
		r := keys.Row{Table: t, Sealed: make([][]byte, len(tb.cols))}
		dest := []any{&r.ID, &r.OrgID}
		for i := range r.Sealed {
			dest = append(dest, &r.Sealed[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, q.wrap(err, "list sealed %s", tb.name)
		}
		out = append(out, r)
	}
	return out, q.wrap(rows.Err(), "list sealed %s", tb.name)
}

// ReplaceSealed writes next's sealed columns over the row of old.Table if they still hold
// old's, and reports whether it did. It leaves everything else alone (a connection's
// version, the Slack token's updated_at): the plaintext is unchanged, so a refresh that
// read the row before stays valid, and a refresh that wrote since makes the comparison
// fail (the caller reads the row again later).
func (q *Queries) ReplaceSealed(ctx context.Context, old, next keys.Row) (bool, error) {
	tb, ok := sealedTables[old.Table]
	if !ok || len(old.Sealed) != len(tb.cols) || len(next.Sealed) != len(tb.cols) {
		return false, fmt.Errorf("reseal %s %s: unknown table or wrong column count", old.Table, old.ID)
	}
	set, where := "", ""
	args := []any{old.ID, old.OrgID}
	for i, c := range tb.cols {
		if i > 0 {
			set += ", "
		}
		args = append(args, next.Sealed[i], old.Sealed[i])
		n, o := len(args)-1, len(args)
		set += fmt.Sprintf("%s = $%d", c, n)
		where += fmt.Sprintf("\n  AND (%s = $%d OR (%s IS NULL AND $%d IS NULL))", c, o, c, o)
	}
	res, err := q.q.ExecContext(ctx, `UPDATE `+tb.name+` SET `+set+`
WHERE `+tb.id+` = $1 AND `+tb.org+` = $2`+where, args...)
	if err != nil {
		return false, q.wrap(err, "reseal %s %s", tb.name, old.ID)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, q.wrap(err, "reseal %s %s", tb.name, old.ID)
	}
	return n == 1, nil
}
