package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"tether/jobs"
	"tether/sync/reminders"
)

// ReminderSender runs reminders (a *reminders.Service).
type ReminderSender interface {
	Notify(ctx context.Context, orgID, membershipID string, noticed time.Time) (reminders.Result, error)
	FollowUp(ctx context.Context, orgID, membershipID string, seq int, at time.Time) (reminders.Result, error)
	Digest(ctx context.Context, orgID string) (reminders.DigestResult, error)
}

// registerReminders handles reminders:notify (a break digest from the group aggregator,
// or a follow-up, which sends only while the member's record names it) and
// reminders:digest. The state is read again by the service when it runs; a failed send
// returns its error, so Asynq retries it.
func registerReminders(w *Worker, s Services) {
	Handle(w, jobs.TypeRemindersNotify, func(ctx context.Context, p jobs.RemindersNotify) error {
		var (
			res reminders.Result
			err error
		)
		if p.Sequence > 0 {
			at := time.Unix(p.At, 0)
			if p.At == 0 {
				// Queued before the payload carried its time: its TaskID tells it. With
				// neither, it is never the recorded task and only makes sure that one is.
				id, _ := asynq.GetTaskID(ctx)
				_, at, _ = jobs.FollowUpOfTaskID(id)
			}
			res, err = s.Reminders.FollowUp(ctx, p.OrgID, p.MembershipID, p.Sequence, at)
		} else {
			var noticed time.Time
			if p.Noticed > 0 {
				noticed = time.Unix(p.Noticed, 0)
			}
			res, err = s.Reminders.Notify(ctx, p.OrgID, p.MembershipID, noticed)
		}
		d := res.Decision
		ev := zerolog.Ctx(ctx).Info().Str("org", p.OrgID).Str("member", p.MembershipID).Int("breaks", p.Breaks).Int("sequence", p.Sequence).
			Str("rep", string(d.Rep)).Bool("admin", d.Admin).Int("sent", len(res.Sent)).Ints("skipped", res.Skipped).Ints("unconfirmed", res.Unconfirmed).
			Bool("stale", res.Stale).Str("why", d.Why)
		if !d.Next.IsZero() {
			ev = ev.Time("next", d.Next)
		}
		ev.Msg("reminders notify")
		writeResult(ctx, fmt.Sprintf("rep=%s admin=%v sent=%d skipped=%d unconfirmed=%d next=%s stale=%v", d.Rep, d.Admin, len(res.Sent), len(res.Skipped), len(res.Unconfirmed), d.Next.UTC().Format(time.RFC3339), res.Stale))
		if err != nil {
			return fmt.Errorf("notify member %s of org %s: %w", p.MembershipID, p.OrgID, err)
		}
		return nil
	})
	Handle(w, jobs.TypeRemindersDigest, func(ctx context.Context, p jobs.RemindersDigest) error {
		res, err := s.Reminders.Digest(ctx, p.OrgID)
		zerolog.Ctx(ctx).Info().Str("org", p.OrgID).Str("day", res.Day).Int("members", len(res.Members)).
			Bool("sent", res.Sent).Bool("skipped", res.Skipped).Bool("unconfirmed", res.Unconfirmed).Msg("reminders admin digest")
		writeResult(ctx, fmt.Sprintf("members=%d sent=%v skipped=%v unconfirmed=%v", len(res.Members), res.Sent, res.Skipped, res.Unconfirmed))
		if err != nil {
			return fmt.Errorf("admin digest of org %s: %w", p.OrgID, err)
		}
		return nil
	})
}

// ReminderRescheduler implements reminders.Rescheduler: follow-ups queued through Queue,
// deleted by their deterministic TaskID (no scan of the queue).
type ReminderRescheduler struct {
	Queue     jobs.ReminderQueue
	Inspector TaskDeleter
}

var _ reminders.Rescheduler = ReminderRescheduler{}

// FollowUp implements reminders.Rescheduler.
func (r ReminderRescheduler) FollowUp(ctx context.Context, orgID, membershipID string, seq int, at time.Time) error {
	return r.Queue.FollowUp(ctx, orgID, membershipID, seq, at)
}

// CancelFollowUp implements reminders.Rescheduler.
func (r ReminderRescheduler) CancelFollowUp(_ context.Context, membershipID string, seq int, at time.Time) error {
	id := jobs.TaskIDRemindersFollowUp(membershipID, seq, at)
	err := r.Inspector.DeleteTask(jobs.QueueLow, id)
	switch {
	case err == nil, errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return nil
	case strings.Contains(err.Error(), "FAILED_PRECONDITION"):
		return nil // running: it decides by the new policy
	}
	return fmt.Errorf("delete task %s from queue %s: %w", id, jobs.QueueLow, err)
}
