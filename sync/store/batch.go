package store

import (
	"context"
	"fmt"
	"strings"
	"time"

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

// InsertImportPage inserts p into orgID in one transaction with one multi-row INSERT per
// table (more only past the backend's placeholder limit: about 3,600 invites on
// PostgreSQL, 1,800 on SQLite). Rows that conflict with existing ones (a user with the
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

// questionMarks returns "(?, …, ?)" with n marks.
func questionMarks(n int) string {
	return "(?" + strings.Repeat(", ?", n-1) + ")"
}
