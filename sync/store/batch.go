package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tether/sync/directory"
)

// LookupEmails returns, in one query, what the directory knows about each email relative
// to orgID: the user with that email, the user's membership in the org, the org's pending
// invite for it (PendingInviteID if unexpired at at, LapsedInviteID if past its expiry but
// not yet marked expired), and whether the user belongs to another org. Emails
// are normalised; the result has one entry per distinct normalised email, keyed by it.
func (q *Queries) LookupEmails(ctx context.Context, orgID string, emails []string, at time.Time) (map[string]directory.EmailSituation, error) {
	if err := requireOrg(orgID); err != nil {
		return nil, err
	}
	out := make(map[string]directory.EmailSituation, len(emails))
	list := make([]string, 0, len(emails))
	for _, e := range emails {
		e = directory.NormalizeEmail(e)
		if _, dup := out[e]; dup || e == "" {
			continue
		}
		out[e] = directory.EmailSituation{Email: e}
		list = append(list, e)
	}
	if len(list) == 0 {
		return out, nil
	}
	arg, err := jsonArg(list)
	if err != nil {
		return nil, fmt.Errorf("look up emails in org %s: %w", orgID, err)
	}
	rows, err := q.q.QueryContext(ctx, `SELECT e.value, u.id, m.id, m.status, i.id,
  CASE WHEN i.expires_at > $3 THEN 1 ELSE 0 END,
  CASE WHEN EXISTS (SELECT 1 FROM memberships o WHERE o.user_id = u.id AND o.org_id <> $1) THEN 1 ELSE 0 END
FROM `+q.d.textSet("$2")+` e
LEFT JOIN users u ON u.email = e.value
LEFT JOIN memberships m ON m.org_id = $1 AND m.user_id = u.id
LEFT JOIN invites i ON i.org_id = $1 AND i.email = e.value AND i.status = 'pending'`,
		orgID, arg, tm(at))
	if err != nil {
		return nil, q.wrap(err, "look up emails in org %s", orgID)
	}
	found, err := collect(rows, func(r scanner) (directory.EmailSituation, error) {
		var s directory.EmailSituation
		var status string
		var other, live int
		var invite string
		err := r.Scan(&s.Email, ns(&s.UserID), ns(&s.MembershipID), ns(&status), ns(&invite), &live, &other)
		if live == 1 {
			s.PendingInviteID = invite
		} else {
			s.LapsedInviteID = invite
		}
		s.MembershipStatus = directory.MembershipStatus(status)
		s.InOtherOrg = other == 1
		return s, err
	})
	if err != nil {
		return nil, q.wrap(err, "look up emails in org %s", orgID)
	}
	for _, s := range found {
		out[s.Email] = s
	}
	return out, nil
}

// ImportPage is one page of an import's writes.
type ImportPage struct {
	// Users are new users (email normalised; ID and CreatedAt defaulted).
	Users []directory.User
	// Memberships are new memberships, typically pending multi-account ones backed by an
	// invite. OrgID is forced to the page's org.
	Memberships []directory.Membership
	// Invites are new invites. OrgID is forced to the page's org.
	Invites []directory.Invite
}

// ImportPageResult lists the ids of the rows InsertImportPage actually inserted.
type ImportPageResult struct {
	UserIDs       []string
	MembershipIDs []string
	InviteIDs     []string
}

// InsertImportPage inserts p into orgID in one transaction with one INSERT per table
// (PostgreSQL: users and invites from one JSON document, memberships multi-row; SQLite:
// multi-row, more than one only past its placeholder limit, about 1,400 invites). Rows that conflict with existing ones (a user with the
// email, a membership of the user in the org, a pending invite for the email or the same
// id) are skipped, so re-running a page after a crash creates no duplicates; the result
// says which rows were inserted. Called on the Queries of Store.InTx, it joins that
// transaction (use LockOrgSeats first to check seats). Returns directory.ErrNotFound if a row refers
// to a missing org, user, group or import of the org, directory.ErrInvalid for an unknown role,
// empty token hash or no expiry.
func (q *Queries) InsertImportPage(ctx context.Context, orgID string, p ImportPage) (ImportPageResult, error) {
	var res ImportPageResult
	if err := requireOrg(orgID); err != nil {
		return res, err
	}
	now := time.Now()
	users := make([][]any, 0, len(p.Users))
	for _, u := range p.Users {
		u.Email = directory.NormalizeEmail(u.Email)
		if u.ID == "" {
			u.ID = newID()
		}
		if u.CreatedAt.IsZero() {
			u.CreatedAt = now
		}
		users = append(users, []any{u.ID, u.Email, u.Name, nullStr(u.FavouriteOrgID), tm(u.CreatedAt)})
	}
	members := make([][]any, 0, len(p.Memberships))
	for _, m := range p.Memberships {
		if err := prepareMembership(orgID, &m, now); err != nil {
			return res, fmt.Errorf("insert import page in org %s: %w", orgID, err)
		}
		args, err := membershipArgs(m)
		if err != nil {
			return res, fmt.Errorf("insert import page in org %s: %w", orgID, err)
		}
		members = append(members, append(args, m.NeedsAction(), directory.AdminActs(m.ActionRequired)))
	}
	invites := make([][]any, 0, len(p.Invites))
	for _, i := range p.Invites {
		if err := prepareInvite(orgID, &i, now); err != nil {
			return res, fmt.Errorf("insert import page in org %s: %w", orgID, err)
		}
		invites = append(invites, inviteArgs(i))
	}
	err := q.inTx(ctx, func(tx *Queries) error {
		var err error
		if res.UserIDs, err = tx.insertRows(ctx, "users", userCols, users); err != nil {
			return err
		}
		if res.MembershipIDs, err = tx.insertRows(ctx, "memberships", membershipCols+", action_required, action_admin", members); err != nil {
			return err
		}
		res.InviteIDs, err = tx.insertRows(ctx, "invites", inviteCols, invites)
		return err
	})
	if err != nil {
		return ImportPageResult{}, fmt.Errorf("insert import page in org %s: %w", orgID, err)
	}
	return res, nil
}

