package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"tether/sync/connections"
	"tether/sync/directory"
)

const connectionCols = `id, org_id, membership_id, kind, access_token_enc, refresh_token_enc, pending_token_enc,
expires_at, scopes, provider_account_id, provider_org_id, instance_url, login_url, state,
consecutive_failures, last_error_code, last_error_description, last_refreshed_at, last_verified_at,
next_refresh_at, version, refresh_fence, created_at, updated_at, failure_class, failure_subcode,
failure_reason, failure_cause, next_attempt_at, failing_since`

func scanConnection(r scanner) (connections.Connection, error) {
	var c connections.Connection
	err := r.Scan(&c.ID, &c.OrgID, ns(&c.MembershipID), &c.Kind, &c.AccessTokenEnc, &c.RefreshTokenEnc,
		&c.PendingTokenEnc, ts(&c.ExpiresAt), js(&c.Scopes), &c.ProviderAccountID, &c.ProviderOrgID,
		&c.InstanceURL, &c.LoginURL, &c.State, &c.ConsecutiveFailures, &c.LastErrorCode,
		&c.LastErrorDescription, ts(&c.LastRefreshedAt), ts(&c.LastVerifiedAt), ts(&c.NextRefreshAt),
		&c.Version, &c.RefreshFence, ts(&c.CreatedAt), ts(&c.UpdatedAt), &c.FailureClass, &c.FailureSubCode,
		&c.FailureReason, &c.FailureCause, ts(&c.NextAttemptAt), ts(&c.FailingSince))
	return c, err
}

// clipConnection cuts the provider-sourced strings of c to their limits (see
// directory.Clip): a provider's odd answer is kept, shortened, never refused.
func clipConnection(c *connections.Connection) {
	c.ProviderAccountID = directory.Clip(c.ProviderAccountID, directory.MaxProviderID)
	c.ProviderOrgID = directory.Clip(c.ProviderOrgID, directory.MaxProviderID)
	c.InstanceURL = directory.Clip(c.InstanceURL, directory.MaxProviderURL)
	c.LoginURL = directory.Clip(c.LoginURL, directory.MaxProviderURL)
	c.LastErrorCode = directory.Clip(c.LastErrorCode, directory.MaxProviderCode)
	c.LastErrorDescription = directory.Clip(c.LastErrorDescription, directory.MaxProviderText)
	c.FailureSubCode = directory.Clip(c.FailureSubCode, directory.MaxProviderCode)
	c.FailureReason = directory.Clip(c.FailureReason, directory.MaxProviderText)
	for i, s := range c.Scopes {
		c.Scopes[i] = directory.Clip(s, directory.MaxProviderCode)
	}
}

// connectionFields are the values of the mutable columns, from access_token_enc to
// next_refresh_at, in connectionCols order.
func connectionFields(c connections.Connection) ([]any, error) {
	scopes, err := jsonArg(strs(c.Scopes))
	if err != nil {
		return nil, err
	}
	return []any{c.AccessTokenEnc, c.RefreshTokenEnc, c.PendingTokenEnc, tm(c.ExpiresAt), scopes,
		c.ProviderAccountID, c.ProviderOrgID, c.InstanceURL, c.LoginURL, string(c.State),
		c.ConsecutiveFailures, c.LastErrorCode, c.LastErrorDescription, tm(c.LastRefreshedAt),
		tm(c.LastVerifiedAt), tm(c.NextRefreshAt)}, nil
}

