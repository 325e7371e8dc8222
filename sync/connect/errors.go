package connect

import (
	"errors"
	"strings"
)

// What can go wrong between a link and a stored connection. Each one leaves the store as
// it was; callers turn them into pages.
var (
	// ErrLinkInvalid: the link was not signed by tether (tampered or cut short).
	ErrLinkInvalid = errors.New("this connect link is not valid")
	// ErrLinkExpired: the link's time is up.
	ErrLinkExpired = errors.New("this connect link has expired")
	// ErrLinkUsed: the link already connected an account.
	ErrLinkUsed = errors.New("this connect link was already used")
	// ErrBadState: the callback's state is unknown, spent, for another provider, or was
	// started in another browser (its cookie is missing or differs).
	ErrBadState = errors.New("this sign-in was not started from a connect link in this browser")
	// ErrConsentDenied: the person did not allow access at the provider.
	ErrConsentDenied = errors.New("access was not allowed")
	// ErrWrongAccount: the provider account is not the one this link is for; nothing was
	// stored and the grant was revoked at the provider.
	ErrWrongAccount = errors.New("this account is not the one this link is for")
	// ErrTooFewScopes: the person allowed less than tether needs (see ScopesError).
	ErrTooFewScopes = errors.New("not every permission tether needs was allowed")
	// ErrProviderDown: the provider could not be reached or answered with a server error.
	ErrProviderDown = errors.New("the provider could not be reached")
	// ErrProviderRefused: the provider refused the sign-in (an expired code, a rejected
	// client); starting again from the link usually works.
	ErrProviderRefused = errors.New("the provider refused the sign-in")
)

// ScopesError names the permissions that were not allowed.
type ScopesError struct{ Missing []string }

func (e *ScopesError) Error() string {
	return ErrTooFewScopes.Error() + ": " + strings.Join(e.Missing, ", ")
}

// Unwrap makes errors.Is(err, ErrTooFewScopes) true.
func (e *ScopesError) Unwrap() error { return ErrTooFewScopes }

// WrongAccountError says which account was expected and which one came.
type WrongAccountError struct {
	Expected, Got string
	// Org is true when the mismatch is the Salesforce org, not the user.
	Org bool
}

func (e *WrongAccountError) Error() string {
	what := "account"
	if e.Org {
		what = "Salesforce org"
	}
	return ErrWrongAccount.Error() + ": expected " + what + " " + e.Expected + ", got " + e.Got
}

// Unwrap makes errors.Is(err, ErrWrongAccount) true.
func (e *WrongAccountError) Unwrap() error { return ErrWrongAccount }
