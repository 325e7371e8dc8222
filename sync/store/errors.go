package store

import (
	"database/sql"
	"errors"

	"tether/sync/store/storeerr"
)

// Domain errors, defined in the leaf package storeerr so sync packages can match them
// without importing the store. Every method wraps them with the operation and an id, so
// test with errors.Is. Driver errors are mapped to them in one function per backend
// (mapPostgresError, mapSQLiteError).
var (
	ErrNotFound  = storeerr.ErrNotFound
	ErrConflict  = storeerr.ErrConflict
	ErrDuplicate = storeerr.ErrDuplicate
	ErrExpired   = storeerr.ErrExpired
	ErrInvalid   = storeerr.ErrInvalid
)

// mapCommon maps the errors both backends share.
func mapCommon(err error) (error, bool) {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound, true
	}
	return err, false
}
