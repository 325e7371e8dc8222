package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"tether/sync/directory"

	"github.com/google/uuid"
)

// Store is tether's persistence over PostgreSQL or SQLite. The query methods are those of
// Queries (embedded); Store adds lifecycle, migrations and transactions. Safe for
// concurrent use.
type Store struct {
	*Queries
	db      *sql.DB
	close   func() error
	backend string
}

// Queries holds every query method. A Store's Queries run each on the pool (methods that
// need several statements open their own transaction); the Queries passed to an InTx
// callback run inside that transaction.
type Queries struct {
	q  querier
	d  *dialect
	db *sql.DB // nil inside a transaction
	// g groups concurrent connection reads and writes on the pool; nil inside a
	// transaction (whose statements run one by one anyway) and where the dialect cannot.
	g *connGroups
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Open connects to the database url names and returns a Store (not yet migrated):
//
//   - "postgres://…" or "postgresql://…": PostgreSQL through a pgx pool. A search_path
//     query parameter sets the schema of every connection.
//   - "sqlite:PATH", "sqlite://PATH" or "file:PATH": SQLite in WAL mode with a busy
//     timeout, foreign keys on and immediate write transactions.
//
// Any other scheme is an error naming the accepted forms.
func Open(ctx context.Context, url string) (*Store, error) {
	var (
		s   *Store
		err error
	)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		s, err = openPostgres(ctx, url)
	case strings.HasPrefix(url, "sqlite:"), strings.HasPrefix(url, "file:"):
		s, err = openSQLite(ctx, url)
	default:
		return nil, fmt.Errorf("open store: unknown database URL scheme in %q: use postgres://…, postgresql://…, sqlite:PATH, sqlite://PATH or file:PATH", redactURL(url))
	}
	if err != nil {
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func newStore(db *sql.DB, d *dialect, closeFn func() error) *Store {
	q := &Queries{q: db, d: d, db: db}
	if d.group {
		q.g = newConnGroups(q)
	}
	return &Store{
		Queries: q,
		db:      db,
		close:   closeFn,
		backend: d.name,
	}
}

// Backend returns "postgres" or "sqlite".
func (s *Store) Backend() string { return s.backend }

// Ping checks that the database answers (for /readyz). Returns ErrNoDatabase if the
// PostgreSQL server answers without the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s store: %w", s.backend, s.d.mapErr(err))
	}
	return nil
}

// Close releases the pool. Safe to call once.
func (s *Store) Close() error { return s.close() }

// DB returns the underlying pool, for tests and tools that need raw SQL.
func (s *Store) DB() *sql.DB { return s.db }

// InTx runs fn in one transaction and commits if fn returns nil, otherwise rolls back and
// returns fn's error. Methods called on tx run inside the transaction (methods that would
// open their own transaction join this one). On SQLite the transaction takes the write
// lock at BEGIN, so transactions serialise; on PostgreSQL use tx.LockOrg to serialise
// work on one org.
func (s *Store) InTx(ctx context.Context, fn func(tx *Queries) error) error {
	return s.Queries.inTx(ctx, fn)
}

// inTx runs fn in a transaction, or in the current one if q is already inside one.
func (q *Queries) inTx(ctx context.Context, fn func(tx *Queries) error) (err error) {
	if q.db == nil {
		return fn(q)
	}
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", q.d.mapErr(err))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
			return
		}
		if cerr := tx.Commit(); cerr != nil {
			err = fmt.Errorf("commit transaction: %w", q.d.mapErr(cerr))
		}
	}()
	return fn(&Queries{q: tx, d: q.d})
}

// newID returns a new UUIDv7: time-ordered, so ids sort roughly by creation.
func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// NewID returns a new row id (UUIDv7). Callers that need a row's id before insert (the
// token vault uses it as associated data) set it on the row they pass in.
func NewID() string { return newID() }

// redactURL drops the password from a database URL so it can appear in an error.
func redactURL(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return u
	}
	userinfo := u[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return u[:scheme+3] + userinfo[:i] + ":xxxxx" + u[at:]
	}
	return u
}

// errNoOrg is returned when a method that must be org-scoped gets an empty org id.
var errNoOrg = fmt.Errorf("org id is required: %w", directory.ErrInvalid)

func requireOrg(orgID string) error {
	if orgID == "" {
		return errNoOrg
	}
	return nil
}

// wrap maps a driver error to a domain error and prefixes the operation.
func (q *Queries) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, q.d.mapErr(err))...)
}

// stamp fills a new row's id and time: an empty id gets a new one, a zero time is now.
// The time is kept in UTC at microsecond precision, so what a method returns equals what
// a later read returns.
func stamp(id *string, at *time.Time, now time.Time) {
	if *id == "" {
		*id = newID()
	}
	if at.IsZero() {
		*at = now
	}
	*at = at.UTC().Truncate(time.Microsecond)
}
