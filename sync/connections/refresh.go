package connections

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"tether/sync/directory"
	"tether/sync/vault"
)

// NotYetError: the provider asked tether to wait (Retry-After) and the time has not come;
// no call was made. RetryAfter lets a task be retried then without spending a retry.
type NotYetError struct {
	ConnectionID string
	Until        time.Time
	Delay        time.Duration
}

func (e *NotYetError) Error() string {
	return fmt.Sprintf("connection %s: the provider asked tether to wait until %s", e.ConnectionID, e.Until.Format(time.RFC3339))
}

// RetryAfter is how long to wait.
func (e *NotYetError) RetryAfter() time.Duration { return e.Delay }

// refreshMode says who asks for a refresh.
type refreshMode struct {
	// upkeep: a scheduled task; a row that is not due any more (another worker refreshed
	// it) is left alone, and a connection waiting for its admin is probed.
	upkeep bool
	// force: an operator or a verification; the schedule is ignored (a provider's
	// Retry-After is not).
	force bool
	// then, if set, is told the outcome once the lock is taken and the outcome known,
	// while the lock is released (see Upkeep.RefreshThen).
	then func(a attempt, err error)
}

// attempt is what one refresh under the lock came to.
type attempt struct {
	conn    Connection
	access  vault.Token
	called  bool     // the provider was called
	skipped string   // why nothing was done; "" when something was
	failure *Failure // the recorded failure, nil on success
	// scheduled, if set, waits for the next task's enqueue, which runs while the lock is
	// released: the two share a trip to Redis instead of taking one each.
	scheduled func()
}

func (t *Tokens) expired(c Connection) bool {
	return !c.ExpiresAt.IsZero() && !t.p.Clock().Add(t.p.ExpirySkew).Before(c.ExpiresAt)
}