// CreateConnection inserts c into orgID (c.OrgID is ignored) with version 1 and returns it
// as stored. Defaults: a new ID (set it yourself when the vault must encrypt with it
// first), state missing, CreatedAt now. MembershipID must be empty for org-level kinds
// and set for the others. Returns directory.ErrDuplicate if the owner already has a connection of
// the kind, directory.ErrNotFound if the org or membership does not exist in the org, directory.ErrInvalid
// for an unknown kind or a wrong owner.
func (q *Queries) CreateConnection(ctx context.Context, orgID string, c connections.Connection) (connections.Connection, error) {
	if err := requireOrg(orgID); err != nil {
		return connections.Connection{}, err
	}
	c.OrgID = orgID
	if c.State == "" {
		c.State = connections.StateMissing
	}
	stamp(&c.ID, &c.CreatedAt, time.Now())
	c.UpdatedAt = c.CreatedAt
	c.Version = 1
	if !c.Kind.Valid() || c.Kind.OrgLevel() != (c.MembershipID == "") {
		return connections.Connection{}, fmt.Errorf("create connection %s: kind %q with membership %q: %w",
			c.ID, c.Kind, c.MembershipID, directory.ErrInvalid)
	}
	clipConnection(&c)
	fields, err := connectionFields(c)
	if err != nil {
		return connections.Connection{}, fmt.Errorf("create connection %s: %w", c.ID, err)
	}
	args := append([]any{c.ID, orgID, nullStr(c.MembershipID), string(c.Kind)}, fields...)
	args = append(args, c.Version, c.RefreshFence, tm(c.CreatedAt), tm(c.UpdatedAt), string(c.FailureClass),
		c.FailureSubCode, c.FailureReason, string(c.FailureCause), tm(c.NextAttemptAt), tm(c.FailingSince))
	_, err = q.q.ExecContext(ctx, `INSERT INTO connections (`+connectionCols+`) VALUES `+placeholders(1, len(args)), args...)
	if err != nil {
		return connections.Connection{}, q.wrap(err, "create connection %s in org %s", c.ID, orgID)
	}
	return c, nil
}

// EnsureConnection returns the owner's connection of kind, creating it in state missing
// (at time at) if there is none, so the caller has a stable row id to encrypt tokens
// with before writing them through UpdateConnection. membershipID is "" for org-level
// kinds. Safe to call concurrently: one row results. Errors as CreateConnection.
func (q *Queries) EnsureConnection(ctx context.Context, orgID, membershipID string, kind connections.Kind, at time.Time) (connections.Connection, error) {
	c, err := q.FindConnection(ctx, orgID, membershipID, kind)
	if !errors.Is(err, directory.ErrNotFound) {
		return c, err
	}
	c, err = q.CreateConnection(ctx, orgID, connections.Connection{MembershipID: membershipID, Kind: kind, CreatedAt: at})
	if errors.Is(err, directory.ErrDuplicate) {
		// Another caller created it between our read and insert.
		return q.FindConnection(ctx, orgID, membershipID, kind)
	}
	return c, err
}

// GetConnection returns the org's connection id. Returns directory.ErrNotFound if the org has none
// with that id. On PostgreSQL, concurrent calls on the pool share one statement (see
// connGroups).
func (q *Queries) GetConnection(ctx context.Context, orgID, id string) (connections.Connection, error) {
	if q.g != nil && utf8.ValidString(orgID) && utf8.ValidString(id) {
		r := q.g.reads.do(ctx, id, connKey{orgID, id}, func(err error) connRead {
			return connRead{done: true, err: q.wrap(err, "get connection %s in org %s", id, orgID)}
		})
		if r.done {
			return r.c, r.err
		}
	}
	return q.getConnection(ctx, orgID, id)
}

// getConnection is GetConnection's single-row statement.
func (q *Queries) getConnection(ctx context.Context, orgID, id string) (connections.Connection, error) {
	c, err := scanConnection(q.q.QueryRowContext(ctx,
		`SELECT `+connectionCols+` FROM connections WHERE org_id = $1 AND id = $2`, q.d.hot(orgID, id)...))
	if err != nil {
		return connections.Connection{}, q.wrap(err, "get connection %s in org %s", id, orgID)
	}
	return c, nil
}

// FindConnection returns the connection of kind owned by membershipID in orgID (or the
// org's own, for membershipID ""). Returns directory.ErrNotFound if there is none.
func (q *Queries) FindConnection(ctx context.Context, orgID, membershipID string, kind connections.Kind) (connections.Connection, error) {
	c, err := scanConnection(q.q.QueryRowContext(ctx, `SELECT `+connectionCols+` FROM connections
WHERE org_id = $1 AND coalesce(membership_id, '') = $2 AND kind = $3`, orgID, membershipID, string(kind)))
	if err != nil {
		return connections.Connection{}, q.wrap(err, "find %s connection of membership %q in org %s", kind, membershipID, orgID)
	}
	return c, nil
}

// GetTeamConnection returns the org's salesforce_team connection. Returns directory.ErrNotFound if
// the org has none.
func (q *Queries) GetTeamConnection(ctx context.Context, orgID string) (connections.Connection, error) {
	return q.FindConnection(ctx, orgID, "", connections.KindSalesforceTeam)
}

