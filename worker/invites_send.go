package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"tether/jobs"
	"tether/sync/onboarding"
)

// InviteSender sends one attempt of an invitation email (onboarding.Sender).
type InviteSender interface {
	Send(ctx context.Context, orgID, inviteID string, attempt int) (onboarding.Outcome, error)
	// Fail records that the invite's email could not be sent, with reason.
	Fail(ctx context.Context, orgID, inviteID, reason string) error
	// Retrying records reason as why attempt failed while its task retries.
	Retrying(ctx context.Context, orgID, inviteID string, attempt int, reason string) error
	// Settle marks an attempt still attempting unknown; reports whether it did.
	Settle(ctx context.Context, orgID, inviteID string, attempt int) (bool, error)
}

// registerInvitesSend handles invites:send, at most once per attempt. An undeliverable
// address (SMTP 5xx) or a deleted invite is archived at once with the reason; a failure
// that certainly sent nothing (SMTP 4xx, connection refused, a store failure before the
// send) is retried with backoff. A run that finds its attempt begun before, or whose
// connection broke after the server may have accepted the email, sends nothing more: the
// task completes with outcome "unknown" and the invite shows it. When the task gives up
// (undeliverable, or its last retry failed) the invite records why, and the reconciler
// leaves it alone.
func registerInvitesSend(w *Worker, s Services) {
	Describe(w, jobs.TypeInvitesSend, sendSubject)
	OnGiveUp(w, jobs.TypeInvitesSend, func(ctx context.Context, p jobs.InvitesSend, reason error) error {
		why := explain(reason, sendSubject(p))
		if err := s.Invites.Fail(ctx, p.OrgID, p.InviteID, why); err != nil && !errors.Is(err, onboarding.ErrInviteNotFound) {
			return err
		}
		return nil
	})
	Handle(w, jobs.TypeInvitesSend, func(ctx context.Context, p jobs.InvitesSend) error {
		out, err := s.Invites.Send(ctx, p.OrgID, p.InviteID, p.Attempt)
		if err != nil && out == "" {
			noteRetry(ctx, s.Invites, p, err)
			// ErrUndeliverable and ErrInviteNotFound say they are permanent (classify).
			return err
		}
		ev := zerolog.Ctx(ctx).Info()
		if out == onboarding.Unknown {
			ev = zerolog.Ctx(ctx).Warn()
		}
		ev.Str("invite_id", p.InviteID).Int("attempt", p.Attempt).Str("outcome", string(out)).
			AnErr("warning", err).Msg("invitation email")
		writeResult(ctx, string(out))
		return nil // a Sent outcome with an error means only the audit event is missing
	})
}

// noteRetry records on the invite the sentence Asynq records for this failed attempt
// (record), so the invites list shows why the email has not left while the task retries;
// before, only the worker's log had it. A permanent failure or the last attempt is left
// to the give-up hook, which records it for good. A failed note is logged: the send's own error is what counts.
func noteRetry(ctx context.Context, inv InviteSender, p jobs.InvitesSend, err error) {
	if errors.Is(err, onboarding.ErrUndeliverable) || errors.Is(err, onboarding.ErrInviteNotFound) {
		return
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	if retried >= maxRetry {
		return // the last attempt: the give-up hook records why, for good
	}
	taskID, _ := asynq.GetTaskID(ctx)
	why := record(attempt{err: err, out: outcomeRetry, taskID: taskID, retried: retried, maxRetry: maxRetry}, sendSubject(p)).Error()
	if nerr := inv.Retrying(context.WithoutCancel(ctx), p.OrgID, p.InviteID, p.Attempt, why); nerr != nil {
		zerolog.Ctx(ctx).Warn().Err(nerr).Str("invite_id", p.InviteID).Int("attempt", p.Attempt).
			Msg("invitation email failed; its error was not recorded on the invite")
	}
}

// InviteEnqueuer queues invites:send tasks for onboarding.Resend. Inspector may be nil;
// with it, an attempt whose earlier task was archived (a permanent failure) is replaced
// rather than refused.
type InviteEnqueuer struct {
	Client    *asynq.Client
	Inspector *asynq.Inspector
}

// EnqueueInviteSend queues attempt of the invite. Returns an error wrapping
// onboarding.ErrAlreadyQueued if that attempt is queued, running or retrying.
func (e InviteEnqueuer) EnqueueInviteSend(ctx context.Context, orgID, inviteID string, attempt int) error {
	t, err := jobs.NewInviteSendTask(orgID, inviteID, attempt)
	if err != nil {
		return err
	}
	_, err = enqueueBounded(ctx, e.Client, t)
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		return err
	}
	id := jobs.TaskIDInvitesSend(orgID, inviteID, attempt)
	if e.Inspector != nil {
		if info, ierr := e.Inspector.GetTaskInfo(jobs.QueueDefault, id); ierr == nil && info.State == asynq.TaskStateArchived {
			if derr := e.Inspector.DeleteTask(jobs.QueueDefault, id); derr != nil {
				return fmt.Errorf("replace archived task %s: %w", id, derr)
			}
			_, err = enqueueBounded(ctx, e.Client, t)
			return err
		}
	}
	return fmt.Errorf("task %s: %w", id, onboarding.ErrAlreadyQueued)
}

// sendSubject is what an invitation email's sentences say.
func sendSubject(p jobs.InvitesSend) Subject {
	return Subject{What: "the invitation email", OrgID: p.OrgID,
		Again: fmt.Sprintf("send it again with `tether invite resend --org %s %s`", orgOr(p.OrgID), p.InviteID)}
}
