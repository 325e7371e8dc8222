package connections

import (
	"fmt"
	"strings"
	"time"
)

// Cause refines a failure class where the words for the person who acts differ.
type Cause string

// Causes.
const (
	CauseNone Cause = ""
	// CauseOutcomeUnknown: a refresh went out and its answer was lost. The next attempt
	// decides: it works, or (for a provider whose old refresh token dies on rotation)
	// proves the grant consumed.
	CauseOutcomeUnknown Cause = "outcome_unknown"
	// CauseLostDuringRefresh: the grant was consumed by a refresh whose answer tether
	// never received; not a revoke by the user.
	CauseLostDuringRefresh Cause = "lost_during_refresh"
	// CauseAwaitingConfirmation: the provider documents the answer as possibly
	// intermittent; one confirming attempt follows before the connection is condemned.
	CauseAwaitingConfirmation Cause = "awaiting_confirmation"
	// CauseScopesMissing: the grant lost scopes tether needs (named in FailureReason).
	CauseScopesMissing Cause = "scopes_missing"
)

// Ops the health machine hears about.
const (
	OpRefresh = "refresh"
	OpVerify  = "verify"
)

// Outcome is what one provider call (a refresh or a verification) came to.
type Outcome struct {
	Op string // OpRefresh or OpVerify
	// Failure is nil on success.
	Failure *Failure
	// Expiry is the new access token's expiry after a successful refresh; zero when the
	// provider does not say (Salesforce).
	Expiry time.Time
	// SessionTimeout is the Salesforce org's session timeout when known; 0 means
	// Policy.SalesforceSession.
	SessionTimeout time.Duration
	// MissingScopes are scopes tether needs that a successful call showed missing.
	MissingScopes []string
	// KillsOldToken: the provider's old refresh token dies when it rotates (Zoom,
	// Salesforce with rotation), so a lost answer may have consumed the grant.
	KillsOldToken bool
	// Jitter in [0, 1) spreads schedules and backoffs; the caller draws it so the
	// transition stays a pure function.
	Jitter float64
}

// Policy holds the health machine's timings. Zero fields take the defaults of
// DefaultPolicy.
type Policy struct {
	// RefreshWindow: refresh this long before the access token expires (10 min).
	RefreshWindow time.Duration
	// RefreshJitter: a refresh is moved earlier by up to this much, so tokens issued
	// together do not refresh together (2 min).
	RefreshJitter time.Duration
	// SalesforceSession is assumed for a Salesforce token whose org session timeout is
	// not known (2 h): Salesforce answers carry no expires_in.
	SalesforceSession time.Duration
	// VerifyEvery: how often a connection is verified (24 h).
	VerifyEvery time.Duration
	// KeepAlive: the longest a connection of the kind may go without a refresh, for
	// providers whose refresh tokens die of inactivity (Microsoft, Zoom: 90 days idle;
	// Google: 6 months unused). Missing kinds have no bound.
	KeepAlive map[Kind]time.Duration
	// BackoffBase and BackoffMax bound the retry delay of transient failures (1 min,
	// doubling, to 4 h).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// ProbeEvery: how often a connection in error or waiting for an admin is tried again
	// (6 h): at most 4 provider calls a day for a connection that stays broken.
	ProbeEvery time.Duration
	// StreakFailures and StreakDuration: this many failures in a row over at least this
	// long turn a degraded connection to error (5 over 6 h).
	StreakFailures int
	StreakDuration time.Duration
	// ConfirmPause: the pause before the confirming attempt after an answer the provider
	// documents as intermittent, and before the attempt that settles a lost answer (30 s).
	ConfirmPause time.Duration
}

// DefaultPolicy returns the documented defaults.
func DefaultPolicy() Policy {
	return Policy{
		RefreshWindow:     10 * time.Minute,
		RefreshJitter:     2 * time.Minute,
		SalesforceSession: 2 * time.Hour,
		VerifyEvery:       24 * time.Hour,
		KeepAlive: map[Kind]time.Duration{
			KindMicrosoftCalendar: 14 * 24 * time.Hour, KindTeams: 14 * 24 * time.Hour,
			KindZoom: 14 * 24 * time.Hour, KindGoogleCalendar: 30 * 24 * time.Hour,
		},
		BackoffBase:    time.Minute,
		BackoffMax:     4 * time.Hour,
		ProbeEvery:     6 * time.Hour,
		StreakFailures: 5,
		StreakDuration: 6 * time.Hour,
		ConfirmPause:   30 * time.Second,
	}
}

// defaults is DefaultPolicy built once: withDefaults runs on every transition, and its
// KeepAlive map is only read inside the package.
var defaults = DefaultPolicy()

