package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/permissions"
)

// PermissionAuditStore is what the permission-audit routes read.
type PermissionAuditStore interface {
	// GetOrg returns an error wrapping directory.ErrNotFound for an unknown org.
	GetOrg(ctx context.Context, orgID string) (directory.Org, error)
	// LatestPermissionReports returns the org's newest reports, newest first, at most
	// limit.
	LatestPermissionReports(ctx context.Context, orgID string, limit int) ([]permissions.Report, error)
	// OpenPermissionAlerts returns the org's alerts about permissions still lost.
	OpenPermissionAlerts(ctx context.Context, orgID string) ([]permissions.Alert, error)
	// AppendEvent records who requested an audit.
	AppendEvent(ctx context.Context, e events.Event) error
	// GetAuditRun returns an error wrapping directory.ErrNotFound if the org has no such run.
	GetAuditRun(ctx context.Context, orgID, id string) (permissions.AuditRun, error)
}

// TaskEnqueuer queues tasks (an *asynq.Client).
type TaskEnqueuer interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// AuditQueue asks for an on-demand permission audit (permissions.Requests, the one
// producer): created is false when the org had one queued or running, which is returned.
type AuditQueue interface {
	Request(ctx context.Context, orgID, requestedBy string) (run permissions.AuditRun, created bool, err error)
}

// PermissionAudits are the dependencies of POST /v1/orgs/{org}/permission-audits and GET
// /v1/orgs/{org}/permission-audits/latest. Both are required for the routes to exist.
type PermissionAudits struct {
	Store PermissionAuditStore
	Queue AuditQueue
	// Now stamps the 202 answer's queued_at. Nil means time.Now.
	Now func() time.Time
}

// AuditQueued is the 202 answer to POST /v1/orgs/{org}/permission-audits.
type AuditQueued struct {
	AuditID  string    `json:"audit_id"`
	TaskID   string    `json:"task_id"`
	OrgID    string    `json:"org_id"`
	QueuedAt time.Time `json:"queued_at"`
	// Audit is where the audit's status is (queued, running, done with its report id,
	// failed with its reason); also the Location header.
	Audit string `json:"audit"`
	// Latest is where the report appears once the worker has run the audit.
	Latest string `json:"latest"`
}

// ReportJSON is a stored permission report as GET .../permission-audits/latest serves it.
type ReportJSON struct {
	ID           string              `json:"id"`
	OrgID        string              `json:"org_id"`
	ConnectionID string              `json:"connection_id,omitempty"`
	CreatedAt    time.Time           `json:"created_at"`
	Summary      map[string]int      `json:"summary"` // result -> count
	Checks       []permissions.Check `json:"checks"`
	// Previous is the report before this one and what changed since; nil for the
	// org's first report.
	Previous *PreviousJSON `json:"previous"`
	// Alerts are the admins' emails about permissions still lost, oldest first.
	Alerts []AlertJSON `json:"alerts"`
}

