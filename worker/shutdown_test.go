package worker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/worker"
)

// Cancelling Run's context is what SIGTERM does in cmd/tether. A task still running when
// the shutdown timeout ends must go back to the queue and then complete on another worker.
func TestShutdownMidTaskLosesNothing(t *testing.T) {
	b := setup(t)

	started := make(chan struct{}, 1)
	var firstSawCancel atomic.Bool
	first := b.newWorker(t, 300*time.Millisecond)
	worker.Handle(first, "test:org", func(ctx context.Context, p orgTask) error {
		started <- struct{}{}
		<-ctx.Done() // a long task that honours its context
		firstSawCancel.Store(true)
		return ctx.Err()
	})
	stopFirst := start(t, first)

	if _, err := b.client.Enqueue(asynq.NewTask("test:org", []byte(`{"org_id":"o1"}`)), asynq.TaskID("long"), asynq.Retention(time.Minute)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("task never started")
	}
	stopFirst() // returns once Shutdown has waited ShutdownTimeout and requeued the task

	info, err := b.inspector.GetTaskInfo("default", "long")
	if err != nil {
		t.Fatalf("task lost after shutdown: %v", err)
	}
	if info.State != asynq.TaskStatePending && info.State != asynq.TaskStateRetry {
		t.Fatalf("after shutdown the task is %s, want pending or retry", info.State)
	}

	var ran atomic.Int32
	second := b.newWorker(t, time.Second)
	worker.Handle(second, "test:org", func(ctx context.Context, p orgTask) error { ran.Add(1); return nil })
	start(t, second)
	b.waitTask(t, "default", "long", "completed on the second worker", completed)
	if ran.Load() != 1 {
		t.Errorf("second worker ran the task %d times, want 1", ran.Load())
	}
	if !firstSawCancel.Load() {
		t.Errorf("the first worker's handler context was never cancelled")
	}
}

// A task in flight when shutdown starts, which finishes within the shutdown timeout,
// completes normally: Run waits for it and its context is not cancelled. The handler
// signals from inside that it is running and is held until after shutdown has begun,
// so the task is in flight at shutdown by construction, not by timing.
func TestShutdownLetsInFlightTaskFinish(t *testing.T) {
	b := setup(t)
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	var cancelledInside atomic.Bool
	w := b.newWorker(t, 10*time.Second)
	worker.Handle(w, "test:org", func(ctx context.Context, p orgTask) error {
		started <- struct{}{}
		<-release
		cancelledInside.Store(ctx.Err() != nil)
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	if _, err := b.client.Enqueue(asynq.NewTask("test:org", []byte(`{"org_id":"o1"}`)), asynq.TaskID("short"), asynq.Retention(time.Minute)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the task never started")
	}
	cancel() // shutdown starts with the handler provably inside
	select {
	case err := <-done:
		close(release)
		t.Fatalf("Run returned (%v) while a task was still in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the task finished")
	}
	if cancelledInside.Load() {
		t.Error("the handler's context was cancelled although it finished within the shutdown timeout")
	}
	info, err := b.inspector.GetTaskInfo("default", "short")
	if err != nil || info.State != asynq.TaskStateCompleted {
		t.Fatalf("task after graceful shutdown: %+v, %v; want completed", info, err)
	}
}
