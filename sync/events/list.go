package events

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"tether/sync/directory"
)

// MaxPage caps one page of List; DefaultPage is the page when none is asked for.
const (
	MaxPage     = 1000
	DefaultPage = 100
)

// Query selects an org's events for List, newest first.
type Query struct {
	// Kind is one kind ("connection.connected") or, ending in ".", every kind under it
	// ("connection.").
	Kind string
	// Subject is the id the events are about: a connection, a member, an invite, a check.
	Subject string
	// Since leaves out events before it; zero keeps every one.
	Since time.Time
	// Cursor is a previous page's Next; empty starts at the newest.
	Cursor string
	// Limit is the page's size, 1 to MaxPage; 0 means DefaultPage.
	Limit int
}

// Page is one page of List; Next is the cursor of the following one, empty on the last.
type Page struct {
	Events []Event
	Next   string
}

// Filter is a Query as the store reads it: the cursor decoded into the position the page
// starts below (events at BeforeAt with an id below BeforeID, or older).
type Filter struct {
	Kind       string
	KindPrefix bool
	Subject    string
	Since      time.Time
	BeforeAt   time.Time
	BeforeID   string
	Limit      int
}

// Lister is what List reads.
type Lister interface {
	GetOrg(ctx context.Context, orgID string) (directory.Org, error)
	// ListEventsPage returns the org's events matching f, newest first (at, then id,
	// descending), at most f.Limit.
	ListEventsPage(ctx context.Context, orgID string, f Filter) ([]Event, error)
}

// Error codes of List, for the API and the CLI.
const (
	CodeOrgNotFound   = "org_not_found"
	CodeInvalidCursor = "invalid_cursor"
	CodeInvalidQuery  = "invalid_query"
)

// Error is a refusal a person can act on.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func refuse(code, format string, a ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// List returns a page of the org's audit log matching q, newest first.
func List(ctx context.Context, st Lister, orgID string, q Query) (Page, error) {
	if _, err := st.GetOrg(ctx, orgID); errors.Is(err, directory.ErrNotFound) {
		return Page{}, refuse(CodeOrgNotFound, "no org with id %q: tether org list (GET /v1/orgs) lists the orgs", orgID)
	} else if err != nil {
		return Page{}, fmt.Errorf("list events of org %s: %w", orgID, err)
	}
	if q.Limit < 0 || q.Limit > MaxPage {
		return Page{}, refuse(CodeInvalidQuery, "limit %d: give a number from 1 to %d", q.Limit, MaxPage)
	}
	n := q.Limit
	if n == 0 {
		n = DefaultPage
	}
	for _, v := range []struct{ name, value string }{{"kind", q.Kind}, {"subject", q.Subject}} {
		if err := directory.CheckText(v.name, v.value, directory.MaxProviderText); err != nil {
			return Page{}, refuse(CodeInvalidQuery, "%s", err.Error())
		}
	}
	f := Filter{Kind: q.Kind, KindPrefix: strings.HasSuffix(q.Kind, "."), Subject: q.Subject, Since: q.Since, Limit: n + 1}
	if q.Cursor != "" {
		at, id, ok := decodeCursor(q.Cursor)
		if !ok {
			return Page{}, refuse(CodeInvalidCursor, "cursor %q is not one a page of events gave; start without it", q.Cursor)
		}
		f.BeforeAt, f.BeforeID = at, id
	}
	evs, err := st.ListEventsPage(ctx, orgID, f)
	if err != nil {
		return Page{}, fmt.Errorf("list events of org %s: %w", orgID, err)
	}
	p := Page{Events: evs}
	if len(evs) > n {
		p.Events = evs[:n]
		last := evs[n-1]
		p.Next = encodeCursor(last.At, last.ID)
	}
	return p, nil
}

// ParseSince reads a --since or since= value: a duration back from now ("24h", "90m") or
// an RFC 3339 time.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, refuse(CodeInvalidQuery, "since %q: give how far back, such as 24h or 90m, or a time such as 2026-03-01T09:00:00Z", s)
}

// A cursor is the last event's time and id: a position, so a page stays right when events
// are added above it or pruned below it.
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + " " + id))
}

func decodeCursor(c string) (time.Time, string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", false
	}
	ts, id, ok := strings.Cut(string(raw), " ")
	if !ok || id == "" {
		return time.Time{}, "", false
	}
	at, err := time.Parse(time.RFC3339Nano, ts)
	return at, id, err == nil
}
