package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"tether/sync/directory"
	"tether/sync/members"
	"tether/sync/orgs"
)

// Orgs is the org service the /v1/orgs and /v1/users routes call (*orgs.Service, the
// same the CLI calls). Refusals are *orgs.Error.
type Orgs interface {
	Create(ctx context.Context, req orgs.CreateRequest) (directory.Org, error)
	List(ctx context.Context, f directory.OrgFilter) ([]directory.OrgUsage, error)
	Show(ctx context.Context, orgID string) (orgs.Overview, error)
	Update(ctx context.Context, orgID string, ch orgs.Change) (directory.Org, error)
	Memberships(ctx context.Context, userRef string) (directory.User, []directory.UserMembership, error)
	SetDefaultOrg(ctx context.Context, userRef, orgID string) (directory.User, error)
}

// maxOrgBody bounds the small JSON bodies of the org and user routes.
const maxOrgBody = 64 << 10

// OrgJSON is an org as the API shows it.
type OrgJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	ParentID string `json:"parent_id,omitempty"`
	// SalesforceLogin is "production" or "sandbox"; SalesforceLoginURL its login host.
	SalesforceLogin    directory.SalesforceLogin `json:"salesforce_login"`
	SalesforceLoginURL string                    `json:"salesforce_login_url"`
	Seats              SeatsJSON                 `json:"seats"`
	// Clients is how many client orgs the org has (lists only).
	Clients   *int      `json:"clients,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// SeatsJSON is an org's seat use. Limit 0 means no limit, and Free is then null.
type SeatsJSON struct {
	Limit          int  `json:"limit"`
	Used           int  `json:"used"`
	Active         int  `json:"active"`
	PendingInvites int  `json:"pending_invites"`
	Free           *int `json:"free"`
}

func seatsJSON(s directory.Seats) SeatsJSON {
	out := SeatsJSON{Limit: s.Limit, Used: s.Used(), Active: s.Active, PendingInvites: s.PendingInvites}
	if free := s.Available(); free >= 0 {
		out.Free = &free
	}
	return out
}

func orgJSON(hosts directory.SalesforceHosts, o directory.Org, s directory.Seats) OrgJSON {
	return OrgJSON{ID: o.ID, Name: o.Name, ParentID: o.ParentOrgID, SalesforceLogin: o.SalesforceLogin,
		SalesforceLoginURL: hosts.URL(o.SalesforceLogin), Seats: seatsJSON(s), CreatedAt: o.CreatedAt.UTC()}
}

func usageJSON(hosts directory.SalesforceHosts, u directory.OrgUsage) OrgJSON {
	j := orgJSON(hosts, u.Org, u.Seats)
	n := u.Clients
	j.Clients = &n
	return j
}

// OrgListJSON is GET /v1/orgs's answer. Next, when set, is the query for the next page.
type OrgListJSON struct {
	Orgs []OrgJSON `json:"orgs"`
	Next string    `json:"next,omitempty"`
}

// OrgListOf is us as GET /v1/orgs lists them (Next is the route's to fill).
func OrgListOf(hosts directory.SalesforceHosts, us []directory.OrgUsage) OrgListJSON {
	out := OrgListJSON{Orgs: make([]OrgJSON, 0, len(us))}
	for _, u := range us {
		out.Orgs = append(out.Orgs, usageJSON(hosts, u))
	}
	return out
}

// OrgOverviewJSON is GET /v1/orgs/{org}'s answer.
type OrgOverviewJSON struct {
	OrgJSON
	Parent         *OrgRefJSON        `json:"parent"`
	Clients        []OrgJSON          `json:"clients"`
	TeamConnection TeamConnectionJSON `json:"team_connection"`
	LastAudit      *AuditResultJSON   `json:"last_audit"`
	PendingImports []ImportView       `json:"pending_imports"`
	// Policy is what each role needs, in the CLI's form: "salesforce,calendar,~conferencing,photo"
	// ("~" recommended: shown, not counted; "nothing" when the role needs nothing).
	Policy map[directory.Role]string `json:"policy"`
	// SalesforceSession is the session timeout the org's Salesforce refreshes follow.
	SalesforceSession SalesforceSessionJSON `json:"salesforce_session"`
}

// SalesforceSessionJSON is an org's Salesforce session timeout: learned (introspected
// from a fresh access token, at learned_at) or the configured default.
type SalesforceSessionJSON struct {
	Timeout        string     `json:"timeout"` // Go duration, "30m0s"
	TimeoutSeconds int64      `json:"timeout_seconds"`
	Source         string     `json:"source"` // "learned" or "default"
	LearnedAt      *time.Time `json:"learned_at"`
	CheckedAt      *time.Time `json:"checked_at"` // last attempt to learn it
}

// OrgRefJSON names another org.
type OrgRefJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// TeamConnectionJSON is the state of the org's team-level Salesforce connection; state
// "missing" when there is none.
type TeamConnectionJSON struct {
	State             string     `json:"state"`
	ProviderAccountID string     `json:"provider_account_id,omitempty"`
	ProviderOrgID     string     `json:"provider_org_id,omitempty"`
	InstanceURL       string     `json:"instance_url,omitempty"`
	LastErrorCode     string     `json:"last_error_code,omitempty"`
	LastRefreshedAt   *time.Time `json:"last_refreshed_at,omitempty"`
	NextRefreshAt     *time.Time `json:"next_refresh_at,omitempty"`
}

// AuditResultJSON sums up the org's newest permission report (the full report is at
// /v1/orgs/{org}/permission-audits/latest).
type AuditResultJSON struct {
	ReportID  string         `json:"report_id"`
	CreatedAt time.Time      `json:"created_at"`
	Result    string         `json:"result"` // ok, missing or unknown
	Missing   []string       `json:"missing,omitempty"`
	Unknown   []string       `json:"unknown,omitempty"`
	Summary   map[string]int `json:"summary"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// OverviewJSON is ov as GET /v1/orgs/{org} answers it.
