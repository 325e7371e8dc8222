package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/onboarding"
	"tether/sync/permissions"
	"tether/sync/reminders"
)

// ReconcileStore lists the rows that must have a task (store.Store).
type ReconcileStore interface {
	// UnfinishedImports pages through queued, running and paused imports of every org.
	UnfinishedImports(ctx context.Context, after directory.Ref, limit int) ([]directory.Import, error)
	// UnsentInviteRefs pages through pending, unexpired invites never sent whose send has
	// not failed for good.
	UnsentInviteRefs(ctx context.Context, after directory.Ref, at time.Time, limit int) ([]directory.Ref, error)
	// RequestedResends pages through resends asked for but not sent of pending, unexpired
	// invites whose send has not failed for good.
	RequestedResends(ctx context.Context, after directory.Ref, at time.Time, limit int) ([]directory.SendAttempt, error)
	// StaleInviteAttempts lists send attempts still attempting since before (their run
	// died after recording them); the reconciler settles them unknown.
	StaleInviteAttempts(ctx context.Context, before time.Time, limit int) ([]directory.SendAttempt, error)
	// UnfinishedAuditRuns pages through queued and running permission audits.
	UnfinishedAuditRuns(ctx context.Context, after directory.Ref, limit int) ([]permissions.AuditRun, error)
	// QueuedReminders pages through active memberships that record a queued reminder.
	QueuedReminders(ctx context.Context, after directory.Ref, limit int) ([]reminders.QueuedReminder, error)
}

// TaskInspector reads a task's state in Redis (an *asynq.Inspector).
type TaskInspector interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
}

// Reconciler makes rows and tasks agree. Every unfinished import, every pending invite
// never sent, every resend asked for and not sent, and every queued or running permission
// audit, and every reminder an active membership records as queued must have a live task
// in Redis; one that has none (its enqueue failed, or Redis
// lost it in a restart without persistence) gets it again under its deterministic TaskID,
// so a task that is in fact live is never doubled. A row whose task was archived
// (it gave up while the row could not be marked) is marked failed with the task's last
// error. A send attempt still attempting after onboarding.StaleAttempt (its worker died,
// maybe after the mail server accepted the email) is settled unknown and gets no task:
// invitation emails are sent at most once. A reminder's task queued again from a record
// read just before a policy change moved it sends nothing when it runs: only the task the
// record names sends (reminders.Service.FollowUp). Safe to run on several workers at once.
type Reconciler struct {
	Store     ReconcileStore // required
	Queue     Enqueuer       // required
	Inspector TaskInspector  // required
	Imports   ImportRunner   // required: marks an import whose task gave up failed
	Invites   InviteSender   // required: marks a send that gave up failed
	Audits    AuditFailer    // required: marks an audit whose task gave up failed
	Logger    zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PageSize is how many rows are read at once. Zero means 500.
	PageSize int
}

// ReconcileResult counts what one run did.
type ReconcileResult struct {
	Imports       int `json:"imports_requeued"`
	Sends         int `json:"sends_requeued"`
	ImportsLive   int `json:"imports_live"`
	SendsLive     int `json:"sends_live"`
	Audits        int `json:"audits_requeued"`
	AuditsLive    int `json:"audits_live"`
	Reminders     int `json:"reminders_requeued"`
	RemindersLive int `json:"reminders_live"`
	MarkedFailed  int `json:"marked_failed"`
	// SendsUnknown are send attempts found attempting long after their run and settled
	// unknown (never sent again; resend them by hand).
	SendsUnknown int `json:"sends_unknown"`
}

// AuditFailer marks a permission audit run failed (permissions.Service).
type AuditFailer interface {
	FailAudit(ctx context.Context, orgID, runID, reason string) error
}

