package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"tether/sync/connections"
)

// connGroups group the pool's concurrent connection reads and writes on PostgreSQL (see
// group): every refresh reads its connection and writes it back, and at a worker's
// concurrency those single-row statements, a round trip and for the write a commit
// each, are much of PostgreSQL's work. A grouped UPDATE is one statement, so one commit.
// Calls inside a transaction and on SQLite do not group (Queries.g is nil).
type connGroups struct {
	updates group[connUpdate, connWrite]
	reads   group[connKey, connRead]
	// failed counts grouped statements that failed (their calls then ran alone), for tests.
	failed atomic.Int64
}

func newConnGroups(q *Queries) *connGroups {
	g := &connGroups{}
	g.updates.one = func(ctx context.Context, u connUpdate) connWrite { return q.updateConnection(ctx, u.args) }
	g.updates.many = func(ctx context.Context, us []connUpdate) []connWrite {
		out, err := q.updateConnections(ctx, us)
		if err != nil {
			g.failed.Add(1)
		}
		return out
	}
	g.reads.one = func(ctx context.Context, k connKey) connRead {
		c, err := q.getConnection(ctx, k.orgID, k.id)
		return connRead{done: true, c: c, err: err}
	}
	g.reads.many = func(ctx context.Context, ks []connKey) []connRead {
		out, err := q.getConnections(ctx, ks)
		if err != nil {
			g.failed.Add(1)
		}
		return out
	}
	return g
}

// connUpdate is one UpdateConnection call: its arguments in updateCols order and the
// same as one JSON object for the grouped statement.
type connUpdate struct {
	args []any
	row  []byte
}

// writeOutcome is what became of one UpdateConnection statement.
type writeOutcome int

const (
	// writeAlone (the zero value): the grouped statement failed; the call runs its own.
	writeAlone writeOutcome = iota
	writeWritten
	// writeUnmatched: no row with the id, org, version and a fence not above the call's.
	writeUnmatched
	writeFailed
)

type connWrite struct {
	outcome writeOutcome
	err     error // with writeFailed
}

type connKey struct{ orgID, id string }

type connRead struct {
	// done is false if the grouped statement failed: the call runs its own.
	done bool
	c    connections.Connection
	err  error
}

// updateConnectionsSQL is the grouped UpdateConnection: the rows to write come as one
// JSON array ($1) typed by the table's own row type, so the text is one prepared
// statement whatever the group's size. RETURNING says which rows were written.
//
// LIMIT $2 (the number of rows) is the planner's row estimate: without it a JSON
// function is 100 rows, and against a few thousand connections a hash join over a
// sequential scan looks cheaper than 100 primary-key lookups, when a group is a handful.
var updateConnectionsSQL = func() string {
	var b strings.Builder
	b.WriteString("UPDATE connections AS c SET version = c.version + 1")
	for _, col := range updateCols[3:] {
		b.WriteString(", " + col + " = v." + col)
	}
	b.WriteString(` FROM (SELECT * FROM json_populate_recordset(NULL::connections, $1::json) LIMIT $2) AS v
WHERE c.org_id = v.org_id AND c.id = v.id AND c.version = v.version AND c.refresh_fence <= v.refresh_fence
RETURNING c.id`)
	return b.String()
}()

// updateConnections runs UpdateConnection calls with distinct ids as one statement. A
// call whose row is not returned lost its compare and swap (or has no row); if the
// statement fails, every call runs its own, so one bad row fails only its own call.
func (q *Queries) updateConnections(ctx context.Context, us []connUpdate) ([]connWrite, error) {
	out := make([]connWrite, len(us))
	// In id order, so that two grouped statements (two processes) lock rows in one order
	// and cannot deadlock each other.
	order := make([]int, len(us))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(us[a].args[1].(string), us[b].args[1].(string)) })
	doc := []byte{'['}
	for i, j := range order {
		if i > 0 {
			doc = append(doc, ',')
		}
		doc = append(doc, us[j].row...)
	}
	doc = append(doc, ']')
	rows, err := q.q.QueryContext(ctx, updateConnectionsSQL, q.d.hot(string(doc), int64(len(us)))...)
	if err != nil {
		return out, err
	}
	ids, err := collect(rows, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	})
	if err != nil {
		return out, err
	}
	for i, u := range us {
		out[i].outcome = writeUnmatched
		if slices.Contains(ids, u.args[1].(string)) {
			out[i].outcome = writeWritten
		}
	}
	return out, nil
}

// getConnectionsSQL is the grouped GetConnection, keys as one JSON array of objects
// ($1), $2 their number (the row estimate, as in updateConnectionsSQL).
const getConnectionsSQL = `SELECT ` + connectionCols + ` FROM connections WHERE (org_id, id) IN
(SELECT org_id, id FROM json_to_recordset($1::json) AS k(org_id text, id text) LIMIT $2)`

// getConnections runs GetConnection calls with distinct ids as one statement.
func (q *Queries) getConnections(ctx context.Context, ks []connKey) ([]connRead, error) {
	out := make([]connRead, len(ks))
	doc := []byte{'['}
	for i, k := range ks {
		if i > 0 {
			doc = append(doc, ',')
		}
		doc = append(doc, `{"org_id":`...)
		doc = appendJSONString(doc, k.orgID)
		doc = append(doc, `,"id":`...)
		doc = appendJSONString(doc, k.id)
		doc = append(doc, '}')
	}
	doc = append(doc, ']')
	rows, err := q.q.QueryContext(ctx, getConnectionsSQL, q.d.hot(string(doc), int64(len(ks)))...)
	if err != nil {
		return out, err
	}
	found, err := collect(rows, scanConnection)
	if err != nil {
		return out, err
	}
	for i, k := range ks {
		j := slices.IndexFunc(found, func(c connections.Connection) bool { return c.ID == k.id && c.OrgID == k.orgID })
		if j < 0 {
			// What the single-row statement's sql.ErrNoRows becomes.
			out[i] = connRead{done: true, err: q.wrap(sql.ErrNoRows, "get connection %s in org %s", k.id, k.orgID)}
			continue
		}
		out[i] = connRead{done: true, c: found[j]}
	}
	return out, nil
}

// appendRecord appends vals as one JSON object keyed by cols, each value as
// json_populate_recordset converts it to its column's type as a placeholder's would be:
// bytes in bytea's hex form, the scopes column's JSON text as is. ok is false for a value
// JSON would change (a string that is not UTF-8) or a type it does not render.
func appendRecord(b []byte, cols []string, vals []any) (out []byte, ok bool) {
	b = append(b, '{')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, cols[i]...)
		b = append(b, '"', ':')
		switch x := v.(type) {
		case nil:
			b = append(b, "null"...)
		case string:
			if !utf8.ValidString(x) {
				return nil, false
			}
			if cols[i] == "scopes" {
				b = append(b, x...) // jsonArg's output: JSON already
			} else {
				b = appendJSONString(b, x)
			}
		case []byte:
			if x == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, `"\\x`...)
			b = hex.AppendEncode(b, x)
			b = append(b, '"')
		case int:
			b = strconv.AppendInt(b, int64(x), 10)
		case int64:
			b = strconv.AppendInt(b, x, 10)
		default:
			return nil, false
		}
	}
	return append(b, '}'), true
}
