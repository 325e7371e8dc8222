package jobs

import (
	"errors"
	"time"

	"github.com/hibiken/asynq"
)

// TypeInvitesExpire marks every pending invite past its expiry as expired. The scheduler
// enqueues it once per slot of InvitesExpireSchedule. (Seats and imports already treat a
// lapsed invite as absent; the sweep makes listings and counts say so too.)
const TypeInvitesExpire = "invites:expire"

// InvitesExpireSchedule is the sweep's cron schedule (UTC): every hour at minute 7.
const InvitesExpireSchedule = "7 * * * *"

// InvitesExpire is the payload of TypeInvitesExpire.
type InvitesExpire struct {
	// Slot is the scheduled time this run belongs to (FormatSlot); it makes the TaskID
	// deterministic, so several scheduler replicas enqueue one task per slot.
	Slot string `json:"slot"`
}

// Validate reports a missing or malformed slot.
func (p InvitesExpire) Validate() error {
	if p.Slot == "" {
		return errors.New("slot is required")
	}
	_, err := parseSlot(p.Slot)
	return err
}

// InvitesExpireRetention is how long a finished invites:expire task is kept, so its TaskID
// refuses another replica's enqueue of the same slot: longer than the hourly period plus
// any skew between replicas.
const InvitesExpireRetention = 3 * time.Hour

// NewInvitesExpireTask returns the invites:expire task for the slot: low queue, TaskID
// "invites:expire:<slot>" kept for InvitesExpireRetention, 3 retries, 5-minute timeout.
func NewInvitesExpireTask(slot time.Time) (*asynq.Task, error) {
	p := InvitesExpire{Slot: FormatSlot(slot)}
	b, err := encode(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeInvitesExpire, b,
		asynq.Queue(QueueLow),
		asynq.TaskID(TypeInvitesExpire+":"+p.Slot),
		asynq.Retention(InvitesExpireRetention),
		asynq.MaxRetry(3),
		asynq.Timeout(5*time.Minute),
	), nil
}