// Reconcile checks every row once. It stops at the first store or Redis failure (the
// next run starts over; nothing it did is undone).
func (r *Reconciler) Reconcile(ctx context.Context) (ReconcileResult, error) {
	var res ReconcileResult
	if r.Store == nil || r.Queue == nil || r.Inspector == nil || r.Imports == nil || r.Invites == nil || r.Audits == nil {
		return res, errors.New("reconciler: Store, Queue, Inspector, Imports, Invites and Audits are required")
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	n := cmp.Or(r.PageSize, 500)
	for after := (directory.Ref{}); ; {
		imps, err := r.Store.UnfinishedImports(ctx, after, n)
		if err != nil {
			return res, fmt.Errorf("reconcile imports: %w", err)
		}
		for _, imp := range imps {
			if err := r.importTask(ctx, imp, &res); err != nil {
				return res, err
			}
		}
		if len(imps) < n {
			break
		}
		after = directory.Ref{OrgID: imps[len(imps)-1].OrgID, ID: imps[len(imps)-1].ID}
	}
	at := now()
	// Settled first, so the scans below see them as attempted.
	for {
		stale, err := r.Store.StaleInviteAttempts(ctx, at.Add(-onboarding.StaleAttempt), n)
		if err != nil {
			return res, fmt.Errorf("reconcile send attempts: %w", err)
		}
		for _, a := range stale {
			settled, err := r.Invites.Settle(ctx, a.OrgID, a.InviteID, a.Attempt)
			if err != nil {
				return res, fmt.Errorf("reconcile send %d of invite %s: %w", a.Attempt, a.InviteID, err)
			}
			if settled {
				res.SendsUnknown++
				r.Logger.Warn().Str("org_id", a.OrgID).Str("invite_id", a.InviteID).Int("attempt", a.Attempt).
					Msg("invitation email's outcome is unknown (its worker died while sending); not sent again: resend it if the person did not get it")
			}
		}
		if len(stale) < n {
			break
		}
	}
	for after := (directory.Ref{}); ; {
		refs, err := r.Store.UnsentInviteRefs(ctx, after, at, n)
		if err != nil {
			return res, fmt.Errorf("reconcile sends: %w", err)
		}
		for _, ref := range refs {
			if err := r.sendTask(ctx, directory.SendAttempt{OrgID: ref.OrgID, InviteID: ref.ID, Attempt: 1}, &res); err != nil {
				return res, err
			}
		}
		if len(refs) < n {
			break
		}
		after = refs[len(refs)-1]
	}
	for after := (directory.Ref{}); ; {
		resends, err := r.Store.RequestedResends(ctx, after, at, n)
		if err != nil {
			return res, fmt.Errorf("reconcile resends: %w", err)
		}
		for _, a := range resends {
			if err := r.sendTask(ctx, a, &res); err != nil {
				return res, err
			}
		}
		if len(resends) < n {
			break
		}
		after = directory.Ref{OrgID: resends[len(resends)-1].OrgID, ID: resends[len(resends)-1].InviteID}
	}
	for after := (directory.Ref{}); ; {
		runs, err := r.Store.UnfinishedAuditRuns(ctx, after, n)
		if err != nil {
			return res, fmt.Errorf("reconcile permission audits: %w", err)
		}
		for _, run := range runs {
			if err := r.auditTask(ctx, run, &res); err != nil {
				return res, err
			}
		}
		if len(runs) < n {
			break
		}
		after = directory.Ref{OrgID: runs[len(runs)-1].OrgID, ID: runs[len(runs)-1].ID}
	}
	for after := (directory.Ref{}); ; {
		qs, err := r.Store.QueuedReminders(ctx, after, n)
		if err != nil {
			return res, fmt.Errorf("reconcile reminders: %w", err)
		}
		for _, q := range qs {
			if err := r.reminderTask(ctx, q, &res); err != nil {
				return res, err
			}
		}
		if len(qs) < n {
			break
		}
		after = directory.Ref{OrgID: qs[len(qs)-1].OrgID, ID: qs[len(qs)-1].MembershipID}
	}
	if res.Imports+res.Sends+res.Audits+res.Reminders+res.MarkedFailed > 0 {
		r.Logger.Warn().Int("imports_requeued", res.Imports).Int("sends_requeued", res.Sends).Int("audits_requeued", res.Audits).
			Int("reminders_requeued", res.Reminders).Int("marked_failed", res.MarkedFailed).
			Msg("reconciler found rows without a live task and fixed them")
	}
	return res, nil
}

// importTask gives imp its task back if it has none.
func (r *Reconciler) importTask(ctx context.Context, imp directory.Import, res *ReconcileResult) error {
	typ, newTask := jobs.TypeInvitesImport, jobs.NewImportTask
	if len(imp.Selection.Emails) > 0 {
		typ, newTask = jobs.TypeInvitesImportEmails, jobs.NewImportEmailsTask
	}
	id := jobs.TaskIDInvitesImport(typ, imp.OrgID, imp.ID)
	info, err := r.live(id)
	switch {
	case err != nil:
		return err
	case info != nil && info.State == asynq.TaskStateArchived:
		if _, err := r.Imports.Fail(ctx, imp.OrgID, imp.ID, archivedReason(info, importSubject(typ, imp.OrgID, imp.CreatedAt))); err != nil {
			return fmt.Errorf("reconcile import %s: %w", imp.ID, err)
		}
		res.MarkedFailed++
		return nil
	case info != nil:
		res.ImportsLive++
		return nil
	}
	t, err := newTask(imp.OrgID, imp.ID, imp.CreatedAt)
	if err != nil {
		return err
	}
	if _, err := r.Queue.EnqueueContext(ctx, t); err != nil {
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			res.ImportsLive++ // queued meanwhile by its producer or another reconciler
			return nil
		}
		return fmt.Errorf("reconcile import %s of org %s: enqueue: %w", imp.ID, imp.OrgID, err)
	}
	r.Logger.Warn().Str("org_id", imp.OrgID).Str("import_id", imp.ID).Str("status", string(imp.Status)).
		Msg("import had no task; queued it again")
	res.Imports++
	return nil
}

