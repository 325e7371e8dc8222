package jobs

import (
	"errors"
	"time"

	"github.com/hibiken/asynq"
)

// TypeReconcile makes rows and tasks agree: it queues again the task of every unfinished
// import and of every pending invite never sent that has no task in Redis. The scheduler
// enqueues it once per slot of TETHER_RECONCILE_SCHEDULE; every worker also runs it once
// at start.
const TypeReconcile = "tasks:reconcile"

// Reconcile is the payload of TypeReconcile.
type Reconcile struct {
	Slot string `json:"slot"` // FormatSlot of the scheduled time
}

// Validate reports a missing or malformed slot.
func (p Reconcile) Validate() error {
	if p.Slot == "" {
		return errors.New("slot is required")
	}
	_, err := parseSlot(p.Slot)
	return err
}

// ReconcileRetention keeps a finished reconcile task's TaskID long enough that no
// scheduler replica enqueues the same slot twice.
const ReconcileRetention = time.Hour

// NewReconcileTask returns the reconcile task of slot: default queue, TaskID
// "tasks:reconcile:<slot>" kept for ReconcileRetention, 3 retries, 10-minute timeout.
func NewReconcileTask(slot time.Time) (*asynq.Task, error) {
	p := Reconcile{Slot: FormatSlot(slot)}
	b, err := encode(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeReconcile, b,
		asynq.Queue(QueueDefault),
		asynq.TaskID(TypeReconcile+":"+p.Slot),
		asynq.Retention(ReconcileRetention),
		asynq.MaxRetry(3),
		asynq.Timeout(10*time.Minute),
	), nil
}
