package store

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
)

// dialect is what differs between the backends; every query is written once, with $N
// placeholders (which SQLite accepts too), and asks the dialect for the rest.
type dialect struct {
	name  string
	goose goose.Dialect
	// migrations is the backend's embedded migrations directory.
	migrations fs.FS
	// forUpdate is appended to a SELECT that must lock its row ("" on SQLite, whose write
	// transactions already hold the database lock).
	forUpdate string
	// textSet turns one placeholder holding a JSON array of strings into a FROM item with a
	// column named value.
	textSet func(placeholder string) string
	// inOnce turns a subquery of ids into the right side of a membership test that runs
	// it once. PostgreSQL plans "IN (subquery)" from its row estimates, which right after
	// a bulk insert (not analyzed yet) are 1: it then re-ran a page's subquery once per
	// row of the import (2.4 s a page of 500 of 10,000 invites); "= ANY(ARRAY(…))" is an
	// init plan run once. SQLite already runs an uncorrelated IN subquery once.
	inOnce func(subquery string) string
	// mapErr maps a driver error to a domain error (directory.ErrNotFound, directory.ErrDuplicate, ...),
	// leaving others as they are.
	mapErr func(error) error
	// maxParams is how many placeholders one statement may carry.
	maxParams int
	// positional is true when bulk statements should use plain "?" placeholders: SQLite
	// looks each "$N" name up in a list, which is quadratic in a 30,000-value INSERT.
	positional bool
	// recordset is true when a bulk INSERT may take its rows as one JSON array of
	// objects (PostgreSQL's json_populate_recordset, typed by the table's own row type):
	// parsing and binding 46,000 placeholders of a 2,000-invite page cost more than
	// inserting the rows.
	recordset bool
	// group is true when the pool's connection reads and writes are grouped (connGroups):
	// their grouped statements take their rows as recordset JSON. SQLite has one writer
	// and no round trips to share.
	group bool
	// prepared goes before the arguments of a statement run many times a second (a
	// connection's read and write on every refresh): on PostgreSQL pgx's option to prepare
	// it once per connection and reuse it, instead of the server parsing and planning it on
	// every run (the store's default exec mode, right for statements run rarely). nil on
	// SQLite, and on PostgreSQL when the URL sets default_query_exec_mode.
	prepared []any
}

// hot returns args for a statement run many times a second (see dialect.prepared).
func (d *dialect) hot(args ...any) []any {
	if d.prepared == nil {
		return args
	}
	return append(append(make([]any, 0, len(d.prepared)+len(args)), d.prepared...), args...)
}

// timeLayout is fixed-width so that SQLite's TEXT times compare in time order; PostgreSQL
// parses it as timestamptz.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// tm converts a time to a query argument: NULL for the zero time, otherwise UTC with
// microsecond precision (what PostgreSQL keeps).
func tm(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond).Format(timeLayout)
}

// scanTime scans a time column from either backend: PostgreSQL yields time.Time, SQLite
// the TEXT written by tm. NULL scans as the zero time.
type scanTime struct{ t *time.Time }

func (s scanTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*s.t = time.Time{}
	case time.Time:
		*s.t = x.UTC()
	case string:
		return s.parse(x)
	case []byte:
		return s.parse(string(x))
	default:
		return fmt.Errorf("scan time: unsupported type %T", v)
	}
	return nil
}

func (s scanTime) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("scan time %q: %w", v, err)
	}
	*s.t = t.UTC()
	return nil
}

// ts wraps a destination for Scan.
func ts(t *time.Time) scanTime { return scanTime{t} }

// jsonArg marshals v into a JSON text argument. A nil slice becomes [] and a nil map {}
// so that columns never hold JSON null.
func jsonArg(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	if string(b) == "null" {
		return nil, fmt.Errorf("encode json: nil value for a JSON column")
	}
	return string(b), nil
}

// strs returns s, or an empty non-nil slice, for JSON array columns.
func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// scanJSON decodes a JSON column into dst.
type scanJSON struct{ dst any }

func (s scanJSON) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("scan json: unsupported type %T", v)
	}
	if err := json.Unmarshal(b, s.dst); err != nil {
		return fmt.Errorf("scan json: %w", err)
	}
	return nil
}

func js(dst any) scanJSON { return scanJSON{dst} }

// nullStr stores "" as NULL, for optional foreign keys.
func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// scanStr scans a nullable text column, NULL as "".
type scanStr struct{ s *string }

func (s scanStr) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*s.s = ""
	case string:
		*s.s = x
	case []byte:
		*s.s = string(x)
	default:
		return fmt.Errorf("scan string: unsupported type %T", v)
	}
	return nil
}

func ns(s *string) scanStr { return scanStr{s} }
