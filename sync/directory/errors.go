package directory

import "errors"

// Domain errors of every stored record (orgs, users, invites, imports, connections,
// audits). Stores wrap them with the operation and an id, so test with errors.Is; each
// store backend maps its driver's errors to them in one function.
var (
	// ErrNotFound: the record does not exist in the given org (a record of another org is
	// not found either), or a record it refers to does not.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a compare-and-swap lost (the version moved) or the record is not in a
	// state that allows the change.
	ErrConflict = errors.New("conflict")
	// ErrDuplicate: a unique rule refused the record (same email, same pending invite,
	// same token hash, ...).
	ErrDuplicate = errors.New("duplicate")
	// ErrExpired: the invite exists but its expiry has passed.
	ErrExpired = errors.New("expired")
	// ErrInvalid: the caller's input cannot be stored (missing org id, unknown role, ...).
	ErrInvalid = errors.New("invalid input")
)
