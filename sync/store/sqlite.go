package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"tether/sync/directory"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// sqliteMaxConns bounds the pool: WAL lets readers run beside the one writer, and more
// connections would only queue on the write lock.
const sqliteMaxConns = 4

func sqliteDialect() *dialect {
	sub, err := fs.Sub(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return &dialect{
		name:       "sqlite",
		goose:      goose.DialectSQLite3,
		migrations: sub,
		inOnce:     func(sub string) string { return "IN (" + sub + ")" },
		textSet: func(p string) string {
			return "json_each(" + p + ")"
		},
		mapErr:     mapSQLiteError,
		maxParams:  32766,
		positional: true,
	}
}

// sqliteDSN turns "sqlite:PATH", "sqlite://PATH" or "file:PATH" (with optional ?query)
// into a modernc DSN with WAL, a busy timeout, foreign keys and immediate write
// transactions (so a transaction never fails to upgrade its read lock to a write lock).
func sqliteDSN(raw string) (string, error) {
	path := raw
	for _, p := range []string{"sqlite://", "sqlite:", "file:"} {
		if strings.HasPrefix(path, p) {
			path = strings.TrimPrefix(path, p)
			break
		}
	}
	query := ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	if path == "" {
		return "", fmt.Errorf("open sqlite store: no file path in %q", raw)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("open sqlite store %q: %w", raw, err)
	}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if q.Get("_txlock") == "" {
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode(), nil
}

func openSQLite(ctx context.Context, raw string) (*Store, error) {
	dsn, err := sqliteDSN(raw)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %q: %w", raw, err)
	}
	db.SetMaxOpenConns(sqliteMaxConns)
	db.SetMaxIdleConns(sqliteMaxConns)
	return newStore(db, sqliteDialect(), db.Close), nil
}

// mapSQLiteError is the one place SQLite errors become domain errors.
func mapSQLiteError(err error) error {
	if m, ok := mapCommon(err); ok {
		return m
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w (%s)", directory.ErrDuplicate, se.Error())
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: referenced row", directory.ErrNotFound)
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return fmt.Errorf("%w (%s)", directory.ErrInvalid, se.Error())
		}
	}
	return err
}
