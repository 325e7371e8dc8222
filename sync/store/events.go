package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"tether/sync/directory"
	"tether/sync/events"
)

// AppendEvent adds e to the audit log. An empty ID gets a new one, a zero At is now, a nil
// Detail is {}. e.OrgID may be empty (a system event). Returns directory.ErrNotFound if e.OrgID
// names no org.
func (q *Queries) AppendEvent(ctx context.Context, e events.Event) error {
	stamp(&e.ID, &e.At, time.Now())
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	// Subjects and details carry provider text (error descriptions, account ids):
	// clipped, not refused, so the event is kept.
	e.Subject = directory.Clip(e.Subject, directory.MaxProviderText)
	for k, v := range e.Detail {
		if s, ok := v.(string); ok {
			e.Detail[k] = directory.Clip(s, directory.MaxProviderText)
		}
	}
	detail, err := jsonArg(e.Detail)
	if err != nil {
		return fmt.Errorf("append event %s: %w", e.Kind, err)
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO events (id, org_id, kind, subject, detail, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.ID, nullStr(e.OrgID), e.Kind, e.Subject, detail, tm(e.At))
	return q.wrap(err, "append event %s", e.Kind)
}

// ListEvents returns the org's events, newest first, at most limit (<= 0 means 1000).
func (q *Queries) ListEvents(ctx context.Context, orgID string, limit int) ([]events.Event, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id, org_id, kind, subject, detail, at FROM events
WHERE org_id = $1 ORDER BY at DESC, id DESC LIMIT $2`, orgID, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list events of org %s", orgID)
	}
	return collect(rows, func(s scanner) (events.Event, error) {
		var e events.Event
		err := s.Scan(&e.ID, ns(&e.OrgID), &e.Kind, &e.Subject, js(&e.Detail), ts(&e.At))
		return e, err
	})
}

// ListEventsPage returns the org's events matching f, newest first (at, then id,
// descending), at most f.Limit (<= 0 means 1000). The org's (at, id) index orders them;
// the kind and subject are checked on the rows it walks.
func (q *Queries) ListEventsPage(ctx context.Context, orgID string, f events.Filter) ([]events.Event, error) {
	where, args := []string{"org_id = $1"}, []any{orgID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	switch {
	case f.KindPrefix:
		// substr, not LIKE: kinds hold underscores, LIKE's wildcard.
		where = append(where, fmt.Sprintf("substr(kind, 1, %s) = %s", arg(utf8.RuneCountInString(f.Kind)), arg(f.Kind)))
	case f.Kind != "":
		where = append(where, "kind = "+arg(f.Kind))
	}
	if f.Subject != "" {
		where = append(where, "subject = "+arg(f.Subject))
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= "+arg(tm(f.Since)))
	}
	if !f.BeforeAt.IsZero() {
		at := arg(tm(f.BeforeAt))
		where = append(where, fmt.Sprintf("(at < %s OR (at = %s AND id < %s))", at, at, arg(f.BeforeID)))
	}
	rows, err := q.q.QueryContext(ctx, `SELECT id, org_id, kind, subject, detail, at FROM events
WHERE `+strings.Join(where, " AND ")+` ORDER BY at DESC, id DESC LIMIT `+arg(pageSize(f.Limit)), args...)
	if err != nil {
		return nil, q.wrap(err, "list events of org %s", orgID)
	}
	return collect(rows, func(s scanner) (events.Event, error) {
		var e events.Event
		err := s.Scan(&e.ID, ns(&e.OrgID), &e.Kind, &e.Subject, js(&e.Detail), ts(&e.At))
		return e, err
	})
}

// PruneEvents deletes every event (of every org) older than before and returns how many.
func (q *Queries) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := q.q.ExecContext(ctx, `DELETE FROM events WHERE at < $1`, tm(before))
	if err != nil {
		return 0, q.wrap(err, "prune events")
	}
	n, err := res.RowsAffected()
	return n, q.wrap(err, "prune events")
}

var _ events.Store = (*Store)(nil)
