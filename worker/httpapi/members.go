package httpapi

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/members"
	"tether/sync/reminders"
)

// Members is the members service the /v1/orgs/{org}/members routes call
// (*members.Service, the same the CLI calls). Refusals are *members.Error.
type Members interface {
	List(ctx context.Context, orgID string, req members.ListRequest) (members.Page, error)
	Update(ctx context.Context, orgID, memberRef string, ch members.Change) (directory.Membership, error)
	RecomputeOrg(ctx context.Context, orgID string) (members.RecomputeResult, error)
	Deactivatable(ctx context.Context, orgID, memberRef string) (directory.Membership, error)
	// Resolve finds the org's membership by id or by the member's email.
	Resolve(ctx context.Context, orgID, memberRef string) (directory.Membership, error)
	// Member is one member as the list shows it, with email and connections.
	Member(ctx context.Context, orgID, membershipID string) (members.MemberView, error)
	// Emails maps the connections' memberships to their members' emails.
	Emails(ctx context.Context, orgID string, cs []connections.Connection) (map[string]string, error)
}

// Deactivations queues members:deactivate (worker.DeactivationQueue); already is true
// when one for the member is queued or running.
type Deactivations interface {
	Queue(ctx context.Context, orgID, membershipID string) (taskID string, already bool, err error)
}

// DeactivationJSON is POST /v1/orgs/{org}/members/{member}/deactivate's answer.
type DeactivationJSON struct {
	OrgID        string `json:"org_id"`
	MembershipID string `json:"membership_id"`
	TaskID       string `json:"task_id"`
	// Status is "queued", or "already_queued" when a deactivation of the member is queued
	// or running.
	Status string `json:"status"`
}

// handleDeactivateMember is POST /v1/orgs/{org}/members/{member}/deactivate: 202 once the
// members:deactivate task is queued. {member} is a membership id or an email.
func (s *Server) handleDeactivateMember() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, err := s.p.Members.Deactivatable(r.Context(), r.PathValue("org"), r.PathValue("member"))
		if err != nil {
			s.memberError(w, r, err)
			return
		}
		id, already, err := s.p.Deactivations.Queue(r.Context(), m.OrgID, m.ID)
		if err != nil {
			s.log.Error().Err(err).Str("path", r.URL.Path).Msg("queue deactivation")
			writeError(w, http.StatusServiceUnavailable, APIError{Code: "queue_unavailable",
				Message: "the deactivation could not be queued (is Redis reachable? see the server log); nothing was changed, try again"})
			return
		}
		out := DeactivationJSON{OrgID: m.OrgID, MembershipID: m.ID, TaskID: id, Status: "queued"}
		if already {
			out.Status = "already_queued"
		}
		writeJSON(w, http.StatusAccepted, out)
	})
}

// MemberConnectionJSON is one of a member's connections: its state and who acts, never a
// token.
type MemberConnectionJSON struct {
	ID     string             `json:"id"`
	Kind   connections.Kind   `json:"kind"`
	State  connections.State  `json:"state"`
	Serves []connections.Kind `json:"serves"`
	// Actor is who must act on the state: rep, admin, or absent when nobody needs to.
	Actor           string     `json:"actor,omitempty"`
	Code            string     `json:"code,omitempty"`
	Reason          string     `json:"reason,omitempty"`
	LastRefreshedAt *time.Time `json:"last_refreshed_at,omitempty"`
	LastVerifiedAt  *time.Time `json:"last_verified_at,omitempty"`
	NextRefreshAt   *time.Time `json:"next_refresh_at,omitempty"`
}

// MemberJSON is one member on the members page.
type MemberJSON struct {
	ID       string                     `json:"id"`
	UserID   string                     `json:"user_id"`
	Email    string                     `json:"email"`
	Name     string                     `json:"name,omitempty"`
	Role     directory.Role             `json:"role"`
	Status   directory.MembershipStatus `json:"status"`
	PhotoURL string                     `json:"photo_url,omitempty"`
	// TimeZone is the member's own zone for quiet hours; absent: the org's is used.
	TimeZone string `json:"time_zone,omitempty"`
	// ActionRequired is true when a reason is not merely recommended.
	ActionRequired bool                     `json:"action_required"`
	Reasons        []directory.ActionReason `json:"reasons"`
	// ReasonsCheckedAt is when the reasons were computed; null: never (POST
	// /v1/orgs/{org}/members/recompute computes them).
	ReasonsCheckedAt *time.Time             `json:"reasons_checked_at"`
	DeactivatedAt    *time.Time             `json:"deactivated_at,omitempty"`
	Connections      []MemberConnectionJSON `json:"connections"`
	// Reminders is the last reminder sent and the next one due; only on the members page,
	// and only when the server reads reminders.
	Reminders *ReminderSummaryJSON `json:"reminders,omitempty"`
}

