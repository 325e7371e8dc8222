package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/members"
)

// Deactivating runs members:deactivate (a *members.Deactivator).
type Deactivating interface {
	// requested is when it was asked (zero: unknown).
	Deactivate(ctx context.Context, orgID, membershipID string, requested time.Time) (members.DeactivateResult, error)
	// Abandon deletes the tokens left after the last retry and records which grants are
	// still live at their provider.
	// reason is a sentence for the admin (GaveUp.Explain).
	Abandon(ctx context.Context, orgID, membershipID, reason string) error
}

// registerMembers handles members:deactivate. A revoke that failed (provider down) is
// retried with backoff: the membership is already deactivated and the other providers
// revoked; when the retries are spent the remaining tokens are deleted anyway.
func registerMembers(w *Worker, s Services) {
	Handle(w, jobs.TypeMembersDeactivate, func(ctx context.Context, p jobs.MembersDeactivate) error {
		res, err := s.Deactivator.Deactivate(ctx, p.OrgID, p.MembershipID, unixTime(p.RequestedAt))
		if errors.Is(err, directory.ErrNotFound) {
			return Permanent(err)
		}
		log := zerolog.Ctx(ctx).Info().Bool("deactivated", res.Deactivated).Int("revoked", len(res.Revoked)).
			Int("dropped", len(res.Dropped)).Int("failed", len(res.Failed)).Int("tasks_cancelled", res.TasksCancelled)
		log.Msg("member deactivation")
		writeResult(ctx, deactivationSummary(res))
		return err
	})
	Describe(w, jobs.TypeMembersDeactivate, deactivationSubject)
	OnGiveUp(w, jobs.TypeMembersDeactivate, func(ctx context.Context, p jobs.MembersDeactivate, reason error) error {
		return s.Deactivator.Abandon(ctx, p.OrgID, p.MembershipID, explain(reason, deactivationSubject(p)))
	})
}

// deactivationSubject is what a deactivation's sentences say; its give-up leaves the
// grants still live to the admin.
func deactivationSubject(p jobs.MembersDeactivate) Subject {
	return Subject{What: "the deactivation", OrgID: p.OrgID, Since: unixTime(p.RequestedAt),
		Again: "revoke tether's access in each provider's own settings (the member.revoke_abandoned event lists the grants still live)"}
}

// deactivationSummary is the task's result, which members deactivate --wait prints:
// "revoked=salesforce,zoom dropped=microsoft_calendar failed=google_calendar tasks_cancelled=2",
// with closed_earlier= naming what an earlier attempt did, so a retry's result is the whole
// deactivation's; a re-run that found nothing left says so.
func deactivationSummary(r members.DeactivateResult) string {
	join := func(ks []connections.Kind) string {
		s := make([]string, len(ks))
		for i, k := range ks {
			s[i] = string(k)
		}
		return strings.Join(s, ",")
	}
	var failed []connections.Kind
	for k := range r.Failed {
		failed = append(failed, k)
	}
	slices.Sort(failed) // a map's order would change between runs
	if !r.Superseded.IsZero() {
		out := "the member joined again at " + r.Superseded.UTC().Format(time.RFC3339) +
			", after this deactivation was asked; their membership and connections are left as they are (deactivate them again to end them)"
		if len(r.Revoked)+len(r.Dropped)+len(failed) == 0 {
			return "nothing done: " + out
		}
		// Grants an earlier attempt failed to revoke are still ended.
		return fmt.Sprintf("%s; grants left by the deactivation: revoked=%s dropped=%s failed=%s", out, join(r.Revoked), join(r.Dropped), join(failed))
	}
	if !r.Deactivated && len(r.Revoked)+len(r.Dropped)+len(failed)+r.TasksCancelled == 0 {
		return fmt.Sprintf("nothing left to do: the member was already deactivated and its connections closed (closed_earlier=%s)", join(r.Earlier))
	}
	out := fmt.Sprintf("revoked=%s dropped=%s failed=%s tasks_cancelled=%d", join(r.Revoked), join(r.Dropped), join(failed), r.TasksCancelled)
	if len(r.Earlier) > 0 {
		out += " closed_earlier=" + join(r.Earlier)
	}
	return out
}

