package invites

import (
	"fmt"
	"strings"
	"time"
)

// Error codes of *Error, stable for API clients.
const (
	CodeInvalidRole      = "invalid_role"
	CodeEmptySelection   = "empty_selection"
	CodeInvalidID        = "invalid_id"
	CodeUnknownProfile   = "unknown_profile"
	CodeTooManyEmails    = "too_many_emails"
	CodeOrgNotFound      = "org_not_found"
	CodeNoConnection     = "no_team_connection"
	CodeMixedSelection   = "mixed_selection"
	CodeInvalidEmailList = "invalid_email_list"
	// CodeSelectionTooLong: the selection would make a Salesforce query past its size
	// limits (see validate).
	CodeSelectionTooLong = "selection_too_long"
	// CodeInvalidText: a value tether cannot store (a NUL or other control character, not
	// UTF-8, or past its length limit). The API answers 400.
	CodeInvalidText = "invalid_text"
	// CodeAPIDisabled: Salesforce refuses every API call of the org's team-level user
	// (API_DISABLED_FOR_ORG); a Salesforce admin must change the org or the user.
	CodeAPIDisabled = "salesforce_api_disabled"
)

// Error is a request the import refuses: bad input no retry can fix. It carries a
// machine code and a message a person can act on, and is permanent for the worker.
type Error struct {
	Code    string
	Message string
	// Values lists the offending inputs (bad ids, unknown names), if any.
	Values []string
}

func (e *Error) Error() string { return e.Message }

// Permanent tells the worker not to retry.
func (e *Error) Permanent() bool { return true }

func invalid(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// UnknownProfilesError says profile names matched no Salesforce profile; Known lists the
// names that do exist so the admin can pick one.
type UnknownProfilesError struct {
	Unknown []string
	Known   []string
}

func (e *UnknownProfilesError) Error() string {
	return fmt.Sprintf("unknown Salesforce profile %s; existing profiles: %s",
		quoteAll(e.Unknown), quoteAll(e.Known))
}

// Permanent tells the worker not to retry.
func (e *UnknownProfilesError) Permanent() bool { return true }

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// PausedError says the import paused to stay inside the org's Salesforce API budget; it
// resumes at Until. RetryAfter makes the worker retry it then without spending a retry.
type PausedError struct {
	ImportID string
	Until    time.Time
	Reason   string
	delay    time.Duration
}

func (e *PausedError) Error() string {
	return fmt.Sprintf("import %s paused until %s: %s", e.ImportID, e.Until.UTC().Format(time.RFC3339), e.Reason)
}

// RetryAfter is how long to wait before running the import again.
func (e *PausedError) RetryAfter() time.Duration { return e.delay }

// LimitError says Salesforce refused a call for the org's API limits: the daily
// allocation is spent (Daily), or too many requests run at once. The import pauses rather
// than fails, and its task waits without spending a retry. Adapters return it.
type LimitError struct {
	Daily bool
	// Delay is how long the provider suggests waiting. For Daily the import waits
	// Config.PauseFor instead (the rolling window frees calls gradually).
	Delay time.Duration
	Err   error
}

func (e *LimitError) Error() string {
	if e.Daily {
		return fmt.Sprintf("the org's daily Salesforce API allocation is spent: %v", e.Err)
	}
	return fmt.Sprintf("too many concurrent Salesforce API requests: %v", e.Err)
}

func (e *LimitError) Unwrap() error { return e.Err }

// InterruptedError says the run stopped because its context ended (a worker shutting
// down); the import stays running with its checkpoint. RetryAfter asks for a prompt
// resume that does not spend a retry.
type InterruptedError struct {
	ImportID string
	Err      error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("import %s interrupted: %v", e.ImportID, e.Err)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// RetryAfter is one second: the checkpoint makes resuming cheap.
func (e *InterruptedError) RetryAfter() time.Duration { return time.Second }
