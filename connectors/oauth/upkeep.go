package oauth

import (
	"time"

	"tether/sync/connections"
)

// What an *Error says of itself to connections.FailureOf, so the health machine reads
// the sub-code, Retry-After, a lost answer and an intermittent code whatever wrapping
// the error went through.

// ErrorSubCode is the provider's refinement of Code (AADSTS number, error_subtype, reason).
func (e *Error) ErrorSubCode() string { return e.SubCode }

// RetryAfterDelay is the delay the provider asked for.
func (e *Error) RetryAfterDelay() time.Duration { return e.RetryAfter }

// HTTPStatus is the answer's status, 0 when none arrived.
func (e *Error) HTTPStatus() int { return e.Status }

// UnknownOutcome: the request went out and no answer came back.
func (e *Error) UnknownOutcome() bool { return e.OutcomeUnknown }

// IntermittentAnswer: the provider documents this answer as possibly intermittent.
func (e *Error) IntermittentAnswer() bool { return e.ConfirmFirst }

// FailureClass maps Class to the connection state machine's classes.
func (e *Error) FailureClass() connections.FailureClass {
	switch e.Class {
	case ClassNeedsReconnect:
		return connections.FailNeedsReconnect
	case ClassMisconfigured:
		return connections.FailMisconfigured
	case ClassOrgProblem:
		return connections.FailNeedsAdmin
	case ClassRateLimited:
		return connections.FailRateLimited
	case ClassUnknown:
		return connections.FailUnknown
	}
	return connections.FailTransient
}

// KillsOldToken implements connections.RotationRules: the provider serving kind retires
// the old refresh token when it rotates (its Rotation rule), so a refresh whose answer was
// lost may have consumed the grant.
func (r ConnectionRefresher) KillsOldToken(kind connections.Kind) bool {
	name, ok := r.Providers[kind]
	if !ok {
		return false
	}
	p, ok := r.Client.Provider(name)
	return ok && p.rotation() == RotationKillsOld
}
