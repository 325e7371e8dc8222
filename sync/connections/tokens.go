package connections

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"tether/sync/directory"
	"tether/sync/vault"
)

// Outcomes of getting or refreshing a token. A Refresher wraps ErrNeedsReconnect
// when the grant is dead (invalid_grant, revoked, scope lost) and ErrMisconfigured
// when tether's own OAuth client is at fault; any other error is transient.
var (
	ErrNoTeamConnection = errors.New("org has no team-level Salesforce connection")
	ErrNeedsReconnect   = errors.New("connection needs reconnecting")
	ErrMisconfigured    = errors.New("tether's OAuth client is misconfigured")
	// ErrOrgBlocked: the customer's org refuses the grant (IP restrictions,
	// inactive org); its admin must act, reconnecting alone will not help.
	ErrOrgBlocked = errors.New("the provider organisation blocks this connection")
	// ErrFenced: this refresh's lock lease lapsed, or a newer holder refreshed
	// first, so its result was not written over the row. Retry: the next
	// attempt reads what the newer refresh stored (or the pending slot).
	ErrFenced = errors.New("refresh fenced off by a newer lock holder")
)

// TokenSet is what a provider's token endpoint returned. An empty RefreshToken
// means the provider kept the old one (Google, Salesforce without rotation).
type TokenSet struct {
	AccessToken  vault.Token
	RefreshToken vault.Token
	// Expiry is zero when the provider does not say (Salesforce).
	Expiry      time.Time
	Scopes      []string
	InstanceURL string
	// MissingScopes are scopes tether needs that the answer's scope list lacks; the set
	// is stored all the same (it may hold a rotated token) and the connection turns
	// needs_reconnect naming them.
	MissingScopes []string
}

// RefreshRequest is what a Refresher needs to call the token endpoint.
type RefreshRequest struct {
	Kind         Kind
	RefreshToken vault.Token
	LoginURL     string
	InstanceURL  string
}

// Refresher calls a provider's token endpoint. Errors are *Failure (possibly wrapped) or
// wrap the older sentinels (ErrNeedsReconnect, ErrMisconfigured, ErrOrgBlocked).
type Refresher interface {
	Refresh(ctx context.Context, req RefreshRequest) (TokenSet, error)
}

// RotationRules is implemented by a Refresher that knows each provider's rotation rule.
type RotationRules interface {
	// KillsOldToken reports whether the provider serving kind retires the old refresh
	// token as soon as it issues a new one (a lost answer may then consume the grant).
	KillsOldToken(kind Kind) bool
}

// Scheduler queues upkeep work for a connection at a time (zero: now). Queuing what is
// already queued for the same connection, op and time is not an error.
type Scheduler interface {
	Schedule(ctx context.Context, op string, d Due, at time.Time) error
}

// TokenStore is the persistence Tokens needs. UpdateConnection is a
// compare-and-swap on c.Version that also refuses a c.RefreshFence below the
// stored one: it returns directory.ErrConflict in both cases, and the row as
// written otherwise.
type TokenStore interface {
	GetTeamConnection(ctx context.Context, orgID string) (Connection, error)
	GetConnection(ctx context.Context, orgID, id string) (Connection, error)
	UpdateConnection(ctx context.Context, orgID string, c Connection, at time.Time) (Connection, error)
	// SetPendingToken writes the pending slot without a version check, but
	// only while the row's refresh token column still holds spent (else
	// directory.ErrConflict): it is the fallback when the full write keeps
	// failing or is fenced off.
	SetPendingToken(ctx context.Context, orgID, id string, sealed, spent []byte, at time.Time) error
}

// Locker serialises refreshes of one connection across every worker.
type Locker interface {
	// Lock waits for the lock named key. The lease must outlive the provider
	// call (two token-endpoint timeouts) or be renewed while it is held.
	Lock(ctx context.Context, key string) (Lease, error)
}

// StashLocker is a Locker that reads a Stash key in the round trip that takes the
// lock, as the key is once the lock is held (redislock with its Stash set). Tokens uses
// it only for the Stash it Reads, so the pending set a failed write left is never
// missed.
type StashLocker interface {
	Locker
	Reads(s Stash) bool
	// LockAndGet is Lock, then the Stash's value under stashKey (nil when none).
	LockAndGet(ctx context.Context, key, stashKey string) (Lease, []byte, error)
}

