package httpapi

import (
	"errors"
	"net/http"
	"time"

	"tether/sync/events"
)

// handleListEvents is GET /v1/orgs/{org}/events?kind=&subject=&since=&limit=&cursor=: the
// org's audit log, newest first, {"events":[…],"next_cursor":"…"}. kind is one kind or,
// ending in ".", every kind under it; since is a duration back from now (24h) or an RFC
// 3339 time.
func (s *Server) handleListEvents() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, q := r.PathValue("org"), r.URL.Query()
		since, err := events.ParseSince(q.Get("since"), time.Now())
		if err != nil {
			s.eventsError(w, org, err)
			return
		}
		// The listing routes' one limit check (1 to 1000, invalid_limit).
		limit, ok := pageParam(w, r)
		if !ok {
			return
		}
		p, err := events.List(r.Context(), s.p.Events, org, events.Query{Kind: q.Get("kind"), Subject: q.Get("subject"),
			Since: since, Cursor: q.Get("cursor"), Limit: limit})
		if err != nil {
			s.eventsError(w, org, err)
			return
		}
		writeJSON(w, http.StatusOK, EventPageOf(p))
	})
}

func (s *Server) eventsError(w http.ResponseWriter, org string, err error) {
	var ee *events.Error
	switch {
	case errors.As(err, &ee) && ee.Code == events.CodeOrgNotFound:
		writeError(w, http.StatusNotFound, APIError{Code: ee.Code, Message: ee.Message})
	case errors.As(err, &ee):
		writeError(w, http.StatusBadRequest, APIError{Code: ee.Code, Message: ee.Message})
	default:
		s.log.Error().Err(err).Str("org_id", org).Msg("list events")
		writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "the events could not be read; see the server log"})
	}
}

// EventJSON is one audit event as the API answers it.
type EventJSON struct {
	ID      string         `json:"id"`
	Kind    string         `json:"kind"`
	Subject string         `json:"subject,omitempty"`
	At      time.Time      `json:"at"`
	Detail  map[string]any `json:"detail"`
}

// EventPageJSON is GET /v1/orgs/{org}/events's answer: one page, newest first, and the
// cursor of the next when more remain.
type EventPageJSON struct {
	Events []EventJSON `json:"events"`
	Next   string      `json:"next_cursor,omitempty"`
}

// EventPageOf is p as the route answers it (and tether events list --json prints it).
func EventPageOf(p events.Page) EventPageJSON {
	out := EventPageJSON{Events: make([]EventJSON, 0, len(p.Events)), Next: p.Next}
	for _, e := range p.Events {
		d := e.Detail
		if d == nil {
			d = map[string]any{}
		}
		out.Events = append(out.Events, EventJSON{ID: e.ID, Kind: e.Kind, Subject: e.Subject, At: e.At.UTC(), Detail: d})
	}
	return out
}