// AlertJSON is one lost permission's alert and its delivery: "pending" (not emailed
// yet), "attempting" (the send began and its outcome was not recorded: outcome unknown,
// never sent again), "sent", or "unconfirmed" (handed to the SMTP server, its answer
// lost: outcome unknown, never sent again).
type AlertJSON struct {
	Check       string     `json:"check"`
	LostSince   time.Time  `json:"lost_since"`
	ReportID    string     `json:"report_id"`
	Delivery    string     `json:"delivery"`
	AttemptedAt *time.Time `json:"attempted_at,omitempty"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
	// NeverConnected: the connection check of an org never connected; missing since
	// LostSince (the key's name), nothing lost.
	NeverConnected bool `json:"never_connected,omitempty"`
}

// NewAlertJSON is a's JSON view.
func NewAlertJSON(a permissions.Alert) AlertJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	return AlertJSON{Check: a.Check, LostSince: a.LostSince.UTC(), ReportID: a.ReportID, Delivery: a.Delivery(),
		AttemptedAt: opt(a.AttemptedAt), SentAt: opt(a.SentAt), NeverConnected: a.NeverConnected}
}

// PreviousJSON summarises the report before the latest.
type PreviousJSON struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	// Changes are the checks whose decisive result flipped (ok <-> missing); going to or
	// from unknown is not a change (permissions.Diff).
	Changes []ChangeJSON `json:"changes"`
}

// ChangeJSON is one flipped check: Change is "lost" (ok -> missing) or "gained".
type ChangeJSON struct {
	Check    string `json:"check"`
	Change   string `json:"change"`
	Required bool   `json:"required"`
}

// NewReportJSON builds the JSON view of latest, diffed against prev when prev is not nil.
func NewReportJSON(latest permissions.Report, prev *permissions.Report) ReportJSON {
	out := ReportJSON{ID: latest.ID, OrgID: latest.OrgID, ConnectionID: latest.ConnectionID,
		CreatedAt: latest.CreatedAt.UTC(), Summary: permissions.Summarize(latest.Checks), Checks: latest.Checks,
		Alerts: []AlertJSON{}}
	if out.Checks == nil {
		out.Checks = []permissions.Check{}
	}
	if prev != nil {
		p := &PreviousJSON{ID: prev.ID, CreatedAt: prev.CreatedAt.UTC(), Changes: []ChangeJSON{}}
		prevChecks := prev.Checks
		if prevChecks == nil {
			prevChecks = []permissions.Check{} // Diff treats nil as "no earlier report"
		}
		for _, c := range permissions.Diff(prevChecks, latest.Checks) {
			ch := ChangeJSON{Check: c.Check, Change: "gained", Required: c.Required}
			if c.Lost {
				ch.Change = "lost"
			}
			p.Changes = append(p.Changes, ch)
		}
		out.Previous = p
	}
	return out
}

func latestAuditPath(orgID string) string {
	return "/v1/orgs/" + orgID + "/permission-audits/latest"
}

func auditPath(orgID, id string) string {
	return "/v1/orgs/" + orgID + "/permission-audits/" + id
}

// orgForAudit answers 404 for an unknown org and 500 for a store failure; ok is false
// when it has answered.
func (s *Server) orgForAudit(w http.ResponseWriter, r *http.Request) (orgID string, ok bool) {
	orgID = r.PathValue("org")
	if _, err := s.p.PermissionAudits.Store.GetOrg(r.Context(), orgID); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			writeError(w, http.StatusNotFound, APIError{Code: "org_not_found", Message: "no org with id " + orgID + ": tether org list (GET /v1/orgs) lists the orgs"})
			return "", false
		}
		s.log.Error().Err(err).Str("org_id", orgID).Msg("permission audit: read org")
		writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "could not read the org; see tether's log"})
		return "", false
	}
	return orgID, true
}

// handleAuditPermissions asks for an on-demand audit. 202 with the audit's id and where
// to follow it; 409 when one for the org is already queued or running (its id and path
// in the message: its report will answer); 503 when it is stored but its task could not
// be queued (the reconciler queues it).
func (s *Server) handleAuditPermissions() http.Handler {
	pa := s.p.PermissionAudits
	now := pa.Now
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orgID, ok := s.orgForAudit(w, r)
		if !ok {
			return
		}
		at := now().UTC()
		by := Principal(r.Context())
		run, created, err := pa.Queue.Request(r.Context(), orgID, by)
		var nq *permissions.NotQueuedError
		switch {
		case errors.As(err, &nq):
			s.log.Error().Err(nq.Err).Str("org_id", orgID).Str("audit_id", nq.Run.ID).Msg("permission audit stored but not queued")
			w.Header().Set("Location", auditPath(orgID, nq.Run.ID))
			writeError(w, http.StatusServiceUnavailable, APIError{Code: "not_queued", Message: nq.Message()})
			return
		case errors.Is(err, jobs.ErrInvalidPayload):
			writeError(w, http.StatusBadRequest, APIError{Code: "invalid_org", Message: err.Error()})
			return
		case err != nil:
			s.log.Error().Err(err).Str("org_id", orgID).Msg("permission audit: request")
			writeError(w, http.StatusServiceUnavailable, APIError{Code: "queue_unavailable", Message: "could not queue the audit; try again"})
			return
		}
		w.Header().Set("Location", auditPath(orgID, run.ID))
		if !created {
			writeError(w, http.StatusConflict, APIError{Code: "audit_pending",
				Message: "audit " + run.ID + " of org " + orgID + " is already " + string(run.Status) + "; follow it at " +
					auditPath(orgID, run.ID) + ", its report will be at " + latestAuditPath(orgID)})
			return
		}
		if err := pa.Store.AppendEvent(r.Context(), events.Event{OrgID: orgID, Kind: "permission_audit.requested", Subject: run.ID,
			At: at, Detail: map[string]any{"requested_by": by}}); err != nil {
			s.log.Error().Err(err).Str("org_id", orgID).Str("audit_id", run.ID).Str("requested_by", by).
				Msg("permission audit queued; the event naming who requested it was not written")
		}
		writeJSON(w, http.StatusAccepted, AuditQueued{AuditID: run.ID, TaskID: jobs.TaskIDAuditPermissions(orgID, run.ID), OrgID: orgID,
			QueuedAt: at, Audit: auditPath(orgID, run.ID), Latest: latestAuditPath(orgID)})
	})
}

// handleGetPermissionAudit serves one audit run: its status, and the report id of a done
// one or the reason of a failed one. 404 audit_not_found for another org's or no run.
func (s *Server) handleGetPermissionAudit() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orgID, ok := s.orgForAudit(w, r)
		if !ok {
			return
		}
		id := r.PathValue("audit")
		run, err := s.p.PermissionAudits.Store.GetAuditRun(r.Context(), orgID, id)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			// Ids come only from a request's answer: say which one, since nothing lists them.
			writeError(w, http.StatusNotFound, APIError{Code: "audit_not_found", Message: "no permission audit " + id + " in org " + orgID +
				": audit ids are in the answer of POST /v1/orgs/" + orgID + "/permission-audits (audit_id) or the output of tether permissions check --org " + orgID +
				"; the newest report is at " + latestAuditPath(orgID)})
		case err != nil:
			s.log.Error().Err(err).Str("org_id", orgID).Str("audit_id", id).Msg("permission audit: read run")
			writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "could not read the audit; see tether's log"})
		default:
			writeJSON(w, http.StatusOK, run)
		}
	})
}

// handleLatestPermissionAudit serves the org's newest report with what changed since the
// one before; 404 "no_report" until the org has one.
func (s *Server) handleLatestPermissionAudit() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orgID, ok := s.orgForAudit(w, r)
		if !ok {
			return
		}
		rs, err := s.p.PermissionAudits.Store.LatestPermissionReports(r.Context(), orgID, 2)
		if err != nil {
			s.log.Error().Err(err).Str("org_id", orgID).Msg("permission audit: read reports")
			writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "could not read the reports; see tether's log"})
			return
		}
		if len(rs) == 0 {
			writeError(w, http.StatusNotFound, APIError{Code: "no_report",
				Message: "org " + orgID + " has no permission report yet; POST /v1/orgs/" + orgID + "/permission-audits to run an audit"})
			return
		}
		alerts, err := s.p.PermissionAudits.Store.OpenPermissionAlerts(r.Context(), orgID)
		if err != nil {
			s.log.Error().Err(err).Str("org_id", orgID).Msg("permission audit: read alerts")
			writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "could not read the alerts; see tether's log"})
			return
		}
		writeJSON(w, http.StatusOK, LatestReportOf(rs, alerts))
	})
}

// LatestReportOf is the newest of rs (newest first, at least one), what changed since the
// one before it and the org's open alerts, as GET /v1/orgs/{org}/permission-audits/latest
// answers.
func LatestReportOf(rs []permissions.Report, alerts []permissions.Alert) ReportJSON {
	var prev *permissions.Report
	if len(rs) > 1 {
		prev = &rs[1]
	}
	out := NewReportJSON(rs[0], prev)
	for _, a := range alerts {
		out.Alerts = append(out.Alerts, NewAlertJSON(a))
	}
	return out
}
