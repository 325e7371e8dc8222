package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"tether/sync/directory"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

func postgresDialect() *dialect {
	sub, err := fs.Sub(postgresMigrations, "migrations/postgres")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return &dialect{
		name:       "postgres",
		goose:      goose.DialectPostgres,
		migrations: sub,
		forUpdate:  " FOR UPDATE",
		inOnce:     func(sub string) string { return "= ANY(ARRAY(" + sub + "))" },
		textSet: func(p string) string {
			// A subquery, so the caller can alias it like SQLite's json_each.
			return "(SELECT value FROM jsonb_array_elements_text(" + p + "::jsonb) AS s(value))"
		},
		mapErr:    mapPostgresError,
		maxParams: 65535,
		recordset: true,
		group:     true,
	}
}

// openPostgres opens a pgx pool and a database/sql view of it, so the same queries run
// on both backends.
func openPostgres(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", redactURL(url), err)
	}
	d := postgresDialect()
	if !strings.Contains(url, "default_query_exec_mode") {
		// One round trip per statement: pgx's default prepares each new statement text
		// first (a second round trip), and most of tether's statements run once per
		// connection or vary in size (bulk inserts). Parameters go as untyped text, so
		// PostgreSQL infers their types from the query; every statement here gives it
		// the context to (a column, a comparison or an explicit cast).
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
		// Except the statements run on every refresh: prepared once per connection. Passed
		// through database/sql to pgx, which reads a leading QueryExecMode as an option of
		// the query. A URL naming its own mode (a pooler that cannot keep prepared
		// statements) gets that mode for every statement.
		d.prepared = []any{pgx.QueryExecModeCacheStatement}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", redactURL(url), err)
	}
	db := stdlib.OpenDBFromPool(pool)
	return newStore(db, d, func() error {
		err := db.Close()
		pool.Close()
		return err
	}), nil
}

// mapPostgresError is the one place PostgreSQL errors become domain errors.
func mapPostgresError(err error) error {
	if m, ok := mapCommon(err); ok {
		return m
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w (%s)", directory.ErrDuplicate, pg.ConstraintName)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: referenced row (%s)", directory.ErrNotFound, pg.ConstraintName)
		case "23514", "23502", "22P02", "22021", "22P05": // check, not null, invalid text, bad byte (NUL), untranslatable
			return fmt.Errorf("%w (%s)", directory.ErrInvalid, pg.Message)
		case "3D000": // invalid_catalog_name: the server is up, the database is not there
			return fmt.Errorf("%w: %w", ErrNoDatabase, err)
		}
	}
	return err
}