// MemberListJSON is GET /v1/orgs/{org}/members's answer: a page of the filter's members
// and, for every filter, how many members it shows and how many of them need action.
type MemberListJSON struct {
	OrgID          string                                           `json:"org_id"`
	Filter         directory.MemberFilter                           `json:"filter"`
	ActionRequired bool                                             `json:"action_required"`
	Counts         map[directory.MemberFilter]directory.FilterCount `json:"counts"`
	// PendingInvites counts the org's invitations not yet accepted nor expired: people
	// invited who are no member until they join (GET /v1/orgs/{org}/invites?status=pending
	// lists them).
	PendingInvites int          `json:"pending_invites"`
	Members        []MemberJSON `json:"members"`
	Next           string       `json:"next,omitempty"`
}

func memberJSON(m directory.Membership) MemberJSON {
	reasons := m.ActionRequired
	if reasons == nil {
		reasons = []directory.ActionReason{}
	}
	return MemberJSON{ID: m.ID, UserID: m.UserID, Role: m.Role, Status: m.Status, PhotoURL: m.PhotoURL, TimeZone: m.TimeZone,
		ActionRequired: m.NeedsAction(), Reasons: reasons, ReasonsCheckedAt: optTime(m.ActionCheckedAt),
		DeactivatedAt: optTime(m.DeactivatedAt), Connections: []MemberConnectionJSON{}}
}

func memberViewJSON(v members.MemberView) MemberJSON {
	out := memberJSON(v.Membership)
	out.Email, out.Name = v.Email, v.Name
	for _, c := range v.Connections {
		out.Connections = append(out.Connections, MemberConnectionJSON{ID: c.ID, Kind: c.Kind, State: c.State,
			Serves: c.Serves, Actor: c.Actor, Code: c.Code, Reason: c.Reason, LastRefreshedAt: optTime(c.LastRefreshedAt),
			LastVerifiedAt: optTime(c.LastVerifiedAt), NextRefreshAt: optTime(c.NextRefreshAt)})
	}
	return out
}

// CountsJSON maps every filter to its counts.
func CountsJSON(c directory.MembershipCounts) map[directory.MemberFilter]directory.FilterCount {
	out := map[directory.MemberFilter]directory.FilterCount{}
	for _, f := range directory.MemberFilters() {
		out[f] = c.Of(f)
	}
	return out
}

// MemberListOf is page p of org's members listed by req, with each member's reminder
// summary from sums when it has one, as GET /v1/orgs/{org}/members answers it (Next is
// the route's to fill).
func MemberListOf(org string, req members.ListRequest, p members.Page, sums map[string]reminders.Summary) MemberListJSON {
	out := MemberListJSON{OrgID: org, Filter: cmp.Or(req.Filter, directory.FilterAll), ActionRequired: req.ActionRequired,
		Counts: CountsJSON(p.Counts), PendingInvites: p.PendingInvites, Members: make([]MemberJSON, 0, len(p.Members))}
	for _, m := range p.Members {
		mj := memberViewJSON(m)
		if sum, ok := sums[m.Membership.ID]; ok {
			mj.Reminders = ReminderSummaryOf(sum)
		}
		out.Members = append(out.Members, mj)
	}
	return out
}