// TaskRef names one task in one queue.
type TaskRef struct{ Queue, ID string }

// TaskDeleter deletes tasks (an *asynq.Inspector).
type TaskDeleter interface {
	DeleteTask(queue, id string) error
}

// UpkeepTaskRefs names the scheduled upkeep tasks of c: the refresh and the verification
// due at its NextRefreshAt (the due time the scheduler and the sweep queue them with,
// jobs.ConnectionTaskID), on the connections queue (healthy) or low (the others).
func UpkeepTaskRefs(c connections.Connection) []TaskRef {
	if c.NextRefreshAt.IsZero() {
		return nil
	}
	var out []TaskRef
	for _, typ := range []string{jobs.TypeConnectionRefresh, jobs.TypeConnectionVerify} {
		for _, q := range []string{jobs.QueueConnections, jobs.QueueLow} {
			out = append(out, TaskRef{Queue: q, ID: jobs.ConnectionTaskID(typ, c.ID, c.NextRefreshAt)})
		}
	}
	return out
}

// ConnectionTaskCanceller deletes a connection's scheduled upkeep tasks by their
// deterministic TaskIDs, so no scan of the queues is needed. A task that is gone, or
// running, is left.
type ConnectionTaskCanceller struct {
	Inspector TaskDeleter
	// Tasks names a connection's tasks; nil means UpkeepTaskRefs.
	Tasks func(c connections.Connection) []TaskRef
}

// CancelConnectionTasks implements members.TaskCanceller.
func (t ConnectionTaskCanceller) CancelConnectionTasks(_ context.Context, c connections.Connection) (int, error) {
	refs := UpkeepTaskRefs
	if t.Tasks != nil {
		refs = t.Tasks
	}
	n := 0
	for _, ref := range refs(c) {
		err := t.Inspector.DeleteTask(ref.Queue, ref.ID)
		switch {
		case err == nil:
			n++
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		case strings.Contains(err.Error(), "FAILED_PRECONDITION"):
			// Running: it finds the connection revoked and calls no provider.
		default:
			return n, fmt.Errorf("delete task %s from queue %s: %w", ref.ID, ref.Queue, err)
		}
	}
	return n, nil
}

// DeactivationQueue queues members:deactivate (the one producer the CLI and the API call).
type DeactivationQueue struct {
	Client    Enqueuer
	Inspector interface {
		GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
		DeleteTask(queue, id string) error
	}
}

// Queue queues the deactivation of the membership and returns its task id. A deactivation
// of the member already queued or running is the answer (already true); one that finished
// or gave up is replaced, so asking again re-runs it (every step is idempotent).
func (q DeactivationQueue) Queue(ctx context.Context, orgID, membershipID string) (id string, already bool, err error) {
	t, err := jobs.NewMembersDeactivateTask(orgID, membershipID, time.Now())
	if err != nil {
		return "", false, err
	}
	id = jobs.TaskIDMembersDeactivate(orgID, membershipID)
	for range 2 {
		_, err = enqueueBounded(ctx, q.Client, t)
		if !errors.Is(err, asynq.ErrTaskIDConflict) {
			return id, false, err
		}
		info, ierr := q.Inspector.GetTaskInfo(jobs.QueueCritical, id)
		if ierr != nil {
			continue // gone meanwhile: enqueue again
		}
		if info.State != asynq.TaskStateCompleted && info.State != asynq.TaskStateArchived {
			return id, true, nil
		}
		if derr := q.Inspector.DeleteTask(jobs.QueueCritical, id); derr != nil && !errors.Is(derr, asynq.ErrTaskNotFound) {
			return id, false, fmt.Errorf("replace finished deactivation task %s: %w", id, derr)
		}
	}
	return id, false, err
}
