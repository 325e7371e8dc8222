package permissions

import (
	"context"
	"fmt"
	"time"
)

// AuditStatus is where an audit someone asked for stands.
type AuditStatus string

// Audit statuses: queued and running audits must have a task (the reconciler gives one
// back to an audit whose task Redis lost); done and failed are final.
const (
	AuditQueued  AuditStatus = "queued"
	AuditRunning AuditStatus = "running"
	AuditDone    AuditStatus = "done"
	AuditFailed  AuditStatus = "failed"
)

// Finished reports whether s is final.
func (s AuditStatus) Finished() bool { return s == AuditDone || s == AuditFailed }

// AuditRun is one audit asked for: by a person or program (on demand) or by the daily
// sweep (Day set). Its row outlives its task, so a lost or exhausted task is visible.
type AuditRun struct {
	ID    string `json:"id"`
	OrgID string `json:"org_id"`
	// Day is "YYYYMMDD" for the daily sweep's audit, empty for an on-demand one.
	Day         string      `json:"day,omitempty"`
	RequestedBy string      `json:"requested_by,omitempty"`
	Status      AuditStatus `json:"status"`
	// ReportID is the report a done audit stored.
	ReportID string `json:"report_id,omitempty"`
	// Error says why a failed audit failed, for a person.
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RunStore keeps audit runs. Implemented by sync/store.
type RunStore interface {
	// CreateAuditRun stores run as queued and returns it with created true. When the org
	// already has an on-demand run queued or running (run.Day empty), or a run for the
	// same day, it returns that one with created false. An unknown org is an error
	// wrapping directory.ErrNotFound.
	CreateAuditRun(ctx context.Context, orgID string, run AuditRun) (saved AuditRun, created bool, err error)
	// GetAuditRun returns an error wrapping directory.ErrNotFound if there is none.
	GetAuditRun(ctx context.Context, orgID, id string) (AuditRun, error)
	// UpdateAuditRun moves an unfinished run to status (with the report id of a done run,
	// the reason of a failed one) and returns it; a finished run is returned unchanged.
	UpdateAuditRun(ctx context.Context, orgID, id string, status AuditStatus, reportID, reason string, at time.Time) (AuditRun, error)
}

// AuditTasks queues the task of an audit run. Queuing a run whose task is queued or
// running already is not an error (a deterministic task id per run). Implemented in
// worker.
type AuditTasks interface {
	QueueAuditTask(ctx context.Context, run AuditRun) error
}

// Requests is the one producer of permission audits: the CLI (permissions check), the
// HTTP API (POST /v1/orgs/{org}/permission-audits), the connect flow, the daily sweep and
// the demo all ask through it. Each audit is a row first and a task second, so an audit
// whose task could not be queued, or was lost with Redis, is still known and the
// reconciler queues it again. Safe for concurrent use.
type Requests struct {
	Store RunStore   // required
	Tasks AuditTasks // required
	// Clock defaults to time.Now.
	Clock func() time.Time
}

func (q Requests) now() time.Time {
	if q.Clock != nil {
		return q.Clock()
	}
	return time.Now()
}

// Request asks for an on-demand audit of orgID by requestedBy (a principal, or "" for the
// system). When the org has one queued or running already, that one is returned with
// created false (its report will answer) and its task is queued again, which heals a
// task lost with Redis at once. A failure to queue returns the stored run with a
// *NotQueuedError: the run stays queued and the reconciler queues it.
func (q Requests) Request(ctx context.Context, orgID, requestedBy string) (run AuditRun, created bool, err error) {
	at := q.now()
	run, created, err = q.Store.CreateAuditRun(ctx, orgID, AuditRun{OrgID: orgID, RequestedBy: requestedBy,
		Status: AuditQueued, CreatedAt: at, UpdatedAt: at})
	if err != nil {
		return AuditRun{}, false, fmt.Errorf("queue permission audit of org %s: %w", orgID, err)
	}
	if err := q.Tasks.QueueAuditTask(ctx, run); err != nil {
		return run, created, &NotQueuedError{Run: run, Err: err}
	}
	return run, created, nil
}

// QueueAudit asks for an audit and is content with one already pending (the connect
// flow's audit after a team connect).
func (q Requests) QueueAudit(ctx context.Context, orgID string) error {
	_, _, err := q.Request(ctx, orgID, "")
	return err
}

// Daily asks for the daily sweep's audit of orgID for day (UTC): at most one per org and
// day however often the sweep runs.
func (q Requests) Daily(ctx context.Context, orgID string, day time.Time) (AuditRun, error) {
	at := q.now()
	run, _, err := q.Store.CreateAuditRun(ctx, orgID, AuditRun{OrgID: orgID, Day: day.UTC().Format("20060102"),
		Status: AuditQueued, CreatedAt: at, UpdatedAt: at})
	if err != nil {
		return AuditRun{}, fmt.Errorf("queue daily permission audit of org %s: %w", orgID, err)
	}
	if run.Status.Finished() {
		return run, nil
	}
	if err := q.Tasks.QueueAuditTask(ctx, run); err != nil {
		return run, &NotQueuedError{Run: run, Err: err}
	}
	return run, nil
}

// NotQueuedError says an audit was stored but its task could not be queued (Redis did
// not answer). The audit stays queued and the reconciler queues its task once Redis
// answers.
type NotQueuedError struct {
	Run AuditRun
	Err error
}

// Message is the sentence for a person, without the driver's error.
func (e *NotQueuedError) Message() string {
	return fmt.Sprintf("permission audit %s of org %s is stored but its task could not be queued: it stays queued, and the "+
		"reconciler queues it once Redis answers (when a worker starts, and every TETHER_RECONCILE_SCHEDULE)", e.Run.ID, e.Run.OrgID)
}

func (e *NotQueuedError) Error() string { return e.Message() + " (cause: " + e.Err.Error() + ")" }
func (e *NotQueuedError) Unwrap() error { return e.Err }

// ErrRunFinished says an audit run's task came back for a run already done or failed (a
// duplicate delivery): there is nothing left to do.
var ErrRunFinished = runFinished{}

type runFinished struct{}

func (runFinished) Error() string  { return "permission audit already finished" }
func (runFinished) Obsolete() bool { return true }

// RunAudit runs the audit run runID of orgID: marks it running, audits (Audit) and marks
// it done with the report. A run already finished is not audited again (ErrRunFinished).
// An empty runID audits without a row (a task queued before audits had rows). Errors are
// Audit's; the run stays running so the task's retry finishes it, and FailAudit records
// a task that gave up.
func (s *Service) RunAudit(ctx context.Context, orgID, runID string) (Report, error) {
	if runID != "" {
		run, err := s.p.Store.UpdateAuditRun(ctx, orgID, runID, AuditRunning, "", "", s.p.Clock())
		if err != nil {
			return Report{}, fmt.Errorf("audit org %s: start run %s: %w", orgID, runID, err)
		}
		if run.Status.Finished() {
			return Report{}, fmt.Errorf("audit run %s of org %s is %s: %w", runID, orgID, run.Status, ErrRunFinished)
		}
	}
	r, err := s.Audit(ctx, orgID)
	if err != nil || runID == "" {
		return r, err
	}
	if _, err := s.p.Store.UpdateAuditRun(ctx, orgID, runID, AuditDone, r.ID, "", s.p.Clock()); err != nil {
		return r, fmt.Errorf("audit org %s: finish run %s (report %s stored): %w", orgID, runID, r.ID, err)
	}
	return r, nil
}

// FailAudit marks the org's audit run failed with reason (a sentence for a person): its
// task gave up. A finished run is left as it is.
func (s *Service) FailAudit(ctx context.Context, orgID, runID, reason string) error {
	if runID == "" {
		return nil
	}
	if _, err := s.p.Store.UpdateAuditRun(ctx, orgID, runID, AuditFailed, "", reason, s.p.Clock()); err != nil {
		return fmt.Errorf("mark permission audit %s of org %s failed: %w", runID, orgID, err)
	}
	return nil
}
