// Package httpapi is the HTTP server of tether serve: health and readiness probes,
// Prometheus metrics, the Asynq monitoring UI behind the admin credentials, the admin JSON
// API and the pages people open (Join links); every route is in routes.go.
//
// tether worker and tether scheduler run the same server with only the probes and
// /metrics (Params.Monitoring nil).
package httpapi

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"tether/sync/apitokens"
	"tether/sync/connect"
	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/keys"
)

// Check is one dependency /readyz pings.
type Check struct {
	Name string                          // "redis", "database"
	Ping func(ctx context.Context) error // must honour ctx
}

// Params are the Server's dependencies.
type Params struct {
	Logger zerolog.Logger
	// Gatherer serves /metrics. Required.
	Gatherer prometheus.Gatherer
	// Checks are what /readyz needs answering.
	Checks []Check
	// Monitoring is the Asynq UI (NewMonitoring), served under /monitoring/ to the admin.
	// Nil: /monitoring/ answers 404.
	Monitoring http.Handler
	// Join serves GET and POST /join/{token} (NewJoin). Nil:
	// those routes answer 404.
	Join http.Handler
	// Connect serves the connect pages (NewConnect): GET and POST /connect/{token}, GET
	// /oauth/callback/{provider}. Nil: 404.
	Connect http.Handler
	// ConnectLinks issues connect links for POST /v1/orgs/{org}/connect-links and POST
	// /v1/orgs/{org}/members/{member}/connect-links. Nil: 404.
	ConnectLinks *connect.Links
	// Imports serves the invite import API (POST /v1/orgs/{org}/imports, GET
	// /v1/orgs/{org}/imports/{id}) behind the admin credentials. Nil: 404.
	Imports Imports
	// InviteAdmin serves the listings, revoke, cancel and skipped rows (GET
	// /v1/orgs/{org}/imports, …/imports/{id}/cancel, …/revoke, …/skipped, …/skipped.csv, GET
	// /v1/orgs/{org}/invites, DELETE …/invites/{id}) to the admin; Resends the resends
	// (POST …/imports/{id}/resend, POST …/invites/{invite}/resend). Nil: 404.
	InviteAdmin InviteAdmin
	Resends     ImportResender
	// PermissionAudits serves POST /v1/orgs/{org}/permission-audits and GET
	// /v1/orgs/{org}/permission-audits/latest to the admin. A nil Store or Queue: those
	// routes answer 404.
	PermissionAudits PermissionAudits
	// Orgs serves POST/GET /v1/orgs, GET/PATCH /v1/orgs/{org}, GET
	// /v1/users/{user}/memberships and PUT /v1/users/{user}/default-org to the admin. Nil:
	// those routes answer 404.
	Orgs Orgs
	// SalesforceHosts resolve an org's Salesforce login to the URL the org routes show: the
	// same the connect flow starts at (config.Config.SalesforceHosts). Zero means the real
	// Salesforce hosts.
	SalesforceHosts directory.SalesforceHosts
	// Members serves GET /v1/orgs/{org}/members, PATCH /v1/orgs/{org}/members/{member} and
	// POST /v1/orgs/{org}/members/recompute to the admin. Nil: 404.
	Members Members
	// Deactivations queues members:deactivate for POST
	// /v1/orgs/{org}/members/{member}/deactivate (with Members set). Nil: 404.
	Deactivations Deactivations
	// Reminders serves GET /v1/orgs/{org}/members/{member}/reminders to the admin. Nil: 404.
	Reminders Reminders
	// ReminderSettings serves GET/PATCH /v1/orgs/{org}/reminder-settings. Nil: 404.
	ReminderSettings ReminderSettings
	// Events serves GET /v1/orgs/{org}/events, the org's audit log, to the admin. Nil: 404.
	Events events.Lister
	// Tokens checks API tokens (tether tokens create) and serves /v1/tokens to the
	// operator. Nil: only the global credentials are accepted.
	Tokens *apitokens.Service
	// Connections serves GET /v1/orgs/{org}/connections and POST
	// /v1/orgs/{org}/connections/{id}/refresh|verify. Nil: not served.
	Connections Connections
	// Reconcile queues a reconcile run at once (worker.ReconcileNow) for POST
	// /v1/reconcile, operator only. Nil: 404.
	Reconcile func(ctx context.Context) (string, error)
	// SweepConnections queues a connection sweep at once (worker.SweepConnectionsNow) for
	// POST /v1/connections/sweep, operator only. Nil: 404.
	SweepConnections func(ctx context.Context) (string, error)
	// Keys serves GET /v1/keys and POST /v1/keys/reseal to the operator. Nil: 404.
	Keys *keys.Service
	// AdminUser and AdminPassword sign the operator in to /monitoring/ (a login form
	// issuing a session cookie) and admit basic auth on the /v1 API. An empty password
	// makes /monitoring answer 503: no password, no access.
	AdminUser     string
	AdminPassword string
	// SessionTTL is how long a /monitoring session lasts. Zero means DefaultSessionTTL.
	SessionTTL time.Duration
	// SecureCookie sets Secure on the session cookie even when the request did not come
	// over TLS here (TLS ends at a proxy in front): true when PUBLIC_URL is https.
	SecureCookie bool
	// TrustedOrigins are origins (scheme://host[:port]) allowed to send unsafe requests
	// besides the request's own Host: PUBLIC_URL, for a proxy that rewrites Host.
	TrustedOrigins []string
	// MaxUnauthenticated caps requests without credentials (Join, OAuth callback, login)
	// served at once; more get 503. Zero means DefaultMaxUnauthenticated.
	MaxUnauthenticated int
	// APIToken, when set, also admits a request to the /v1 admin API that carries
	// "Authorization: Bearer <APIToken>".
	APIToken string
	// ReadyTimeout bounds each readiness check. Zero means 2s.
	ReadyTimeout time.Duration
}