// insertRows inserts rows into table with multi-row INSERTs, skipping conflicting rows,
// and returns the ids of the rows inserted. Each row's first value is its id.
func (q *Queries) insertRows(ctx context.Context, table, cols string, rows [][]any) ([]string, error) {
	return q.insertRowsReturning(ctx, table, cols, "id", rows)
}

// insertRowsReturning is insertRows returning the column key of the inserted rows.
func (q *Queries) insertRowsReturning(ctx context.Context, table, cols, key string, rows [][]any) ([]string, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	if q.d.recordset && recordsetTables[table] {
		if doc, ok := recordsJSON(cols, rows); ok {
			return q.insertRecordset(ctx, table, cols, key, doc, len(rows))
		}
	}
	width := len(rows[0])
	per := q.d.maxParams / width
	var ids []string
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		var sb strings.Builder
		sb.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
		args := make([]any, 0, len(chunk)*width)
		for i, r := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			if q.d.positional {
				sb.WriteString(questionMarks(width))
			} else {
				sb.WriteString(placeholders(len(args)+1, width))
			}
			args = append(args, r...)
		}
		sb.WriteString(" ON CONFLICT DO NOTHING RETURNING " + key)
		r, err := q.q.QueryContext(ctx, sb.String(), args...)
		if err != nil {
			return nil, q.wrap(err, "insert %d rows into %s", len(chunk), table)
		}
		got, err := collect(r, func(s scanner) (string, error) {
			var id string
			return id, s.Scan(&id)
		})
		if err != nil {
			return nil, q.wrap(err, "insert %d rows into %s", len(chunk), table)
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// recordsetTables are the tables insertRows may fill from one JSON document: none of
// their columns is JSON, whose arguments are JSON text and would be stored as a JSON
// string instead of the value.
var recordsetTables = map[string]bool{"invites": true, "import_skipped": true, "users": true}

// insertRecordset inserts the rows of doc (recordsJSON) into table in one statement,
// each value converted to its column's type as a placeholder's would be, conflicting rows
// skipped; it returns the key of the rows inserted.
func (q *Queries) insertRecordset(ctx context.Context, table, cols, key, doc string, n int) ([]string, error) {
	r, err := q.q.QueryContext(ctx, "INSERT INTO "+table+" ("+cols+") SELECT "+cols+
		" FROM json_populate_recordset(NULL::"+table+", $1::json) ON CONFLICT DO NOTHING RETURNING "+key, doc)
	if err != nil {
		return nil, q.wrap(err, "insert %d rows into %s", n, table)
	}
	ids, err := collect(r, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	})
	if err != nil {
		return nil, q.wrap(err, "insert %d rows into %s", n, table)
	}
	return ids, nil
}

// recordsJSON renders rows as a JSON array of objects keyed by cols. ok is false if a
// value is of a type it does not render (the caller then binds placeholders).
func recordsJSON(cols string, rows [][]any) (doc string, ok bool) {
	names := strings.Split(cols, ",")
	keys := make([][]byte, len(names))
	for i, c := range names {
		keys[i], _ = json.Marshal(strings.TrimSpace(c))
		keys[i] = append(keys[i], ':')
	}
	b := make([]byte, 0, 256*len(rows))
	b = append(b, '[')
	for i, r := range rows {
		if len(r) != len(keys) {
			return "", false
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for j, v := range r {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, keys[j]...)
			switch x := v.(type) {
			case nil:
				b = append(b, "null"...)
			case string:
				if !utf8.ValidString(x) {
					return "", false // JSON would replace the bytes; a placeholder refuses them
				}
				b = appendJSONString(b, x)
			case bool:
				b = strconv.AppendBool(b, x)
			case int:
				b = strconv.AppendInt(b, int64(x), 10)
			case int64:
				b = strconv.AppendInt(b, x, 10)
			default:
				return "", false
			}
		}
		b = append(b, '}')
	}
	return string(append(b, ']')), true
}

// appendJSONString appends s as a JSON string: as is when nothing in it needs escaping
// (ids, emails, times: nearly every value), else as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			e, _ := json.Marshal(s)
			return append(b, e...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// questionMarks returns "(?, …, ?)" with n marks.
func questionMarks(n int) string {
	return "(?" + strings.Repeat(", ?", n-1) + ")"
}
