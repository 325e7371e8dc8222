package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"tether/sync/connections"
)

// CountConnectionsByState returns how many connections there are of each kind in each
// state, system-wide, in kind then state order (byte order, the same on both backends).
// Pairs with no connection are absent. One aggregate query: the caller (the /metrics
// collector) limits how often it runs.
func (q *Queries) CountConnectionsByState(ctx context.Context) ([]connections.StateCount, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT kind, state, count(*) FROM connections GROUP BY kind, state`)
	if err != nil {
		return nil, q.wrap(err, "count connections by kind and state")
	}
	out, err := collect(rows, func(r scanner) (connections.StateCount, error) {
		var c connections.StateCount
		err := r.Scan(&c.Kind, &c.State, &c.Count)
		return c, err
	})
	if err != nil {
		return nil, q.wrap(err, "count connections by kind and state")
	}
	// Sorted here: PostgreSQL's collation would order "_" differently from SQLite.
	slices.SortFunc(out, func(a, b connections.StateCount) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.State, b.State))
	})
	return out, nil
}

// OldestOverdueConnection returns the next refresh time of the connection that has been
// due longest at now, by the same rule as ListDueConnections (so it is the first row a
// sweep at now reads), and false when none is due. now minus it is the sweep's lag.
// Reads one row through the connections_due index.
func (q *Queries) OldestOverdueConnection(ctx context.Context, now time.Time) (time.Time, bool, error) {
	var at time.Time
	err := q.q.QueryRowContext(ctx, `SELECT next_refresh_at FROM connections
WHERE next_refresh_at IS NOT NULL AND next_refresh_at <= $1 AND state <> 'revoked'
ORDER BY next_refresh_at LIMIT 1`, tm(now)).Scan(ts(&at))
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, q.wrap(err, "find the oldest overdue connection at %s", now.UTC().Format(time.RFC3339))
	}
	return at, true, nil
}
