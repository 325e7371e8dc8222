// Package storeerr holds the store's domain errors in a leaf package, so the
// sync packages whose types the store imports (connections, directory, …)
// can test for them with errors.Is without an import cycle. sync/store
// re-exports each one under the same name.
package storeerr

import "errors"

var (
	// ErrNotFound: the row does not exist in the given org (a row of another org is not
	// found either), or a row it refers to does not.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a compare-and-swap lost (the version moved) or the row is not in a state
	// that allows the change.
	ErrConflict = errors.New("store: conflict")
	// ErrDuplicate: a unique constraint refused the row (same email, same pending invite,
	// same token hash, ...).
	ErrDuplicate = errors.New("store: duplicate")
	// ErrExpired: the invite exists but its expiry has passed.
	ErrExpired = errors.New("store: expired")
	// ErrInvalid: the caller's input cannot be stored (missing org id, unknown role, ...).
	ErrInvalid = errors.New("store: invalid input")
)