func OverviewJSON(hosts directory.SalesforceHosts, ov orgs.Overview) OrgOverviewJSON {
	out := OrgOverviewJSON{OrgJSON: orgJSON(hosts, ov.Org, ov.Seats), Clients: []OrgJSON{}, PendingImports: []ImportView{},
		Policy: policyJSON(ov.Org.Policy)}
	ss := ov.SalesforceSession
	out.SalesforceSession = SalesforceSessionJSON{Timeout: ss.Timeout.String(), TimeoutSeconds: int64(ss.Timeout / time.Second),
		Source: ss.Source, LearnedAt: optTime(ss.LearnedAt), CheckedAt: optTime(ss.CheckedAt)}
	if ov.Parent != nil {
		out.Parent = &OrgRefJSON{ID: ov.Parent.ID, Name: ov.Parent.Name}
	}
	for _, c := range ov.Clients {
		out.Clients = append(out.Clients, usageJSON(hosts, c))
	}
	t := ov.Team
	out.TeamConnection = TeamConnectionJSON{State: string(t.State), ProviderAccountID: t.ProviderAccountID,
		ProviderOrgID: t.ProviderOrgID, InstanceURL: t.InstanceURL, LastErrorCode: t.LastErrorCode,
		LastRefreshedAt: optTime(t.LastRefreshedAt), NextRefreshAt: optTime(t.NextRefreshAt)}
	if a := ov.LastAudit; a != nil {
		out.LastAudit = &AuditResultJSON{ReportID: a.ReportID, CreatedAt: a.CreatedAt.UTC(), Result: a.Result,
			Missing: a.Missing, Unknown: a.Unknown, Summary: a.Summary}
	}
	for _, imp := range ov.PendingImports {
		out.PendingImports = append(out.PendingImports, ViewOf(imp))
	}
	return out
}

func policyJSON(p directory.Policy) map[directory.Role]string {
	out := map[directory.Role]string{}
	for r := range directory.DefaultPolicy() {
		out[r] = p.For(r).String()
	}
	return out
}

// CreateOrgRequest is the body of POST /v1/orgs.
type CreateOrgRequest struct {
	Name     string `json:"name"`
	Seats    int    `json:"seats"`
	ParentID string `json:"parent_id,omitempty"`
	// SalesforceLogin is "production" (the default) or "sandbox".
	SalesforceLogin string `json:"salesforce_login,omitempty"`
}

