package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"tether/sync/connections"
)

// Class is what the connection state machine should do about a failure. It is
// connections.FailureClass, so a class decided here reaches sync/connections unchanged.
type Class = connections.FailureClass

const (
	// ClassNone is the class of a nil error.
	ClassNone Class = ""
	// ClassNeedsReconnect: the grant is dead (revoked, expired, consent
	// withdrawn, password changed, MFA or re-authentication required). Do not
	// retry; ask the person to reconnect.
	ClassNeedsReconnect = connections.FailNeedsReconnect
	// ClassNeedsAdmin: reconnecting cannot fix it (account disabled, user
	// inactive, app awaiting admin approval, org blocked or inactive). The
	// org's admin acts; the rep is not nagged.
	ClassNeedsAdmin = connections.FailNeedsAdmin
	// ClassOrgProblem is the former name of ClassNeedsAdmin.
	ClassOrgProblem = ClassNeedsAdmin
	// ClassTransient: the provider or the network failed. Keep the tokens,
	// retry with backoff.
	ClassTransient = connections.FailTransient
	// ClassRateLimited: the provider asked us to slow down. Retry after
	// Error.RetryAfter (zero: use the caller's default backoff).
	ClassRateLimited = connections.FailRateLimited
	// ClassMisconfigured: tether's own OAuth client is broken (wrong or
	// expired secret, deleted client, bad scope, wrong tenant path). Page the
	// operator; do not flag users.
	ClassMisconfigured = connections.FailMisconfigured
	// ClassUnknown: an error code or response tether does not recognise.
	// Retry with backoff and alert; the body is kept (shortened, no tokens).
	ClassUnknown = connections.FailUnknown
)

// Error is a failed token-endpoint call. Its Error method never contains a
// token or a client secret.
type Error struct {
	Provider string // registry name, e.g. "salesforce"
	Op       string // "refresh" or "revoke"
	Class    Class
	// Code is the OAuth "error" field (invalid_grant, ...), empty when the
	// response carried none or there was no response.
	Code string
	// SubCode refines Code: Microsoft's first AADSTS number, Google's
	// error_subtype, Zoom's reason.
	SubCode string
	// Description is the provider's error_description (or an equivalent
	// text), shortened; for display, never for decisions.
	Description string
	// Reason is tether's short, human explanation of Class ("Salesforce
	// user is inactive"); may be empty.
	Reason string
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// RetryAfter is the delay the provider asked for (Retry-After in
	// seconds, HTTP-date or RFC 3339), 0 when none.
	RetryAfter time.Duration
	// OutcomeUnknown is set when no response arrived: the provider may have
	// processed the request. For RotationKillsOld providers the old refresh
	// token may already be dead; retry once with the same token and treat
	// invalid_grant as needs_reconnect.
	OutcomeUnknown bool
	// Intermittent asks the caller to retry the same request once, after a
	// short pause, before acting on Class (Microsoft AADSTS70000 is reported
	// to be intermittent).
	Intermittent bool
	// Err is the underlying transport error, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "oauth %s %s: ", e.Provider, e.Op)
	switch {
	case e.Code != "":
		b.WriteString(e.Code)
		if e.SubCode != "" {
			fmt.Fprintf(&b, "/%s", e.SubCode)
		}
		if e.Description != "" {
			fmt.Fprintf(&b, " (%s)", e.Description)
		}
		if e.Status != 0 {
			fmt.Fprintf(&b, " status %d", e.Status)
		}
	case e.Status != 0:
		fmt.Fprintf(&b, "status %d", e.Status)
		if e.Description != "" {
			fmt.Fprintf(&b, " (%s)", e.Description)
		}
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("failed")
	}
	fmt.Fprintf(&b, " [%s]", e.Class)
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " retry after %s", e.RetryAfter)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Classifier is implemented by errors of other connectors (for example
// salesforce.APIError) so that Classify understands them without this
// package importing those connectors.
type Classifier interface {
	OAuthClass() Class
}

// Classify returns the Class of err: the Class of an *Error or a Classifier
// in its chain; ClassTransient for context expiry and network errors;
// ClassNone for nil; ClassUnknown otherwise.
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	var oe *Error
	if errors.As(err, &oe) {
		return oe.Class
	}
	var c Classifier
	if errors.As(err, &c) {
		return c.OAuthClass()
	}
	if isTransportError(err) {
		return ClassTransient
	}
	return ClassUnknown
}

// RetryAfter returns the provider's requested delay carried by err, or 0.
func RetryAfter(err error) time.Duration {
	var oe *Error
	if errors.As(err, &oe) {
		return oe.RetryAfter
	}
	var r interface{ RetryAfterDelay() time.Duration }
	if errors.As(err, &r) {
		return r.RetryAfterDelay()
	}
	return 0
}

func isTransportError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}
