package connections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"tether/sync/vault"
)

// StateNeedsAdmin: reconnecting cannot fix the connection (account disabled, Salesforce user
// inactive, app awaiting admin approval, tether's OAuth client refused); the org's admin (or,
// for a refused client, the operator) must act, and the rep is not nagged.
const StateNeedsAdmin State = "needs_admin"

// FailureClass is what the health state machine does about a failed provider call.
type FailureClass string

// Failure classes. Connectors decide the class from the provider's answer (see the README's
// classification table); sync/connections only acts on it.
const (
	// FailNeedsReconnect: the grant is dead (revoked, expired, consent withdrawn, password
	// changed, MFA or re-authentication required). The rep reconnects.
	FailNeedsReconnect FailureClass = "needs_reconnect"
	// FailNeedsAdmin: the provider account or org refuses (account disabled, user inactive,
	// admin approval required, org blocked). The org's admin acts.
	FailNeedsAdmin FailureClass = "needs_admin"
	// FailMisconfigured: tether's own OAuth client is wrong or deleted. The operator acts.
	FailMisconfigured FailureClass = "misconfigured"
	// FailTransient: 5xx, timeouts, temporarily unavailable. Retried with backoff.
	FailTransient FailureClass = "transient"
	// FailRateLimited: 429 and quota answers. Retried no earlier than RetryAfter.
	FailRateLimited FailureClass = "rate_limited"
	// FailUnknown: an answer tether does not recognise. Treated as transient, body kept.
	FailUnknown FailureClass = "unknown"
)

// Actor is who must act on a failure.
type Actor string

// Actors.
const (
	ActorNone     Actor = ""
	ActorRep      Actor = "rep"
	ActorAdmin    Actor = "admin"
	ActorOperator Actor = "operator"
)

// Actor returns who acts on failures of class c: nobody for the retried classes.
func (c FailureClass) Actor() Actor {
	switch c {
	case FailNeedsReconnect:
		return ActorRep
	case FailNeedsAdmin:
		return ActorAdmin
	case FailMisconfigured:
		return ActorOperator
	}
	return ActorNone
}

// Actor returns who acts on c's failure: its class's actor, except that the org's team
// connection has no rep, so reconnecting it is the admin's (tether org connect-salesforce).
func (c Connection) Actor() Actor {
	a := c.FailureClass.Actor()
	if a == ActorRep && c.Kind.OrgLevel() {
		return ActorAdmin
	}
	return a
}

// Retried reports whether failures of class c are retried rather than condemning the
// connection.
func (c FailureClass) Retried() bool {
	return c == FailTransient || c == FailRateLimited || c == FailUnknown || c == ""
}

// Failure is a classified failure of a provider call (refresh, verify, revoke). Connectors
// return it (possibly wrapped); it never holds a token.
type Failure struct {
	Class    FailureClass
	Provider string // registry name: salesforce, google, microsoft, zoom
	Op       string // refresh, verify, revoke
	// Code is the provider's error code (invalid_grant, InvalidAuthenticationToken, ...).
	Code string
	// SubCode refines Code: Microsoft's AADSTS number, Google's error_subtype, Zoom's reason,
	// Salesforce's error_description keyword.
	SubCode string
	// Reason is tether's sentence for the person who must act.
	Reason string
	// Detail is the provider's own text or, for an unrecognised answer, the body, shortened
	// and with tokens removed. For display only.
	Detail string
	// Status is the HTTP status, 0 when no answer arrived.
	Status int
	// RetryAfter is the delay the provider asked for; 0 when none.
	RetryAfter time.Duration
	// Intermittent: the provider documents this answer as possibly intermittent; retry once
	// after a short pause before acting on Class.
	Intermittent bool
	// OutcomeUnknown: the request went out and no answer came back; the provider may have
	// processed it (and, if it rotates, killed the old refresh token).
	OutcomeUnknown bool
	// MissingScopes names scopes tether needs that the grant no longer holds.
	MissingScopes []string
	// Err is the underlying cause, for logs.
	Err error
}

func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", f.Provider, f.Op, f.Class)
	if f.Code != "" {
		fmt.Fprintf(&b, " (%s", f.Code)
		if f.SubCode != "" {
			fmt.Fprintf(&b, "/%s", f.SubCode)
		}
		b.WriteString(")")
	}
	if f.Reason != "" {
		fmt.Fprintf(&b, ": %s", f.Reason)
	}
	if len(f.MissingScopes) > 0 {
		fmt.Fprintf(&b, " (missing scopes: %s)", strings.Join(f.MissingScopes, ", "))
	}
	return b.String()
}

func (f *Failure) Unwrap() error { return f.Err }

// Is lets callers written against the older sentinels keep working.
func (f *Failure) Is(target error) bool {
	switch target {
	case ErrNeedsReconnect:
		return f.Class == FailNeedsReconnect
	case ErrMisconfigured:
		return f.Class == FailMisconfigured
	case ErrOrgBlocked:
		return f.Class == FailNeedsAdmin
	}
	return false
}

// AsFailure returns the *Failure in err's chain.
func AsFailure(err error) (*Failure, bool) {
	var f *Failure
	if errors.As(err, &f) {
		return f, true
	}
	return nil, false
}

// VerifyRequest is what a Verifier needs to prove a connection works.
type VerifyRequest struct {
	Kind        Kind
	AccessToken vault.Token
	InstanceURL string // Salesforce
	LoginURL    string // Salesforce
	// AccountID is the provider account the connection was made with; a verification that
	// finds another account fails with FailNeedsReconnect.
	AccountID string
	// Scopes are what the last token response granted (Connection.Scopes). Graph, Zoom and
	// Salesforce do not tell a verify call which scopes a token holds (Graph has no cheap
	// call proving OnlineMeetings.ReadWrite), so those kinds are judged against these; nil
	// means unknown, and then only a provider's refusal reports a missing scope.
	Scopes []string
}

// Verification is what a successful verify call found.
type Verification struct {
	AccountID string
	// Scopes the provider reports the token holds, normalised; nil when it does not say.
	Scopes []string
	// MissingScopes are scopes tether needs for this kind that the token lacks. A
	// verification with missing scopes is returned without error; the caller condemns.
	MissingScopes []string
	// TimeZone is the IANA zone the provider records for the account (a Salesforce
	// User's zoneinfo, a Zoom user's timezone); "" when its answer does not say.
	TimeZone string
}

// Verifier makes one cheap call per kind proving the access token works and carries the
// scopes tether needs. Errors are *Failure (possibly wrapped); a 401 is FailNeedsReconnect
// only after the caller has refreshed, so Verify reports it as Code "unauthorized".
type Verifier interface {
	Verify(ctx context.Context, req VerifyRequest) (Verification, error)
}

// Observer hears about connection state changes after they are committed, so Action
// Required reasons (and reminders) are recomputed. It must be idempotent: a crash between
// the commit and the call is repaired by the next sweep calling it again.
type Observer interface {
	ConnectionChanged(ctx context.Context, orgID, membershipID string) error
}

// Metrics receives upkeep outcomes for /metrics. Class is "" for success.
type Metrics interface {
	Refreshed(provider string, class FailureClass, took time.Duration)
	Verified(provider string, class FailureClass)
	LostDuringRefresh(provider string)
}