// UpdateOrgRequest is the body of PATCH /v1/orgs/{org}: absent (or null) fields stay as
// they are; parent_id "" removes the parent.
type UpdateOrgRequest struct {
	Name            *string `json:"name"`
	Seats           *int    `json:"seats"`
	ParentID        *string `json:"parent_id"`
	SalesforceLogin *string `json:"salesforce_login"`
	// Policy maps a role to what it needs, in the CLI's form ("salesforce,calendar,photo,~conferencing";
	// "" needs nothing; "default" the default). Roles not given keep theirs.
	Policy map[string]string `json:"policy"`
}

// parsePolicy reads UpdateOrgRequest.Policy; nil when absent. An empty object is refused:
// it would change nothing while the answer said the policy was set.
func parsePolicy(in map[string]string) (directory.Policy, error) {
	if in == nil {
		return nil, nil
	}
	if len(in) == 0 {
		return nil, errors.New(`policy: the object is empty; give at least one role (admin, custom_admin, chat or meetings) with what it needs, "" for nothing or "default"`)
	}
	out := directory.Policy{}
	for role, reqs := range in {
		if reqs == "default" {
			r := directory.Role(role)
			if !r.Valid() {
				return nil, fmt.Errorf("policy: unknown role %q (want admin, custom_admin, chat or meetings)", role)
			}
			out[r] = directory.DefaultPolicy()[r]
			continue
		}
		r, rp, err := directory.ParseRolePolicy(role + "=" + reqs)
		if err != nil {
			return nil, err
		}
		out[r] = rp
	}
	return out, nil
}

// decodeBody reads a JSON object into v, refusing unknown fields; on failure it answers
// 400 invalid_json (naming what the body should hold) and returns false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, want string) bool {
	if err := decodeJSON(w, r, maxOrgBody, v); err != nil {
		writeError(w, http.StatusBadRequest, APIError{Code: "invalid_json", Message: "the body must be a JSON object with " + want + ": " + err.Error()})
		return false
	}
	return true
}

// handleCreateOrg is POST /v1/orgs: 201 with the org and its Location.
func (s *Server) handleCreateOrg() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body CreateOrgRequest
		if !decodeBody(w, r, &body, "name, seats, and optionally parent_id and salesforce_login") {
			return
		}
		o, err := s.p.Orgs.Create(r.Context(), orgs.CreateRequest{Name: body.Name, Seats: body.Seats,
			ParentID: body.ParentID, SalesforceLogin: body.SalesforceLogin})
		if err != nil {
			s.orgError(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/orgs/"+o.ID)
		writeJSON(w, http.StatusCreated, orgJSON(s.p.SalesforceHosts, o, directory.Seats{Limit: o.SeatLimit}))
	})
}

// handleListOrgs is GET /v1/orgs[?parent=ORG][&after=ID][&limit=N]: orgs in id order
// with their seat use; with parent, that org's client orgs.
func (s *Server) handleListOrgs() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := directory.OrgFilter{ParentID: q.Get("parent"), AfterID: q.Get("after"), Limit: 100}
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > 1000 {
				writeError(w, http.StatusBadRequest, APIError{Code: "invalid_limit", Message: "limit must be a whole number from 1 to 1000"})
				return
			}
			f.Limit = n
		}
		us, err := s.p.Orgs.List(r.Context(), f)
		if err != nil {
			s.orgError(w, r, err)
			return
		}
		out := OrgListOf(s.p.SalesforceHosts, us)
		if len(us) == f.Limit {
			next := q
			next.Set("after", us[len(us)-1].Org.ID)
			out.Next = "/v1/orgs?" + next.Encode()
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// handleGetOrg is GET /v1/orgs/{org}: the org's overview.
func (s *Server) handleGetOrg() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ov, err := s.p.Orgs.Show(r.Context(), r.PathValue("org"))
		if err != nil {
			s.orgError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, OverviewJSON(s.p.SalesforceHosts, ov))
	})
}

// handleUpdateOrg is PATCH /v1/orgs/{org}: 200 with the org's overview after the change.
func (s *Server) handleUpdateOrg() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body UpdateOrgRequest
		if !decodeBody(w, r, &body, "any of name, seats, parent_id, salesforce_login, policy") {
			return
		}
		pol, err := parsePolicy(body.Policy)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, APIError{Code: orgs.CodeInvalidPolicy,
				Message: err.Error() + `; e.g. {"policy": {"chat": "salesforce,calendar,photo,~conferencing"}}`})
			return
		}
		org := r.PathValue("org")
		_, err = s.p.Orgs.Update(r.Context(), org, orgs.Change{Name: body.Name, Seats: body.Seats,
			ParentID: body.ParentID, SalesforceLogin: body.SalesforceLogin, Policy: pol})
		if err != nil {
			s.orgError(w, r, err)
			return
		}
		ov, err := s.p.Orgs.Show(r.Context(), org)
		if err != nil {
			s.orgError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, OverviewJSON(s.p.SalesforceHosts, ov))
	})
}

