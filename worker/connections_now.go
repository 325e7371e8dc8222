package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
)

// SweepConnectionsNow queues a connections:sweep for now's slot, for an operator who will
// not wait for the next 5-minute slot (after fixing a provider outage, say). It returns
// the task's id; a sweep already queued for the same second is not queued twice.
func SweepConnectionsNow(ctx context.Context, q Enqueuer, now time.Time) (string, error) {
	t, err := jobs.NewConnectionsSweepTask(now)
	if err != nil {
		return "", err
	}
	id := jobs.TypeConnectionsSweep + ":" + jobs.FormatSlot(now)
	if _, err := q.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return "", fmt.Errorf("queue %s: %w", id, err)
	}
	return id, nil
}