// refresh runs under the connection's lock. seen is the row and token the caller last
// had: if the row moved on since, another worker refreshed and its token is used as is.
// A provider failure is recorded on the row and returned in attempt.failure, not as err;
// err is for what kept the refresh from being decided (lock, store, a lapsed lease).
func (t *Tokens) refresh(ctx context.Context, seen Connection, seenAccess vault.Token, mode refreshMode) (a attempt, err error) {
	lease, stashed, c, err := t.lockAndRead(ctx, seen.OrgID, seen.ID)
	if lease == nil {
		return attempt{conn: seen}, err
	}
	defer func() {
		release := func() {
			lease.Unlock()
			if a.scheduled != nil {
				a.scheduled()
			}
		}
		if mode.then == nil {
			release()
			return
		}
		// The caller's report of the outcome (the task's result) goes while the lock is
		// released and the next task queued, instead of after.
		released := inBackground(release)
		mode.then(a, err)
		released()
	}()

	if err != nil {
		return attempt{conn: seen}, err
	}
	if err := usable(c, mode.upkeep); err != nil {
		if mode.upkeep {
			return attempt{conn: c, skipped: skipReason(c)}, nil
		}
		return attempt{conn: c}, err
	}
	if set, ok, err := t.pending(ctx, c, stashed); err != nil {
		return attempt{conn: c}, err
	} else if ok {
		// The provider already answered; its set was only not written. No call.
		return t.persist(ctx, lease, c, set, false, inflightMark{}, false)
	}
	now := t.p.Clock()
	access, err := t.p.Keys.OpenToken(c.AccessTokenEnc, c.ID)
	if err != nil {
		return attempt{conn: c}, fmt.Errorf("open access token of connection %s: %w", c.ID, err)
	}
	switch {
	case mode.force:
	case mode.upkeep:
		if !c.NextRefreshAt.IsZero() && c.NextRefreshAt.After(now) {
			// This may be the retry of a task whose worker died between the row's commit and
			// the next task's enqueue: the next task is queued again (a no-op when it is
			// there), so the row does not wait for the sweep.
			a := attempt{conn: c, access: access, skipped: "not due until " + c.NextRefreshAt.UTC().Format(time.RFC3339)}
			a.scheduled = t.scheduleNext(ctx, c)
			return a, nil
		}
	default:
		if c.Version != seen.Version && !access.IsZero() && !access.Equal(seenAccess) && !t.expired(c) {
			return attempt{conn: c, access: access}, nil
		}
	}
	// The provider asked tether to wait: nobody calls before, not even an operator.
	if c.FailureClass == FailRateLimited && now.Before(c.NextAttemptAt) {
		return attempt{conn: c}, &NotYetError{ConnectionID: c.ID, Until: c.NextAttemptAt, Delay: c.NextAttemptAt.Sub(now)}
	}

	refresh, err := t.p.Keys.OpenToken(c.RefreshTokenEnc, c.ID)
	if err != nil {
		return attempt{conn: c}, fmt.Errorf("open refresh token of connection %s: %w", c.ID, err)
	}
	if refresh.IsZero() {
		f := &Failure{Class: FailNeedsReconnect, Provider: c.Kind.Provider(), Op: OpRefresh,
			Code: "missing_refresh_token", Reason: "No refresh token is stored; the rep must reconnect."}
		return t.recordFailure(ctx, c, OpRefresh, f)
	}
	// A provider that kills the old refresh token on rotation: mark the refresh in flight,
	// so a worker killed between the answer and the commit leaves a trace. The next
	// attempt that finds the mark knows the outcome of the last one is unknown: an
	// invalid_grant then means the grant was lost during the refresh, not revoked.
	// The mark is in Redis before the token is spent, never alongside: a mark still on
	// its way when a kill lands after the answer (a loopback provider answers in the time
	// of a Redis round trip) would leave no trace, and the lost grant would read as a
	// revoke (the fault suite saw it: a replay, the grant revoked, no cause). Without the
	// mark the token is not spent now; the task retries.
	mark, err := t.inflight(ctx, c)
	if err != nil {
		return attempt{conn: c}, fmt.Errorf("refresh connection %s: %w", c.ID, err)
	}
	start := time.Now()
	set, err := t.p.Refresher.Refresh(ctx, RefreshRequest{
		Kind: c.Kind, RefreshToken: refresh, LoginURL: c.LoginURL, InstanceURL: c.InstanceURL,
	})
	took := time.Since(start)
	if mark.found && c.FailureCause != CauseOutcomeUnknown {
		c.FailureCause = CauseOutcomeUnknown
	}
	if err != nil {
		f := FailureOf(err, c.Kind.Provider(), OpRefresh)
		if t.p.Metrics != nil {
			t.p.Metrics.Refreshed(c.Kind.Provider(), f.Class, took)
		}
		// A holder whose lease lapsed spent a token a newer holder may have replaced
		// already: its failure says nothing of the row, so it is not recorded and the
		// caller retries.
		if herr := lease.Held(context.WithoutCancel(ctx)); herr != nil {
			return attempt{conn: c, called: true}, fmt.Errorf("refresh connection %s: %w (%v); the provider said: %v", c.ID, ErrFenced, herr, err)
		}
		a, rerr := t.recordFailure(ctx, c, OpRefresh, f)
		a.called = true
		if rerr == nil && !f.OutcomeUnknown {
			mark.clear(ctx) // the answer arrived and is recorded
		}
		return a, rerr
	}
	if t.p.Metrics != nil {
		t.p.Metrics.Refreshed(c.Kind.Provider(), "", took)
	}
	if set.RefreshToken.IsZero() {
		set.RefreshToken = refresh
	}
	// The stash held no pending set when read under the lock: its clearing, and the
	// in-flight mark's, may wait for the release's round trip.
	return t.persist(ctx, lease, c, set, true, mark, true)
}

// inflightMark is the trace of a refresh sent to a provider that kills the old refresh
// token, kept in the Stash until its outcome is committed.
type inflightMark struct {
	t     *Tokens
	key   string
	found bool // an earlier refresh of the same token never committed its outcome
}

