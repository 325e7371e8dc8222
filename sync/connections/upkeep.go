package connections

import (
	"context"
	"errors"

	"tether/sync/vault"
)

// UpkeepParams are Upkeep's dependencies. Tokens is required; Due and Scheduler for
// Sweep; Verifier for Verify.
type UpkeepParams struct {
	Tokens    *Tokens
	Due       DueLister
	Scheduler Scheduler
	Verifier  Verifier
	// List serves List (the store). Optional.
	List Lister
	// PageSize is the sweep's page (<= 0: 1000).
	PageSize int
	// Zones, if set, records the time zone a verification of a member's connection found
	// as the member's own when the member has none (quiet hours follow it). Optional.
	Zones ZoneLearner
}

// ZoneLearner records a member's time zone only where none is known: a zone from the
// Salesforce import's invite or set by an admin is never replaced.
type ZoneLearner interface {
	// LearnMemberTimeZone sets the membership's zone to tz if it has none; true when set.
	// True with an error: the zone is recorded but what follows it (re-timing the
	// member's queued reminder) failed.
	LearnMemberTimeZone(ctx context.Context, orgID, membershipID, tz string) (bool, error)
}

// Upkeep keeps every connection alive: the refresh, verify and sweep tasks call it, and
// the operator's verbs. Its clock is TokensParams.Clock, so tests and benchmarks drive it.
type Upkeep struct {
	p UpkeepParams
	t *Tokens
}

// NewUpkeep checks p and returns an Upkeep. Safe for concurrent use.
func NewUpkeep(p UpkeepParams) (*Upkeep, error) {
	if p.Tokens == nil {
		return nil, errors.New("connections: Upkeep needs Tokens")
	}
	if p.Scheduler == nil {
		p.Scheduler = p.Tokens.p.Scheduler
	}
	return &Upkeep{p: p, t: p.Tokens}, nil
}

// Result is what one upkeep run of a connection did.
type Result struct {
	Op string // OpRefresh or OpVerify
	// Called: a provider was called (a refresh, a verification, or both).
	Called bool
	// Skipped says why nothing was done (not due, needs reconnecting); "" otherwise.
	Skipped string
	// State, Class, Reason and NextRefreshAt are the connection's after the run.
	Connection Connection
	// Failure is the failure recorded, nil on success.
	Failure *Failure
	// TimeZoneLearnt is the zone a verification found and recorded as the member's own
	// (UpkeepParams.Zones); "" when none was recorded.
	TimeZoneLearnt string
}

// Refresh refreshes the org's connection id if it is due (force: whatever its schedule,
// for an operator), through the one lock per connection, so concurrent tasks make one
// provider call. A provider failure is recorded on the connection and returned in
// Result.Failure, not as an error: the row holds what happens next. Errors are what kept
// the refresh from being decided (store, lock, a lapsed lease, a Retry-After not yet
// passed: *NotYetError); the task retries them.
func (u *Upkeep) Refresh(ctx context.Context, orgID, id string, force bool) (Result, error) {
	return u.RefreshThen(ctx, orgID, id, force, nil)
}

// RefreshThen is Refresh that tells then the result (and error) before it returns, as
// soon as it is known: while the connection's lock is released and its next refresh
// queued, so what the caller does with the result (a task writes it to Redis) does not
// wait for them. then runs exactly once, on the caller's goroutine.
func (u *Upkeep) RefreshThen(ctx context.Context, orgID, id string, force bool, then func(Result, error)) (Result, error) {
	result := func(a attempt) Result {
		return Result{Op: OpRefresh, Called: a.called, Skipped: a.skipped, Connection: a.conn, Failure: a.failure}
	}
	mode := refreshMode{upkeep: true, force: force}
	told := false
	if then != nil {
		mode.then = func(a attempt, err error) {
			told = true
			then(result(a), err)
		}
	}
	// No read before the lock: upkeep decides only from the row read under it, so a
	// second read would cost a database round trip per refresh for nothing.
	a, err := u.t.refresh(ctx, Connection{ID: id, OrgID: orgID}, vault.Token{}, mode)
	res := result(a)
	if then != nil && !told {
		then(res, err) // the lock was not taken
	}
	return res, err
}

// Lister lists an org's connections (the store).
type Lister interface {
	ListConnections(ctx context.Context, orgID, membershipID string) ([]Connection, error)
}

// List returns the org's connections (one membership's when membershipID is set), in id
// order, without their tokens: what the operator's list shows.
func (u *Upkeep) List(ctx context.Context, orgID, membershipID string) ([]Connection, error) {
	if u.p.List == nil {
		return nil, errors.New("connections: Upkeep has no Lister (UpkeepParams.List)")
	}
	cs, err := u.p.List.ListConnections(ctx, orgID, membershipID)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		cs[i].AccessTokenEnc, cs[i].RefreshTokenEnc, cs[i].PendingTokenEnc = nil, nil, nil
	}
	return cs, nil
}