// ListConnections returns the org's connections owned by membershipID ("" for every
// connection of the org), in id order.
func (q *Queries) ListConnections(ctx context.Context, orgID, membershipID string) ([]connections.Connection, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+connectionCols+` FROM connections
WHERE org_id = $1 AND ($2 = '' OR membership_id = $2) ORDER BY id`, orgID, membershipID)
	if err != nil {
		return nil, q.wrap(err, "list connections of membership %q in org %s", membershipID, orgID)
	}
	return collect(rows, scanConnection)
}

// UpdateConnection writes c's tokens, expiry, scopes, provider fields, state, failure and
// error fields (class, sub-code, reason, cause, streak start), schedule (next refresh, next
// attempt) and refresh fence, if and only if the stored version is still
// c.Version (compare and swap) and the stored refresh fence is not above c.RefreshFence,
// and returns c with its new version and UpdatedAt = at. The owner and kind never change.
// Returns directory.ErrConflict if the version moved (someone else wrote first: re-read and decide
// again) or a newer lease holder's refresh is stored, directory.ErrNotFound if the org has no
// connection c.ID. On PostgreSQL, concurrent calls on the pool are written by one
// statement, so one commit (see connGroups); each returns once its own write committed
// or failed, with its own error.
func (q *Queries) UpdateConnection(ctx context.Context, orgID string, c connections.Connection, at time.Time) (connections.Connection, error) {
	clipConnection(&c)
	fields, err := connectionFields(c)
	if err != nil {
		return connections.Connection{}, fmt.Errorf("update connection %s: %w", c.ID, err)
	}
	args := append([]any{orgID, c.ID, c.Version, tm(at)}, fields...)
	args = append(args, c.RefreshFence, string(c.FailureClass), c.FailureSubCode, c.FailureReason,
		string(c.FailureCause), tm(c.NextAttemptAt), tm(c.FailingSince))
	var r connWrite
	if q.g != nil {
		if row, ok := appendRecord(nil, updateCols, args); ok {
			r = q.g.updates.do(ctx, c.ID, connUpdate{args: args, row: row}, func(err error) connWrite {
				return connWrite{outcome: writeFailed, err: q.wrap(err, "update connection %s in org %s", c.ID, orgID)}
			})
		}
	}
	if r.outcome == writeAlone {
		r = q.updateConnection(ctx, args)
	}
	switch r.outcome {
	case writeFailed:
		return connections.Connection{}, r.err
	case writeUnmatched:
		cur, gerr := q.GetConnection(ctx, orgID, c.ID)
		if gerr != nil {
			return connections.Connection{}, gerr
		}
		return connections.Connection{}, fmt.Errorf("update connection %s in org %s: version %d is now %d, refresh fence %d is now %d: %w",
			c.ID, orgID, c.Version, cur.Version, c.RefreshFence, cur.RefreshFence, directory.ErrConflict)
	}
	c.Version++
	c.OrgID = orgID
	c.UpdatedAt = at.UTC().Truncate(time.Microsecond)
	return c, nil
}

// updateCols name UpdateConnection's arguments, in order: the row's key, the version and
// time, then the columns written (the refresh fence also bounds the stored one).
var updateCols = strings.Fields(`org_id id version updated_at access_token_enc refresh_token_enc
pending_token_enc expires_at scopes provider_account_id provider_org_id instance_url login_url
state consecutive_failures last_error_code last_error_description last_refreshed_at
last_verified_at next_refresh_at refresh_fence failure_class failure_subcode failure_reason
failure_cause next_attempt_at failing_since`)

// updateConnectionSQL is the single-row UpdateConnection, built from updateCols as the
// grouped one is, so the two cannot write different columns.
var updateConnectionSQL = func() string {
	var b strings.Builder
	b.WriteString("UPDATE connections SET version = version + 1")
	fence := 0
	for i, col := range updateCols[3:] {
		n := i + 4
		if col == "refresh_fence" {
			fence = n
		}
		fmt.Fprintf(&b, ", %s = $%d", col, n)
	}
	fmt.Fprintf(&b, " WHERE org_id = $1 AND id = $2 AND version = $3 AND refresh_fence <= $%d", fence)
	return b.String()
}()

// updateConnection is UpdateConnection's single-row statement, on args in updateCols order.
func (q *Queries) updateConnection(ctx context.Context, args []any) connWrite {
	res, err := q.q.ExecContext(ctx, updateConnectionSQL, q.d.hot(args...)...)
	if err := q.affected(res, err, "update connection %s in org %s", args[1], args[0]); err != nil {
		if !errors.Is(err, directory.ErrNotFound) {
			return connWrite{outcome: writeFailed, err: err}
		}
		return connWrite{outcome: writeUnmatched}
	}
	return connWrite{outcome: writeWritten}
}

