package connections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
}

// RefreshRequest is what a Refresher needs to call the token endpoint.
type RefreshRequest struct {
	Kind         Kind
	RefreshToken vault.Token
	LoginURL     string
	InstanceURL  string
}

// Refresher calls a provider's token endpoint.
type Refresher interface {
	Refresh(ctx context.Context, req RefreshRequest) (TokenSet, error)
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

// Stash keeps a sealed token set outside the database, for when the database
// write itself fails. Optional.
type Stash interface {
	Put(ctx context.Context, key string, sealed []byte) error
	Get(ctx context.Context, key string) ([]byte, error) // nil, nil when empty
	Delete(ctx context.Context, key string) error
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
	if err := usable(c); err != nil {
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
	if err := usable(c); err != nil {
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

func usable(c Connection) error {
	switch c.State {
	case StateNeedsReconnect, StateRevoked, StateMissing:
		reason := c.LastErrorCode
		if reason == "" {
			reason = string(c.State)
		}
		return fmt.Errorf("connection %s (%s): %w", c.ID, reason, ErrNeedsReconnect)
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
	c, access, err := s.t.refresh(ctx, s.conn, s.access)
	if err != nil {
		return "", err
	}
	s.conn, s.access = c, access
	s.describe(c)
	return access.Reveal(), nil
}

func (t *Tokens) expired(c Connection) bool {
	return !c.ExpiresAt.IsZero() && !t.p.Clock().Add(t.p.ExpirySkew).Before(c.ExpiresAt)
}

// refresh runs under the connection's lock. seen is the row and token the
// caller last had: if the row moved on since, another worker refreshed and
// its token is used as is.
func (t *Tokens) refresh(ctx context.Context, seen Connection, seenAccess vault.Token) (Connection, vault.Token, error) {
	lease, err := t.p.Locker.Lock(ctx, "connection:"+seen.ID)
	if err != nil {
		return seen, vault.Token{}, fmt.Errorf("lock connection %s for refresh: %w", seen.ID, err)
	}
	defer lease.Unlock()

	c, err := t.p.Store.GetConnection(ctx, seen.OrgID, seen.ID)
	if err != nil {
		return seen, vault.Token{}, fmt.Errorf("reload connection %s: %w", seen.ID, err)
	}
	if err := usable(c); err != nil {
		return c, vault.Token{}, err
	}
	if set, ok, err := t.pending(ctx, c); err != nil {
		return c, vault.Token{}, err
	} else if ok {
		return t.persist(ctx, lease, c, set)
	}
	access, err := t.p.Keys.OpenToken(c.AccessTokenEnc, c.ID)
	if err != nil {
		return c, vault.Token{}, fmt.Errorf("open access token of connection %s: %w", c.ID, err)
	}
	if c.Version != seen.Version && !access.IsZero() && !access.Equal(seenAccess) && !t.expired(c) {
		return c, access, nil
	}

	refresh, err := t.p.Keys.OpenToken(c.RefreshTokenEnc, c.ID)
	if err != nil {
		return c, vault.Token{}, fmt.Errorf("open refresh token of connection %s: %w", c.ID, err)
	}
	if refresh.IsZero() {
		t.recordFailure(ctx, c, fmt.Errorf("no refresh token stored: %w", ErrNeedsReconnect))
		return c, vault.Token{}, fmt.Errorf("connection %s has no refresh token: %w", c.ID, ErrNeedsReconnect)
	}
	set, err := t.p.Refresher.Refresh(ctx, RefreshRequest{
		Kind: c.Kind, RefreshToken: refresh, LoginURL: c.LoginURL, InstanceURL: c.InstanceURL,
	})
	if err != nil {
		// A holder whose lease lapsed spent a token a newer holder may have
		// replaced already: its failure says nothing of the row, so it is not
		// recorded and the caller retries.
		if herr := lease.Held(context.WithoutCancel(ctx)); herr != nil {
			return c, vault.Token{}, fmt.Errorf("refresh connection %s: %w (%v); the provider said: %v", c.ID, ErrFenced, herr, err)
		}
		t.recordFailure(ctx, c, err)
		return c, vault.Token{}, fmt.Errorf("refresh connection %s: %w", c.ID, err)
	}
	if set.RefreshToken.IsZero() {
		set.RefreshToken = refresh
	}
	return t.persist(ctx, lease, c, set)
}

// persist writes set, obtained by spending c's refresh token, into the row.
//
// The write is fenced (invariant 2). It carries the lease's fencing token and
// is made only while the lease is held; the store refuses it when the row
// records a newer token. When the compare-and-swap loses, the row is re-read:
// if it still holds the refresh token we spent, a state-only writer moved it
// and our set is written over it; if it holds other tokens, a newer refresh
// (or a reconnect) wrote them and they are used as they are.
//
// When the write keeps failing, or the lease lapsed, the set is sealed into
// the pending slot (or the stash) and an error returned, so the task fails
// and its retry picks the set up instead of spending the old, possibly
// rotated-out, refresh token; but only while the row still holds the token we
// spent, since otherwise the set is older than what the row holds.
func (t *Tokens) persist(ctx context.Context, lease Lease, c Connection, set TokenSet) (Connection, vault.Token, error) {
	now := t.p.Clock().UTC()
	cur := c
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = lease.Held(ctx); err != nil {
			err = fmt.Errorf("%w: %w", ErrFenced, err)
			break
		}
		var next, written Connection
		if next, err = t.apply(cur, set, lease.Fence(), now); err != nil {
			return c, vault.Token{}, err
		}
		written, err = t.p.Store.UpdateConnection(ctx, c.OrgID, next, now)
		if err == nil {
			if t.p.Stash != nil {
				_ = t.p.Stash.Delete(ctx, stashKey(c.ID))
			}
			return written, set.AccessToken, nil
		}
		if errors.Is(err, directory.ErrConflict) {
			moved, gerr := t.p.Store.GetConnection(ctx, c.OrgID, c.ID)
			if gerr == nil {
				if uerr := usable(moved); uerr != nil {
					return moved, vault.Token{}, uerr
				}
				if !bytes.Equal(moved.RefreshTokenEnc, c.RefreshTokenEnc) || moved.RefreshFence > lease.Fence() {
					return t.superseded(moved)
				}
				cur = moved
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	keepErr := t.keep(ctx, c, set)
	return c, vault.Token{}, errors.Join(fmt.Errorf("store refreshed tokens of connection %s: %w", c.ID, err), keepErr)
}

// apply returns base with set sealed into it and marked healthy under fence.
func (t *Tokens) apply(base Connection, set TokenSet, fence int64, now time.Time) (Connection, error) {
	next := base
	var err error
	if next.AccessTokenEnc, err = t.p.Keys.SealToken(set.AccessToken, base.ID); err != nil {
		return base, fmt.Errorf("seal access token of connection %s: %w", base.ID, err)
	}
	if next.RefreshTokenEnc, err = t.p.Keys.SealToken(set.RefreshToken, base.ID); err != nil {
		return base, fmt.Errorf("seal refresh token of connection %s: %w", base.ID, err)
	}
	next.PendingTokenEnc = nil
	next.ExpiresAt = set.Expiry
	if len(set.Scopes) > 0 {
		next.Scopes = set.Scopes
	}
	if set.InstanceURL != "" {
		next.InstanceURL = set.InstanceURL // Salesforce may move an org
	}
	next.State = StateHealthy
	next.ConsecutiveFailures = 0
	next.LastErrorCode, next.LastErrorDescription = "", ""
	next.LastRefreshedAt = now
	next.RefreshFence = fence
	return next, nil
}

// superseded returns the tokens a newer refresh stored in the row, ours being
// dropped: the row no longer holds the refresh token we spent.
func (t *Tokens) superseded(row Connection) (Connection, vault.Token, error) {
	access, err := t.p.Keys.OpenToken(row.AccessTokenEnc, row.ID)
	if err != nil {
		return row, vault.Token{}, fmt.Errorf("open access token of connection %s: %w", row.ID, err)
	}
	if access.IsZero() {
		return row, vault.Token{}, fmt.Errorf("connection %s: %w", row.ID, ErrFenced)
	}
	return row, access, nil
}

// pendingSet is the sealed form of a TokenSet in the pending slot.
type pendingSet struct {
	Access      string    `json:"access"`
	Refresh     string    `json:"refresh"`
	Expiry      time.Time `json:"expiry"`
	Scopes      []string  `json:"scopes,omitempty"`
	InstanceURL string    `json:"instance_url,omitempty"`
}

// pendingAAD differs from the token columns' so a pending blob cannot be
// passed off as a bare token, or the reverse.
func pendingAAD(id string) string { return id + "|pending" }

func stashKey(id string) string { return "pending-token:" + id }

func (t *Tokens) keep(ctx context.Context, c Connection, set TokenSet) error {
	raw, err := json.Marshal(pendingSet{
		Access: set.AccessToken.Reveal(), Refresh: set.RefreshToken.Reveal(),
		Expiry: set.Expiry, Scopes: set.Scopes, InstanceURL: set.InstanceURL,
	})
	if err != nil {
		return err
	}
	sealed, err := t.p.Keys.Seal(raw, pendingAAD(c.ID))
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

// pending returns a token set a failed write left behind, from the row's
// pending slot or the stash.
func (t *Tokens) pending(ctx context.Context, c Connection) (TokenSet, bool, error) {
	sealed := c.PendingTokenEnc
	if len(sealed) == 0 && t.p.Stash != nil {
		var err error
		if sealed, err = t.p.Stash.Get(ctx, stashKey(c.ID)); err != nil {
			return TokenSet{}, false, fmt.Errorf("read stashed tokens of connection %s: %w", c.ID, err)
		}
	}
	if len(sealed) == 0 {
		return TokenSet{}, false, nil
	}
	raw, err := t.p.Keys.Open(sealed, pendingAAD(c.ID))
	if err != nil {
		return TokenSet{}, false, fmt.Errorf("open pending tokens of connection %s: %w", c.ID, err)
	}
	var p pendingSet
	if err := json.Unmarshal(raw, &p); err != nil {
		return TokenSet{}, false, fmt.Errorf("decode pending tokens of connection %s: %w", c.ID, err)
	}
	return TokenSet{
		AccessToken: vault.NewToken(p.Access), RefreshToken: vault.NewToken(p.Refresh),
		Expiry: p.Expiry, Scopes: p.Scopes, InstanceURL: p.InstanceURL,
	}, true, nil
}

// recordFailure notes a failed refresh on the row, best effort: the caller's
// error is what matters, and a lost write here is redone by the next attempt.
func (t *Tokens) recordFailure(ctx context.Context, c Connection, cause error) {
	next := c
	next.ConsecutiveFailures++
	next.LastErrorCode, next.LastErrorDescription = failureCode(cause), truncate(cause.Error(), 500)
	switch {
	case errors.Is(cause, ErrNeedsReconnect):
		next.State = StateNeedsReconnect
	case errors.Is(cause, ErrMisconfigured), errors.Is(cause, ErrOrgBlocked):
		next.State = StateError
	default:
		next.State = StateDegraded
	}
	_, _ = t.p.Store.UpdateConnection(context.WithoutCancel(ctx), c.OrgID, next, t.p.Clock().UTC())
}

func failureCode(err error) string {
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) && coded.ErrorCode() != "" {
		return coded.ErrorCode()
	}
	switch {
	case errors.Is(err, ErrNeedsReconnect):
		return "needs_reconnect"
	case errors.Is(err, ErrMisconfigured):
		return "misconfigured"
	case errors.Is(err, ErrOrgBlocked):
		return "org_blocked"
	}
	return "transient"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