// Lease is a held lock.
type Lease interface {
	// Fence is the lease's fencing token, higher than that of every earlier
	// lease of the same key; it is stored on the row with the tokens.
	Fence() int64
	// Held returns nil while the lease is still this holder's.
	Held(ctx context.Context) error
	// Unlock releases the lock. Safe to call more than once.
	Unlock()
}

// PrecededLease is a Lease that also knows the fencing token of the lease taken just
// before it on the same key, 0 when none is known (redislock's). Tokens keeps a row read
// while the lock was being taken when the row records that token (see Tokens.lockAndRead).
type PrecededLease interface {
	Lease
	Preceded() int64
}

// StashLease is a Lease (of a StashLocker reading Tokens' Stash) that deletes Stash keys
// in the round trip releasing it, before the release, so they are gone before the next
// holder can take the lock (redislock on a single Redis).
type StashLease interface {
	Lease
	// DeleteOnUnlock has Unlock delete keys of the Stash first; best effort, as Unlock.
	DeleteOnUnlock(keys ...string)
}

// Stash keeps a sealed token set outside the database, for when the database
// write itself fails. Optional.
type Stash interface {
	Put(ctx context.Context, key string, sealed []byte) error
	Get(ctx context.Context, key string) ([]byte, error) // nil, nil when empty
	Delete(ctx context.Context, key string) error
}

// StashBatch is a Stash that does in one round trip what would take two (redisstash);
// Tokens uses it when the Stash has it.
type StashBatch interface {
	// Swap stores value under key and returns what was there (nil when nothing).
	Swap(ctx context.Context, key string, value []byte) ([]byte, error)
	// DeleteAll removes keys.
	DeleteAll(ctx context.Context, keys ...string) error
}

// TokensParams are Tokens' dependencies. Store, Keys, Refresher and Locker are
// required.
type TokensParams struct {
	Store     TokenStore
	Keys      *vault.Keyring
	Refresher Refresher
	Locker    Locker
	Stash     Stash
	// Clock defaults to time.Now.
	Clock func() time.Time
	// ExpirySkew is how long before its expiry a token counts as expired.
	// Zero means 2 minutes.
	ExpirySkew time.Duration
	// Policy holds the health machine's timings; zero fields take DefaultPolicy's.
	Policy Policy
	// Observer hears about committed state changes; Metrics about outcomes; Scheduler
	// queues each connection's next refresh or retry after a commit. All optional.
	Observer  Observer
	Metrics   Metrics
	Scheduler Scheduler
	// SessionTimeout returns a Salesforce connection's org session timeout when known
	// (0: Policy.SalesforceSession). Optional.
	SessionTimeout func(ctx context.Context, c Connection) time.Duration
	// LearnSession, after a committed Salesforce refresh, learns the org's session timeout
	// from the new access token when it is due (SessionLearner.Learn: at most once a day
	// per org); when it differs from the one the refresh was scheduled by, the connection
	// is rescheduled. It never fails the refresh. Optional.
	LearnSession func(ctx context.Context, c Connection, access vault.Token, force bool) (time.Duration, bool)
	// Rand draws jitter in [0, 1); defaults to math/rand/v2.
	Rand func() float64
	// ObserverErrors receives what Observer returned, for logs. Optional.
	ObserverErrors func(orgID, membershipID string, err error)
}

// Tokens hands out access tokens for stored connections and refreshes them,
// one refresh per connection at a time across all workers: under a lock the
// row is re-read (someone else may have refreshed already), the provider is
// called, and the new set is written with a compare-and-swap before the new
// token is used. The write is fenced: a holder whose lease lapsed during the
// provider call, or whose fencing token is below the row's, does not write
// over a newer refresh (see persist). A set that cannot be written is kept sealed in the row's
// pending slot (or the Stash) and the next attempt uses it instead of calling
// the provider again: with rotating providers the old refresh token is dead by
// then (ARCHITECTURE.md, invariants 1 and 2).
type Tokens struct {
	p TokensParams
}