// archivedReason is the row's reason for a task the reconciler finds archived: the
// give-up's sentence the worker had Asynq record, which its hook could not write; for a
// task archived otherwise (by hand, or by a worker from before these sentences) one
// saying where the error is.
func archivedReason(info *asynq.TaskInfo, s Subject) string {
	if strings.HasPrefix(info.LastErr, s.What+" gave up after ") && recorded.MatchString(info.LastErr) {
		return info.LastErr
	}
	return fmt.Sprintf("%s gave up after %s; its last error is in the worker's log (task_id %s) and, while the "+
		"archived task is kept, in the Asynq UI (/monitoring/, queue %s, archived); once it is fixed, %s",
		s.What, attempts(info.Retried+1), info.ID, info.Queue, s.Again)
}

// sendTask gives the invite's send attempt (the first email, or a resend asked for) its
// task back if it has none.
func (r *Reconciler) sendTask(ctx context.Context, a directory.SendAttempt, res *ReconcileResult) error {
	id := jobs.TaskIDInvitesSend(a.OrgID, a.InviteID, a.Attempt)
	info, err := r.live(id)
	switch {
	case err != nil:
		return err
	case info != nil && info.State == asynq.TaskStateArchived:
		why := archivedReason(info, Subject{What: "the invitation email", OrgID: a.OrgID,
			Again: fmt.Sprintf("send it again with `tether invite resend --org %s %s`", a.OrgID, a.InviteID)})
		if err := r.Invites.Fail(ctx, a.OrgID, a.InviteID, why); err != nil {
			return fmt.Errorf("reconcile send %d of invite %s: %w", a.Attempt, a.InviteID, err)
		}
		res.MarkedFailed++
		return nil
	case info != nil:
		res.SendsLive++
		return nil
	}
	t, err := jobs.NewInviteSendTask(a.OrgID, a.InviteID, a.Attempt)
	if err != nil {
		return err
	}
	if _, err := r.Queue.EnqueueContext(ctx, t); err != nil {
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			res.SendsLive++
			return nil
		}
		return fmt.Errorf("reconcile send %d of invite %s of org %s: enqueue: %w", a.Attempt, a.InviteID, a.OrgID, err)
	}
	if a.Attempt > 1 {
		r.Logger.Warn().Str("org_id", a.OrgID).Str("invite_id", a.InviteID).Int("attempt", a.Attempt).
			Msg("resend had no task; queued it again")
	}
	res.Sends++
	return nil
}

// auditTask gives a queued or running audit run its task back if it has none, and marks
// it failed if its task gave up while the run could not be marked.
func (r *Reconciler) auditTask(ctx context.Context, run permissions.AuditRun, res *ReconcileResult) error {
	info, err := r.live(jobs.TaskIDAuditPermissions(run.OrgID, run.ID))
	switch {
	case err != nil:
		return err
	case info != nil && info.State == asynq.TaskStateArchived:
		if err := r.Audits.FailAudit(ctx, run.OrgID, run.ID, archivedReason(info, auditSubject(run.OrgID, run.CreatedAt))); err != nil {
			return fmt.Errorf("reconcile permission audit %s: %w", run.ID, err)
		}
		res.MarkedFailed++
		return nil
	case info != nil:
		res.AuditsLive++
		return nil
	}
	t, err := jobs.NewAuditPermissionsTask(run.OrgID, run.ID, run.Day, run.CreatedAt)
	if err != nil {
		return err
	}
	if _, err := r.Queue.EnqueueContext(ctx, t); err != nil {
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			res.AuditsLive++
			return nil
		}
		return fmt.Errorf("reconcile permission audit %s of org %s: enqueue: %w", run.ID, run.OrgID, err)
	}
	r.Logger.Warn().Str("org_id", run.OrgID).Str("audit_id", run.ID).Str("status", string(run.Status)).
		Msg("permission audit had no task; queued it again")
	res.Audits++
	return nil
}

