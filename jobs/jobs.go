package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Queue names. The worker weighs critical 6, connections 4 (QueueConnections, see
// connections.go), default 3 and low 1, so low is never starved.
const (
	QueueCritical = "critical" // refreshes of soon-expiring tokens, deactivations
	QueueDefault  = "default"  // imports, audits, verifications
	QueueLow      = "low"      // sweeps, pruning, reminders
)

// Queues is every queue tether's tasks go to, with the weight a worker gives it unless told
// otherwise (TETHER_WORKER_QUEUES): while all are busy, critical gets about 43% of pickups,
// connections (healthy connections' refreshes, verifications, the sweep) about 29%, default
// about 21% and low about 7%, but low is never starved; broken connections retry on low.
func Queues() map[string]int {
	return map[string]int{QueueCritical: 6, QueueConnections: 4, QueueDefault: 3, QueueLow: 1}
}

// Payload is what every task payload implements. Validate must use a value receiver (Decode
// calls it on a value) and return an error that names the bad field.
type Payload interface {
	Validate() error
}

// ErrInvalidPayload marks a payload that can never be processed: malformed JSON or a value
// Validate refuses. Retrying cannot fix it, so the worker archives the task with the reason.
var ErrInvalidPayload = errors.New("invalid payload")

// Decode parses a task payload into P and validates it. Unknown fields are accepted, so a
// producer one release ahead does not break an older worker; trailing data is not.
// Errors wrap ErrInvalidPayload. Decode never panics, whatever data holds.
func Decode[P Payload](data []byte) (P, error) {
	var p P
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	if dec.More() {
		return p, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidPayload)
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	return p, nil
}

// encode validates p and marshals it; the New…Task constructors use it so a bad payload is
// refused at the producer, before it reaches Redis.
func encode(p Payload) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	return json.Marshal(p)
}

// Spec is a task as plain fields: what a producer that enqueues many tasks in one
// batch needs (worker's batch enqueue). Task turns it into the *asynq.Task with the same
// options, so the two ways of queueing a task cannot drift apart.
type Spec struct {
	Type      string
	Payload   []byte
	TaskID    string
	Queue     string
	MaxRetry  int
	Timeout   time.Duration
	Retention time.Duration
}

// Task is s as an *asynq.Task.
func (s Spec) Task() *asynq.Task {
	return asynq.NewTask(s.Type, s.Payload, asynq.Queue(s.Queue), asynq.TaskID(s.TaskID),
		asynq.Retention(s.Retention), asynq.MaxRetry(s.MaxRetry), asynq.Timeout(s.Timeout))
}

// SlotFormat is the layout of a periodic task's time slot, as used in its payload and
// TaskID ("20260102T031700Z"): second resolution (cron specs like @every 30s), UTC.
const SlotFormat = "20060102T150405Z"

// FormatSlot renders t as a slot (UTC, truncated to the second).
func FormatSlot(t time.Time) string { return t.UTC().Format(SlotFormat) }

// parseSlot parses a slot written by FormatSlot.
func parseSlot(s string) (time.Time, error) {
	t, err := time.Parse(SlotFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("slot %q is not of the form %s", s, SlotFormat)
	}
	return t, nil
}

// MustSlot parses a slot written by FormatSlot and panics if it is malformed; for tests
// and constants.
func MustSlot(s string) time.Time {
	t, err := parseSlot(s)
	if err != nil {
		panic(err)
	}
	return t
}