// withDefaults fills p's zero fields from DefaultPolicy.
func (p Policy) withDefaults() Policy {
	d := defaults
	or := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	or(&p.RefreshWindow, d.RefreshWindow)
	or(&p.RefreshJitter, d.RefreshJitter)
	or(&p.SalesforceSession, d.SalesforceSession)
	or(&p.VerifyEvery, d.VerifyEvery)
	or(&p.BackoffBase, d.BackoffBase)
	or(&p.BackoffMax, d.BackoffMax)
	or(&p.ProbeEvery, d.ProbeEvery)
	or(&p.StreakDuration, d.StreakDuration)
	or(&p.ConfirmPause, d.ConfirmPause)
	if p.StreakFailures <= 0 {
		p.StreakFailures = d.StreakFailures
	}
	if p.KeepAlive == nil {
		p.KeepAlive = d.KeepAlive
	}
	return p
}

// Change is a transition's result.
type Change struct {
	// Conn is the connection with its health fields (state, failure fields, streak,
	// schedule, last refreshed/verified, expiry) updated; its tokens are untouched.
	Conn Connection
	// StateChanged: the state, class or cause moved, so Action Required must be
	// recomputed (Observer).
	StateChanged bool
	// LostDuringRefresh: this outcome proved a grant consumed by a lost refresh.
	LostDuringRefresh bool
}

// Transition is the health state machine (ARCHITECTURE.md, "Connection states"): the
// connection c, what one provider call came to, and the time → the new health fields.
// Pure: no I/O, no clock, no randomness beyond o.Jitter.
func Transition(c Connection, o Outcome, now time.Time, p Policy) Change {
	p = p.withDefaults()
	now = now.UTC()
	n := c
	if o.Failure == nil {
		succeed(&n, o, now, p)
	} else {
		lost := fail(&n, c, o, now, p)
		return Change{Conn: n, StateChanged: changed(c, n), LostDuringRefresh: lost}
	}
	return Change{Conn: n, StateChanged: changed(c, n)}
}

func changed(a, b Connection) bool {
	return a.State != b.State || a.FailureClass != b.FailureClass || a.FailureCause != b.FailureCause
}

func succeed(n *Connection, o Outcome, now time.Time, p Policy) {
	switch o.Op {
	case OpRefresh:
		n.LastRefreshedAt = now
		n.ExpiresAt = o.Expiry
	case OpVerify:
		n.LastVerifiedAt = now
	}
	if len(o.MissingScopes) > 0 {
		// The call worked but the grant lost scopes: only a reconnect brings them back.
		n.State = StateNeedsReconnect
		n.FailureClass, n.FailureSubCode, n.FailureCause = FailNeedsReconnect, "", CauseScopesMissing
		n.FailureReason = "The grant no longer holds " + strings.Join(o.MissingScopes, ", ") +
			"; the rep must reconnect and accept them."
		n.LastErrorCode, n.LastErrorDescription = "scopes_missing", strings.Join(o.MissingScopes, " ")
		n.ConsecutiveFailures = 0
		if n.FailingSince.IsZero() {
			n.FailingSince = now
		}
		n.NextAttemptAt, n.NextRefreshAt = time.Time{}, time.Time{}
		return
	}
	n.State = StateHealthy
	n.FailureClass, n.FailureSubCode, n.FailureReason, n.FailureCause = "", "", "", CauseNone
	n.LastErrorCode, n.LastErrorDescription = "", ""
	n.ConsecutiveFailures = 0
	n.FailingSince, n.NextAttemptAt = time.Time{}, time.Time{}
	n.NextRefreshAt = NextDue(*n, o.SessionTimeout, o.Jitter, now, p)
}