// NewTokens checks p and returns a Tokens. Safe for concurrent use.
func NewTokens(p TokensParams) (*Tokens, error) {
	if p.Store == nil || p.Keys == nil || p.Refresher == nil || p.Locker == nil {
		return nil, errors.New("connections: Tokens needs Store, Keys, Refresher and Locker")
	}
	if p.Clock == nil {
		p.Clock = time.Now
	}
	if p.ExpirySkew == 0 {
		p.ExpirySkew = 2 * time.Minute
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	p.Policy = p.Policy.withDefaults()
	return &Tokens{p: p}, nil
}

// TeamSession is an org's team-level Salesforce connection, ready for one task.
type TeamSession = Session

// Session is one stored connection, ready for one task. Token and Refresh fit
// the Salesforce client's token hooks. Safe for concurrent use within the
// task.
type Session struct {
	OrgID        string
	ConnectionID string
	InstanceURL  string
	// UserID is the Salesforce user the team connection runs as.
	UserID string
	// SFOrgID is the Salesforce org id (00D…).
	SFOrgID string

	t      *Tokens
	mu     sync.Mutex
	conn   Connection
	access vault.Token
}

// Team returns the org's team session. Returns ErrNoTeamConnection if the org
// has none and ErrNeedsReconnect if it is broken beyond a refresh.
func (t *Tokens) Team(ctx context.Context, orgID string) (*TeamSession, error) {
	c, err := t.p.Store.GetTeamConnection(ctx, orgID)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, fmt.Errorf("org %s: %w", orgID, ErrNoTeamConnection)
	}
	if err != nil {
		return nil, fmt.Errorf("load team connection of org %s: %w", orgID, err)
	}
	if err := usable(c, false); err != nil {
		return nil, err
	}
	access, err := t.p.Keys.OpenToken(c.AccessTokenEnc, c.ID)
	if err != nil {
		return nil, fmt.Errorf("open access token of connection %s: %w", c.ID, err)
	}
	s := &TeamSession{OrgID: orgID, ConnectionID: c.ID, t: t, conn: c, access: access}
	s.describe(c)
	return s, nil
}

// Session returns a session of the org's connection id, of any kind; the
// Salesforce fields stay empty for other kinds. Returns the store's not-found
// error if the org has no such connection and ErrNeedsReconnect if it is
// broken beyond a refresh.
func (t *Tokens) Session(ctx context.Context, orgID, id string) (*Session, error) {
	c, err := t.p.Store.GetConnection(ctx, orgID, id)
	if err != nil {
		return nil, fmt.Errorf("load connection %s of org %s: %w", id, orgID, err)
	}
	if err := usable(c, false); err != nil {
		return nil, err
	}
	access, err := t.p.Keys.OpenToken(c.AccessTokenEnc, c.ID)
	if err != nil {
		return nil, fmt.Errorf("open access token of connection %s: %w", c.ID, err)
	}
	s := &Session{OrgID: orgID, ConnectionID: c.ID, t: t, conn: c, access: access}
	s.describe(c)
	return s, nil
}

// usable refuses a connection no refresh can mend: the rep must reconnect. One waiting
// for its admin is refused too, except to upkeep's probe (a few calls a day notice when
// the admin has fixed it).
func usable(c Connection, probe bool) error {
	reason := c.LastErrorCode
	if reason == "" {
		reason = string(c.State)
	}
	switch {
	case c.State.AwaitsReconnect():
		return fmt.Errorf("connection %s (%s): %w", c.ID, reason, ErrNeedsReconnect)
	case c.State == StateNeedsAdmin:
		if !probe {
			why := ErrOrgBlocked
			if c.FailureClass == FailMisconfigured {
				why = ErrMisconfigured
			}
			return fmt.Errorf("connection %s (%s: %s): %w", c.ID, reason, c.FailureReason, why)
		}
	}
	return nil
}

func (s *TeamSession) describe(c Connection) {
	s.InstanceURL = c.InstanceURL
	s.UserID = c.ProviderAccountID
	s.SFOrgID = c.ProviderOrgID
}

// Token returns the current access token, refreshing first when the stored
// one is missing, expired or a rotated set is waiting in the pending slot.
func (s *TeamSession) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	access, c := s.access, s.conn
	s.mu.Unlock()
	if access.IsZero() || len(c.PendingTokenEnc) > 0 || s.t.expired(c) {
		return s.Refresh(ctx)
	}
	return access.Reveal(), nil
}

// Refresh gets a new access token: the one another worker just stored if
// there is one, a waiting pending set, or the provider's. Call it once after a
// 401; it returns ErrNeedsReconnect when the grant is dead.
func (s *TeamSession) Refresh(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.t.refresh(ctx, s.conn, s.access, refreshMode{})
	if err == nil && a.failure != nil {
		err = fmt.Errorf("refresh connection %s: %w", s.ConnectionID, a.failure)
	}
	if err != nil {
		return "", err
	}
	c, access := a.conn, a.access
	s.conn, s.access = c, access
	s.describe(c)
	return access.Reveal(), nil
}