// inflight reads and sets c's in-flight mark: the digest of the refresh token being
// spent, so a mark left by a refresh whose token was since replaced does not count.
// Without a Stash, or for a provider whose old token survives, there is no mark. An error
// means the mark could not be written: the token must not be spent without it.
func (t *Tokens) inflight(ctx context.Context, c Connection) (inflightMark, error) {
	if r, ok := t.p.Refresher.(RotationRules); t.p.Stash == nil || !ok || !r.KillsOldToken(c.Kind) {
		return inflightMark{}, nil
	}
	m := inflightMark{t: t, key: "refresh-inflight:" + c.ID}
	sum := sha256.Sum256(c.RefreshTokenEnc)
	if b, ok := t.p.Stash.(StashBatch); ok {
		prev, err := b.Swap(ctx, m.key, sum[:])
		if err != nil {
			return inflightMark{}, fmt.Errorf("mark the refresh in flight before spending a token %s kills on rotation: %w", c.Kind.Provider(), err)
		}
		m.found = bytes.Equal(prev, sum[:])
		return m, nil
	}
	prev, err := t.p.Stash.Get(ctx, m.key)
	if err != nil {
		return inflightMark{}, fmt.Errorf("read the in-flight mark of connection %s: %w", c.ID, err)
	}
	m.found = bytes.Equal(prev, sum[:])
	if err := t.p.Stash.Put(ctx, m.key, sum[:]); err != nil {
		return inflightMark{}, fmt.Errorf("mark the refresh in flight before spending a token %s kills on rotation: %w", c.Kind.Provider(), err)
	}
	return m, nil
}

func (m inflightMark) clear(ctx context.Context) {
	if m.t != nil {
		_ = m.t.p.Stash.Delete(context.WithoutCancel(ctx), m.key)
	}
}

// committedClear drops, after a committed refresh, the stashed pending set and c's
// in-flight mark: one round trip when the Stash batches, none of its own when onUnlock
// and the lease deletes them in its release's round trip. onUnlock is for when the stash
// was empty under the lock (a defensive delete), so a kill before the release leaves no
// pending set behind; a mark left then names the refresh token this commit replaced
// (every commit seals anew), so it is never taken for the new one's.
func (t *Tokens) committedClear(ctx context.Context, lease Lease, id string, mark inflightMark, onUnlock bool) {
	if t.p.Stash == nil {
		return
	}
	keys := []string{stashKey(id)}
	if mark.t != nil {
		keys = append(keys, mark.key)
	}
	if sl, ok := lease.(StashLease); ok && onUnlock && t.releaseClears() {
		sl.DeleteOnUnlock(keys...)
		return
	}
	ctx = context.WithoutCancel(ctx)
	if b, ok := t.p.Stash.(StashBatch); ok {
		_ = b.DeleteAll(ctx, keys...)
		return
	}
	_ = t.p.Stash.Delete(ctx, stashKey(id))
	mark.clear(ctx)
}

