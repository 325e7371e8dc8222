package store

import (
	"database/sql"
	"errors"

	"tether/sync/directory"
)

// The store returns the domain's errors (directory.ErrNotFound, directory.ErrConflict, directory.ErrDuplicate,
// directory.ErrExpired, directory.ErrInvalid), wrapped with the operation and an id. Driver errors are mapped
// to them in one function per backend (mapPostgresError, mapSQLiteError).

// ErrNoDatabase is returned (wrapped) by Open and Ping when the PostgreSQL server answers
// but the database the URL names does not exist (SQLSTATE 3D000): creating it is the fix,
// not retrying.
var ErrNoDatabase = errors.New("the database does not exist")

// mapCommon maps the errors both backends share.
func mapCommon(err error) (error, bool) {
	if errors.Is(err, sql.ErrNoRows) {
		return directory.ErrNotFound, true
	}
	return err, false
}
