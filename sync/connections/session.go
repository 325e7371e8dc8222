package connections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"tether/sync/directory"
	"tether/sync/vault"
)

// SessionIntrospector learns a Salesforce org's session timeout from an access token
// it issued: introspection's exp − iat (Salesforce token answers carry no expires_in).
type SessionIntrospector interface {
	SessionTimeout(ctx context.Context, instanceURL string, access vault.Token) (time.Duration, error)
}

// SessionStore is where an org's learned Salesforce session timeout lives (the store).
type SessionStore interface {
	GetOrg(ctx context.Context, orgID string) (directory.Org, error)
	// ClaimSalesforceSessionCheck records an attempt at at, only when the last one is at
	// least every old; true when this caller won.
	ClaimSalesforceSessionCheck(ctx context.Context, orgID string, at time.Time, every time.Duration) (bool, error)
	SetSalesforceSession(ctx context.Context, orgID string, timeout time.Duration, learnedAt time.Time) error
}

// SessionLearnerParams are a SessionLearner's dependencies; Store and Introspector are
// required.
type SessionLearnerParams struct {
	Store        SessionStore
	Introspector SessionIntrospector
	// Clock defaults to time.Now; it is the Tokens' clock in tests.
	Clock func() time.Time
	// Every is how often an org is introspected again after a success or a failure (24 h).
	Every time.Duration
	// CacheFor is how long Known trusts what it read of an org (1 min): a Salesforce
	// refresh would otherwise read the org row every time.
	CacheFor time.Duration
	// Errors hears of each failed attempt (once per attempt, and attempts are at most
	// one per Every per org, so a log line here is not repeated per refresh). Optional.
	Errors func(orgID string, err error)
}

// SessionLearner keeps each org's Salesforce session timeout: it introspects a fresh access
// token when a Salesforce connection is connected, and after a refresh at most once per
// Every per org across all workers (a claim in the store); a failure keeps the value
// known before (or the configured default) and never fails the refresh or the connect.
// Safe for concurrent use.
type SessionLearner struct {
	p     SessionLearnerParams
	mu    sync.Mutex
	cache map[string]sessionCached
}

type sessionCached struct {
	s    directory.SalesforceSession
	read time.Time
}

// NewSessionLearner checks p and returns a SessionLearner.
func NewSessionLearner(p SessionLearnerParams) (*SessionLearner, error) {
	if p.Store == nil || p.Introspector == nil {
		return nil, errors.New("connections: SessionLearner needs Store and Introspector")
	}
	if p.Clock == nil {
		p.Clock = time.Now
	}
	if p.Every <= 0 {
		p.Every = 24 * time.Hour
	}
	if p.CacheFor <= 0 {
		p.CacheFor = time.Minute
	}
	return &SessionLearner{p: p, cache: map[string]sessionCached{}}, nil
}

// Known returns the org's learned session timeout, 0 when none is known (or the org cannot
// be read: the default then applies, the refresh goes on). Fits TokensParams.SessionTimeout.
func (l *SessionLearner) Known(ctx context.Context, c Connection) time.Duration {
	s, err := l.session(ctx, c.OrgID)
	if err != nil {
		return 0
	}
	return s.Timeout
}

func (l *SessionLearner) session(ctx context.Context, orgID string) (directory.SalesforceSession, error) {
	now := l.p.Clock()
	l.mu.Lock()
	e, ok := l.cache[orgID]
	l.mu.Unlock()
	if ok && now.Sub(e.read) < l.p.CacheFor && !now.Before(e.read) {
		return e.s, nil
	}
	o, err := l.p.Store.GetOrg(ctx, orgID)
	if err != nil {
		return directory.SalesforceSession{}, err
	}
	l.remember(orgID, o.SalesforceSession, now)
	return o.SalesforceSession, nil
}

func (l *SessionLearner) remember(orgID string, s directory.SalesforceSession, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.cache) >= 10000 {
		clear(l.cache) // bounded: a cold read costs one indexed row
	}
	l.cache[orgID] = sessionCached{s: s, read: now}
}

// Learn introspects access, a token just issued for c, when the org's last attempt is at
// least Every old (force: always, for a fresh connect), and stores what it learned. It
// returns the timeout learned and true, or 0 and false when it did not learn one (not due,
// another worker's turn, or a failure, which is reported to Errors). Fits
// TokensParams.LearnSession.
func (l *SessionLearner) Learn(ctx context.Context, c Connection, access vault.Token, force bool) (time.Duration, bool) {
	if (c.Kind != KindSalesforce && c.Kind != KindSalesforceTeam) || access.IsZero() {
		return 0, false
	}
	now := l.p.Clock().UTC()
	every := l.p.Every
	if force {
		every = 0
	} else if s, err := l.session(ctx, c.OrgID); err == nil && !s.CheckedAt.IsZero() && now.Sub(s.CheckedAt) < every {
		// Not due by what this process knows (the row read Known cached): no claim, so
		// a Salesforce refresh does not write the org row's claim every time.
		return 0, false
	}
	won, err := l.p.Store.ClaimSalesforceSessionCheck(ctx, c.OrgID, now, every)
	if err != nil {
		l.report(c.OrgID, fmt.Errorf("claim the session timeout check: %w", err))
		return 0, false
	}
	if !won {
		return 0, false
	}
	d, err := l.p.Introspector.SessionTimeout(ctx, cmp.Or(c.InstanceURL, c.LoginURL), access)
	if err == nil && (d < time.Minute || d > 48*time.Hour) {
		err = fmt.Errorf("introspection gave a session of %s, not a Salesforce session timeout (15m to 24h)", d)
	}
	if err != nil {
		l.report(c.OrgID, fmt.Errorf("learn the Salesforce session timeout from a fresh %s token (the known value or the configured default is kept; tried again in %s): %w", c.Kind, l.p.Every, err))
		return 0, false
	}
	d = d.Round(time.Second)
	if err := l.p.Store.SetSalesforceSession(ctx, c.OrgID, d, now); err != nil {
		l.report(c.OrgID, fmt.Errorf("store the Salesforce session timeout %s: %w", d, err))
		return 0, false
	}
	l.remember(c.OrgID, directory.SalesforceSession{Timeout: d, LearnedAt: now, CheckedAt: now}, now)
	return d, true
}

// Connected is the session timeout for a connection just connected with access: learned
// from it now, else what was known (0: the default).
func (l *SessionLearner) Connected(ctx context.Context, c Connection, access vault.Token) time.Duration {
	if c.Kind != KindSalesforce && c.Kind != KindSalesforceTeam {
		return 0
	}
	if d, ok := l.Learn(ctx, c, access, true); ok {
		return d
	}
	return l.Known(ctx, c)
}

func (l *SessionLearner) report(orgID string, err error) {
	if l.p.Errors != nil {
		l.p.Errors(orgID, err)
	}
}