// persist writes set, obtained by spending c's refresh token, into the row: the tokens
// (a rotated refresh token first of all: nothing else happens before it is stored) and
// the health the answer implies, in one write.
//
// The write is fenced (invariant 2). It carries the lease's fencing token and is made
// only while the lease is held; the store refuses it when the row records a newer token.
// When the compare-and-swap loses, the row is re-read: if it still holds the refresh token
// we spent, a state-only writer moved it and our set is written over it; if it holds other
// tokens, a newer refresh (or a reconnect) wrote them and they are used as they are.
//
// When the write keeps failing, or the lease lapsed, the set is sealed into the pending
// slot (or the stash) and an error returned, so the task fails and its retry picks the
// set up instead of spending the old, possibly rotated-out, refresh token; but only while
// the row still holds the token we spent, since otherwise the set is older than what the
// row holds.
func (t *Tokens) persist(ctx context.Context, lease Lease, c Connection, set TokenSet, called bool, mark inflightMark, clearOnUnlock bool) (attempt, error) {
	now := t.p.Clock().UTC()
	o := Outcome{Op: OpRefresh, Expiry: set.Expiry, MissingScopes: set.MissingScopes, Jitter: t.p.Rand(),
		SessionTimeout: t.sessionTimeout(ctx, c)}
	cur := c
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = lease.Held(ctx); err != nil {
			err = fmt.Errorf("%w: %w", ErrFenced, err)
			break
		}
		var ch Change
		if ch, err = t.apply(cur, set, o, lease.Fence(), now); err != nil {
			return attemptOf(c, called), err
		}
		var written Connection
		written, err = t.p.Store.UpdateConnection(ctx, c.OrgID, ch.Conn, now)
		if err == nil {
			t.committedClear(ctx, lease, c.ID, mark, clearOnUnlock)
			written = t.learnSession(ctx, written, set.AccessToken, o, now)
			var wait func()
			t.committed(ctx, cur, ch, written, &wait)
			a := t.outcomeOf(written, set.AccessToken, called)
			a.scheduled = wait
			return a, nil
		}
		if errors.Is(err, directory.ErrConflict) {
			moved, gerr := t.p.Store.GetConnection(ctx, c.OrgID, c.ID)
			if gerr == nil {
				if uerr := usable(moved, true); uerr != nil {
					return attemptOf(moved, called), uerr
				}
				if !bytes.Equal(moved.RefreshTokenEnc, c.RefreshTokenEnc) || moved.RefreshFence > lease.Fence() {
					a, serr := t.superseded(moved)
					a.called = called
					if serr == nil {
						mark.clear(ctx) // the answer arrived; a newer one is in the row
					}
					return a, serr
				}
				cur = moved
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	keepErr := t.keep(ctx, c, set)
	return attemptOf(c, called), errors.Join(fmt.Errorf("store refreshed tokens of connection %s: %w", c.ID, err), keepErr)
}

func attemptOf(c Connection, called bool) attempt { return attempt{conn: c, called: called} }

// outcomeOf is a written refresh: a grant that lost scopes is recorded as a failure.
func (t *Tokens) outcomeOf(written Connection, access vault.Token, called bool) attempt {
	a := attempt{conn: written, access: access, called: called}
	if written.State == StateNeedsReconnect {
		a.failure = &Failure{Class: FailNeedsReconnect, Provider: written.Kind.Provider(), Op: OpRefresh,
			Code: written.LastErrorCode, Reason: written.FailureReason}
	}
	return a
}

func (t *Tokens) sessionTimeout(ctx context.Context, c Connection) time.Duration {
	if t.p.SessionTimeout == nil || (c.Kind != KindSalesforce && c.Kind != KindSalesforceTeam) {
		return 0
	}
	return t.p.SessionTimeout(ctx, c)
}

// learnSession runs after a Salesforce refresh is committed (the rotated token is stored
// first): when the org's session timeout is due to be learned again and the new one moves
// this connection's schedule, the schedule alone is rewritten (compare-and-swap; on a
// conflict the row written stands and the next refresh uses the new timeout).
func (t *Tokens) learnSession(ctx context.Context, written Connection, access vault.Token, o Outcome, now time.Time) Connection {
	if t.p.LearnSession == nil || written.State != StateHealthy || !written.ExpiresAt.IsZero() ||
		(written.Kind != KindSalesforce && written.Kind != KindSalesforceTeam) {
		return written
	}
	d, ok := t.p.LearnSession(ctx, written, access, false)
	if !ok || d == o.SessionTimeout {
		return written
	}
	next := NextDue(written, d, o.Jitter, now, t.p.Policy)
	if next.Equal(written.NextRefreshAt) {
		return written
	}
	re := written
	re.NextRefreshAt = next
	out, err := t.p.Store.UpdateConnection(context.WithoutCancel(ctx), written.OrgID, re, now)
	if err != nil {
		return written
	}
	return out
}

// apply returns base with set sealed into it and the success transition applied, under
// fence.
func (t *Tokens) apply(base Connection, set TokenSet, o Outcome, fence int64, now time.Time) (Change, error) {
	next := base
	var err error
	if next.AccessTokenEnc, err = t.p.Keys.SealToken(set.AccessToken, base.ID); err != nil {
		return Change{}, fmt.Errorf("seal access token of connection %s: %w", base.ID, err)
	}
	if next.RefreshTokenEnc, err = t.p.Keys.SealToken(set.RefreshToken, base.ID); err != nil {
		return Change{}, fmt.Errorf("seal refresh token of connection %s: %w", base.ID, err)
	}
	next.PendingTokenEnc = nil
	if len(set.Scopes) > 0 {
		next.Scopes = set.Scopes // an answer without a scope list keeps the stored one
	}
	if set.InstanceURL != "" {
		next.InstanceURL = set.InstanceURL // Salesforce may move an org
	}
	next.RefreshFence = fence
	ch := Transition(next, o, now, t.p.Policy)
	ch.StateChanged = changed(base, ch.Conn)
	return ch, nil
}

// recordFailure writes failure f of op on c (compare-and-swap, re-read on conflict) and
// returns it as the attempt's failure. A write that keeps failing is returned as err: the
// task is retried and decides again.
func (t *Tokens) recordFailure(ctx context.Context, c Connection, op string, f *Failure) (attempt, error) {
	o := Outcome{Op: op, Failure: f, Jitter: t.p.Rand()}
	if r, ok := t.p.Refresher.(RotationRules); ok {
		o.KillsOldToken = r.KillsOldToken(c.Kind)
	}
	written, err := t.commit(context.WithoutCancel(ctx), c, o)
	if err != nil {
		return attempt{conn: c, failure: f}, fmt.Errorf("record the failure of connection %s (%v): %w", c.ID, f, err)
	}
	return attempt{conn: written, failure: f}, nil
}

// commit applies outcome o to c's health fields and writes them, re-reading and
// re-applying on a lost compare-and-swap (tokens are never written here). It calls the
// observer and metrics for what it committed.
func (t *Tokens) commit(ctx context.Context, c Connection, o Outcome) (Connection, error) {
	cur := c
	var err error
	for range 4 {
		ch := Transition(cur, o, t.p.Clock(), t.p.Policy)
		var written Connection
		written, err = t.p.Store.UpdateConnection(ctx, cur.OrgID, ch.Conn, t.p.Clock().UTC())
		if err == nil {
			t.committed(ctx, cur, ch, written, nil)
			return written, nil
		}
		if !errors.Is(err, directory.ErrConflict) {
			return c, err
		}
		if cur, err = t.p.Store.GetConnection(ctx, c.OrgID, c.ID); err != nil {
			return c, err
		}
	}
	return c, err
}

// committed runs what follows a committed write: the observer on a state change, the
// lost-during-refresh count, and the next task. With wait set, the next task is queued
// in the background and *wait waits for it.
func (t *Tokens) committed(ctx context.Context, before Connection, ch Change, written Connection, wait *func()) {
	ctx = context.WithoutCancel(ctx)
	if ch.LostDuringRefresh && t.p.Metrics != nil {
		t.p.Metrics.LostDuringRefresh(written.Kind.Provider())
	}
	if (ch.StateChanged || before.State != written.State) && t.p.Observer != nil {
		if err := t.p.Observer.ConnectionChanged(ctx, written.OrgID, written.MembershipID); err != nil && t.p.ObserverErrors != nil {
			t.p.ObserverErrors(written.OrgID, written.MembershipID, err)
		}
	}
	next := t.scheduleNext(ctx, written)
	if wait != nil {
		*wait = next
	} else if next != nil {
		next()
	}
}

// scheduleNext queues c's next task, at c.NextRefreshAt, in the background, and returns
// what waits for it (nil: nothing to queue). Queuing a task already queued is a no-op
// (its TaskID). Best effort: a lost enqueue is caught by the sweep, which reads the row.
func (t *Tokens) scheduleNext(ctx context.Context, c Connection) (wait func()) {
	if t.p.Scheduler == nil || c.NextRefreshAt.IsZero() {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	return inBackground(func() {
		_ = t.p.Scheduler.Schedule(ctx, DueOp(DueOf(c), c.NextRefreshAt, t.p.Policy), DueOf(c), c.NextRefreshAt)
	})
}

// inBackground runs fn in a goroutine and returns what waits for it to end.
func inBackground(fn func()) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	return func() { <-done }
}

// superseded returns the tokens a newer refresh stored in the row, ours being dropped:
// the row no longer holds the refresh token we spent.
func (t *Tokens) superseded(row Connection) (attempt, error) {
	access, err := t.p.Keys.OpenToken(row.AccessTokenEnc, row.ID)
	if err != nil {
		return attempt{conn: row}, fmt.Errorf("open access token of connection %s: %w", row.ID, err)
	}
	if access.IsZero() {
		return attempt{conn: row}, fmt.Errorf("connection %s: %w", row.ID, ErrFenced)
	}
	return attempt{conn: row, access: access}, nil
}

// pendingSet is the sealed form of a TokenSet in the pending slot.
type pendingSet struct {
	Access        string    `json:"access"`
	Refresh       string    `json:"refresh"`
	Expiry        time.Time `json:"expiry"`
	Scopes        []string  `json:"scopes,omitempty"`
	MissingScopes []string  `json:"missing_scopes,omitempty"`
	InstanceURL   string    `json:"instance_url,omitempty"`
}

// PendingAAD is the associated data a connection's pending token set is sealed with. It
// differs from the token columns' so a pending blob cannot be passed off as a bare token,
// or the reverse; tether keys reseal opens it with this too.
func PendingAAD(id string) string { return id + "|pending" }

// StashPendingPrefix starts the Stash key of a connection's parked pending set (the
// connection id follows); tether keys reseal walks them.
const StashPendingPrefix = "pending-token:"

func stashKey(id string) string { return StashPendingPrefix + id }

func (t *Tokens) keep(ctx context.Context, c Connection, set TokenSet) error {
	raw, err := json.Marshal(pendingSet{
		Access: set.AccessToken.Reveal(), Refresh: set.RefreshToken.Reveal(),
		Expiry: set.Expiry, Scopes: set.Scopes, MissingScopes: set.MissingScopes, InstanceURL: set.InstanceURL,
	})
	if err != nil {
		return err
	}
	sealed, err := t.p.Keys.Seal(raw, PendingAAD(c.ID))
	if err != nil {
		return err
	}
	dbErr := t.p.Store.SetPendingToken(ctx, c.OrgID, c.ID, sealed, c.RefreshTokenEnc, t.p.Clock().UTC())
	if dbErr == nil || errors.Is(dbErr, directory.ErrConflict) {
		return nil // kept, or obsolete: the row holds a newer refresh token
	}
	if t.p.Stash == nil {
		return fmt.Errorf("keep refreshed tokens of connection %s in the pending slot: %w", c.ID, dbErr)
	}
	if err := t.p.Stash.Put(context.WithoutCancel(ctx), stashKey(c.ID), sealed); err != nil {
		return fmt.Errorf("keep refreshed tokens of connection %s: database: %v; stash: %w", c.ID, dbErr, err)
	}
	return nil
}

// stashRead is the Stash's pending set of a connection as read under its lock.
type stashRead struct {
	done  bool // read with the lock (StashLocker); false: read it now
	value []byte
}

// releaseClears: the Locker's leases delete keys of Tokens' own Stash (StashLease).
func (t *Tokens) releaseClears() bool {
	sl, ok := t.p.Locker.(StashLocker)
	return ok && t.p.Stash != nil && sl.Reads(t.p.Stash)
}

// lock takes the connection's refresh lock; with a StashLocker reading the Stash, the
// stashed pending set comes in the same round trip.
func (t *Tokens) lock(ctx context.Context, id string) (Lease, stashRead, error) {
	if sl, ok := t.p.Locker.(StashLocker); ok && t.p.Stash != nil && sl.Reads(t.p.Stash) {
		lease, v, err := sl.LockAndGet(ctx, "connection:"+id, stashKey(id))
		return lease, stashRead{done: true, value: v}, err
	}
	lease, err := t.p.Locker.Lock(ctx, "connection:"+id)
	return lease, stashRead{}, err
}

// lockAndRead takes the connection's lock and reads its row as it is under the lock. A
// nil lease: the lock was not taken (err says why); a lease and an error: the row could
// not be read.
//
// When the Locker takes the lock in one round trip (a StashLocker reading the Stash), the
// two trips overlap instead of following each other: the lock is taken in a goroutine
// while this one reads (it grows its stack for the database's call chain once, for the
// read and the write), and the read stands when its refresh fence is the fencing token
// of the lease taken just before this one. Every write of tokens under a lease records the lease's fence, and the
// store refuses a fence below the stored one: a row that records the previous lease's
// fence holds what the last holder wrote, and no later holder has written, since every
// later lease is this one. A row that records any other fence may be older than a write
// the previous holder made while the read was under way (or that holder wrote no tokens):
// it is read again. Writers that hold no lease (a reconnect) were never ordered by the
// lock; the compare-and-swap on the version catches them as it always has.
func (t *Tokens) lockAndRead(ctx context.Context, orgID, id string) (Lease, stashRead, Connection, error) {
	read := func() (Connection, error) {
		c, err := t.p.Store.GetConnection(ctx, orgID, id)
		if err != nil {
			return c, fmt.Errorf("load connection %s of org %s: %w", id, orgID, err)
		}
		return c, nil
	}
	if !t.releaseClears() {
		lease, stashed, err := t.lock(ctx, id)
		if err != nil {
			return nil, stashRead{}, Connection{}, fmt.Errorf("lock connection %s for refresh: %w", id, err)
		}
		c, err := read()
		return lease, stashed, c, err
	}
	type locked struct {
		lease   Lease
		stashed stashRead
		err     error
	}
	done := make(chan locked, 1)
	go func() {
		lease, stashed, err := t.lock(ctx, id)
		done <- locked{lease, stashed, err}
	}()
	c, rerr := read()
	l := <-done
	if l.err != nil {
		return nil, stashRead{}, Connection{}, fmt.Errorf("lock connection %s for refresh: %w", id, l.err)
	}
	if pl, ok := l.lease.(PrecededLease); ok && rerr == nil && c.RefreshFence == pl.Preceded() {
		return l.lease, l.stashed, c, nil
	}
	c, err := read()
	return l.lease, l.stashed, c, err
}

// pending returns a token set a failed write left behind, from the row's pending slot or
// the stash (read with the lock when stashed.done).
func (t *Tokens) pending(ctx context.Context, c Connection, stashed stashRead) (TokenSet, bool, error) {
	sealed := c.PendingTokenEnc
	if len(sealed) == 0 && t.p.Stash != nil {
		if stashed.done {
			sealed = stashed.value
		} else {
			var err error
			if sealed, err = t.p.Stash.Get(ctx, stashKey(c.ID)); err != nil {
				return TokenSet{}, false, fmt.Errorf("read stashed tokens of connection %s: %w", c.ID, err)
			}
		}
	}
	if len(sealed) == 0 {
		return TokenSet{}, false, nil
	}
	raw, err := t.p.Keys.Open(sealed, PendingAAD(c.ID))
	if err != nil {
		return TokenSet{}, false, fmt.Errorf("open pending tokens of connection %s: %w", c.ID, err)
	}
	var p pendingSet
	if err := json.Unmarshal(raw, &p); err != nil {
		return TokenSet{}, false, fmt.Errorf("decode pending tokens of connection %s: %w", c.ID, err)
	}
	return TokenSet{
		AccessToken: vault.NewToken(p.Access), RefreshToken: vault.NewToken(p.Refresh),
		Expiry: p.Expiry, Scopes: p.Scopes, MissingScopes: p.MissingScopes, InstanceURL: p.InstanceURL,
	}, true, nil
}

// FailureOf returns err as a *Failure: the one in its chain, or one built from the older
// sentinels and what the error says of itself (code, sub-code, Retry-After, a lost
// answer), so connectors not yet returning *Failure are understood the same way.
func FailureOf(err error, provider, op string) *Failure {
	if f, ok := AsFailure(err); ok {
		return f
	}
	f := &Failure{Class: FailTransient, Provider: provider, Op: op, Err: err,
		Detail: truncate(err.Error(), 500)}
	switch {
	case errors.Is(err, ErrNeedsReconnect):
		f.Class = FailNeedsReconnect
	case errors.Is(err, ErrMisconfigured):
		f.Class = FailMisconfigured
	case errors.Is(err, ErrOrgBlocked):
		f.Class = FailNeedsAdmin
	}
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		f.Code = coded.ErrorCode()
	}
	var sub interface{ ErrorSubCode() string }
	if errors.As(err, &sub) {
		f.SubCode = sub.ErrorSubCode()
	}
	var ra interface{ RetryAfterDelay() time.Duration }
	if errors.As(err, &ra) {
		f.RetryAfter = ra.RetryAfterDelay()
	}
	var st interface{ HTTPStatus() int }
	if errors.As(err, &st) {
		f.Status = st.HTTPStatus()
	}
	var cl interface{ FailureClass() FailureClass }
	if errors.As(err, &cl) && f.Class == FailTransient {
		if c := cl.FailureClass(); c != "" {
			f.Class = c
		}
	}
	var lost interface{ UnknownOutcome() bool }
	if errors.As(err, &lost) && lost.UnknownOutcome() {
		f.OutcomeUnknown = true
	}
	var confirm interface{ IntermittentAnswer() bool }
	if errors.As(err, &confirm) && confirm.IntermittentAnswer() {
		f.Intermittent = true
	}
	if f.Code == "" && f.Class == FailTransient && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		f.Code = "timeout"
	}
	return f
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
