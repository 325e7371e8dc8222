package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
	"tether/worker"
)

// pruner records calls; the real sync/events.Service is exercised against the store in
// cmd/tether's end-to-end tests.
type pruner struct {
	mu   sync.Mutex
	ages []time.Duration
	n    int64
	err  error
}

func (p *pruner) Prune(ctx context.Context, olderThan time.Duration) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ages = append(p.ages, olderThan)
	return p.n, p.err
}

func TestEventsPruneHandler(t *testing.T) {
	b := setup(t)
	w := b.newWorker(t, time.Second)
	pr := &pruner{n: 3}
	if err := worker.Register(w, complete(t, worker.Services{Events: pr, EventRetention: 720 * time.Hour})); err != nil {
		t.Fatal(err)
	}
	start(t, w)
	task, err := jobs.NewEventsPruneTask(time.Date(2026, 5, 1, 3, 17, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	info, err := b.client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	done := b.waitTask(t, jobs.QueueLow, info.ID, "completed", completed)
	if string(done.Result) != "deleted=3" {
		t.Errorf("result %q, want deleted=3", done.Result)
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if len(pr.ages) != 1 || pr.ages[0] != 720*time.Hour {
		t.Errorf("Prune called with %v, want once with the configured 720h", pr.ages)
	}
}

func TestEventsPruneFailureIsRetried(t *testing.T) {
	b := setup(t)
	w := b.newWorker(t, time.Second)
	if err := worker.Register(w, complete(t, worker.Services{Events: &pruner{err: errors.New("database is locked")}, EventRetention: time.Hour})); err != nil {
		t.Fatal(err)
	}
	start(t, w)
	task, _ := jobs.NewEventsPruneTask(time.Date(2026, 5, 1, 3, 17, 0, 0, time.UTC))
	info, err := b.client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	got := b.waitTask(t, jobs.QueueLow, info.ID, "retrying", retrying)
	// Asynq records the sentence; the chain is in the log.
	if got.Retried != 1 || !strings.HasPrefix(got.LastErr, "the events:prune task failed on attempt 1 of ") ||
		!strings.Contains(got.LastErr, "the worker's log has the error (task_id "+info.ID+"); tether retries it") ||
		strings.Contains(got.LastErr, "database is locked") {
		t.Errorf("retried %d, LastErr %q", got.Retried, got.LastErr)
	}
	if !strings.Contains(b.logs.String(), "prune events for slot 20260501T031700Z: database is locked") {
		t.Errorf("the log lacks the error's chain:\n%s", b.logs.String())
	}
}

func TestRegisterRequiresServices(t *testing.T) {
	b := setup(t)
	w := b.newWorker(t, time.Second)
	if err := worker.Register(w, worker.Services{}); err == nil {
		t.Fatal("Register accepted missing services")
	}
	_ = asynq.TaskStateActive
}
