package httpapi

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// metricsErrorLog logs what a scrape could not collect.
type metricsErrorLog struct{ log zerolog.Logger }

func (l metricsErrorLog) Println(v ...any) {
	l.log.Warn().Str("component", "metrics").Msg(fmt.Sprint(v...))
}

// routes is every route tether serves. Later issues add theirs here; every route is
// wrapped by secure (see security.go), routes without credentials also by public.
func (s *Server) routes() {
	s.mux.Handle("GET /healthz", s.handleHealthz())
	s.mux.Handle("GET /readyz", s.handleReadyz())
	// A collector that cannot read (Redis away) drops its own series, not the scrape's:
	// the rest are what an operator watches the outage with.
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.p.Gatherer, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, ErrorLog: metricsErrorLog{s.log}}))
	if s.p.Join != nil {
		s.mux.Handle("GET /join/{token}", s.public(s.p.Join))
		s.mux.Handle("POST /join/{token}", s.public(s.p.Join))
	}
	if s.p.Connect != nil {
		s.mux.Handle("GET /connect/{token}", s.public(s.p.Connect))
		s.mux.Handle("POST /connect/{token}", s.public(s.p.Connect))
		s.mux.Handle("GET /oauth/callback/{provider}", s.public(s.p.Connect))
	}
	if s.p.ConnectLinks != nil {
		s.mux.Handle("POST /v1/orgs/{org}/connect-links", s.requireAPIAdmin(s.handleConnectLink(false)))
		s.mux.Handle("POST /v1/orgs/{org}/members/{member}/connect-links", s.requireAPIAdmin(s.handleConnectLink(true)))
	}
	if pa := s.p.PermissionAudits; pa.Store != nil && pa.Queue != nil {
		s.mux.Handle("POST /v1/orgs/{org}/permission-audits", s.requireAPIAdmin(s.handleAuditPermissions()))
		s.mux.Handle("GET /v1/orgs/{org}/permission-audits/latest", s.requireAPIAdmin(s.handleLatestPermissionAudit()))
		s.mux.Handle("GET /v1/orgs/{org}/permission-audits/{audit}", s.requireAPIAdmin(s.handleGetPermissionAudit()))
	}
	if s.p.Imports != nil {
		s.mux.Handle("POST /v1/orgs/{org}/imports", s.requireAPIAdmin(s.handleCreateImport()))
		s.mux.Handle("GET /v1/orgs/{org}/imports/{id}", s.requireAPIAdmin(s.handleGetImport()))
	}
	if s.p.InviteAdmin != nil {
		s.mux.Handle("GET /v1/orgs/{org}/imports", s.requireAPIAdmin(s.handleListImports()))
		s.mux.Handle("POST /v1/orgs/{org}/imports/{id}/cancel", s.requireAPIAdmin(s.handleCancelImport()))
		s.mux.Handle("POST /v1/orgs/{org}/imports/{id}/revoke", s.requireAPIAdmin(s.handleRevokeImport()))
		s.mux.Handle("GET /v1/orgs/{org}/imports/{id}/skipped", s.requireAPIAdmin(s.handleListSkipped()))
		s.mux.Handle("GET /v1/orgs/{org}/imports/{id}/skipped.csv", s.requireAPIAdmin(s.handleSkippedCSV()))
		s.mux.Handle("GET /v1/orgs/{org}/invites", s.requireAPIAdmin(s.handleListInvites()))
		s.mux.Handle("DELETE /v1/orgs/{org}/invites/{id}", s.requireAPIAdmin(s.handleRevokeInvite()))
		if s.p.Resends != nil {
			s.mux.Handle("POST /v1/orgs/{org}/imports/{id}/resend", s.requireAPIAdmin(s.handleResendImport()))
			s.mux.Handle("POST /v1/orgs/{org}/invites/{invite}/resend", s.requireAPIAdmin(s.handleResendInvite()))
		}
	}
	if s.p.Orgs != nil {
		s.mux.Handle("POST /v1/orgs", s.requireAPIAdmin(s.handleCreateOrg()))
		s.mux.Handle("GET /v1/orgs", s.requireAPIAdmin(s.handleListOrgs()))
		s.mux.Handle("GET /v1/orgs/{org}", s.requireAPIAdmin(s.handleGetOrg()))
		s.mux.Handle("PATCH /v1/orgs/{org}", s.requireAPIAdmin(s.handleUpdateOrg()))
		s.mux.Handle("GET /v1/users/{user}/memberships", s.requireAPIAdmin(s.handleUserMemberships()))
		s.mux.Handle("PUT /v1/users/{user}/default-org", s.requireAPIAdmin(s.handleSetDefaultOrg()))
	}
	if s.p.Members != nil {
		s.mux.Handle("GET /v1/orgs/{org}/members", s.requireAPIAdmin(s.handleListMembers()))
		s.mux.Handle("PATCH /v1/orgs/{org}/members/{member}", s.requireAPIAdmin(s.handleUpdateMember()))
		s.mux.Handle("POST /v1/orgs/{org}/members/recompute", s.requireAPIAdmin(s.handleRecomputeMembers()))
		if s.p.Deactivations != nil {
			s.mux.Handle("POST /v1/orgs/{org}/members/{member}/deactivate", s.requireAPIAdmin(s.handleDeactivateMember()))
		}
	}
	if s.p.Reminders != nil {
		s.mux.Handle("GET /v1/orgs/{org}/members/{member}/reminders", s.requireAPIAdmin(s.handleMemberReminders()))
	}
	if s.p.Events != nil {
		s.mux.Handle("GET /v1/orgs/{org}/events", s.requireAPIAdmin(s.handleListEvents()))
	}
	if s.p.ReminderSettings != nil {
		s.mux.Handle("GET /v1/orgs/{org}/reminder-settings", s.requireAPIAdmin(s.handleGetReminderSettings()))
		s.mux.Handle("PATCH /v1/orgs/{org}/reminder-settings", s.requireAPIAdmin(s.handleUpdateReminderSettings()))
	}
	if s.p.Connections != nil {
		s.mux.Handle("GET /v1/orgs/{org}/connections", s.requireAPIAdmin(s.handleListConnections()))
		s.mux.Handle("POST /v1/orgs/{org}/connections/{id}/refresh", s.requireAPIAdmin(s.handleUpkeep("refresh")))
		s.mux.Handle("POST /v1/orgs/{org}/connections/{id}/verify", s.requireAPIAdmin(s.handleUpkeep("verify")))
	}
	if s.p.Keys != nil {
		s.mux.Handle("GET /v1/keys", s.requireOperator(s.handleKeyStatus()))
		s.mux.Handle("POST /v1/keys/reseal", s.requireOperator(s.handleReseal()))
	}
	if s.p.Reconcile != nil {
		s.mux.Handle("POST /v1/reconcile", s.requireOperator(s.handleReconcile()))
	}
	if s.p.SweepConnections != nil {
		s.mux.Handle("POST /v1/connections/sweep", s.requireOperator(s.handleSweepConnections()))
	}
	if s.p.Tokens != nil {
		s.mux.Handle("POST /v1/tokens", s.requireOperator(s.handleCreateToken()))
		s.mux.Handle("GET /v1/tokens", s.requireOperator(s.handleListTokens()))
		s.mux.Handle("DELETE /v1/tokens/{id}", s.requireOperator(s.handleRevokeToken()))
	}
	if s.p.Monitoring != nil {
		s.mux.Handle("GET /monitoring", http.RedirectHandler("/monitoring/", http.StatusMovedPermanently))
		// asynqmon must be mounted at its root path plus "/": its own example's exact-path
		// mount serves the index but 404s every /monitoring/api/... call.
		s.mux.Handle("/monitoring/", s.requireAdmin(s.p.Monitoring))
		s.mux.Handle("GET /monitoring/login", s.handleLoginForm())
		s.mux.Handle("POST /monitoring/login", s.public(s.handleLogin()))
		s.mux.Handle("POST /monitoring/logout", s.handleLogout())
	}
}