// DueParams pages through connections due for refresh.
type DueParams struct {
	// Before selects connections whose next refresh is at or before it.
	Before time.Time
	// AfterTime and AfterID continue after the last row of the previous page (its
	// NextRefreshAt and ID); zero for the first page.
	AfterTime time.Time
	AfterID   string
	// Limit caps the page; <= 0 means 1000.
	Limit int
}

// ListConnectionsDue returns connections whose next refresh is due, ordered by
// (NextRefreshAt, ID). A system-wide sweep, not scoped to one org: the caller enqueues
// one task per connection carrying its org id. Revoked connections are never due.
func (q *Queries) ListConnectionsDue(ctx context.Context, p DueParams) ([]connections.Connection, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+connectionCols+` FROM connections
WHERE next_refresh_at IS NOT NULL AND next_refresh_at <= $1 AND state <> 'revoked'
  AND (next_refresh_at > $2 OR (next_refresh_at = $2 AND id > $3))
ORDER BY next_refresh_at, id LIMIT $4`,
		tm(p.Before), tm(orEpoch(p.AfterTime)), p.AfterID, pageSize(p.Limit))
	if err != nil {
		return nil, q.wrap(err, "list connections due before %s", p.Before.Format(time.RFC3339))
	}
	return collect(rows, scanConnection)
}

// ListDueConnections is ListConnectionsDue without the tokens and provider fields: what the
// sweep needs to decide and enqueue, read through the connections_due index.
func (q *Queries) ListDueConnections(ctx context.Context, p connections.DueQuery) ([]connections.Due, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id, org_id, membership_id, kind, state, next_refresh_at,
last_refreshed_at, last_verified_at, expires_at FROM connections
WHERE next_refresh_at IS NOT NULL AND next_refresh_at <= $1 AND state <> 'revoked'
  AND (next_refresh_at > $2 OR (next_refresh_at = $2 AND id > $3))
ORDER BY next_refresh_at, id LIMIT $4`,
		tm(p.Before), tm(orEpoch(p.AfterTime)), p.AfterID, pageSize(p.Limit))
	if err != nil {
		return nil, q.wrap(err, "list connections due before %s", p.Before.Format(time.RFC3339))
	}
	return collect(rows, func(r scanner) (connections.Due, error) {
		var d connections.Due
		err := r.Scan(&d.ID, &d.OrgID, ns(&d.MembershipID), &d.Kind, &d.State, ts(&d.NextRefreshAt),
			ts(&d.LastRefreshedAt), ts(&d.LastVerifiedAt), ts(&d.ExpiresAt))
		return d, err
	})
}

// orEpoch turns the zero time into one before any stored time, for keyset paging.
func orEpoch(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0)
	}
	return t
}

// RecordAPIUsage stores the org's latest Salesforce API usage. An older reading than the
// one stored is ignored, so out-of-order responses cannot move it backwards. Returns
// directory.ErrNotFound if the org does not exist.
func (q *Queries) RecordAPIUsage(ctx context.Context, orgID string, u connections.APIUsage) error {
	if err := requireOrg(orgID); err != nil {
		return err
	}
	_, err := q.q.ExecContext(ctx, `INSERT INTO salesforce_api_usage (org_id, used, max, recorded_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (org_id) DO UPDATE SET used = excluded.used, max = excluded.max, recorded_at = excluded.recorded_at
WHERE excluded.recorded_at >= salesforce_api_usage.recorded_at`, orgID, u.Used, u.Max, tm(u.RecordedAt))
	return q.wrap(err, "record api usage of org %s", orgID)
}

// GetAPIUsage returns the org's latest recorded Salesforce API usage. Returns directory.ErrNotFound
// if none was recorded.
func (q *Queries) GetAPIUsage(ctx context.Context, orgID string) (connections.APIUsage, error) {
	u := connections.APIUsage{OrgID: orgID}
	err := q.q.QueryRowContext(ctx, `SELECT used, max, recorded_at FROM salesforce_api_usage WHERE org_id = $1`,
		orgID).Scan(&u.Used, &u.Max, ts(&u.RecordedAt))
	if err != nil {
		return connections.APIUsage{}, q.wrap(err, "get api usage of org %s", orgID)
	}
	return u, nil
}
