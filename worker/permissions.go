package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"tether/jobs"
	"tether/sync/permissions"
)

// PermissionAuditor runs one audit run (permissions.Service).
type PermissionAuditor interface {
	RunAudit(ctx context.Context, orgID, runID string) (permissions.Report, error)
	// FailAudit marks the run failed with reason: its task gave up.
	FailAudit(ctx context.Context, orgID, runID, reason string) error
}

// DailyAudits asks for the daily sweep's audit of an org (permissions.Requests).
type DailyAudits interface {
	Daily(ctx context.Context, orgID string, day time.Time) (permissions.AuditRun, error)
}

// TeamOrgLister pages through the orgs that have a team-level Salesforce connection.
type TeamOrgLister interface {
	ListOrgsWithTeamConnection(ctx context.Context, afterID string, limit int) ([]string, error)
}

// Enqueuer queues tasks (an *asynq.Client).
type Enqueuer interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// ProducerWait bounds the enqueue of a task someone asked for (an import, an audit, a
// resend, a deactivation: a CLI verb or an HTTP request waits on it). A Sentinel client
// whose sentinels are all down retries for about 36 s before it fails; waiting longer than
// this gains nothing: an import, an audit or a resend is a row first, whose task the
// reconciler queues once Redis answers, and a deactivation that fails is refused whole
// (the caller asks again).
const ProducerWait = 10 * time.Second

// BoundedEnqueuer is an Enqueuer whose every enqueue waits at most ProducerWait, for a
// producer a person waits on (the reminders a role, photo or policy change queues).
type BoundedEnqueuer struct{ Client Enqueuer }

// EnqueueContext implements Enqueuer.
func (b BoundedEnqueuer) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, ProducerWait)
	defer cancel()
	return b.Client.EnqueueContext(ctx, t, opts...)
}

// enqueueBounded is c.EnqueueContext within ProducerWait (or ctx's earlier deadline).
func enqueueBounded(ctx context.Context, c Enqueuer, t *asynq.Task) (*asynq.TaskInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, ProducerWait)
	defer cancel()
	return c.EnqueueContext(ctx, t)
}

// PermissionAudits are the permission-audit handlers' dependencies, all required.
type PermissionAudits struct {
	Auditor PermissionAuditor
	Orgs    TeamOrgLister
	Daily   DailyAudits
}

// registerPermissions handles salesforce:audit_permissions and its daily sweep. A broken
// connection or a missing permission is a report, so the task succeeds; a Salesforce
// request limit is retried after the delay it asks for (without spending a retry); other
// errors (5xx, store) are retried with backoff. A task that gives up leaves its audit
// run failed with the reason.
func registerPermissions(w *Worker, s Services) {
	a := s.Permissions
	Describe(w, jobs.TypeAuditPermissions, func(p jobs.AuditPermissions) Subject { return auditSubject(p.OrgID, unixTime(p.Since)) })
	OnGiveUp(w, jobs.TypeAuditPermissions, func(ctx context.Context, p jobs.AuditPermissions, reason error) error {
		return a.Auditor.FailAudit(ctx, p.OrgID, p.AuditID, explain(reason, auditSubject(p.OrgID, unixTime(p.Since))))
	})
	Handle(w, jobs.TypeAuditPermissions, func(ctx context.Context, p jobs.AuditPermissions) error {
		r, err := a.Auditor.RunAudit(ctx, p.OrgID, p.AuditID)
		if err != nil {
			// A *permissions.RateLimitError says its RetryAfter, ErrRunFinished that
			// the task is obsolete (classify).
			return err
		}
		sum := permissions.Summarize(r.Checks)
		zerolog.Ctx(ctx).Info().Str("report_id", r.ID).Int("missing", sum[string(permissions.ResultMissing)]).
			Int("unknown", sum[string(permissions.ResultUnknown)]).Msg("permission audit")
		writeResult(ctx, r.ID)
		return nil
	})
	Handle(w, jobs.TypeAuditPermissionsSweep, func(ctx context.Context, p jobs.AuditPermissionsSweep) error {
		slot, err := jobs.SlotTime(p.Slot)
		if err != nil {
			return Permanent(err)
		}
		n, after := 0, ""
		for {
			ids, err := a.Orgs.ListOrgsWithTeamConnection(ctx, after, 500)
			if err != nil {
				return fmt.Errorf("audit sweep %s: list orgs after %q: %w", p.Slot, after, err)
			}
			for _, id := range ids {
				// One run per org and day: a retried sweep or another replica finds it.
				if _, err := a.Daily.Daily(ctx, id, slot); err != nil {
					return fmt.Errorf("audit sweep %s: org %s: %w", p.Slot, id, err)
				}
				n++
			}
			if len(ids) < 500 {
				break
			}
			after = ids[len(ids)-1]
		}
		zerolog.Ctx(ctx).Info().Int("orgs", n).Msg("permission audits enqueued")
		writeResult(ctx, fmt.Sprintf("orgs=%d", n))
		return nil
	})
}

// auditSubject is what an audit's give-up sentence says.
func auditSubject(orgID string, since time.Time) Subject {
	return Subject{What: "the permission audit", OrgID: orgID, Since: since,
		Again: fmt.Sprintf("run `tether permissions check --org %s` again", orgOr(orgID))}
}

// PermissionsPeriodic is the daily audit sweep for the scheduler; spec is a 5-field cron
// expression in UTC (e.g. "17 3 * * *").
func PermissionsPeriodic(spec string) (Periodic, error) {
	sch, err := cron.ParseStandard(spec)
	if err != nil {
		return Periodic{}, fmt.Errorf("permission audit schedule %q: %w", spec, err)
	}
	return Periodic{Name: jobs.TypeAuditPermissionsSweep, Schedule: sch, Task: jobs.NewAuditPermissionsSweepTask, CatchUp: 24 * time.Hour}, nil
}