// Server is tether's HTTP handler. Safe for concurrent use.
type Server struct {
	p        Params
	log      zerolog.Logger
	mux      *http.ServeMux
	handler  http.Handler // mux inside the security middleware
	unauth   chan struct{}
	draining atomic.Bool
}

// New builds the Server.
func New(p Params) (*Server, error) {
	if p.Gatherer == nil {
		return nil, errors.New("api: Params.Gatherer is required")
	}
	if p.ReadyTimeout == 0 {
		p.ReadyTimeout = 2 * time.Second
	}
	p.SessionTTL = cmp.Or(p.SessionTTL, DefaultSessionTTL)
	p.MaxUnauthenticated = cmp.Or(p.MaxUnauthenticated, DefaultMaxUnauthenticated)
	s := &Server{p: p, log: p.Logger, mux: http.NewServeMux(), unauth: make(chan struct{}, p.MaxUnauthenticated)}
	s.routes()
	s.handler = s.secure(http.HandlerFunc(s.route))
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// route dispatches to the mux; s.handler wraps it in the security middleware.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		if h, pattern := s.mux.Handler(r); pattern == "" {
			// No route: the mux's own 404 or 405 (with its Allow header), answered in the
			// API's JSON error shape instead of text.
			apiMiss(w, r, h)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// apiMiss runs the mux's answer for an unrouted /v1 request into a buffer and answers
// its status as a JSON error, keeping its Allow header.
func apiMiss(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	switch rec.status {
	case http.StatusMethodNotAllowed:
		writeError(w, http.StatusMethodNotAllowed, APIError{Code: "method_not_allowed",
			Message: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + rec.header.Get("Allow")})
	default:
		writeError(w, http.StatusNotFound, APIError{Code: "no_route",
			Message: "no API route " + r.Method + " " + r.URL.Path + "; README.md lists the /v1 routes"})
	}
}

// statusRecorder keeps a handler's header and status and drops its body.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}
func (s *statusRecorder) Write(p []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(p), nil
}

// Drain makes /readyz answer 503 from now on, so load balancers stop sending traffic while
// the process shuts down.
func (s *Server) Drain() { s.draining.Store(true) }

// NewMonitoring returns the Asynq monitoring UI and API for mounting at /monitoring/. It
// opens its own Redis connection; close the handler when done.
func NewMonitoring(redis asynq.RedisConnOpt) *asynqmon.HTTPHandler {
	return asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: redis})
}

// NewRegistry returns a registry with the Go runtime and process collectors and, when
// inspector is not nil, Asynq's queue metrics (sizes, latency, processed and failed counts
// per queue) and the worker slots serving each queue. Register tether's own collectors on
// it too.
func NewRegistry(inspector *asynq.Inspector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if inspector != nil {
		reg.MustRegister(metrics.NewQueueMetricsCollector(inspector), newQueueSlots(inspector))
	}
	return reg
}

// requireAPIAdmin guards the /v1 JSON API: a bearer API token or the admin's basic
// credentials. Refusals are JSON like every other answer of that API.
func (s *Server) requireAPIAdmin(next http.Handler) http.Handler { return s.requireAPI(next, false) }

// requireOperator guards routes only the global credential may use (key rotation, API
// tokens): a scoped token gets 403 there.
func (s *Server) requireOperator(next http.Handler) http.Handler { return s.requireAPI(next, true) }