// handleListMembers is GET /v1/orgs/{org}/members[?filter=F][&action_required=true][&after=ID][&limit=N].
func (s *Server) handleListMembers() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		req := members.ListRequest{Filter: directory.MemberFilter(q.Get("filter")), After: q.Get("after")}
		if v := q.Get("action_required"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, APIError{Code: members.CodeInvalidFilter, Message: "action_required must be true or false"})
				return
			}
			req.ActionRequired = b
		}
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > 1000 {
				writeError(w, http.StatusBadRequest, APIError{Code: "invalid_limit", Message: "limit must be a whole number from 1 to 1000"})
				return
			}
			req.Limit = n
		}
		org := r.PathValue("org")
		p, err := s.p.Members.List(r.Context(), org, req)
		if err != nil {
			s.memberError(w, r, err)
			return
		}
		var sums map[string]reminders.Summary
		if s.p.Reminders != nil && len(p.Members) > 0 {
			ms := make([]directory.Membership, len(p.Members))
			for i, m := range p.Members {
				ms[i] = m.Membership
			}
			if sums, err = s.p.Reminders.Summaries(r.Context(), org, ms); err != nil {
				s.log.Error().Err(err).Str("path", r.URL.Path).Msg("members' reminders")
				writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "the members' reminders could not be read; see the server log"})
				return
			}
		}
		out := MemberListOf(org, req, p, sums)
		if p.Next != "" {
			next := url.Values{}
			for k, v := range q {
				next[k] = v
			}
			next.Set("after", p.Next)
			out.Next = "/v1/orgs/" + url.PathEscape(org) + "/members?" + next.Encode()
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// UpdateMemberRequest is the body of PATCH /v1/orgs/{org}/members/{member}: absent fields
// stay; photo_url "" removes the photo.
type UpdateMemberRequest struct {
	Role     *directory.Role `json:"role"`
	PhotoURL *string         `json:"photo_url"`
	// TimeZone is an IANA zone such as Europe/Paris; "" removes it (the org's is used).
	TimeZone *string `json:"time_zone"`
}

// handleUpdateMember is PATCH /v1/orgs/{org}/members/{member}: 200 with the member, its
// reasons recomputed. {member} is a membership id or an email.
func (s *Server) handleUpdateMember() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body UpdateMemberRequest
		if !decodeBody(w, r, &body, "role, photo_url and/or time_zone") {
			return
		}
		m, err := s.p.Members.Update(r.Context(), r.PathValue("org"), r.PathValue("member"),
			members.Change{Role: body.Role, PhotoURL: body.PhotoURL, TimeZone: body.TimeZone})
		if err != nil {
			s.memberError(w, r, err)
			return
		}
		// The member as the list shows it: the membership alone has no email and no
		// connections, which read as "" and [].
		v, err := s.p.Members.Member(r.Context(), m.OrgID, m.ID)
		if err != nil {
			s.memberError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, memberViewJSON(v))
	})
}

// RecomputeJSON is POST /v1/orgs/{org}/members/recompute's answer.
type RecomputeJSON struct {
	Members        int `json:"members"`
	ActionRequired int `json:"action_required"`
}

// handleRecomputeMembers is POST /v1/orgs/{org}/members/recompute: every member's reasons
// recomputed (the repair after a crash or an upgrade).
func (s *Server) handleRecomputeMembers() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := s.p.Members.RecomputeOrg(r.Context(), r.PathValue("org"))
		if err != nil {
			s.memberError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, RecomputeJSON{Members: res.Members, ActionRequired: res.ActionRequired})
	})
}

// memberError maps the service's refusals to statuses; anything else is logged and
// answered 500 without its text.
func (s *Server) memberError(w http.ResponseWriter, r *http.Request, err error) {
	var me *members.Error
	if !errors.As(err, &me) {
		s.log.Error().Err(err).Str("path", r.URL.Path).Msg("members request failed")
		writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "the request could not be completed; see the server log"})
		return
	}
	status := http.StatusUnprocessableEntity
	switch me.Code {
	case members.CodeOrgNotFound, members.CodeMemberNotFound:
		status = http.StatusNotFound
	case members.CodeInvalidFilter:
		status = http.StatusBadRequest
	case members.CodeNotDeactivatable, members.CodeDeactivated:
		status = http.StatusConflict
	case members.CodeReminderNotQueued:
		s.log.Error().Err(err).Str("path", r.URL.Path).Msg("reasons stored, reminder not queued")
		status = http.StatusServiceUnavailable
	case members.CodeReminderNotRetimed:
		s.log.Error().Err(err).Str("path", r.URL.Path).Msg("time zone stored, reminder not re-timed")
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, APIError{Code: me.Code, Message: me.Message})
}
