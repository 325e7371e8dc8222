package orgs

import "fmt"

// Error codes of *Error, stable for API clients.
const (
	CodeInvalidName            = "invalid_name"
	CodeInvalidSeats           = "invalid_seats"
	CodeInvalidSalesforceLogin = "invalid_salesforce_login"
	CodeOrgNotFound            = "org_not_found"
	CodeParentNotFound         = "parent_not_found"
	CodeParentCycle            = "parent_cycle"
	CodeSeatsInUse             = "seats_in_use"
	CodeUserNotFound           = "user_not_found"
	CodeNotAMember             = "not_a_member"
	CodeEmptyChange            = "empty_change"
	CodeInvalidPolicy          = "invalid_policy"
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
