package httpapi

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/vault"
)

// Connections is connection upkeep as the /v1/orgs/{org}/connections routes call it
// (*connections.Upkeep, the same the CLI calls).
type Connections interface {
	List(ctx context.Context, orgID, membershipID string) ([]connections.Connection, error)
	Refresh(ctx context.Context, orgID, id string, force bool) (connections.Result, error)
	Verify(ctx context.Context, orgID, id string, force bool) (connections.Result, error)
}

// ConnectionJSON is one connection's health as an operator reads it; never a token.
type ConnectionJSON struct {
	ID           string `json:"id"`
	MembershipID string `json:"membership_id,omitempty"` // empty: the org's team connection
	// MemberEmail is the member's email (lists only), so an operator reads who it is.
	MemberEmail string            `json:"member_email,omitempty"`
	Kind        connections.Kind  `json:"kind"`
	State       connections.State `json:"state"`
	Account     string            `json:"provider_account_id,omitempty"`
	// Actor is who must act: rep (reconnect), admin, operator; absent when nobody.
	Actor               string     `json:"actor,omitempty"`
	Class               string     `json:"failure_class,omitempty"`
	Code                string     `json:"code,omitempty"`
	SubCode             string     `json:"sub_code,omitempty"`
	Reason              string     `json:"reason,omitempty"`
	Cause               string     `json:"cause,omitempty"` // e.g. lost_during_refresh
	Detail              string     `json:"detail,omitempty"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	FailingSince        *time.Time `json:"failing_since,omitempty"`
	LastRefreshedAt     *time.Time `json:"last_refreshed_at,omitempty"`
	LastVerifiedAt      *time.Time `json:"last_verified_at,omitempty"`
	ExpiresAt           *time.Time `json:"expires_at,omitempty"`
	NextRefreshAt       *time.Time `json:"next_refresh_at,omitempty"`
	NextAttemptAt       *time.Time `json:"next_attempt_at,omitempty"`
}

// ConnectionJSONOf is c as the API shows it.
func ConnectionJSONOf(c connections.Connection) ConnectionJSON {
	return ConnectionJSON{ID: c.ID, MembershipID: c.MembershipID, Kind: c.Kind, State: c.State, Account: c.ProviderAccountID,
		Actor: string(c.Actor()), Class: string(c.FailureClass), Code: c.LastErrorCode, SubCode: c.FailureSubCode,
		Reason: c.FailureReason, Cause: string(c.FailureCause), Detail: c.LastErrorDescription,
		ConsecutiveFailures: c.ConsecutiveFailures, FailingSince: optTime(c.FailingSince),
		LastRefreshedAt: optTime(c.LastRefreshedAt), LastVerifiedAt: optTime(c.LastVerifiedAt), ExpiresAt: optTime(c.ExpiresAt),
		NextRefreshAt: optTime(c.NextRefreshAt), NextAttemptAt: optTime(c.NextAttemptAt)}
}

// UpkeepResultJSON is what POST .../refresh or .../verify did.
type UpkeepResultJSON struct {
	Op             string         `json:"op"`
	ProviderCalled bool           `json:"provider_called"`
	Skipped        string         `json:"skipped,omitempty"`
	Connection     ConnectionJSON `json:"connection"`
	// TimeZoneLearnt is the zone a verification found and recorded as the member's own
	// (the member had none); absent otherwise.
	TimeZoneLearnt string `json:"time_zone_learnt,omitempty"`
}

// handleListConnections is GET /v1/orgs/{org}/connections[?member=M]: the org's
// connections with their state, who must act and why, and when upkeep next calls. M is a
// membership id or an email; with the members and orgs services, an unknown member or org
// is a 404, never an empty list.
func (s *Server) handleListConnections() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orgID, member := r.PathValue("org"), r.URL.Query().Get("member")
		if member != "" && s.p.Members != nil {
			m, err := s.p.Members.Resolve(r.Context(), orgID, member)
			if err != nil {
				s.memberError(w, r, err)
				return
			}
			member = m.ID
		}
		cs, err := s.p.Connections.List(r.Context(), orgID, member)
		if err == nil && len(cs) == 0 && member == "" && s.p.Orgs != nil {
			// An org without connections, or no org at all: only the second is a 404.
			if _, oerr := s.p.Orgs.Show(r.Context(), orgID); oerr != nil {
				s.orgError(w, r, oerr)
				return
			}
		}
		if err != nil {
			s.log.Error().Err(err).Str("org", orgID).Msg("list connections")
			writeError(w, http.StatusServiceUnavailable, APIError{Code: "unavailable",
				Message: "the connections could not be read: the database did not answer; see the server log"})
			return
		}
		var emails map[string]string
		if s.p.Members != nil {
			if emails, err = s.p.Members.Emails(r.Context(), orgID, cs); err != nil {
				s.log.Error().Err(err).Str("org", orgID).Msg("list connections: members' emails")
				writeError(w, http.StatusServiceUnavailable, APIError{Code: "unavailable",
					Message: "the connections could not be read: the database did not answer; see the server log"})
				return
			}
		}
		writeJSON(w, http.StatusOK, ConnectionListOf(orgID, cs, emails))
	})
}

// ConnectionListJSON is GET /v1/orgs/{org}/connections's answer.
type ConnectionListJSON struct {
	OrgID       string           `json:"org_id"`
	Connections []ConnectionJSON `json:"connections"`
}

// ConnectionListOf is org's connections cs as the route lists them, each with its member's
// email from emails (keyed by membership id).
func ConnectionListOf(orgID string, cs []connections.Connection, emails map[string]string) ConnectionListJSON {
	out := ConnectionListJSON{OrgID: orgID, Connections: make([]ConnectionJSON, 0, len(cs))}
	for _, c := range cs {
		j := ConnectionJSONOf(c)
		j.MemberEmail = emails[c.MembershipID]
		out.Connections = append(out.Connections, j)
	}
	return out
}

// handleUpkeep is POST /v1/orgs/{org}/connections/{id}/refresh or /verify: runs it now,
// whatever the connection's schedule (a provider's Retry-After is still honoured: 429 with
// Retry-After), and answers with what happened and the connection's state after it.
func (s *Server) handleUpkeep(op string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orgID, id := r.PathValue("org"), r.PathValue("id")
		run := s.p.Connections.Refresh
		if op == connections.OpVerify {
			run = s.p.Connections.Verify
		}
		res, err := run(r.Context(), orgID, id, true)
		var notYet *connections.NotYetError
		switch {
		case errors.Is(err, directory.ErrNotFound):
			if s.p.Orgs != nil {
				// An unknown org is org_not_found, as on the list route.
				if _, oerr := s.p.Orgs.Show(r.Context(), orgID); oerr != nil {
					s.orgError(w, r, oerr)
					return
				}
			}
			writeError(w, http.StatusNotFound, APIError{Code: "not_found",
				Message: "org " + orgID + " has no connection " + id + "; GET /v1/orgs/" + orgID + "/connections lists them"})
			return
		case errors.As(err, &notYet):
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(notYet.Delay.Seconds()))))
			writeError(w, http.StatusTooManyRequests, APIError{Code: "retry_after", Message: notYet.Error()})
			return
		case errors.Is(err, vault.ErrOpen), errors.Is(err, vault.ErrUnknownKey):
			s.log.Error().Err(err).Str("org", orgID).Str("connection", id).Str("op", op).Msg("connection upkeep")
			writeError(w, http.StatusInternalServerError, APIError{Code: "tokens_unreadable",
				Message: "the " + op + " could not be done: " + err.Error() + "; trying again will not help: the server's " +
					"TETHER_ENCRYPTION_KEYS must hold the key the tokens were sealed with (GET /v1/keys counts the values per key id); " +
					"if that key is lost, the connection must be made again"})
			return
		case err != nil:
			s.log.Error().Err(err).Str("org", orgID).Str("connection", id).Str("op", op).Msg("connection upkeep")
			// err is a driver's chain (Redis's lock, the database): the log keeps it, the
			// person reads what to do.
			writeError(w, http.StatusServiceUnavailable, APIError{Code: "not_done",
				Message: "the " + op + " of connection " + id + " could not be completed: Redis or the database did not answer (the server log has the error); " +
					"nothing was lost: try again once they answer (GET /readyz checks both); the connection's schedule also retries it"})
			return
		}
		// An operator's refresh or verify changes the connection like the worker's tasks do,
		// so it is logged like them ("connection upkeep", the connection, state and cause).
		s.log.Info().Str("op", op).Str("org", orgID).Str("connection", id).Str("state", string(res.Connection.State)).
			Str("cause", string(res.Connection.FailureCause)).Bool("provider_called", res.Called).Str("skipped", res.Skipped).
			Str("time_zone_learnt", res.TimeZoneLearnt).Str("by", "operator").Msg("connection upkeep")
		writeJSON(w, http.StatusOK, UpkeepResultJSON{Op: res.Op, ProviderCalled: res.Called, Skipped: res.Skipped,
			Connection: ConnectionJSONOf(res.Connection), TimeZoneLearnt: res.TimeZoneLearnt})
	})
}