func (s *Server) requireAPI(next http.Handler, operatorOnly bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.p.AdminPassword == "" && s.p.APIToken == "" && s.p.Tokens == nil {
			writeError(w, http.StatusServiceUnavailable, APIError{Code: "admin_not_configured",
				Message: "the admin API is off: set TETHER_API_TOKEN or TETHER_ADMIN_PASSWORD"})
			return
		}
		if s.apiTokenOK(r) || s.basicOK(r) {
			next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), "admin")))
			return
		}
		if secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && s.p.Tokens != nil &&
			strings.HasPrefix(secret, apitokens.Prefix) {
			t, err := s.p.Tokens.Authenticate(r.Context(), secret)
			if err == nil {
				if msg := tokenRefusal(t, r, operatorOnly); msg != "" {
					refuseUnread(w, r)
					writeError(w, http.StatusForbidden, APIError{Code: "forbidden", Message: msg})
					return
				}
				next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), t.Principal())))
				return
			}
			if !errors.Is(err, apitokens.ErrUnknown) {
				s.log.Error().Err(err).Msg("api token check")
				writeError(w, http.StatusServiceUnavailable, APIError{Code: "unavailable", Message: "the token could not be checked; try again"})
				return
			}
		}
		refuseUnread(w, r)
		w.Header().Set("WWW-Authenticate", `Bearer realm="tether admin API"`)
		writeError(w, http.StatusUnauthorized, APIError{Code: "unauthorized",
			Message: "send Authorization: Bearer <an API token from tether tokens create, or TETHER_API_TOKEN> or the admin's basic credentials"})
	})
}

// tokenRefusal says why token t may not make request r, or "" when it may.
func tokenRefusal(t apitokens.Token, r *http.Request, operatorOnly bool) string {
	org := r.PathValue("org")
	switch {
	case operatorOnly:
		return "this route takes the operator's credential (TETHER_API_TOKEN or the admin password), not an API token"
	case t.ReadOnly && unsafeMethod(r.Method):
		return "API token " + t.ID + " is read-only: it may only GET"
	case org != "" && !t.AllowsOrg(org):
		return "API token " + t.ID + " is not allowed on org " + org + "; ask an operator for a token that lists it (tether tokens create --org " + org + ")"
	case org == "" && len(t.OrgIDs) > 0:
		return "API token " + t.ID + " is limited to orgs " + strings.Join(t.OrgIDs, ", ") + "; this route is not about one org"
	}
	return ""
}

type principalKey struct{}

func withPrincipal(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, principalKey{}, who)
}

// Principal is who made the request: "admin" for the global credential, "token:<id>"
// for an API token; "" outside the /v1 API.
func Principal(ctx context.Context) string {
	who, _ := ctx.Value(principalKey{}).(string)
	return who
}

func (s *Server) apiTokenOK(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.p.APIToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.p.APIToken)) == 1
}

func (s *Server) basicOK(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(s.p.AdminUser)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(s.p.AdminPassword)) == 1
	return ok && s.p.AdminPassword != "" && userOK && passOK
}

// Timeouts bound how long one connection may hold the server. Zero fields take the
// defaults below.
type Timeouts struct {
	// ReadHeader bounds reading a request's headers. Zero means 10s.
	ReadHeader time.Duration
	// Read bounds reading a whole request, body included. Zero means 30s.
	Read time.Duration
	// Write bounds writing the response, from the end of the request headers. Zero means
	// 60s.
	Write time.Duration
	// Idle bounds how long a keep-alive connection waits for its next request. Zero means
	// 60s.
	Idle time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	t.ReadHeader = cmp.Or(t.ReadHeader, 10*time.Second)
	t.Read = cmp.Or(t.Read, 30*time.Second)
	t.Write = cmp.Or(t.Write, 60*time.Second)
	t.Idle = cmp.Or(t.Idle, 60*time.Second)
	return t
}

// ListenAndServe serves h on addr until ctx is done, then shuts down, giving open requests
// up to 5s. ready, when not nil, receives the bound address (useful with port 0).
func ListenAndServe(ctx context.Context, addr string, h http.Handler, t Timeouts, log zerolog.Logger, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return Serve(ctx, ln, h, t, log, ready)
}

// Serve is ListenAndServe on a listener already open; it closes ln.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, t Timeouts, log zerolog.Logger, ready func(net.Addr)) error {
	t = t.withDefaults()
	addr := ln.Addr().String()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle}
	if ready != nil {
		ready(ln.Addr())
	}
	log.Info().Str("addr", addr).Msg("http listening")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down http on %s: %w", addr, err)
	}
	return nil
}
