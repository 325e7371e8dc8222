package store

import (
	"context"
	"time"

	"tether/sync/directory"
)

// seatsQuery reads the limit and both usage counts in one statement; pending invites
// past their expiry no longer hold a seat even before a sweep marks them expired.
const seatsQuery = `SELECT o.seat_limit,
  (SELECT count(*) FROM memberships m WHERE m.org_id = o.id AND m.status = 'active'),
  (SELECT count(*) FROM invites i WHERE i.org_id = o.id AND i.status = 'pending' AND i.expires_at > $2)
FROM orgs o WHERE o.id = $1`

// CountSeats returns the org's seat usage at time at: active memberships plus pending,
// unexpired invites. Returns directory.ErrNotFound if the org does not exist.
func (q *Queries) CountSeats(ctx context.Context, orgID string, at time.Time) (directory.Seats, error) {
	var s directory.Seats
	err := q.q.QueryRowContext(ctx, seatsQuery, orgID, tm(at)).Scan(&s.Limit, &s.Active, &s.PendingInvites)
	if err != nil {
		return directory.Seats{}, q.wrap(err, "count seats of org %s", orgID)
	}
	return s, nil
}

// CountOpenInvites returns how many of the org's invites are pending and unexpired at at:
// the seat count's invite half, for the members page, whose other counts already hold
// the active members.
func (q *Queries) CountOpenInvites(ctx context.Context, orgID string, at time.Time) (int, error) {
	var n int
	err := q.q.QueryRowContext(ctx, `SELECT count(*) FROM invites WHERE org_id = $1 AND status = 'pending' AND expires_at > $2`,
		orgID, tm(at)).Scan(&n)
	if err != nil {
		return 0, q.wrap(err, "count the open invites of org %s", orgID)
	}
	return n, nil
}

// LockOrgSeats is CountSeats that also locks the org until the transaction ends, so "check
// seats, then insert invites" cannot oversell under concurrency: on PostgreSQL it takes a
// row lock on the org (SELECT … FOR UPDATE); on SQLite the transaction already holds the
// database's write lock. Call it on the Queries of Store.InTx; outside a transaction the
// lock ends with the statement. Returns directory.ErrNotFound if the org does not exist.
func (q *Queries) LockOrgSeats(ctx context.Context, orgID string, at time.Time) (directory.Seats, error) {
	if q.d.forUpdate != "" {
		// The lock is its own statement: under READ COMMITTED a statement that waited for
		// the lock still counts with the snapshot it started with and would miss the rows
		// the previous holder just committed; the next statement sees them.
		var id string
		err := q.q.QueryRowContext(ctx, `SELECT id FROM orgs WHERE id = $1`+q.d.forUpdate, orgID).Scan(&id)
		if err != nil {
			return directory.Seats{}, q.wrap(err, "lock org %s", orgID)
		}
	}
	return q.CountSeats(ctx, orgID, at)
}
