package members

import "fmt"

// Error codes of *Error, stable for API clients.
const (
	CodeOrgNotFound      = "org_not_found"
	CodeMemberNotFound   = "member_not_found"
	CodeInvalidFilter    = "invalid_filter"
	CodeInvalidRole      = "invalid_role"
	CodeInvalidPhoto     = "invalid_photo"
	CodeEmptyChange      = "empty_change"
	CodeInvalidTimeZone  = "invalid_time_zone"
	CodeNotDeactivatable = "not_deactivatable"
	// CodeDeactivated refuses a change to a deactivated member: invite them again.
	CodeDeactivated = "member_deactivated"
	// CodeReminderNotQueued: the reasons are stored but the reminder's task could not be
	// queued (Redis unreachable); the API answers 503.
	CodeReminderNotQueued = "reminder_not_queued"
	// CodeReminderNotRetimed: the member's time zone is stored but its queued reminder
	// could not be moved to it (Redis unreachable); the API answers 503.
	CodeReminderNotRetimed = "reminder_not_retimed"
)

// Error is a request the service refuses: a machine code and a message a person can act
// on.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func refuse(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
