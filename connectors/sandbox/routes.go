package sandbox

import (
	"net/http"
	"strings"
)

// endpointClass picks the shape of a fault's error body.
type endpointClass int

const (
	classOAuth endpointClass = iota // token/revoke/introspect: OAuth error object
	classPage                       // authorize: HTML
	classAPI                        // provider REST API: its API error envelope
)

// routes lists every path the sandbox serves.
func (s *Sandbox) routes() *http.ServeMux {
	m := http.NewServeMux()
	h := func(pattern string, p Provider, name string, c endpointClass, fn http.HandlerFunc) {
		ep := s.stats.endpoint(p, name, c)
		m.Handle(pattern, s.endpoint(ep, fn))
	}

	// Salesforce (login host and instance share the /salesforce prefix).
	h("/salesforce/services/oauth2/authorize", Salesforce, "authorize", classPage, s.authorize(Salesforce))
	h("/salesforce/services/oauth2/token", Salesforce, "token", classOAuth, s.token(Salesforce))
	h("/salesforce/services/oauth2/revoke", Salesforce, "revoke", classOAuth, s.revoke(Salesforce))
	h("/salesforce/services/oauth2/introspect", Salesforce, "introspect", classOAuth, s.sfIntrospect)
	h("/salesforce/services/oauth2/userinfo", Salesforce, "userinfo", classAPI, s.sfUserinfo)
	h("GET /salesforce/id/{org}/{user}", Salesforce, "id", classAPI, s.sfIdentity)
	data := http.StripPrefix("/salesforce", s.sf)
	sfEPs := map[string]*endpointStats{}
	for _, n := range []string{"query", "composite", "sobjects", "limits", "data"} {
		sfEPs[n] = s.stats.endpoint(Salesforce, n, classAPI)
	}
	m.HandleFunc("/salesforce/services/data/", func(w http.ResponseWriter, r *http.Request) {
		s.endpoint(sfEPs[sfdcEndpoint(r.URL.Path)], data).ServeHTTP(w, r)
	})

	// Google: accounts.google.com, oauth2.googleapis.com, www.googleapis.com.
	h("/google/o/oauth2/v2/auth", Google, "authorize", classPage, s.authorize(Google))
	h("/google/o/oauth2/auth", Google, "authorize", classPage, s.authorize(Google))
	h("/google/token", Google, "token", classOAuth, s.token(Google))
	h("/google/revoke", Google, "revoke", classOAuth, s.revoke(Google))
	h("/google/tokeninfo", Google, "tokeninfo", classOAuth, s.googleTokeninfo)
	h("/google/oauth2/v3/tokeninfo", Google, "tokeninfo", classOAuth, s.googleTokeninfo)
	h("GET /google/oauth2/v3/userinfo", Google, "userinfo", classAPI, s.googleUserinfo)
	h("GET /google/v1/userinfo", Google, "userinfo", classAPI, s.googleUserinfo)
	h("GET /google/calendar/v3/users/me/calendarList", Google, "calendarList", classAPI, s.googleCalendarList)
	h("GET /google/calendar/v3/users/me/calendarList/{calendarId}", Google, "calendarList", classAPI, s.googleCalendarListGet)

	// Microsoft: login.microsoftonline.com/{tenant} and graph.microsoft.com.
	h("/microsoft/{tenant}/oauth2/v2.0/authorize", Microsoft, "authorize", classPage, s.authorize(Microsoft))
	h("/microsoft/{tenant}/oauth2/v2.0/token", Microsoft, "token", classOAuth, s.token(Microsoft))
	h("GET /microsoft/v1.0/me", Microsoft, "me", classAPI, s.graphMe)
	h("GET /microsoft/v1.0/me/calendars", Microsoft, "calendars", classAPI, s.graphCalendars)
	h("POST /microsoft/v1.0/me/onlineMeetings", Microsoft, "onlineMeetings", classAPI, s.graphOnlineMeetings)

	// Zoom: zoom.us/oauth and api.zoom.us/v2.
	h("/zoom/oauth/authorize", Zoom, "authorize", classPage, s.authorize(Zoom))
	h("/zoom/oauth/token", Zoom, "token", classOAuth, s.token(Zoom))
	h("/zoom/oauth/revoke", Zoom, "revoke", classOAuth, s.revoke(Zoom))
	h("GET /zoom/v2/users/me", Zoom, "me", classAPI, s.zoomMe)

	s.adminRoutes(m)
	s.answerRoutes(m)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return m
}

// sfdcEndpoint names the counter bucket of a Salesforce REST path.
func sfdcEndpoint(path string) string {
	switch {
	case strings.Contains(path, "/query"):
		return "query"
	case strings.Contains(path, "/composite"):
		return "composite"
	case strings.Contains(path, "/sobjects"):
		return "sobjects"
	case strings.HasSuffix(strings.TrimRight(path, "/"), "/limits"):
		return "limits"
	}
	return "data"
}

// endpoint wraps a provider handler with counting and fault injection.
func (s *Sandbox) endpoint(ep *endpointStats, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep.calls.Add(1)
		if g := s.grantOf(r, ep); g != nil {
			g.requests.Add(1)
		}
		sw := &statusWriter{ResponseWriter: w}
		if s.faults.armed() && s.applyFaults(sw, r, ep) {
			ep.count(sw.status)
			return
		}
		if ep.class == classAPI && s.apiAnswered.Load() > 0 {
			if a := s.takeAPIAnswer(r); a != nil {
				a.write(s, sw, "", s.Now())
				ep.count(sw.status)
				return
			}
		}
		next.ServeHTTP(sw, r)
		ep.count(sw.status)
	})
}

// grantOf is the grant a provider request names by its token (a bearer access token, or
// the refresh token of a token call), read before a fault picks the answer, so a call
// answered by a fault still counts against the grant; nil when it names none known.
func (s *Sandbox) grantOf(r *http.Request, ep *endpointStats) *grant {
	v := bearer(r)
	if v == "" && ep.name == "token" && r.Method == http.MethodPost {
		_ = r.ParseForm() // the token handler reads the same r.PostForm afterwards
		v = r.PostForm.Get("refresh_token")
	}
	if t := s.store.lookup(v); t != nil {
		return t.g
	}
	return nil
}

// statusWriter remembers the status for the counters.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Hijack and Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