// NextDue is when a healthy connection next needs the sweep: its next refresh (expiry
// minus the window and some jitter, or the Salesforce session when no expiry is known,
// bounded by the kind's keep-alive) or its next verification, whichever comes first, and
// never before now.
func NextDue(c Connection, session time.Duration, jitter float64, now time.Time, p Policy) time.Time {
	p = p.withDefaults()
	base := c.LastRefreshedAt
	if base.IsZero() {
		base = now
	}
	ahead := p.RefreshWindow + time.Duration(jitter*float64(p.RefreshJitter))
	var refresh time.Time
	if !c.ExpiresAt.IsZero() {
		refresh = c.ExpiresAt.Add(-ahead)
	} else {
		if session <= 0 {
			session = p.SalesforceSession
		}
		refresh = base.Add(session - ahead)
	}
	if keep, ok := p.KeepAlive[c.Kind]; ok && keep > 0 {
		refresh = earliest(refresh, base.Add(keep))
	}
	verified := c.LastVerifiedAt
	if verified.IsZero() {
		verified = base
	}
	due := earliest(refresh, verified.Add(p.VerifyEvery))
	if due.Before(now) {
		due = now
	}
	return due.UTC()
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// fail applies failure o.Failure to n (a copy of c) and reports whether it proved a grant
// lost during a refresh.
func fail(n *Connection, c Connection, o Outcome, now time.Time, p Policy) bool {
	f := o.Failure
	n.ConsecutiveFailures++
	if n.FailingSince.IsZero() {
		n.FailingSince = now
	}
	n.FailureClass, n.FailureSubCode = f.Class, f.SubCode
	n.LastErrorCode = f.Code
	if n.LastErrorCode == "" {
		n.LastErrorCode = string(f.Class)
	}
	n.LastErrorDescription = f.Detail
	if n.LastErrorDescription == "" && f.Err != nil {
		n.LastErrorDescription = truncate(f.Err.Error(), 500)
	}
	n.FailureReason = f.Reason
	if n.FailureReason == "" {
		n.FailureReason = defaultReason(f)
	}

	switch {
	case f.OutcomeUnknown && c.FailureCause != CauseOutcomeUnknown:
		// The answer was lost: the provider may have spent the refresh token. Keep the
		// tokens and settle it with one attempt soon. Only once: a provider that keeps
		// hanging is an outage, retried with backoff below until the streak turns error,
		// not probed every pause forever.
		n.State = StateDegraded
		n.FailureClass, n.FailureCause = FailTransient, CauseOutcomeUnknown
		n.FailureReason = "The provider's answer to a refresh was lost; the next attempt settles whether the grant survived."
		n.NextAttemptAt = now.Add(p.ConfirmPause)
		n.NextRefreshAt = n.NextAttemptAt
		return false
	case f.Intermittent && c.FailureCause != CauseAwaitingConfirmation && !f.Class.Retried():
		// Documented as possibly intermittent: one confirming attempt before condemning.
		n.State = StateDegraded
		n.FailureCause = CauseAwaitingConfirmation
		n.NextAttemptAt = now.Add(p.ConfirmPause)
		n.NextRefreshAt = n.NextAttemptAt
		return false
	}

	switch f.Class {
	case FailNeedsReconnect:
		n.State = StateNeedsReconnect
		n.FailureCause = CauseNone
		if len(f.MissingScopes) > 0 {
			n.FailureCause = CauseScopesMissing
		}
		n.NextAttemptAt, n.NextRefreshAt = time.Time{}, time.Time{} // no call until the rep reconnects
		if o.Op == OpRefresh && o.KillsOldToken && c.FailureCause == CauseOutcomeUnknown {
			n.FailureCause = CauseLostDuringRefresh
			n.FailureReason = "The grant was consumed by a refresh whose answer was lost (not revoked by the rep); the rep must reconnect."
			return true
		}
		return false
	case FailNeedsAdmin, FailMisconfigured:
		n.State = StateNeedsAdmin
		n.FailureCause = CauseNone
		n.NextAttemptAt = now.Add(p.ProbeEvery + time.Duration(o.Jitter*float64(p.ProbeEvery)/10))
		n.NextRefreshAt = n.NextAttemptAt
		return false
	}

	// Retried: transient, rate limited, unknown. A lost answer still unsettled stays so.
	if c.FailureCause != CauseOutcomeUnknown {
		n.FailureCause = CauseNone
	}
	delay := Backoff(n.ConsecutiveFailures, o.Jitter, p)
	n.State = StateDegraded
	if n.ConsecutiveFailures >= p.StreakFailures && now.Sub(n.FailingSince) >= p.StreakDuration {
		n.State = StateError
		delay = max(delay, p.ProbeEvery)
	}
	if f.RetryAfter > delay {
		delay = f.RetryAfter // the provider asked: never call earlier
	}
	n.NextAttemptAt = now.Add(delay)
	n.NextRefreshAt = n.NextAttemptAt
	return false
}

// Backoff is the delay before retry n (1-based) of a transient failure: BackoffBase
// doubled per failure up to BackoffMax, half of it jittered ("equal jitter").
func Backoff(n int, jitter float64, p Policy) time.Duration {
	p = p.withDefaults()
	d := p.BackoffBase
	for i := 1; i < n && d < p.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, p.BackoffMax)
	return d/2 + time.Duration(jitter*float64(d/2))
}

func defaultReason(f *Failure) string {
	switch f.Class {
	case FailNeedsReconnect:
		return "The grant is no longer valid; the rep must reconnect."
	case FailNeedsAdmin:
		return "The provider refuses this account or organisation; the org's admin must act (reconnecting will not help)."
	case FailMisconfigured:
		return "tether's OAuth client was refused; the operator must fix its client id, secret or app registration."
	case FailRateLimited:
		return "The provider is rate limiting tether; retried later."
	case FailUnknown:
		return "The provider gave an answer tether does not recognise; retried, the body is kept."
	}
	if f.Status != 0 {
		return fmt.Sprintf("The provider failed (HTTP %d); retried with backoff.", f.Status)
	}
	return "The provider could not be reached; retried with backoff."
}
