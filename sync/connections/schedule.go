package connections

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DueLister reads the connections due at or before a time, through the due index.
type DueLister interface {
	ListDueConnections(ctx context.Context, q DueQuery) ([]Due, error)
}

// DueOp is what a connection due at now needs: a verification when its last one is
// VerifyEvery old and it is healthy (verification refreshes first when the token is
// older than its lifetime), otherwise a refresh (which also retries and probes).
func DueOp(d Due, now time.Time, p Policy) string {
	p = p.withDefaults()
	if d.State == StateHealthy && !d.LastVerifiedAt.IsZero() && !d.LastVerifiedAt.Add(p.VerifyEvery).After(now) {
		return OpVerify
	}
	return OpRefresh
}

// SweepResult is what one sweep did.
type SweepResult struct {
	Due       int // rows read: due or overdue
	Refreshes int // refresh tasks queued
	Verifies  int // verification tasks queued
	Failed    int // rows whose task could not be queued (the next sweep tries again)
	// OldestDue is the earliest NextRefreshAt read (zero when nothing was due): now minus
	// it is the sweep's lag.
	OldestDue time.Time
}

// Sweep queues a task for every connection due at or before now (its next refresh,
// verification or retry), reading only due rows through the index in keyset pages, so
// its cost follows what is due, not the table's size. It catches what the per-refresh
// schedule missed (a lost enqueue, a row stored by connect, a crash). Queuing is
// idempotent per connection, op and due time, so overlapping sweeps queue each once.
func (u *Upkeep) Sweep(ctx context.Context, now time.Time) (SweepResult, error) {
	if u.p.Due == nil || u.p.Scheduler == nil {
		return SweepResult{}, errors.New("connections: the sweep needs UpkeepParams.Due and Scheduler")
	}
	var res SweepResult
	q := DueQuery{Before: now, Limit: u.p.PageSize}
	var errs []error
	for {
		page, err := u.p.Due.ListDueConnections(ctx, q)
		if err != nil {
			return res, fmt.Errorf("sweep: list connections due before %s: %w", now.UTC().Format(time.RFC3339), err)
		}
		for _, d := range page {
			res.Due++
			if res.OldestDue.IsZero() || d.NextRefreshAt.Before(res.OldestDue) {
				res.OldestDue = d.NextRefreshAt
			}
			op := DueOp(d, now, u.t.p.Policy)
			if err := u.p.Scheduler.Schedule(ctx, op, d, d.NextRefreshAt); err != nil {
				res.Failed++
				if len(errs) < 3 {
					errs = append(errs, fmt.Errorf("queue %s of connection %s: %w", op, d.ID, err))
				}
				continue
			}
			if op == OpVerify {
				res.Verifies++
			} else {
				res.Refreshes++
			}
		}
		if len(page) == 0 || len(page) < pageLimit(q.Limit) {
			break
		}
		last := page[len(page)-1]
		q.AfterTime, q.AfterID = last.NextRefreshAt, last.ID
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	if res.Failed > 0 {
		return res, fmt.Errorf("sweep: %d of %d due connections not queued: %w", res.Failed, res.Due, errors.Join(errs...))
	}
	return res, nil
}

func pageLimit(n int) int {
	if n <= 0 {
		return 1000
	}
	return min(n, 10000) // the store's cap
}