// reminderTask gives a reminder its task back when Redis has lost it (a Redis restarted
// without persistence): queued again under its TaskID, it runs at its time, and the notify
// it runs sends only what is due (invariant 3). An archived one gave up; the next break
// queues the next.
func (r *Reconciler) reminderTask(ctx context.Context, q reminders.QueuedReminder, res *ReconcileResult) error {
	info, err := r.liveIn(jobs.QueueLow, jobs.TaskIDRemindersFollowUp(q.MembershipID, q.Sequence, q.At))
	switch {
	case err != nil:
		return err
	case info != nil:
		res.RemindersLive++
		return nil
	}
	t, err := jobs.NewRemindersFollowUpTask(q.OrgID, q.MembershipID, q.Sequence, q.At)
	if err != nil {
		return err
	}
	if _, err := r.Queue.EnqueueContext(ctx, t); err != nil {
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			res.RemindersLive++
			return nil
		}
		return fmt.Errorf("reconcile reminder %d of member %s of org %s: enqueue: %w", q.Sequence, q.MembershipID, q.OrgID, err)
	}
	r.Logger.Warn().Str("org_id", q.OrgID).Str("membership_id", q.MembershipID).Int("sequence", q.Sequence).
		Time("at", q.At).Msg("reminder had no task; queued it again")
	res.Reminders++
	return nil
}

// live returns the task's info in the default queue, or nil when Redis has no such task
// (nor its queue: a flushed Redis has none).
func (r *Reconciler) live(id string) (*asynq.TaskInfo, error) {
	return r.liveIn(jobs.QueueDefault, id)
}

// liveIn is live for the task id in queue.
func (r *Reconciler) liveIn(queue, id string) (*asynq.TaskInfo, error) {
	info, err := r.Inspector.GetTaskInfo(queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reconcile: read task %s: %w", id, err)
	}
	return info, nil
}

// registerReconcile handles tasks:reconcile.
func registerReconcile(w *Worker, s Services) {
	Handle(w, jobs.TypeReconcile, func(ctx context.Context, p jobs.Reconcile) error {
		res, err := s.Reconciler.Reconcile(ctx)
		if err != nil {
			return fmt.Errorf("reconcile slot %s: %w", p.Slot, err)
		}
		zerolog.Ctx(ctx).Info().Int("imports_requeued", res.Imports).Int("sends_requeued", res.Sends).
			Int("audits_requeued", res.Audits).Int("reminders_requeued", res.Reminders).Int("marked_failed", res.MarkedFailed).Msg("reconciled")
		writeResult(ctx, fmt.Sprintf("imports=%d sends=%d audits=%d reminders=%d failed=%d", res.Imports, res.Sends, res.Audits, res.Reminders, res.MarkedFailed))
		return nil
	})
}

// ReconcilePeriodic is the reconciler for the scheduler; spec is a 5-field cron
// expression in UTC (e.g. "*/5 * * * *"). On start the scheduler also catches up the
// latest slot, so a scheduler restart does not skip one.
func ReconcilePeriodic(spec string) (Periodic, error) {
	sch, err := cron.ParseStandard(spec)
	if err != nil {
		return Periodic{}, fmt.Errorf("reconcile schedule %q: %w", spec, err)
	}
	return Periodic{Name: jobs.TypeReconcile, Schedule: sch, Task: jobs.NewReconcileTask, CatchUp: time.Hour}, nil
}

// ReconcileNow queues one reconcile run at once: the one producer behind `tether
// reconcile` and POST /v1/reconcile, for an operator who fixed an outage and will not wait
// for the next slot. It returns the task's id; a run already queued for the same second
// (its TaskID) counts as queued, not as an error.
func ReconcileNow(ctx context.Context, q Enqueuer, now time.Time) (string, error) {
	t, err := jobs.NewReconcileTask(now)
	if err != nil {
		return "", err
	}
	id := jobs.TypeReconcile + ":" + jobs.FormatSlot(now)
	if _, err := q.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return "", fmt.Errorf("queue %s: %w", id, err)
	}
	return id, nil
}
