package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"tether/sync/connections"
)

// Connection upkeep tasks (issue 14). Payloads carry ids only, never a token.
const (
	// TypeConnectionRefresh refreshes one connection when it is due (or now, forced).
	TypeConnectionRefresh = "connections:refresh"
	// TypeConnectionVerify verifies one connection (refreshing first when its token is
	// older than its lifetime).
	TypeConnectionVerify = "connections:verify"
	// TypeConnectionsSweep queues every connection due or overdue; the scheduler enqueues
	// it every ConnectionsSweepSchedule.
	TypeConnectionsSweep = "connections:sweep"
)

// QueueConnections is healthy connections' upkeep: a queue of its own so imports and
// audits never delay a refresh, and broken connections (retried on QueueLow) never delay
// healthy ones.
const QueueConnections = "connections"

// ConnectionsSweepSchedule is the sweep's cron spec (UTC): every 5 minutes.
const ConnectionsSweepSchedule = "*/5 * * * *"

// Retentions: a finished task's TaskID is kept this long, so a sweep or a second worker
// queuing the same connection, op and due time is refused as a duplicate.
const (
	ConnectionTaskRetention   = time.Hour
	ConnectionsSweepRetention = 30 * time.Minute
)

// ConnectionTask is the payload of TypeConnectionRefresh and TypeConnectionVerify.
type ConnectionTask struct {
	OrgID        string `json:"org_id"`
	ConnectionID string `json:"connection_id"`
	// Force: an operator's request; the connection's schedule is ignored.
	Force bool `json:"force,omitempty"`
}

// Validate reports a missing id.
func (p ConnectionTask) Validate() error {
	if p.OrgID == "" {
		return errors.New("org_id is required")
	}
	if p.ConnectionID == "" {
		return errors.New("connection_id is required")
	}
	return nil
}

// ConnectionTaskID is the TaskID of a scheduled task of type typ (TypeConnectionRefresh
// or TypeConnectionVerify) for connection id due at at: "<type>:<connection>:<due unix
// seconds>". Deactivation deletes a connection's scheduled tasks by it.
func ConnectionTaskID(typ, id string, at time.Time) string {
	return typ + ":" + id + ":" + strconv.FormatInt(at.Unix(), 10)
}

// NewConnectionTask returns the op (connections.OpRefresh or OpVerify) task of connection
// d due at at (zero: now): TaskID "<type>:<connection>:<due unix seconds>", so every
// producer of the same due time (the refresh that scheduled it, each sweep) makes one
// task. Healthy connections go to QueueConnections, the others to QueueLow.
func NewConnectionTask(op string, d connections.Due, at time.Time) (*asynq.Task, error) {
	typ := TypeConnectionRefresh
	switch op {
	case connections.OpRefresh:
	case connections.OpVerify:
		typ = TypeConnectionVerify
	default:
		return nil, fmt.Errorf("%w: connection op %q is not refresh or verify", ErrInvalidPayload, op)
	}
	b, err := encode(ConnectionTask{OrgID: d.OrgID, ConnectionID: d.ID})
	if err != nil {
		return nil, err
	}
	queue := QueueConnections
	if d.State != connections.StateHealthy {
		queue = QueueLow
	}
	opts := []asynq.Option{
		asynq.Queue(queue),
		asynq.TaskID(ConnectionTaskID(typ, d.ID, at)),
		asynq.Retention(ConnectionTaskRetention),
		asynq.MaxRetry(5),
		asynq.Timeout(2 * time.Minute),
	}
	if !at.IsZero() {
		// Asynq keeps ProcessAt in whole seconds (truncated), so a due time of 12:00:00.8
		// ran at 12:00:00, found the row "not due until 12:00:00.8", skipped, and its
		// retained TaskID then refused every sweep's re-queue for an hour. Round up.
		if f := at.Truncate(time.Second); f.Before(at) {
			at = f.Add(time.Second)
		}
		opts = append(opts, asynq.ProcessAt(at))
	}
	return asynq.NewTask(typ, b, opts...), nil
}

// NewForcedConnectionTask is an operator's refresh or verification of one connection,
// now, whatever its schedule. Its TaskID carries the request time, so two requests make
// two tasks, and the lock per connection still makes one refresh at a time.
func NewForcedConnectionTask(op, orgID, id string, now time.Time) (*asynq.Task, error) {
	typ := TypeConnectionRefresh
	if op == connections.OpVerify {
		typ = TypeConnectionVerify
	}
	b, err := encode(ConnectionTask{OrgID: orgID, ConnectionID: id, Force: true})
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(typ, b,
		asynq.Queue(QueueConnections),
		asynq.TaskID(typ+":"+id+":forced:"+strconv.FormatInt(now.UnixNano(), 10)),
		asynq.Retention(ConnectionTaskRetention),
		asynq.MaxRetry(3),
		asynq.Timeout(2*time.Minute),
	), nil
}

// ConnectionsSweep is the payload of TypeConnectionsSweep.
type ConnectionsSweep struct {
	Slot string `json:"slot"` // FormatSlot of the scheduled time
}

// Validate reports a missing or malformed slot.
func (p ConnectionsSweep) Validate() error {
	if p.Slot == "" {
		return errors.New("slot is required")
	}
	_, err := parseSlot(p.Slot)
	return err
}

// NewConnectionsSweepTask returns the sweep of slot: QueueConnections (it only reads the
// due index and queues), TaskID "connections:sweep:<slot>", 2 retries, 4-minute timeout so
// it ends before the next slot.
func NewConnectionsSweepTask(slot time.Time) (*asynq.Task, error) {
	p := ConnectionsSweep{Slot: FormatSlot(slot)}
	b, err := encode(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeConnectionsSweep, b,
		asynq.Queue(QueueConnections),
		asynq.TaskID(TypeConnectionsSweep+":"+p.Slot),
		asynq.Retention(ConnectionsSweepRetention),
		asynq.MaxRetry(2),
		asynq.Timeout(4*time.Minute),
	), nil
}

// Enqueuer is the part of *asynq.Client ConnectionQueue uses.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// ConnectionQueue implements connections.Scheduler with Asynq: a task already queued for
// the same connection, op and due time is not queued twice.
type ConnectionQueue struct {
	Client Enqueuer
}

var _ connections.Scheduler = ConnectionQueue{}

// Schedule implements connections.Scheduler.
func (q ConnectionQueue) Schedule(ctx context.Context, op string, d connections.Due, at time.Time) error {
	task, err := NewConnectionTask(op, d, at)
	if err != nil {
		return err
	}
	_, err = q.Client.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return err
}
