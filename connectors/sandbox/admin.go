package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"tether/connectors/sandbox/sfdc"
)

// adminRoutes registers the admin API: the Go API over JSON, for tests and benchmarks
// that run the sandbox as a separate process.
//
//	GET    /admin/counters                      Counters
//	POST   /admin/counters/reset
//	GET    /admin/faults                        [Fault]
//	POST   /admin/faults          Fault      -> {"id":"f1"}
//	DELETE /admin/faults                        clear all
//	DELETE /admin/faults/{id}
//	GET    /admin/grants                        [GrantInfo]
//	POST   /admin/grants          GrantRequest -> Tokens
//	GET    /admin/grants/{id}                   GrantInfo
//	GET    /admin/fingerprints                  [Fingerprint] (refresh-token digests, never tokens)
//	POST   /admin/grants/{id}/revoke
//	POST   /admin/grants/{id}/expire-refresh-token
//	POST   /admin/grants/{id}/expire-access-tokens
//	POST   /admin/grants/{id}/scopes {"scopes":[…]}
//	GET    /admin/apps                          [App]
//	POST   /admin/apps            App
//	POST   /admin/users           User
//	POST   /admin/scenario        Scenario
//	GET    /admin/clock                         {"now":…}
//	POST   /admin/clock/advance   {"by":"24h"}
//	POST   /admin/salesforce/orgs/{org}/api {"enabled":false}
//	POST   /admin/salesforce/orgs/{org}/session {"timeout":"30m"}   (the org's session timeout)
//	POST   /admin/salesforce/orgs/{org}/usage {"used":N,"daily_max":M}   (API usage in 24 h)
//	POST   /admin/salesforce/users/{user}/permissions {"remove":"MarketingUser"} or {"grant":…}
//
// Errors are {"error":"…"} with 400 (bad input, such as a fault on an endpoint the sandbox
// does not serve) or 404 (unknown id, such as an org the sandbox does not hold).
func (s *Sandbox) adminRoutes(m *http.ServeMux) {
	ok := func(w http.ResponseWriter) { writeJSON(w, 200, map[string]bool{"ok": true}) }
	m.HandleFunc("GET /admin/counters", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.Counters()) })
	m.HandleFunc("POST /admin/counters/reset", func(w http.ResponseWriter, r *http.Request) { s.ResetCounters(); ok(w) })

	m.HandleFunc("GET /admin/faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.faults.List()) })
	m.HandleFunc("POST /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !decode(w, r, &f) {
			return
		}
		id, err := s.faults.Add(f)
		if err != nil {
			adminErr(w, err)
			return
		}
		writeJSON(w, 200, map[string]string{"id": id})
	})
	m.HandleFunc("DELETE /admin/faults", func(w http.ResponseWriter, r *http.Request) { s.faults.Clear(); ok(w) })
	m.HandleFunc("DELETE /admin/faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.faults.Remove(r.PathValue("id")) {
			adminErr(w, ErrNotFound)
			return
		}
		ok(w)
	})

	m.HandleFunc("GET /admin/grants", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.Grants()) })
	m.HandleFunc("POST /admin/grants", func(w http.ResponseWriter, r *http.Request) {
		var req GrantRequest
		if !decode(w, r, &req) {
			return
		}
		t, err := s.NewGrant(req)
		if err != nil {
			adminErr(w, err)
			return
		}
		writeJSON(w, 200, t)
	})
	m.HandleFunc("GET /admin/fingerprints", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.Fingerprints()) })
	m.HandleFunc("GET /admin/grants/{id}", func(w http.ResponseWriter, r *http.Request) {
		gi, found := s.LookupGrant(r.PathValue("id"))
		if !found {
			adminErr(w, ErrNotFound)
			return
		}
		writeJSON(w, 200, gi)
	})
	grantOp := func(path string, op func(id string, r *http.Request) error) {
		m.HandleFunc("POST /admin/grants/{id}/"+path, func(w http.ResponseWriter, r *http.Request) {
			if err := op(r.PathValue("id"), r); err != nil {
				adminErr(w, err)
				return
			}
			ok(w)
		})
	}
	grantOp("revoke", func(id string, _ *http.Request) error { return s.RevokeGrant(id) })
	grantOp("expire-refresh-token", func(id string, _ *http.Request) error { return s.ExpireRefreshToken(id) })
	grantOp("expire-access-tokens", func(id string, _ *http.Request) error { return s.ExpireAccessTokens(id) })
	m.HandleFunc("POST /admin/grants/{id}/scopes", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Scopes []string `json:"scopes"`
		}
		if !decode(w, r, &in) {
			return
		}
		if err := s.SetScopes(r.PathValue("id"), in.Scopes); err != nil {
			adminErr(w, err)
			return
		}
		ok(w)
	})

	m.HandleFunc("GET /admin/apps", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.Apps()) })
	m.HandleFunc("POST /admin/apps", func(w http.ResponseWriter, r *http.Request) {
		var a App
		if decode(w, r, &a) {
			if err := s.AddApp(a); err != nil {
				adminErr(w, err)
				return
			}
			ok(w)
		}
	})
	m.HandleFunc("POST /admin/users", func(w http.ResponseWriter, r *http.Request) {
		var u User
		if decode(w, r, &u) {
			if err := s.AddUser(u); err != nil {
				adminErr(w, err)
				return
			}
			ok(w)
		}
	})
	m.HandleFunc("POST /admin/scenario", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			adminErr(w, err)
			return
		}
		sc, err := ParseScenario(b)
		if err == nil {
			err = s.LoadScenario(sc)
		}
		if err != nil {
			adminErr(w, err)
			return
		}
		ok(w)
	})
	m.HandleFunc("GET /admin/clock", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]time.Time{"now": s.Now()})
	})
	m.HandleFunc("POST /admin/clock/advance", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			By Duration `json:"by"`
		}
		if !decode(w, r, &in) {
			return
		}
		if in.By < 0 {
			adminErr(w, errors.New("clock advance: by must be >= 0"))
			return
		}
		s.Advance(time.Duration(in.By))
		writeJSON(w, 200, map[string]time.Time{"now": s.Now()})
	})
	// The org's API usage in the rolling 24 hours: {"used": N} sets it ({"used": max}
	// spends the daily allocation, so the next call answers REQUEST_LIMIT_EXCEEDED
	// "TotalRequests Limit exceeded."; {"used": 0} frees it), {"daily_max": M} changes the
	// allocation. Answers the usage after the change.
	m.HandleFunc("POST /admin/salesforce/orgs/{org}/usage", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Used     *int `json:"used"`
			DailyMax *int `json:"daily_max"`
		}
		if !decode(w, r, &in) {
			return
		}
		org, found := s.adminOrg(w, r)
		if !found {
			return
		}
		if in.DailyMax != nil {
			if err := s.sf.SetDailyLimit(org, *in.DailyMax); err != nil {
				adminErr(w, fmt.Errorf("%w: %w", ErrNotFound, err))
				return
			}
		}
		if in.Used != nil {
			if err := s.sf.SetUsage(org, *in.Used); err != nil {
				adminErr(w, fmt.Errorf("%w: %w", ErrNotFound, err))
				return
			}
		}
		used, max := s.sf.Usage(org)
		writeJSON(w, 200, map[string]int{"used": used, "daily_max": max})
	})
	m.HandleFunc("POST /admin/salesforce/orgs/{org}/session", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Timeout Duration `json:"timeout"`
		}
		if !decode(w, r, &in) {
			return
		}
		org, found := s.adminOrg(w, r)
		if !found {
			return
		}
		if err := s.SetSessionTimeout(org, time.Duration(in.Timeout)); err != nil {
			adminErr(w, err)
			return
		}
		ok(w)
	})
	// One permission taken from or given to a Salesforce user, as an admin does in Setup:
	// {"remove": "MarketingUser"} or {"grant": "AllowViewEditConvertedLeads"} (a name
	// RemovePermission and GrantPermission take). Answers the user's permission after it.
	m.HandleFunc("POST /admin/salesforce/users/{user}/permissions", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Remove sfdc.Permission `json:"remove"`
			Grant  sfdc.Permission `json:"grant"`
		}
		if !decode(w, r, &in) {
			return
		}
		if (in.Remove == "") == (in.Grant == "") {
			adminErr(w, errors.New(`body must be {"remove": PERMISSION} or {"grant": PERMISSION}`))
			return
		}
		id := r.PathValue("user")
		if _, ok := s.sf.User(id); !ok {
			adminErr(w, fmt.Errorf("%w: no Salesforce user %s", ErrNotFound, id))
			return
		}
		p, change := in.Remove, s.sf.RemovePermission
		if in.Grant != "" {
			p, change = in.Grant, s.sf.GrantPermission
		}
		if err := change(id, p); err != nil {
			adminErr(w, err)
			return
		}
		has, err := s.sf.HasPermission(id, p)
		if err != nil {
			adminErr(w, err)
			return
		}
		writeJSON(w, 200, map[string]any{"user": id, "permission": p, "granted": has})
	})
	m.HandleFunc("POST /admin/salesforce/orgs/{org}/api", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Enabled *bool `json:"enabled"`
		}
		if !decode(w, r, &in) {
			return
		}
		if in.Enabled == nil {
			adminErr(w, errors.New(`body must be {"enabled": true|false}`))
			return
		}
		org, found := s.adminOrg(w, r)
		if !found {
			return
		}
		if err := s.SetAPIEnabled(org, *in.Enabled); err != nil {
			adminErr(w, err)
			return
		}
		ok(w)
	})
}

// adminOrg returns the route's {org}, or answers 404 naming it when the sandbox holds no
// such Salesforce org: the setters' own errors repeat the operation and say less.
func (s *Sandbox) adminOrg(w http.ResponseWriter, r *http.Request) (string, bool) {
	org := r.PathValue("org")
	ids := s.sf.OrgIDs()
	if slices.Contains(ids, org) {
		return org, true
	}
	have := "it holds none"
	if len(ids) > 0 {
		have = "its orgs are " + strings.Join(ids, ", ")
	}
	adminErr(w, notFoundError(fmt.Sprintf("the sandbox has no Salesforce org %q; %s (POST /admin/scenario loads others)", org, have)))
	return "", false
}

// notFoundError is a sentence for a person that is ErrNotFound to errors.Is (a 404).
type notFoundError string

func (e notFoundError) Error() string { return string(e) }
func (e notFoundError) Unwrap() error { return ErrNotFound }

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	d := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		adminErr(w, err)
		return false
	}
	return true
}

func adminErr(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	if errors.Is(err, ErrNotFound) {
		status = http.StatusNotFound
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