// UserJSON is a user as the API shows it.
type UserJSON struct {
	ID           string `json:"id"`
	Email        string `json:"email"`
	Name         string `json:"name,omitempty"`
	DefaultOrgID string `json:"default_org_id,omitempty"`
}

// MembershipJSON is one org a user belongs to.
type MembershipJSON struct {
	OrgID        string                     `json:"org_id"`
	OrgName      string                     `json:"org_name"`
	MembershipID string                     `json:"membership_id"`
	Role         directory.Role             `json:"role"`
	Status       directory.MembershipStatus `json:"status"`
	Default      bool                       `json:"default"`
}

// MembershipsJSON is GET /v1/users/{user}/memberships's answer.
type MembershipsJSON struct {
	User        UserJSON         `json:"user"`
	Memberships []MembershipJSON `json:"memberships"`
}

func userJSON(u directory.User) UserJSON {
	return UserJSON{ID: u.ID, Email: u.Email, Name: u.Name, DefaultOrgID: u.FavouriteOrgID}
}

// handleUserMemberships is GET /v1/users/{user}/memberships; {user} is an id or an email.
func (s *Server) handleUserMemberships() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ms, err := s.p.Orgs.Memberships(r.Context(), r.PathValue("user"))
		if err != nil {
			s.orgError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, MembershipsOf(u, ms))
	})
}

// MembershipsOf is u's memberships ms as GET /v1/users/{user}/memberships answers.
func MembershipsOf(u directory.User, ms []directory.UserMembership) MembershipsJSON {
	out := MembershipsJSON{User: userJSON(u), Memberships: make([]MembershipJSON, 0, len(ms))}
	for _, m := range ms {
		out.Memberships = append(out.Memberships, MembershipJSON{OrgID: m.Membership.OrgID, OrgName: m.OrgName,
			MembershipID: m.Membership.ID, Role: m.Membership.Role, Status: m.Membership.Status, Default: m.Default})
	}
	return out
}

// DefaultOrgRequest is the body of PUT /v1/users/{user}/default-org.
type DefaultOrgRequest struct {
	OrgID string `json:"org_id"`
}

// handleSetDefaultOrg is PUT /v1/users/{user}/default-org: 200 with the user.
func (s *Server) handleSetDefaultOrg() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body DefaultOrgRequest
		if !decodeBody(w, r, &body, "org_id") {
			return
		}
		u, err := s.p.Orgs.SetDefaultOrg(r.Context(), r.PathValue("user"), body.OrgID)
		if err != nil {
			s.orgError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, userJSON(u))
	})
}

// orgError maps the service's refusals to statuses; anything else is logged and answered
// 500 without its text.
func (s *Server) orgError(w http.ResponseWriter, r *http.Request, err error) {
	var oe *orgs.Error
	var me *members.Error
	if errors.As(err, &me) && me.Code == members.CodeReminderNotQueued {
		// The policy is stored; the recompute that follows could not queue a reminder.
		s.log.Error().Err(err).Str("path", r.URL.Path).Msg("policy changed, reminders not queued")
		writeError(w, http.StatusServiceUnavailable, APIError{Code: me.Code, Message: "the policy is changed, but " + me.Message})
		return
	}
	if !errors.As(err, &oe) {
		s.log.Error().Err(err).Str("path", r.URL.Path).Msg("org request failed")
		writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "the request could not be completed; see the server log"})
		return
	}
	status := http.StatusUnprocessableEntity
	switch oe.Code {
	case orgs.CodeOrgNotFound, orgs.CodeUserNotFound:
		status = http.StatusNotFound
	case orgs.CodeSeatsInUse, orgs.CodeParentCycle:
		status = http.StatusConflict
	}
	writeError(w, status, APIError{Code: oe.Code, Message: oe.Message})
}
