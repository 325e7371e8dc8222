package jobs

import (
	"errors"
	"time"

	"github.com/hibiken/asynq"
)

// TypeEventsPrune deletes audit events older than the configured retention. The scheduler
// enqueues it once per slot of TETHER_PRUNE_SCHEDULE (daily by default).
const TypeEventsPrune = "events:prune"

// EventsPrune is the payload of TypeEventsPrune. The retention itself is configuration, read
// by the worker, so changing it needs no change to queued tasks.
type EventsPrune struct {
	// Slot is the scheduled time this run belongs to (FormatSlot). It makes the TaskID
	// deterministic, so several scheduler replicas enqueue one task per slot.
	Slot string `json:"slot"`
}

// Validate reports a missing or malformed slot.
func (p EventsPrune) Validate() error {
	if p.Slot == "" {
		return errors.New("slot is required")
	}
	_, err := parseSlot(p.Slot)
	return err
}

// EventsPruneRetention is how long a finished events:prune task is kept, which is how long
// its TaskID keeps refusing a duplicate. It must outlast the schedule's period (a day) plus
// any skew between scheduler replicas.
const EventsPruneRetention = 48 * time.Hour

// NewEventsPruneTask returns the events:prune task for the slot: low queue, TaskID
// "events:prune:<slot>" kept for EventsPruneRetention, 5 retries, 10-minute timeout.
func NewEventsPruneTask(slot time.Time) (*asynq.Task, error) {
	p := EventsPrune{Slot: FormatSlot(slot)}
	b, err := encode(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeEventsPrune, b,
		asynq.Queue(QueueLow),
		asynq.TaskID(TypeEventsPrune+":"+p.Slot),
		asynq.Retention(EventsPruneRetention),
		asynq.MaxRetry(5),
		asynq.Timeout(10*time.Minute),
	), nil
}
